package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// TestMatMulDeterministic checks that repeated products are bit-identical
// for a fixed thread count, in particular the split-k path that workers
// share dynamically: resumable training needs run-to-run reproducibility.
func TestMatMulDeterministic(t *testing.T) {
	cases := []struct {
		name     string
		m, n, k  int
		ta, tb   bool
		beta     float32
		nthreads int
	}{
		{"weight-grad split-k", 288, 96, 3200, true, false, 1, 2},
		{"weight-grad split-k 3 threads", 96, 64, 4100, true, false, 0, 3},
		{"NN long k", 32, 48, 5000, false, false, 0.5, 2},
		{"NT blocked", 130, 70, 300, false, true, 0, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := New(tc.nthreads)
			rng := rand.New(rand.NewPCG(1, 2))
			a := make([]float32, tc.m*tc.k)
			b := make([]float32, tc.k*tc.n)
			c0 := make([]float32, tc.m*tc.n)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			for i := range c0 {
				c0[i] = float32(rng.NormFloat64())
			}
			ta, _ := be.Alloc(kernels.F32, len(a))
			tb, _ := be.Alloc(kernels.F32, len(b))
			tc2, _ := be.Alloc(kernels.F32, len(c0))
			be.Upload(ta, a)
			be.Upload(tb, b)
			var first []float32
			for rep := range 8 {
				be.Upload(tc2, c0)
				be.MatMul(tc2, ta, tb, tc.m, tc.n, tc.k, tc.ta, tc.tb, 1, tc.beta)
				got := make([]float32, len(c0))
				be.Download(got, tc2)
				if rep == 0 {
					first = got
					continue
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
						t.Fatalf("repeat %d differs at %d: %v vs %v", rep, i, got[i], first[i])
					}
				}
			}
		})
	}
}
