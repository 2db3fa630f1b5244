package cuda

import (
	"testing"

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
