package kernelstest

import (
	"math"
	"slices"

	"sdzero/kernels"
)

// testBias: AddBias and the accumulating BiasBackward.
func testBias(x *h) {
	be := x.be
	for _, s := range [][2]int{{1, 1}, {3, 17}, {65, 33}, {127, 3}} {
		rows, dim := s[0], s[1]
		y, bias := x.randn(rows*dim, 1), x.randn(dim, 1)
		yt := x.f32("y", y)
		be.AddBias(yt, x.f32("bias", bias), rows, dim)
		want := make([]float64, rows*dim)
		for r := range rows {
			for j := range dim {
				want[r*dim+j] = float64(y[r*dim+j]) + float64(bias[j])
			}
		}
		x.near(sprint("AddBias ", rows, "x", dim), x.get(yt), want, x.tol.Elementwise)

		db0 := x.randn(dim, 1)
		db := x.f32("dbias", db0)
		be.BiasBackward(db, x.f32("dy", y), rows, dim)
		wb := f64s(db0)
		for r := range rows {
			for j := range dim {
				wb[j] += float64(y[r*dim+j])
			}
		}
		x.near(sprint("BiasBackward ", rows, "x", dim), x.get(db), wb, x.tol.Grad)
	}
}

// testEmbedding: gather and the accumulating backward with repeated ids.
func testEmbedding(x *h) {
	be := x.be
	for _, s := range [][3]int{{1, 1, 1}, {17, 33, 20}, {65, 3, 127}, {3, 64, 50}} {
		vocab, dim, n := s[0], s[1], s[2]
		table := x.randn(vocab*dim, 1)
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(x.rng.IntN(vocab))
		}
		if n > 2 {
			ids[n-1] = ids[0] // a guaranteed repeat
		}
		tt, it := x.f32("table", table), x.i32("ids", ids)
		out := x.view("out", kernels.F32, n*dim)
		be.Embedding(out, tt, it, n, dim)
		got := x.get(out)
		for i, id := range ids {
			x.exact(sprint("Embedding row ", i), got[i*dim:(i+1)*dim], table[int(id)*dim:(int(id)+1)*dim])
		}
		dt0 := x.randn(vocab*dim, 1)
		dt := x.f32("dtable", dt0)
		dout := x.randn(n*dim, 1)
		be.EmbeddingBackward(dt, x.f32("dout", dout), it, n, dim)
		want := f64s(dt0)
		for i, id := range ids {
			for j := range dim {
				want[int(id)*dim+j] += float64(dout[i*dim+j])
			}
		}
		x.near(sprint("EmbeddingBackward vocab=", vocab, " dim=", dim, " n=", n), x.get(dt), want, x.tol.Grad)
	}
}

// testGatherRows copies rows by index.
func testGatherRows(x *h) {
	be := x.be
	rows, dim, n := 33, 17, 40
	src := x.randn(rows*dim, 1)
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(x.rng.IntN(rows))
	}
	dst := x.view("dst", kernels.F32, n*dim)
	be.GatherRows(dst, x.f32("src", src), x.i32("idx", idx), n, dim)
	got := x.get(dst)
	for i, id := range idx {
		x.exact(sprint("GatherRows row ", i), got[i*dim:(i+1)*dim], src[int(id)*dim:(int(id)+1)*dim])
	}
}

func refRMSNorm(xs, w []float64, rows, dim int, eps float64) (out, rstd []float64) {
	out, rstd = make([]float64, rows*dim), make([]float64, rows)
	for r := range rows {
		var ss float64
		for j := range dim {
			ss += xs[r*dim+j] * xs[r*dim+j]
		}
		s := 1 / math.Sqrt(ss/float64(dim)+eps)
		rstd[r] = s
		for j := range dim {
			out[r*dim+j] = xs[r*dim+j] * s * w[j]
		}
	}
	return
}

// testRMSNorm: forward, rstd, and the accumulating backward (checked
// against the analytic reference, itself checked by finite differences).
// bf16Out bounds an op's BF16 output against the float64 reference: one
// rounding to 8 significant bits (at most 2^-8 relative) plus the F32 error.
const bf16Out = 4e-3

