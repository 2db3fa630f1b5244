package optim

import (
	"math"
	"testing"

	"sdzero/model"
	"sdzero/model/mptest"
)

// TestStepSyncsBF16Weights: Step leaves a mixed-precision model's BF16
// weight copies in step with the updated F32 masters, so an explicit
// SyncComputeWeights afterwards changes nothing.
func TestStepSyncsBF16Weights(t *testing.T) {
	cfg := &model.Config{Arch: "qwen3", VocabSize: 61, Hidden: 32, Intermediate: 48, Layers: 1, Heads: 4, KVHeads: 2,
		HeadDim: 8, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 32, BOSTokenID: -1, QKNorm: true}
	m, err := model.New(cfg, mptest.BF16CPU(1), 5)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if err := m.SetPrecision(model.PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	a, err := m.NewActs(1, 6)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	ids := []int32{3, 14, 15, 9, 26, 5}
	logits := func() []float32 {
		if err := m.Forward(a, ids, []int{6}); err != nil {
			t.Fatal(err)
		}
		out := make([]float32, a.Logits().N)
		m.BE.Download(out, a.Logits())
		if err := m.BE.Sync(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := logits()
	o, err := NewAdamW(m, Config{LR: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Free()
	m.BE.Fill(m.Grads, 0.5)
	if _, err := o.Step(m, 1e-2, 0); err != nil {
		t.Fatal(err)
	}
	after := logits()
	m.SyncComputeWeights()
	synced := logits()
	same := func(x, y []float32) bool {
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return false
			}
		}
		return true
	}
	if same(before, after) {
		t.Fatal("the AdamW step did not change the logits")
	}
	if !same(after, synced) {
		t.Error("Step left stale BF16 weight copies: SyncComputeWeights afterwards changed the logits")
	}
}
