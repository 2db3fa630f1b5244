//go:build linux

package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How a run is isolated (namespace mode; see doc.go for the guarantees).
//
// The parent re-executes the current binary as "<self> sdzero-sandbox
// <spec>" in new user, network, mount, PID, IPC and UTS namespaces and in a
// new session (no controlling terminal; stdin is a pipe or /dev/null). That
// wrapper, PID 1 of the new PID namespace, is the sample's supervisor:
//
//  1. it mounts an empty tmpfs as the new root, bind-mounts read-only only
//     what the language runtime needs (/usr and the /lib, /bin links, the
//     interpreter's or compiler's prefix when outside /usr,
//     /etc/ld.so.cache, the device nodes null/zero/full/random/urandom),
//     the program's source directory read-only at /src, a fresh
//     size-limited tmpfs at /work (cwd, HOME, TMPDIR) and a /proc of the
//     new PID namespace; pivot_root makes that the whole filesystem and the
//     root itself is made read-only;
//  2. it drops every capability (bounding, permitted, effective,
//     inheritable, ambient; securebits locked so that uid 0 of the
//     namespace regains nothing on exec), sets no_new_privs and loads the
//     seccomp filter (seccomp_linux.go);
//  3. it starts "<self> sdzero-sandbox-exec <spec>", which sets the
//     rlimits and execs the program, then polls the resident memory of
//     every process of the namespace and kills them all when the sample's
//     budget is exceeded, or when the program exits (so no daemon
//     survives); the outcome goes back on a status pipe.
//
// When the caller is root, namespace uid/gid 0 (the wrapper and the
// program) is host uid/gid 65534, and host root is mapped (as 1) only so
// that the wrapper can bind runtimes that live under /root; the program
// holds no capability, so host root's 0600 files stay unreadable even where
// they are visible (they are not: only the paths above are).
//
// Unisolated mode (no namespaces, only with CodeOptions.AllowUnisolatedCode):
// the wrapper starts a new session, runs as uid/gid 65534 when the caller is
// root, sets no_new_privs, the seccomp filter and the rlimits, and execs the
// program in a host work directory.

// ForceFallbackEnv, set to "1", makes ProbeSandbox report no namespace
// isolation without probing (for debugging, or where namespaces are
// unwanted); Code then refuses programs unless AllowUnisolatedCode is set.
const ForceFallbackEnv = "SDZERO_SANDBOX_FALLBACK"

const (
	sandboxEnv  = "SDZERO_VERIFY_SANDBOX"
	sandboxArg  = "sdzero-sandbox"
	execArg     = "sdzero-sandbox-exec"
	childFailed = 126 // wrapper set-up failed before exec
	statusFD    = 3   // the supervisor's status pipe
	// pollInterval is how often the supervisor sums resident memory. A
	// sample can outgrow its budget by at most what its processes fault in
	// during one interval (each is also capped by RLIMIT_AS).
	pollInterval = 5 * time.Millisecond
)

// sandboxSpec is what the parent tells the re-exec'd wrapper.
type sandboxSpec struct {
	Argv       []string    `json:"argv"`
	Env        []string    `json:"env"`
	Dir        string      `json:"dir"`
	Namespaces bool        `json:"ns"`
	Root       string      `json:"root,omitempty"`
	Binds      []bindMount `json:"binds,omitempty"`
	Links      [][2]string `json:"links,omitempty"`
	WorkBytes  int64       `json:"work_bytes,omitempty"`
	WorkInodes int         `json:"work_inodes,omitempty"`
	MemBytes   int64       `json:"mem"`
	SampleMem  int64       `json:"sample_mem,omitempty"`
	CPUSecs    uint64      `json:"cpu"`
	NProc      uint64      `json:"nproc"`
	FileBytes  int64       `json:"fsize"`
	AsNobody   bool        `json:"as_nobody,omitempty"`
}

