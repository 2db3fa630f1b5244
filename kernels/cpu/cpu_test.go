package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/kernelstest"
)

// The Backend must implement the whole interface.
var _ kernels.Backend = (*Backend)(nil)

func TestNewThreads(t *testing.T) {
	if New(0).Threads() < 1 || New(3).Threads() != 3 {
		t.Fatal("thread count not honoured")
	}
}

// TestConformance runs the shared suite with the best micro-kernel at one
// and several threads, and with every other kernel this machine supports
// (the pure-Go one included).
func TestConformance(t *testing.T) {
	ks := microKernels()
	for _, threads := range []int{1, 3} {
		t.Run(fmt.Sprintf("%s/threads=%d", ks[0].name, threads), func(t *testing.T) {
			kernelstest.Run(t, newWithKernel(threads, ks[0]), kernelstest.DefaultTolerances())
		})
	}
	for _, k := range ks[1:] {
		t.Run(k.name+"/threads=2", func(t *testing.T) {
			kernelstest.Run(t, newWithKernel(2, k), kernelstest.DefaultTolerances())
		})
	}
}

// TestGemmBlocks crosses every cache-block boundary (kc, mc, nc) for every
// micro-kernel and transpose combination.
func TestGemmBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{5, ncBlock + 37, kcBlock + 5}, {2*mcBlock + 3, 40, kcBlock + 1}, {1, 2 * ncBlock, 3}, {3*mcBlock + 7, 33, 2*kcBlock + 1},
		{7, 33, 8*kcBlock + 13}, {40, 70, 9 * kcBlock}} // the last two split k
	for ki, k := range microKernels() {
		be := newWithKernel(2+ki%2, k)
		for _, s := range shapes {
			m, n, kk := s[0], s[1], s[2]
			a, b := randSlice(rng, m*kk), randSlice(rng, kk*n)
			for combo := range 4 {
				ta, tb := combo&1 != 0, combo&2 != 0
				prod := make([]float64, m*n)
				for i := range m {
					for j := range n {
						var acc float64
						for p := range kk {
							av, bv := a[i*kk+p], b[p*n+j]
							if ta {
								av = a[p*m+i]
							}
							if tb {
								bv = b[j*kk+p]
							}
							acc += float64(av) * float64(bv)
						}
						prod[i*n+j] = acc
					}
				}
				for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {1, -0.5}} {
					c := randSlice(rng, m*n)
					want := make([]float64, m*n)
					for i := range want {
						want[i] = float64(ab[0])*prod[i] + float64(ab[1])*float64(c[i])
					}
					be.gemm(c, a, b, m, n, kk, ta, tb, ab[0], ab[1])
					for i := range c {
						if d := math.Abs(float64(c[i]) - want[i]); d > 1e-4*(1+math.Abs(want[i])) {
							t.Fatalf("%s %v ta=%v tb=%v alpha,beta=%v: C[%d] = %v want %v", k.name, s, ta, tb, ab, i, c[i], want[i])
						}
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func TestTranspose8(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const sstride, dstride, blocks = 37, 11, 3
	src := randSlice(rng, 7*sstride+8*blocks)
	got := make([]float32, (8*blocks-1)*dstride+8)
	want := make([]float32, len(got))
	transpose8(src, sstride, got, dstride, blocks)
	transpose8Go(src, sstride, want, dstride, blocks)
	for i := range 8 {
		for p := range 8 * blocks {
			if want[p*dstride+i] != src[i*sstride+p] {
				t.Fatalf("transpose8Go: [%d][%d] wrong", p, i)
			}
		}
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("transpose8: element %d = %v want %v", i, got[i], want[i])
		}
	}
}