func testRMSNorm(x *h) {
	be := x.be
	for _, s := range [][2]int{{1, 1}, {3, 17}, {5, 65}, {17, 127}, {2, 1024}} {
		rows, dim := s[0], s[1]
		const eps = 1e-6
		xs, w := x.randn(rows*dim, 2), x.randu(dim, 0.5, 1.5)
		xt, wt := x.f32("x", xs), x.f32("w", w)
		out, rstd := x.view("out", kernels.F32, rows*dim), x.view("rstd", kernels.F32, rows)
		be.RMSNorm(out, rstd, xt, wt, rows, dim, eps)
		x64, w64 := f64s(xs), f64s(w)
		wo, wr := refRMSNorm(x64, w64, rows, dim, eps)
		tag := sprint(" ", rows, "x", dim)
		x.near("RMSNorm out"+tag, x.get(out), wo, x.tol.Elementwise)
		x.near("RMSNorm rstd"+tag, x.get(rstd), wr, x.tol.Elementwise)
		if be.Supports(kernels.BF16) {
			// A BF16 out is the F32 result rounded once.
			o16 := x.view("out16", kernels.BF16, rows*dim)
			be.RMSNorm(o16, rstd, xt, wt, rows, dim, eps)
			x.near("RMSNorm BF16 out"+tag, x.get(o16), wo, bf16Out)
		}

		dout := x.randn(rows*dim, 1)
		d64 := f64s(dout)
		dx0, dw0 := x.randn(rows*dim, 1), x.randn(dim, 1)
		dx, dw := x.f32("dx", dx0), x.f32("dw", dw0)
		be.RMSNormBackward(dx, dw, x.f32("dout", dout), xt, wt, rstd, rows, dim)
		// Reference backward.
		gx, gw := make([]float64, rows*dim), make([]float64, dim)
		for r := range rows {
			s := wr[r]
			var dot float64
			for j := range dim {
				dot += d64[r*dim+j] * w64[j] * x64[r*dim+j]
			}
			for j := range dim {
				gx[r*dim+j] = d64[r*dim+j]*w64[j]*s - x64[r*dim+j]*dot*s*s*s/float64(dim)
				gw[j] += d64[r*dim+j] * x64[r*dim+j] * s
			}
		}
		if rows*dim < 2000 {
			loss := func() float64 {
				o, _ := refRMSNorm(x64, w64, rows, dim, eps)
				var l float64
				for i := range o {
					l += o[i] * d64[i]
				}
				return l
			}
			x.checkFD("RMSNorm dx"+tag, loss, x64, gx, 3)
			x.checkFD("RMSNorm dw"+tag, loss, w64, gw, 3)
		}
		for i := range gx {
			gx[i] += float64(dx0[i])
		}
		for i := range gw {
			gw[i] += float64(dw0[i])
		}
		x.near("RMSNormBackward dx"+tag, x.get(dx), gx, x.tol.Grad)
		x.near("RMSNormBackward dw"+tag, x.get(dw), gw, x.tol.Grad)
	}
}

// refRoPE rotates in float64 with Hugging Face's float32 angles:
// inv_freq = 1/theta^(float32(2j)/d) in float32, angle = float32(pos)*inv_freq
// in float32, then cos/sin of that angle.
func refRoPE(xs []float32, pos []int32, tokens, heads, d int, theta float32, inverse bool) []float64 {
	return refRoPEFreqs(xs, pos, tokens, heads, d, thetaFreqs(d, theta), inverse)
}

// thetaFreqs are RoPE's inverse frequencies theta^(-2j/d) in float32, as
// Hugging Face computes them.
func thetaFreqs(d int, theta float32) []float32 {
	inv := make([]float32, d/2)
	for j := range inv {
		e := float32(2*j) / float32(d)
		inv[j] = 1 / float32(math.Pow(float64(theta), float64(e)))
	}
	return inv
}

func refRoPEFreqs(xs []float32, pos []int32, tokens, heads, d int, inv []float32, inverse bool) []float64 {
	half := d / 2
	out := make([]float64, len(xs))
	for t := range tokens {
		for hh := range heads {
			base := (t*heads + hh) * d
			for j := range half {
				a := float64(float32(pos[t]) * inv[j])
				c, s := math.Cos(a), math.Sin(a)
				if inverse {
					s = -s
				}
				x1, x2 := float64(xs[base+j]), float64(xs[base+j+half])
				out[base+j] = x1*c - x2*s
				out[base+j+half] = x2*c + x1*s
			}
		}
	}
	return out
}

// testRoPE: matches the reference at small and large positions, and the
// inverse undoes the forward.
func testRoPE(x *h) {
	be := x.be
	for _, s := range []struct {
		tokens, heads, d int
		theta            float32
		maxPos           int
	}{{1, 1, 2, 10000, 1}, {7, 3, 16, 10000, 64}, {17, 2, 64, 1e6, 40000}, {5, 4, 128, 1e6, 4096}} {
		n := s.tokens * s.heads * s.d
		xs := x.randn(n, 1)
		pos := make([]int32, s.tokens)
		for i := range pos {
			pos[i] = int32(x.rng.IntN(s.maxPos + 1))
		}
		pt := x.i32("pos", pos)
		tag := sprint(" tokens=", s.tokens, " heads=", s.heads, " d=", s.d, " theta=", s.theta)
		for _, inv := range []bool{false, true} {
			xt := x.f32("x", xs)
			be.RoPE(xt, pt, s.tokens, s.heads, s.d, s.theta, inv)
			x.near(sprint("RoPE inverse=", inv, tag), x.get(xt), refRoPE(xs, pos, s.tokens, s.heads, s.d, s.theta, inv), x.tol.Elementwise)
			be.RoPE(xt, pt, s.tokens, s.heads, s.d, s.theta, !inv)
			x.near(sprint("RoPE round trip inverse=", inv, tag), x.get(xt), f64s(xs), 4*x.tol.Elementwise)

			// RoPEFreqs with theta's frequencies is RoPE, bit for bit.
			tf := thetaFreqs(s.d, s.theta)
			a, b := x.f32("x", xs), x.f32("x", xs)
			be.RoPE(a, pt, s.tokens, s.heads, s.d, s.theta, inv)
			be.RoPEFreqs(b, pt, x.f32("invFreq", tf), s.tokens, s.heads, s.d, inv)
			x.exact(sprint("RoPEFreqs with theta's frequencies inverse=", inv, tag), x.get(b), x.get(a))
			// Scaled frequencies (every third divided by 8, as llama3's
			// low frequencies are).
			sf := slices.Clone(tf)
			for j := 0; j < len(sf); j += 3 {
				sf[j] /= 8
			}
			c := x.f32("x", xs)
			be.RoPEFreqs(c, pt, x.f32("invFreq", sf), s.tokens, s.heads, s.d, inv)
			x.near(sprint("RoPEFreqs scaled inverse=", inv, tag), x.get(c), refRoPEFreqs(xs, pos, s.tokens, s.heads, s.d, sf, inv), x.tol.Elementwise)
		}
	}
}

