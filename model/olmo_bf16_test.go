package model_test

import (
	"math"
	"testing"

	"sdzero/model"
	"sdzero/model/mptest"
)

// olmo3Config is a small Olmo-3 configuration (post-sublayer norms,
// full-width q/k norms, sliding windows of 5 around a full YaRN layer) at
// head dim 64, the shape real models use.
func olmo3Config() *model.Config {
	return &model.Config{Arch: "olmo3", VocabSize: 97, Hidden: 96, Intermediate: 128, Layers: 3, Heads: 4, KVHeads: 2,
		HeadDim: 64, RMSNormEps: 1e-5, RopeTheta: 10000, MaxPositions: 256, BOSTokenID: -1,
		QKNorm: true, QKNormFull: true, PostNorm: true,
		LayerTypes:    []string{model.SlidingAttention, model.FullAttention, model.SlidingAttention},
		SlidingWindow: 5,
		RopeScaling: &model.RopeScaling{Type: "yarn", Factor: 4, OriginalMaxPositions: 64, BetaFast: 32, BetaSlow: 1,
			AttentionFactor: 0.1*math.Log(4) + 1},
		SlidingRope: &model.Rope{Theta: 10000}}
}

// TestOlmo3BF16: the mixed-precision Olmo-3 model (BF16 matmul inputs
// into post-norm sublayers, BF16 attention inputs of windowed layers)
// stays within the bf16 tolerances of F32 in logits, loss, gradients and
// a few AdamW steps, and its bf16 decoding past the window agrees with its
// bf16 full forward.
func TestOlmo3BF16(t *testing.T) {
	mptest.CheckRandom(t, mptest.BF16CPU(0), olmo3Config(), 5, 2, 20, mptest.DefaultTolerances)
	mptest.CheckGenerate(t, mptest.BF16CPU(0), olmo3Config(), 2, [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10, 11}}, 10)
}
