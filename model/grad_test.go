package model

import (
	"fmt"
	"math"
	"testing"

	"sdzero/kernels"
)

// lossProblem is a fixed weighted next-token loss on a padded batch.
type lossProblem struct {
	ids     []int32
	lens    []int
	targets kernels.Tensor
	weights kernels.Tensor
	loss    kernels.Tensor
	n       int
}

func newLossProblem(t *testing.T, m *Model, b, T int, lens []int, seed uint64) *lossProblem {
	be := m.BE
	r := newLCG(seed)
	p := &lossProblem{ids: make([]int32, b*T), lens: lens, n: b * T}
	tg := make([]int32, b*T)
	w := make([]float32, b*T)
	var sum float32
	for row := 0; row < b; row++ {
		for i := 0; i < T; i++ {
			j := row*T + i
			p.ids[j] = int32(r.intn(m.Cfg.VocabSize))
			tg[j] = -1
			if i < lens[row] {
				tg[j] = int32(r.intn(m.Cfg.VocabSize))
				w[j] = 0.5 + r.float()
				sum += w[j]
			}
		}
	}
	for i := range w {
		w[i] /= sum
	}
	var err error
	if p.targets, err = be.Alloc(kernels.I32, b*T); err != nil {
		t.Fatal(err)
	}
	p.weights, _ = be.Alloc(kernels.F32, b*T)
	p.loss, _ = be.Alloc(kernels.F32, b*T)
	be.UploadInt32(p.targets, tg)
	be.Upload(p.weights, w)
	return p
}

func (p *lossProblem) free(be kernels.Backend) {
	be.Free(p.targets)
	be.Free(p.weights)
	be.Free(p.loss)
}

