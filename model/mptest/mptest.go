// Package mptest checks the model's mixed-precision (bf16) mode against the
// F32 CPU reference. It is a test helper shared by the model's tests (on
// BF16CPU) and the CUDA backend's tests (on its CPU emulator), in the
// spirit of net/http/httptest.
package mptest

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"sdzero/internal/fixtures"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
)

// BF16CPU returns the CPU backend extended to accept BF16 MatMul inputs: it
// widens BF16 operands to F32 (exactly) and multiplies in F32, which is
// what a BF16 GEMM with F32 accumulation computes up to summation order.
// It lets the mixed-precision model code run, and be checked, without a
// GPU; it is not meant to be fast.
func BF16CPU(threads int) kernels.Backend { return bf16CPU{cpu.New(threads)} }

type bf16CPU struct{ *cpu.Backend }

// Supports adds BF16 to the CPU backend's dtypes.
func (b bf16CPU) Supports(d kernels.DType) bool { return d == kernels.BF16 || b.Backend.Supports(d) }

// MatMul widens BF16 operands and multiplies in F32.
func (b bf16CPU) MatMul(c, a, bm kernels.Tensor, m, n, k int, transA, transB bool, alpha, beta float32) {
	a, fa := b.widen(a)
	defer fa()
	bm, fb := b.widen(bm)
	defer fb()
	b.Backend.MatMul(c, a, bm, m, n, k, transA, transB, alpha, beta)
}

// MatMulBatched widens BF16 operands and multiplies in F32.
func (b bf16CPU) MatMulBatched(c, a, bm kernels.Tensor, batch, m, n, k int, transA, transB bool, alpha, beta float32, strideA, strideB, strideC int) {
	a, fa := b.widen(a)
	defer fa()
	bm, fb := b.widen(bm)
	defer fb()
	b.Backend.MatMulBatched(c, a, bm, batch, m, n, k, transA, transB, alpha, beta, strideA, strideB, strideC)
}

// Attention widens BF16 q, k and v and attends in F32.
func (b bf16CPU) Attention(out, lse, q, k, v, lens kernels.Tensor, bsz, t, hq, hkv, d int, scale float32, window int) {
	q, fq := b.widen(q)
	defer fq()
	k, fk := b.widen(k)
	defer fk()
	v, fv := b.widen(v)
	defer fv()
	b.Backend.Attention(out, lse, q, k, v, lens, bsz, t, hq, hkv, d, scale, window)
}

// AttentionBackward widens BF16 q, k and v.
func (b bf16CPU) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens kernels.Tensor, bsz, t, hq, hkv, d int, scale float32, window int) {
	q, fq := b.widen(q)
	defer fq()
	k, fk := b.widen(k)
	defer fk()
	v, fv := b.widen(v)
	defer fv()
	b.Backend.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens, bsz, t, hq, hkv, d, scale, window)
}

// AttentionDecode widens BF16 caches.
func (b bf16CPU) AttentionDecode(out, q, kc, vc, lens kernels.Tensor, bsz, tmax, hq, hkv, d int, scale float32, window int) {
	kc, fk := b.widen(kc)
	defer fk()
	vc, fv := b.widen(vc)
	defer fv()
	b.Backend.AttentionDecode(out, q, kc, vc, lens, bsz, tmax, hq, hkv, d, scale, window)
}

// CacheWrite writes BF16 rows into a BF16 cache through F32 copies (exact:
// every value is a bf16 value).
func (b bf16CPU) CacheWrite(cache, x, start kernels.Tensor, bsz, t, tmax, width int) {
	if cache.DType != kernels.BF16 {
		b.Backend.CacheWrite(cache, x, start, bsz, t, tmax, width)
		return
	}
	wc, fc := b.widen(cache)
	defer fc()
	wx, fx := b.widen(x)
	defer fx()
	b.Backend.CacheWrite(wc, wx, start, bsz, t, tmax, width)
	b.Convert(cache, wc)
}

// RMSNorm computes in F32 and rounds a BF16 out.
func (b bf16CPU) RMSNorm(out, rstd, x, w kernels.Tensor, rows, dim int, eps float32) {
	o, done := b.narrowed(out)
	b.Backend.RMSNorm(o, rstd, x, w, rows, dim, eps)
	done()
}

// SwiGLU computes in F32 and rounds a BF16 out.
func (b bf16CPU) SwiGLU(out, gate, up kernels.Tensor, n int) {
	o, done := b.narrowed(out)
	b.Backend.SwiGLU(o, gate, up, n)
	done()
}

