//go:build amd64

package cpu

// decodeDot4x4AVX512 sets out[4*i+j] = dot(a[i][:k], b[j][:k]) for i, j
// < 4 (see decode_amd64.s for the summation order); k >= 0.
//
//go:noescape
func decodeDot4x4AVX512(k int, a *[4]*float32, b *[4]*float32, out *[16]float32)

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
