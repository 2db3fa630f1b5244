package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sdzero/internal/fixtures"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
)

// testBackend is the CPU backend the tests run on.
func testBackend() kernels.Backend { return cpu.New(0) }

// fixturesDir returns ../shared/fixtures/name or skips the test.
func fixturesDir(t testing.TB, name string) string { t.Helper(); return fixtures.Path(t, name) }

// readTensors reads every tensor of a safetensors file as float32.
func readTensors(t testing.TB, path string) map[string][]float32 {
	t.Helper()
	ts, err := ReadTensors(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for k, v := range ts {
		out[k] = v.Data
	}
	return out
}

// relErr is ||a-b|| / ||b|| in float64.
func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range b {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func download(be kernels.Backend, t kernels.Tensor) []float32 {
	out := make([]float32, t.N)
	be.Download(out, t)
	return out
}

// refMeta is the subset of ref_meta.json the tests use.
type refMeta struct {
	Loss         float64  `json:"loss"`
	GreedyPrompt []int32  `json:"greedy_prompt"`
	GreedyOutput []int32  `json:"greedy_output"`
	ParamNames   []string `json:"param_names"`
	AdamW        struct {
		LR          float32    `json:"lr"`
		Betas       [2]float32 `json:"betas"`
		Eps         float32    `json:"eps"`
		WeightDecay float32    `json:"weight_decay"`
	} `json:"adamw"`
}

func readMeta(t testing.TB, dir string) refMeta {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "ref_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m refMeta
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// shiftedCE runs the HF causal-LM loss (mean cross-entropy of next-token
// prediction over the real positions) on a's logits for a batch of b rows
// of t tokens; with grad it overwrites the logits with d(loss)/d(logits).
// It returns the loss.
func shiftedCE(t testing.TB, m *Model, a *Acts, ids []int32, lens []int, grad bool) float64 {
	t.Helper()
	be := m.BE
	b := len(lens)
	T := len(ids) / b
	n := b * T
	targets := make([]int32, n)
	w := make([]float32, n)
	count := 0
	for r := 0; r < b; r++ {
		for i := 0; i < T; i++ {
			targets[r*T+i] = -1
			if i+1 < lens[r] {
				targets[r*T+i] = ids[r*T+i+1]
				count++
			}
		}
	}
	for i := range w {
		if targets[i] >= 0 {
			w[i] = 1 / float32(count)
		}
	}
	tg, _ := be.Alloc(kernels.I32, n)
	wt, _ := be.Alloc(kernels.F32, n)
	loss, _ := be.Alloc(kernels.F32, n)
	defer be.Free(tg)
	defer be.Free(wt)
	defer be.Free(loss)
	be.UploadInt32(tg, targets)
	be.Upload(wt, w)
	logits := a.Logits()
	var dl kernels.Tensor
	if grad {
		dl = logits
	}
	be.CrossEntropy(loss, dl, logits, tg, wt, n, m.Cfg.VocabSize, 1)
	var sum float64
	for _, v := range download(be, loss) {
		sum += float64(v)
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	return sum
}

// tinyConfig returns a small random-test config of the given family.
func tinyConfig(arch string) *Config {
	c := &Config{Arch: arch, VocabSize: 97, Hidden: 32, Intermediate: 48, Layers: 2, Heads: 4, KVHeads: 2,
		HeadDim: 8, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 64, BOSTokenID: -1}
	switch arch {
	case "qwen3":
		c.QKNorm = true
		c.HeadDim = 12 // heads*head_dim (48) != hidden (32), as in real Qwen3
	case "qwen2":
		c.AttnBias = true
	case "llama":
		c.AttnBias, c.OBias, c.MLPBias = true, true, true
		c.KVHeads = 1
		c.HeadDim = 16
		c.Heads = 2
	case "olmo2", "olmo3":
		c.QKNorm, c.QKNormFull, c.PostNorm = true, true, true
		c.HeadDim = 12 // q width 48 != hidden 32
		c.RMSNormEps = 1e-5
		if arch == "olmo3" {
			// Sliding layers around a full one with YaRN, as Olmo-3 has
			// them: W = 3 is shorter than the tests' sequences.
			c.Layers = 3
			c.LayerTypes = []string{SlidingAttention, FullAttention, SlidingAttention}
			c.SlidingWindow = 3
			c.RopeScaling = tinyYarn()
			c.SlidingRope = &Rope{Theta: c.RopeTheta}
		}
	}
	return c
}

// tinyYarn is YaRN over an original context of 2048 at theta 10000 and
// head dim 12: correction range [1, 4], so the ramp has interior values
// (1/3, 2/3) besides pure extrapolation and interpolation.
func tinyYarn() *RopeScaling {
	return &RopeScaling{Type: "yarn", Factor: 4, OriginalMaxPositions: 2048, BetaFast: 32, BetaSlow: 1,
		AttentionFactor: 0.1*math.Log(4) + 1}
}

// randomize fills every parameter (biases and norms included) with values
// that make all gradients non-trivial.
func randomize(t testing.TB, m *Model, seed uint64) {
	t.Helper()
	r := newLCG(seed)
	for _, s := range m.Specs {
		host := make([]float32, s.N)
		for i := range host {
			if !s.Decay { // norms and biases
				if filepath.Ext(s.Name) == ".bias" {
					host[i] = 0.1 * (2*r.float() - 1)
				} else {
					host[i] = 0.5 + r.float()
				}
			} else {
				host[i] = 0.15 * (2*r.float() - 1)
			}
		}
		m.BE.Upload(m.Params.View(s.Off, s.N), host)
	}
}

// lcg is a tiny deterministic generator for test data.
type lcg struct{ s uint64 }

func newLCG(seed uint64) *lcg { return &lcg{seed*6364136223846793005 + 1442695040888963407} }

func (l *lcg) next() uint64 {
	l.s = l.s*6364136223846793005 + 1442695040888963407
	return l.s >> 11
}

func (l *lcg) float() float32 { return float32(l.next()>>29) / float32(1<<24) }

func (l *lcg) intn(n int) int { return int(l.next() % uint64(n)) }