// CrossEntropy computes in F32 and rounds a BF16 dlogits.
func (b bf16CPU) CrossEntropy(loss, dlogits, logits, targets, w kernels.Tensor, rows, vocab int, gscale float32) {
	d, done := b.narrowed(dlogits)
	b.Backend.CrossEntropy(loss, d, logits, targets, w, rows, vocab, gscale)
	done()
}

// Distill computes in F32 and rounds a BF16 dstudent.
func (b bf16CPU) Distill(loss, dstudent, s, t, w kernels.Tensor, rows, vocab int, p kernels.DistillParams, gscale float32) {
	d, done := b.narrowed(dstudent)
	b.Backend.Distill(loss, d, s, t, w, rows, vocab, p, gscale)
	done()
}

// narrowed returns an F32 stand-in for a BF16 output and a function that
// rounds it into the output; F32 outputs are used as they are.
func (b bf16CPU) narrowed(out kernels.Tensor) (kernels.Tensor, func()) {
	if !out.Valid() || out.DType != kernels.BF16 {
		return out, func() {}
	}
	w, err := b.Alloc(kernels.F32, out.N)
	if err != nil {
		panic("mptest: F32 stand-in for a BF16 output: " + err.Error())
	}
	return w, func() { b.Convert(out, w); b.Free(w) }
}

func (b bf16CPU) widen(t kernels.Tensor) (kernels.Tensor, func()) {
	if t.DType != kernels.BF16 {
		return t, func() {}
	}
	w, err := b.Alloc(kernels.F32, t.N)
	if err != nil {
		panic("mptest: widen BF16 operand: " + err.Error())
	}
	b.Convert(w, t)
	return w, func() { b.Free(w) }
}

// FixtureDir returns ../shared/fixtures/name relative to the repository
// root, or skips the test when it is absent.
func FixtureDir(t testing.TB, name string) string { t.Helper(); return fixtures.Path(t, name) }

// Tolerances bound a bf16 run's relative errors (||x-ref|| / ||ref||)
// against the F32 reference.
type Tolerances struct {
	// Logits of a forward pass; Loss the mean next-token cross-entropy.
	Logits, Loss float64
	// Grads bounds each parameter's gradient.
	Grads float64
	// Trajectory bounds the loss at each of Steps AdamW steps (0: 4).
	Trajectory float64
	Steps      int
}

// DefaultTolerances are the bounds BF16 operands (8 significant bits, a
// relative rounding error of 2^-9 per operand) with F32 accumulation meet
// with margin on small models.
var DefaultTolerances = Tolerances{Logits: 2e-2, Loss: 1e-2, Grads: 5e-2, Trajectory: 2e-2}

// CheckFixture loads the Hugging Face model in dir (a fixture with
// ref_forward.safetensors holding input_ids [2,T]) on the CPU backend in
// F32 and on be in PrecisionBF16, and checks within tol: the logits, the
// mean next-token cross-entropy, every parameter's gradient, and the loss
// over a few AdamW steps on the same batch (which must also decrease).
func CheckFixture(t *testing.T, be kernels.Backend, dir string, tol Tolerances) {
	t.Helper()
	ref := load(t, cpu.New(0), dir, model.PrecisionF32)
	low := load(t, be, dir, model.PrecisionBF16)
	ids := fixtureIDs(t, dir)
	check(t, ref, low, ids, 2, len(ids)/2, tol)
}

// CheckRandom is CheckFixture for a model of configuration cfg initialised
// by model.New(cfg, _, seed), on b random rows of T tokens: for shapes the
// fixtures lack, such as the head dims of real models (64, 128) that take
// the GPU's tensor-core attention.
func CheckRandom(t *testing.T, be kernels.Backend, cfg *model.Config, seed uint64, b, T int, tol Tolerances) {
	t.Helper()
	mk := func(be kernels.Backend, p model.Precision) *model.Model {
		m, err := model.New(cfg, be, seed)
		return inPrecision(t, m, err, p)
	}
	ref, low := mk(cpu.New(0), model.PrecisionF32), mk(be, model.PrecisionBF16)
	rng := rand.New(rand.NewPCG(seed, 7))
	ids := make([]int32, b*T)
	for i := range ids {
		ids[i] = int32(rng.IntN(cfg.VocabSize))
	}
	check(t, ref, low, ids, b, T, tol)
}

