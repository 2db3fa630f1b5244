package cpu

import (
	"fmt"
	"math"
	"sync"

	"sdzero/kernels"
)

// grainElem is the smallest number of elements worth a goroutine in
// streaming element-wise ops.
const grainElem = 1 << 15

// Fill sets every element of t to v.
func (be *Backend) Fill(t kernels.Tensor, v float32) {
	x := f32("Fill", t, t.N)
	be.parallelFor(len(x), grainElem, func(lo, hi int) {
		s := x[lo:hi]
		if v == 0 && !math.Signbit(float64(v)) {
			clear(s) // memclr: several times faster than the loop
			return
		}
		for i := range s {
			s[i] = v
		}
	})
}

// Scale multiplies x[0:n] by s.
func (be *Backend) Scale(x kernels.Tensor, s float32, n int) {
	v := f32("Scale", x, n)
	be.parallelFor(n, grainElem, func(lo, hi int) { scaleRow(v[lo:hi], s) })
}

// AXPY computes y += alpha*x over n elements.
func (be *Backend) AXPY(y, x kernels.Tensor, alpha float32, n int) {
	ys, xs := f32("AXPY", y, n), f32("AXPY", x, n)
	be.parallelFor(n, grainElem, func(lo, hi int) {
		yy, xx := ys[lo:hi], xs[lo:hi]
		for i := range yy {
			yy[i] += float32(alpha * xx[i])
		}
	})
}

// Add computes out = a + b over n elements.
func (be *Backend) Add(out, a, b kernels.Tensor, n int) {
	o, as, bs := f32("Add", out, n), f32("Add", a, n), f32("Add", b, n)
	be.parallelFor(n, grainElem, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o[i] = as[i] + bs[i]
		}
	})
}

// SumSquares returns the float64 sum of squares of x[0:n].
func (be *Backend) SumSquares(x kernels.Tensor, n int) float64 {
	v := f32("SumSquares", x, n)
	part := make([]float64, max(1, be.chunks(n, grainElem)))
	be.parallelForW(n, grainElem, func(w, lo, hi int) { part[w] = sumSquares(v[lo:hi]) })
	var s float64
	for _, p := range part {
		s += p
	}
	return s
}

func checkDims(op string, dims ...int) {
	for _, d := range dims {
		if d < 0 {
			panic(fmt.Sprintf("cpu %s: negative dimension in %v", op, dims))
		}
	}
}

// AddBias adds bias to every row of y [rows,dim].
func (be *Backend) AddBias(y, bias kernels.Tensor, rows, dim int) {
	const op = "AddBias"
	checkDims(op, rows, dim)
	ys, bs := f32(op, y, rows*dim), f32(op, bias, dim)
	be.parallelFor(rows, 1+grainElem/(dim+1), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := ys[r*dim : (r+1)*dim]
			for j, b := range bs {
				row[j] += b
			}
		}
	})
}

// BiasBackward accumulates the column sums of dy [rows,dim] into dbias.
func (be *Backend) BiasBackward(dbias, dy kernels.Tensor, rows, dim int) {
	const op = "BiasBackward"
	checkDims(op, rows, dim)
	db, d := f32(op, dbias, dim), f32(op, dy, rows*dim)
	// Parallel over columns: each worker owns a column range.
	be.parallelFor(dim, 64, func(lo, hi int) {
		acc := make([]float64, hi-lo)
		for r := 0; r < rows; r++ {
			row := d[r*dim+lo : r*dim+hi]
			for j, v := range row {
				acc[j] += float64(v)
			}
		}
		for j := range acc {
			db[lo+j] += float32(acc[j])
		}
	})
}

// Embedding gathers out[i] = table[ids[i]].
func (be *Backend) Embedding(out, table, ids kernels.Tensor, n, dim int) {
	const op = "Embedding"
	checkDims(op, n, dim)
	o, id := f32(op, out, n*dim), i32(op, ids, n)
	tb := buf(op, table)
	vocab := table.N / max(dim, 1)
	t := f32(op, table, vocab*dim)
	_ = tb
	for i, v := range id {
		row := o[i*dim : (i+1)*dim]
		if v < 0 || int(v) >= vocab {
			be.fail(op, "id %d at position %d outside table of %d rows", v, i, vocab)
			clear(row)
			continue
		}
		copy(row, t[int(v)*dim:(int(v)+1)*dim])
	}
}

