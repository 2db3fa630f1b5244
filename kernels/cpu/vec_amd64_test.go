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

// TestRopeRotate checks the AVX-512 rotation against ropeRotateGo bit for
// bit, both directions, over head sizes with and without a scalar tail
// and several heads (the tail of every head must be rotated, and only
// once).
func TestRopeRotate(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, half := range []int{8, 16, 24, 40, 64, 128} {
		for _, heads := range []int{1, 3} {
			for _, inverse := range []bool{false, true} {
				x, cs := randSlice(rng, heads*2*half), randSlice(rng, 2*half)
				want := append([]float32(nil), x...)
				ropeRotateGo(want, cs, heads, half, 0, inverse)
				ropeRotate(x, cs, heads, half, inverse)
				for i := range x {
					if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
						t.Fatalf("half %d heads %d inverse %v: [%d] = %v, want %v", half, heads, inverse, i, x[i], want[i])
					}
				}
			}
		}
	}
}
