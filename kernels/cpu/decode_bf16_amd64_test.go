//go:build amd64

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// BenchmarkDecodeBF16Paired times decode-shaped BF16 products through the
// bf16 GEMM (gemm) and the decode kernel (decode: AMX, else AVX512_BF16
// dot products) one after the other, shape by shape, so that -count runs
// interleave them on a loaded machine.
func BenchmarkDecodeBF16Paired(b *testing.B) {
	if hostBF16() == bf16None {
		b.Skip("no bf16 unit")
	}
	for _, s := range []struct{ m, n, k int }{{8, 151936, 1024}, {8, 3072, 1024}, {8, 1024, 3072}, {8, 2048, 1024}, {16, 50304, 256}, {16, 1024, 256}, {32, 3072, 1024}} {
		be := NewBF16(benchThreads)
		x, _ := be.Alloc(kernels.BF16, s.m*s.k)
		w, _ := be.Alloc(kernels.BF16, s.n*s.k)
		c, _ := be.Alloc(kernels.F32, s.m*s.n)
		for _, on := range []bool{false, true} {
			name := "gemm"
			if on {
				name = "decode"
			}
			b.Run(fmt.Sprintf("m=%d,n=%d,k=%d/%s", s.m, s.n, s.k, name), func(b *testing.B) {
				defer func(v bool) { decodeBF16On = v }(decodeBF16On)
				decodeBF16On = on
				b.SetBytes(int64(2 * s.n * s.k))
				for b.Loop() {
					be.MatMul(c, x, w, s.m, s.n, s.k, false, true, 1, 0)
				}
			})
		}
	}
}

// decodeStep returns a function that runs the products of one Qwen3-0.6B
// decode step at batch 8 (28 layers of q, k, v, o, gate, up, down, then
// the head) on be, and the weight bytes it reads: 1.1 GiB of distinct
// weights, more than the last-level cache, so that every weight comes
// from memory as in generation.
func decodeStep(be *Backend) (func(), int64) {
	const m, layers = 8, 28
	type mm struct{ n, k int }
	var shapes []mm
	for range layers {
		shapes = append(shapes, mm{2048, 1024}, mm{1024, 1024}, mm{1024, 1024}, mm{1024, 2048}, mm{3072, 1024}, mm{3072, 1024}, mm{1024, 3072})
	}
	shapes = append(shapes, mm{151936, 1024})
	ws := make([]kernels.Tensor, len(shapes))
	var bytes int64
	for i, s := range shapes {
		ws[i], _ = be.Alloc(kernels.BF16, s.n*s.k)
		wv := u16("bench", ws[i], s.n*s.k)
		for j := range wv { // touched: real pages, not the shared zero page
			wv[j] = kernels.F32ToBF16(float32(j%13) - 6)
		}
		bytes += int64(2 * s.n * s.k)
	}
	x, _ := be.Alloc(kernels.BF16, m*3072)
	c, _ := be.Alloc(kernels.F32, m*151936)
	return func() {
		for i, s := range shapes {
			be.MatMul(c, x, ws[i], m, s.n, s.k, false, true, 1, 0)
		}
	}, bytes
}

// BenchmarkDecodeStepBF16 times decodeStep through the bf16 GEMM (gemm)
// and the decode kernel (decode), one after the other.
func BenchmarkDecodeStepBF16(b *testing.B) {
	if hostBF16() == bf16None {
		b.Skip("no bf16 unit")
	}
	be := NewBF16(benchThreads)
	step, bytes := decodeStep(be)
	for _, on := range []bool{false, true} {
		name := "gemm"
		if on {
			name = "decode"
		}
		b.Run(name, func(b *testing.B) {
			defer func(v bool) { decodeBF16On = v }(decodeBF16On)
			decodeBF16On = on
			b.SetBytes(bytes)
			for b.Loop() {
				step()
			}
		})
	}
}

// newKind returns a backend of the given threads with kind's bf16 unit.
func newKind(threads int, kind bf16Kind) *Backend {
	be := New(threads)
	be.enableBF16(kind)
	return be
}

// forKinds runs f as a subtest for every bf16 unit the host has (AMX and
// AVX512_BF16 on AMX machines), skipping where there is none.
func forKinds(t *testing.T, f func(t *testing.T, kind bf16Kind)) {
	kinds := bf16Kinds()
	if len(kinds) == 0 {
		t.Skip("no AMX or AVX512_BF16")
	}
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) { f(t, kind) })
	}
}

// bf16Rand returns n random normal values rounded to bf16, as bf16 bits
// and as their exact float64 values.
func bf16Rand(rng *rand.Rand, n int) ([]uint16, []float64) {
	h, f := make([]uint16, n), make([]float64, n)
	for i := range h {
		h[i] = kernels.F32ToBF16(float32(rng.NormFloat64()))
		f[i] = float64(kernels.BF16ToF32(h[i]))
	}
	return h, f
}

