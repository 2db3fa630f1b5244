//go:build amd64

package cpu

import "golang.org/x/sys/cpu"

// kern6x16AVX2 is the AVX2/FMA micro-kernel (see microKernel) for a 6 x 16
// tile; kc >= 1.
//
//go:noescape
func kern6x16AVX2(kc int, a *float32, as int, b *float32, bs int, c *float32, ldc int, add bool)

// kern8x32AVX512 is the AVX-512 micro-kernel for an 8 x 32 tile; kc >= 1.
//
//go:noescape
func kern8x32AVX512(kc int, a *float32, as int, b *float32, bs int, c *float32, ldc int, add bool)

var avx2Kernel = microKernel{name: "avx2", mr: 6, nr: 16, fn: func(kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, add bool) {
	// Bounds, once per tile.
	_, _, _ = a[(kc-1)*as+5], b[(kc-1)*bs+15], c[5*ldc+15]
	kern6x16AVX2(kc, &a[0], as, &b[0], bs, &c[0], ldc, add)
}}

var avx512Kernel = microKernel{name: "avx512", mr: 8, nr: 32, fn: func(kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, add bool) {
	_, _, _ = a[(kc-1)*as+7], b[(kc-1)*bs+31], c[7*ldc+31]
	kern8x32AVX512(kc, &a[0], as, &b[0], bs, &c[0], ldc, add)
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

// transpose8AVX2 transposes blocks 8x8 blocks (see transpose8).
//
//go:noescape
func transpose8AVX2(src *float32, sstride int, dst *float32, dstride int, blocks int)

// transpose8 sets dst[p*dstride+i] = src[i*sstride+p] for i < 8 and
// p < 8*blocks: the interleaving that packing 8-row A panels and
// transposed B panels needs.
func transpose8(src []float32, sstride int, dst []float32, dstride int, blocks int) {
	if blocks <= 0 {
		return
	}
	_, _ = src[7*sstride+8*blocks-1], dst[(8*blocks-1)*dstride+7]
	if cpu.X86.HasAVX2 {
		transpose8AVX2(&src[0], sstride, &dst[0], dstride, blocks)
		return
	}
	transpose8Go(src, sstride, dst, dstride, blocks)
}

// bestKernel picks the fastest micro-kernel the CPU supports.
func bestKernel() microKernel { return microKernels()[0] }
