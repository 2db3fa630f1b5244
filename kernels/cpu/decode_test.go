package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// TestDecodeRowInvariance checks what continuous batching relies on: a
// row's decode product is bit for bit the same whatever the other rows,
// their number and the worker count, for F32 and (where the CPU has
// AVX512_BF16) BF16 operands; and BF16 results against a float64
// reference of the same bf16 values.
func TestDecodeRowInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dt := range []kernels.DType{kernels.F32, kernels.BF16} {
		for _, s := range []struct{ n, k int }{{7, 16}, {33, 31}, {130, 100}, {64, 257}} {
			t.Run(fmt.Sprint(dt, "/n=", s.n, ",k=", s.k), func(t *testing.T) {
				const m = 13
				xs, ws := make([]float32, m*s.k), make([]float32, s.n*s.k)
				for i := range xs {
					xs[i] = float32(rng.NormFloat64())
				}
				for i := range ws {
					ws[i] = float32(rng.NormFloat64())
				}
				var ref []float32
				for _, threads := range []int{1, 2, 3} {
					be := NewBF16(threads)
					if dt == kernels.BF16 && be.decodeTileBF16() == nil {
						t.Skip("no AVX512_BF16: bf16 decode products use the bf16 GEMM")
					}
					up := func(v []float32) kernels.Tensor {
						d, err := be.Alloc(dt, len(v))
						if err != nil {
							t.Fatal(err)
						}
						if dt == kernels.BF16 {
							f, _ := be.Alloc(kernels.F32, len(v))
							be.Upload(f, v)
							be.Convert(d, f)
						} else {
							be.Upload(d, v)
						}
						return d
					}
					x, w := up(xs), up(ws)
					c, _ := be.Alloc(kernels.F32, m*s.n)
					be.MatMul(c, x, w, m, s.n, s.k, false, true, 1, 0)
					all := make([]float32, m*s.n)
					be.Download(all, c)
					// Each row alone, from a view.
					for r := range m {
						one, _ := be.Alloc(kernels.F32, s.n)
						be.MatMul(one, x.View(r*s.k, s.k), w, 1, s.n, s.k, false, true, 1, 0)
						got := make([]float32, s.n)
						be.Download(got, one)
						for j, v := range got {
							if math.Float32bits(v) != math.Float32bits(all[r*s.n+j]) {
								t.Fatalf("threads %d row %d col %d: alone %v, in the batch %v", threads, r, j, v, all[r*s.n+j])
							}
						}
					}
					if ref == nil {
						ref = all
					}
					for i := range all {
						if math.Float32bits(all[i]) != math.Float32bits(ref[i]) {
							t.Fatalf("threads %d: element %d = %v, with 1 thread %v", threads, i, all[i], ref[i])
						}
					}
					if err := be.Sync(); err != nil {
						t.Fatal(err)
					}
				}
				if dt != kernels.BF16 {
					return
				}
				round := func(v float32) float64 { return float64(kernels.BF16ToF32(kernels.F32ToBF16(v))) }
				for i := range m {
					for j := range s.n {
						var want, mag float64
						for p := range s.k {
							pr := round(xs[i*s.k+p]) * round(ws[j*s.k+p])
							want += pr
							mag += math.Abs(pr)
						}
						if d := math.Abs(float64(ref[i*s.n+j]) - want); d > 1e-5*mag+1e-6 {
							t.Fatalf("bf16 C[%d,%d] = %v, want %v (|products| %v)", i, j, ref[i*s.n+j], want, mag)
						}
					}
				}
			})
		}
	}
}
