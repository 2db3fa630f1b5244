package kernelstest

import (
	"math"

	"sdzero/kernels"
)

// refMatMul returns alpha*op(A)*op(B) + beta*C in float64 (C is not read
// when beta is 0, as in BLAS).
func refMatMul(a, b, c []float32, m, n, k int, ta, tb bool, alpha, beta float32) []float64 {
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				var av, bv float32
				if ta {
					av = a[p*m+i]
				} else {
					av = a[i*k+p]
				}
				if tb {
					bv = b[j*k+p]
				} else {
					bv = b[p*n+j]
				}
				s += float64(av) * float64(bv)
			}
			s *= float64(alpha)
			if beta != 0 {
				s += float64(beta) * float64(c[i*n+j])
			}
			out[i*n+j] = s
		}
	}
	return out
}

type mmCase struct{ m, n, k int }

// testMatMul: all transpose combinations, alpha/beta, odd sizes and sizes
// past typical cache blocks.
func testMatMul(x *h) {
	be := x.be
	cases := []mmCase{{1, 1, 1}, {1, 17, 3}, {3, 1, 17}, {17, 33, 1}, {33, 65, 17}, {65, 17, 127}, {127, 3, 65},
		{7, 130, 9}, {1, 300, 64}, {129, 257, 300}}
	ab := []struct{ alpha, beta float32 }{{1, 0}, {0.5, -1.5}, {-2, 1}}
	for ci, c := range cases {
		for combo := range 4 {
			ta, tb := combo&1 != 0, combo&2 != 0
			a := x.randn(c.m*c.k, 1)
			b := x.randn(c.k*c.n, 1)
			ta_, tb_ := x.f32("A", a), x.f32("B", b)
			for abi, s := range ab {
				if ci == len(cases)-1 && abi > 0 {
					break // the big case once is enough
				}
				c0 := x.randn(c.m*c.n, 1)
				if s.beta == 0 {
					// BLAS: C is not read when beta is 0, even if NaN.
					for i := range c0 {
						if i%3 == 0 {
							c0[i] = float32(math.NaN())
						}
					}
				}
				ct := x.f32("C", c0)
				be.MatMul(ct, ta_, tb_, c.m, c.n, c.k, ta, tb, s.alpha, s.beta)
				want := refMatMul(a, b, c0, c.m, c.n, c.k, ta, tb, s.alpha, s.beta)
				x.near(sprint("MatMul m,n,k=", c.m, ",", c.n, ",", c.k, " transA=", ta, " transB=", tb, " alpha=", s.alpha, " beta=", s.beta),
					x.get(ct), want, x.tol.MatMul)
			}
		}
	}
	// The documented linear-layer form: y = x W^T with W [out,in].
	tok, in, out := 5, 33, 17
	xs, w := x.randn(tok*in, 1), x.randn(out*in, 1)
	y := x.view("y", kernels.F32, tok*out)
	be.MatMul(y, x.f32("x", xs), x.f32("W", w), tok, out, in, false, true, 1, 0)
	want := make([]float64, tok*out)
	for i := range tok {
		for o := range out {
			for p := range in {
				want[i*out+o] += float64(xs[i*in+p]) * float64(w[o*in+p])
			}
		}
	}
	x.near("linear layer form", x.get(y), want, x.tol.MatMul)
	// NaN in an input propagates.
	a := x.randn(4*4, 1)
	a[5] = float32(math.NaN())
	ct := x.view("C", kernels.F32, 16)
	be.MatMul(ct, x.f32("A", a), x.f32("B", x.randn(16, 1)), 4, 4, 4, false, false, 1, 0)
	got := x.get(ct)
	if !math.IsNaN(float64(got[4])) {
		x.t.Errorf("MatMul with NaN in A row 1: C[1,0] = %v, want NaN", got[4])
	}
}

