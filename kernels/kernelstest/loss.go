package kernelstest

import (
	"math"
	"slices"

	"sdzero/kernels"
)

func lse64(z []float64) float64 {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, v)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(v - mx)
	}
	return mx + math.Log(s)
}

// lossLogits returns rows x vocab logits with hard rows for stability: a
// +1000 offset and a large spread.
func (x *h) lossLogits(rows, vocab int) []float32 {
	l := x.randn(rows*vocab, 2)
	if rows > 1 {
		for j := range vocab {
			l[vocab+j] += 1000
		}
	}
	if rows > 2 {
		for j := range vocab {
			l[2*vocab+j] *= 40
		}
	}
	return l
}

// testCrossEntropy: losses and gradients with weights 1, fractional, 0 and
// negative, ignored targets, gscale, dlogits aliasing logits and no
// dlogits.
func testCrossEntropy(x *h) {
	be := x.be
	for _, s := range [][2]int{{1, 1}, {1, 3}, {9, 65}, {7, 1000}, {3, 50304}} {
		rows, vocab := s[0], s[1]
		logits := x.lossLogits(rows, vocab)
		tg := make([]int32, rows)
		w := make([]float32, rows)
		wset := []float32{1, 0.5, 0, -1.25, 2}
		for r := range rows {
			tg[r] = int32(x.rng.IntN(vocab))
			w[r] = wset[r%len(wset)]
		}
		if rows > 5 {
			tg[5] = -1
		}
		const gscale = 0.25
		wl, wg := make([]float64, rows), make([]float64, rows*vocab)
		l64 := f64s(logits)
		for r := range rows {
			if tg[r] < 0 || w[r] == 0 {
				continue
			}
			z := l64[r*vocab : (r+1)*vocab]
			l := lse64(z)
			wl[r] = float64(w[r]) * (l - z[tg[r]])
			for j := range vocab {
				oh := 0.0
				if j == int(tg[r]) {
					oh = 1
				}
				wg[r*vocab+j] = gscale * float64(w[r]) * (math.Exp(z[j]-l) - oh)
			}
		}
		if vocab <= 1000 {
			total := func() float64 {
				var t float64
				for r := range rows {
					if tg[r] < 0 || w[r] == 0 {
						continue
					}
					z := l64[r*vocab : (r+1)*vocab]
					t += float64(w[r]) * (lse64(z) - z[tg[r]])
				}
				return t
			}
			g := slices.Clone(wg)
			for i := range g {
				g[i] /= gscale
			}
			x.checkFD("CrossEntropy reference", total, l64, g, 4)
		}
		tag := sprint(" rows=", rows, " vocab=", vocab)
		lt, tt, wt := x.f32("logits", logits), x.i32("targets", tg), x.f32("w", w)
		loss := x.f32("loss", x.randn(rows, 1))
		dl := x.f32("dlogits", x.randn(rows*vocab, 1))
		be.CrossEntropy(loss, dl, lt, tt, wt, rows, vocab, gscale)
		x.near("CrossEntropy loss"+tag, x.get(loss), wl, x.tol.Loss)
		x.near("CrossEntropy dlogits"+tag, x.get(dl), wg, x.tol.Loss)
		if be.Supports(kernels.BF16) {
			d16 := x.view("dlogits16", kernels.BF16, rows*vocab)
			be.CrossEntropy(kernels.Tensor{}, d16, lt, tt, wt, rows, vocab, gscale)
			x.near("CrossEntropy BF16 dlogits"+tag, x.get(d16), wg, bf16Out)
		}
		// Loss only.
		loss2 := x.view("loss2", kernels.F32, rows)
		be.CrossEntropy(loss2, kernels.Tensor{}, lt, tt, wt, rows, vocab, gscale)
		x.near("CrossEntropy loss without dlogits"+tag, x.get(loss2), wl, x.tol.Loss)
		// In place: dlogits aliases logits.
		be.CrossEntropy(loss2, lt, lt, tt, wt, rows, vocab, gscale)
		x.near("CrossEntropy loss in place"+tag, x.get(loss2), wl, x.tol.Loss)
		x.near("CrossEntropy dlogits in place"+tag, x.get(lt), wg, x.tol.Loss)
	}
}