// EmbeddingBackward accumulates dout[i] into dtable[ids[i]].
func (be *Backend) EmbeddingBackward(dtable, dout, ids kernels.Tensor, n, dim int) {
	const op = "EmbeddingBackward"
	checkDims(op, n, dim)
	d, id := f32(op, dout, n*dim), i32(op, ids, n)
	vocab := dtable.N / max(dim, 1)
	t := f32(op, dtable, vocab*dim)
	for i, v := range id {
		if v < 0 || int(v) >= vocab {
			be.fail(op, "id %d at position %d outside table of %d rows", v, i, vocab)
			continue
		}
		row := t[int(v)*dim : (int(v)+1)*dim]
		for j, g := range d[i*dim : (i+1)*dim] {
			row[j] += g
		}
	}
}

// GatherRows copies dst[i] = src[idx[i]].
func (be *Backend) GatherRows(dst, src, idx kernels.Tensor, n, dim int) {
	const op = "GatherRows"
	checkDims(op, n, dim)
	d, id := f32(op, dst, n*dim), i32(op, idx, n)
	rows := src.N / max(dim, 1)
	s := f32(op, src, rows*dim)
	for i, v := range id {
		row := d[i*dim : (i+1)*dim]
		if v < 0 || int(v) >= rows {
			be.fail(op, "index %d at position %d outside %d rows", v, i, rows)
			clear(row)
			continue
		}
		copy(row, s[int(v)*dim:(int(v)+1)*dim])
	}
}

// RMSNorm computes out = x*rstd*w per row, storing rstd. A BF16 out gets
// each row's F32 result rounded once, while the row is in cache.
func (be *Backend) RMSNorm(out, rstd, x, w kernels.Tensor, rows, dim int, eps float32) {
	const op = "RMSNorm"
	checkDims(op, rows, dim)
	rs, xs, ws := f32(op, rstd, rows), f32(op, x, rows*dim), f32(op, w, dim)
	var o []float32
	var low []uint16
	if out.DType == kernels.BF16 { // mixed precision: F32 result, rounded once
		be.wantBF16(op)
		low = u16(op, out, rows*dim)
	} else {
		o = f32(op, out, rows*dim)
	}
	grain := 1 + 4096/(dim+1)
	if low != nil {
		for w := range be.chunks(rows, grain) {
			be.workerBuf(w, dim)
		}
	}
	be.parallelForW(rows, grain, func(w, lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := xs[r*dim : (r+1)*dim]
			ss := sumSquares(xr)
			// HF: x * torch.rsqrt(mean + eps) in float32, then weight * that.
			mean := float32(ss / float64(dim))
			s := float32(1 / math.Sqrt(float64(mean+eps)))
			rs[r] = s
			if low == nil {
				rmsScale(o[r*dim:(r+1)*dim], xr, ws, s)
				continue
			}
			or := be.rowScratch[w][:dim]
			rmsScale(or, xr, ws, s)
			f32ToBF16Slice(low[r*dim:(r+1)*dim], or)
		}
	})
}

// rmsScaleGo is the portable rmsScale.
func rmsScaleGo(o, x, w []float32, s float32) {
	x, w = x[:len(o)], w[:len(o)]
	for j, v := range x {
		o[j] = w[j] * float32(v*s)
	}
}

// rmsAccGo is the portable rmsAcc.
func rmsAccGo(acc []float64, dr, x []float32, s float64) {
	dr, x = dr[:len(acc)], x[:len(acc)]
	for j, v := range x {
		acc[j] += float64(dr[j]) * float64(v) * s
	}
}

// rmsDxGo is the portable rmsDx.
func rmsDxGo(dx, dr, w, x []float32, s, c float64) {
	dr, w, x = dr[:len(dx)], w[:len(dx)], x[:len(dx)]
	for j, v := range x {
		dx[j] += float32(float64(dr[j])*float64(w[j])*s - float64(v)*c)
	}
}

