//go:build !amd64

package cpu

// microKernels lists the micro-kernels this machine can run, best first.
func microKernels() []microKernel { return []microKernel{genericKernel} }

// bestKernel returns the portable kernel on architectures without an
// assembly micro-kernel.
func bestKernel() microKernel { return genericKernel }

// transpose8 sets dst[p*dstride+i] = src[i*sstride+p] for i < 8 and
// p < 8*blocks.
func transpose8(src []float32, sstride int, dst []float32, dstride int, blocks int) {
	transpose8Go(src, sstride, dst, dstride, blocks)
}
