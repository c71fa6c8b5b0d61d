package sal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/jouncebot/jouncebot/store"
	bolt "go.etcd.io/bbolt"
)

// Backlog is what waits in one route's queue.
type Backlog struct {
	Route       string
	Description string
	Pending     int
	// Oldest is the time of the oldest waiting entry; zero when none waits.
	Oldest time.Time
}

// Backlogs says, for each route, how many items wait and since when. The
// metrics and the status page read it.
func (l *Log) Backlogs() []Backlog {
	out := make([]Backlog, 0, len(l.outbox.routes))
	l.db.View(func(tx *bolt.Tx) error {
		for _, r := range l.outbox.routes {
			b := Backlog{Route: r.Name, Description: r.Description}
			c := tx.Bucket(store.SALOutbox).Cursor()
			for k, _ := c.Seek(r.prefix); k != nil && bytes.HasPrefix(k, r.prefix); k, _ = c.Next() {
				if b.Pending == 0 && len(k) == len(r.prefix)+12 {
					id := binary.BigEndian.Uint64(k[len(r.prefix):])
					var e Entry
					if v := tx.Bucket(store.SALEntries).Get(idKey(id)); v != nil && json.Unmarshal(v, &e) == nil {
						b.Oldest = e.Time
					}
				}
				b.Pending++
			}
			out = append(out, b)
		}
		return nil
	})
	return out
}
