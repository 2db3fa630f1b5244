//go:build amd64

package cpu

import (
	"golang.org/x/sys/cpu"

	"sdzero/kernels"
)

// decodeDot4x4AVX512 sets out[4*i+j] = dot(a[i][:k], b[j][:k]) for i, j
// < 4 (see decode_amd64.s for the summation order); k >= 0.
//
//go:noescape
func decodeDot4x4AVX512(k int, a *[4]*float32, b *[4]*float32, out *[16]float32)

// decodeDot4x4BF16 is decodeDot4x4AVX512 for bf16 rows (VDPBF16PS, float32
// accumulation); k >= 0.
//
//go:noescape
func decodeDot4x4BF16(k int, a *[4]*uint16, b *[4]*uint16, out *[16]float32)

// decodeTileBF16 returns the bf16 4x4 tile where the CPU has AVX512_BF16,
// else nil (MatMul then leaves bf16 decode products to the bf16 GEMM).
func (be *Backend) decodeTileBF16() func(k int, a, b *[4]*uint16, out *[16]float32) {
	if be.Supports(kernels.BF16) && cpu.X86.HasAVX512BF16 {
		return decodeDot4x4BF16
	}
	return nil
}

// streamSumAVX512 returns the sum of x[:n] (n a multiple of 64).
//
//go:noescape
func streamSumAVX512(x *float32, n int) float32

// streamSum sums x with the widest loads the CPU has (the read-bandwidth
// probe; the order of the sum does not matter there).
func streamSum(x []float32) float32 {
	n := len(x) &^ 63
	var s float32
	if n > 0 && cpu.X86.HasAVX512F {
		s = streamSumAVX512(&x[0], n)
	} else {
		n = 0
	}
	for _, v := range x[n:] {
		s += v
	}
	return s
}

// decodeTile returns the 4x4 dot-product tile that goes with the
// backend's micro-kernel: the AVX-512 one with the AVX-512 GEMM kernel
// (chosen only where the CPU has AVX-512), else nil (the portable tile), so
// tests that pin a micro-kernel cover the matching decode path too.
func (be *Backend) decodeTile() func(k int, a, b *[4]*float32, out *[16]float32) {
	if be.kern.name == avx512Kernel.name {
		return decodeDot4x4AVX512
	}
	return nil
}