// RMSNormBackward accumulates into dx and dw.
func (be *Backend) RMSNormBackward(dx, dw, dout, x, w, rstd kernels.Tensor, rows, dim int) {
	const op = "RMSNormBackward"
	checkDims(op, rows, dim)
	dxs, dws := f32(op, dx, rows*dim), f32(op, dw, dim)
	ds, xs, ws, rs := f32(op, dout, rows*dim), f32(op, x, rows*dim), f32(op, w, dim), f32(op, rstd, rows)
	grain := 1 + 4096/(dim+1)
	parts := make([][]float64, be.chunks(rows, grain))
	be.parallelForW(rows, grain, func(w, lo, hi int) {
		acc := make([]float64, dim)
		for r := lo; r < hi; r++ {
			xr, dr, dxr := xs[r*dim:(r+1)*dim], ds[r*dim:(r+1)*dim], dxs[r*dim:(r+1)*dim]
			s := float64(rs[r])
			// The dot stays a sequential float64 sum (its order is the
			// result's); the element-wise parts are vector loops.
			var dot float64
			for j, v := range xr {
				dot += float64(dr[j]) * float64(ws[j]) * float64(v)
			}
			rmsAcc(acc, dr, xr, s)
			c := dot * s * s * s / float64(dim)
			rmsDx(dxr, dr, ws, xr, s, c)
		}
		parts[w] = acc
	})
	for _, acc := range parts {
		for j, v := range acc {
			dws[j] += float32(v)
		}
	}
}

// ropeFreqs returns inv_freq as Hugging Face computes it in float32:
// 1 / theta^(float32(2j)/dim).
func ropeFreqs(headDim int, theta float32) []float32 {
	key := [2]uint32{uint32(headDim), math.Float32bits(theta)}
	ropeTables.mu.Lock()
	f, ok := ropeTables.freqs[key]
	ropeTables.mu.Unlock()
	if ok {
		return f // never written after it is published
	}
	f = ropeFreqsOf(headDim, theta)
	ropeTables.mu.Lock()
	if len(ropeTables.freqs) >= ropeCacheSets {
		clear(ropeTables.freqs)
	}
	ropeTables.freqs[key] = f
	ropeTables.mu.Unlock()
	return f
}

// ropeFreqsOf computes ropeFreqs (64 math.Pow at head dim 128: most of a
// decode step's RoPE call, hence the cache).
func ropeFreqsOf(headDim int, theta float32) []float32 {
	half := headDim / 2
	f := make([]float32, half)
	for j := range f {
		e := float32(2*j) / float32(headDim)
		p := float32(math.Pow(float64(theta), float64(e)))
		f[j] = 1 / p
	}
	return f
}

// RoPE rotates x [tokens,heads,headDim] in place (rotate_half layout).
func (be *Backend) RoPE(x, pos kernels.Tensor, tokens, heads, headDim int, theta float32, inverse bool) {
	const op = "RoPE"
	checkDims(op, tokens, heads, headDim)
	if headDim%2 != 0 {
		panic(fmt.Sprintf("cpu %s: odd head dim %d", op, headDim))
	}
	be.rope(op, x, pos, ropeFreqs(headDim, theta), tokens, heads, headDim, inverse)
}

// RoPEFreqs is RoPE with the inverse frequencies invFreq [headDim/2].
func (be *Backend) RoPEFreqs(x, pos, invFreq kernels.Tensor, tokens, heads, headDim int, inverse bool) {
	const op = "RoPEFreqs"
	checkDims(op, tokens, heads, headDim)
	if headDim%2 != 0 {
		panic(fmt.Sprintf("cpu %s: odd head dim %d", op, headDim))
	}
	be.rope(op, x, pos, f32(op, invFreq, headDim/2), tokens, heads, headDim, inverse)
}

