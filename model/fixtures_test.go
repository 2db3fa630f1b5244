package model

import (
	"math"
	"path/filepath"
	"testing"

	"sdzero/internal/fixtures"
	"sdzero/kernels"
)

var fixtureModels = []string{"qwen3-tiny-tied", "qwen3-tiny-untied-bf16"}

// fixtureBackend returns the backend to compare a fixture with (see
// fixtures.ForFixture: the bf16 fixture's references use bf16-rounded RoPE
// frequencies); TestFixtureUnroundedRoPE bounds the (small) effect of that
// artefact on the plain engine.
func fixtureBackend(t *testing.T, name string) kernels.Backend {
	return fixtures.ForFixture(testBackend(), fixturesDir(t, name))
}

func fixtureIDs(t *testing.T, dir string) []int32 {
	ref := readTensors(t, filepath.Join(dir, "ref_forward.safetensors"))
	ids := make([]int32, len(ref["input_ids"]))
	for i, v := range ref["input_ids"] {
		ids[i] = int32(v)
	}
	return ids
}

// TestFixtureParity checks logits, loss and every gradient against
// PyTorch/HF references (the AdamW step is checked in train/optim).
func TestFixtureParity(t *testing.T) {
	for _, name := range fixtureModels {
		t.Run(name, func(t *testing.T) {
			dir := fixturesDir(t, name)
			be := fixtureBackend(t, name)
			m, err := Load(dir, be)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			ref := readTensors(t, filepath.Join(dir, "ref_forward.safetensors"))
			ids := fixtureIDs(t, dir)
			b, T := 2, len(ids)/2
			lens := []int{T, T}
			a, err := m.NewActs(b, T)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Free()
			if err := m.Forward(a, ids, lens); err != nil {
				t.Fatal(err)
			}
			logits := download(be, a.Logits())
			if e := relErr(logits, ref["logits"]); e > 1e-4 {
				t.Errorf("logits relative error %.3g > 1e-4", e)
			} else {
				t.Logf("logits relative error %.3g", e)
			}
			loss := shiftedCE(t, m, a, ids, lens, true)
			if e := math.Abs(loss-float64(ref["loss"][0])) / float64(ref["loss"][0]); e > 1e-4 {
				t.Errorf("loss %.7g, want %.7g (rel err %.3g)", loss, ref["loss"][0], e)
			}
			m.ZeroGrads()
			if err := m.Backward(a, a.Logits()); err != nil {
				t.Fatal(err)
			}
			if err := be.Sync(); err != nil {
				t.Fatal(err)
			}
			grads := readTensors(t, filepath.Join(dir, "ref_grads.safetensors"))
			if len(grads) != len(m.Specs) {
				t.Errorf("%d reference gradients for %d parameters", len(grads), len(m.Specs))
			}
			worst := 0.0
			for _, s := range m.Specs {
				want, ok := grads[s.Name]
				if !ok {
					t.Errorf("no reference gradient for %s", s.Name)
					continue
				}
				e := relErr(download(be, m.Grad(s.Name)), want)
				worst = max(worst, e)
				if e > 1e-3 {
					t.Errorf("gradient of %s: relative error %.3g > 1e-3", s.Name, e)
				}
			}
			t.Logf("worst gradient relative error %.3g", worst)
		})
	}
}

// TestFixtureUnroundedRoPE bounds the effect of the bf16 fixture's rounded
// RoPE frequencies on the plain engine (see fixtureBackend).
func TestFixtureUnroundedRoPE(t *testing.T) {
	dir := fixturesDir(t, "qwen3-tiny-untied-bf16")
	be := testBackend()
	m, err := Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	ids := fixtureIDs(t, dir)
	a, err := m.NewInferActs(2, len(ids)/2)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	if err := m.Forward(a, ids, []int{len(ids) / 2, len(ids) / 2}); err != nil {
		t.Fatal(err)
	}
	ref := readTensors(t, filepath.Join(dir, "ref_forward.safetensors"))
	e := relErr(download(be, a.Logits()), ref["logits"])
	t.Logf("logits relative error with fp32 RoPE frequencies: %.3g", e)
	if e > 2e-3 {
		t.Errorf("logits relative error %.3g > 2e-3", e)
	}
}

// TestFixtureGreedy checks the KV-cache greedy continuation against HF
// generate. make_fixtures.py ran generate after its AdamW step, so the
// reference continuation is that of the parameters in
// ref_adamw_step1.safetensors.
func TestFixtureGreedy(t *testing.T) {
	for _, name := range fixtureModels {
		t.Run(name, func(t *testing.T) {
			dir := fixturesDir(t, name)
			be := fixtureBackend(t, name)
			m, err := Load(dir, be)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			after := readTensors(t, filepath.Join(dir, "ref_adamw_step1.safetensors"))
			for _, s := range m.Specs {
				be.Upload(m.Param(s.Name), after[s.Name])
			}
			meta := readMeta(t, dir)
			want := meta.GreedyOutput[len(meta.GreedyPrompt):]
			// In a batch with a shorter row, to exercise padding.
			short := meta.GreedyPrompt[2:]
			out, err := m.Generate([][]int32{meta.GreedyPrompt, short, meta.GreedyPrompt}, GenerateOptions{MaxNewTokens: len(want)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []int{0, 2} {
				if !equalIDs(out[r], want) {
					t.Errorf("row %d greedy %v, want %v", r, out[r], want)
				}
			}
			solo, err := m.Generate([][]int32{short}, GenerateOptions{MaxNewTokens: len(want)})
			if err != nil {
				t.Fatal(err)
			}
			if !equalIDs(out[1], solo[0]) {
				t.Errorf("padded row %v differs from the same prompt alone %v", out[1], solo[0])
			}
		})
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