// testLogProbs: log_softmax at the target, 0 for negative targets.
func testLogProbs(x *h) {
	be := x.be
	for _, s := range [][2]int{{1, 1}, {4, 3}, {9, 65}, {5, 50304}} {
		rows, vocab := s[0], s[1]
		logits := x.lossLogits(rows, vocab)
		tg := make([]int32, rows)
		for r := range tg {
			tg[r] = int32(x.rng.IntN(vocab))
		}
		if rows > 3 {
			tg[3] = -1
		}
		out := x.f32("out", x.randn(rows, 1))
		be.LogProbs(out, x.f32("logits", logits), x.i32("targets", tg), rows, vocab)
		want := make([]float64, rows)
		l64 := f64s(logits)
		for r := range rows {
			if tg[r] >= 0 {
				z := l64[r*vocab : (r+1)*vocab]
				want[r] = z[tg[r]] - lse64(z)
			}
		}
		x.near(sprint("LogProbs rows=", rows, " vocab=", vocab), x.get(out), want, x.tol.Loss)
	}
}

// teacherOrder returns all ids sorted by descending logit, ties by lower id.
func teacherOrder(t []float64) []int {
	ids := make([]int, len(t))
	for i := range ids {
		ids[i] = i
	}
	slices.SortStableFunc(ids, func(a, b int) int {
		switch {
		case t[a] > t[b]:
			return -1
		case t[a] < t[b]:
			return 1
		}
		return a - b
	})
	return ids
}

// refDistill returns D for one row and dD/ds (unweighted).
func refDistill(s, t []float64, p kernels.DistillParams) (float64, []float64) {
	vocab := len(s)
	temp := float64(p.Temp)
	fw := float64(p.ForwardWeight)
	var ids []int
	if p.TopK > 0 && p.TopK < vocab {
		ids = teacherOrder(t)[:p.TopK]
	} else {
		for i := range s {
			ids = append(ids, i)
		}
	}
	zs, zt := make([]float64, len(ids)), make([]float64, len(ids))
	for i, id := range ids {
		zs[i], zt[i] = s[id]/temp, t[id]/temp
	}
	ls, lt := lse64(zs), lse64(zt)
	var fwd, rev float64
	logp, logq := make([]float64, len(ids)), make([]float64, len(ids))
	for i := range ids {
		logp[i], logq[i] = zs[i]-ls, zt[i]-lt
		fwd += math.Exp(logq[i]) * (logq[i] - logp[i])
		rev += math.Exp(logp[i]) * (logp[i] - logq[i])
	}
	grad := make([]float64, vocab)
	for i, id := range ids {
		pi, qi := math.Exp(logp[i]), math.Exp(logq[i])
		// d/dz KL(q||p) = p - q; d/dz KL(p||q) = p*(log p - log q - KL(p||q)).
		grad[id] = (fw*(pi-qi) + (1-fw)*pi*(logp[i]-logq[i]-rev)) / temp
	}
	return fw*fwd + (1-fw)*rev, grad
}

