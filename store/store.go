// Package store owns jouncebot's bbolt database: the one file in the data
// directory that holds everything the bot was told. Every bucket name and the
// schema version are declared in schema.go, and numbered migrations run in
// one transaction when the database is opened.
//
// Open it once per process:
//
//	db, err := store.Open(filepath.Join(dataDir, "jouncebot.db"))
//	defer db.Close()
//
// A second process opening the same file gets an *InUseError naming the pid
// that holds it, within a second, instead of hanging.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DB is the open database.
type DB struct {
	*bolt.DB
	pidFile string
}

// InUseError says another process holds the database.
type InUseError struct {
	Path string
	PID  int // 0 when unknown
}

func (e *InUseError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("database %s is already in use by pid %d; stop that jouncebot or use another data directory", e.Path, e.PID)
	}
	return fmt.Sprintf("database %s is already in use by another process; stop it or use another data directory", e.Path)
}

// lockTimeout is how long Open waits for another process to let go.
const lockTimeout = 700 * time.Millisecond

// Open opens (creating if needed) the database at path, takes its exclusive
// lock, records this process's pid beside it, and runs pending migrations.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, &InUseError{Path: path, PID: readPID(path + ".pid")}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{DB: bdb, pidFile: path + ".pid"}
	if err := os.WriteFile(db.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: write pid file: %w", err)
	}
	if err := db.Update(migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	return db, nil
}

// Close removes the pid file and closes the database.
func (db *DB) Close() error {
	os.Remove(db.pidFile)
	return db.DB.Close()
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// Version returns the schema version recorded in the database.
func (db *DB) Version() (int, error) {
	var v int
	err := db.View(func(tx *bolt.Tx) error {
		v = schemaVersion(tx)
		return nil
	})
	return v, err
}

func schemaVersion(tx *bolt.Tx) int {
	b := tx.Bucket(Meta)
	if b == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(b.Get(keyVersion)))
	return n
}

func migrate(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(Meta); err != nil {
		return err
	}
	have := schemaVersion(tx)
	if have > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this jouncebot understands (%d); upgrade jouncebot", have, len(migrations))
	}
	for i := have; i < len(migrations); i++ {
		if err := migrations[i](tx); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return tx.Bucket(Meta).Put(keyVersion, []byte(strconv.Itoa(len(migrations))))
}
