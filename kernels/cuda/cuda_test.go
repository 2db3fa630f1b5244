package cuda

import (
	"os"
	"strings"
	"testing"

	"sdzero/kernels/kernelstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if emu.dir != "" {
		os.RemoveAll(emu.dir)
	}
	os.Exit(code)
}

// gpuBackend opens the real GPU, or skips when there is none. Set
// SDZERO_CUDA_TF32=1 to test the TF32 GEMM path.
func gpuBackend(t *testing.T, tf32 bool) *Backend {
	t.Helper()
	if ok, why := Available(); !ok {
		t.Skipf("no usable CUDA GPU (GPU tests run on the GPU machine via scripts/gpu-check.sh): %s", why)
	}
	be, err := New(Options{TF32: tf32})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := be.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Logf("device: %s", be.Describe())
	return be
}

// TestConformanceGPU runs the conformance suite on the GPU in strict FP32.
func TestConformanceGPU(t *testing.T) {
	kernelstest.Run(t, gpuBackend(t, false), kernelstest.DefaultTolerances())
}

// TestConformanceGPUTF32 runs it with TF32 GEMMs and the relaxed tolerances.
func TestConformanceGPUTF32(t *testing.T) {
	kernelstest.Run(t, gpuBackend(t, true), kernelstest.BF16Tolerances())
}

// TestConformanceEmulated runs the conformance suite against the CUDA
// kernels executed by the CPU emulator (no GPU needed).
func TestConformanceEmulated(t *testing.T) {
	kernelstest.Run(t, newEmulated(t), kernelstest.DefaultTolerances())
}

// TestNewWithoutDriver checks the error a machine without the CUDA
// libraries gets (what the CLI's --device auto falls back on).
func TestNewWithoutDriver(t *testing.T) {
	if ok, _ := Available(); ok {
		t.Skip("a CUDA GPU is present")
	}
	empty := t.TempDir()
	t.Setenv("SDZERO_CUDA_LIB_DIR", "")
	t.Setenv("LD_LIBRARY_PATH", "")
	_, err := New(Options{LibDir: empty})
	if err == nil {
		t.Fatal("New succeeded without a GPU")
	}
	msg := err.Error()
	for _, want := range []string{"cuda", empty} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if ok, why := Available(); ok || why == "" {
		t.Errorf("Available() = %v, %q; want false with a reason", ok, why)
	}
}
