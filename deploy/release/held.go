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
	"syscall"

	"golang.org/x/sys/unix"
)

// heldLog is the Store's record of the release each host holds: a log
// beside the releases (hosts/held.log) appended to with one write per
// change, and what it says in memory. A transfer costs two appends (the
// host forgotten, then its new release) and a stat before each use, no
// file opened or created: on a busy file system opening a file per host
// cost more than the rest of the engine's work for the host.
//
// Each record is one line of fixed length, "<host key> <release id>\n",
// the id all "-" for a host forgotten; the last record of a host counts.
// The log is read again whenever it is not the file, or not the length,
// this Store last saw: another Store on the same directory (in this
// process or another) wrote to it or replaced it.
//
// A log whose length is not a whole number of records, or with a record
// that is not one, was cut short (a crash of the machine, a full disk):
// then no host is known, and each gets its whole release once. The
// records are not synced to disk: a crash of the machine may lose the
// last ones whole, and with them the forgetting of a host whose transfer
// it cut short; the restart check of the deploy (by marker) does not see
// files such a transfer landed without its claim.
//
// The log is rewritten with one record per known host once it holds
// more than four records per host (and at least compactMin). Space for
// the next records is reserved ahead (fallocate), so that a full disk
// does not stop a rollback to a release already frozen.
type heldLog struct {
	mu       sync.Mutex
	f        *os.File          // the log, open for appending; nil when there is none
	ino      uint64            // f's inode
	size     int64             // f's length as this Store left it
	reserved int64             // how far f's space is reserved
	held     map[string]string // release id by host key
	compact  int               // records beyond which the log is rewritten
}

const (
	heldDir    = "hosts"
	heldFile   = "held.log"
	keyLen     = 32                  // hex of 16 bytes of sha256
	recordLen  = keyLen + 1 + 20 + 1 // key, space, id, newline
	compactMin = 1024
	reserve    = 64 << 10 // bytes of log space kept reserved ahead
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
	if l.fresh(s.Dir) != nil {
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
	if err := l.fresh(s.Dir); err != nil {
		return fmt.Errorf("release: record of what %s holds: %w", dest, err)
	}
	key := heldKey(dest)
	if id == unknownHeld {
		if _, ok := l.held[key]; !ok {
			return nil // not known already
		}
	}
	if l.f == nil {
		if err := l.rewrite(s.Dir); err != nil {
			return fmt.Errorf("release: record of what %s holds: %w", dest, err)
		}
	}
	// The host is unknown in memory until its record is written: one
	// that could not be is never believed.
	delete(l.held, key)
	n, err := l.f.Write([]byte(key + " " + id + "\n"))
	if err != nil {
		if n > 0 {
			// The log ends with part of a record: cut it off.
			if terr := l.f.Truncate(l.size); terr != nil {
				l.close() // read again, cut short: no host is known
			}
		}
		return fmt.Errorf("release: record of what %s holds: %w", dest, err)
	}
	l.size += int64(n)
	if id != unknownHeld {
		l.held[key] = id
	}
	if l.size > l.reserved-reserve/2 {
		l.reserve()
	}
	if records := int(l.size / recordLen); records > max(l.compact, 4*len(l.held)) {
		// The record is written: a rewrite that fails is tried again
		// after as many records again.
		if l.rewrite(s.Dir) != nil {
			l.compact = 2 * records
		}
	}
	return nil
}

// fresh makes l say what the log on disk says, reading it when this
// Store has not, or when it changed behind this Store's back. l.mu is
// held.
func (l *heldLog) fresh(dir string) error {
	if l.f != nil {
		if st, err := os.Stat(filepath.Join(dir, heldDir, heldFile)); err == nil && inode(st) == l.ino && st.Size() == l.size {
			return nil
		}
		l.close()
	}
	return l.load(dir)
}

func (l *heldLog) close() {
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.ino, l.size, l.reserved = nil, 0, 0, 0
}

// load reads the log and opens it for appending, taking in the per-host
// files of the format before it (hosts/<key>, holding an id). Both at
// once (an older jouncebot ran after a newer one, and its records are
// not in the log, nor the newer one's in its files): no host is known.
// l.mu is held.
func (l *heldLog) load(dir string) error {
	l.held, l.compact = map[string]string{}, compactMin
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
	logged := err == nil
	if whole := l.replay(b); len(old) > 0 || !whole {
		if len(old) > 0 && logged {
			clear(l.held)
		}
		if err := l.rewrite(dir); err != nil {
			return err
		}
		for _, name := range old {
			os.Remove(filepath.Join(hosts, name))
		}
		return nil
	}
	return l.open(dir)
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
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(hosts, heldFile)); err != nil {
		return err
	}
	l.close()
	return l.open(dir)
}

// open opens the log for appending. l.mu is held.
func (l *heldLog) open(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, heldDir, heldFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.ino, l.size = f, inode(st), st.Size()
	l.reserve()
	return nil
}

// reserve asks the file system for the log's next records' space ahead;
// where it cannot (no space, no support) appends ask as they go.
func (l *heldLog) reserve() {
	l.reserved = l.size + reserve
	_ = unix.Fallocate(int(l.f.Fd()), unix.FALLOC_FL_KEEP_SIZE, l.size, reserve)
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