// rope rotates x by the angles pos*inv.
func (be *Backend) rope(op string, x, pos kernels.Tensor, inv []float32, tokens, heads, headDim int, inverse bool) {
	xs, ps := f32(op, x, tokens*heads*headDim), i32(op, pos, tokens)
	half := headDim / 2
	// cos/sin rows per distinct position (batches repeat positions).
	maxPos := 0
	for _, p := range ps {
		if p < 0 {
			panic(fmt.Sprintf("cpu %s: negative position %d", op, p))
		}
		maxPos = max(maxPos, int(p))
	}
	// The table of every position up to maxPos comes from the cache
	// (built once per set of frequencies: a training step rotates q and
	// k of every layer, forward and backward, at the same positions);
	// a decode step far beyond the cached rows computes its own.
	table := ropeTables.rows(inv, maxPos, maxPos < 4*tokens+64 && maxPos < ropeCacheMaxPos)
	if table == nil && maxPos < 4*tokens+64 {
		table = make([]float32, (maxPos+1)*headDim) // only the rows used
		done := make([]bool, maxPos+1)
		for _, p := range ps {
			if !done[p] {
				ropeRow(table[int(p)*headDim:(int(p)+1)*headDim], float32(p), inv)
				done[p] = true
			}
		}
	}
	// Work-sized chunks (32K elements): a decode step's few tokens take
	// less time than waking a worker.
	be.parallelFor(tokens, 1+(1<<15)/(heads*headDim+1), func(lo, hi int) {
		row := make([]float32, headDim)
		for t := lo; t < hi; t++ {
			cs := row
			if table != nil {
				cs = table[int(ps[t])*headDim : (int(ps[t])+1)*headDim]
			} else {
				ropeRow(row, float32(ps[t]), inv)
			}
			ropeRotate(xs[t*heads*headDim:(t+1)*heads*headDim], cs, heads, half, inverse)
		}
	})
}

// ropeRotateGo rotates the pairs (j0 <= j < half) of each of heads vectors
// [x1 half | x2 half] in x by the row cs = [cos half | sin half] (its
// inverse with inverse), every product rounded to float32 before the sum
// (no FMA), as PyTorch's q*cos + rotate_half(q)*sin.
func ropeRotateGo(x, cs []float32, heads, half, j0 int, inverse bool) {
	c, sn := cs[:half], cs[half:2*half]
	for h := range heads {
		v := x[h*2*half : (h+1)*2*half]
		x1s, x2s := v[:half], v[half:]
		if inverse {
			for j := j0; j < half; j++ {
				x1, x2 := x1s[j], x2s[j]
				x1s[j] = float32(x1*c[j]) + float32(x2*sn[j])
				x2s[j] = float32(x2*c[j]) - float32(x1*sn[j])
			}
		} else {
			for j := j0; j < half; j++ {
				x1, x2 := x1s[j], x2s[j]
				x1s[j] = float32(x1*c[j]) - float32(x2*sn[j])
				x2s[j] = float32(x2*c[j]) + float32(x1*sn[j])
			}
		}
	}
}

// ropeCache holds cos/sin tables [pos][cos half | sin half] for
// positions 0..len-1, one per set of inverse frequencies. A table is never
// written after it is published (growing replaces it), so callers may read
// the slice they got without the lock.
type ropeCache struct {
	mu     sync.Mutex
	tables map[string][]float32
	freqs  map[[2]uint32][]float32 // ropeFreqs by head dim and theta bits
}

// ropeCacheSets bounds the distinct frequency sets kept (a model has one or
// two: YaRN or per-layer theta); beyond it the cache starts over.
const ropeCacheSets = 8

// ropeCacheMaxPos bounds the positions a cached table holds (32 MiB at
// head dim 128).
const ropeCacheMaxPos = 1 << 16

// ropeTables is the process-wide cache: the table is a pure function of
// the frequencies and the position, so backends can share it.
var ropeTables = ropeCache{tables: map[string][]float32{}, freqs: map[[2]uint32][]float32{}}