// sandboxStatus is what the supervisor reports on the status pipe.
type sandboxStatus struct {
	Exit        int    `json:"exit"`
	Signal      int    `json:"signal,omitempty"`
	MemExceeded bool   `json:"mem_exceeded,omitempty"`
	PeakBytes   int64  `json:"peak,omitempty"`
	Err         string `json:"err,omitempty"`
}

func init() {
	if os.Getenv(sandboxEnv) != "1" || len(os.Args) != 3 || (os.Args[1] != sandboxArg && os.Args[1] != execArg) {
		return
	}
	// Capability sets, no_new_privs and rlimits are set up and the target
	// exec'd on one OS thread.
	runtime.LockOSThread()
	var s sandboxSpec
	err := json.Unmarshal([]byte(os.Args[2]), &s)
	if err == nil && len(s.Argv) == 0 {
		err = errors.New("empty argv")
	}
	if err == nil {
		switch {
		case os.Args[1] == execArg:
			err = execTarget(&s)
		case s.Namespaces:
			os.Exit(supervise(&s))
		default:
			err = unisolatedWrapper(&s)
		}
	}
	fmt.Fprintf(os.Stderr, "sdzero-sandbox: %v\n", err)
	os.Exit(childFailed)
}

// markCloseOnExec makes every descriptor from first up close on exec, so
// that nothing the caller inherited (a terminal, a socket) reaches the
// program.
func markCloseOnExec(first int) error {
	if err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list descriptors: %w", err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

// unisolatedWrapper is the wrapper without namespaces: filter, limits, exec.
func unisolatedWrapper(s *sandboxSpec) error {
	if err := markCloseOnExec(3); err != nil {
		return err
	}
	filter, err := seccompFilter()
	if err == nil {
		if err := installSeccomp(filter); err != nil {
			return err
		}
	}
	if s.AsNobody {
		// The caller is root: the program gets no privilege over the
		// caller's files or processes. (Go applies these to all threads.)
		if err := syscall.Setgroups([]int{}); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setgid(nobodyID); err != nil {
			return fmt.Errorf("setgid: %w", err)
		}
		if err := syscall.Setuid(nobodyID); err != nil {
			return fmt.Errorf("setuid: %w", err)
		}
	}
	return execTarget(s)
}

// supervise is the namespace-mode wrapper (PID 1 of the sample); it returns
// the wrapper's exit status after reporting on the status pipe.
func supervise(s *sandboxSpec) int {
	status := os.NewFile(statusFD, "status")
	report := func(st sandboxStatus) int {
		b, _ := json.Marshal(st)
		_, _ = status.Write(b)
		status.Close()
		if st.Err != "" {
			return childFailed
		}
		return 0
	}
	syscall.CloseOnExec(statusFD)
	if err := markCloseOnExec(statusFD + 1); err != nil {
		return report(sandboxStatus{Err: err.Error()})
	}
	if err := setupRoot(s); err != nil {
		return report(sandboxStatus{Err: err.Error()})
	}
	// Not dumpable: the program runs with the supervisor's uid, and would
	// otherwise be allowed /proc/1/mem and /proc/1/fd (the status pipe).
	// The Go runtime's other threads keep the namespace's capabilities
	// (dropCapabilities is per thread), so this matters.
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 0, 0, 0, 0, 0); e != 0 {
		return report(sandboxStatus{Err: "not dumpable: " + e.Error()})
	}
	if err := dropCapabilities(); err != nil {
		return report(sandboxStatus{Err: err.Error()})
	}
	filter, err := seccompFilter()
	if err != nil {
		return report(sandboxStatus{Err: err.Error()})
	}
	if err := installSeccomp(filter); err != nil {
		return report(sandboxStatus{Err: err.Error()})
	}
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	spec, _ := json.Marshal(s)
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"sdzero-sandbox-exec", execArg, string(spec)}, &syscall.ProcAttr{
		Dir:   s.Dir,
		Env:   []string{sandboxEnv + "=1", "GOMAXPROCS=1", "GOGC=off"},
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		return report(sandboxStatus{Err: "start program: " + err.Error()})
	}
	budget := s.SampleMem
	if budget <= 0 {
		budget = s.MemBytes
	}
	st := sandboxStatus{}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for done := false; !done; {
		for {
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if wpid <= 0 || err != nil {
				break
			}
			if wpid == pid {
				done = true
				switch {
				case ws.Exited():
					st.Exit = ws.ExitStatus()
				case ws.Signaled():
					st.Exit, st.Signal = -1, int(ws.Signal())
				}
			}
		}
		if done {
			break
		}
		if budget > 0 && !st.MemExceeded {
			used := namespaceResident()
			st.PeakBytes = max(st.PeakBytes, used)
			if used > budget {
				st.MemExceeded = true
				_ = unix.Kill(-1, unix.SIGKILL)
			}
		}
		select {
		case <-chld:
		case <-tick.C:
		}
	}
	// The program is gone: nothing else of the sample may outlive it.
	_ = unix.Kill(-1, unix.SIGKILL)
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(-1, &ws, 0, nil); err != nil && !errors.Is(err, unix.EINTR) {
			break
		}
	}
	return report(st)
}

