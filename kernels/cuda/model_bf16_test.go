package cuda

import (
	"testing"

	"sdzero/model"
	"sdzero/model/mptest"
)

// TestEmulatedModelBF16 runs the tiny fixture model in mixed precision
// (BF16 weight copies and matmul inputs through the cuBLAS BF16 GEMM path,
// everything else F32) on the emulated CUDA backend and checks logits,
// loss, gradients and two AdamW steps against the CPU F32 reference.
func TestEmulatedModelBF16(t *testing.T) {
	dir := mptest.FixtureDir(t, "qwen3-tiny-tied")
	tol := mptest.DefaultTolerances
	tol.Steps = 2 // the emulator runs every CUDA thread as a coroutine: slow
	mptest.CheckFixture(t, newEmulated(t), dir, tol)
}

// TestEmulatedModelBF16TensorCore is TestEmulatedModelBF16 for a model whose
// head dim (128) takes the tensor-core attention kernels, on rows longer
// than one tile (head dim 64 is covered by the conformance suite and the
// CPU model test; the emulator is slow).
func TestEmulatedModelBF16TensorCore(t *testing.T) {
	tol := mptest.DefaultTolerances
	tol.Steps = 1
	mptest.CheckRandom(t, newEmulated(t), mptest.TensorCoreConfig(128), 5, 1, 70, tol)
}

// TestGPUModelBF16 is TestEmulatedModelBF16 on a GPU.
func TestGPUModelBF16(t *testing.T) {
	mptest.CheckFixture(t, gpuBackend(t, false), mptest.FixtureDir(t, "qwen3-tiny-tied"), mptest.DefaultTolerances)
}

// TestGPUModelBF16TensorCore is TestEmulatedModelBF16TensorCore on a GPU,
// for both tensor-core head dims and rows of several tiles.
func TestGPUModelBF16TensorCore(t *testing.T) {
	be := gpuBackend(t, false)
	for _, d := range []int{64, 128} {
		mptest.CheckRandom(t, be, mptest.TensorCoreConfig(d), 5, 3, 300, mptest.DefaultTolerances)
	}
}

// TestEmulatedReference checks the emulated backend in F32 against the
// PyTorch references of the fixtures (logits, loss, gradients, greedy).
func TestEmulatedReference(t *testing.T) {
	be := newEmulated(t)
	for _, name := range []string{"qwen3-tiny-tied", "qwen3-tiny-untied-bf16"} {
		t.Run(name, func(t *testing.T) {
			mptest.CheckReference(t, be, mptest.FixtureDir(t, name), model.PrecisionF32, mptest.F32RefTolerances)
		})
	}
}

// TestGPUReference is the full-model parity on a GPU: both fixtures in
// strict F32 to the CPU engine's bounds, and in mixed precision to bf16
// bounds.
func TestGPUReference(t *testing.T) {
	be := gpuBackend(t, false)
	for _, name := range []string{"qwen3-tiny-tied", "qwen3-tiny-untied-bf16"} {
		t.Run(name, func(t *testing.T) {
			dir := mptest.FixtureDir(t, name)
			mptest.CheckReference(t, be, dir, model.PrecisionF32, mptest.F32RefTolerances)
			mptest.CheckReference(t, be, dir, model.PrecisionBF16, mptest.BF16RefTolerances)
		})
	}
}
