// Package verify computes binary rewards for rollouts.
//
// Math compares a response's final answer (last \boxed{...}, "#### x" or
// "the answer is x") with a reference: after normalisation (dollars,
// \left/\right, spacing commands, \text units, trailing period, degrees,
// percent, thousands separators, \dfrac/\tfrac, \frac12), as exact numbers
// (big.Rat; square roots in an exact multi-quadratic field), elementwise for
// tuples and intervals with matching brackets, unordered for sets, unions
// and bare lists, and as expressions by exact evaluation at pseudo-random
// rational points (\pi and other letters are free symbols). A decimal
// literal with at least 7 significant digits also matches a value within
// one unit of its last digit; shorter decimals must be exact. Anything that
// does not parse is compared as a normalised string.
//
// Code runs the last fenced code block of a response (Python, or C++ when
// the fence says so or the code has #include) against stdin/stdout tests or
// HumanEval/MBPP test code, in a sandbox; see Code for the exact program
// that is run and docs/sandbox.md for the threat model and the attack
// table. The sandbox has two modes; ProbeSandbox says which one this
// machine gets.
//
// Namespace mode (used when the probe succeeds, as on the CI machines;
// needs Linux with unprivileged user namespaces, mount_setattr or remount,
// and a procfs that may be mounted in a user namespace). Every run (each
// test, and the C++ compile) is a re-exec of the current binary into new
// user, network, mount, PID, IPC and UTS namespaces and a new session.
// Guaranteed for the program and everything it starts:
//   - no terminal: no controlling terminal (setsid), stdin is a pipe or
//     /dev/null, stdout/stderr are pipes, no inherited descriptor beyond
//     0-2, /dev/tty does not exist, ioctl TIOCSTI/TIOCLINUX are denied;
//   - a filesystem of its own: an empty tmpfs root holding only read-only
//     binds of /usr (and the /bin, /sbin, /lib* links or directories),
//     /etc/ld.so.cache, /etc/alternatives, the interpreter's prefix when it
//     is outside /usr (e.g. /root/.pyenv/versions/X), the device nodes
//     null, zero, full, random and urandom, the source directory at /src,
//     a /proc of its PID namespace, and a fresh size-limited tmpfs at /work
//     (cwd, HOME, TMPDIR; /tmp and /dev/shm point there); for C++ test runs
//     the compiler's output at /out, read-only. Nothing else of the host is
//     reachable by any path: no home directory, dataset, /etc/shadow,
//     /run, /var or /tmp of the host, hence no host unix-domain socket;
//   - no privilege: host uid/gid 65534 when the caller is root (the
//     caller's own ids otherwise), no supplementary groups, every
//     capability set empty with securebits locked, no_new_privs, and a
//     seccomp filter denying ptrace, process_vm_*, keyctl, mount and the new
//     mount API, unshare/setns and namespace clone flags (clone3 gets
//     ENOSYS), bpf, perf_event_open, userfaultfd, io_uring, module and
//     kexec calls, open_by_handle_at, memfd_create and socket() of every
//     family (socketpair stays); a visible file the program does not own
//     and cannot read by its mode (a root-only 0600 file) stays unreadable;
//   - no network: an empty network namespace (loopback down), and no
//     socket() at all;
//   - the source is written once, with O_EXCL, into a fresh directory the
//     program sees read-only, before any program runs; the parent never
//     writes, opens or follows anything a program created, so symlinks and
//     FIFOs planted by a program cannot redirect or block it;
//   - whole-sample bounds: the supervisor (PID 1 of the namespace) sums
//     the resident anonymous and shared memory of all the sample's
//     processes every 5 ms and kills them all above MemoryBytes (each
//     process is also under RLIMIT_AS = MemoryBytes, so the overshoot is
//     what the sample can fault in during one interval); RLIMIT_NPROC is
//     counted per sample (own user namespace); disk is the /work tmpfs
//     (DiskBytes, inode count bounded) plus RLIMIT_FSIZE; RLIMIT_CPU,
//     NOFILE=256, CORE=0, MEMLOCK=0 and MSGQUEUE=0 are set too; cgroups
//     are not used;
//   - nothing survives: when the program exits, the supervisor kills every
//     other process of the namespace; when the supervisor dies (timeout,
//     context cancelled, output cap, trainer exit via PDEATHSIG) the kernel
//     kills the whole namespace; the tmpfs mounts vanish with it, so the
//     only host-side state is the per-sample directory (source, empty
//     mount point, C++ output), removed bottom-up by descriptor after the
//     call; a failure to remove it is an error (reward 0, counted in
//     CodeStats.CleanupFailures).
//
// Every Code call returns within CompileTimeout + (TestTimeout + 2s) per run
// + 5s, or when ctx ends; reasons are capped and stripped of control
// characters, and contain only what the program printed or the compiler
// said about the files in the view above.
//
// Unisolated mode (no user namespaces, or SDZERO_SANDBOX_FALLBACK=1): Code
// refuses to run programs (reward 0, "program not run: no sandbox
// isolation ...") unless CodeOptions.AllowUnisolatedCode is set. With it,
// each run is a new session with no inherited descriptors, no_new_privs,
// the same seccomp filter (so no sockets, no TIOCSTI, no ptrace) and
// rlimits, and, when the caller is root, uid/gid 65534; the source is
// still written once, root-owned and read-only to the program. NOT
// guaranteed: the program sees the host filesystem and processes, reads
// every file uid 65534 (or the non-root caller) can, writes where that user
// may, and a non-root caller's program runs as the caller (it can signal
// the trainer and touch the caller's files); memory is bounded per process
// only (RLIMIT_AS x RLIMIT_NPROC in total), disk per file only
// (RLIMIT_FSIZE), and a process that calls setsid escapes the group kill.
// Reasons of failed runs then end in "[unisolated sandbox]".
//
// PlanCode and FitCodeWorkers size the verifier's worker pool so that
// workers x the per-sample bound fits the available memory; the plan's
// String is for the run log.
//
// Pool runs a batch of verifications with bounded parallelism and a hard
// deadline per job (the job's context is cancelled at Pool.JobTimeout); a
// verifier that panics or outlives it yields reward 0 with a reason.
package verify