// namespaceResident sums the anonymous and shared-memory resident bytes of
// every process in this PID namespace but the supervisor (its /proc shows
// only them). File-backed pages (the interpreter's code) are not counted:
// they are shared and reclaimable.
func namespaceResident() int64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total int64
	self := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		name := e.Name()
		if name == self || name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/status")
		if err != nil {
			continue
		}
		for _, key := range []string{"RssAnon:", "RssShmem:"} {
			i := bytes.Index(b, []byte(key))
			if i < 0 {
				continue
			}
			f := strings.Fields(string(b[i+len(key) : min(len(b), i+len(key)+32)]))
			if len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					total += kb << 10
				}
			}
		}
	}
	return total
}

// setupRoot builds the sample's filesystem view and pivots into it.
func setupRoot(s *sandboxSpec) error {
	if s.Root == "" || !filepath.IsAbs(s.Root) {
		return fmt.Errorf("bad sandbox root %q", s.Root)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	r := s.Root
	if err := unix.Mount("tmpfs", r, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,nr_inodes=4096,mode=0755"); err != nil {
		return fmt.Errorf("mount root tmpfs: %w", err)
	}
	for _, b := range s.Binds {
		if !filepath.IsAbs(b.Dst) || strings.Contains(b.Dst, "..") {
			return fmt.Errorf("bad bind target %q", b.Dst)
		}
		dst := filepath.Join(r, b.Dst)
		if b.File {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("bind target %s: %w", b.Dst, err)
			}
			f.Close()
		} else if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("bind target %s: %w", b.Dst, err)
		}
		if err := unix.Mount(b.Src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", b.Src, err)
		}
		attr := uint64(unix.MOUNT_ATTR_NOSUID)
		if !b.RW {
			attr |= unix.MOUNT_ATTR_RDONLY
		}
		if !b.Dev {
			attr |= unix.MOUNT_ATTR_NODEV
		}
		if err := setMountAttr(dst, attr); err != nil {
			return fmt.Errorf("restrict bind %s: %w", b.Dst, err)
		}
	}
	for _, l := range s.Links {
		p := filepath.Join(r, l[0])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(l[1], p); err != nil {
			return fmt.Errorf("link %s: %w", l[0], err)
		}
	}
	// A procfs of the new PID namespace (only the sample's processes);
	// mounted while the host's /proc is still in view, as the kernel
	// requires for an unprivileged procfs mount.
	if err := os.Mkdir(filepath.Join(r, "proc"), 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", filepath.Join(r, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	if err := os.Mkdir(filepath.Join(r, "work"), 0o755); err != nil {
		return err
	}
	opts := fmt.Sprintf("size=%d,nr_inodes=%d,mode=0700", max(s.WorkBytes, 1<<20), max(s.WorkInodes, 64))
	if err := unix.Mount("tmpfs", filepath.Join(r, "work"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount work tmpfs: %w", err)
	}
	if err := os.Chdir(r); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach host root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("read-only root: %w", err)
	}
	return nil
}

