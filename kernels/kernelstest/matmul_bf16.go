package kernelstest

import (
	"math"

	"sdzero/kernels"
)

// bf16MatMulTol is the stated accuracy of a bf16 product against the
// float64 product of the unrounded float32 inputs: each operand carries a
// relative rounding error of at most 2^-9 (2e-3), so a term is off by up
// to 4e-3 of its size; the k errors add like a random walk, about
// 4e-3*|a||b|/sqrt(k)... of the row's scale, which rare elements (1 in
// 10^4 of unit normal inputs) push to 1.1e-2. 2e-2, the bf16 MatMul
// tolerance of GPU backends, bounds them.
const bf16MatMulTol = 2e-2

// testMatMulBF16: MatMul and MatMulBatched with BF16 A and B (F32 C) on
// backends that Support BF16, over every transpose combination, alpha and
// beta, sizes off and on the 32-element tiles of bf16 units, and a k long
// enough for several cache blocks. Against the float64 product of the
// bf16-rounded inputs the only error is float32 accumulation, so that
// check uses the MatMul tolerance; against the unrounded inputs the
// stated bf16 tolerance applies.
func testMatMulBF16(x *h) {
	be := x.be
	if !be.Supports(kernels.BF16) {
		x.t.Skip("backend does not support BF16")
	}
	bf := func(name string, vals []float32) (kernels.Tensor, []float32) {
		t := x.view(name, kernels.BF16, len(vals))
		be.Upload(t, vals)
		r := make([]float32, len(vals))
		for i, v := range vals {
			r[i] = kernels.BF16ToF32(kernels.F32ToBF16(v))
		}
		return t, r
	}
	cases := []mmCase{{1, 1, 1}, {3, 17, 5}, {33, 65, 17}, {64, 96, 64}, {1, 300, 64}, {129, 257, 300}, {40, 70, 1100}, {200, 300, 40}}
	ab := []struct{ alpha, beta float32 }{{1, 0}, {1, 1}, {0.5, -1.5}}
	for ci, c := range cases {
		for combo := range 4 {
			ta, tb := combo&1 != 0, combo&2 != 0
			a, b := x.randn(c.m*c.k, 1), x.randn(c.k*c.n, 1)
			at, ar := bf("A", a)
			bt, br := bf("B", b)
			for abi, s := range ab {
				if ci >= len(cases)-3 && abi > 1 {
					break // the big cases: alpha 1 only
				}
				c0 := x.randn(c.m*c.n, 1)
				if s.beta == 0 {
					for i := range c0 {
						if i%3 == 0 {
							c0[i] = float32(math.NaN()) // C is not read when beta is 0
						}
					}
				}
				ct := x.f32("C", c0)
				be.MatMul(ct, at, bt, c.m, c.n, c.k, ta, tb, s.alpha, s.beta)
				got := x.get(ct)
				tag := sprint(" m,n,k=", c.m, ",", c.n, ",", c.k, " transA=", ta, " transB=", tb, " alpha=", s.alpha, " beta=", s.beta)
				x.near("MatMul BF16 (rounded inputs)"+tag, got, refMatMul(ar, br, c0, c.m, c.n, c.k, ta, tb, s.alpha, s.beta), x.tol.MatMul)
				x.near("MatMul BF16 (float32 inputs)"+tag, got, refMatMul(a, b, c0, c.m, c.n, c.k, ta, tb, s.alpha, s.beta), bf16MatMulTol)
			}
		}
	}
	// Strided batches with gaps that must stay untouched, and a broadcast B.
	for _, c := range []mmCase{{17, 16, 33}, {33, 40, 65}} {
		for combo := range 4 {
			ta, tb := combo&1 != 0, combo&2 != 0
			batch := 3
			sa, sb, sc := c.m*c.k+3, c.k*c.n+1, c.m*c.n+5
			at, ar := bf("A", x.randn(batch*sa, 1))
			bt, br := bf("B", x.randn(batch*sb, 1))
			c0 := x.randn(batch*sc, 1)
			ct := x.f32("C", c0)
			be.MatMulBatched(ct, at, bt, batch, c.m, c.n, c.k, ta, tb, 0.5, 0.25, sa, sb, sc)
			want := f64s(c0)
			for i := range batch {
				copy(want[i*sc:], refMatMul(ar[i*sa:], br[i*sb:], c0[i*sc:], c.m, c.n, c.k, ta, tb, 0.5, 0.25))
			}
			x.near(sprint("MatMulBatched BF16 m,n,k=", c.m, ",", c.n, ",", c.k, " transA=", ta, " transB=", tb), x.get(ct), want, x.tol.MatMul)
		}
	}
	m, n, k, batch := 5, 6, 40, 4
	at, ar := bf("A", x.randn(batch*m*k, 1))
	bt, br := bf("B", x.randn(k*n, 1))
	ct := x.view("C", kernels.F32, batch*m*n)
	be.MatMulBatched(ct, at, bt, batch, m, n, k, false, false, 1, 0, m*k, 0, m*n)
	var want []float64
	for i := range batch {
		want = append(want, refMatMul(ar[i*m*k:], br, nil, m, n, k, false, false, 1, 0)...)
	}
	x.near("MatMulBatched BF16 with strideB 0", x.get(ct), want, x.tol.MatMul)
}
