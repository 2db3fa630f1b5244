package cpu

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkMicroKernel measures one micro-kernel on L1-resident panels
// (kc = kcBlock), single-threaded: the ceiling for MatMul per core.
func BenchmarkMicroKernel(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, k := range microKernels() {
		b.Run(k.name, func(b *testing.B) {
			a, bb := randSlice(rng, k.mr*kcBlock), randSlice(rng, k.nr*kcBlock)
			c := make([]float32, k.mr*k.nr)
			c0 := cpuSeconds()
			for b.Loop() {
				k.fn(kcBlock, a, k.mr, bb, k.nr, c, k.nr, true)
			}
			report(b, 2*float64(k.mr*k.nr*kcBlock), c0, "GFLOP/s")
		})
	}
}