// setMountAttr sets attr on the mount at path and every mount below it
// (mount_setattr, Linux 5.12+), else on the top mount by remount.
func setMountAttr(path string, attr uint64) error {
	err := unix.MountSetattr(unix.AT_FDCWD, path, unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: attr})
	if !errors.Is(err, unix.ENOSYS) {
		return err
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND)
	if attr&unix.MOUNT_ATTR_RDONLY != 0 {
		flags |= unix.MS_RDONLY
	}
	if attr&unix.MOUNT_ATTR_NOSUID != 0 {
		flags |= unix.MS_NOSUID
	}
	if attr&unix.MOUNT_ATTR_NODEV != 0 {
		flags |= unix.MS_NODEV
	}
	return unix.Mount("", path, "", flags, "")
}

// dropCapabilities empties every capability set of the calling thread (the
// locked thread that later forks the program, so the program inherits
// exactly this) and locks the securebits so that exec as namespace uid 0
// grants nothing. Per thread, because the process-wide variant
// (AllThreadsSyscall) is unavailable in cgo binaries.
func dropCapabilities() error {
	last := 63
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = v
		}
	}
	for c := 0; c <= last; c++ {
		if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0, 0); e != 0 {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
		}
	}
	const (
		secbitNoroot           = 1 << 0
		secbitNorootLocked     = 1 << 1
		secbitKeepCapsLocked   = 1 << 5
		secbitNoAmbientRaise   = 1 << 6
		secbitNoAmbientLocked  = 1 << 7
		secbitNoSetuidFixupLck = 1 << 3
	)
	bits := uintptr(secbitNoroot | secbitNorootLocked | secbitKeepCapsLocked | secbitNoAmbientRaise | secbitNoAmbientLocked | secbitNoSetuidFixupLck)
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, bits, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("securebits: %w", e)
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("clear ambient capabilities: %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	return nil
}

