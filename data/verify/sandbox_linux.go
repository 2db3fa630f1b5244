//go:build linux

package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sandbox runs every untrusted program through a re-exec of the current
// binary: the child starts as "<self> sdzero-sandbox <spec>" with
// sandboxEnv=1 in new user, network, mount, PID, IPC and UTS namespaces.
// This package's init function notices the marker before main runs, sets up
// the child (read-only root except the work directory, rlimits, all
// capabilities but CAP_DAC_READ_SEARCH dropped from the bounding set,
// no_new_privs) and execs the target, so limits are in force before the
// first instruction of untrusted code.
//
// Guarantees in namespace mode (probed once, see ProbeSandbox):
//   - no network: the child's network namespace has only a loopback device
//     that is down, so even 127.0.0.1 of the host is unreachable;
//   - no writes outside the work directory: every mount is read-only in the
//     child's mount namespace, it cannot remount (no CAP_SYS_ADMIN after
//     exec), and when the caller is root the child runs as host uid/gid
//     65534, which owns nothing (CAP_DAC_READ_SEARCH lets it read and
//     traverse root-owned directories such as /root/.pyenv);
//   - no processes left behind: the program is PID 1 of its own PID
//     namespace, so the kernel kills every descendant when it exits or is
//     killed; it also leads its own process group, which is SIGKILLed as a
//     whole on timeout; RLIMIT_NPROC is counted per sandbox (own user
//     namespace), so a fork bomb stops at the limit;
//   - RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_NPROC and
//     RLIMIT_CORE=0 are set before exec.
//
// Fallback (user namespaces unavailable): the same re-exec sets the rlimits,
// the program leads a process group killed on timeout, HOME/TMPDIR point
// into the work directory, and Python gets a sitecustomize module that
// replaces socket creation with an error. Writes outside the work directory
// and processes that leave the group (setsid) are then not prevented; the
// mode is reported by ProbeSandbox and in every Result.Reason that a sandbox
// property could have affected.

// ForceFallbackEnv, set to "1", makes ProbeSandbox choose fallback mode
// without probing (for debugging, or where namespaces are unwanted).
const ForceFallbackEnv = "SDZERO_SANDBOX_FALLBACK"

const fallbackDetail = "rlimits, process group, Python socket disabled via sitecustomize; writes outside the work dir not prevented"

const (
	sandboxEnv  = "SDZERO_VERIFY_SANDBOX"
	sandboxArg  = "sdzero-sandbox"
	nobodyID    = 65534
	childFailed = 126 // wrapper set-up failed before exec
)

// sandboxSpec is what the parent tells the re-exec'd wrapper.
type sandboxSpec struct {
	Argv       []string `json:"argv"`
	Env        []string `json:"env"`
	Dir        string   `json:"dir"`
	Namespaces bool     `json:"ns"`
	KeepRead   bool     `json:"keep_read"` // keep CAP_DAC_READ_SEARCH
	MemBytes   int64    `json:"mem"`
	CPUSecs    uint64   `json:"cpu"`
	NProc      uint64   `json:"nproc"`
	FileBytes  int64    `json:"fsize"`
}

func init() {
	if os.Getenv(sandboxEnv) != "1" || len(os.Args) != 3 || os.Args[1] != sandboxArg {
		return
	}
	// Capability sets and no_new_privs are per thread: set up and exec on
	// one OS thread.
	runtime.LockOSThread()
	err := sandboxChild(os.Args[2])
	fmt.Fprintf(os.Stderr, "sdzero-sandbox: %v\n", err)
	os.Exit(childFailed)
}

