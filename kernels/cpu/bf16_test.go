package cpu

import (
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
// same packed panels, for several grid shapes, with and without add.
func TestBF16TileKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, kind := range bf16Kinds() {
		tiles := tileKernel(kind)
		for _, c := range []struct{ ks, mt, nt, ldc int }{{1, 1, 1, 32}, {3, 2, 1, 40}, {16, 3, 2, 64}, {5, 1, 4, 130}} {
			ps := c.ks*1024 + 64 // panels need not be adjacent
			a, b := randBF16(rng, c.mt*ps), randBF16(rng, c.nt*ps)
			for _, add := range []bool{false, true} {
				n := (32*c.mt-1)*c.ldc + 32*c.nt + 5
				got, want := make([]float32, n), make([]float32, n)
				for i := range got {
					got[i] = float32(rng.NormFloat64())
					want[i] = got[i]
				}
				tiles(a, b, got, c.ldc, c.ks, ps, c.mt, c.nt, add)
				tilesGo(a, b, want, c.ldc, c.ks, ps, c.mt, c.nt, add)
				for i := range got {
					// Only the summation order differs; the bf16 products are
					// exact in float32.
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Sqrt(float64(32*c.ks))+1e-5*math.Abs(float64(want[i])) {
						t.Fatalf("%v ks=%d mt=%d nt=%d ldc=%d add=%v: element %d = %v, want %v", kind, c.ks, c.mt, c.nt, c.ldc, add, i, got[i], want[i])
					}
				}
			}
		}
	}
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
