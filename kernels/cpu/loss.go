package cpu

import (
	"math"
	"slices"

	"sdzero/kernels"
)

// weights returns w[0:rows], or nil (meaning all ones) for an invalid w.
func weights(op string, w kernels.Tensor, rows int) []float32 {
	if !w.Valid() {
		return nil
	}
	return f32(op, w, rows)
}

func weightAt(w []float32, r int) float32 {
	if w == nil {
		return 1
	}
	return w[r]
}

// rowGrain is how many rows of vocab elements make a parallel chunk.
func rowGrain(vocab int) int { return 1 + (1<<14)/(vocab+1) }

// CrossEntropy computes the weighted token loss and optionally its gradient
// (dlogits may alias logits). An invalid w means weight 1 everywhere; an
// invalid loss skips writing losses.
func (be *Backend) CrossEntropy(loss, dlogits, logits, targets, w kernels.Tensor, rows, vocab int, gscale float32) {
	const op = "CrossEntropy"
	checkDims(op, rows, vocab)
	x, tg, ws := f32(op, logits, rows*vocab), i32(op, targets, rows), weights(op, w, rows)
	var ls, dx []float32
	var low []uint16 // a BF16 dlogits (for a bf16 head's backward)
	if loss.Valid() {
		ls = f32(op, loss, rows)
	}
	grain := rowGrain(vocab)
	if dlogits.Valid() && dlogits.DType == kernels.BF16 {
		// Each row's F32 gradient in the worker's scratch, rounded once
		// into the BF16 row while it is in cache.
		be.wantBF16(op)
		low = u16(op, dlogits, rows*vocab)
		for w := range be.chunks(rows, grain) {
			be.workerBuf(w, vocab)
		}
	} else if dlogits.Valid() {
		dx = f32(op, dlogits, rows*vocab)
	}
	be.parallelForW(rows, grain, func(w, lo, hi int) {
		for r := lo; r < hi; r++ {
			var dr []float32 // the row's gradient (F32 scratch for a BF16 low)
			switch {
			case low != nil:
				dr = be.rowScratch[w][:vocab]
			case dx != nil:
				dr = dx[r*vocab : (r+1)*vocab]
			}
			var next []float32 // prefetched while row r computes
			if r+1 < hi {
				next = x[(r+1)*vocab : (r+2)*vocab]
			}
			ceRow(be, op, ls, dr, x[r*vocab:(r+1)*vocab], next, int(tg[r]), weightAt(ws, r), r, vocab, gscale)
			if low != nil {
				f32ToBF16Slice(low[r*vocab:(r+1)*vocab], dr)
			}
		}
	})
}

// ceRow is CrossEntropy of row r: its loss into ls[r] (ls may be nil) and
// its gradient into dr (nil: none; dr may alias xr); next (may be nil) is
// prefetched.
func ceRow(be *Backend, op string, ls, dr, xr, next []float32, t int, wr float32, r, vocab int, gscale float32) {
	if t >= vocab {
		be.fail(op, "target %d at row %d outside vocab %d", t, r, vocab)
		t = -1
	}
	if t < 0 || wr == 0 {
		if ls != nil {
			ls[r] = 0
		}
		clear(dr)
		return
	}
	xt := xr[t]
	mx, sum := expRow(dr, xr, next) // dr may alias xr
	lse := float64(mx) + math.Log(sum)
	if ls != nil {
		ls[r] = float32(float64(wr) * (lse - float64(xt)))
	}
	if dr != nil {
		gw := float64(gscale) * float64(wr)
		c := gw / sum
		et := float64(dr[t])
		scaleRow(dr, float32(c))
		dr[t] = float32(c*et - gw)
	}
}

// expRow returns max(x) and sum(exp(x - max)) (float64), storing the
// exponentials in dst when it is not nil (dst may alias x), and
// prefetches next (nil: none; the next row, see expSubPrefetch).
func expRow(dst, x, next []float32) (float32, float64) {
	mx := maxOf(x)
	return mx, expSubPrefetch(dst, x, mx, 1, next)
}

// maxGo is the portable maxOf.
func maxGo(x []float32) float32 {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		if v > mx {
			mx = v
		}
	}
	return mx
}

// expSubGo is the portable expSubScaled.
func expSubGo(dst, x []float32, m, scale float32) float64 {
	var s0, s1 float64
	i := 0
	if dst != nil {
		dst = dst[:len(x)]
		for ; i < len(x); i++ {
			e := exp32((x[i] - m) * scale)
			dst[i] = e
			s0 += float64(e)
		}
		return s0
	}
	for ; i+2 <= len(x); i += 2 {
		s0 += float64(exp32((x[i] - m) * scale))
		s1 += float64(exp32((x[i+1] - m) * scale))
	}
	for ; i < len(x); i++ {
		s0 += float64(exp32((x[i] - m) * scale))
	}
	return s0 + s1
}

