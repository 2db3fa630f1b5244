package verify

import (
	"fmt"
	"strings"
	"syscall"
	"time"
)

// SandboxInfo describes what the sandbox guarantees on this machine.
type SandboxInfo struct {
	// Namespaces is true when programs run in fresh user/net/mount/PID
	// namespaces on an empty root (full isolation); false otherwise, and
	// then Code refuses to run programs unless
	// CodeOptions.AllowUnisolatedCode is set.
	Namespaces bool
	// Seccomp is true when the system-call filter is applied (both modes).
	Seccomp bool
	// Detail explains the mode (the probe error when namespaces failed).
	Detail string
}

// nobodyID is the unprivileged host uid/gid programs run as when the
// caller is root.
const nobodyID = 65534

// bindMount is one host path made visible in the sandbox's empty root.
type bindMount struct {
	// Src is the host path; Dst the path inside the sandbox.
	Src string `json:"src"`
	Dst string `json:"dst"`
	// RW leaves the mount writable (only the C++ output directory of the
	// compile step).
	RW bool `json:"rw,omitempty"`
	// Dev keeps device access (the /dev/null-like nodes).
	Dev bool `json:"dev,omitempty"`
	// File is set when Src is not a directory.
	File bool `json:"file,omitempty"`
}

// runSpec is one sandboxed execution.
type runSpec struct {
	argv []string
	env  []string
	// dir is the working directory as the program sees it ("/work" with
	// namespaces; a host directory in unisolated mode).
	dir   string
	stdin []byte
	// timeout bounds the run's wall-clock time.
	timeout    time.Duration
	namespaces bool
	// root is an empty host directory the sandbox root is mounted on (in
	// the sandbox's own mount namespace only).
	root string
	// binds are the read-only (or RW) host paths of the sandbox view.
	binds []bindMount
	// links are symlinks created in the sandbox root: path -> target.
	links [][2]string
	// workBytes and workInodes size the /work tmpfs.
	workBytes  int64
	workInodes int
	// mem is RLIMIT_AS per process; sampleMem the whole sample's resident
	// budget enforced by the supervisor (0: mem).
	mem       int64
	sampleMem int64
	nproc     uint64
	fileBytes int64
	maxOutput int
	// runAsNobody switches a root caller's unisolated program to uid/gid
	// 65534 (namespaces map the program to 65534 on their own).
	runAsNobody bool
}

// runResult is the outcome of one sandboxed execution.
type runResult struct {
	stdout, stderr []byte
	exitCode       int // -1 when killed by a signal
	signal         syscall.Signal
	timedOut       bool
	outputExceeded bool
	// memExceeded is set when the supervisor killed the sample for going
	// over its whole-sample memory budget; peakBytes is the largest total
	// it measured.
	memExceeded bool
	peakBytes   int64
	err         error // failure to start or wrapper set-up failure
	pgid        int
}

func (r runResult) errText() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("exit %d: %s", r.exitCode, strings.TrimSpace(string(r.stderr)))
}
