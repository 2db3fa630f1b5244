package cuda

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
)

// These tests cover what the conformance suite does not reach, on the
// emulator (TestEmulated*) and on a GPU (TestGPU*) against the CPU backend: the large-vocabulary sampling and
// top-k paths, ties, 16-bit and mixed-dtype GEMMs, the allocator and error
// reporting.

// pair holds the same inputs on the CUDA (emulated) and CPU backends.
type pair struct {
	t       *testing.T
	gpu     *Backend
	cpu     kernels.Backend
	rng     *rand.Rand
	tensors []kernels.Tensor
}

func newPair(t *testing.T, be *Backend) *pair {
	p := &pair{t: t, gpu: be, cpu: cpu.New(1), rng: rand.New(rand.NewPCG(7, 11))}
	t.Cleanup(func() {
		for _, x := range p.tensors {
			p.gpu.Free(x)
		}
	})
	return p
}

func (p *pair) f32(v []float32) (kernels.Tensor, kernels.Tensor) {
	return p.up(kernels.F32, v)
}

func (p *pair) up(d kernels.DType, v []float32) (kernels.Tensor, kernels.Tensor) {
	p.t.Helper()
	g, err := p.gpu.Alloc(d, len(v))
	if err != nil {
		p.t.Fatal(err)
	}
	p.tensors = append(p.tensors, g)
	c, err := p.cpu.Alloc(kernels.F32, len(v))
	if err != nil {
		p.t.Fatal(err)
	}
	p.gpu.Upload(g, v)
	// The CPU copy holds exactly the values the GPU tensor holds.
	back := make([]float32, len(v))
	p.gpu.Download(back, g)
	p.cpu.Upload(c, back)
	return g, c
}

func (p *pair) i32(v []int32) (kernels.Tensor, kernels.Tensor) {
	g, _ := p.gpu.Alloc(kernels.I32, len(v))
	p.tensors = append(p.tensors, g)
	c, _ := p.cpu.Alloc(kernels.I32, len(v))
	p.gpu.UploadInt32(g, v)
	p.cpu.UploadInt32(c, v)
	return g, c
}

func (p *pair) randn(n int, s float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(p.rng.NormFloat64() * s)
	}
	return v
}

func (p *pair) sync() {
	p.t.Helper()
	if err := p.gpu.Sync(); err != nil {
		p.t.Fatalf("gpu Sync: %v", err)
	}
	if err := p.cpu.Sync(); err != nil {
		p.t.Fatalf("cpu Sync: %v", err)
	}
}

// near compares the two backends' F32 tensors (first n elements).
func (p *pair) near(what string, g, c kernels.Tensor, n int, tol float64) {
	p.t.Helper()
	p.sync()
	a, b := make([]float32, n), make([]float32, n)
	p.gpu.Download(a, g)
	p.cpu.Download(b, c)
	var ss float64
	for _, x := range b {
		ss += float64(x) * float64(x)
	}
	rms := math.Sqrt(ss / float64(max(n, 1)))
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if !(d <= tol*(math.Abs(float64(b[i]))+rms)) {
			p.t.Errorf("%s [%d]: cuda %v cpu %v", what, i, a[i], b[i])
			return
		}
	}
}

func (p *pair) ids(g, c kernels.Tensor, n int) ([]int32, []int32) {
	p.sync()
	a, b := make([]int32, n), make([]int32, n)
	p.gpu.DownloadInt32(a, g)
	p.cpu.DownloadInt32(b, c)
	return a, b
}

func TestEmulatedSampleLargeVocab(t *testing.T) { checkSampleLargeVocab(t, newEmulated(t)) }

// TestGPUSampleLargeVocab is the same check on the GPU.
func TestGPUSampleLargeVocab(t *testing.T) { checkSampleLargeVocab(t, gpuBackend(t, false)) }

func checkSampleLargeVocab(t *testing.T, be *Backend) {
	p := newPair(t, be)
	rows, vocab := 4, 3000
	l := p.randn(rows*vocab, 2.5)
	// Ties across the top: equal logits must be ordered by id.
	for r := range rows {
		for j := 0; j < 40; j += 3 {
			l[r*vocab+j*37] = 9
		}
	}
	lg, lc := p.f32(l)
	mismatches, draws := 0, 0
	for _, temp := range []float32{0, 0.6, 1, 1.7} {
		for _, k := range []int{0, 1, 20, 700, 1500, 2999, 3000, 5000} {
			for _, topP := range []float32{1, 0.95, 0.5, 0.05} {
				u := make([]float32, rows)
				for i := range u {
					u[i] = p.rng.Float32()
				}
				u[0], u[rows-1] = 0, 0.99999
				ug, uc := p.f32(u)
				og, oc := p.i32(make([]int32, rows))
				p.gpu.Sample(og, lg, ug, rows, vocab, temp, k, topP)
				p.cpu.Sample(oc, lc, uc, rows, vocab, temp, k, topP)
				a, b := p.ids(og, oc, rows)
				for r := range rows {
					draws++
					if a[r] != b[r] {
						mismatches++
						t.Logf("temp %v topK %d topP %v u %v row %d: cuda %d cpu %d", temp, k, topP, u[r], r, a[r], b[r])
					}
				}
			}
		}
	}
	// The CPU sums masses in another order; a draw within rounding of a
	// CDF boundary may differ, but never more than rarely.
	if mismatches > draws/50 {
		t.Errorf("%d of %d draws differ from the CPU backend", mismatches, draws)
	}
}

