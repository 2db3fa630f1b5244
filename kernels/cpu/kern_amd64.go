//go:build amd64

package cpu

import "golang.org/x/sys/cpu"

// kern6x16AVX2 is the AVX2/FMA micro-kernel (see microKernel) for a 6 x 16
// tile; kc >= 1.
//
//go:noescape
func kern6x16AVX2(kc int, a, b, c *float32, ldc int, add bool)

// kern8x32AVX512 is the AVX-512 micro-kernel for an 8 x 32 tile; kc >= 1.
//
//go:noescape
func kern8x32AVX512(kc int, a, b, c *float32, ldc int, add bool)

var avx2Kernel = microKernel{name: "avx2", mr: 6, nr: 16, fn: func(kc int, a, b, c []float32, ldc int, add bool) {
	_, _, _ = a[kc*6-1], b[kc*16-1], c[5*ldc+15] // bounds, once per tile
	kern6x16AVX2(kc, &a[0], &b[0], &c[0], ldc, add)
}}

var avx512Kernel = microKernel{name: "avx512", mr: 8, nr: 32, fn: func(kc int, a, b, c []float32, ldc int, add bool) {
	_, _, _ = a[kc*8-1], b[kc*32-1], c[7*ldc+31]
	kern8x32AVX512(kc, &a[0], &b[0], &c[0], ldc, add)
}}

// microKernels lists the micro-kernels this machine can run, best first.
func microKernels() []microKernel {
	var ks []microKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, genericKernel)
}

// bestKernel picks the fastest micro-kernel the CPU supports.
func bestKernel() microKernel { return microKernels()[0] }