// testMatMulBatched: strided batches with gaps between matrices that must
// stay untouched.
func testMatMulBatched(x *h) {
	be := x.be
	for _, c := range []mmCase{{3, 5, 7}, {17, 16, 33}, {1, 65, 64}, {64, 64, 1}, {33, 40, 65}} {
		for combo := range 4 {
			ta, tb := combo&1 != 0, combo&2 != 0
			batch := 3
			sa, sb, sc := c.m*c.k+3, c.k*c.n+1, c.m*c.n+5
			a := x.randn(batch*sa, 1)
			b := x.randn(batch*sb, 1)
			c0 := x.randn(batch*sc, 1)
			ct := x.f32("C", c0)
			be.MatMulBatched(ct, x.f32("A", a), x.f32("B", b), batch, c.m, c.n, c.k, ta, tb, 0.5, 0.25, sa, sb, sc)
			want := f64s(c0)
			for i := range batch {
				r := refMatMul(a[i*sa:], b[i*sb:], c0[i*sc:], c.m, c.n, c.k, ta, tb, 0.5, 0.25)
				copy(want[i*sc:], r)
			}
			x.near(sprint("MatMulBatched m,n,k=", c.m, ",", c.n, ",", c.k, " transA=", ta, " transB=", tb), x.get(ct), want, x.tol.MatMul)
		}
	}
	// Stride 0 on B broadcasts one matrix (used for shared weights).
	m, n, k, batch := 5, 6, 7, 4
	a, b := x.randn(batch*m*k, 1), x.randn(k*n, 1)
	ct := x.view("C", kernels.F32, batch*m*n)
	be.MatMulBatched(ct, x.f32("A", a), x.f32("B", b), batch, m, n, k, false, false, 1, 0, m*k, 0, m*n)
	var want []float64
	for i := range batch {
		want = append(want, refMatMul(a[i*m*k:], b, nil, m, n, k, false, false, 1, 0)...)
	}
	x.near("MatMulBatched with strideB 0", x.get(ct), want, x.tol.MatMul)
}

// testMatMulDecode: the decode shapes, a few rows (one token per batch row)
// times a weight stored [n,k], at row counts around the 4-row tiles and
// the 32-row limit of a CPU decode kernel, k with and without a tail past
// 16-float vectors, n with partial 4-column tiles, and alpha/beta (C with
// NaN that beta == 0 must not read).
func testMatMulDecode(x *h) {
	be := x.be
	type dc struct{ m, n, k int }
	cases := []dc{{1, 1, 1}, {2, 7, 16}, {3, 5, 17}, {4, 4, 64}, {5, 13, 33}, {8, 130, 256}, {13, 66, 100},
		{16, 257, 31}, {31, 9, 48}, {32, 40, 129}, {33, 12, 65}}
	ab := []struct{ alpha, beta float32 }{{1, 0}, {0.5, -1.5}}
	for _, c := range cases {
		a, w := x.randn(c.m*c.k, 1), x.randn(c.n*c.k, 1)
		at, wt := x.f32("x", a), x.f32("W", w)
		for _, s := range ab {
			c0 := x.randn(c.m*c.n, 1)
			if s.beta == 0 {
				for i := range c0 {
					if i%2 == 0 {
						c0[i] = float32(math.NaN())
					}
				}
			}
			ct := x.f32("C", c0)
			be.MatMul(ct, at, wt, c.m, c.n, c.k, false, true, s.alpha, s.beta)
			want := refMatMul(a, w, c0, c.m, c.n, c.k, false, true, s.alpha, s.beta)
			x.near(sprint("decode MatMul m,n,k=", c.m, ",", c.n, ",", c.k, " alpha=", s.alpha, " beta=", s.beta),
				x.get(ct), want, x.tol.MatMul)
		}
	}
	// NaN in one weight row reaches every row's output in that column only.
	m, n, k := 6, 9, 40
	w := x.randn(n*k, 1)
	w[5*k+7] = float32(math.NaN())
	ct := x.view("C", kernels.F32, m*n)
	be.MatMul(ct, x.f32("x", x.randn(m*k, 1)), x.f32("W", w), m, n, k, false, true, 1, 0)
	got := x.get(ct)
	for i := range m {
		for j := range n {
			if isNaN := math.IsNaN(float64(got[i*n+j])); isNaN != (j == 5) {
				x.t.Errorf("decode MatMul with NaN in W row 5: C[%d,%d] = %v", i, j, got[i*n+j])
			}
		}
	}
}
