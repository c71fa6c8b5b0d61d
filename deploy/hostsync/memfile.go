package hostsync

import (
	"io"
	"os"
	"os/exec"
	"sync"

	"golang.org/x/sys/unix"
)

// rsyncFiles are the standard input and error of one rsync, kept in
// memory (memfd_create(2)): a file descriptor each, handed to the child
// as they are, where pipes would each need a goroutine to feed or drain.
type rsyncFiles struct {
	stdin, stderr *os.File
}

// memFiles makes rsync's files: stdin holding list (none when list is
// nil), stderr empty.
func memFiles(list []byte) (*rsyncFiles, error) {
	f := &rsyncFiles{}
	var err error
	if f.stderr, err = memFile("rsync-stderr"); err != nil {
		return nil, err
	}
	if list == nil {
		return f, nil
	}
	if f.stdin, err = memFile("rsync-files"); err == nil {
		if _, err = f.stdin.Write(list); err == nil {
			_, err = f.stdin.Seek(0, io.SeekStart)
		}
	}
	if err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func memFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "memfd_create", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// stderrTail is the last max bytes rsync wrote to its standard error.
func (f *rsyncFiles) stderrTail(max int64) string {
	end, err := f.stderr.Seek(0, io.SeekEnd)
	if err != nil {
		return ""
	}
	b := make([]byte, min(end, max))
	n, _ := f.stderr.ReadAt(b, end-int64(len(b)))
	return string(b[:n])
}

func (f *rsyncFiles) close() {
	for _, x := range []*os.File{f.stdin, f.stderr} {
		if x != nil {
			x.Close()
		}
	}
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
