#!/bin/sh
# Installs the Kubernetes parts the kubernetes stage tests start: etcd v3.6.16,
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl v1.36.3,
# and kwok v0.8.0 (fake nodes whose pods become Ready without a kubelet).
#
# k8s.io/kubernetes and etcd's server cannot be `go install`ed (their go.mod
# files replace their own staging modules), so they are built from the
# wrapper modules beside this script (kubernetes/k8swrap, kubernetes/etcdwrap),
# which require the published modules instead. kwok is built inside k8swrap so
# it shares the compiled Kubernetes packages with the control plane.
#
# Idempotent: a no-op when the binaries of these versions are there. The
# first build is about 25 CPU-minutes (≈ 13 min on two idle cores).
#
#   scripts/install/kubernetes.sh
#   JOUNCEBOT_TEST_BIN=DIR scripts/install/kubernetes.sh
set -eu

k8s=v1.36.3
etcd=v3.6.16
kwok=v0.8.0
here=$(cd "$(dirname "$0")/kubernetes" && pwd)
if [ -n "${JOUNCEBOT_TEST_BIN:-}" ]; then
	bin=$JOUNCEBOT_TEST_BIN
elif mkdir -p /usr/local/lib/jouncebot-test/bin 2>/dev/null && [ -w /usr/local/lib/jouncebot-test/bin ]; then
	bin=/usr/local/lib/jouncebot-test/bin
else
	bin=$HOME/.cache/jouncebot/bin
fi
mkdir -p "$bin"

# One build at a time: a second caller waits for the first, then finds the
# binaries there.
if [ -z "${JOUNCEBOT_KUBERNETES_LOCKED:-}" ] && command -v flock >/dev/null; then
	export JOUNCEBOT_KUBERNETES_LOCKED=1
	exec flock "$bin/.kubernetes.lock" "$0" "$@"
fi

stamp=$bin/.kubernetes-$k8s-etcd-$etcd-kwok-$kwok
ok=1
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
	[ -x "$bin/$b" ] || ok=0
done
if [ -f "$stamp" ] && [ "$ok" = 1 ]; then
	exit 0
fi

echo "building Kubernetes $k8s, etcd $etcd and kwok $kwok into $bin (≈ 13 min the first time)" >&2
minor=$(echo "$k8s" | cut -d. -f2)
ldf="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldf="$ldf -X $p.gitVersion=$k8s -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
# One go build for all mains: shared packages compile once.
(cd "$here/k8swrap" && go build -trimpath -ldflags "$ldf" -o "$bin/" \
	./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kubectl ./cmd/kwok)
(cd "$here/etcdwrap" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" .)
cp "$here/kwok-stages.yaml" "$bin/kwok-stages.yaml"
touch "$stamp"