func TestEmulatedDistillLargeVocab(t *testing.T) { checkDistillLargeVocab(t, newEmulated(t)) }

// TestGPUDistillLargeVocab is the same check on the GPU.
func TestGPUDistillLargeVocab(t *testing.T) { checkDistillLargeVocab(t, gpuBackend(t, false)) }

func checkDistillLargeVocab(t *testing.T, be *Backend) {
	p := newPair(t, be)
	rows, vocab := 3, 2500
	s, tt := p.randn(rows*vocab, 2), p.randn(rows*vocab, 2)
	for j := 0; j < 300; j += 7 {
		tt[vocab+j] = 4 // ties in the teacher's top-k of row 1
	}
	sg, sc := p.f32(s)
	tg, tc := p.f32(tt)
	wg, wc := p.f32([]float32{1, 0.5, 0})
	for _, prm := range []kernels.DistillParams{
		{Temp: 1, TopK: 0, ForwardWeight: 0.3},
		{Temp: 0.7, TopK: 100, ForwardWeight: 0},
		{Temp: 1.3, TopK: 1024, ForwardWeight: 1},
		{Temp: 1, TopK: 43, ForwardWeight: 0.5},
		{Temp: 0.9, TopK: 1500, ForwardWeight: 0.4},
		{Temp: 1, TopK: 2499, ForwardWeight: 0.6},
	} {
		lg, lc := p.f32(make([]float32, rows))
		dg, dc := p.f32(p.randn(rows*vocab, 1))
		p.gpu.Distill(lg, dg, sg, tg, wg, rows, vocab, prm, 0.5)
		p.cpu.Distill(lc, dc, sc, tc, wc, rows, vocab, prm, 0.5)
		p.near("Distill loss", lg, lc, rows, 1e-4)
		p.near("Distill grad", dg, dc, rows*vocab, 1e-4)
	}
}

func TestEmulatedLossAndRoPE(t *testing.T) { checkLossAndRoPE(t, newEmulated(t)) }

// TestGPULossAndRoPE is the same check on the GPU.
func TestGPULossAndRoPE(t *testing.T) { checkLossAndRoPE(t, gpuBackend(t, false)) }

// checkLossAndRoPE: optional w/loss tensors, aliasing, out-of-order rows,
// and RoPE at long-context positions.
func checkLossAndRoPE(t *testing.T, be *Backend) {
	p := newPair(t, be)
	rows, vocab := 3, 5000
	l := p.randn(rows*vocab, 3)
	lg, lc := p.f32(l)
	tg, tc := p.i32([]int32{4999, -1, 17})
	lossG, lossC := p.f32(make([]float32, rows))
	dG, dC := p.f32(make([]float32, rows*vocab))
	p.gpu.CrossEntropy(lossG, dG, lg, tg, kernels.Tensor{}, rows, vocab, 0.5)
	p.cpu.CrossEntropy(lossC, dC, lc, tc, kernels.Tensor{}, rows, vocab, 0.5)
	p.near("CrossEntropy loss (no w)", lossG, lossC, rows, 1e-5)
	p.near("CrossEntropy grad (no w)", dG, dC, rows*vocab, 1e-5)
	// No loss tensor; the gradient overwrites the logits.
	p.gpu.CrossEntropy(kernels.Tensor{}, lg, lg, tg, kernels.Tensor{}, rows, vocab, 1)
	p.cpu.CrossEntropy(kernels.Tensor{}, lc, lc, tc, kernels.Tensor{}, rows, vocab, 1)
	p.near("CrossEntropy aliased grad", lg, lc, rows*vocab, 1e-5)
	s2, _ := p.f32(l)
	_, t2 := p.f32(l)
	og, oc := p.f32(make([]float32, rows))
	p.gpu.LogProbs(og, s2, tg, rows, vocab)
	p.cpu.LogProbs(oc, t2, tc, rows, vocab)
	p.near("LogProbs", og, oc, rows, 1e-5)

	tokens, heads, hd := 5, 3, 128
	x := p.randn(tokens*heads*hd, 1)
	xg, xc := p.f32(x)
	pg, pc := p.i32([]int32{0, 1, 4095, 32767, 131071})
	for _, inverse := range []bool{false, true} {
		p.gpu.RoPE(xg, pg, tokens, heads, hd, 1e6, inverse)
		p.cpu.RoPE(xc, pc, tokens, heads, hd, 1e6, inverse)
		p.near("RoPE long positions", xg, xc, tokens*heads*hd, 1e-5)
	}
}

