//go:build linux

package verify

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// removeTree deletes dir and everything under it without following any
// symlink and without ever building a long path: it walks down by directory
// file descriptor (openat of one name at a time, O_NOFOLLOW, O_NONBLOCK so
// a FIFO cannot block it) and removes bottom-up, holding one descriptor at a
// time, so a tree 32,000 directories deep (far past PATH_MAX) goes as well
// as a flat one. Directories the program made unreadable are chmod'ed by
// descriptor first. Any failure is returned: a cleanup failure is an error
// the caller counts, never silently left behind.
func removeTree(dir string) error {
	dir = filepath.Clean(dir)
	parent, base := filepath.Split(dir)
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("remove %q: not a removable directory name", dir)
	}
	pfd, err := unix.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %s: open parent: %w", dir, err)
	}
	defer unix.Close(pfd)
	if err := unix.Unlinkat(pfd, base, 0); err == nil || errors.Is(err, unix.ENOENT) {
		return nil // a plain file, or already gone
	}
	// names[i] is the name of level i+1 inside level i (level 0 is dir).
	var names []string
	fd, err := openDirAt(pfd, base)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	for {
		sub, err := emptyDirFD(fd)
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("remove %s (depth %d): %w", dir, len(names), err)
		}
		if sub != "" {
			nfd, err := openDirAt(fd, sub)
			unix.Close(fd)
			if err != nil {
				return fmt.Errorf("remove %s (depth %d): %w", dir, len(names)+1, err)
			}
			fd = nfd
			names = append(names, sub)
			continue
		}
		if len(names) == 0 {
			unix.Close(fd)
			if err := unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR); err != nil {
				return fmt.Errorf("remove %s: %w", dir, err)
			}
			return nil
		}
		// Empty: go up by "..", which nobody can redirect any more (the
		// tree's writers are dead), and remove it from its parent.
		up, err := unix.Openat(fd, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("remove %s (depth %d): open ..: %w", dir, len(names), err)
		}
		last := names[len(names)-1]
		names = names[:len(names)-1]
		err = unix.Unlinkat(up, last, unix.AT_REMOVEDIR)
		if errors.Is(err, unix.EACCES) && unix.Fchmod(up, 0o700) == nil {
			err = unix.Unlinkat(up, last, unix.AT_REMOVEDIR)
		}
		if err != nil {
			unix.Close(up)
			return fmt.Errorf("remove %s (depth %d): rmdir %q: %w", dir, len(names)+1, last, err)
		}
		fd = up
	}
}

// openDirAt opens the directory name inside dfd without following a
// symlink, making it readable first when the program removed permissions.
func openDirAt(dfd int, name string) (int, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	fd, err := unix.Openat(dfd, name, flags, 0)
	if errors.Is(err, unix.EACCES) {
		// Not root (root has CAP_DAC_OVERRIDE): the directory is ours,
		// so restore its permissions by a non-following path handle.
		if pfd, e := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); e == nil {
			e = unix.Fchmodat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", pfd), 0o700, 0)
			unix.Close(pfd)
			if e == nil {
				fd, err = unix.Openat(dfd, name, flags, 0)
			}
		}
	}
	if err != nil {
		return -1, fmt.Errorf("open %q: %w", name, err)
	}
	return fd, nil
}

// emptyDirFD unlinks every non-directory entry of the directory open at fd
// and returns the name of one subdirectory, or "" when fd is now empty.
// Unlinking while reading may make getdents skip entries, so it rereads
// until a pass sees none.
func emptyDirFD(fd int) (string, error) {
	// A duplicate, so that closing the *os.File leaves fd open.
	dup, err := unix.Dup(fd)
	if err != nil {
		return "", err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	for {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		seen := 0
		for {
			ents, err := f.ReadDir(256)
			seen += len(ents)
			for _, e := range ents {
				if e.IsDir() {
					return e.Name(), nil
				}
				err := unix.Unlinkat(fd, e.Name(), 0)
				if errors.Is(err, unix.EACCES) {
					// Not root, and the program removed write permission
					// from its own directory (same uid: ours to restore).
					if unix.Fchmod(fd, 0o700) == nil {
						err = unix.Unlinkat(fd, e.Name(), 0)
					}
				}
				if err != nil && !errors.Is(err, unix.ENOENT) {
					if errors.Is(err, unix.EISDIR) {
						return e.Name(), nil
					}
					return "", fmt.Errorf("unlink %q: %w", e.Name(), err)
				}
			}
			if err == io.EOF || (err == nil && len(ents) == 0) {
				break
			}
			if err != nil {
				return "", err
			}
		}
		if seen == 0 {
			return "", nil
		}
	}
}
