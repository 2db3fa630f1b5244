//go:build !amd64

package cpu

// microKernels lists the micro-kernels this machine can run, best first.
func microKernels() []microKernel { return []microKernel{genericKernel} }

// bestKernel returns the portable kernel on architectures without an
// assembly micro-kernel.
func bestKernel() microKernel { return genericKernel }