// TestDecodeGemmBF16 checks the decode product of each bf16 unit (AMX
// tiles, AVX512_BF16 dot products) against a float64 reference of the
// same bf16 values over odd shapes (m = 1..32 across the 16-column halves
// and 4-row tiles, n and k off the 16-row blocks and 32-wide k steps),
// with C overwritten and accumulated. The products accumulate in float32
// (TDPBF16PS then the k%32 tail in order, or VDPBF16PS lanes folded):
// tolerance 1e-5 of the sum of |products| plus 1e-6.
func TestDecodeGemmBF16(t *testing.T) { forKinds(t, testDecodeGemmBF16) }

func testDecodeGemmBF16(t *testing.T, kind bf16Kind) {
	rng := rand.New(rand.NewPCG(5, 6))
	be := newKind(2, kind)
	shapes := []struct{ m, n, k int }{{1, 1, 32}, {3, 17, 33}, {8, 64, 64}, {15, 100, 100}, {16, 16, 256}, {17, 33, 95}, {24, 130, 1031}, {32, 1000, 64}, {5, 4099, 96}}
	if kind == bf16AVX512 {
		// Dot products take any k, the whole of it a masked tail below 32.
		shapes = append(shapes, struct{ m, n, k int }{2, 9, 1}, struct{ m, n, k int }{7, 5, 31}, struct{ m, n, k int }{4, 8, 3072})
	}
	for _, s := range shapes {
		for _, add := range []bool{false, true} {
			x, xf := bf16Rand(rng, s.m*s.k)
			w, wf := bf16Rand(rng, s.n*s.k)
			c := make([]float32, s.m*s.n)
			c0 := make([]float32, len(c))
			for i := range c {
				c0[i] = float32(rng.NormFloat64())
			}
			copy(c, c0)
			if !be.decodeGemmBF16(c, x, w, s.m, s.n, s.k, add) {
				t.Fatalf("%+v: decodeGemmBF16 declined", s)
			}
			for i := range s.m {
				for j := range s.n {
					var want, mag float64
					for p := range s.k {
						pr := xf[i*s.k+p] * wf[j*s.k+p]
						want += pr
						mag += math.Abs(pr)
					}
					if add {
						want += float64(c0[i*s.n+j])
						mag += math.Abs(float64(c0[i*s.n+j]))
					}
					if d := math.Abs(float64(c[i*s.n+j]) - want); d > 1e-5*mag+1e-6 {
						t.Fatalf("%+v add %v: C[%d,%d] = %v, want %v (|products| %v)", s, add, i, j, c[i*s.n+j], want, mag)
					}
				}
			}
		}
	}
}

// TestDecodeGemmBF16Columns checks that output column j reads weight row
// j alone, the k%32 tail included: changing the last element of one row
// changes that column of C, in every row of x, and nothing else (a kernel
// that dropped the tail or mixed up rows fails).
func TestDecodeGemmBF16Columns(t *testing.T) { forKinds(t, testDecodeGemmBF16Columns) }

func testDecodeGemmBF16Columns(t *testing.T, kind bf16Kind) {
	rng := rand.New(rand.NewPCG(7, 8))
	be := newKind(2, kind)
	const m, n, k = 20, 70, 70
	x, _ := bf16Rand(rng, m*k)
	w, _ := bf16Rand(rng, n*k)
	before, after := make([]float32, m*n), make([]float32, m*n)
	be.decodeGemmBF16(before, x, w, m, n, k, false)
	for _, p := range []int{k - 1, 0, 40} {
		const j = 53
		w[j*k+p] = kernels.F32ToBF16(kernels.BF16ToF32(w[j*k+p]) + 64)
		be.decodeGemmBF16(after, x, w, m, n, k, false)
		for i := range m {
			for jj := range n {
				same := before[i*n+jj] == after[i*n+jj]
				if same == (jj == j) {
					t.Fatalf("k index %d: C[%d,%d] %v -> %v (only column %d should change)", p, i, jj, before[i*n+jj], after[i*n+jj], j)
				}
			}
		}
		copy(before, after)
	}
}

// TestDecodeGemmBF16Batch checks row invariance across the 16-column
// halves and the dispatch: through MatMul, each of 32 rows alone gives
// bit for bit what it gives in the batch of 32, and in batches of 17 and
// 9 (continuous batching), at 1 and 2 threads.
func TestDecodeGemmBF16Batch(t *testing.T) { forKinds(t, testDecodeGemmBF16Batch) }

func testDecodeGemmBF16Batch(t *testing.T, kind bf16Kind) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n, k = 300, 160
	xh, _ := bf16Rand(rng, 32*k)
	wh, _ := bf16Rand(rng, n*k)
	var ref []float32
	for _, threads := range []int{1, 2} {
		be := newKind(threads, kind)
		x, _ := be.Alloc(kernels.BF16, len(xh))
		w, _ := be.Alloc(kernels.BF16, len(wh))
		copy(u16("test", x, len(xh)), xh)
		copy(u16("test", w, len(wh)), wh)
		for _, m := range []int{32, 17, 9, 1} {
			for r0 := 0; r0+m <= 32; r0 += m {
				c, _ := be.Alloc(kernels.F32, m*n)
				be.MatMul(c, x.View(r0*k, m*k), w, m, n, k, false, true, 1, 0)
				got := make([]float32, m*n)
				be.Download(got, c)
				if ref == nil {
					ref = got
					continue
				}
				for i, v := range got {
					if math.Float32bits(v) != math.Float32bits(ref[r0*n+i]) {
						t.Fatalf("threads %d, batch of %d from row %d: element %d = %v, in the batch of 32 %v", threads, m, r0, i, v, ref[r0*n+i])
					}
				}
			}
		}
	}
}