// sandboxChild prepares the current process and execs the target; it only
// returns on failure.
func sandboxChild(specJSON string) error {
	var s sandboxSpec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		return fmt.Errorf("bad spec: %w", err)
	}
	if len(s.Argv) == 0 {
		return errors.New("empty argv")
	}
	if s.Namespaces {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make / private: %w", err)
		}
		if err := unix.Mount(s.Dir, s.Dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", s.Dir, err)
		}
		ro := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID}
		if err := unix.MountSetattr(unix.AT_FDCWD, "/", unix.AT_RECURSIVE, ro); err != nil {
			return fmt.Errorf("read-only /: %w", err)
		}
		rw := &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(unix.AT_FDCWD, s.Dir, 0, rw); err != nil {
			return fmt.Errorf("writable %s: %w", s.Dir, err)
		}
		// A /proc of the new PID namespace hides host processes; optional.
		_ = unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	}
	if err := os.Chdir(s.Dir); err != nil {
		return err
	}
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = v
		}
	}
	// Everything that allocates happens before the limits: once RLIMIT_AS
	// is lower than this Go process's address space, the runtime could not
	// map a thread stack or heap span. From here on only raw system calls
	// run, on this locked thread, with GOMAXPROCS=1 and GC off (set by the
	// parent), so the runtime has no reason to create a thread or map
	// memory before execve replaces the process.
	argv0, err := unix.BytePtrFromString(s.Argv[0])
	if err != nil {
		return err
	}
	argv, err := ptrSlice(s.Argv)
	if err != nil {
		return err
	}
	envv, err := ptrSlice(s.Env)
	if err != nil {
		return err
	}
	type limit struct {
		res int
		val unix.Rlimit
	}
	var limits []limit
	add := func(res int, v uint64, always bool) {
		if v > 0 || always {
			limits = append(limits, limit{res, unix.Rlimit{Cur: v, Max: v}})
		}
	}
	add(unix.RLIMIT_CORE, 0, true)
	add(unix.RLIMIT_CPU, s.CPUSecs, false)
	add(unix.RLIMIT_NPROC, s.NProc, false)
	add(unix.RLIMIT_FSIZE, uint64(s.FileBytes), false)
	add(unix.RLIMIT_NOFILE, 256, true)
	add(unix.RLIMIT_AS, uint64(s.MemBytes), false) // last
	var drops []uintptr
	if s.Namespaces {
		for c := 0; c <= last; c++ {
			if !(s.KeepRead && c == unix.CAP_DAC_READ_SEARCH) {
				drops = append(drops, uintptr(c))
			}
		}
	}
	for i := range limits {
		l := &limits[i]
		if _, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, uintptr(l.res), uintptr(unsafe.Pointer(&l.val)), 0, 0, 0); e != 0 {
			return fmt.Errorf("setrlimit %d: %w", l.res, e)
		}
	}
	for _, c := range drops {
		if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0, 0, 0, 0); e != 0 && e != unix.EINVAL {
			return fmt.Errorf("drop capability %d: %w", c, e)
		}
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("no_new_privs: %w", e)
	}
	_, _, e := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(argv0)), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	runtime.KeepAlive(argv)
	runtime.KeepAlive(envv)
	return fmt.Errorf("exec %s: %w", s.Argv[0], e)
}

// ptrSlice converts strings to a NULL-terminated array of C strings.
func ptrSlice(ss []string) ([]*byte, error) {
	out := make([]*byte, len(ss)+1)
	for i, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

var (
	probeOnce sync.Once
	probed    SandboxInfo
	// selfExe is the binary re-executed as the sandbox wrapper.
	selfExe = sync.OnceValues(os.Executable)
)

// ProbeSandbox determines once per process whether namespace isolation
// works here, by running /bin/true-equivalent through the full sandbox.
func ProbeSandbox() SandboxInfo {
	probeOnce.Do(func() {
		if os.Getenv(ForceFallbackEnv) == "1" {
			probed = SandboxInfo{Detail: "fallback (forced by " + ForceFallbackEnv + "=1): " + fallbackDetail}
			return
		}
		if _, err := selfExe(); err != nil {
			probed = SandboxInfo{Detail: "fallback: cannot locate own executable for the sandbox wrapper: " + err.Error()}
			return
		}
		truePath, err := exec.LookPath("true")
		if err != nil {
			probed = SandboxInfo{Detail: "fallback: no `true` binary to probe with"}
			return
		}
		dir, err := os.MkdirTemp("", "sdzero-probe-")
		if err != nil {
			probed = SandboxInfo{Detail: "fallback: " + err.Error()}
			return
		}
		defer removeAll(dir)
		res := runSandboxed(context.Background(), runSpec{
			argv: []string{truePath}, dir: dir, timeout: 10 * time.Second, namespaces: true,
			mem: 256 << 20, maxOutput: 4096,
		})
		if res.err == nil && res.exitCode == 0 {
			probed = SandboxInfo{Namespaces: true, Detail: "namespaces: user+net+mount+pid, read-only root, rlimits"}
			return
		}
		why := res.errText()
		probed = SandboxInfo{Detail: "fallback (no namespace isolation: " + why + "): " + fallbackDetail}
	})
	return probed
}

// cappedBuffer keeps at most max bytes and calls over once when more arrive.
type cappedBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	max  int
	over func()
	hit  bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hit {
		return len(p), nil
	}
	if c.buf.Len()+len(p) > c.max {
		c.buf.Write(p[:c.max-c.buf.Len()])
		c.hit = true
		if c.over != nil {
			c.over()
		}
		return len(p), nil
	}
	return c.buf.Write(p)
}

