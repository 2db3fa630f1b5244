package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// swigluOld is SwiGLU and SwiGLUBackward as they were before the AVX-512
// routines: the same chunks and blocks, expSubScaled per block and the
// scalar loops. The new kernels must round bit for bit as these do.
func swigluOld(threads int, o, dg, du, d, g, u []float32) {
	n := len(g)
	k := min((n+(1<<13)-1)/(1<<13), threads)
	e := make([]float32, 4096)
	for w := range max(k, 1) {
		lo, hi := w*n/max(k, 1), (w+1)*n/max(k, 1)
		for b := lo; b < hi; b += 4096 {
			bh := min(hi, b+4096)
			expSubScaled(e[:bh-b], g[b:bh], 0, -1)
			for i := b; i < bh; i++ {
				x := g[i]
				sig := 1 / (1 + e[i-b])
				o[i] = float32(x*sig) * u[i]
				dy := d[i]
				du[i] = dy * (x * sig)
				dg[i] = dy * u[i] * (sig * (1 + x*(1-sig)))
			}
		}
	}
}

// TestSwiGLUBitIdentical: SwiGLU (F32 and BF16 out) and SwiGLUBackward
// match swigluOld bit for bit at sizes around the vector width, the block
// and the chunk grain, on 1 to 3 threads, with large, tiny and special
// gate values (the exponential's clamps, ±0, ±Inf).
func TestSwiGLUBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, threads := range []int{1, 2, 3} {
		be := NewBF16(threads)
		for _, n := range []int{1, 15, 16, 17, 4095, 4097, 8192 + 13, 3*8192 + 7, 100003} {
			t.Run(fmt.Sprintf("threads=%d/n=%d", threads, n), func(t *testing.T) {
				g, u, d := make([]float32, n), make([]float32, n), make([]float32, n)
				for i := range g {
					g[i] = float32(rng.NormFloat64() * 4)
					u[i] = float32(rng.NormFloat64())
					d[i] = float32(rng.NormFloat64())
				}
				special := []float32{0, float32(math.Copysign(0, -1)), 90, -90, 200, -200, 1e-30, float32(math.Inf(1)), float32(math.Inf(-1)), 87.5, -87.5}
				for i, v := range special {
					if i*7 < n {
						g[i*7] = v
					}
				}
				wo, wdg, wdu := make([]float32, n), make([]float32, n), make([]float32, n)
				swigluOld(threads, wo, wdg, wdu, d, g, u)
				tg, tu, td := be.tensor(t, g), be.tensor(t, u), be.tensor(t, d)
				to, tdg, tdu := be.tensor(t, make([]float32, n)), be.tensor(t, make([]float32, n)), be.tensor(t, make([]float32, n))
				low, _ := be.Alloc(kernels.BF16, n)
				defer be.Free(low)
				be.SwiGLU(to, tg, tu, n)
				be.SwiGLU(low, tg, tu, n)
				be.SwiGLUBackward(tdg, tdu, td, tg, tu, n)
				gotLow := make([]uint16, n)
				copy(gotLow, buf("test", low).h[low.Off:low.Off+n])
				for _, c := range []struct {
					name      string
					got, want []float32
				}{{"SwiGLU", be.host(to), wo}, {"dgate", be.host(tdg), wdg}, {"dup", be.host(tdu), wdu}} {
					for i := range c.want {
						if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) && !(c.got[i] != c.got[i] && c.want[i] != c.want[i]) {
							t.Fatalf("%s[%d] (gate %g) = %g, want %g", c.name, i, g[i], c.got[i], c.want[i])
						}
					}
				}
				for i := range wo {
					if want := kernels.F32ToBF16(wo[i]); gotLow[i] != want {
						t.Fatalf("SwiGLU BF16[%d] = %#04x, want %#04x", i, gotLow[i], want)
					}
				}
			})
		}
	}
}

// tensor uploads v into a fresh F32 tensor freed at the end of the test.
func (be *Backend) tensor(t *testing.T, v []float32) kernels.Tensor {
	t.Helper()
	x, err := be.Alloc(kernels.F32, len(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Free(x) })
	be.Upload(x, v)
	return x
}

// host downloads an F32 tensor.
func (be *Backend) host(x kernels.Tensor) []float32 {
	v := make([]float32, x.N)
	be.Download(v, x)
	return v
}

