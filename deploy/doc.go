// Package deploy will own the backport engine: resolving a Gerrit change,
// +2 and the wait for the gate, fetching and verifying the staging checkout,
// and the sync stages, behind a narrow interface the chat side calls so the
// engine can run as a separate agent on the deployment host.
package deploy