// eval runs the forward and returns the loss summed in float64; with grad
// it also backpropagates into m.Grads (zeroed first).
func (p *lossProblem) eval(t *testing.T, m *Model, a *Acts, grad bool) float64 {
	be := m.BE
	if err := m.Forward(a, p.ids, p.lens); err != nil {
		t.Fatal(err)
	}
	var dl kernels.Tensor
	if grad {
		dl = a.Logits()
	}
	be.CrossEntropy(p.loss, dl, a.Logits(), p.targets, p.weights, p.n, m.Cfg.VocabSize, 1)
	if grad {
		m.ZeroGrads()
		if err := m.Backward(a, a.Logits()); err != nil {
			t.Fatal(err)
		}
	}
	var s float64
	for _, v := range download(be, p.loss) {
		s += float64(v)
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFiniteDifferences checks every parameter's gradient against central
// differences of the loss along two unit directions per tensor: the
// gradient's own direction (catches scale and sign errors) and a random
// direction over a few elements (catches misplaced entries). The loss is
// O(1) and its float32 noise ~1e-7, so perturbations of norm 1e-2 and
// Richardson extrapolation give derivatives accurate to ~1e-4 relative.
func TestFiniteDifferences(t *testing.T) {
	// "llama-rope3": Llama with Llama 3.1's RoPE scaling (RoPEFreqs in the
	// forward and, inverted, in the backward). "olmo2": post-sublayer
	// norms and full-width q/k norms; "olmo3" adds sliding windows shorter
	// than the rows and YaRN (scaled frequencies, attention factor) on the
	// full layer.
	for _, arch := range []string{"qwen3", "qwen2", "llama", "llama-rope3", "olmo2", "olmo3"} {
		for _, tied := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/tied=%v", arch, tied), func(t *testing.T) {
				be := testBackend()
				var cfg *Config
				if arch == "llama-rope3" {
					cfg = tinyConfig("llama")
					cfg.RopeScaling = &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 64}
				} else {
					cfg = tinyConfig(arch)
				}
				cfg.TieEmbeddings = tied
				m, err := New(cfg, be, 1)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Free()
				randomize(t, m, 11)
				b, T := 2, 7
				p := newLossProblem(t, m, b, T, []int{7, 4}, 5)
				defer p.free(be)
				a, err := m.NewActs(b, T)
				if err != nil {
					t.Fatal(err)
				}
				defer a.Free()
				p.eval(t, m, a, true)
				grads := download(be, m.Grads)
				params := download(be, m.Params)
				rng := newLCG(99)
				const eps = 1e-2
				worst := 0.0
				for _, s := range m.Specs {
					g := grads[s.Off : s.Off+s.N]
					var gn float64
					for _, v := range g {
						gn += float64(v) * float64(v)
					}
					gn = math.Sqrt(gn)
					if gn == 0 {
						t.Errorf("%s: zero gradient", s.Name)
						continue
					}
					dirs := [][]float64{make([]float64, s.N), make([]float64, s.N)}
					for i, v := range g {
						dirs[0][i] = float64(v) / gn
					}
					var rn float64
					for k := 0; k < min(8, s.N); k++ {
						i := rng.intn(s.N)
						dirs[1][i] = float64(rng.float()) - 0.5
						rn += dirs[1][i] * dirs[1][i]
					}
					for i := range dirs[1] {
						dirs[1][i] /= math.Sqrt(rn)
					}
					for di, u := range dirs {
						var ana float64
						for i := range u {
							ana += float64(g[i]) * u[i]
						}
						f := func(h float64) float64 {
							pp := make([]float32, s.N)
							for i := range pp {
								pp[i] = float32(float64(params[s.Off+i]) + h*u[i])
							}
							be.Upload(m.Params.View(s.Off, s.N), pp)
							return p.eval(t, m, a, false)
						}
						// Central differences at eps and eps/2 combined by
						// Richardson extrapolation (error O(eps^4)).
						d1 := (f(eps) - f(-eps)) / (2 * eps)
						d2 := (f(eps/2) - f(-eps/2)) / eps
						num := (4*d2 - d1) / 3
						be.Upload(m.Params.View(s.Off, s.N), params[s.Off:s.Off+s.N])
						// Error relative to the gradient's norm (the largest
						// directional derivative), floored at 0.02: the
						// numeric noise is ~1e-5 absolute, which dominates
						// for near-zero gradients such as k_proj biases
						// (softmax is almost shift-invariant in them).
						e := math.Abs(num-ana) / math.Max(gn, 0.02)
						worst = max(worst, e)
						if e > 2e-3 {
							t.Errorf("%s direction %d: analytic %.6g, numeric %.6g (|g| %.3g, err %.3g)", s.Name, di, ana, num, gn, e)
						}
					}
				}
				t.Logf("worst directional error %.3g", worst)
			})
		}
	}
}

// TestForwardBackwardCE checks the chunked loss path against Forward +
// CrossEntropy + Backward, with a chunk smaller than the batch.
func TestForwardBackwardCE(t *testing.T) {
	for _, tied := range []bool{true, false} {
		be := testBackend()
		cfg := tinyConfig("qwen2")
		cfg.TieEmbeddings = tied
		m, err := New(cfg, be, 4)
		if err != nil {
			t.Fatal(err)
		}
		randomize(t, m, 12)
		b, T := 3, 5
		lens := []int{5, 2, 4}
		p := newLossProblem(t, m, b, T, lens, 9)
		a, _ := m.NewActs(b, T)
		want := p.eval(t, m, a, true)
		be.Scale(m.Grads, 0.5, m.Grads.N) // gscale 0.5 below
		ref := download(be, m.Grads)
		tg := make([]int32, b*T)
		w := make([]float32, b*T)
		be.DownloadInt32(tg, p.targets)
		be.Download(w, p.weights)
		a2, _ := m.NewActs(b, T)
		a2.chunkRows = 4 // force several chunks
		if err := a2.ensureChunk(); err != nil {
			t.Fatal(err)
		}
		m.ZeroGrads()
		got, err := m.ForwardBackwardCE(a2, p.ids, lens, tg, w, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-6*math.Abs(want) {
			t.Errorf("tied=%v: loss %g, want %g", tied, got, want)
		}
		if e := relErr(download(be, m.Grads), ref); e > 1e-6 {
			t.Errorf("tied=%v: gradients differ by %.3g", tied, e)
		}
		a.Free()
		a2.Free()
		p.free(be)
		m.Free()
	}
}
