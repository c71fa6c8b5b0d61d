package matrix

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/store"
)

// state persists what the transport must remember across restarts in the
// matrix.state and matrix.handled buckets. Keys are prefixed with the
// network name so several Matrix networks can share one database.
type state struct {
	db      *store.DB
	network string
	inserts int
}

// Keys in matrix.state.
const (
	keySession   = "session"    // homeserver, user id, device id, access token
	keyNextBatch = "next_batch" // sync token after the last processed response
)

// handledRetention is how long a handled event id is remembered. It must
// exceed catchUpMaxAge, so that a replayed sync never runs an old command
// a second time.
const handledRetention = 7 * 24 * time.Hour

// session is a login the transport made and may reuse.
type session struct {
	Homeserver  string
	UserID      string
	DeviceID    string
	AccessToken string
}

func (s *state) key(k string) []byte { return []byte(s.network + "/" + k) }

func (s *state) get(k string) (string, error) {
	var v string
	err := s.db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(store.MatrixState).Get(s.key(k)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("matrix: read %s from the database: %w", k, err)
	}
	return v, nil
}

func (s *state) put(k, v string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(store.MatrixState).Put(s.key(k), []byte(v))
	})
	if err != nil {
		return fmt.Errorf("matrix: save %s to the database: %w", k, err)
	}
	return nil
}

// loadSession returns the saved login, or the zero session.
func (s *state) loadSession() (session, error) {
	v, err := s.get(keySession)
	if err != nil || v == "" {
		return session{}, err
	}
	f := strings.Split(v, "\n")
	if len(f) != 4 {
		return session{}, nil
	}
	return session{Homeserver: f[0], UserID: f[1], DeviceID: f[2], AccessToken: f[3]}, nil
}

func (s *state) saveSession(ss session) error {
	return s.put(keySession, strings.Join([]string{ss.Homeserver, ss.UserID, ss.DeviceID, ss.AccessToken}, "\n"))
}

func (s *state) nextBatch() (string, error) { return s.get(keyNextBatch) }

func (s *state) saveNextBatch(tok string) error { return s.put(keyNextBatch, tok) }

// markHandled records that the event is being acted on. It reports false
// when the event was recorded before, so that nothing is acted on twice.
func (s *state) markHandled(eventID string, now time.Time) (bool, error) {
	first := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.MatrixHandled)
		k := s.key(eventID)
		if b.Get(k) != nil {
			return nil
		}
		first = true
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(now.UnixMilli()))
		return b.Put(k, v[:])
	})
	if err != nil {
		return false, fmt.Errorf("matrix: record handled event: %w", err)
	}
	s.inserts++
	if s.inserts%500 == 0 {
		if err := s.prune(now); err != nil {
			return first, err
		}
	}
	return first, nil
}

// prune forgets handled events older than handledRetention.
func (s *state) prune(now time.Time) error {
	cutoff := uint64(now.Add(-handledRetention).UnixMilli())
	prefix := []byte(s.network + "/")
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(store.MatrixHandled)
		var old [][]byte
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) != 8 || binary.BigEndian.Uint64(v) < cutoff {
				old = append(old, bytes.Clone(k))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
