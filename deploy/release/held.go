package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// heldLog is the Store's record of the release each host holds: a map in
// memory, and a log beside the releases (hosts/held.log) that it is read
// from once and appended to with one write per change. A transfer costs
// two appends (the host forgotten, then its new release), no file opened
// or created: on a busy file system opening a file per host cost more
// than the rest of the engine's work for the host.
//
// Each record is one line of fixed length, "<host key> <release id>\n",
// the id all "-" for a host forgotten, and the last record of a host
// counts. A log whose length is not a whole number of records, or with
// a record that is not one, was cut short by a crash of the machine (a
// process killed mid-write loses no part of a write): then no host is
// known, and each gets its whole release once. The record is only a hint
// that each transfer checks against the host's marker (see Marked), so
// losing it costs time, never truth.
//
// The log is rewritten with one record per known host once it holds
// more than four records per host (and at least compactMin).
type heldLog struct {
	mu      sync.Mutex
	loaded  bool
	f       *os.File
	held    map[string]string // release id by host key
	records int               // records in the file
}

const (
	heldDir    = "hosts"
	heldFile   = "held.log"
	keyLen     = 32                  // hex of 16 bytes of sha256
	recordLen  = keyLen + 1 + 20 + 1 // key, space, id, newline
	compactMin = 1024
)

// unknownHeld is the id of a host forgotten.
var unknownHeld = strings.Repeat("-", 20)

func heldKey(dest string) string {
	sum := sha256.Sum256([]byte(dest))
	return hex.EncodeToString(sum[:16])
}

// Held returns the id of the release the last transfer to the host at
// dest left it holding, or "" when that is not known.
func (s *Store) Held(dest string) string {
	l := &s.held
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.load(s.Dir) != nil {
		return ""
	}
	return l.held[heldKey(dest)]
}

// setHeld records that the host at dest holds id.
func (s *Store) setHeld(dest, id string) error {
	return s.writeHeld(dest, id)
}

// forget records that what the host at dest holds is not known.
func (s *Store) forget(dest string) error {
	return s.writeHeld(dest, unknownHeld)
}

func (s *Store) writeHeld(dest, id string) error {
	l := &s.held
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.load(s.Dir); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	key := heldKey(dest)
	if id == unknownHeld {
		if _, ok := l.held[key]; !ok {
			return nil // not known already
		}
	}
	if l.f == nil {
		if err := l.rewrite(s.Dir); err != nil {
			return fmt.Errorf("release: %w", err)
		}
	}
	// The map changes first: a record that could not be written leaves
	// the host unknown in memory, never believed to hold id.
	delete(l.held, key)
	if _, err := l.f.Write([]byte(key + " " + id + "\n")); err != nil {
		// Part of the record may be in the log: it is read again, and
		// a log cut short knows no host.
		l.f.Close()
		l.f, l.loaded = nil, false
		return fmt.Errorf("release: record of what %s holds: %w", dest, err)
	}
	l.records++
	if id != unknownHeld {
		l.held[key] = id
	}
	if l.records > max(compactMin, 4*len(l.held)) {
		if err := l.rewrite(s.Dir); err != nil {
			return fmt.Errorf("release: %w", err)
		}
	}
	return nil
}

// load reads the log, taking in the per-host files of the format before
// it (hosts/<key>, holding an id), and opens it for appending; once, or
// again after it failed. l.mu is held.
func (l *heldLog) load(dir string) error {
	if l.loaded {
		return nil
	}
	if err := l.open(dir); err != nil {
		return err
	}
	l.loaded = true
	return nil
}

func (l *heldLog) open(dir string) error {
	l.held = map[string]string{}
	hosts := filepath.Join(dir, heldDir)
	entries, err := os.ReadDir(hosts)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var old []string
	for _, e := range entries {
		if name := e.Name(); len(name) == keyLen && e.Type().IsRegular() {
			old = append(old, name)
			if b, err := os.ReadFile(filepath.Join(hosts, name)); err == nil {
				if id := strings.TrimSpace(string(b)); validID(id) {
					l.held[name] = id
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(hosts, heldFile))
	if errors.Is(err, os.ErrNotExist) && len(old) == 0 {
		return nil // made by the first record
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if whole := l.replay(b); len(old) > 0 || !whole {
		// A new log, or one that takes the place of the old files or
		// of a log cut short.
		if err := l.rewrite(dir); err != nil {
			return err
		}
		for _, name := range old {
			os.Remove(filepath.Join(hosts, name))
		}
		return nil
	}
	f, err := os.OpenFile(filepath.Join(hosts, heldFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	l.f, l.records = f, len(b)/recordLen
	return nil
}

// replay applies the log's records b to l.held and reports whether b
// was whole. A log that is not forgets every host.
func (l *heldLog) replay(b []byte) bool {
	if len(b)%recordLen != 0 {
		clear(l.held)
		return false
	}
	for rec := range bytes.Lines(b) {
		key, id, ok := parseHeld(rec)
		if !ok {
			clear(l.held)
			return false
		}
		if id == unknownHeld {
			delete(l.held, key)
		} else {
			l.held[key] = id
		}
	}
	return true
}

// parseHeld reads one record of the log.
func parseHeld(rec []byte) (key, id string, ok bool) {
	if len(rec) != recordLen || rec[keyLen] != ' ' || rec[recordLen-1] != '\n' {
		return "", "", false
	}
	key, id = string(rec[:keyLen]), string(rec[keyLen+1:recordLen-1])
	if _, err := hex.DecodeString(key); err != nil {
		return "", "", false
	}
	return key, id, id == unknownHeld || validID(id)
}

// rewrite replaces the log with one record per known host and opens it
// for appending. l.mu is held.
func (l *heldLog) rewrite(dir string) error {
	hosts := filepath.Join(dir, heldDir)
	if err := os.MkdirAll(hosts, 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	for key, id := range l.held {
		b.WriteString(key + " " + id + "\n")
	}
	tmp := filepath.Join(hosts, heldFile+".new")
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(hosts, heldFile)); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(hosts, heldFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.records = f, len(l.held)
	return nil
}