// execTarget sets the rlimits and execs the program; it only returns on
// failure.
func execTarget(s *sandboxSpec) error {
	if err := os.Chdir(s.Dir); err != nil {
		return err
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
	add(unix.RLIMIT_MEMLOCK, 0, true)
	add(unix.RLIMIT_MSGQUEUE, 0, true)
	add(unix.RLIMIT_AS, uint64(s.MemBytes), false) // last
	for i := range limits {
		l := &limits[i]
		if _, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, uintptr(l.res), uintptr(unsafe.Pointer(&l.val)), 0, 0, 0); e != 0 {
			return fmt.Errorf("setrlimit %d: %w", l.res, e)
		}
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

// selfExe is the binary re-executed as the sandbox wrapper.
var selfExe = sync.OnceValues(os.Executable)

var (
	probeOnce sync.Once
	probed    SandboxInfo
)

// ProbeSandbox determines once per process whether namespace isolation
// works here, by running `true` through the full sandbox (empty root, all
// capabilities dropped, seccomp filter).
func ProbeSandbox() SandboxInfo {
	probeOnce.Do(func() {
		_, ferr := seccompFilter()
		seccompOK := ferr == nil
		if os.Getenv(ForceFallbackEnv) == "1" {
			probed = SandboxInfo{Seccomp: seccompOK, Detail: "no namespace isolation (forced by " + ForceFallbackEnv + "=1)"}
			return
		}
		if _, err := selfExe(); err != nil {
			probed = SandboxInfo{Seccomp: seccompOK, Detail: "no namespace isolation: cannot locate own executable for the sandbox wrapper: " + err.Error()}
			return
		}
		if !seccompOK {
			probed = SandboxInfo{Detail: "no namespace isolation: " + ferr.Error()}
			return
		}
		dir, err := os.MkdirTemp("", "sdzero-probe-")
		if err != nil {
			probed = SandboxInfo{Seccomp: true, Detail: "no namespace isolation: " + err.Error()}
			return
		}
		defer removeTree(dir)
		root := filepath.Join(dir, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			probed = SandboxInfo{Seccomp: true, Detail: "no namespace isolation: " + err.Error()}
			return
		}
		truePath := "/usr/bin/true"
		if _, err := os.Stat(truePath); err != nil {
			truePath = "/bin/true"
		}
		binds, links := systemView()
		res := runSandboxed(context.Background(), runSpec{
			argv: []string{truePath}, dir: "/work", timeout: 20 * time.Second, namespaces: true,
			root: root, binds: binds, links: links, workBytes: 1 << 20, workInodes: 64,
			mem: 256 << 20, maxOutput: 4096,
		})
		if res.err == nil && res.exitCode == 0 {
			probed = SandboxInfo{Namespaces: true, Seccomp: true, Detail: "namespaces: user+net+mount+pid+ipc+uts, empty read-only root with runtime binds, no capabilities, seccomp, per-sample memory supervisor, tmpfs work dir"}
			return
		}
		probed = SandboxInfo{Seccomp: true, Detail: "no namespace isolation: " + clip(res.errText(), 300)}
	})
	return probed
}

// systemView returns the read-only system paths every sandbox sees: /usr
// and the merged-/usr links (or directories) /bin, /sbin, /lib*, the dynamic
// linker's cache, and the harmless device nodes.
func systemView() ([]bindMount, [][2]string) {
	var binds []bindMount
	var links [][2]string
	for _, p := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache", "/etc/alternatives"} {
		st, err := os.Lstat(p)
		switch {
		case err != nil:
			continue
		case st.Mode()&os.ModeSymlink != 0:
			if t, err := os.Readlink(p); err == nil {
				links = append(links, [2]string{p, t})
			}
		case st.IsDir():
			binds = append(binds, bindMount{Src: p, Dst: p})
		case st.Mode().IsRegular():
			binds = append(binds, bindMount{Src: p, Dst: p, File: true})
		}
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom"} {
		p := "/dev/" + d
		if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			binds = append(binds, bindMount{Src: p, Dst: p, File: true, Dev: true})
		}
	}
	links = append(links,
		[2]string{"/dev/fd", "/proc/self/fd"},
		[2]string{"/dev/stdin", "/proc/self/fd/0"},
		[2]string{"/dev/stdout", "/proc/self/fd/1"},
		[2]string{"/dev/stderr", "/proc/self/fd/2"},
		[2]string{"/dev/shm", "/work"},
		[2]string{"/tmp", "/work"},
	)
	return binds, links
}