// bytes returns a copy of what was kept.
func (c *cappedBuffer) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

func (c *cappedBuffer) exceeded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hit
}

// runSandboxed executes spec.argv in the sandbox and never blocks past its
// timeout by more than the kill-and-reap time.
func runSandboxed(ctx context.Context, spec runSpec) runResult {
	exe, err := selfExe()
	if err != nil {
		return runResult{err: fmt.Errorf("sandbox: %w", err)}
	}
	ss := sandboxSpec{
		Argv: spec.argv, Env: spec.env, Dir: spec.dir, Namespaces: spec.namespaces,
		MemBytes: spec.mem, NProc: spec.nproc, FileBytes: spec.fileBytes,
		CPUSecs:  uint64(spec.timeout/time.Second) + 2,
		KeepRead: spec.namespaces && os.Geteuid() == 0,
	}
	js, err := json.Marshal(ss)
	if err != nil {
		return runResult{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, sandboxArg, string(js))
	// One P and no GC keep the wrapper's runtime from starting threads or
	// mapping memory after it has lowered RLIMIT_AS (see sandboxChild).
	cmd.Env = []string{sandboxEnv + "=1", "GOMAXPROCS=1", "GOGC=off"}
	cmd.Dir = spec.dir
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if spec.namespaces {
		attr.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS |
			syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
		if os.Geteuid() == 0 {
			// Inside uid 0 is host nobody; host root is mapped (as 1) only
			// so that root-owned files are readable via CAP_DAC_READ_SEARCH.
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: nobodyID, Size: 1}, {ContainerID: 1, HostID: 0, Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: nobodyID, Size: 1}, {ContainerID: 1, HostID: 0, Size: 1}}
			attr.GidMappingsEnableSetgroups = true
			attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
			if err := os.Chown(spec.dir, nobodyID, nobodyID); err != nil {
				return runResult{err: fmt.Errorf("sandbox: chown work dir: %w", err)}
			}
		} else {
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
	}
	cmd.SysProcAttr = attr
	var res runResult
	kill := func() {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Process.Kill()
		}
	}
	cmd.Cancel = func() error { kill(); return nil }
	cmd.WaitDelay = 500 * time.Millisecond
	maxOut := spec.maxOutput
	if maxOut <= 0 {
		maxOut = 1 << 20
	}
	stdout := &cappedBuffer{max: maxOut, over: kill}
	stderr := &cappedBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if spec.stdin != nil {
		cmd.Stdin = bytes.NewReader(spec.stdin)
	}
	if err := cmd.Start(); err != nil {
		return runResult{err: fmt.Errorf("sandbox: start: %w", err)}
	}
	res.pgid = cmd.Process.Pid
	werr := cmd.Wait()
	// Anything still in the group (fallback mode) dies now.
	_ = syscall.Kill(-res.pgid, syscall.SIGKILL)
	res.stdout, res.stderr = stdout.bytes(), stderr.bytes()
	res.outputExceeded = stdout.exceeded()
	res.timedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
	if cmd.ProcessState == nil {
		res.err = fmt.Errorf("sandbox: wait: %v", werr)
		return res
	}
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		switch {
		case st.Exited():
			res.exitCode = st.ExitStatus()
		case st.Signaled():
			res.exitCode = -1
			res.signal = st.Signal()
		}
	}
	if res.exitCode == childFailed && bytes.Contains(res.stderr, []byte("sdzero-sandbox:")) {
		res.err = fmt.Errorf("sandbox set-up failed: %s", strings.TrimSpace(string(res.stderr)))
	}
	return res
}
