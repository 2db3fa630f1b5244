//go:build !amd64

package cpu

import "sdzero/kernels"

// decodeTile returns nil: no assembly tile off amd64 (decodeGemm uses the
// portable dot product).
func (be *Backend) decodeTile() func(k int, a, b *[4]*float32, out *[16]float32) { return nil }

// streamSum sums x (the read-bandwidth probe), in eight independent sums
// so that the loop is bound by loads.
func streamSum(x []float32) float32 {
	var a [8]float32
	n := len(x) &^ 7
	for i := 0; i < n; i += 8 {
		for j := range a {
			a[j] += x[i+j]
		}
	}
	s := a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7]
	for _, v := range x[n:] {
		s += v
	}
	return s
}

// dotBF16 returns sum q[i]*k[i] over len(q) elements, k bf16.
func dotBF16(q []float32, k []uint16) float32 {
	var s float32
	for i, v := range q {
		s += v * kernels.BF16ToF32(k[i])
	}
	return s
}

// axpyBF16 sets y[i] += a*v[i] over len(y) elements, v bf16.
func axpyBF16(y []float32, a float32, v []uint16) {
	for i := range y {
		y[i] += a * kernels.BF16ToF32(v[i])
	}
}

// decodeGemmBF16 reports false: the AMX decode kernel is amd64 only (and
// no bf16 unit is enabled elsewhere).
func (be *Backend) decodeGemmBF16(c []float32, x, w []uint16, m, n, k int, add bool) bool {
	return false
}

// attnScores is attnScoresGo (no assembly off amd64).
func attnScores(s, q []float32, k []uint16, stride int, scale float32) {
	attnScoresGo(s, q, k, stride, scale)
}

// attnMix is attnMixGo (no assembly off amd64).
func attnMix(y, p []float32, v []uint16, stride int) { attnMixGo(y, p, v, stride) }
