// Package kernelstest is the conformance suite that every kernels.Backend
// runs: each op, forward and backward, against float64 references written
// here as plain loops, on seeded random inputs of awkward sizes. It uses the
// Backend interface only, so kernels/cpu and kernels/cuda run it unchanged:
//
//	func TestConformance(t *testing.T) {
//		kernelstest.Run(t, cpu.New(0), kernelstest.DefaultTolerances())
//	}
//
// Every tensor the suite hands to an op is a view at a non-zero offset into
// a larger allocation whose guard elements are checked afterwards, so
// backends must honour Tensor.Off and must not write outside a view.
//
// Conventions the interface leaves open and the suite pins down, so that
// backends agree with each other:
//   - MatMul with beta == 0 does not read C (NaN there is overwritten).
//   - Sample draws by inverse CDF over the kept ids in ascending id order:
//     the first id whose cumulative (unnormalised) mass exceeds u times the
//     kept mass. Top-k ties go to the lower id; top-p keeps the smallest
//     prefix, by descending probability, whose share reaches topP.
//   - Attention outputs at padded positions are zero; lse there is
//     unspecified.
//   - Embedding ids and CrossEntropy targets out of range are reported by
//     the next Sync, which then clears the error.
package kernelstest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// Tolerances are the relative errors the suite accepts per family of ops.
// An element passes when |got-want| <= tol*(|want| + rms(want)), so values
// near zero in a vector are judged on the vector's scale.
type Tolerances struct {
	// MatMul covers MatMul and MatMulBatched.
	MatMul float64
	// Elementwise covers RMSNorm, RoPE, SwiGLU, bias, AXPY and friends.
	Elementwise float64
	// Attention covers Attention and AttentionDecode outputs.
	Attention float64
	// AttentionBF16 covers Attention and AttentionBackward with BF16 q, k
	// and v (backends that Support BF16): the reference uses the same
	// bf16-rounded inputs, so this bounds the rounding of the
	// probabilities, dO and dS to bf16 inside the kernel.
	AttentionBF16 float64
	// Loss covers CrossEntropy, LogProbs and Distill values and gradients.
	Loss float64
	// Grad covers the backward ops (RMSNorm, attention, SwiGLU).
	Grad float64
	// AdamW covers parameters and moments after several AdamW steps.
	AdamW float64
}

// DefaultTolerances suits backends that compute in float32 throughout.
func DefaultTolerances() Tolerances {
	return Tolerances{MatMul: 2e-5, Elementwise: 1e-5, Attention: 3e-5, AttentionBF16: 3e-2, Loss: 2e-5, Grad: 5e-5, AdamW: 1e-5}
}

// BF16Tolerances suits GPU backends whose matrix products (and so
// attention) run on bfloat16 or TF32 tensor cores with float32 accumulation.
func BF16Tolerances() Tolerances {
	return Tolerances{MatMul: 2e-2, Elementwise: 1e-4, Attention: 3e-2, AttentionBF16: 3e-2, Loss: 1e-4, Grad: 3e-2, AdamW: 1e-5}
}

// Run tests every op of be against the float64 references.
func Run(t *testing.T, be kernels.Backend, tol Tolerances) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*h)
	}{
		{"Memory", testMemory},
		{"Convert", testConvert},
		{"Elementwise", testElementwise},
		{"SumSquares", testSumSquares},
		{"MatMul", testMatMul},
		{"MatMulBatched", testMatMulBatched},
		{"Bias", testBias},
		{"Embedding", testEmbedding},
		{"GatherRows", testGatherRows},
		{"RMSNorm", testRMSNorm},
		{"RoPE", testRoPE},
		{"Attention", testAttention},
		{"AttentionBF16", testAttentionBF16},
		{"AttentionDecode", testAttentionDecode},
		{"CacheWrite", testCacheWrite},
		{"SwiGLU", testSwiGLU},
		{"CrossEntropy", testCrossEntropy},
		{"LogProbs", testLogProbs},
		{"Distill", testDistill},
		{"Sample", testSample},
		{"AdamW", testAdamW},
		{"Errors", testErrors},
		// Last: a case added before others would shift their random inputs.
		{"AttentionWindow", testAttentionWindow},
		{"MatMulDecode", testMatMulDecode},
		{"MatMulBF16", testMatMulBF16},
		{"FusedAdamW", testFusedAdamW},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := &h{t: t, be: be, tol: tol, rng: rand.New(rand.NewPCG(uint64(i)+1, 0x5d2e20))}
			defer x.free()
			tc.fn(x)
			x.checkGuards()
			if err := be.Sync(); err != nil {
				t.Fatalf("Sync after %s: %v", tc.name, err)
			}
		})
	}
}

