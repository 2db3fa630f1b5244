package optim

import (
	"math"
	"path/filepath"
	"sdzero/internal/fixtures"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
)

// fixturesDir returns ../shared/fixtures/name or skips the test.
func fixturesDir(t *testing.T, name string) string { t.Helper(); return fixtures.Path(t, name) }

func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range b {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / den)
}

// TestAdamWFixture applies one AdamW step from the reference gradients and
// compares every parameter with torch.optim.AdamW (weight decay on all
// parameters, as the fixture did).
func TestAdamWFixture(t *testing.T) {
	for _, name := range []string{"qwen3-tiny-tied", "qwen3-tiny-untied-bf16"} {
		t.Run(name, func(t *testing.T) {
			dir := fixturesDir(t, name)
			be := cpu.New(0)
			m, err := model.Load(dir, be)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			grads, err := model.ReadTensors(filepath.Join(dir, "ref_grads.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			after, err := model.ReadTensors(filepath.Join(dir, "ref_adamw_step1.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range m.Specs {
				be.Upload(m.Grad(s.Name), grads[s.Name].Data)
			}
			o, err := NewAdamW(m, Config{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, DecayNormsAndBiases: true})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Free()
			if _, err := o.Step(m, 1e-2, 0); err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for _, s := range m.Specs {
				got := make([]float32, s.N)
				be.Download(got, m.Param(s.Name))
				e := relErr(got, after[s.Name].Data)
				worst = max(worst, e)
				if e > 1e-5 {
					t.Errorf("%s: relative error %.3g > 1e-5", s.Name, e)
				}
			}
			t.Logf("worst relative error %.3g", worst)
		})
	}
}

// tinyModel builds a small random model.
func tinyModel(t *testing.T) (*model.Model, kernels.Backend) {
	be := cpu.New(1)
	cfg := &model.Config{Arch: "qwen2", VocabSize: 11, Hidden: 8, Intermediate: 12, Layers: 1, Heads: 2, KVHeads: 1,
		HeadDim: 4, RMSNormEps: 1e-6, RopeTheta: 10000, AttnBias: true, BOSTokenID: -1}
	m, err := model.New(cfg, be, 3)
	if err != nil {
		t.Fatal(err)
	}
	return m, be
}

// hostAdamW is a float64 reference of one torch.optim.AdamW step.
func hostAdamW(p, g, mm, v []float64, lr, b1, b2, eps, wd float64, step int, scale float64) {
	for i := range p {
		gi := g[i] * scale
		p[i] -= lr * wd * p[i]
		mm[i] = b1*mm[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		bc1 := 1 - math.Pow(b1, float64(step))
		bc2 := 1 - math.Pow(b2, float64(step))
		p[i] -= lr / bc1 * mm[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + eps)
	}
}

// TestAdamWDecayExemptAndClip checks three steps against a float64
// reference with norms and biases exempt from decay and clipping active.
func TestAdamWDecayExemptAndClip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		decayAll bool
		clip     float32
	}{{"exempt+clip", false, 0.5}, {"decay-all", true, 0}, {"exempt-no-clip", false, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			m, be := tinyModel(t)
			defer m.Free()
			o, err := NewAdamW(m, Config{Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.3, DecayNormsAndBiases: tc.decayAll})
			if err != nil {
				t.Fatal(err)
			}
			n := m.Params.N
			host := make([]float32, n)
			be.Download(host, m.Params)
			p, mm, v := make([]float64, n), make([]float64, n), make([]float64, n)
			for i := range p {
				p[i] = float64(host[i])
			}
			decay := make([]bool, n)
			for _, s := range m.Specs {
				for i := s.Off; i < s.Off+s.N; i++ {
					decay[i] = s.Decay || tc.decayAll
				}
			}
			for step := 1; step <= 3; step++ {
				g := make([]float32, n)
				g64 := make([]float64, n)
				var ss float64
				for _, s := range m.Specs {
					for i := s.Off; i < s.Off+s.N; i++ {
						g[i] = float32(math.Sin(float64(i*step)) * 0.7)
						g64[i] = float64(g[i])
						ss += g64[i] * g64[i]
					}
				}
				be.Upload(m.Grads, g)
				lr := Cosine(step-1, 1, 3, 0.05, 0.005)
				norm, err := o.Step(m, lr, tc.clip)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(norm-math.Sqrt(ss)) > 1e-4*math.Sqrt(ss) {
					t.Fatalf("step %d: norm %g, want %g", step, norm, math.Sqrt(ss))
				}
				scale := float64(ClipScale(math.Sqrt(ss), tc.clip))
				if tc.clip > 0 && scale >= 1 {
					t.Fatalf("test gradients too small to clip (norm %g)", norm)
				}
				for i := range p {
					wd := 0.0
					if decay[i] {
						wd = 0.3
					}
					hostAdamW(p[i:i+1], g64[i:i+1], mm[i:i+1], v[i:i+1], float64(lr), 0.9, 0.99, 1e-8, wd, step, scale)
				}
			}
			be.Download(host, m.Params)
			for _, s := range m.Specs {
				for i := s.Off; i < s.Off+s.N; i++ {
					if math.Abs(float64(host[i])-p[i]) > 2e-6*(1+math.Abs(p[i])) {
						t.Fatalf("%s[%d] = %g, want %g", s.Name, i-s.Off, host[i], p[i])
					}
				}
			}
			if o.Steps != 3 {
				t.Errorf("Steps = %d, want 3", o.Steps)
			}
		})
	}
}

