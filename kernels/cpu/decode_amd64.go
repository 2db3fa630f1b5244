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

// dotF32BF16AVX512 returns sum q[i]*k[i] over n (a multiple of 16)
// elements, k bf16.
//
//go:noescape
func dotF32BF16AVX512(q *float32, k *uint16, n int) float32

// axpyBF16AVX512 sets y[i] += a*v[i] over n (a multiple of 16) elements,
// v bf16.
//
//go:noescape
func axpyBF16AVX512(y *float32, a float32, v *uint16, n int)

// hasBF16Vec reports whether dotBF16 and axpyBF16 have their vector form.
var hasBF16Vec = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

// dotBF16 returns sum q[i]*k[i] over len(q) elements, k bf16.
func dotBF16(q []float32, k []uint16) float32 {
	n := len(q) &^ 15
	var s float32
	if hasBF16Vec && n > 0 {
		_ = k[n-1]
		s = dotF32BF16AVX512(&q[0], &k[0], n)
	} else {
		n = 0
	}
	for i := n; i < len(q); i++ {
		s += q[i] * kernels.BF16ToF32(k[i])
	}
	return s
}

// axpyBF16 sets y[i] += a*v[i] over len(y) elements, v bf16.
func axpyBF16(y []float32, a float32, v []uint16) {
	n := len(y) &^ 15
	if hasBF16Vec && n > 0 {
		_ = v[n-1]
		axpyBF16AVX512(&y[0], a, &v[0], n)
	} else {
		n = 0
	}
	for i := n; i < len(y); i++ {
		y[i] += a * kernels.BF16ToF32(v[i])
	}
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

// decodeDotBF16Rows sets out[16g+4i+j] = dot(xp[4g+i][0:k], w[j][0:k])
// for bf16 rows, g < groups, accumulated in float32 by VDPBF16PS (see
// decode_amd64.s): the AVX512_BF16 decode kernel for one tile of four
// weight rows.
//
//go:noescape
func decodeDotBF16Rows(k int, xp *[32]*uint16, groups int, w *[4]*uint16, out *float32)

// attnDotsBF16 sets out[j] = scale*dot(q[:d], k_j[:d]) for j < n, k_j at
// k + j*kstride bytes (see decode_amd64.s); n >= 1, d a multiple of 16.
//
//go:noescape
func attnDotsBF16(q *float32, k *uint16, kstride int, n int, d int, scale float32, out *float32)

// attnAxpysBF16 adds p[j]*v_j[:d] to y for j < n, v_j at v + j*vstride
// bytes (see decode_amd64.s); n >= 1, d a multiple of 16.
//
//go:noescape
func attnAxpysBF16(y *float32, p *float32, v *uint16, vstride int, n int, d int)

// attnScores sets s[j] = scale*dotBF16(q, k[j*stride:j*stride+len(q)])
// for j < len(s), bit for bit, in one assembly call where it can.
func attnScores(s, q []float32, k []uint16, stride int, scale float32) {
	d := len(q)
	if hasBF16Vec && d > 0 && d%16 == 0 && len(s) > 0 {
		_ = k[(len(s)-1)*stride+d-1]
		attnDotsBF16(&q[0], &k[0], 2*stride, len(s), d, scale, &s[0])
		return
	}
	attnScoresGo(s, q, k, stride, scale)
}

// attnMix adds p[j]*v[j*stride:j*stride+len(y)] to y for j < len(p) in
// order, bit for bit as that many axpyBF16 calls, in one assembly call
// where it can.
func attnMix(y, p []float32, v []uint16, stride int) {
	d := len(y)
	if hasBF16Vec && d > 0 && d%16 == 0 && len(p) > 0 {
		_ = v[(len(p)-1)*stride+d-1]
		attnAxpysBF16(&y[0], &p[0], &v[0], 2*stride, len(p), d)
		return
	}
	attnMixGo(y, p, v, stride)
}
