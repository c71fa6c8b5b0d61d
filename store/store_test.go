package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// TestMain lets the test binary act as a second process holding the database.
func TestMain(m *testing.M) {
	if path := os.Getenv("STORE_TEST_HOLD"); path != "" {
		db, err := Open(path)
		if err != nil {
			fmt.Println("open failed:", err)
			os.Exit(1)
		}
		fmt.Println("holding")
		os.Stdin.Read(make([]byte, 1)) // until the parent closes our stdin
		db.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestOpenMigrates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "jouncebot.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.Version()
	if err != nil || v != len(migrations) {
		t.Fatalf("Version() = %d, %v; want %d", v, err, len(migrations))
	}
	err = db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{Audit, Claims, Queues, Deploys, DeployLock, DeployHosts, SALEntries, MatrixState} {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Reopening runs no migration again and keeps the version.
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.Version(); v != len(migrations) {
		t.Errorf("version after reopen = %d", v)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jouncebot.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(Meta).Put(keyVersion, []byte("999")) })
	db.Close()
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "schema version 999 is newer than this jouncebot understands") {
		t.Fatalf("Open(newer schema) = %v", err)
	}
}

// A second process opening the same file gets a clear error naming the
// holder's pid within a second, instead of hanging.
func TestSecondProcessGetsInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jouncebot.db")
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), "STORE_TEST_HOLD="+path)
	stdin, _ := holder.StdinPipe()
	out, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); holder.Wait() })
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "holding" {
		t.Fatalf("holder did not open the database: %q %v", buf, err)
	}

	start := time.Now()
	_, err := Open(path)
	took := time.Since(start)
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("Open = %v; want an InUseError", err)
	}
	if inUse.PID != holder.Process.Pid {
		t.Errorf("pid = %d; want the holder's %d", inUse.PID, holder.Process.Pid)
	}
	want := fmt.Sprintf("is already in use by pid %d", holder.Process.Pid)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if took > testenv.Scale(time.Second) {
		t.Errorf("took %s to report; want under %s", took, testenv.Scale(time.Second))
	}
}
