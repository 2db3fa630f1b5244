package cuda

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ebitengine/purego"
)

// TestRealLibrariesExportSymbols binds every symbol the backend uses from
// real CUDA libraries in SDZERO_CUDA_SYMBOLS_DIR (libcuda.so.1,
// libcublas.so.N, libcublasLt.so.N; no GPU needed: binding only resolves
// names). A wrong name (a missing _v2 suffix, say) would otherwise first
// show on a GPU machine. Debian non-free ships libcuda1, libcublas11 and
// libcublaslt11 whose exports are a subset of CUDA 12/13's for these calls.
func TestRealLibrariesExportSymbols(t *testing.T) {
	dir := os.Getenv("SDZERO_CUDA_SYMBOLS_DIR")
	if dir == "" {
		t.Skip("SDZERO_CUDA_SYMBOLS_DIR not set: no real CUDA libraries to check symbol names against")
	}
	open := func(pattern string) (uintptr, string) {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		if len(m) == 0 {
			t.Fatalf("no %s in %s", pattern, dir)
		}
		h, err := purego.Dlopen(m[0], rtldNowGlobal)
		if err != nil {
			t.Fatalf("dlopen %s: %v", m[0], err)
		}
		return h, m[0]
	}
	var b Backend
	h, p := open("libcuda.so.1")
	if err := bindAll(h, p, b.drv.symbols()); err != nil {
		t.Error(err)
	}
	hl, pl := open("libcublasLt.so.*")
	if err := bindAll(hl, pl, []symbol{{name: "cublasLtGetVersion", fptr: &b.blas.cublasLtGetVersion}}); err != nil {
		t.Error(err)
	}
	hb, pb := open("libcublas.so.*")
	if err := bindAll(hb, pb, b.blas.symbols()); err != nil {
		t.Error(err)
	}
	// Optional symbols are used when present: they must be present here.
	if b.drv.cuStreamBeginCapture == nil || b.drv.cuStreamEndCapture == nil || b.drv.cuGraphInstantiateWithFlags == nil ||
		b.drv.cuGraphLaunch == nil || b.drv.cuGraphExecDestroy == nil || b.drv.cuGraphDestroy == nil {
		t.Error("the driver's CUDA graph functions did not bind")
	}
	if b.drv.cuMemGetInfo == nil || b.drv.cuGetErrorName == nil || b.blas.cublasGetStatusName == nil {
		t.Error("an optional symbol did not bind")
	}
	// Without a GPU cuInit fails; the code must map to a named error.
	r := b.drv.cuInit(0)
	t.Logf("cuInit without a GPU: %v", b.drv.err("cuInit", r))
	t.Logf("cublasLt version %d", b.blas.cublasLtGetVersion())
}