// runtimeBinds returns read-only binds for the directories in dirs that the
// system view does not already contain (an interpreter under /root or
// /opt, a virtual environment), outermost first, without duplicates.
func runtimeBinds(dirs []string) []bindMount {
	covered := []string{"/usr"}
	var out []bindMount
	var clean []string
	for _, d := range dirs {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		d = filepath.Clean(d)
		clean = append(clean, d)
		if real, err := filepath.EvalSymlinks(d); err == nil && real != d {
			clean = append(clean, real)
		}
	}
	// Shorter paths first, so a prefix covers what is below it.
	sort.Slice(clean, func(i, j int) bool { return len(clean[i]) < len(clean[j]) })
	for _, d := range clean {
		inside := false
		for _, c := range covered {
			if d == c || strings.HasPrefix(d, c+"/") {
				inside = true
			}
		}
		if st, err := os.Stat(d); inside || err != nil || !st.IsDir() {
			continue
		}
		covered = append(covered, d)
		out = append(out, bindMount{Src: d, Dst: d})
	}
	return out
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
// timeout (or ctx) by more than the kill-and-reap time.
func runSandboxed(ctx context.Context, spec runSpec) runResult {
	exe, err := selfExe()
	if err != nil {
		return runResult{err: fmt.Errorf("sandbox: %w", err)}
	}
	ss := sandboxSpec{
		Argv: spec.argv, Env: spec.env, Dir: spec.dir, Namespaces: spec.namespaces,
		Root: spec.root, Binds: spec.binds, Links: spec.links,
		WorkBytes: spec.workBytes, WorkInodes: spec.workInodes,
		MemBytes: spec.mem, SampleMem: spec.sampleMem, NProc: spec.nproc, FileBytes: spec.fileBytes,
		CPUSecs: uint64(spec.timeout/time.Second) + 2, AsNobody: spec.runAsNobody && !spec.namespaces,
	}
	js, err := json.Marshal(ss)
	if err != nil {
		return runResult{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, sandboxArg, string(js))
	// One P and no GC keep the exec stage's runtime from starting threads
	// or mapping memory after it has lowered RLIMIT_AS (see execTarget).
	cmd.Env = []string{sandboxEnv + "=1", "GOMAXPROCS=1", "GOGC=off"}
	cmd.Dir = "/"
	// A new session: no controlling terminal, so /dev/tty cannot be
	// opened even where it exists, and the sample is its own process group.
	attr := &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	var statusR *os.File
	if spec.namespaces {
		attr.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS |
			syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
		if os.Geteuid() == 0 {
			// Inside uid 0 is host nobody; host root is mapped (as 1)
			// only so that the wrapper can reach runtimes under /root
			// before it drops every capability.
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: nobodyID, Size: 1}, {ContainerID: 1, HostID: 0, Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: nobodyID, Size: 1}, {ContainerID: 1, HostID: 0, Size: 1}}
			attr.GidMappingsEnableSetgroups = true
			attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
		} else {
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
		r, w, err := os.Pipe()
		if err != nil {
			return runResult{err: fmt.Errorf("sandbox: status pipe: %w", err)}
		}
		defer r.Close()
		defer w.Close()
		statusR = r
		cmd.ExtraFiles = []*os.File{w}
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
	var statusBytes []byte
	statusDone := make(chan struct{})
	if statusR != nil {
		cmd.ExtraFiles[0].Close()
		go func() {
			defer close(statusDone)
			statusBytes, _ = io.ReadAll(io.LimitReader(statusR, 1<<16))
		}()
	} else {
		close(statusDone)
	}
	werr := cmd.Wait()
	// Anything still in the group (unisolated mode) dies now; in namespace
	// mode the kernel has already killed the whole PID namespace.
	_ = syscall.Kill(-res.pgid, syscall.SIGKILL)
	if statusR != nil {
		// The supervisor is dead; its end of the pipe is closed unless a
		// stray descriptor survived, which the deadline bounds.
		select {
		case <-statusDone:
		case <-time.After(time.Second):
			statusR.Close()
			<-statusDone
		}
	}
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
	if spec.namespaces {
		var st sandboxStatus
		if len(statusBytes) > 0 && json.Unmarshal(statusBytes, &st) == nil {
			res.exitCode, res.signal = st.Exit, syscall.Signal(st.Signal)
			res.memExceeded, res.peakBytes = st.MemExceeded, st.PeakBytes
			if st.Err != "" {
				res.err = fmt.Errorf("sandbox set-up failed: %s", st.Err)
				return res
			}
		} else if !res.timedOut && !res.outputExceeded && ctx.Err() == nil {
			res.err = fmt.Errorf("sandbox supervisor died without a status (%v)", cmd.ProcessState)
			return res
		}
	}
	if res.exitCode == childFailed && bytes.Contains(res.stderr, []byte("sdzero-sandbox:")) {
		res.err = fmt.Errorf("sandbox set-up failed: %s", strings.TrimSpace(string(res.stderr)))
	}
	return res
}
