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
// that is run and ProbeSandbox for what the sandbox guarantees.
//
// Sandbox, namespace mode (used when the probe succeeds, as on the CI
// machines): each run is a re-exec of the current binary into new user,
// network, mount, PID, IPC and UTS namespaces; the wrapper makes every
// mount read-only except the fresh work directory, sets RLIMIT_AS, CPU,
// NPROC, FSIZE, NOFILE and CORE=0, drops all capabilities except
// CAP_DAC_READ_SEARCH (so interpreters under /root stay readable), sets
// no_new_privs and execs the program. When the caller is root the program
// runs as host uid/gid 65534. There is no network (only a down loopback),
// no write outside the work directory, and no surviving process (the program
// is PID 1 of its namespace and leads a process group killed on timeout).
//
// Fallback mode (no user namespaces): rlimits, process-group kill, HOME and
// TMPDIR in the work directory, and a Python sitecustomize that makes socket
// creation raise. Writes outside the work directory, C++ network access and
// processes that leave the process group are not prevented; the Reason of
// a run that failed, crashed or timed out then ends in "[sandbox fallback
// mode]". Disk use inside the
// work directory is bounded only per file (RLIMIT_FSIZE) in both modes.
//
// Pool runs a batch of verifications with bounded parallelism; a verifier
// that panics or outlives Pool.JobTimeout yields reward 0 with a reason.
package verify