// TestRoPECachedTables: RoPE from the process-wide cos/sin cache (built,
// grown, reused, and bypassed for a decode position beyond it) rotates bit
// for bit as a table computed afresh for the call.
func TestRoPECachedTables(t *testing.T) {
	be := New(2)
	const heads, hd = 3, 16
	theta := float32(12345.5) // a theta no other test uses: the cache starts empty for it
	inv := ropeFreqs(hd, theta)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, pos := range [][]int32{
		{0, 1, 2, 3, 4},            // builds the table
		{7, 3, 250, 11},            // grows it
		{5, 250, 2, 0},             // reuses it
		{100000},                   // decode far beyond it: own rows
		{3, 1, 4, 1, 5, 9, 2, 6}} { // reuses it again
		for _, inverse := range []bool{false, true} {
			n := len(pos) * heads * hd
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			want := append([]float32(nil), x...)
			row := make([]float32, hd)
			for i, p := range pos {
				ropeRow(row, float32(p), inv)
				c, s := row[:hd/2], row[hd/2:]
				for h := range heads {
					v := want[(i*heads+h)*hd : (i*heads+h+1)*hd]
					for j := range hd / 2 {
						x1, x2 := v[j], v[j+hd/2]
						if inverse {
							v[j], v[j+hd/2] = float32(x1*c[j])+float32(x2*s[j]), float32(x2*c[j])-float32(x1*s[j])
						} else {
							v[j], v[j+hd/2] = float32(x1*c[j])-float32(x2*s[j]), float32(x2*c[j])+float32(x1*s[j])
						}
					}
				}
			}
			xt := be.tensor(t, x)
			pt, _ := be.Alloc(kernels.I32, len(pos))
			be.UploadInt32(pt, pos)
			be.RoPE(xt, pt, len(pos), heads, hd, theta, inverse)
			be.Free(pt)
			for i, g := range be.host(xt) {
				if math.Float32bits(g) != math.Float32bits(want[i]) {
					t.Fatalf("positions %v inverse %v: element %d = %g, want %g", pos, inverse, i, g, want[i])
				}
			}
		}
	}
}

// rmsNormOld is RMSNorm and RMSNormBackward as they were before the
// vector loops (one row at a time; dw summed over rows in float64 per
// chunk of rows as the backend splits them, chunks given by bounds).
func rmsNormOld(o, rs, dx, dw, x, w, d []float32, rows, dim int, eps float32, bounds []int) {
	for r := range rows {
		xr := x[r*dim : (r+1)*dim]
		mean := float32(sumSquares(xr) / float64(dim))
		s := float32(1 / math.Sqrt(float64(mean+eps)))
		rs[r] = s
		for j, v := range xr {
			o[r*dim+j] = w[j] * float32(v*s)
		}
	}
	for c := 0; c+1 < len(bounds); c++ {
		acc := make([]float64, dim)
		for r := bounds[c]; r < bounds[c+1]; r++ {
			xr, dr, dxr := x[r*dim:(r+1)*dim], d[r*dim:(r+1)*dim], dx[r*dim:(r+1)*dim]
			s := float64(rs[r])
			var dot float64
			for j, v := range xr {
				g := float64(dr[j])
				dot += g * float64(w[j]) * float64(v)
				acc[j] += g * float64(v) * s
			}
			cc := dot * s * s * s / float64(dim)
			for j, v := range xr {
				dxr[j] += float32(float64(dr[j])*float64(w[j])*s - float64(v)*cc)
			}
		}
		for j, v := range acc {
			dw[j] += float32(v)
		}
	}
}

