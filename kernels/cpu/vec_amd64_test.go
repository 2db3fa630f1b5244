//go:build amd64

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpSubAVX512 checks the 16-lane exponential against expSubAVX2 bit
// for bit (values and float64 sum), over lengths that are and are not
// multiples of 16, with and without dst, scaled, and with inputs that
// clamp, underflow, overflow or are NaN.
func TestExpSubAVX512(t *testing.T) {
	if !hasAVX512 || !hasFMA {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{8, 16, 24, 32, 40, 136, 50304} {
		for _, scale := range []float32{1, -1, 0.125} {
			x := randSlice(rng, n)
			for i := range x {
				x[i] *= 40
			}
			x[0] = -1000
			x[n-1] = 120
			if n > 9 {
				x[3] = float32(math.NaN())
				x[9] = float32(math.Inf(-1))
			}
			m := float32(3)
			want, got := make([]float32, n), make([]float32, n)
			ws := expSubAVX2(&want[0], &x[0], n, m, scale)
			gs := expSubAVX512(&got[0], &x[0], n, m, scale, nil)
			if math.Float64bits(ws) != math.Float64bits(gs) && !(math.IsNaN(ws) && math.IsNaN(gs)) {
				t.Errorf("n %d scale %v: sum %v, expSubAVX2 %v", n, scale, gs, ws)
			}
			for i := range want {
				if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
					t.Fatalf("n %d scale %v: [%d] exp(%v) = %v, expSubAVX2 %v", n, scale, i, x[i], got[i], want[i])
				}
			}
			x[3] = 0 // sums without NaN compare bit for bit
			ws = expSubAVX2(nil, &x[0], n, m, scale)
			if gs := expSubAVX512(nil, &x[0], n, m, scale, &want[0]); math.Float64bits(ws) != math.Float64bits(gs) {
				t.Errorf("n %d scale %v, no dst: sum %v, expSubAVX2 %v", n, scale, gs, ws)
			}
		}
	}
}
