package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// swigluOld is SwiGLU and SwiGLUBackward as they were before the AVX-512
// routines: the same chunks and blocks, expSubScaled per block and the
// scalar loops. The new kernels must round bit for bit as these do.
func swigluOld(threads int, o, dg, du, d, g, u []float32) {
	n := len(g)
	k := min((n+(1<<13)-1)/(1<<13), threads)
	e := make([]float32, 4096)
	for w := range max(k, 1) {
		lo, hi := w*n/max(k, 1), (w+1)*n/max(k, 1)
		for b := lo; b < hi; b += 4096 {
			bh := min(hi, b+4096)
			expSubScaled(e[:bh-b], g[b:bh], 0, -1)
			for i := b; i < bh; i++ {
				x := g[i]
				sig := 1 / (1 + e[i-b])
				o[i] = float32(x*sig) * u[i]
				dy := d[i]
				du[i] = dy * (x * sig)
				dg[i] = dy * u[i] * (sig * (1 + x*(1-sig)))
			}
		}
	}
}

// TestSwiGLUBitIdentical: SwiGLU (F32 and BF16 out) and SwiGLUBackward
// match swigluOld bit for bit at sizes around the vector width, the block
// and the chunk grain, on 1 to 3 threads, with large, tiny and special
// gate values (the exponential's clamps, ±0, ±Inf).
func TestSwiGLUBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, threads := range []int{1, 2, 3} {
		be := NewBF16(threads)
		for _, n := range []int{1, 15, 16, 17, 4095, 4097, 8192 + 13, 3*8192 + 7, 100003} {
			t.Run(fmt.Sprintf("threads=%d/n=%d", threads, n), func(t *testing.T) {
				g, u, d := make([]float32, n), make([]float32, n), make([]float32, n)
				for i := range g {
					g[i] = float32(rng.NormFloat64() * 4)
					u[i] = float32(rng.NormFloat64())
					d[i] = float32(rng.NormFloat64())
				}
				special := []float32{0, float32(math.Copysign(0, -1)), 90, -90, 200, -200, 1e-30, float32(math.Inf(1)), float32(math.Inf(-1)), 87.5, -87.5}
				for i, v := range special {
					if i*7 < n {
						g[i*7] = v
					}
				}
				wo, wdg, wdu := make([]float32, n), make([]float32, n), make([]float32, n)
				swigluOld(threads, wo, wdg, wdu, d, g, u)
				tg, tu, td := be.tensor(t, g), be.tensor(t, u), be.tensor(t, d)
				to, tdg, tdu := be.tensor(t, make([]float32, n)), be.tensor(t, make([]float32, n)), be.tensor(t, make([]float32, n))
				low, _ := be.Alloc(kernels.BF16, n)
				defer be.Free(low)
				be.SwiGLU(to, tg, tu, n)
				be.SwiGLU(low, tg, tu, n)
				be.SwiGLUBackward(tdg, tdu, td, tg, tu, n)
				gotLow := make([]uint16, n)
				copy(gotLow, buf("test", low).h[low.Off:low.Off+n])
				for _, c := range []struct {
					name      string
					got, want []float32
				}{{"SwiGLU", be.host(to), wo}, {"dgate", be.host(tdg), wdg}, {"dup", be.host(tdu), wdu}} {
					for i := range c.want {
						if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) && !(c.got[i] != c.got[i] && c.want[i] != c.want[i]) {
							t.Fatalf("%s[%d] (gate %g) = %g, want %g", c.name, i, g[i], c.got[i], c.want[i])
						}
					}
				}
				for i := range wo {
					if want := kernels.F32ToBF16(wo[i]); gotLow[i] != want {
						t.Fatalf("SwiGLU BF16[%d] = %#04x, want %#04x", i, gotLow[i], want)
					}
				}
			})
		}
	}
}

// tensor uploads v into a fresh F32 tensor freed at the end of the test.
func (be *Backend) tensor(t *testing.T, v []float32) kernels.Tensor {
	t.Helper()
	x, err := be.Alloc(kernels.F32, len(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Free(x) })
	be.Upload(x, v)
	return x
}

// host downloads an F32 tensor.
func (be *Backend) host(x kernels.Tensor) []float32 {
	v := make([]float32, x.N)
	be.Download(v, x)
	return v
}