// TestRMSNormBitIdentical: RMSNorm (F32 and BF16 out) and RMSNormBackward
// with the vector loops match rmsNormOld bit for bit, at dims around the
// vector widths, on 1 to 3 threads.
func TestRMSNormBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, threads := range []int{1, 2, 3} {
		be := NewBF16(threads)
		for _, sh := range []struct{ rows, dim int }{{3, 1}, {5, 7}, {4, 8}, {9, 15}, {2, 16}, {7, 17}, {64, 128}, {37, 1027}} {
			t.Run(fmt.Sprintf("threads=%d/%dx%d", threads, sh.rows, sh.dim), func(t *testing.T) {
				rows, dim := sh.rows, sh.dim
				rnd := func(n int, sc float64) []float32 {
					v := make([]float32, n)
					for i := range v {
						v[i] = float32(rng.NormFloat64() * sc)
					}
					return v
				}
				x, w, d, dx0, dw0 := rnd(rows*dim, 2), rnd(dim, 1), rnd(rows*dim, 1), rnd(rows*dim, 0.5), rnd(dim, 0.5)
				const eps = 1e-6
				k := be.chunks(rows, 1+4096/(dim+1))
				bounds := []int{0}
				for c := range k {
					bounds = append(bounds, (c+1)*rows/k)
				}
				wo, wrs := make([]float32, rows*dim), make([]float32, rows)
				wdx, wdw := append([]float32(nil), dx0...), append([]float32(nil), dw0...)
				rmsNormOld(wo, wrs, wdx, wdw, x, w, d, rows, dim, eps, bounds)
				xt, wt, dt := be.tensor(t, x), be.tensor(t, w), be.tensor(t, d)
				ot, rst, dxt, dwt := be.tensor(t, make([]float32, rows*dim)), be.tensor(t, make([]float32, rows)), be.tensor(t, dx0), be.tensor(t, dw0)
				low, _ := be.Alloc(kernels.BF16, rows*dim)
				defer be.Free(low)
				be.RMSNorm(ot, rst, xt, wt, rows, dim, eps)
				be.RMSNormBackward(dxt, dwt, dt, xt, wt, rst, rows, dim)
				lrs := be.tensor(t, make([]float32, rows))
				be.RMSNorm(low, lrs, xt, wt, rows, dim, eps)
				for _, c := range []struct {
					name      string
					got, want []float32
				}{{"out", be.host(ot), wo}, {"rstd", be.host(rst), wrs}, {"dx", be.host(dxt), wdx}, {"dw", be.host(dwt), wdw}} {
					for i := range c.want {
						if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
							t.Fatalf("%s[%d] = %g, want %g", c.name, i, c.got[i], c.want[i])
						}
					}
				}
				got := buf("test", low).h[low.Off : low.Off+rows*dim]
				for i, v := range wo {
					if want := kernels.F32ToBF16(v); got[i] != want {
						t.Fatalf("BF16 out[%d] = %#04x, want %#04x", i, got[i], want)
					}
				}
			})
		}
	}
}

// TestCrossEntropyBF16Rows: CrossEntropy into a BF16 dlogits (rounded row
// by row) gives the F32 gradient rounded once, bit for bit, and the same
// losses, with ignored rows (negative target, zero weight) and a row
// count that splits unevenly over the workers.
func TestCrossEntropyBF16Rows(t *testing.T) {
	be := NewBF16(3)
	if !be.Supports(kernels.BF16) {
		t.Skip("no BF16 on this CPU")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	const rows, vocab = 37, 1003
	logits := make([]float32, rows*vocab)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	tg := make([]int32, rows)
	w := make([]float32, rows)
	for r := range tg {
		tg[r], w[r] = int32(rng.IntN(vocab)), 0.5+float32(r%3)
	}
	tg[4], w[9] = -1, 0
	lt := be.tensor(t, logits)
	tt, _ := be.Alloc(kernels.I32, rows)
	defer be.Free(tt)
	be.UploadInt32(tt, tg)
	wt := be.tensor(t, w)
	l32, l16 := be.tensor(t, make([]float32, rows)), be.tensor(t, make([]float32, rows))
	d32 := be.tensor(t, make([]float32, rows*vocab))
	d16, _ := be.Alloc(kernels.BF16, rows*vocab)
	defer be.Free(d16)
	be.CrossEntropy(l32, d32, lt, tt, wt, rows, vocab, 0.25)
	be.CrossEntropy(l16, d16, lt, tt, wt, rows, vocab, 0.25)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	g32, got := be.host(d32), buf("test", d16).h[d16.Off:d16.Off+rows*vocab]
	for i, v := range g32 {
		if want := kernels.F32ToBF16(v); got[i] != want {
			t.Fatalf("dlogits[%d] = %#04x, want %#04x (F32 %g)", i, got[i], want, v)
		}
	}
	a, b := be.host(l32), be.host(l16)
	for r := range a {
		if math.Float32bits(a[r]) != math.Float32bits(b[r]) {
			t.Fatalf("loss[%d] = %g with BF16 dlogits, %g with F32", r, b[r], a[r])
		}
	}
}