// TensorCoreConfig is a small Qwen3-style configuration (2 layers, GQA,
// q/k norm, vocabulary 97) with head dim headDim, for CheckRandom.
func TensorCoreConfig(headDim int) *model.Config {
	return &model.Config{Arch: "qwen3", VocabSize: 97, Hidden: 96, Intermediate: 128, Layers: 2, Heads: 4, KVHeads: 2,
		HeadDim: headDim, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 256, BOSTokenID: -1, QKNorm: true}
}

// check compares the F32 model ref and the BF16 model low (same weights)
// on b full rows of T tokens ids.
func check(t *testing.T, ref, low *model.Model, ids []int32, b, T int, tol Tolerances) {
	t.Helper()
	lens := make([]int, b)
	for i := range lens {
		lens[i] = T
	}
	acts := func(m *model.Model) *model.Acts {
		a, err := m.NewActs(b, T)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Free)
		return a
	}
	ra, la := acts(ref), acts(low)

	// Forward.
	logits := func(m *model.Model, a *model.Acts) []float32 {
		if err := m.Forward(a, ids, lens); err != nil {
			t.Fatal(err)
		}
		return download(t, m.BE, a.Logits())
	}
	if e := RelErr(logits(low, la), logits(ref, ra)); !(e < tol.Logits) {
		t.Errorf("bf16 logits: relative error %.3g, want < %.3g", e, tol.Logits)
	} else {
		t.Logf("bf16 logits: relative error %.3g", e)
	}

	// Loss and gradients.
	targets, weights := nextToken(ids, b, T)
	step := func(m *model.Model, a *model.Acts) float64 {
		m.ZeroGrads()
		loss, err := m.ForwardBackwardCE(a, ids, lens, targets, weights, 1)
		if err != nil {
			t.Fatal(err)
		}
		return loss
	}
	rl, ll := step(ref, ra), step(low, la)
	if e := math.Abs(ll-rl) / math.Abs(rl); !(e < tol.Loss) {
		t.Errorf("bf16 loss %.6f vs F32 %.6f: relative error %.3g, want < %.3g", ll, rl, e, tol.Loss)
	}
	worst, worstName := 0.0, ""
	for _, s := range ref.Specs {
		g := download(t, ref.BE, ref.Grad(s.Name))
		if e := RelErr(download(t, low.BE, low.Grad(s.Name)), g); !(e < tol.Grads) {
			t.Errorf("bf16 gradient of %s: relative error %.3g, want < %.3g", s.Name, e, tol.Grads)
		} else if e > worst {
			worst, worstName = e, s.Name
		}
	}
	t.Logf("bf16 loss %.6f vs F32 %.6f; worst gradient relative error %.3g (%s)", ll, rl, worst, worstName)

	// A few AdamW steps on the same batch; the BF16 copies follow the
	// masters through SyncComputeWeights.
	adam := func(m *model.Model) func(int) {
		mom, err := m.BE.Alloc(kernels.F32, m.Params.N)
		if err != nil {
			t.Fatal(err)
		}
		vel, err := m.BE.Alloc(kernels.F32, m.Params.N)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.BE.Free(mom); m.BE.Free(vel) })
		return func(s int) {
			m.BE.AdamW(m.Params, m.Grads, mom, vel, m.Params.N,
				kernels.AdamWParams{LR: 3e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: s, GradScale: 1})
			m.SyncComputeWeights()
		}
	}
	ru, lu := adam(ref), adam(low)
	first := ll
	steps := tol.Steps
	if steps <= 0 {
		steps = 4
	}
	for s := 1; s <= steps; s++ {
		ru(s)
		lu(s)
		rl, ll = step(ref, ra), step(low, la)
		if e := math.Abs(ll-rl) / math.Abs(rl); !(e < tol.Trajectory) {
			t.Errorf("step %d: bf16 loss %.6f vs F32 %.6f: relative error %.3g, want < %.3g", s, ll, rl, e, tol.Trajectory)
		}
	}
	if !(ll < first) {
		t.Errorf("bf16 loss went from %.6f to %.6f in %d AdamW steps on one batch, want a decrease", first, ll, steps)
	}
	t.Logf("after %d AdamW steps: bf16 loss %.6f vs F32 %.6f", steps, ll, rl)
}

func load(t *testing.T, be kernels.Backend, dir string, p model.Precision) *model.Model {
	t.Helper()
	m, err := model.Load(dir, be)
	return inPrecision(t, m, err, p)
}

