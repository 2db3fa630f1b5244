package verify

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// SandboxInfo describes what the sandbox guarantees on this machine.
type SandboxInfo struct {
	// Namespaces is true when programs run in fresh user/net/mount/PID
	// namespaces (full isolation); false in fallback mode.
	Namespaces bool
	// Detail explains the mode (the probe error in fallback mode).
	Detail string
}

// runSpec is one sandboxed execution.
type runSpec struct {
	argv       []string
	env        []string
	dir        string
	stdin      []byte
	timeout    time.Duration
	namespaces bool
	mem        int64
	nproc      uint64
	fileBytes  int64
	maxOutput  int
}

// runResult is the outcome of one sandboxed execution.
type runResult struct {
	stdout, stderr []byte
	exitCode       int // -1 when killed by a signal
	signal         syscall.Signal
	timedOut       bool
	outputExceeded bool
	err            error // failure to start or wrapper set-up failure
	pgid           int
}

func (r runResult) errText() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("exit %d: %s", r.exitCode, strings.TrimSpace(string(r.stderr)))
}

// removeAll deletes dir even if the program removed permissions inside it.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