// testSwiGLU: forward and backward (reference checked by finite
// differences).
func testSwiGLU(x *h) {
	be := x.be
	for _, n := range []int{1, 3, 17, 127, 5000} {
		g, u := x.randn(n, 3), x.randn(n, 1)
		if n > 3 {
			g[0], g[1] = 40, -40 // saturated sigmoid
		}
		gt, ut := x.f32("gate", g), x.f32("up", u)
		out := x.view("out", kernels.F32, n)
		be.SwiGLU(out, gt, ut, n)
		g64, u64 := f64s(g), f64s(u)
		fwd := func(o []float64) {
			for i := range o {
				o[i] = g64[i] / (1 + math.Exp(-g64[i])) * u64[i]
			}
		}
		want := make([]float64, n)
		fwd(want)
		x.near(sprint("SwiGLU n=", n), x.get(out), want, x.tol.Elementwise)
		if be.Supports(kernels.BF16) {
			o16 := x.view("out16", kernels.BF16, n)
			be.SwiGLU(o16, gt, ut, n)
			x.near(sprint("SwiGLU BF16 out n=", n), x.get(o16), want, bf16Out)
		}

		dout := x.randn(n, 1)
		d64 := f64s(dout)
		dg, du := x.f32("dgate", x.randn(n, 1)), x.f32("dup", x.randn(n, 1))
		be.SwiGLUBackward(dg, du, x.f32("dout", dout), gt, ut, n)
		wg, wu := make([]float64, n), make([]float64, n)
		for i := range n {
			sig := 1 / (1 + math.Exp(-g64[i]))
			wu[i] = d64[i] * g64[i] * sig
			wg[i] = d64[i] * u64[i] * (sig + g64[i]*sig*(1-sig))
		}
		loss := func() float64 {
			o := make([]float64, n)
			fwd(o)
			var l float64
			for i := range o {
				l += o[i] * d64[i]
			}
			return l
		}
		x.checkFD(sprint("SwiGLU dgate n=", n), loss, g64, wg, 3)
		x.checkFD(sprint("SwiGLU dup n=", n), loss, u64, wu, 3)
		x.near(sprint("SwiGLUBackward dgate n=", n), x.get(dg), wg, x.tol.Grad)
		x.near(sprint("SwiGLUBackward dup n=", n), x.get(du), wu, x.tol.Grad)
	}
}

// testCacheWrite: rows land at start[r]+i, positions >= tmax are dropped,
// everything else in the cache is untouched.
func testCacheWrite(x *h) {
	be := x.be
	b, t, tmax, width := 3, 5, 9, 17
	c0 := x.randn(b*tmax*width, 1)
	xs := x.randn(b*t*width, 1)
	start := []int32{0, 3, 7} // the last row overflows tmax
	ct := x.f32("cache", c0)
	be.CacheWrite(ct, x.f32("x", xs), x.i32("start", start), b, t, tmax, width)
	want := append([]float32(nil), c0...)
	for r := range b {
		for i := range t {
			p := int(start[r]) + i
			if p >= tmax {
				continue
			}
			copy(want[(r*tmax+p)*width:(r*tmax+p+1)*width], xs[(r*t+i)*width:(r*t+i+1)*width])
		}
	}
	x.exact("CacheWrite", x.get(ct), want)
	// One token at a time, as decoding does.
	c1 := x.f32("cache1", c0)
	one := x.randn(b*width, 1)
	st := []int32{8, 0, 4}
	be.CacheWrite(c1, x.f32("x1", one), x.i32("start1", st), b, 1, tmax, width)
	want = append([]float32(nil), c0...)
	for r := range b {
		copy(want[(r*tmax+int(st[r]))*width:], one[r*width:(r+1)*width])
	}
	x.exact("CacheWrite one token", x.get(c1), want)
}
