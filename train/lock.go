package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockFile is the run directory's lock, held by the process that trains
// the run (train, resume) for as long as it runs.
const lockFile = "run.lock"

// RunInUseError reports that another process holds a run directory's lock.
type RunInUseError struct {
	// Dir is the run directory; Lock its lock file.
	Dir, Lock string
	// PID is the holder's process id as it recorded it in the lock file;
	// 0 when the file did not (yet) say.
	PID int
}

func (e *RunInUseError) Error() string {
	holder := "another process (its pid is not recorded yet)"
	if e.PID > 0 {
		holder = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("run %s is in use by %s, which holds %s: wait for it to finish or stop it (SIGTERM saves a checkpoint), then resume with --resume %s", e.Dir, holder, e.Lock, e.Dir)
}

// runLock is the exclusive lock on a run directory. It is an advisory lock
// the kernel holds for the open lock file (flock(2) where the platform has
// it), so it is released when the process exits, however it exits: a
// killed run never leaves a stale lock. The file itself stays (removing it
// would let two processes lock two different files under one name); it
// holds the holder's pid for the message a second starter gets.
type runLock struct {
	f    *os.File
	path string
}

// errLockHeld is what tryLock returns when another open file holds the lock.
var errLockHeld = errors.New("lock held by another process")

// lockRun takes the lock of the existing directory dir without waiting:
// a held lock is a *RunInUseError naming the holder's pid. warn, when not
// empty, says that this file system or platform cannot lock (the run goes
// on unprotected; the caller prints it).
func lockRun(dir string) (l *runLock, warn string, err error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("lock run %s: %w", dir, err)
	}
	supported, err := tryLock(f)
	switch {
	case errors.Is(err, errLockHeld):
		f.Close()
		return nil, "", &RunInUseError{Dir: dir, Lock: path, PID: readLockPID(path)}
	case err != nil:
		f.Close()
		return nil, "", fmt.Errorf("lock run %s: %w", path, err)
	case !supported:
		warn = fmt.Sprintf("warning: cannot lock %s on this file system or platform: nothing stops a second process from writing this run", path)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("lock run %s: record pid: %w", path, err)
	}
	return &runLock{f: f, path: path}, warn, nil
}

// release drops the lock (closing the file releases it); nil-safe.
func (l *runLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// readLockPID returns the pid recorded in a lock file, 0 if none.
func readLockPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