func TestAdamWNonFinite(t *testing.T) {
	m, be := tinyModel(t)
	defer m.Free()
	o, err := NewAdamW(m, Config{LR: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	before := make([]float32, m.Params.N)
	be.Download(before, m.Params)
	g := make([]float32, m.Grads.N)
	g[0] = float32(math.NaN())
	be.Upload(m.Grads, g)
	if _, err := o.Step(m, 1e-3, 1); err != ErrNonFinite {
		t.Fatalf("err = %v, want ErrNonFinite", err)
	}
	after := make([]float32, m.Params.N)
	be.Download(after, m.Params)
	for i := range after {
		if after[i] != before[i] {
			t.Fatal("parameters changed on a non-finite gradient")
		}
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		name string
		got  float32
		want float64
	}{
		{"cosine warmup 0", Cosine(0, 4, 20, 1, 0.1), 0.25},
		{"cosine warmup 3", Cosine(3, 4, 20, 1, 0.1), 1},
		{"cosine start", Cosine(4, 4, 20, 1, 0.1), 1},
		{"cosine mid", Cosine(12, 4, 20, 1, 0.1), 0.55},
		{"cosine end", Cosine(20, 4, 20, 1, 0.1), 0.1},
		{"cosine after", Cosine(50, 4, 20, 1, 0.1), 0.1},
		{"linear mid", Linear(12, 4, 20, 1, 0), 0.5},
		{"linear end", Linear(20, 4, 20, 1, 0), 0},
		{"linear no warmup", Linear(0, 0, 10, 2, 0), 2},
		{"constant warm", Constant(1, 4, 2), 1},
		{"constant", Constant(9, 4, 2), 2},
	}
	for _, c := range cases {
		if math.Abs(float64(c.got)-c.want) > 1e-6 {
			t.Errorf("%s = %g, want %g", c.name, c.got, c.want)
		}
	}
}

// TestTrainStepFixture runs the whole chain on the fp32 fixture: the
// engine's own forward, loss and backward (ForwardBackwardCE), then one
// AdamW step, compared with the parameters PyTorch had after its step.
// Adam's first step is lr*g/(|g|+eps), which amplifies the ~1e-9 absolute
// gradient differences of elements whose gradient is near eps, so the
// tolerance is 1e-3 here (TestAdamWFixture checks the step itself at 1e-5
// from the reference gradients). The bf16 fixture is left out: its
// references use bf16-rounded RoPE frequencies (see model's fixture tests).
func TestTrainStepFixture(t *testing.T) {
	for _, name := range []string{"qwen3-tiny-tied"} {
		t.Run(name, func(t *testing.T) {
			dir := fixturesDir(t, name)
			be := cpu.New(0)
			m, err := model.Load(dir, be)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			ref, err := model.ReadTensors(filepath.Join(dir, "ref_forward.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			after, err := model.ReadTensors(filepath.Join(dir, "ref_adamw_step1.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			b, T := 2, 24
			ids := make([]int32, b*T)
			targets := make([]int32, b*T)
			for i, v := range ref["input_ids"].Data {
				ids[i] = int32(v)
			}
			for i := range targets {
				targets[i] = -1
				if i%T < T-1 {
					targets[i] = ids[i+1]
				}
			}
			a, err := m.NewActs(b, T)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Free()
			m.ZeroGrads()
			loss, err := m.ForwardBackwardCE(a, ids, []int{T, T}, targets, nil, 1/float32(b*(T-1)))
			if err != nil {
				t.Fatal(err)
			}
			if want := float64(ref["loss"].Data[0]) * float64(b*(T-1)); math.Abs(loss-want) > 1e-4*want {
				t.Errorf("summed loss %g, want %g", loss, want)
			}
			o, err := NewAdamW(m, Config{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, DecayNormsAndBiases: true})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Free()
			if _, err := o.Step(m, 1e-2, 0); err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for _, s := range m.Specs {
				got := make([]float32, s.N)
				be.Download(got, m.Param(s.Name))
				e := relErr(got, after[s.Name].Data)
				worst = max(worst, e)
				if e > 1e-3 {
					t.Errorf("%s: relative error %.3g > 1e-3", s.Name, e)
				}
			}
			t.Logf("worst relative error %.3g", worst)
		})
	}
}
