package hostsync

import (
	"io"
	"os"
	"os/exec"
	"sync"

	"golang.org/x/sys/unix"
)

// memList is rsync's path list as a file in memory (memfd_create(2)),
// handed to the child as its standard input as it is, where a pipe would
// need a goroutine to feed it. (Its standard error stays a pipe whose
// tail is kept: a file would grow without bound if a process rsync's
// remote shell left behind kept writing to it.)
func memList(list []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("rsync-files", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "memfd_create", Path: "rsync-files", Err: err}
	}
	f := os.NewFile(uintptr(fd), "rsync-files")
	if _, err = f.Write(list); err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// lookPath is exec.LookPath, remembered for each name and PATH: a stage
// runs the same rsync for every host. A remembered path that is no longer
// there (rsync moved to another directory of PATH by an upgrade) is
// looked up again.
func lookPath(name string) (string, error) {
	key := name + "\x00" + os.Getenv("PATH")
	if p, ok := lookPaths.Load(key); ok {
		if st, err := os.Stat(p.(string)); err == nil && st.Mode().IsRegular() {
			return p.(string), nil
		}
		lookPaths.Delete(key)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	lookPaths.Store(key, p)
	return p, nil
}

var lookPaths sync.Map
