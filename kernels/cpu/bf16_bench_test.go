package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// BenchmarkMatMulBF16 reports GFLOP/s of BF16 products (F32 results) on
// each bf16 kernel this machine has, for BenchmarkMatMul's shapes.
func BenchmarkMatMulBF16(b *testing.B) {
	cases := []struct {
		name    string
		m, n, k int
		ta, tb  bool
	}{
		{"256x256x256", 256, 256, 256, false, false},
		{"1024x1024x1024", 1024, 1024, 1024, false, false},
		{"1024x1024x1024_NT", 1024, 1024, 1024, false, true},
		{"lmhead_fwd_256x50304x256_NT", 256, 50304, 256, false, true},
		{"lmhead_dx_256x256x50304_NN", 256, 256, 50304, false, false},
		{"lmhead_dW_50304x256x256_TN", 50304, 256, 256, true, false},
		{"mlp_256x1024x256_NT", 256, 1024, 256, false, true},
	}
	for _, kind := range bf16Kinds() {
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/%s", kind, c.name), func(b *testing.B) {
				be := New(0)
				be.enableBF16(kind)
				rng := rand.New(rand.NewPCG(1, 1))
				bf := func(n int) kernels.Tensor {
					t, err := be.Alloc(kernels.BF16, n)
					if err != nil {
						b.Fatal(err)
					}
					be.Upload(t, randSlice(rng, n))
					return t
				}
				x, y, z := bf(c.m*c.k), bf(c.k*c.n), benchTensor(b, be, c.m*c.n, rng)
				flops := 2 * float64(c.m) * float64(c.n) * float64(c.k)
				be.MatMul(z, x, y, c.m, c.n, c.k, c.ta, c.tb, 1, 0) // warm the scratch buffers
				c0 := cpuSeconds()
				for b.Loop() {
					be.MatMul(z, x, y, c.m, c.n, c.k, c.ta, c.tb, 1, 0)
				}
				report(b, flops, c0, "GFLOP/s")
			})
		}
	}
}
