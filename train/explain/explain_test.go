package explain

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/kernels/cpu"
	"sdzero/model"
)

func tinyConfig() *model.Config {
	return &model.Config{
		Arch: "qwen3", VocabSize: 50, Hidden: 16, Intermediate: 32, Layers: 2,
		Heads: 2, KVHeads: 1, HeadDim: 8, RMSNormEps: 1e-6, RopeTheta: 10000,
		TieEmbeddings: true, QKNorm: true, MaxPositions: 128, BOSTokenID: -1,
	}
}

// TestAnalyseKnownDistributions checks one position against hand-computed
// values: two-token distributions whose KLs have closed forms.
func TestAnalyseKnownDistributions(t *testing.T) {
	// Student p = (0.8, 0.2), teacher q = (0.5, 0.5) over two ids.
	s := []float32{float32(math.Log(0.8)), float32(math.Log(0.2))}
	q := []float32{0, 0}
	fwd := 0.5*math.Log(0.5/0.8) + 0.5*math.Log(0.5/0.2)
	rev := 0.8*math.Log(0.8/0.5) + 0.2*math.Log(0.2/0.5)
	tests := []struct {
		div  string
		fw   float64
		want float64
	}{
		{"forward", 0, fwd},
		{"reverse", 0, rev},
		{"mixed", 0.5, 0.5*fwd + 0.5*rev},
		{"mixed", 0.25, 0.25*fwd + 0.75*rev},
	}
	for _, tc := range tests {
		opt := Options{Divergence: tc.div, ForwardWeight: tc.fw}
		if err := checkOptions(&opt); err != nil {
			t.Fatal(err)
		}
		tk, err := analyse(s, q, 1, 0, opt)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(tk.KL-tc.want) > 1e-6 {
			t.Errorf("%s fw %v: KL %v, want %v", tc.div, tc.fw, tk.KL, tc.want)
		}
		if math.Abs(tk.TokenReward-(math.Log(0.2)-math.Log(0.5))) > 1e-6 {
			t.Errorf("token reward %v, want log(0.2/0.5)", tk.TokenReward)
		}
		if tk.ProbeID != 0 || math.Abs(tk.StudentProbeProb-0.8) > 1e-6 || math.Abs(tk.TeacherProbeProb-0.5) > 1e-6 {
			t.Errorf("probe of id 0: %v %v %v, want 0.8 and 0.5", tk.ProbeID, tk.StudentProbeProb, tk.TeacherProbeProb)
		}
		if tk.StudentTop[0].ID != 0 || math.Abs(tk.StudentTop[0].Prob-0.8) > 1e-6 {
			t.Errorf("student top %+v, want id 0 at 0.8", tk.StudentTop)
		}
	}
}

