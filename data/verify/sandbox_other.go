//go:build !linux

package verify

import (
	"context"
	"errors"
)

// ProbeSandbox reports that code verification needs Linux.
func ProbeSandbox() SandboxInfo {
	return SandboxInfo{Detail: "unsupported: the code sandbox needs Linux (namespaces, rlimits)"}
}

// runSandboxed refuses to run untrusted code without the Linux sandbox.
func runSandboxed(ctx context.Context, spec runSpec) runResult {
	return runResult{err: errors.New("code verification is only supported on Linux")}
}
