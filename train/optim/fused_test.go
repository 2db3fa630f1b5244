package optim

import (
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
)

// unfused hides a backend's optional interfaces (kernels.FusedAdamW among
// them): Step then takes the AdamW + SyncComputeWeights path.
type unfused struct{ kernels.Backend }

// TestStepFusedBitIdentical: on a backend with kernels.FusedAdamW, Step's
// parameters, moments and BF16 weight copies are bit for bit those of the
// unfused path (AdamW per run, then SyncComputeWeights), over several
// clipped steps of a model whose decay runs mix matmul weights with norms,
// biases and a tied embedding.
func TestStepFusedBitIdentical(t *testing.T) {
	cfg := &model.Config{Arch: "qwen2", VocabSize: 1000, Hidden: 64, Intermediate: 96, Layers: 2, Heads: 4, KVHeads: 2,
		HeadDim: 16, RMSNormEps: 1e-6, RopeTheta: 10000, AttnBias: true, TieEmbeddings: true, BOSTokenID: -1}
	fusedBE := cpu.NewBF16(2)
	if _, ok := kernels.Backend(fusedBE).(kernels.FusedAdamW); !ok {
		t.Fatal("the CPU backend does not implement kernels.FusedAdamW")
	}
	type run struct {
		m *model.Model
		o *AdamW
	}
	var runs []run
	for _, be := range []kernels.Backend{fusedBE, unfused{cpu.NewBF16(2)}} {
		m, err := model.New(cfg, be, 7)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		if err := m.SetPrecision(model.PrecisionBF16); err != nil {
			t.Fatal(err)
		}
		o, err := NewAdamW(m, Config{LR: 1e-2, WeightDecay: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Free()
		runs = append(runs, run{m, o})
	}
	if len(runs[0].o.runs) < 2 {
		t.Fatalf("want decay and no-decay runs, got %d run(s)", len(runs[0].o.runs))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	g := make([]float32, runs[0].m.Grads.N)
	raw := func(be kernels.Backend, x kernels.Tensor) []byte {
		b := make([]byte, x.N*x.DType.Size())
		be.DownloadRaw(b, x)
		if err := be.Sync(); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for step := range 3 {
		for i := range g {
			g[i] = float32(rng.NormFloat64()) * 0.3
		}
		for _, r := range runs {
			r.m.BE.Upload(r.m.Grads, g)
			if _, err := r.o.Step(r.m, 1e-2, 1); err != nil { // clip norm 1: scale < 1
				t.Fatal(err)
			}
		}
		f, u := runs[0], runs[1]
		for _, c := range []struct {
			name string
			a, b kernels.Tensor
		}{{"params", f.m.Params, u.m.Params}, {"m", f.o.M, u.o.M}, {"v", f.o.V, u.o.V}} {
			if string(raw(f.m.BE, c.a)) != string(raw(u.m.BE, c.b)) {
				t.Fatalf("step %d: fused %s differ from the unfused ones", step, c.name)
			}
		}
		fc, uc := f.m.ComputeCopies(), u.m.ComputeCopies()
		if len(fc) == 0 || len(fc) != len(uc) {
			t.Fatalf("BF16 copies: %d fused, %d unfused", len(fc), len(uc))
		}
		for i := range fc {
			if string(raw(f.m.BE, fc[i].Low)) != string(raw(u.m.BE, uc[i].Low)) {
				t.Fatalf("step %d: BF16 copy %d (params [%d,%d)) differs from the unfused one", step, i, fc[i].Off, fc[i].Off+fc[i].N)
			}
		}
	}
}
