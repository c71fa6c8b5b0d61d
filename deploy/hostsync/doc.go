// Package hostsync copies the staging tree to many hosts at once, the way
// scap pull does, and keeps previous trees to roll back to.
//
// A Stage is a named set of hosts with a Method (Rsync or Command), a
// concurrency bound, a per-host timeout and the number of hosts allowed to
// fail. Sync runs one Job on it:
//
//	st := &hostsync.Stage{Name: "canaries", Hosts: hosts, Method: &hostsync.Rsync{},
//		Concurrency: 80, Timeout: 5 * time.Minute, MaxFailed: 0}
//	rep, err := st.Sync(ctx, hostsync.Job{
//		Source:     "/srv/mediawiki-staging",
//		Paths:      changed,                        // nil syncs the whole tree
//		Done:       alreadyDone,                    // hosts finished before a restart
//		OnResult:   func(r hostsync.Result) { persist(r) },
//		OnProgress: func(p hostsync.Progress) { say(p.String()) },
//	})
//	say(rep.Summary())
//
// Hosts are synced in random order. OnResult is called once per host as it
// finishes, always from the goroutine that called Sync, so it may write to
// the store without locking. Hosts whose sync was cut short by ctx are not
// reported: after a restart, pass the hosts reported as synced in Job.Done
// and Sync does only the rest (rsync is idempotent). Leave failed hosts out
// of Done: they are tried again and count against the stage's limit.
//
// Rsync.Protect names paths on the hosts that no sync deletes (private
// settings, caches). Rsync.Deliver makes one transfer with extra filter
// rules and returns rsync's itemized changes: package release uses it to
// send a release and the host's marker (MarkerName, ClaimDir) together.
//
// Rollback: Releases.Save keeps a hard-linked copy of the tree before it
// changes; syncing a Job whose Source is that copy puts every host back, and
// a Stage whose Method is Verify checks, by checksum, that each host now
// holds exactly that tree.
package hostsync
