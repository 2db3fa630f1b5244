package model

import (
	"os"
	"testing"
	"time"

	"sdzero/kernels"
)

// benchConfig is the llm.c-sized benchmark model: Qwen3-style, 4 layers,
// hidden 256, 4 heads, intermediate 1024, GPT-2 vocabulary padded to
// 50304, tied embeddings (~17M parameters).
func benchConfig() *Config {
	return &Config{Arch: "qwen3", VocabSize: 50304, Hidden: 256, Intermediate: 1024, Layers: 4, Heads: 4, KVHeads: 4,
		HeadDim: 64, RMSNormEps: 1e-6, RopeTheta: 10000, TieEmbeddings: true, QKNorm: true, BOSTokenID: -1}
}

// trainStep is one forward + cross-entropy + backward + AdamW step, with
// AdamW done by the backend op directly (train/optim imports model, so the
// benchmark uses the same op the optimiser calls, over the whole buffer).
type trainStep struct {
	m                   *Model
	a                   *Acts
	ids                 []int32
	lens                []int
	tg, w, loss, mo, vo kernels.Tensor
	step                int
}

func newTrainStep(b *testing.B, be kernels.Backend, B, T int) *trainStep {
	m, err := New(benchConfig(), be, 1)
	if err != nil {
		b.Fatal(err)
	}
	a, err := m.NewActs(B, T)
	if err != nil {
		b.Fatal(err)
	}
	s := &trainStep{m: m, a: a, ids: make([]int32, B*T), lens: make([]int, B)}
	r := newLCG(1)
	tg := make([]int32, B*T)
	w := make([]float32, B*T)
	for i := range s.ids {
		s.ids[i] = int32(r.intn(m.Cfg.VocabSize))
	}
	for i := range tg {
		tg[i] = int32(r.intn(m.Cfg.VocabSize))
		w[i] = 1 / float32(B*T)
	}
	for i := range s.lens {
		s.lens[i] = T
	}
	s.tg, _ = be.Alloc(kernels.I32, B*T)
	s.w, _ = be.Alloc(kernels.F32, B*T)
	s.loss, _ = be.Alloc(kernels.F32, B*T)
	s.mo, _ = be.Alloc(kernels.F32, m.Params.N)
	s.vo, _ = be.Alloc(kernels.F32, m.Params.N)
	be.UploadInt32(s.tg, tg)
	be.Upload(s.w, w)
	return s
}

func (s *trainStep) run(b *testing.B) {
	m, be := s.m, s.m.BE
	if err := m.Forward(s.a, s.ids, s.lens); err != nil {
		b.Fatal(err)
	}
	n := len(s.ids)
	be.CrossEntropy(s.loss, s.a.Logits(), s.a.Logits(), s.tg, s.w, n, m.Cfg.VocabSize, 1)
	m.ZeroGrads()
	if err := m.Backward(s.a, s.a.Logits()); err != nil {
		b.Fatal(err)
	}
	s.step++
	be.AdamW(m.Params, m.Grads, s.mo, s.vo, m.Params.N, kernels.AdamWParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Step: s.step, GradScale: 1})
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTrainStep: forward + backward + AdamW at batch 4 x 64 tokens
// (llm.c on this machine: ~2.0 s/step, ~12 model GFLOP/s).
func BenchmarkTrainStep(b *testing.B) {
	be := testBackend()
	s := newTrainStep(b, be, 4, 64)
	s.run(b) // warm-up
	params := float64(s.m.Cfg.NumParams())
	tokens := float64(len(s.ids))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		s.run(b)
	}
	sec := time.Since(start).Seconds() / float64(b.N)
	b.ReportMetric(tokens/sec, "tokens/s")
	b.ReportMetric(6*params*tokens/sec/1e9, "GFLOP/s")
	b.ReportMetric(sec, "s/step")
}

// BenchmarkTrainStepBreakdown runs the same step through a TimingBackend
// and reports milliseconds per step by op class (set SDZERO_BENCH_OPS=1 to
// also print the per-op table).
func BenchmarkTrainStepBreakdown(b *testing.B) {
	tb := NewTimingBackend(testBackend(), false)
	s := newTrainStep(b, tb, 4, 64)
	s.run(b)
	tb.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.run(b)
	}
	b.StopTimer()
	for class, d := range tb.ByClass() {
		b.ReportMetric(float64(d.Microseconds())/1e3/float64(b.N), class+"-ms/step")
	}
	if os.Getenv("SDZERO_BENCH_OPS") != "" {
		tb.Report(os.Stderr, b.N)
	}
}