// rows returns a table covering positions 0..maxPos for inv: the cached
// one, or when grow, the cached one extended (nil when it does not reach
// maxPos and grow is false).
func (c *ropeCache) rows(inv []float32, maxPos int, grow bool) []float32 {
	headDim := 2 * len(inv)
	key := make([]byte, 4*len(inv))
	for j, f := range inv {
		b := math.Float32bits(f)
		key[4*j], key[4*j+1], key[4*j+2], key[4*j+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tables[string(key)]
	if len(t) >= (maxPos+1)*headDim || !grow {
		if len(t) < (maxPos+1)*headDim {
			return nil
		}
		return t
	}
	if len(c.tables) >= ropeCacheSets {
		clear(c.tables)
	}
	have := len(t) / max(headDim, 1)
	n := min(max(maxPos+1, 2*have), ropeCacheMaxPos) // amortised growth for rising positions
	nt := make([]float32, n*headDim)
	copy(nt, t)
	for p := have; p < n; p++ {
		ropeRow(nt[p*headDim:(p+1)*headDim], float32(p), inv)
	}
	c.tables[string(key)] = nt
	return nt
}

// ropeRow fills row [cos(p*inv[j]) ..., sin(p*inv[j]) ...] with the angle
// rounded to float32 as Hugging Face computes it.
func ropeRow(row []float32, p float32, inv []float32) {
	half := len(inv)
	for j, f := range inv {
		a := float64(p * f)
		row[j] = float32(math.Cos(a))
		row[half+j] = float32(math.Sin(a))
	}
}

// SwiGLU computes out = silu(gate)*up. A BF16 out gets each block's F32
// result rounded once, while the block is in cache.
func (be *Backend) SwiGLU(out, gate, up kernels.Tensor, n int) {
	const op = "SwiGLU"
	g, u := f32(op, gate, n), f32(op, up, n)
	var o []float32
	var low []uint16
	if out.DType == kernels.BF16 { // mixed precision: F32 result, rounded once
		be.wantBF16(op)
		low = u16(op, out, n)
	} else {
		o = f32(op, out, n)
	}
	be.swigluChunks(n, 2, func(e []float32, lo, hi int) {
		var ob []float32
		if low != nil {
			ob = e[swigluBlock : swigluBlock+hi-lo]
		} else {
			ob = o[lo:hi]
		}
		swigluBlockF32(ob, g[lo:hi], u[lo:hi], e[:hi-lo])
		if low != nil {
			f32ToBF16Slice(low[lo:hi], ob)
		}
	})
}

// swigluBlockF32 sets o = silu(g)*u over one block, e scratch of its length.
func swigluBlockF32(o, g, u, e []float32) {
	d := swigluVec(o, g, u)
	o, g, u, e = o[d:], g[d:], u[d:len(o)], e[d:len(o)]
	// e = exp(-gate) by the vector exp, then silu(g) = g/(1+e).
	expSubScaled(e, g, 0, -1)
	for i, x := range g {
		sig := 1 / (1 + e[i])
		o[i] = float32(x*sig) * u[i]
	}
}

// SwiGLUBackward overwrites dgate and dup.
func (be *Backend) SwiGLUBackward(dgate, dup, dout, gate, up kernels.Tensor, n int) {
	const op = "SwiGLUBackward"
	dg, du, d, g, u := f32(op, dgate, n), f32(op, dup, n), f32(op, dout, n), f32(op, gate, n), f32(op, up, n)
	be.swigluChunks(n, 1, func(e []float32, lo, hi int) {
		k := swigluBwdVec(dg[lo:hi], du[lo:hi], d[lo:hi], g[lo:hi], u[lo:hi])
		lo += k
		expSubScaled(e[:hi-lo], g[lo:hi], 0, -1)
		for i := lo; i < hi; i++ {
			x := g[i]
			sig := 1 / (1 + e[i-lo])
			dy := d[i]
			du[i] = dy * (x * sig)
			// The conversion keeps x*(1-sig) rounded on its own (no FMA
			// under GOAMD64=v3), as the vector path computes it.
			dg[i] = dy * u[i] * (sig * (1 + float32(x*(1-sig))))
		}
	})
}

// swigluBlock is the block of SwiGLU's element-wise passes: the vector
// exp's scratch (and a BF16 output's F32 block) stay in L1.
const swigluBlock = 4096

// swigluChunks runs fn over [0,n) in parallel chunks of at most
// swigluBlock elements, each with a scratch slice of bufs*swigluBlock.
func (be *Backend) swigluChunks(n, bufs int, fn func(e []float32, lo, hi int)) {
	grain := 1 << 13
	for w := range be.chunks(n, grain) {
		be.workerBuf(w, bufs*swigluBlock)
	}
	be.parallelForW(n, grain, func(w, lo, hi int) {
		e := be.rowScratch[w][:bufs*swigluBlock]
		for b := lo; b < hi; b += swigluBlock {
			bh := min(hi, b+swigluBlock)
			fn(e, b, bh)
		}
	})
}

// CacheWrite copies x [b,t,width] into cache [b,tmax,width] at start[r]+i.
func (be *Backend) CacheWrite(cache, x, start kernels.Tensor, b, t, tmax, width int) {
	const op = "CacheWrite"
	checkDims(op, b, t, tmax, width)
	if cache.DType == kernels.BF16 {
		be.cacheWriteBF16(cache, x, start, b, t, tmax, width)
		return
	}
	c, xs, st := f32(op, cache, b*tmax*width), f32(op, x, b*t*width), i32(op, start, b)
	for r := range b {
		for i := range t {
			p := int(st[r]) + i
			if p < 0 || p >= tmax {
				continue
			}
			copy(c[(r*tmax+p)*width:(r*tmax+p+1)*width], xs[(r*t+i)*width:(r*t+i+1)*width])
		}
	}
}

// AdamW applies one PyTorch AdamW step (foreach=False order of float32 ops).
func (be *Backend) AdamW(p, g, m, v kernels.Tensor, n int, a kernels.AdamWParams) {
	const op = "AdamW"
	ps, gs, ms, vs := f32(op, p, n), f32(op, g, n), f32(op, m, n), f32(op, v, n)
	c := adamwConsts(op, a)
	be.parallelFor(n, 1<<14, func(lo, hi int) {
		d := adamwVec(ps[lo:hi], gs[lo:hi], ms[lo:hi], vs[lo:hi], &c)
		adamwGo(ps[lo+d:hi], gs[lo+d:hi], ms[lo+d:hi], vs[lo+d:hi], &c)
	})
}

// adamwConsts returns the float32 constants of one AdamW step, in the
// layout adamwGo and adamwVec take.
func adamwConsts(op string, a kernels.AdamWParams) [8]float32 {
	if a.Step < 1 {
		panic(fmt.Sprintf("cpu %s: step %d, want >= 1", op, a.Step))
	}
	lr, wd := float64(a.LR), float64(a.WeightDecay)
	decay := float32(1 - lr*wd)
	b1, b2 := float64(a.Beta1), float64(a.Beta2)
	w1 := float32(1 - b1) // lerp weight
	b2f := float32(b2)
	c2 := float32(1 - b2)
	bc1 := 1 - math.Pow(b1, float64(a.Step))
	bc2 := 1 - math.Pow(b2, float64(a.Step))
	stepSize := float32(-(lr / bc1))
	bc2Sqrt := float32(math.Sqrt(bc2))
	return [8]float32{a.GradScale, decay, w1, b2f, c2, bc2Sqrt, a.Eps, stepSize}
}

// adamwGo is one AdamW step over equal-length slices with the constants
// c = [gradScale, decay, w1, beta2, 1-beta2, sqrt(bc2), eps, -lr/bc1],
// each float32 operation rounded as PyTorch's foreach=False loop does.
func adamwGo(ps, gs, ms, vs []float32, c *[8]float32) {
	scale, decay, w1, b2, c2, bc2Sqrt, eps, stepSize := c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
	gs, ms, vs = gs[:len(ps)], ms[:len(ps)], vs[:len(ps)]
	for i := range ps {
		gi := float32(gs[i] * scale)
		pi := float32(ps[i] * decay)
		mi := ms[i]
		// torch.lerp: weight < 0.5 -> self + w*(end-self).
		if w1 < 0.5 {
			mi = mi + float32(w1*(gi-mi))
		} else {
			mi = gi - float32((gi-mi)*(1-w1))
		}
		vi := float32(vs[i] * b2)
		vi = vi + float32(float32(c2*gi)*gi)
		den := float32(float32(math.Sqrt(float64(vi)))/bc2Sqrt) + eps
		pi = pi + float32(stepSize*mi)/den
		ps[i], ms[i], vs[i] = pi, mi, vi
	}
}

// sumSquaresGo is the portable sumSquares.
func sumSquaresGo(v []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a, b, c, d := float64(v[i]), float64(v[i+1]), float64(v[i+2]), float64(v[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(v); i++ {
		a := float64(v[i])
		s0 += a * a
	}
	return s0 + s1 + s2 + s3
}