// testDistill: full and top-k divergences in both directions and mixed,
// with temperature, weights, gradients (reference checked by finite
// differences) and dstudent aliasing the student logits.
func testDistill(x *h) {
	be := x.be
	for _, sz := range [][2]int{{1, 1}, {6, 65}, {4, 1000}} {
		rows, vocab := sz[0], sz[1]
		s := x.randn(rows*vocab, 2)
		t := x.randn(rows*vocab, 2)
		for i := range t {
			t[i] = float32(math.Round(float64(t[i]) * 2)) // many ties for top-k
		}
		if rows > 1 {
			for j := range vocab {
				s[vocab+j] += 100 // exp would overflow float32 without max subtraction
				t[vocab+j] -= 100
			}
		}
		w := make([]float32, rows)
		wset := []float32{1, 0.5, -2, 0, 1.5, 1}
		for r := range w {
			w[r] = wset[r%len(wset)]
		}
		s64, t64 := f64s(s), f64s(t)
		st, tt, wt := x.f32("s", s), x.f32("t", t), x.f32("w", w)
		for _, p := range []kernels.DistillParams{
			{Temp: 1, TopK: 0, ForwardWeight: 0},
			{Temp: 1, TopK: 0, ForwardWeight: 1},
			{Temp: 2, TopK: 0, ForwardWeight: 0.3},
			{Temp: 1, TopK: 5, ForwardWeight: 0},
			{Temp: 0.5, TopK: 7, ForwardWeight: 1},
			{Temp: 1.5, TopK: 20, ForwardWeight: 0.5},
			{Temp: 1, TopK: 1, ForwardWeight: 0.5},
			{Temp: 1, TopK: vocab + 3, ForwardWeight: 0.7},
		} {
			const gscale = 0.5
			wl, wg := make([]float64, rows), make([]float64, rows*vocab)
			for r := range rows {
				if w[r] == 0 {
					continue
				}
				d, g := refDistill(s64[r*vocab:(r+1)*vocab], t64[r*vocab:(r+1)*vocab], p)
				wl[r] = float64(w[r]) * d
				for j := range vocab {
					wg[r*vocab+j] = gscale * float64(w[r]) * g[j]
				}
				if vocab <= 100 {
					sr := s64[r*vocab : (r+1)*vocab]
					f := func() float64 { d, _ := refDistill(sr, t64[r*vocab:(r+1)*vocab], p); return d }
					x.checkFD(sprint("Distill reference ", p), f, sr, g, 3)
				}
			}
			tag := sprint(" rows=", rows, " vocab=", vocab, " ", p)
			loss := x.f32("loss", x.randn(rows, 1))
			ds := x.f32("ds", x.randn(rows*vocab, 1))
			be.Distill(loss, ds, st, tt, wt, rows, vocab, p, gscale)
			x.near("Distill loss"+tag, x.get(loss), wl, x.tol.Loss)
			x.near("Distill dstudent"+tag, x.get(ds), wg, x.tol.Loss)
			if be.Supports(kernels.BF16) {
				d16 := x.view("ds16", kernels.BF16, rows*vocab)
				be.Distill(kernels.Tensor{}, d16, st, tt, wt, rows, vocab, p, gscale)
				x.near("Distill BF16 dstudent"+tag, x.get(d16), wg, bf16Out)
			}
			// In place, on a copy of the student logits.
			sc := x.f32("s copy", s)
			loss2 := x.view("loss2", kernels.F32, rows)
			be.Distill(loss2, sc, sc, tt, wt, rows, vocab, p, gscale)
			x.near("Distill loss in place"+tag, x.get(loss2), wl, x.tol.Loss)
			x.near("Distill dstudent in place"+tag, x.get(sc), wg, x.tol.Loss)
		}
	}
	// Identical distributions have zero divergence and zero gradient.
	v := x.randn(3*17, 1)
	a, b := x.f32("a", v), x.f32("b", v)
	loss, ds := x.view("loss", kernels.F32, 3), x.view("ds", kernels.F32, 3*17)
	be.Distill(loss, ds, a, b, x.f32("w", []float32{1, 1, 1}), 3, 17, kernels.DistillParams{Temp: 1, ForwardWeight: 0.5}, 1)
	for _, e := range append(x.get(loss), x.get(ds)...) {
		if math.Abs(float64(e)) > 1e-6 {
			x.t.Errorf("Distill of identical logits: %v, want 0", e)
			break
		}
	}
}

// refSample returns the id Sample must draw and how far u*mass is from the
// nearest CDF boundary (as a fraction of the mass); callers skip draws too
// close to a boundary for float32 backends to agree.
func refSample(x []float64, u float64, temp float64, topK int, topP float64) (int, float64) {
	order := teacherOrder(x)
	if temp <= 0 {
		return order[0], 1
	}
	if topK > 0 && topK < len(order) {
		order = order[:topK]
	}
	mx := x[order[0]] / temp
	pr := make([]float64, len(order))
	var sum float64
	for i, id := range order {
		pr[i] = math.Exp(x[id]/temp - mx)
		sum += pr[i]
	}
	margin := 1.0
	if topP < 1 {
		var c float64
		n := len(order)
		for i := range order {
			c += pr[i] / sum
			margin = math.Min(margin, math.Abs(c-topP))
			if c >= topP {
				n = i + 1
				break
			}
		}
		order, pr = order[:n], pr[:n]
	}
	// Inverse CDF in ascending id order over the kept ids.
	idx := make([]int, len(order))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return order[a] - order[b] })
	var mass float64
	for _, e := range pr {
		mass += e
	}
	target := u * mass
	var c float64
	pick := order[idx[len(idx)-1]]
	found := false
	for _, i := range idx {
		c += pr[i]
		margin = math.Min(margin, math.Abs(c-target)/mass)
		if c > target && !found {
			pick, found = order[i], true
		}
	}
	return pick, margin
}