// scaleRowGo is the portable scaleRow.
func scaleRowGo(x []float32, c float32) {
	for i := range x {
		x[i] *= c
	}
}

// LogProbs sets out[r] = log_softmax(logits[r])[targets[r]], 0 where the
// target is negative.
func (be *Backend) LogProbs(out, logits, targets kernels.Tensor, rows, vocab int) {
	const op = "LogProbs"
	checkDims(op, rows, vocab)
	o, x, tg := f32(op, out, rows), f32(op, logits, rows*vocab), i32(op, targets, rows)
	be.parallelFor(rows, rowGrain(vocab), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := int(tg[r])
			if t >= vocab {
				be.fail(op, "target %d at row %d outside vocab %d", t, r, vocab)
				t = -1
			}
			if t < 0 {
				o[r] = 0
				continue
			}
			xr := x[r*vocab : (r+1)*vocab]
			var next []float32
			if r+1 < hi {
				next = x[(r+1)*vocab : (r+2)*vocab]
			}
			mx, sum := expRow(nil, xr, next)
			o[r] = float32(float64(xr[t]) - float64(mx) - math.Log(sum))
		}
	})
}

// better reports whether (va, a) ranks above (vb, b): larger value, then
// lower id.
func better(va float32, a int, vb float32, b int) bool {
	return va > vb || (va == vb && a < b)
}

// selectTopK returns the ids of the k largest values of x (ties by lower id),
// ordered best first, using ids as scratch.
func selectTopK(x []float32, k int, ids []int) []int {
	if k >= len(x) {
		ids = ids[:0]
		for i := range x {
			ids = append(ids, i)
		}
	} else {
		// Min-heap on rank: the root is the worst kept id.
		h := ids[:0]
		worse := func(i, j int) bool { return better(x[h[j]], h[j], x[h[i]], h[i]) }
		down := func(i int) {
			for {
				l := 2*i + 1
				if l >= len(h) {
					return
				}
				c := l
				if l+1 < len(h) && worse(l+1, l) {
					c = l + 1
				}
				if !worse(c, i) {
					return
				}
				h[i], h[c] = h[c], h[i]
				i = c
			}
		}
		for i := range x {
			if len(h) < k {
				h = append(h, i)
				for c := len(h) - 1; c > 0; {
					p := (c - 1) / 2
					if !worse(c, p) {
						break
					}
					h[c], h[p] = h[p], h[c]
					c = p
				}
				continue
			}
			if better(x[i], i, x[h[0]], h[0]) {
				h[0] = i
				down(0)
			}
		}
		ids = h
	}
	slices.SortFunc(ids, func(a, b int) int {
		if better(x[a], a, x[b], b) {
			return -1
		}
		if better(x[b], b, x[a], a) {
			return 1
		}
		return 0
	})
	return ids
}

// Distill computes the weighted per-row divergence between student and
// teacher distributions and optionally its gradient w.r.t. the student
// logits (dstudent may alias s).
func (be *Backend) Distill(loss, dstudent, s, t, w kernels.Tensor, rows, vocab int, p kernels.DistillParams, gscale float32) {
	const op = "Distill"
	checkDims(op, rows, vocab)
	if dstudent.Valid() && dstudent.DType == kernels.BF16 { // for a bf16 head's backward
		d, done := be.narrowed(op, dstudent, rows*vocab)
		be.Distill(loss, d, s, t, w, rows, vocab, p, gscale)
		done()
		return
	}
	ss, ts, ws := f32(op, s, rows*vocab), f32(op, t, rows*vocab), weights(op, w, rows)
	var ls, ds []float32
	if loss.Valid() {
		ls = f32(op, loss, rows)
	}
	if dstudent.Valid() {
		ds = f32(op, dstudent, rows*vocab)
	}
	temp := p.Temp
	if temp <= 0 {
		temp = 1
	}
	inv := 1 / float64(temp)
	fw := float64(p.ForwardWeight)
	k := p.TopK
	if k <= 0 || k >= vocab {
		k = 0
	}
	n := vocab
	if k > 0 {
		n = k
	}
	// Allocate the scratch before fanning out (workerBuf is not safe for concurrent use).
	for w := range be.chunks(rows, rowGrain(vocab)) {
		be.workerBuf(w, 2*n)
	}
	be.parallelForW(rows, rowGrain(vocab), func(w, lo, hi int) {
		var ids []int
		var sv, tv, gv []float32
		if k > 0 {
			ids = make([]int, 0, k)
			sv, tv, gv = make([]float32, k), make([]float32, k), make([]float32, k)
		}
		buf := be.rowScratch[w][:2*n]
		es, et := buf[:n], buf[n:]
		for r := lo; r < hi; r++ {
			sr, tr := ss[r*vocab:(r+1)*vocab], ts[r*vocab:(r+1)*vocab]
			wr := weightAt(ws, r)
			var dr []float32
			if ds != nil {
				dr = ds[r*vocab : (r+1)*vocab]
			}
			if wr == 0 {
				if ls != nil {
					ls[r] = 0
				}
				clear(dr)
				continue
			}
			if k > 0 {
				ids = selectTopK(tr, k, ids)
				for i, id := range ids {
					sv[i], tv[i] = sr[id], tr[id]
				}
				var g []float32
				if dr != nil {
					g = gv
				}
				d := divergence(sv, tv, g, es, et, inv, fw, float64(gscale)*float64(wr))
				if ls != nil {
					ls[r] = float32(float64(wr) * d)
				}
				if dr != nil {
					clear(dr)
					for i, id := range ids {
						dr[id] = gv[i]
					}
				}
				continue
			}
			d := divergence(sr, tr, dr, es, et, inv, fw, float64(gscale)*float64(wr))
			if ls != nil {
				ls[r] = float32(float64(wr) * d)
			}
		}
	})
}