// guard is the value written around every view the suite allocates.
const guard = -1234.5

// alloc is one allocation with guards around a view.
type alloc struct {
	name   string
	whole  kernels.Tensor
	off, n int
	dtype  kernels.DType
	snap   []float32 // the whole allocation right after the guards went in
	snapI  []int32
}

// h carries the state of one subtest.
type h struct {
	t      *testing.T
	be     kernels.Backend
	tol    Tolerances
	rng    *rand.Rand
	allocs []alloc
}

func (x *h) free() {
	for _, a := range x.allocs {
		x.be.Free(a.whole)
	}
	x.allocs = nil
}

// view allocates n elements of dtype d as a view at a small non-zero offset
// with guard elements on both sides.
func (x *h) view(name string, d kernels.DType, n int) kernels.Tensor {
	x.t.Helper()
	head := 1 + x.rng.IntN(7)
	tail := 1 + x.rng.IntN(7)
	whole, err := x.be.Alloc(d, head+n+tail)
	if err != nil {
		x.t.Fatalf("Alloc %s (%v, %d): %v", name, d, n, err)
	}
	switch d {
	case kernels.I32:
		g := make([]int32, head+n+tail)
		for i := range g {
			g[i] = -777
		}
		x.be.UploadInt32(whole, g)
	default:
		g := make([]float32, head+n+tail)
		for i := range g {
			g[i] = guard
		}
		x.be.Upload(whole, g)
	}
	a := alloc{name: name, whole: whole, off: head, n: n, dtype: d}
	if d == kernels.I32 {
		a.snapI = x.geti(whole)
	} else {
		a.snap = x.get(whole)
	}
	x.allocs = append(x.allocs, a)
	return whole.View(head, n)
}

// checkGuards fails if any op wrote outside the views the suite handed out.
func (x *h) checkGuards() {
	x.t.Helper()
	for _, a := range x.allocs {
		n := a.whole.N
		bad := -1
		switch a.dtype {
		case kernels.I32:
			v := make([]int32, n)
			x.be.DownloadInt32(v, a.whole)
			for i, e := range v {
				if (i < a.off || i >= a.off+a.n) && e != a.snapI[i] {
					bad = i
					break
				}
			}
		default:
			v := make([]float32, n)
			x.be.Download(v, a.whole)
			for i, e := range v {
				if (i < a.off || i >= a.off+a.n) && math.Float32bits(e) != math.Float32bits(a.snap[i]) {
					bad = i
					break
				}
			}
		}
		if bad >= 0 {
			x.t.Errorf("tensor %s: element %d outside the view [%d,%d) was overwritten", a.name, bad, a.off, a.off+a.n)
		}
	}
}

// f32 uploads vals into a fresh guarded F32 view.
func (x *h) f32(name string, vals []float32) kernels.Tensor {
	t := x.view(name, kernels.F32, len(vals))
	x.be.Upload(t, vals)
	return t
}

// i32 uploads vals into a fresh guarded I32 view.
func (x *h) i32(name string, vals []int32) kernels.Tensor {
	t := x.view(name, kernels.I32, len(vals))
	x.be.UploadInt32(t, vals)
	return t
}

// get downloads an F32 tensor.
func (x *h) get(t kernels.Tensor) []float32 {
	v := make([]float32, t.N)
	x.be.Download(v, t)
	return v
}

// geti downloads an I32 tensor.
func (x *h) geti(t kernels.Tensor) []int32 {
	v := make([]int32, t.N)
	x.be.DownloadInt32(v, t)
	return v
}

