package model

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"sdzero/kernels"
)

// TestDecodeMatchesForward checks, for every family, that KV-cache decoding
// (batched prefill of unequal prompts, then one token at a time) gives the
// logits of a full forward over the whole sequence at every step.
func TestDecodeMatchesForward(t *testing.T) {
	// olmo3: sliding windows of 3, shorter than every prompt but one, and
	// decoding runs past them.
	for _, arch := range []string{"qwen3", "qwen2", "llama", "llama-rope3", "olmo2", "olmo3"} {
		t.Run(arch, func(t *testing.T) {
			be := testBackend()
			cfg := tinyConfig(strings.TrimSuffix(arch, "-rope3"))
			if arch == "llama-rope3" {
				cfg.RopeScaling = &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 16}
			}
			m, err := New(cfg, be, 2)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			randomize(t, m, 21)
			V := m.Cfg.VocabSize
			r := newLCG(4)
			promptLens := []int{5, 2, 7}
			const steps = 6
			b := len(promptLens)
			seqs := make([][]int32, b)
			for i, pl := range promptLens {
				seqs[i] = make([]int32, pl+steps)
				for j := range seqs[i] {
					seqs[i][j] = int32(r.intn(V))
				}
			}
			// Reference: full forward of each whole sequence.
			ref := make([][]float32, b)
			for i, s := range seqs {
				a, err := m.NewInferActs(1, len(s))
				if err != nil {
					t.Fatal(err)
				}
				if err := m.Forward(a, s, []int{len(s)}); err != nil {
					t.Fatal(err)
				}
				ref[i] = download(be, a.Logits())
				a.Free()
			}
			// Prefill.
			P := 7
			tmax := P + steps
			kc, err := m.newCache(b, tmax)
			if err != nil {
				t.Fatal(err)
			}
			defer kc.free(be)
			a, err := m.NewInferActs(b, P)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Free()
			ids := make([]int32, b*P)
			for i, pl := range promptLens {
				copy(ids[i*P:], seqs[i][:pl])
			}
			if err := a.setBatch(ids, promptLens); err != nil {
				t.Fatal(err)
			}
			be.UploadInt32(kc.start, make([]int32, b))
			m.forwardHidden(a, kc)
			hid := download(be, a.lnf)
			head := download(be, m.p.head)
			for i, pl := range promptLens {
				// logits of the last prompt token from the prefill hidden state
				h := hid[(i*P+pl-1)*m.Cfg.Hidden:][:m.Cfg.Hidden]
				got := make([]float32, V)
				for v := 0; v < V; v++ {
					var s float64
					for k, x := range h {
						s += float64(x) * float64(head[v*m.Cfg.Hidden+k])
					}
					got[v] = float32(s)
				}
				if e := relErr(got, ref[i][(pl-1)*V:pl*V]); e > 1e-5 {
					t.Errorf("row %d prefill logits: relative error %.3g", i, e)
				}
			}
			s, err := m.newDecodeState(b)
			if err != nil {
				t.Fatal(err)
			}
			defer s.free(be)
			for step := 0; step < steps; step++ {
				tok, pos, lens := make([]int32, b), make([]int32, b), make([]int32, b)
				for i, pl := range promptLens {
					p := pl + step
					tok[i], pos[i], lens[i] = seqs[i][p], int32(p), int32(p+1)
				}
				be.UploadInt32(s.ids, tok)
				be.UploadInt32(s.pos, pos)
				be.UploadInt32(s.lens, lens)
				m.decodeStep(s, kc)
				got := download(be, s.logits)
				for i, pl := range promptLens {
					p := pl + step
					if e := relErr(got[i*V:(i+1)*V], ref[i][p*V:(p+1)*V]); e > 1e-5 {
						t.Errorf("row %d step %d: decode logits relative error %.3g", i, step, e)
					}
				}
			}
			if err := be.Sync(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPaddedBatch checks that rows of a right-padded batch get the same
// logits, token log-probs and gradients as the same rows run alone.
func TestPaddedBatch(t *testing.T) {
	for _, arch := range []string{"qwen3", "olmo3"} {
		t.Run(arch, func(t *testing.T) { testPaddedBatch(t, arch) })
	}
}

func testPaddedBatch(t *testing.T, arch string) {
	be := testBackend()
	m, err := New(tinyConfig(arch), be, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	randomize(t, m, 8)
	V := m.Cfg.VocabSize
	T := 6
	lens := []int{6, 3, 1}
	r := newLCG(17)
	ids := make([]int32, len(lens)*T)
	targets := make([]int32, len(ids))
	for i := range ids {
		ids[i] = int32(r.intn(V))
		targets[i] = int32(r.intn(V))
	}
	a, err := m.NewActs(len(lens), T)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	if err := m.Forward(a, ids, lens); err != nil {
		t.Fatal(err)
	}
	batch := download(be, a.Logits())
	a.chunkRows = 5 // several output-projection chunks
	lp, err := m.TokenLogProbs(a, ids, lens, targets)
	if err != nil {
		t.Fatal(err)
	}
	for row, l := range lens {
		solo, err := m.NewInferActs(1, l)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Forward(solo, ids[row*T:row*T+l], []int{l}); err != nil {
			t.Fatal(err)
		}
		got := download(be, solo.Logits())
		solo.Free()
		if e := relErr(batch[row*T*V:(row*T+l)*V], got); e > 1e-6 {
			t.Errorf("row %d: padded-batch logits differ from solo by %.3g", row, e)
		}
		// log-probs from the solo logits, in float64
		for i := 0; i < T; i++ {
			want := 0.0
			if i < l {
				x := got[i*V : (i+1)*V]
				mx := math.Inf(-1)
				for _, v := range x {
					mx = math.Max(mx, float64(v))
				}
				var s float64
				for _, v := range x {
					s += math.Exp(float64(v) - mx)
				}
				want = float64(x[targets[row*T+i]]) - mx - math.Log(s)
			}
			if d := math.Abs(float64(lp[row*T+i]) - want); d > 1e-5 {
				t.Errorf("row %d pos %d: log-prob %g, want %g", row, i, lp[row*T+i], want)
			}
		}
	}
}

// TestGenerateSampling checks reproducibility, stop ids, and that greedy
// equals temperature sampling restricted to top-1.
func TestGenerateSampling(t *testing.T) {
	be := testBackend()
	m, err := New(tinyConfig("qwen2"), be, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	randomize(t, m, 6)
	prompts := [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9}}
	opt := GenerateOptions{MaxNewTokens: 12, Temperature: 1, TopP: 0.9, TopK: 20, Seed: 42}
	a, err := m.Generate(prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Generate(prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed gave %v and %v", a, b)
	}
	opt.Seed = 43
	c, _ := m.Generate(prompts, opt)
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("seeds 42 and 43 gave the same samples %v", a)
	}
	for _, row := range a {
		if len(row) != 12 {
			t.Errorf("row of %d tokens, want 12", len(row))
		}
	}
	// Stop at the first token that row 0 emits at step 3.
	stopID := a[0][3]
	opt.Seed = 42
	opt.StopIDs = []int32{stopID}
	d, _ := m.Generate(prompts, opt)
	for r, row := range d {
		want := a[r]
		for i, id := range a[r] {
			if id == stopID {
				want = a[r][:i+1]
				break
			}
		}
		if fmt.Sprint(row) != fmt.Sprint(want) {
			t.Errorf("row %d with stop id %d: %v, want %v", r, stopID, row, want)
		}
	}
	g, _ := m.Generate(prompts, GenerateOptions{MaxNewTokens: 8})
	k1, _ := m.Generate(prompts, GenerateOptions{MaxNewTokens: 8, Temperature: 0.7, TopK: 1, Seed: 9})
	if fmt.Sprint(g) != fmt.Sprint(k1) {
		t.Errorf("greedy %v != top-1 sampling %v", g, k1)
	}
}

// TestInputErrors checks that bad batches are errors, not panics.
func TestInputErrors(t *testing.T) {
	be := testBackend()
	m, err := New(tinyConfig("llama"), be, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	a, _ := m.NewActs(2, 4)
	defer a.Free()
	cases := []struct {
		name string
		ids  []int32
		lens []int
	}{
		{"too many rows", make([]int32, 12), []int{4, 4, 4}},
		{"too long", make([]int32, 10), []int{5, 5}},
		{"ragged", make([]int32, 7), []int{4, 3}},
		{"bad len", make([]int32, 8), []int{5, 1}},
		{"bad id", []int32{1, 2, 3, 97, 0, 0, 0, 0}, []int{4, 4}},
		{"negative id", []int32{-1, 2}, []int{2}},
	}
	for _, c := range cases {
		if err := m.Forward(a, c.ids, c.lens); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	// Padding may hold anything.
	if err := m.Forward(a, []int32{1, 2, -1, 9999, 3, 4, 5, 6}, []int{2, 4}); err != nil {
		t.Errorf("padding ids rejected: %v", err)
	}
	ia, _ := m.NewInferActs(2, 4)
	defer ia.Free()
	m.Forward(ia, []int32{1, 2, 3, 4}, []int{4})
	if err := m.Backward(ia, ia.Logits()); err == nil {
		t.Error("Backward accepted inference activations")
	}
	if _, err := m.Generate([][]int32{{}}, GenerateOptions{MaxNewTokens: 2}); err == nil {
		t.Error("empty prompt accepted")
	}
	if _, err := m.Generate([][]int32{{500}}, GenerateOptions{MaxNewTokens: 2}); err == nil {
		t.Error("out-of-vocabulary prompt accepted")
	}
}

// TestTrainingMemory checks the estimate against what NewActs allocates.
func TestTrainingMemory(t *testing.T) {
	for _, arch := range []string{"qwen3", "olmo3"} {
		t.Run(arch, func(t *testing.T) { testTrainingMemory(t, arch) })
	}
}

func testTrainingMemory(t *testing.T, arch string) {
	cfg := tinyConfig(arch)
	items, err := TrainingMemory(cfg, 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, it := range items {
		total += it.Bytes
	}
	m := &Model{Cfg: cfg, BE: &countingBackend{Backend: testBackend()}}
	_, n := layout(cfg)
	a, err := m.NewActs(2, 8)
	if err != nil {
		t.Fatal(err)
	}
	a.ensureLogits()
	a.allocGrad()
	got := m.BE.(*countingBackend).bytes + int64(n)*16
	a.Free()
	if got != total {
		t.Errorf("estimate %d bytes, allocations %d", total, got)
	}
}

type countingBackend struct {
	kernels.Backend
	bytes int64
}

func (c *countingBackend) Alloc(d kernels.DType, n int) (kernels.Tensor, error) {
	c.bytes += int64(n) * int64(d.Size())
	return c.Backend.Alloc(d, n)
}

// TestCloneAndCopy checks that Clone is independent and CopyParamsFrom
// syncs.
func TestCloneAndCopy(t *testing.T) {
	be := testBackend()
	m, err := New(tinyConfig("llama"), be, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	c, err := m.Clone()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free()
	name := "model.layers.0.mlp.up_proj.weight"
	orig := download(be, m.Param(name))
	be.Fill(m.Param(name), 3)
	if relErr(download(be, c.Param(name)), orig) != 0 {
		t.Fatal("clone changed with the original")
	}
	c.CopyParamsFrom(m)
	if got := download(be, c.Param(name)); got[0] != 3 {
		t.Fatalf("CopyParamsFrom: %g, want 3", got[0])
	}
	if m.Param("lm_head.weight").Valid() != !m.Cfg.TieEmbeddings {
		t.Error("lm_head view presence does not match tie_word_embeddings")
	}
}

// TestFrozen checks that a frozen model forwards like the full one and
// refuses Backward.
func TestFrozen(t *testing.T) {
	be := testBackend()
	m, err := New(tinyConfig("qwen2"), be, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	f, err := m.CloneFrozen()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Free()
	if !f.Frozen() || m.Frozen() || f.Grad("model.norm.weight").Valid() {
		t.Fatal("Frozen flags wrong")
	}
	ids := []int32{3, 1, 4, 1, 5}
	a, _ := f.NewActs(1, 5)
	defer a.Free()
	if err := f.Forward(a, ids, []int{5}); err != nil {
		t.Fatal(err)
	}
	got := download(be, a.Logits())
	if err := f.Backward(a, a.Logits()); err == nil {
		t.Error("Backward accepted a frozen model")
	}
	f.ZeroGrads()
	a2, _ := m.NewActs(1, 5)
	defer a2.Free()
	m.Forward(a2, ids, []int{5})
	if e := relErr(got, download(be, a2.Logits())); e != 0 {
		t.Errorf("frozen clone logits differ by %.3g", e)
	}
}
