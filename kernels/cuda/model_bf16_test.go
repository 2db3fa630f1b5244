package cuda

import (
	"testing"

	"sdzero/model/mptest"
)

// TestEmulatedModelBF16 runs the tiny fixture model in mixed precision
// (BF16 weight copies and matmul inputs through the cuBLAS BF16 GEMM path,
// everything else F32) on the emulated CUDA backend and checks logits,
// loss, gradients and a few AdamW steps against the CPU F32 reference.
func TestEmulatedModelBF16(t *testing.T) {
	dir := mptest.FixtureDir(t, "qwen3-tiny-tied")
	mptest.CheckFixture(t, newEmulated(t), dir, mptest.DefaultTolerances)
}