func TestEmulatedMatMul16(t *testing.T) { checkMatMul16(t, newEmulated(t)) }

// TestGPUMatMul16 is the same check on the GPU.
func TestGPUMatMul16(t *testing.T) { checkMatMul16(t, gpuBackend(t, false)) }

func checkMatMul16(t *testing.T, be *Backend) {
	p := newPair(t, be)
	m, n, k := 7, 9, 13
	for _, da := range []kernels.DType{kernels.F32, kernels.BF16, kernels.F16} {
		for _, db := range []kernels.DType{kernels.F32, kernels.BF16, kernels.F16} {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				ag, ac := p.up(da, p.randn(m*k, 1))
				bg, bc := p.up(db, p.randn(k*n, 1))
				c0 := p.randn(m*n, 1)
				cg, cc := p.f32(c0)
				p.gpu.MatMul(cg, ag, bg, m, n, k, tr[0], tr[1], 0.5, 2)
				p.cpu.MatMul(cc, ac, bc, m, n, k, tr[0], tr[1], 0.5, 2)
				p.near("MatMul "+da.String()+"x"+db.String(), cg, cc, m*n, 1e-5)
			}
		}
	}
	// Batched with a 16-bit operand and k = 0 (C = beta*C).
	ag, ac := p.up(kernels.BF16, p.randn(3*m*k, 1))
	bg, bc := p.up(kernels.F32, p.randn(3*k*n, 1))
	cg, cc := p.f32(p.randn(3*m*n, 1))
	p.gpu.MatMulBatched(cg, ag, bg, 3, m, n, k, false, true, 1, 1, m*k, k*n, m*n)
	p.cpu.MatMulBatched(cc, ac, bc, 3, m, n, k, false, true, 1, 1, m*k, k*n, m*n)
	p.near("MatMulBatched mixed", cg, cc, 3*m*n, 1e-5)
	p.gpu.MatMul(cg, ag, bg, m, n, 0, false, false, 1, 0.5)
	p.cpu.MatMul(cc, ac, bc, m, n, 0, false, false, 1, 0.5)
	p.near("MatMul k=0", cg, cc, m*n, 0)
}

func TestEmulatedMemoryAndErrors(t *testing.T) { checkMemoryAndErrors(t, newEmulated(t)) }

// TestGPUMemoryAndErrors is the same check on the GPU.
func TestGPUMemoryAndErrors(t *testing.T) { checkMemoryAndErrors(t, gpuBackend(t, false)) }

func checkMemoryAndErrors(t *testing.T, be *Backend) {
	a, err := be.Alloc(kernels.F32, 1000)
	if err != nil {
		t.Fatal(err)
	}
	s0 := be.MemoryStats()
	be.Free(a)
	b, _ := be.Alloc(kernels.F32, 900) // same size class: from the cache
	s1 := be.MemoryStats()
	if s1.CacheHits != s0.CacheHits+1 || s1.DeviceAllocs != s0.DeviceAllocs {
		t.Errorf("cache not used: before %+v after %+v", s0, s1)
	}
	got := make([]float32, 900)
	be.Download(got, b)
	for i, v := range got {
		if v != 0 {
			t.Fatalf("reused block not zero-filled at %d: %v", i, v)
		}
	}
	if err := be.ReleaseCache(); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, "use after Free", "used after Free", func() { be.Fill(a, 1) })
	mustPanic(t, "free a view", "view", func() { be.Free(b.View(1, 3)) })
	mustPanic(t, "foreign tensor", "backend", func() {
		c, _ := cpu.New(1).Alloc(kernels.F32, 4)
		be.Fill(c, 1)
	})
	mustPanic(t, "dtype", "is I32", func() {
		ids, _ := be.Alloc(kernels.I32, 4)
		be.Scale(ids, 2, 4)
	})
	// A device-side range error is reported once, naming the op.
	tab, _ := be.Alloc(kernels.F32, 8)
	ids, _ := be.Alloc(kernels.I32, 2)
	be.UploadInt32(ids, []int32{0, 9})
	out, _ := be.Alloc(kernels.F32, 8)
	be.GatherRows(out, tab, ids, 2, 4)
	if err := be.Sync(); err == nil || !strings.Contains(err.Error(), "GatherRows") {
		t.Errorf("Sync after a bad index: %v", err)
	}
	if err := be.Sync(); err != nil {
		t.Errorf("second Sync: %v", err)
	}
	if st := be.MemoryStats(); st.InUseBytes <= 0 || st.TotalDeviceBytes == 0 {
		t.Errorf("stats %+v", st)
	}
}

func mustPanic(t *testing.T, what, want string, fn func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", what)
		} else if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Errorf("%s: panic %q lacks %q", what, msg, want)
		}
	}()
	fn()
}