// divergence returns fw*KL(q||p) + (1-fw)*KL(p||q) for p = softmax(s*inv),
// q = softmax(t*inv), and if g is not nil sets g = gs * dD/ds (g may alias
// s; es and et are scratch of len(s)). With zs = s*inv, zt = t*inv,
// es = exp(zs - max zs), et likewise and their sums Ss, St:
//
//	KL(q||p) = sum(et*(zt-zs))/St - (lt - ls)
//	KL(p||q) = sum(es*(zs-zt))/Ss + (lt - ls)
//
// where ls, lt are the log-sum-exps, so one pass gives both.
func divergence(s, t, g, es, et []float32, inv float64, fw, gs float64) float64 {
	t, es, et = t[:len(s)], es[:len(s)], et[:len(s)]
	ms, mt := maxOf(s), maxOf(t)
	inv32 := float32(inv)
	ss := expSubScaled(es, s, ms, inv32)
	st := expSubScaled(et, t, mt, inv32)
	a, b := klSums(s, t, es, et)
	a *= inv
	b = -b * inv
	ls := float64(ms)*inv + math.Log(ss)
	lt := float64(mt)*inv + math.Log(st)
	klqp := a/st - (lt - ls)
	klpq := b/ss + (lt - ls)
	if g != nil {
		// log p - log q = (s - t)*inv + (lt - ls), minus KL(p||q).
		c := gs * inv
		k := [6]float32{float32(1 / ss), float32(1 / st), inv32, float32(lt - ls - klpq), float32(c * fw), float32(c * (1 - fw))}
		distillGrad(g[:len(s)], s, t, es, et, &k)
	}
	return fw*klqp + (1-fw)*klpq
}

// Sample draws one id per row: argmax for temp <= 0, else inverse-CDF
// sampling (in ascending id order over the kept ids) from the temperature
// softmax restricted by top-k and top-p.
func (be *Backend) Sample(out, logits, u kernels.Tensor, rows, vocab int, temp float32, topK int, topP float32) {
	const op = "Sample"
	checkDims(op, rows, vocab)
	o, x := i32(op, out, rows), f32(op, logits, rows*vocab)
	// A NaN temperature or top_p would make every probability NaN and
	// leave no id to sample (an index panic); callers validate their
	// settings, this is the backstop.
	if temp != temp || math.IsInf(float64(temp), 0) || topP != topP {
		be.fail(op, "temperature %g and top_p %g must be finite numbers", temp, topP)
		clear(o)
		return
	}
	var us []float32
	if temp > 0 {
		us = f32(op, u, rows)
	}
	full := (topK <= 0 || topK >= vocab) && topP >= 1
	be.parallelForW(rows, rowGrain(vocab), func(w, lo, hi int) {
		var ids []int
		var pr []float64
		for r := lo; r < hi; r++ {
			xr := x[r*vocab : (r+1)*vocab]
			if full && temp > 0 && vocab > 1 {
				o[r] = int32(sampleFull(xr, float64(us[r]), temp, be.workerBuf(w, vocab))) // decode.go
				continue
			}
			if temp <= 0 || vocab == 1 {
				best, nan := 0, false
				for j, v := range xr {
					nan = nan || v != v
					if v > xr[best] {
						best = j
					}
				}
				o[r] = int32(best)
				if nan {
					o[r] = -1
				}
				continue
			}
			o[r] = int32(sampleRow(xr, float64(us[r]), temp, topK, topP, &ids, &pr))
		}
	})
	// Non-finite logits (NaN weights or activations) would otherwise come
	// out as token 0, silently.
	for r, id := range o {
		if id < 0 {
			be.fail(op, "row %d: the logits are NaN or infinite (non-finite weights or activations)", r)
			o[r] = 0
		}
	}
}

