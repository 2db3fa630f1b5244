//go:build !linux

package verify

import (
	"context"
	"errors"
	"os"
)

// ProbeSandbox reports that code verification needs Linux.
func ProbeSandbox() SandboxInfo {
	return SandboxInfo{Detail: "unsupported: the code sandbox needs Linux (namespaces, seccomp, rlimits)"}
}

// runSandboxed refuses to run untrusted code without the Linux sandbox.
func runSandboxed(ctx context.Context, spec runSpec) runResult {
	return runResult{err: errors.New("code verification is only supported on Linux")}
}

// systemView is empty: nothing runs outside Linux.
func systemView() ([]bindMount, [][2]string) { return nil, nil }

// runtimeBinds is empty: nothing runs outside Linux.
func runtimeBinds(dirs []string) []bindMount { return nil }

// removeTree deletes dir (only the verifier's own files exist off Linux:
// no program ever runs there).
func removeTree(dir string) error { return os.RemoveAll(dir) }