// testSample: argmax with ties, and temperature/top-k/top-p sampling against
// the reference inverse CDF for fixed uniforms.
func testSample(x *h) {
	be := x.be
	// Argmax: lowest id on ties; temp <= 0 ignores u.
	logits := []float32{1, 5, 3, 5, -1, 2, 2, 0, -7, -7, -7, -7}
	out := x.view("out", kernels.I32, 3)
	be.Sample(out, x.f32("logits", logits), x.f32("u", []float32{0.5, 0.5, 0.5}), 3, 4, 0, 0, 1)
	if got := x.geti(out); !slices.Equal(got, []int32{1, 1, 0}) {
		x.t.Errorf("Sample argmax: %v, want [1 1 0]", got)
	}
	for _, sz := range [][2]int{{6, 65}, {3, 1000}} {
		rows, vocab := sz[0], sz[1]
		l := x.randn(rows*vocab, 2)
		lt := x.f32("logits", l)
		for _, temp := range []float32{0.7, 1, 1.5} {
			for _, k := range []int{0, 1, 3, 50} {
				for _, p := range []float32{1, 0.9, 0.5, 0.01} {
					for draw := range 3 {
						u := x.randu(rows, 0, 1)
						if draw == 0 {
							u[0] = 0
							u[rows-1] = 0.99999
						}
						o := x.view("out", kernels.I32, rows)
						be.Sample(o, lt, x.f32("u", u), rows, vocab, temp, k, p)
						got := x.geti(o)
						for r := range rows {
							want, margin := refSample(f64s(l[r*vocab:(r+1)*vocab]), float64(u[r]), float64(temp), k, float64(p))
							if margin < 1e-5 {
								continue
							}
							if int(got[r]) != want {
								x.t.Errorf("Sample rows=%d vocab=%d temp=%v topK=%d topP=%v u=%v row %d: got %d want %d",
									rows, vocab, temp, k, p, u[r], r, got[r], want)
							}
						}
					}
				}
			}
		}
	}
}

// testAdamW: several steps (with gradient scaling, zero gradients and a
// prefix n < N) against a float64 reference of PyTorch's update.
func testAdamW(x *h) {
	be := x.be
	for _, n := range []int{1, 17, 1001, 70003} {
		p0 := x.randn(n+3, 1)
		pt, mt, vt := x.f32("p", p0), x.f32("m", make([]float32, n+3)), x.f32("v", make([]float32, n+3))
		p, m, v := f64s(p0), make([]float64, n+3), make([]float64, n+3)
		a := kernels.AdamWParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}
		for step := 1; step <= 5; step++ {
			a.Step = step
			a.GradScale = 1
			if step >= 4 {
				a.GradScale = 0.5
			}
			if step == 5 {
				a.LR, a.WeightDecay, a.Beta1 = 3e-3, 0, 0.8
			}
			g := x.randn(n+3, 0.1)
			for i := 0; i < n; i += 7 {
				g[i] = 0
			}
			be.AdamW(pt, x.f32("g", g), mt, vt, n, a)
			lr, wd, b1, b2, eps := float64(a.LR), float64(a.WeightDecay), float64(a.Beta1), float64(a.Beta2), float64(a.Eps)
			bc1 := 1 - math.Pow(b1, float64(step))
			bc2 := 1 - math.Pow(b2, float64(step))
			for i := 0; i < n; i++ {
				gi := float64(g[i]) * float64(a.GradScale)
				p[i] *= 1 - lr*wd
				m[i] = b1*m[i] + (1-b1)*gi
				v[i] = b2*v[i] + (1-b2)*gi*gi
				p[i] -= lr / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + eps)
			}
		}
		tag := sprint(" n=", n)
		x.near("AdamW p"+tag, x.get(pt), p, x.tol.AdamW)
		x.near("AdamW m"+tag, x.get(mt), m, x.tol.AdamW)
		x.near("AdamW v"+tag, x.get(vt), v, x.tol.AdamW)
	}
}
