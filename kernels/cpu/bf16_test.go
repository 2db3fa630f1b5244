package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/kernelstest"
)

// bf16Kinds lists the bf16 kernels this machine can run, best first.
func bf16Kinds() []bf16Kind {
	switch hostBF16() {
	case bf16AMX:
		// AMX CPUs (Sapphire Rapids on) also have AVX512_BF16.
		return []bf16Kind{bf16AMX, bf16AVX512}
	case bf16AVX512:
		return []bf16Kind{bf16AVX512}
	}
	return nil
}

// TestBF16Detect checks the CPUID/XCR0 detection against the flags Linux
// reports in /proc/cpuinfo (which also reflect what the kernel enabled).
func TestBF16Detect(t *testing.T) {
	t.Logf("bf16 unit: %q", BF16Unit())
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		if runtime.GOARCH != "amd64" && BF16Unit() != "" {
			t.Fatalf("bf16 unit %q on %s", BF16Unit(), runtime.GOARCH)
		}
		return
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	var flags map[string]bool
	for _, line := range strings.Split(string(info), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			flags = map[string]bool{}
			for _, f := range strings.Fields(v) {
				flags[f] = true
			}
			break
		}
	}
	want := ""
	switch {
	case flags["amx_bf16"] && flags["amx_tile"]:
		want = "amx"
	case flags["avx512_bf16"]:
		want = "avx512bf16"
	}
	if got := BF16Unit(); got != want {
		t.Fatalf("BF16Unit() = %q, /proc/cpuinfo flags say %q", got, want)
	}
	be := NewBF16(1)
	if be.Supports(kernels.BF16) != (want != "") || be.BF16Kernel() != want {
		t.Fatalf("NewBF16: Supports(BF16) = %v, kernel %q", be.Supports(kernels.BF16), be.BF16Kernel())
	}
	if New(1).Supports(kernels.BF16) {
		t.Fatal("New supports BF16: precision auto would change the F32 default")
	}
}

func randBF16(rng *rand.Rand, n int) []uint16 {
	h := make([]uint16, n)
	for i := range h {
		h[i] = kernels.F32ToBF16(float32(rng.NormFloat64()))
	}
	return h
}