// sampleRow implements Sample for one row.
func sampleRow(x []float32, u float64, temp float32, topK int, topP float32, idsp *[]int, prp *[]float64) int {
	vocab := len(x)
	ids := (*idsp)[:0]
	k := topK
	if k <= 0 || k > vocab {
		k = vocab
	}
	needSort := topP < 1
	if k < vocab {
		ids = selectTopK(x, k, ids) // sorted best first
	} else {
		for i := range x {
			ids = append(ids, i)
		}
	}
	// Softmax of logits/temp over the candidates, in float64.
	mx := math.Inf(-1)
	for _, id := range ids {
		mx = max(mx, float64(x[id]/temp))
	}
	pr := (*prp)[:0]
	var sum float64
	for _, id := range ids {
		e := math.Exp(float64(x[id]/temp) - mx)
		pr = append(pr, e)
		sum += e
	}
	if !(sum > 0) || math.IsInf(sum, 0) {
		*idsp, *prp = ids, pr
		return -1 // non-finite logits; Sample reports the row
	}
	if needSort && k == vocab {
		// Only ids with probability >= eps = (1-topP)/(2 vocab) can be in
		// the nucleus: the rest hold less than 1-topP in total, so the
		// sorted prefix reaches topP before any of them. Sort just those.
		eps := (1 - float64(topP)) / (2 * float64(vocab)) * sum
		n := 0
		for i, id := range ids {
			if pr[i] >= eps {
				ids[n] = id
				n++
			}
		}
		ids = ids[:n]
		slices.SortFunc(ids, func(a, b int) int {
			if better(x[a], a, x[b], b) {
				return -1
			}
			if better(x[b], b, x[a], a) {
				return 1
			}
			return 0
		})
		pr = pr[:n]
		for i, id := range ids {
			pr[i] = math.Exp(float64(x[id]/temp) - mx)
		}
	}
	*idsp, *prp = ids, pr
	if needSort {
		// ids are sorted by logit, so by probability: keep the smallest
		// prefix whose mass reaches topP (at least one id).
		var c float64
		n := len(ids)
		for i, e := range pr {
			c += e / sum
			if c >= float64(topP) {
				n = i + 1
				break
			}
		}
		ids, pr = ids[:n], pr[:n]
		sum = 0
		for _, e := range pr {
			sum += e
		}
	}
	// Inverse CDF in ascending id order.
	if len(ids) > 1 && !slices.IsSorted(ids) {
		order := make([]int, len(ids))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return ids[a] - ids[b] })
		ids2 := make([]int, len(ids))
		pr2 := make([]float64, len(ids))
		for i, o := range order {
			ids2[i], pr2[i] = ids[o], pr[o]
		}
		ids, pr = ids2, pr2
	}
	target := u * sum
	var c float64
	last := ids[0]
	for i, e := range pr {
		if e > 0 {
			last = ids[i]
		}
		c += e
		if c > target && e > 0 {
			return ids[i]
		}
	}
	return last
}

// klSumsGo is the portable klSums.
func klSumsGo(s, t, es, et []float32) (float64, float64) {
	var a, b float64
	for i, v := range s {
		dz := float64(t[i]) - float64(v)
		a += float64(et[i]) * dz
		b += float64(es[i]) * dz
	}
	return a, b
}

// distillGradGo is the portable distillGrad: with c = [1/Ss, 1/St, inv,
// off, cfw, crw], p = es/Ss, q = et/St, d = (s-t)*inv + off and
// g = cfw*(p-q) + crw*p*d.
func distillGradGo(g, s, t, es, et []float32, c *[6]float32) {
	is, it, inv, off, cfw, crw := c[0], c[1], c[2], c[3], c[4], c[5]
	t, es, et, g = t[:len(s)], es[:len(s)], et[:len(s)], g[:len(s)]
	for i, v := range s {
		p, q := es[i]*is, et[i]*it
		d := (v-t[i])*inv + off
		g[i] = cfw*(p-q) + (crw*p)*d
	}
}
