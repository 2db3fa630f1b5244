//go:build amd64

package cpu

import (
	"testing"

	"sdzero/kernels/kernelstest"
)

// TestConformancePureGo runs the suite with the vector routines switched
// off and the portable micro-kernel: the code path of other architectures
// (GOARCH=arm64 builds the same Go fallbacks).
func TestConformancePureGo(t *testing.T) {
	saved := hasFMA // tests in this package do not run in parallel
	hasFMA = false
	defer func() { hasFMA = saved }()
	kernelstest.Run(t, newWithKernel(2, genericKernel), kernelstest.DefaultTolerances())
}
