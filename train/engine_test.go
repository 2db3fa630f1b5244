package train

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/model"
)

// engineTrainer builds a trainer with a tiny model and the loss buffers,
// without a run directory.
func engineTrainer(t testing.TB, mb, T int, teacher bool) *trainer {
	t.Helper()
	be := testBackend()
	m, err := model.New(tinyConfig(), be, 11)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Train.MicroBatch, cfg.Train.MaxSeqLen = mb, T
	tr := &trainer{cfg: cfg, be: be, m: m}
	t.Cleanup(tr.free)
	if tr.acts, err = m.NewActs(mb, T); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		p *kernels.Tensor
		d kernels.DType
	}{{&tr.lossBuf, kernels.F32}, {&tr.wBuf, kernels.F32}, {&tr.lpBuf, kernels.F32}, {&tr.tgtBuf, kernels.I32}, {&tr.idxBuf, kernels.I32}} {
		if *b.p, err = be.Alloc(b.d, mb*T); err != nil {
			t.Fatal(err)
		}
	}
	if teacher {
		if tr.teacher, err = m.Clone(); err != nil {
			t.Fatal(err)
		}
		if tr.tacts, err = tr.teacher.NewInferActs(mb, 2*T); err != nil {
			t.Fatal(err)
		}
		if err := tr.allocDistill(mb, T); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

var engineSeqs = [][]int32{
	ids("hello world"), ids("ab"), ids("the quick brown fox"), ids("1+2=3"), ids("xyz!"),
}

// TestRunLMLoss checks the micro-batched masked CE against log-probs from
// the model's own TokenLogProbs path, one sequence at a time.
func TestRunLMLoss(t *testing.T) {
	tr := engineTrainer(t, 2, 24, false)
	// weight: every token from position 2 on, normalised over the batch.
	n := 0
	for _, s := range engineSeqs {
		n += max(0, len(s)-2)
	}
	w := 1 / float32(n)
	loss, tokens, err := tr.runLM(lmPass{seqs: engineSeqs, weight: func(i, j int) float32 {
		if j >= 2 {
			return w
		}
		return 0
	}})
	if err != nil {
		t.Fatal(err)
	}
	if tokens != n {
		t.Fatalf("tokens %d want %d", tokens, n)
	}
	want := 0.0
	for _, s := range engineSeqs {
		lp, err := tr.seqLogProbs(tr.m, tr.acts, [][]int32{s})
		if err != nil {
			t.Fatal(err)
		}
		for j := 2; j < len(s); j++ {
			want -= float64(lp[0][j])
		}
	}
	want /= float64(n)
	if math.Abs(loss-want) > 1e-4*math.Abs(want) {
		t.Errorf("loss %g, from TokenLogProbs %g", loss, want)
	}
	// Gradients accumulated: non-zero.
	if g := tr.be.SumSquares(tr.m.Grads, tr.m.Grads.N); !(g > 0) {
		t.Errorf("gradient norm^2 %g", g)
	}
}

// TestRunDistillAlignment: with the teacher equal to the student, a
// teacher sequence that only appends tokens after y must give zero
// divergence (so the row mapping is right), and one that prepends tokens
// must not.
func TestRunDistillAlignment(t *testing.T) {
	tr := engineTrainer(t, 2, 24, true)
	dp := kernels.DistillParams{Temp: 1, TopK: 0, ForwardWeight: 0.5}
	build := func(prefix, suffix string) []distillSeq {
		var out []distillSeq
		for _, s := range engineSeqs {
			x := 1 // first token is the "prompt"
			te := cat(ids(prefix), s, ids(suffix))
			out = append(out, distillSeq{student: s, teacher: te, sStart: x, tStart: x + len(prefix), n: len(s) - x, w: 0.01})
		}
		return out
	}
	for _, tc := range []struct {
		name           string
		prefix, suffix string
		zero           bool
	}{
		{"suffix only", "", "-- some trailing tokens", true},
		{"prefix", "context: ", "", false},
	} {
		tr.m.ZeroGrads()
		var maxD float64
		_, tokens, err := tr.runDistill(build(tc.prefix, tc.suffix), dp, func(i int, d float64) { maxD = math.Max(maxD, d) })
		if err != nil {
			t.Fatal(err)
		}
		if tokens == 0 {
			t.Fatal("no tokens")
		}
		if tc.zero && maxD > 1e-6 {
			t.Errorf("%s: max divergence %g, want 0", tc.name, maxD)
		}
		if !tc.zero && maxD < 1e-4 {
			t.Errorf("%s: max divergence %g, want > 0", tc.name, maxD)
		}
	}
}

// TestNonFiniteStops drives the loss to Inf/NaN with an absurd learning
// rate: steps are skipped, counted, and the run stops with state saved.
func TestNonFiniteStops(t *testing.T) {
	mdl := tinyModelDir(t, 4)
	data := tinyMathData(t, 5)
	dir := filepath.Join(t.TempDir(), "run")
	c := tinyRunConfig(t, PhaseSFT, mdl, data, dir)
	c.Optim.LR = 1e30
	c.Optim.WarmupSteps = 0
	c.Optim.Schedule = "constant"
	c.Train.Steps = 20
	c.Train.MaxNonFinite = 2
	res, err := Run(context.Background(), c, Options{Backend: testBackend()})
	if err == nil || !strings.Contains(err.Error(), "NaN/Inf") {
		t.Fatalf("want a NaN/Inf stop, got %v", err)
	}
	if res.NonFiniteSkipped != 2 || res.Steps >= 20 {
		t.Errorf("skipped %d, steps %d", res.NonFiniteSkipped, res.Steps)
	}
	if _, err := latestCheckpoint(dir); err != nil {
		t.Errorf("no checkpoint after the stop: %v", err)
	}
	ms := readMetrics(t, dir)
	if ms[len(ms)-1]["nonfinite"] != 1.0 {
		t.Errorf("last metrics %v", ms[len(ms)-1])
	}
}

func TestProgressPlainLines(t *testing.T) {
	var b strings.Builder
	p := newProgress(&b, "sft", 0, 10, 5)
	for s := 1; s <= 10; s++ {
		p.update(s, Metrics{"loss": 1.5})
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	// step 1, 5 and 10
	if len(lines) != 3 || !strings.Contains(lines[1], "step 5/10") || !strings.Contains(lines[1], "loss 1.5") || !strings.Contains(lines[2], "eta") {
		t.Errorf("progress lines:\n%s", b.String())
	}
}

// TestRunDistillChunkedMatchesFullLogits checks the chunked distillation
// pass (hidden states gathered at the aligned positions, logits a few rows
// at a time) against the direct computation over full [T, V] logits of
// both models: same loss, same parameter gradients.
func TestRunDistillChunkedMatchesFullLogits(t *testing.T) {
	tr := engineTrainer(t, 2, 24, true)
	be := tr.be
	V := tr.m.Cfg.VocabSize
	dp := kernels.DistillParams{Temp: 0.7, TopK: 5, ForwardWeight: 0.5}
	var seqs []distillSeq
	for i, s := range engineSeqs {
		te := cat(ids("context: "), s, ids("!"))
		seqs = append(seqs, distillSeq{student: s, teacher: te, sStart: 1, tStart: 1 + len(ids("context: ")), n: len(s) - 1, w: 0.01 * float32(i+1)})
	}
	grads := func() []float32 {
		g := make([]float32, tr.m.Grads.N)
		be.Download(g, tr.m.Grads)
		return g
	}

	// Reference: full logits per sequence, teacher rows gathered onto the
	// student rows, one Distill over every student row (weight 0 off y).
	tr.m.ZeroGrads()
	var refLoss float64
	for _, s := range seqs {
		ts, tt := len(s.student), len(s.teacher)
		if err := tr.teacher.Forward(tr.tacts, s.teacher, []int{tt}); err != nil {
			t.Fatal(err)
		}
		if err := tr.m.Forward(tr.acts, s.student, []int{ts}); err != nil {
			t.Fatal(err)
		}
		idx := make([]int32, ts)
		w := make([]float32, ts)
		for k := 0; k < s.n; k++ {
			idx[s.sStart-1+k] = int32(s.tStart - 1 + k)
			w[s.sStart-1+k] = s.w
		}
		g, _ := be.Alloc(kernels.F32, ts*V)
		it, _ := be.Alloc(kernels.I32, ts)
		wt, _ := be.Alloc(kernels.F32, ts)
		lt, _ := be.Alloc(kernels.F32, ts)
		be.UploadInt32(it, idx)
		be.Upload(wt, w)
		be.GatherRows(g, tr.tacts.Logits(), it, ts, V)
		sl := tr.acts.Logits()
		be.Distill(lt, sl, sl, g, wt, ts, V, dp, 1)
		if err := tr.m.Backward(tr.acts, sl); err != nil {
			t.Fatal(err)
		}
		l := make([]float32, ts)
		be.Download(l, lt)
		for _, v := range l {
			refLoss += float64(v)
		}
		for _, x := range []kernels.Tensor{g, it, wt, lt} {
			be.Free(x)
		}
	}
	want := grads()

	for _, chunk := range []int{3, 0} {
		tr.distillChunk = chunk
		tr.m.ZeroGrads()
		loss, tokens, err := tr.runDistill(seqs, dp, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tokens == 0 || math.Abs(loss-refLoss) > 1e-5*math.Max(1, math.Abs(refLoss)) {
			t.Errorf("chunk %d: loss %g over %d tokens, want %g", chunk, loss, tokens, refLoss)
		}
		got := grads()
		var num, den float64
		for i := range got {
			d := float64(got[i] - want[i])
			num += d * d
			den += float64(want[i]) * float64(want[i])
		}
		if !(den > 0) || math.Sqrt(num/den) > 1e-5 {
			t.Errorf("chunk %d: gradient relative error %g (norm^2 %g)", chunk, math.Sqrt(num/den), den)
		}
	}
	tr.distillChunk = 0
}
