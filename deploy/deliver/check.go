package deliver

import (
	"context"
	"errors"
	"fmt"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// Verifier is the method that compares a host with a tree without
// changing it, for the stage method m as configured (before the engine
// wraps it to write the release marker): rsync's dry run when m is
// rsync. nil means the hosts cannot be checked (a sync command): no
// marker is written to them either.
func Verifier(m hostsync.Method) hostsync.Method {
	switch v := m.(type) {
	case *hostsync.Rsync:
		return &hostsync.Verify{Rsync: *v}
	case interface{ Verifier() hostsync.Method }:
		return v.Verifier() // a Kubernetes stage reads its Deployments
	}
	return nil
}

// Holding checks the markers of hosts of stage hs with verify, many at
// once: hold are those that hold rel, unknown those that could not be
// checked (an error other than a difference, e.g. no answer), with the
// error. store forgets what a host that does not hold rel holds, so it
// gets the whole release.
func Holding(ctx context.Context, store *release.Store, hs *hostsync.Stage, verify hostsync.Method, rel *release.Release, hosts []hostsync.Host) (hold map[string]bool, unknown map[string]error, err error) {
	hold, unknown = map[string]bool{}, map[string]error{}
	if len(hosts) == 0 {
		return hold, unknown, nil
	}
	vs := hostsync.Stage{Name: hs.Name, Hosts: hosts, Method: &release.HoldsMethod{Verify: verify, Release: rel, Store: store},
		Concurrency: hs.Concurrency, Timeout: hs.Timeout, MaxFailed: len(hosts)}
	rep, err := vs.Sync(ctx, hostsync.Job{})
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	if rep == nil {
		return nil, nil, err
	}
	for _, r := range rep.Results {
		var diff *hostsync.DiffError
		switch {
		case r.Err == nil:
			hold[r.Host] = true
		case !errors.As(r.Err, &diff):
			unknown[r.Host] = r.Err
		}
	}
	return hold, unknown, nil
}

// VerifyRelease is a hostsync.Method that checks a host's release
// marker, then the paths a sync touched, byte for byte, with Verify.
type VerifyRelease struct {
	Verify  hostsync.Method
	Release *release.Release
	Store   *release.Store // forgets a host that fails (Store.Distrust)
}

// Sync implements hostsync.Method.
func (v *VerifyRelease) Sync(ctx context.Context, h hostsync.Host, src string, paths []string) error {
	err := v.check(ctx, h, src, paths)
	v.Store.Distrust(h.Dest, v.Release.ID, err)
	return err
}

func (v *VerifyRelease) check(ctx context.Context, h hostsync.Host, src string, paths []string) error {
	if err := release.Holds(ctx, v.Verify, h, v.Release); err != nil {
		return fmt.Errorf("does not say it holds release %s: %w", v.Release.ID, err)
	}
	return v.Verify.Sync(ctx, h, src, paths)
}