// inPrecision fails on err, frees m at the test's end and switches it to p.
func inPrecision(t *testing.T, m *model.Model, err error, p model.Precision) *model.Model {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Free)
	if err := m.SetPrecision(p); err != nil {
		t.Fatal(err)
	}
	return m
}

func fixtureIDs(t *testing.T, dir string) []int32 {
	t.Helper()
	ts, err := model.ReadTensors(filepath.Join(dir, "ref_forward.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	in, ok := ts["input_ids"]
	if !ok || len(in.Data)%2 != 0 || len(in.Data) == 0 {
		t.Fatalf("%s: ref_forward.safetensors: want input_ids [2,T]", dir)
	}
	ids := make([]int32, len(in.Data))
	for i, v := range in.Data {
		ids[i] = int32(v)
	}
	return ids
}

// nextToken returns the targets and weights of the mean next-token
// cross-entropy over b full rows of T tokens.
func nextToken(ids []int32, b, T int) ([]int32, []float32) {
	targets := make([]int32, b*T)
	weights := make([]float32, b*T)
	w := 1 / float32(b*(T-1))
	for r := 0; r < b; r++ {
		for i := 0; i < T; i++ {
			targets[r*T+i] = -1
			if i+1 < T {
				targets[r*T+i], weights[r*T+i] = ids[r*T+i+1], w
			}
		}
	}
	return targets, weights
}

func download(t *testing.T, be kernels.Backend, x kernels.Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.N)
	be.Download(out, x)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	return out
}

// RelErr is ||a-b|| / ||b|| in float64 (||a-b|| when b is zero).
func RelErr(a, b []float32) float64 {
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

// tieTol is the logit gap under which CheckGenerate takes a differing
// argmax for a near-tie (bf16 logits of a random model are O(1), their
// rounding step about 2e-3 at 0.4; a near-tie seen: 1.5e-4).
const tieTol = 5e-3

// logitOf is lg[id], or NaN for an id out of range.
func logitOf(lg []float32, id int32) float32 {
	if id < 0 || int(id) >= len(lg) {
		return float32(math.NaN())
	}
	return lg[id]
}

// CheckGenerate checks PrecisionBF16 decoding (BF16 KV cache, decode
// attention, graphs where be records them) against the model's own BF16
// full forward: greedy Generate on b prompts must give, token by token,
// the argmax of Forward's logits at the last position of the prompt plus
// the tokens so far. Both read the same bf16 keys and values; only the
// query's rounding differs, so a random model's argmax agrees.
func CheckGenerate(t *testing.T, be kernels.Backend, cfg *model.Config, seed uint64, prompts [][]int32, steps int) {
	t.Helper()
	m, err := model.New(cfg, be, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Free)
	if err := m.SetPrecision(model.PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	got, err := m.Generate(prompts, model.GenerateOptions{MaxNewTokens: steps})
	if err != nil {
		t.Fatal(err)
	}
	maxLen := 0
	for _, p := range prompts {
		maxLen = max(maxLen, len(p)+steps)
	}
	a, err := m.NewInferActs(1, maxLen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Free)
	V := cfg.VocabSize
	for r, p := range prompts {
		seq := append([]int32(nil), p...)
		for i := 0; i < steps; i++ {
			if err := m.Forward(a, seq, []int{len(seq)}); err != nil {
				t.Fatal(err)
			}
			lg := download(t, be, a.Logits())
			last := lg[(len(seq)-1)*V : len(seq)*V]
			best := 0
			for j, v := range last {
				if v > last[best] {
					best = j
				}
			}
			if i >= len(got[r]) {
				t.Fatalf("row %d: Generate gave %d tokens, want %d", r, len(got[r]), steps)
			}
			// The decode step and the full forward sum in different orders
			// (a skinny-M product against a blocked GEMM), and bf16 rounds
			// what follows, so a near-tie may resolve either way. Accept
			// Generate's token only when its full-forward logit is within
			// tieTol of the best one; a wrong cache or mask moves logits
			// by far more.
			g := got[r][i]
			if g != int32(best) && !(g >= 0 && int(g) < V && last[best]-last[g] <= tieTol) {
				t.Fatalf("row %d step %d: Generate gave %v, full forward argmax %d (logit %.5f vs %.5f; tokens so far %v)",
					r, i, got[r], best, last[best], logitOf(last, g), seq[len(p):])
			}
			seq = append(seq, g)
		}
	}
}