// TestBF16TileKernels checks each assembly kernel against tilesGo on the
// same panels, for several grid shapes, with and without add, A packed
// and (AMX) read in place with a row stride.
func TestBF16TileKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, kind := range bf16Kinds() {
		tiles := tileKernel(kind)
		for _, c := range []struct {
			ks, mt, nt, ldc int
			inPlace         bool
		}{{1, 1, 1, 32, false}, {3, 2, 1, 40, false}, {16, 3, 2, 64, false}, {5, 1, 4, 130, false}, {3, 2, 3, 96, true}, {1, 1, 1, 32, true}} {
			if c.inPlace && kind != bf16AMX {
				continue
			}
			ps := c.ks*1024 + 64 // panels need not be adjacent
			al := packedA(ps)
			if c.inPlace {
				k := 32*c.ks + 16 // a row stride past the k used
				al = aLayout{stride: k, kstep: 32, panel: 32 * k}
			}
			a, b := randBF16(rng, (c.mt-1)*al.panel+(c.ks-1)*al.kstep+31*al.stride+32), randBF16(rng, c.nt*ps)
			for _, add := range []bool{false, true} {
				n := (32*c.mt-1)*c.ldc + 32*c.nt + 5
				got, want := make([]float32, n), make([]float32, n)
				for i := range got {
					got[i] = float32(rng.NormFloat64())
					want[i] = got[i]
				}
				tiles(a, al, b, ps, got, c.ldc, c.ks, c.mt, c.nt, add)
				tilesGo(a, al, b, ps, want, c.ldc, c.ks, c.mt, c.nt, add)
				for i := range got {
					// Only the summation order differs; the bf16 products are
					// exact in float32.
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Sqrt(float64(32*c.ks))+1e-5*math.Abs(float64(want[i])) {
						t.Fatalf("%v %+v add=%v: element %d = %v, want %v", kind, c, add, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestMatMulBF16Paths covers the product's paths on every bf16 kernel:
// operands read in place (k a multiple of 32) or packed, C computed
// directly or transposed, y packed per unit, split k, several k blocks,
// edge panels, beta 0 and 1, and
// a BF16 operand beside an F32 one (widened, F32 product); against the
// float64 product of the same bf16 values.
func TestMatMulBF16Paths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kind := range bf16Kinds() {
		be := New(2)
		be.enableBF16(kind)
		for _, c := range []struct {
			m, n, k int
			big     int // 1: NN and NT, 2: NN and TN; beta 1 and BF16 only
		}{{64, 96, 64, 0}, {256, 70, 64, 0}, {8, 300, 96, 0}, {300, 8, 96, 0}, {37, 45, 1056, 0}, {96, 33, 32, 0},
			{40, 600, 1800, 1}, {48, 16400, 64, 1}, {256, 1100, 1056, 1}, // y packed per unit (the last: 8 row panels, 3 k blocks)
			{40, 70, 4200, 0}, {64, 96, 8192, 1}, // split k: x packed, x in place
			{70, 1100, 4352, 1}, {36, 1024, 5120, 1}, // split k, wide C: x in place with a packed edge panel
			{1100, 40, 1000, 2}, {16400, 544, 64, 2}} { // x packed per unit (over 16 y panels in the second)
			for combo := range 4 {
				ta, tb := combo&1 != 0, combo&2 != 0
				if c.big == 1 && ta || c.big == 2 && tb {
					continue
				}
				av, bv := randBF16(rng, c.m*c.k), randBF16(rng, c.k*c.n)
				af, bf := make([]float32, len(av)), make([]float32, len(bv))
				for i, v := range av {
					af[i] = kernels.BF16ToF32(v)
				}
				for i, v := range bv {
					bf[i] = kernels.BF16ToF32(v)
				}
				for _, beta := range []float32{0, 1} {
					if c.big > 0 && beta == 0 {
						continue
					}
					c0 := make([]float32, c.m*c.n)
					for i := range c0 {
						c0[i] = float32(rng.NormFloat64())
					}
					want := make([]float64, c.m*c.n)
					for i := range c.m {
						for j := range c.n {
							var s float64
							for p := range c.k {
								x, y := af[i*c.k+p], bf[p*c.n+j]
								if ta {
									x = af[p*c.m+i]
								}
								if tb {
									y = bf[j*c.k+p]
								}
								s += float64(x) * float64(y)
							}
							want[i*c.n+j] = s + float64(beta)*float64(c0[i*c.n+j])
						}
					}
					for _, mixed := range []bool{false, true} {
						if c.big > 0 && mixed {
							continue
						}
						at, _ := be.Alloc(kernels.BF16, len(av))
						be.Upload(at, af)
						bt, _ := be.Alloc(kernels.BF16, len(bv))
						if mixed {
							bt, _ = be.Alloc(kernels.F32, len(bv))
						}
						be.Upload(bt, bf)
						ct, _ := be.Alloc(kernels.F32, len(c0))
						be.Upload(ct, c0)
						be.MatMul(ct, at, bt, c.m, c.n, c.k, ta, tb, 1, beta)
						got := make([]float32, len(c0))
						be.Download(got, ct)
						for i, w := range want {
							if d := math.Abs(float64(got[i]) - w); !(d <= 1e-5*math.Sqrt(float64(c.k))*(1+math.Abs(w))) {
								t.Fatalf("%v m,n,k=%d,%d,%d ta=%v tb=%v beta=%v mixed=%v: C[%d] = %v, want %v", kind, c.m, c.n, c.k, ta, tb, beta, mixed, i, got[i], w)
							}
						}
					}
				}
			}
		}
	}
}

// TestMatMulBF16Deterministic: every element of C comes from one unit in
// a fixed order, so bf16 products are bit-identical across runs and
// thread counts (resumable training relies on run-to-run identity).
func TestMatMulBF16Deterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kind := range bf16Kinds() {
		for _, c := range []struct {
			m, n, k int
			ta, tb  bool
		}{{130, 300, 96, false, true}, {300, 64, 1100, false, false}, {8, 500, 64, false, true}, {96, 70, 64, true, false}, {40, 70, 4200, false, false},
			{70, 1100, 4352, false, false}, {256, 1100, 1056, false, false}, {16400, 544, 64, true, false}} {
			av, bv := randBF16(rng, c.m*c.k), randBF16(rng, c.k*c.n)
			var first []float32
			for _, threads := range []int{1, 3, 3} {
				be := New(threads)
				be.enableBF16(kind)
				got := make([]float32, c.m*c.n)
				be.gemmBF16(got, av, bv, c.m, c.n, c.k, c.ta, c.tb, 1, 0)
				if first == nil {
					first = got
					continue
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%v %+v threads=%d: C[%d] = %v, first run %v", kind, c, threads, i, got[i], first[i])
					}
				}
			}
		}
	}
}

// TestTranspose16 checks the AVX-512 16x16 transpose (store and add)
// against the portable one.
func TestTranspose16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	src := make([]float32, 16*21)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	for _, add := range []bool{false, true} {
		got, want := make([]float32, 16*19), make([]float32, 16*19)
		for i := range got {
			got[i] = float32(i)
			want[i] = got[i]
		}
		transpose16x16(src, 21, got, 19, add)
		transpose16Go(src, 21, want, 19, add)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("add=%v: element %d = %v, want %v", add, i, got[i], want[i])
			}
		}
	}
}