// TestTopKRestriction: with top-k, both distributions are renormalised over
// the teacher's k largest ids, as kernels.DistillParams defines.
func TestTopKRestriction(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s, q := make([]float32, 40), make([]float32, 40)
	for i := range s {
		s[i], q[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()*2)
	}
	opt := Options{Divergence: "mixed", TopK: 5, ForwardWeight: 0.5}
	if err := checkOptions(&opt); err != nil {
		t.Fatal(err)
	}
	tk, err := analyse(s, q, 3, -1, opt)
	if err != nil {
		t.Fatal(err)
	}
	// Independent computation over the top 5 teacher ids.
	ids := topIDs(f64(q), 5)
	var zs, zq float64
	for _, i := range ids {
		zs += math.Exp(float64(s[i]))
		zq += math.Exp(float64(q[i]))
	}
	var fwd, rev float64
	for _, i := range ids {
		p := math.Exp(float64(s[i])) / zs
		r := math.Exp(float64(q[i])) / zq
		fwd += r * math.Log(r/p)
		rev += p * math.Log(p/r)
	}
	if want := 0.5*fwd + 0.5*rev; math.Abs(tk.KL-want) > 1e-9 {
		t.Errorf("top-5 KL %v, want %v", tk.KL, want)
	}
	// topIDs agrees with a full sort.
	l := f64(q)
	for k := 1; k <= 40; k += 13 {
		got := topIDs(l, k)
		for j := 1; j < len(got); j++ {
			if l[got[j]] > l[got[j-1]] {
				t.Fatalf("topIDs(%d) not sorted: %v", k, got)
			}
		}
		for i := range l {
			in := false
			for _, g := range got {
				in = in || g == i
			}
			if !in && l[i] > l[got[len(got)-1]] {
				t.Fatalf("topIDs(%d) misses id %d", k, i)
			}
		}
	}
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// TestExplainModels runs real models: the sampled-token log-probs match
// model.TokenLogProbs (an independent path through the model), and a teacher
// that is the student on the same context has zero KL everywhere.
func TestExplainModels(t *testing.T) {
	be := cpu.New(2)
	student, err := model.New(tinyConfig(), be, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer student.Free()
	teacher, err := model.New(tinyConfig(), be, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer teacher.Free()
	prompt := []int32{1, 5, 9, 2}
	resp := []int32{7, 11, 3, 49}
	sIDs := append(append([]int32{}, prompt...), resp...)
	tIDs := append(append([]int32{}, prompt...), 7, 11, 3, 20, 21, 7, 11, 3, 49)
	in := Input{StudentIDs: sIDs, TeacherIDs: tIDs, Response: resp, Stop: []int32{49},
		Decode: func(ids []int32) string { return strings.Repeat("x", int(ids[0])%3) }}
	rep, err := Explain(student, teacher, in, Options{Divergence: "mixed", TopK: 10, ForwardWeight: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	want := func(m *model.Model, ids []int32) []float32 {
		a, err := m.NewInferActs(1, len(ids))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Free()
		targets := append(append([]int32{}, ids[1:]...), -1)
		lp, err := m.TokenLogProbs(a, ids, []int{len(ids)}, targets)
		if err != nil {
			t.Fatal(err)
		}
		return lp[len(ids)-1-len(resp) : len(ids)-1]
	}
	ws, wt := want(student, sIDs), want(teacher, tIDs)
	for i, tk := range rep.Tokens {
		if math.Abs(tk.StudentLogProb-float64(ws[i])) > 1e-4 || math.Abs(tk.TeacherLogProb-float64(wt[i])) > 1e-4 {
			t.Errorf("token %d: log-probs %v/%v, TokenLogProbs %v/%v", i, tk.StudentLogProb, tk.TeacherLogProb, ws[i], wt[i])
		}
		if tk.KL <= 0 || tk.ForwardKL <= 0 || tk.ReverseKL <= 0 {
			t.Errorf("token %d: different models give KL %v/%v/%v, want > 0", i, tk.KL, tk.ForwardKL, tk.ReverseKL)
		}
	}
	if !rep.Tokens[3].Stop || rep.Tokens[0].Stop {
		t.Errorf("stop flags wrong: %+v", rep.Tokens)
	}
	if s := rep.StopKLShare; math.Abs(s-rep.Tokens[3].KL/rep.TotalKL) > 1e-12 {
		t.Errorf("stop share %v, want %v", s, rep.Tokens[3].KL/rep.TotalKL)
	}
	same, err := Explain(student, student, Input{StudentIDs: sIDs, TeacherIDs: sIDs, Response: resp}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, tk := range same.Tokens {
		if tk.KL > 1e-9 || math.Abs(tk.TokenReward) > 1e-9 {
			t.Errorf("identical model and context, token %d: KL %v reward %v", i, tk.KL, tk.TokenReward)
		}
	}
	// Files: JSON round-trips, the PNG decodes, the HTML names every token.
	dir := t.TempDir()
	paths, err := rep.WriteFiles(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	b, _ := os.ReadFile(paths[0])
	if err := json.Unmarshal(b, &back); err != nil || len(back.Tokens) != 4 {
		t.Fatalf("explain.json: %v (%d tokens)", err, len(back.Tokens))
	}
	f, err := os.Open(paths[2])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("explain.png: %v", err)
	}
	h, _ := os.ReadFile(paths[1])
	if !bytes.Contains(h, []byte("<!DOCTYPE html>")) || bytes.Count(h, []byte(`class="t`)) != 2*len(resp) ||
		bytes.Contains(h, []byte("<script")) {
		t.Errorf("explain.html: unexpected structure (%d token spans)", bytes.Count(h, []byte(`class="t`)))
	}
}

func TestExplainErrors(t *testing.T) {
	be := cpu.New(1)
	m, err := model.New(tinyConfig(), be, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	tests := []struct {
		in   Input
		opt  Options
		want string
	}{
		{Input{StudentIDs: []int32{1, 2}, TeacherIDs: []int32{1, 2}}, Options{}, "empty response"},
		{Input{StudentIDs: []int32{1, 2}, TeacherIDs: []int32{1, 2}, Response: []int32{3}}, Options{}, "not the end"},
		{Input{StudentIDs: []int32{3}, TeacherIDs: []int32{1, 3}, Response: []int32{3}}, Options{}, "longer than"},
		{Input{StudentIDs: []int32{1, 3}, TeacherIDs: []int32{1, 3}, Response: []int32{3}}, Options{Divergence: "js"}, "divergence"},
		{Input{StudentIDs: []int32{1, 3}, TeacherIDs: []int32{1, 3}, Response: []int32{3}}, Options{Temperature: math.NaN()}, "temperature"},
	}
	for _, tc := range tests {
		if _, err := Explain(m, m, tc.in, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Explain(%+v, %+v) = %v, want error with %q", tc.in, tc.opt, err, tc.want)
		}
	}
}
