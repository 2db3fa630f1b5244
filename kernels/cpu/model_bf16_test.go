package cpu_test

import (
	"testing"

	"sdzero/kernels/cpu"
	"sdzero/model"
	"sdzero/model/mptest"
)

// bf16Backend is the CPU backend with its bf16 unit, or a skip where the
// CPU has none.
func bf16Backend(t *testing.T) *cpu.Backend {
	be := cpu.NewBF16(2)
	if be.BF16Kernel() == "" {
		t.Skip("no AMX or AVX512_BF16 on this CPU")
	}
	return be
}

// TestModelBF16 runs the model's mixed-precision checks on the CPU's bf16
// unit: the fixtures against the F32 CPU model (logits, loss, every
// gradient, an AdamW trajectory) and against the PyTorch references, and
// a random model with the head dims of real models, and bf16 decoding
// (BF16 KV cache) against the bf16 full forward.
func TestModelBF16(t *testing.T) {
	be := bf16Backend(t)
	for _, name := range []string{"qwen3-tiny-tied", "qwen3-tiny-untied-bf16"} {
		t.Run(name, func(t *testing.T) {
			dir := mptest.FixtureDir(t, name)
			mptest.CheckFixture(t, be, dir, mptest.DefaultTolerances)
			mptest.CheckReference(t, be, dir, model.PrecisionBF16, mptest.BF16RefTolerances)
		})
	}
	t.Run("head_dim=64", func(t *testing.T) {
		mptest.CheckRandom(t, be, mptest.TensorCoreConfig(64), 5, 2, 70, mptest.DefaultTolerances)
	})
	t.Run("generate", func(t *testing.T) {
		mptest.CheckGenerate(t, be, mptest.TensorCoreConfig(64), 3, [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10, 11}}, 12)
	})
}
