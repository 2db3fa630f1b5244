package model

import (
	"fmt"
	"testing"

	"sdzero/kernels/cpu"
)

// TestGenerateContinuousBF16 checks continuous batching against the
// static batch on the CPU's bf16 unit, where short prompts matter: a
// prompt prefilled alone is a product of a few rows, which the backend
// would take with its decode kernels (another float32 summation order
// than the batched prefill's GEMM) unless Generate pads prefills to
// kernels.PrefillRows. Prompts of 1 to 40 tokens, greedy and sampled,
// rows of widely varying lengths; wide enough layers (k = 512) that the
// GEMM splits k into chunks.
func TestGenerateContinuousBF16(t *testing.T) {
	be := cpu.NewBF16(2)
	if be.BF16Kernel() == "" {
		t.Skip("no AMX or AVX512_BF16 on this CPU")
	}
	cfg := &Config{Arch: "qwen3", VocabSize: 512, Hidden: 128, Intermediate: 640, Layers: 2, Heads: 4, KVHeads: 2,
		HeadDim: 32, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 256, BOSTokenID: -1, QKNorm: true, TieEmbeddings: true}
	m, err := New(cfg, be, 11)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	randomize(t, m, 12)
	if err := m.SetPrecision(PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	var prompts [][]int32
	for i, n := range []int{1, 5, 12, 31, 32, 33, 40, 3, 17, 26} {
		p := make([]int32, n)
		for k := range p {
			p[k] = int32((i*37 + k*11) % 500)
		}
		prompts = append(prompts, p, p)
	}
	for _, temp := range []float32{0, 1} {
		opt := GenerateOptions{MaxNewTokens: 20, Temperature: temp, Seed: 5}
		static, err := m.Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		stops := map[int32]bool{}
		for r := 0; r < len(static); r += 3 {
			stops[static[r][min(r%7, len(static[r])-1)]] = true
		}
		for id := range stops {
			opt.StopIDs = append(opt.StopIDs, id)
		}
		if static, err = m.Generate(prompts, opt); err != nil {
			t.Fatal(err)
		}
		for _, slots := range []int{1, 3, 7} {
			o := opt
			o.Slots = slots
			got, err := m.Generate(prompts, o)
			if err != nil {
				t.Fatal(err)
			}
			for r := range prompts {
				if fmt.Sprint(got[r]) != fmt.Sprint(static[r]) {
					t.Errorf("temp %v slots %d: row %d (prompt of %d) = %v, static %v", temp, slots, r, len(prompts[r]), got[r], static[r])
				}
			}
		}
	}
}