// TestAttnScoresMix checks the assembly score and mix loops against the
// per-row dotBF16 and axpyBF16 calls they replace, bit for bit, and the
// portable loops with the vector routines off.
func TestAttnScoresMix(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, d := range []int{16, 48, 64, 80, 128, 40} {
		for _, rows := range []int{1, 2, 7, 33} {
			stride := 3*d + 5
			kv, _ := bf16Rand(rng, (rows-1)*stride+d)
			q := make([]float32, d)
			for i := range q {
				q[i] = float32(rng.NormFloat64())
			}
			p := make([]float32, rows)
			for i := range p {
				p[i] = float32(rng.Float64())
			}
			s := make([]float32, rows)
			attnScores(s, q, kv, stride, 0.3)
			y := make([]float32, d)
			copy(y, q)
			attnMix(y, p, kv, stride)
			wantY := append([]float32(nil), q...)
			for j := range rows {
				want := 0.3 * dotBF16(q, kv[j*stride:j*stride+d])
				if math.Float32bits(s[j]) != math.Float32bits(want) {
					t.Fatalf("d %d rows %d: score %d = %v, dotBF16 %v", d, rows, j, s[j], want)
				}
				axpyBF16(wantY, p[j], kv[j*stride:j*stride+d])
			}
			for i := range y {
				if math.Float32bits(y[i]) != math.Float32bits(wantY[i]) {
					t.Fatalf("d %d rows %d: y[%d] = %v, axpyBF16 %v", d, rows, i, y[i], wantY[i])
				}
			}
			// The portable loops (other architectures, no AVX-512).
			saved := hasBF16Vec
			hasBF16Vec = false
			s2, y2 := make([]float32, rows), append([]float32(nil), q...)
			attnScores(s2, q, kv, stride, 0.3)
			attnMix(y2, p, kv, stride)
			hasBF16Vec = saved
			for j := range s2 {
				if d := math.Abs(float64(s2[j] - s[j])); d > 1e-5*(1+math.Abs(float64(s[j]))) {
					t.Fatalf("portable score %d = %v, vector %v", j, s2[j], s[j])
				}
			}
			for i := range y2 {
				if d := math.Abs(float64(y2[i] - y[i])); d > 1e-5*(1+math.Abs(float64(y[i]))) {
					t.Fatalf("portable y[%d] = %v, vector %v", i, y2[i], y[i])
				}
			}
		}
	}
}

// TestGemmBF16RowInvariance checks what a prompt prefilled alone relies
// on: through MatMul, rows of x times a weight give bit for bit the same
// C rows in a batch of 300 rows (whole 32-row panels and an edge panel)
// as in smaller batches from 33 rows up, whatever panel a row lands in,
// with k long enough (1056) that the GEMM splits it into chunks, for each
// bf16 unit.
func TestGemmBF16RowInvariance(t *testing.T) { forKinds(t, testGemmBF16RowInvariance) }

func testGemmBF16RowInvariance(t *testing.T, kind bf16Kind) {
	rng := rand.New(rand.NewPCG(23, 24))
	const rows, n, k = 300, 70, 1056
	xh, _ := bf16Rand(rng, rows*k)
	wh, _ := bf16Rand(rng, n*k)
	be := newKind(2, kind)
	x, _ := be.Alloc(kernels.BF16, len(xh))
	w, _ := be.Alloc(kernels.BF16, len(wh))
	copy(u16("test", x, len(xh)), xh)
	copy(u16("test", w, len(wh)), wh)
	all, _ := be.Alloc(kernels.F32, rows*n)
	be.MatMul(all, x, w, rows, n, k, false, true, 1, 0)
	ref := make([]float32, rows*n)
	be.Download(ref, all)
	for _, c := range []struct{ r0, m int }{{0, 33}, {5, 40}, {40, 64}, {100, 70}, {263, 37}} {
		part, _ := be.Alloc(kernels.F32, c.m*n)
		be.MatMul(part, x.View(c.r0*k, c.m*k), w, c.m, n, k, false, true, 1, 0)
		got := make([]float32, c.m*n)
		be.Download(got, part)
		for i, v := range got {
			if math.Float32bits(v) != math.Float32bits(ref[c.r0*n+i]) {
				t.Fatalf("rows %d..%d alone: element %d = %v, in the batch of %d %v", c.r0, c.r0+c.m, i, v, rows, ref[c.r0*n+i])
			}
		}
	}
}