// TestBF16ConvertSlices checks the vector conversions bit for bit
// against kernels.F32ToBF16/BF16ToF32 on values that exercise rounding
// (ties both ways), subnormals, infinities and NaNs of both signs, at
// lengths around the 16-element vector.
func TestBF16ConvertSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	special := []uint32{0, 0x80000000, 1, 0x807fffff, 0x00008000, 0x00018000, 0x3f808000, 0x3f818000, 0x7f7fffff, 0xff7fffff,
		0x7f800000, 0xff800000, 0x7f800001, 0xffc00000, 0x7fffffff, 0x7f80ffff, 0x3f7fffff, 0x477fe000}
	for _, n := range []int{0, 5, 16, 17, 48, 1000} {
		s := make([]float32, n)
		for i := range s {
			b := rng.Uint32()
			if i < len(special) && n > 16 {
				b = special[i]
			}
			s[i] = math.Float32frombits(b)
		}
		d := make([]uint16, n)
		f32ToBF16Slice(d, s)
		for i, v := range s {
			if want := kernels.F32ToBF16(v); d[i] != want {
				t.Fatalf("n=%d: F32ToBF16(%#08x) = %#04x, want %#04x", n, math.Float32bits(v), d[i], want)
			}
		}
		w := make([]float32, n)
		bf16ToF32Slice(w, d)
		for i, h := range d {
			if math.Float32bits(w[i]) != math.Float32bits(kernels.BF16ToF32(h)) {
				t.Fatalf("n=%d: BF16ToF32(%#04x) = %#08x", n, h, math.Float32bits(w[i]))
			}
		}
	}
}

// TestInterleavePairs checks the AVX-512 pair interleave against the
// portable one.
func TestInterleavePairs(t *testing.T) {
	src := randBF16(rand.New(rand.NewPCG(13, 14)), 31*37+32)
	for _, l := range []struct{ drow, half int }{{32, 16}, {16, 256}, {40, 20}} {
		n := 15*l.drow + l.half + 16
		got, want := make([]uint32, n), make([]uint32, n)
		interleavePairs(src, 37, got, l.drow, l.half)
		interleavePairsGo(src, 37, want, l.drow, l.half)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%+v: element %d = %#x, want %#x", l, i, got[i], want[i])
			}
		}
	}
}

// TestBF16NeedsUnit: a backend from New refuses BF16 operands by name
// instead of computing with them.
func TestBF16NeedsUnit(t *testing.T) {
	be := New(1)
	a, _ := be.Alloc(kernels.BF16, 4)
	c, _ := be.Alloc(kernels.F32, 4)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "F32 only") {
			t.Fatalf("MatMul of BF16 on an F32-only backend: panic %v, want one saying F32 only", r)
		}
	}()
	be.MatMul(c, a, a, 2, 2, 2, false, false, 1, 0)
}

// TestConformanceBF16 runs the shared suite (its bf16 cases included) on
// every bf16 kernel this machine has.
func TestConformanceBF16(t *testing.T) {
	kinds := bf16Kinds()
	if len(kinds) == 0 {
		t.Skip("no AMX or AVX512_BF16 on this CPU: the backend stays F32 (TestBF16Detect checks that)")
	}
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			be := New(3)
			be.enableBF16(kind)
			kernelstest.Run(t, be, kernelstest.DefaultTolerances())
		})
	}
}

// TestPackRowsBF16 checks packRowsBF16 (the row-pair-order packing of a
// block of weight rows, AVX-512 where it applies) against packBBF16 panel
// by panel, over whole and partial panels and k steps and panel ranges
// not starting at 0, with the padding past kc in each panel left alone.
func TestPackRowsBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, c := range []struct{ n, kc, j0, j1 int }{
		{1024, 256, 0, 32}, {1024, 64, 5, 21}, {96, 32, 0, 3}, {100, 64, 0, 4}, {64, 40, 0, 2}, {256, 512, 2, 8},
	} {
		b := randBF16(rng, c.kc*c.n)
		ps := (c.kc+31)/32*1024 + 512 // padding the packers must not touch
		got, want := make([]uint16, (c.j1-c.j0)*ps), make([]uint16, (c.j1-c.j0)*ps)
		for i := range got {
			got[i], want[i] = 0xdead, 0xdead
		}
		packRowsBF16(got, b, c.n, c.kc, c.j0, c.j1, ps)
		for j := c.j0; j < c.j1; j++ {
			packBBF16(want[(j-c.j0)*ps:(j-c.j0)*ps+(c.kc+31)/32*1024], b, c.n, c.kc, false, 32*j)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%+v: element %d (panel %d, offset %d) = %#x, want %#x", c, i, c.j0+i/ps, i%ps, got[i], want[i])
			}
		}
	}
}