// randn returns n normal values times s (never all zero).
func (x *h) randn(n int, s float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(x.rng.NormFloat64() * s)
	}
	if n > 0 && allZero(v) {
		v[0] = float32(s)
	}
	return v
}

// randu returns n uniform values in [lo,hi).
func (x *h) randu(n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*x.rng.Float64())
	}
	return v
}

func allZero(v []float32) bool {
	for _, e := range v {
		if e != 0 {
			return false
		}
	}
	return true
}

func f64s(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, e := range v {
		o[i] = float64(e)
	}
	return o
}

// near compares got with the float64 reference want.
func (x *h) near(what string, got []float32, want []float64, tol float64) {
	x.t.Helper()
	if len(got) != len(want) {
		x.t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var ss float64
	for _, w := range want {
		ss += w * w
	}
	rms := math.Sqrt(ss / float64(max(1, len(want))))
	if rms == 0 {
		// All wanted values are exactly zero (a gradient whose O(1) terms
		// cancel, say): float32 leaves a residue of their rounding, so
		// bound it absolutely, as if the values' scale were 1e-3.
		rms = 1e-3
	}
	worst, wi := 0.0, -1
	nbad := 0
	for i, g := range got {
		w := want[i]
		d := math.Abs(float64(g) - w)
		lim := tol * (math.Abs(w) + rms)
		if math.IsNaN(float64(g)) != math.IsNaN(w) || (!math.IsNaN(w) && !(d <= lim)) {
			if math.IsInf(w, 0) && float64(g) == w {
				continue
			}
			nbad++
			r := d / math.Max(lim, 1e-300)
			if wi < 0 || r > worst || math.IsNaN(r) {
				worst, wi = r, i
			}
		}
	}
	if nbad > 0 {
		x.t.Errorf("%s: %d of %d values off (tol %.1e); worst [%d] got %.9g want %.9g (%.3gx tol)",
			what, nbad, len(got), tol, wi, got[wi], want[wi], worst)
	}
}

// exact compares float32 values bit for bit.
// relRMS fails when ||got - want|| > tol * ||want|| (skipped when want is
// all zero).
func (x *h) relRMS(what string, got []float32, want []float64, tol float64) {
	x.t.Helper()
	var num, den float64
	for i, w := range want {
		d := float64(got[i]) - w
		num += d * d
		den += w * w
	}
	if den == 0 {
		return
	}
	if r := math.Sqrt(num / den); !(r <= tol) {
		x.t.Errorf("%s: relative RMS error %.3g > %.1e", what, r, tol)
	} else if testing.Verbose() {
		x.t.Logf("%s: relative RMS error %.3g", what, r)
	}
}

func (x *h) exact(what string, got, want []float32) {
	x.t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			x.t.Errorf("%s: [%d] got %v want %v (and maybe more)", what, i, got[i], want[i])
			return
		}
	}
}

// expectPanic fails unless fn panics.
func (x *h) expectPanic(what string, fn func()) {
	x.t.Helper()
	defer func() {
		if recover() == nil {
			x.t.Errorf("%s: no panic on misuse", what)
		}
	}()
	fn()
}

// fd returns the central finite difference of f at v[i].
func fd(f func() float64, v []float64, i int) float64 {
	const eps = 1e-6
	old := v[i]
	v[i] = old + eps
	a := f()
	v[i] = old - eps
	b := f()
	v[i] = old
	return (a - b) / (2 * eps)
}

// checkFD compares an analytic float64 gradient with finite differences of
// the float64 forward at a few coordinates (validating the suite's own
// references, which the backend is then held to).
func (x *h) checkFD(what string, f func() float64, v, grad []float64, picks int) {
	x.t.Helper()
	for range picks {
		i := x.rng.IntN(len(v))
		num := fd(f, v, i)
		if d := math.Abs(num - grad[i]); d > 1e-5*(1+math.Abs(num)) {
			x.t.Errorf("%s: reference gradient [%d] = %.9g but finite difference %.9g", what, i, grad[i], num)
		}
	}
}

func sprint(a ...any) string { return fmt.Sprint(a...) }
