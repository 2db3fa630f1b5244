//go:build linux

package verify

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp filter is defence in depth under the namespaces (and the main
// barrier in the opt-in unisolated mode): it denies the system calls a
// checked program has no use for and that widen what it can reach. Denied
// calls fail with EPERM (clone3 with ENOSYS, so that the C library falls
// back to clone, whose flags the filter can inspect); a foreign
// architecture (e.g. x32 or i386 entry points) kills the process.

// seccompDenied lists system calls that fail with EPERM.
var seccompDenied = []uintptr{
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT,
	unix.SYS_UNSHARE, unix.SYS_SETNS,
	unix.SYS_FSOPEN, unix.SYS_FSMOUNT, unix.SYS_FSCONFIG, unix.SYS_FSPICK,
	unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_MOUNT_SETATTR,
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	// Every socket family: the network namespace already has no usable
	// interface, and AF_UNIX pathname sockets are not covered by it.
	// socketpair stays allowed (it cannot reach anything outside).
	unix.SYS_SOCKET,
	// Unaccounted memory: a memfd's pages are not in any process's RSS
	// until mapped, so the sample's memory supervisor could not see them.
	unix.SYS_MEMFD_CREATE,
	unix.SYS_ACCT, unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_REBOOT,
	unix.SYS_VHANGUP,
}

// seccompNamespaceFlags are clone flags that create namespaces.
const seccompNamespaceFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWNET |
	unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// seccompArch is the audit architecture of this build, or 0 where the
// filter is not built (then SandboxInfo says so).
func seccompArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// seccompFilter builds the BPF program described above.
func seccompFilter() ([]unix.SockFilter, error) {
	arch := seccompArch()
	if arch == 0 {
		return nil, fmt.Errorf("no seccomp filter for GOARCH=%s", runtime.GOARCH)
	}
	const (
		offNR   = 0
		offArch = 4
		offArg0 = 16 // args[i] at 16+8i; low 32 bits first (little endian)
		offArg1 = 24
	)
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
	}
	ret := func(k uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k}
	}
	eperm := ret(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	allow := ret(unix.SECCOMP_RET_ALLOW)
	p := []unix.SockFilter{
		ld(offArch),
		jeq(arch, 1, 0),
		ret(unix.SECCOMP_RET_KILL_PROCESS),
		ld(offNR),
	}
	if arch == unix.AUDIT_ARCH_X86_64 {
		// x32 system calls share the arch value and set bit 30.
		p = append(p,
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, Jt: 0, Jf: 1, K: 0x40000000},
			eperm)
	}
	for _, nr := range seccompDenied {
		p = append(p, jeq(uint32(nr), 0, 1), eperm)
	}
	p = append(p,
		jeq(uint32(unix.SYS_CLONE3), 0, 1),
		ret(unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)),
		// clone: deny namespace flags (args[0] on amd64 and arm64).
		jeq(uint32(unix.SYS_CLONE), 0, 4),
		ld(offArg0),
		unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 0, Jf: 1, K: seccompNamespaceFlags},
		eperm,
		allow,
		// ioctl: no terminal input injection (TIOCSTI, TIOCLINUX).
		jeq(uint32(unix.SYS_IOCTL), 0, 5),
		ld(offArg1),
		jeq(unix.TIOCSTI, 2, 0),
		jeq(unix.TIOCLINUX, 1, 0),
		allow,
		eperm,
		allow,
	)
	if len(p) > 4096 {
		return nil, fmt.Errorf("seccomp filter too long (%d instructions)", len(p))
	}
	return p, nil
}

// installSeccomp sets no_new_privs and loads filter on every thread of the
// process (TSYNC also carries no_new_privs to the other threads), so
// whichever thread forks next carries it.
func installSeccomp(filter []unix.SockFilter) error {
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("no_new_privs: %w", e)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	runtime.KeepAlive(filter)
	return nil
}
