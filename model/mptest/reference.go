package mptest

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"sdzero/internal/fixtures"
	"sdzero/kernels"
	"sdzero/model"
)

// RefTolerances bound CheckReference's relative errors (||x-ref||/||ref||).
type RefTolerances struct {
	Logits, Loss, Grads float64
	// Greedy requires the reference's greedy continuation token for token.
	Greedy bool
}

// F32RefTolerances are the CPU engine's bounds (model/fixtures_test.go).
var F32RefTolerances = RefTolerances{Logits: 1e-4, Loss: 1e-4, Grads: 1e-3, Greedy: true}

// BF16RefTolerances bound PrecisionBF16 against the F32 references (as
// DefaultTolerances bound it against the F32 engine); a greedy
// continuation may legitimately differ at a near tie.
var BF16RefTolerances = RefTolerances{Logits: 2e-2, Loss: 1e-2, Grads: 5e-2}

// CheckReference runs the Hugging Face fixture model in dir on be in
// precision p and checks it against the PyTorch references stored with it:
// logits and mean next-token loss (ref_forward), every parameter's gradient
// of that loss (ref_grads), and, after loading the parameters of one AdamW
// step (ref_adamw_step1), the greedy continuation of ref_meta.json's prompt.
// For the bf16 fixture, RoPE runs with bf16-rounded frequencies as its
// references do (see model/fixtures_test.go).
func CheckReference(t *testing.T, be kernels.Backend, dir string, p model.Precision, tol RefTolerances) {
	t.Helper()
	be = fixtures.ForFixture(be, dir)
	m, err := model.Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if err := m.SetPrecision(p); err != nil {
		t.Fatal(err)
	}
	ref := readRef(t, filepath.Join(dir, "ref_forward.safetensors"))
	ids := fixtureIDs(t, dir)
	b, T := 2, len(ids)/2
	a, err := m.NewActs(b, T)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	if err := m.Forward(a, ids, []int{T, T}); err != nil {
		t.Fatal(err)
	}
	if e := RelErr(download(t, be, a.Logits()), ref["logits"]); !(e <= tol.Logits) {
		t.Errorf("%s logits: relative error %.3g > %.1e", p, e, tol.Logits)
	} else {
		t.Logf("%s logits: relative error %.3g", p, e)
	}
	targets, weights := nextToken(ids, b, T)
	m.ZeroGrads()
	loss, err := m.ForwardBackwardCE(a, ids, []int{T, T}, targets, weights, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e := math.Abs(loss-float64(ref["loss"][0])) / float64(ref["loss"][0]); !(e <= tol.Loss) {
		t.Errorf("%s loss %.7g, reference %.7g: relative error %.3g > %.1e", p, loss, ref["loss"][0], e, tol.Loss)
	}
	grads := readRef(t, filepath.Join(dir, "ref_grads.safetensors"))
	worst, worstName := 0.0, ""
	for _, s := range m.Specs {
		want, ok := grads[s.Name]
		if !ok {
			t.Errorf("no reference gradient for %s", s.Name)
			continue
		}
		e := RelErr(download(t, be, m.Grad(s.Name)), want)
		if !(e <= tol.Grads) {
			t.Errorf("%s gradient of %s: relative error %.3g > %.1e", p, s.Name, e, tol.Grads)
		}
		if e > worst {
			worst, worstName = e, s.Name
		}
	}
	t.Logf("%s loss %.7g (reference %.7g); worst gradient relative error %.3g (%s)", p, loss, ref["loss"][0], worst, worstName)
	if !tol.Greedy {
		return
	}
	after := readRef(t, filepath.Join(dir, "ref_adamw_step1.safetensors"))
	for _, s := range m.Specs {
		be.Upload(m.Param(s.Name), after[s.Name])
	}
	m.SyncComputeWeights()
	var meta struct {
		GreedyPrompt []int32 `json:"greedy_prompt"`
		GreedyOutput []int32 `json:"greedy_output"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "ref_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	want := meta.GreedyOutput[len(meta.GreedyPrompt):]
	out, err := m.Generate([][]int32{meta.GreedyPrompt, meta.GreedyPrompt[2:]}, model.GenerateOptions{MaxNewTokens: len(want)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if i >= len(out[0]) || out[0][i] != want[i] {
			t.Errorf("%s greedy continuation %v, reference %v", p, out[0], want)
			break
		}
	}
}

func readRef(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	ts, err := model.ReadTensors(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]float32, len(ts))
	for k, v := range ts {
		out[k] = v.Data
	}
	return out
}
