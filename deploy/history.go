package deploy

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Estimate is how long a deploy takes, as the median of the last n
// finished deploys that synced (not prepare-only, not reverts), and a
// phrase saying so ("the last 5 deploys"). It is 0 when there are none.
func (a *records) Estimate(n int) (time.Duration, string, error) {
	type run struct {
		at  time.Time
		dur time.Duration
	}
	var runs []run
	err := a.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.Deploys).ForEach(func(k, v []byte) error {
			var d Deploy
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("deploy %s: %w", k, err)
			}
			if d.State == stateDone && !d.PrepareOnly && d.Revert == nil && !d.Finished.IsZero() {
				runs = append(runs, run{d.Created, d.Finished.Sub(d.Created)})
			}
			return nil
		})
	})
	if err != nil || len(runs) == 0 {
		return 0, "", err
	}
	slices.SortFunc(runs, func(x, y run) int { return y.at.Compare(x.at) })
	runs = runs[:min(n, len(runs))]
	durs := make([]time.Duration, len(runs))
	for i, r := range runs {
		durs[i] = r.dur
	}
	slices.Sort(durs)
	from := "the last deploy"
	if len(durs) > 1 {
		from = fmt.Sprintf("the median of the last %d deploys", len(durs))
	}
	return durs[len(durs)/2], from, nil
}

// Took is one finished deploy: when it was started, how long it took from
// `deploy` to done, and the kinds of its changes.
type Took struct {
	At    time.Time
	Took  time.Duration
	Kinds []Kind
}

// History returns the last n finished deploys that synced (not
// prepare-only, not reverts), newest first. It only reads.
func (a *records) History(n int) ([]Took, error) {
	var out []Took
	err := a.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.Deploys).ForEach(func(k, v []byte) error {
			var d Deploy
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("deploy %s: %w", k, err)
			}
			if d.State != stateDone || d.PrepareOnly || d.Revert != nil || d.Finished.IsZero() {
				return nil
			}
			t := Took{At: d.Created, Took: d.Finished.Sub(d.Created)}
			for _, c := range d.Changes {
				t.Kinds = append(t.Kinds, c.Kind)
			}
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y Took) int { return y.At.Compare(x.At) })
	return out[:min(n, len(out))], nil
}
