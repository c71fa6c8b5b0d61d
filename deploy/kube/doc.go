// Package kube rolls a release's image out to Kubernetes Deployments and
// reads back what they run. A Target names one Deployment in one
// kubeconfig context (one context per data centre); Rollout patches its
// container image to repo@sha256:… and watches the rollout the way
// `kubectl rollout status` does; Read says which image it runs and
// whether its rollout is done, going or stuck:
//
//	cs := kube.NewClients(kubeconfigPath)
//	ts, err := cs.Resolve(ctx, spec) // names or a label selector → Targets
//	err = cs.Rollout(ctx, t, kube.Patch{Image: ref, Release: id, Deploy: dep}, onProgress)
//	st, err := cs.Read(ctx, t)
//
// Evaluate is the pure core: a Deployment in, a State out. Method and
// Verify make a set of Targets a hostsync stage, so the deploy engine's
// sync, rollback and resume work on Deployments as on hosts.
package kube
