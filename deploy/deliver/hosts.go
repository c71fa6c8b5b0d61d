// Package deliver keeps the books of a deploy's delivery to its hosts:
// each host's result of a stage's sync, of a rollback and of the check
// after it, one small key per host in bucket deploy.hosts, so that a
// stage of thousands of hosts never rewrites the deploy's record.
//
// The engine (package deploy) reads the results with Hosts and writes
// them as they come with a Recorder, which groups the hosts that end at
// once into one transaction:
//
//	hosts := deliver.Hosts{DB: db}
//	rec := hosts.Recorder(id, deliver.RolledBack, "production")
//	rec.Add("mw1001", record.HostResult{Dest: "/srv/mediawiki", Time: now})
//	err := rec.Close() // the results are committed
//	results, err := hosts.Stage(id, deliver.RolledBack, "production")
//
// A host's sync is a side effect of the deploy's workflow (package
// workflow), its mark kept as the host's result: Recorder.Store is the
// workflow store that reads and writes those marks by key.
//
// It also says what the hosts hold, for a restart or a rollback: Holding
// reads their release markers with the stage's Verifier, and
// VerifyRelease checks a host put back, marker and files.
package deliver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jouncebot/jouncebot/deploy/hostsync"
	"github.com/jouncebot/jouncebot/deploy/record"
	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Kind is a kind of per-host result, each kept per deploy and stage.
type Kind string

// The kinds of per-host results. Their names are part of the keys in
// bucket deploy.hosts: they never change.
const (
	Synced     Kind = "sync"     // the stage's sync of the deploy's release
	RolledBack Kind = "rollback" // the sync back to the previous release
	Verified   Kind = "verified" // the check after the rollback
)

// begun keeps the intents of the hosts' syncs (a result of kind Synced
// with Started only) apart from their results: a jouncebot from before
// intents reads every result of kind Synced without an error as a
// synced host, so after a downgrade mid-deploy it must find a host whose
// sync only began on no record, as it would have before. Reading Synced
// (Hosts.Results, get) includes them.
const begun Kind = "sync-begun"

// key is "<deploy key>\x00<kind>\x00<stage>\x00<host>".
func key(id record.ID, kind Kind, stage, host string) []byte {
	return []byte(string(record.Key(id)) + "\x00" + string(kind) + "\x00" + stage + "\x00" + host)
}

// Hosts reads and writes the hosts' results of deploys in DB.
type Hosts struct {
	DB *store.DB
}

// Results returns deploy id's results of kind, by stage and host. Those
// of kind Synced include the syncs begun and not ended (a result with
// Started only).
func (h Hosts) Results(id record.ID, kind Kind) (map[string]map[string]record.HostResult, error) {
	out := map[string]map[string]record.HostResult{}
	err := h.DB.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(store.DeployHosts).Cursor()
		kinds := []Kind{kind}
		if kind == Synced {
			kinds = append(kinds, begun)
		}
		for _, kind := range kinds {
			prefix := []byte(string(record.Key(id)) + "\x00" + string(kind) + "\x00")
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				stage, host, ok := strings.Cut(string(k[len(prefix):]), "\x00")
				if !ok {
					continue
				}
				var r record.HostResult
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("decode host result %q: %w", k, err)
				}
				if out[stage] == nil {
					out[stage] = map[string]record.HostResult{}
				}
				if _, ended := out[stage][host]; !ended {
					out[stage][host] = r
				}
			}
		}
		return nil
	})
	return out, err
}

// Stage is Results for one stage (an empty map when it has none).
func (h Hosts) Stage(id record.ID, kind Kind, stage string) (map[string]record.HostResult, error) {
	all, err := h.Results(id, kind)
	if err != nil {
		return nil, err
	}
	if all[stage] == nil {
		return map[string]record.HostResult{}, nil
	}
	return all[stage], nil
}

// Touched counts the hosts that got (or may have got: their sync began)
// deploy id's release; ended, only those whose sync ended.
func (h Hosts) Touched(id record.ID, ended bool) (int, error) {
	all, err := h.Results(id, Synced)
	n := 0
	for _, hs := range all {
		for _, r := range hs {
			if !ended || !r.Time.IsZero() {
				n++
			}
		}
	}
	return n, err
}

// get reads host's result of kind in bucket b (nil when none).
func get(b *bolt.Bucket, id record.ID, kind Kind, stage, host string) (*record.HostResult, error) {
	v := b.Get(key(id, kind, stage, host))
	if v == nil && kind == Synced {
		v = b.Get(key(id, begun, stage, host))
	}
	if v == nil {
		return nil, nil
	}
	var r record.HostResult
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode host result of %s: %w", host, err)
	}
	return &r, nil
}

// put records r as host's result of kind in bucket b (nil deletes it),
// an intent apart (begun).
func put(b *bolt.Bucket, id record.ID, kind Kind, stage, host string, r *record.HostResult) error {
	k, other := key(id, kind, stage, host), []byte(nil)
	if kind == Synced {
		other = key(id, begun, stage, host)
		if intent(r) {
			k, other = other, k
		}
	}
	if other != nil {
		if err := b.Delete(other); err != nil {
			return err
		}
	}
	if r == nil {
		return b.Delete(k)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

// intent reports whether r records an intent: a result begun, not ended.
func intent(r *record.HostResult) bool {
	return r != nil && r.Time.IsZero() && r.Err == ""
}

// Result is what is recorded of r, a host's sync to dest that ended at
// now.
func Result(dest string, r hostsync.Result, now time.Time) record.HostResult {
	hr := record.HostResult{Dest: dest, Time: now, Duration: r.Duration}
	if r.Err != nil {
		hr.Err = r.Err.Error()
	}
	return hr
}
