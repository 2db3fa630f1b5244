package model

import (
	"fmt"

	"sdzero/kernels"
)

// setBatch checks a right-padded batch and uploads ids (padding replaced
// by id 0), positions and lengths.
func (a *Acts) setBatch(ids []int32, lens []int) error {
	b := len(lens)
	if b == 0 || b > a.B {
		return fmt.Errorf("model: batch of %d rows for activations of %d rows", b, a.B)
	}
	if len(ids)%b != 0 {
		return fmt.Errorf("model: %d ids do not split into %d rows", len(ids), b)
	}
	t := len(ids) / b
	if t == 0 || t > a.T {
		return fmt.Errorf("model: rows of %d tokens for activations of %d tokens", t, a.T)
	}
	V := int32(a.m.Cfg.VocabSize)
	if cap(a.hostIDs) < b*t {
		a.hostIDs = make([]int32, a.B*a.T)
	}
	host := a.hostIDs[:b*t]
	pos := make([]int32, b*t)
	hl := make([]int32, b)
	for r := 0; r < b; r++ {
		if lens[r] < 0 || lens[r] > t {
			return fmt.Errorf("model: row %d has length %d, want 0..%d", r, lens[r], t)
		}
		hl[r] = int32(lens[r])
		for i := 0; i < t; i++ {
			id := ids[r*t+i]
			if i >= lens[r] {
				id = 0
			} else if id < 0 || id >= V {
				return fmt.Errorf("model: token id %d at row %d position %d is outside the vocabulary [0,%d)", id, r, i, V)
			}
			host[r*t+i] = id
			pos[r*t+i] = int32(i)
		}
	}
	be := a.m.BE
	be.UploadInt32(a.ids, host)
	be.UploadInt32(a.pos, pos)
	be.UploadInt32(a.lens, hl)
	a.b, a.t = b, t
	return nil
}

// linear computes y[rows,out] = x[rows,in] W^T (+ bias). A BF16 w gets x
// converted to BF16 in low first (see lowered).
func linear(be kernels.Backend, y, x, w, bias, low kernels.Tensor, rows, out, in int) {
	x = lowered(be, x, w, low, rows*in)
	be.MatMul(y, x, w, rows, out, in, false, true, 1, 0)
	if bias.Valid() {
		be.AddBias(y, bias, rows, out)
	}
}

// kvCache holds the keys and values of every layer for generation,
// [b,tmax,hkv*d] per layer.
type kvCache struct {
	k, v  []kernels.Tensor // views of all, layer by layer
	all   kernels.Tensor   // owns every layer's k and v
	start kernels.Tensor   // I32 [b] zeros, for the prefill write
	b     int
	tmax  int
}

// qkv computes the attention inputs of layer l from x [n,H] (the normed
// input, or the residual stream itself for PostNorm families):
// projections, biases, q/k norm (per head, or over the whole width) and
// RoPE at pos. low is the BF16 input scratch when lp's weights are BF16.
func (m *Model) qkv(l int, lp *layerParams, x, qp, kp, q, k, v, qrstd, krstd, pos, low kernels.Tensor, n int) {
	c, be := m.Cfg, m.BE
	H, d := c.Hidden, c.HeadDim
	qd, kvd := c.Heads*d, c.KVHeads*d
	eps := float32(c.RMSNormEps)
	x = lowered(be, x, lp.wq, low, n*H) // once for the three projections
	linear(be, qp, x, lp.wq, lp.bq, low, n, qd, H)
	linear(be, kp, x, lp.wk, lp.bk, low, n, kvd, H)
	linear(be, v, x, lp.wv, lp.bv, low, n, kvd, H)
	if c.QKNorm {
		qr, qn, kr, kn := c.qkNormShape()
		be.RMSNorm(q, qrstd.View(0, n*qr), qp, lp.qNorm, n*qr, qn, eps)
		be.RMSNorm(k, krstd.View(0, n*kr), kp, lp.kNorm, n*kr, kn, eps)
	}
	m.rope(l, q, pos, n, c.Heads, false)
	m.rope(l, k, pos, n, c.KVHeads, false)
}

// mlpBlock computes the MLP half of a layer: resOut = resMid +
// down(silu(gate(x)) * up(x)) with x = RMSNorm(resMid); for PostNorm
// families resOut = resMid + RMSNorm(down(silu(gate(resMid)) *
// up(resMid))) with post_feedforward_layernorm (ln2, rstd2 then hold that
// norm's output and statistics).
func (m *Model) mlpBlock(lp *layerParams, resMid, ln2, rstd2, gate, up, act, down, resOut, low kernels.Tensor, n int) {
	c, be := m.Cfg, m.BE
	H, I := c.Hidden, c.Intermediate
	eps := float32(c.RMSNormEps)
	var x kernels.Tensor
	if c.PostNorm {
		x = lowered(be, resMid, lp.wGate, low, n*H)
	} else {
		x = normFor(be, ln2, rstd2, resMid, lp.postNorm, lp.wGate, low, n, H, eps) // for gate and up
	}
	linear(be, gate, x, lp.wGate, lp.bGate, low, n, I, H)
	linear(be, up, x, lp.wUp, lp.bUp, low, n, I, H)
	act = swigluFor(be, act, gate, up, lp.wDown, low, n*I)
	linear(be, down, act, lp.wDown, lp.bDown, low, n, H, I)
	if c.PostNorm {
		be.RMSNorm(ln2, rstd2, down, lp.ffNorm, n, H, eps)
		be.Add(resOut, resMid, ln2, n*H)
		return
	}
	be.Add(resOut, resMid, down, n*H)
}

// attnResidual adds the attention sublayer's output o [n,H] to the
// residual x into resMid: directly, or for PostNorm families through
// post_attention_layernorm (into ln, rstd).
func (m *Model) attnResidual(lp *layerParams, resMid, x, o, ln, rstd kernels.Tensor, n int) {
	c, be := m.Cfg, m.BE
	if c.PostNorm {
		be.RMSNorm(ln, rstd, o, lp.postNorm, n, c.Hidden, float32(c.RMSNormEps))
		o = ln
	}
	be.Add(resMid, x, o, n*c.Hidden)
}

// normFor computes RMSNorm(x) for a matmul by w: straight into low as
// BF16 when w is BF16 (no F32 copy and conversion pass), else into out.
// It returns what the matmul reads.
func normFor(be kernels.Backend, out, rstd, x, nw, w, low kernels.Tensor, rows, dim int, eps float32) kernels.Tensor {
	if w.DType == kernels.BF16 && low.Valid() {
		out = low.View(0, rows*dim)
	}
	be.RMSNorm(out, rstd, x, nw, rows, dim, eps)
	return out
}

// swigluFor is normFor for SwiGLU feeding the down projection w.
func swigluFor(be kernels.Backend, out, gate, up, w, low kernels.Tensor, n int) kernels.Tensor {
	if w.DType == kernels.BF16 && low.Valid() {
		out = low.View(0, n)
	}
	be.SwiGLU(out, gate, up, n)
	return out
}

// attnInputs converts q, k, v to the layer's BF16 copies in
// PrecisionBF16 (attention then multiplies in bf16, as the linear layers
// do) and returns what attention reads.
func attnInputs(be kernels.Backend, la *layerActs, q, k, v kernels.Tensor, nq, nkv int) (kernels.Tensor, kernels.Tensor, kernels.Tensor) {
	if !la.qLow.Valid() {
		return q, k, v
	}
	ql, kl, vl := la.qLow.View(0, nq), la.kLow.View(0, nkv), la.vLow.View(0, nkv)
	be.Convert(ql, q)
	be.Convert(kl, k)
	be.Convert(vl, v)
	return ql, kl, vl
}

// rope rotates x [n,heads,HeadDim] at positions pos with layer l's RoPE:
// from theta, or with its scaled frequencies.
func (m *Model) rope(l int, x, pos kernels.Tensor, n, heads int, inverse bool) {
	r := &m.ropes[l]
	if r.freqs.Valid() {
		m.BE.RoPEFreqs(x, pos, r.freqs, n, heads, m.Cfg.HeadDim, inverse)
		return
	}
	m.BE.RoPE(x, pos, n, heads, m.Cfg.HeadDim, r.theta, inverse)
}

// forwardHidden runs the embedding, every layer and the final norm over the
// batch set by setBatch; with cache, it also writes each layer's keys and
// values into it (prefill).
func (m *Model) forwardHidden(a *Acts, cache *kvCache) {
	c, be := m.Cfg, m.BE
	b, t := a.b, a.t
	n := b * t
	H := c.Hidden
	eps := float32(c.RMSNormEps)
	v := func(x kernels.Tensor, w int) kernels.Tensor { return x.View(0, n*w) }
	be.Embedding(v(a.res[0], H), m.p.embed, a.ids, n, H)
	for l := 0; l < c.Layers; l++ {
		m.layerForward(a, l, cache)
	}
	be.RMSNorm(v(a.lnf, H), v(a.rstdf, 1), v(a.res[c.Layers], H), m.p.norm, n, H, eps)
}

// layerForward runs layer l over the batch set by setBatch: res[l] ->
// res[l+1], filling the layer's activations (and with cache, writing its
// keys and values). The backward of recomputing acts calls it again.
func (m *Model) layerForward(a *Acts, l int, cache *kvCache) {
	c, be := m.Cfg, m.BE
	b, t := a.b, a.t
	n := b * t
	H, d := c.Hidden, c.HeadDim
	qd, kvd := c.Heads*d, c.KVHeads*d
	eps := float32(c.RMSNormEps)
	v := func(x kernels.Tensor, w int) kernels.Tensor { return x.View(0, n*w) }
	lp, la := &m.cp.layers[l], &a.layers[l]
	x := v(a.res[l], H)
	ln1 := x // PostNorm: no input norm
	if !c.PostNorm {
		ln1 = normFor(be, v(la.ln1, H), v(la.rstd1, 1), x, lp.inNorm, lp.wq, a.lowX, n, H, eps)
	}
	q, k, vv := v(la.q, qd), v(la.k, kvd), v(la.v, kvd)
	m.qkv(l, lp, ln1, v(la.qp, qd), v(la.kp, kvd), q, k, vv, la.qrstd, la.krstd, v(a.pos, 1), a.lowX, n)
	ck, cv := k, vv
	q, k, vv = attnInputs(be, la, q, k, vv, n*qd, n*kvd)
	if cache != nil {
		if cache.k[l].DType == kernels.BF16 {
			ck, cv = k, vv // the BF16 copies (PrecisionBF16)
		}
		be.CacheWrite(cache.k[l], ck, cache.start, b, t, cache.tmax, kvd)
		be.CacheWrite(cache.v[l], cv, cache.start, b, t, cache.tmax, kvd)
	}
	be.Attention(v(la.att, qd), v(la.lse, c.Heads), q, k, vv, a.lens.View(0, b), b, t, c.Heads, c.KVHeads, d,
		m.ropes[l].scale, c.LayerWindow(l))
	linear(be, v(la.o, H), v(la.att, qd), lp.wo, lp.bo, a.lowX, n, H, qd)
	m.attnResidual(lp, v(la.resMid, H), x, v(la.o, H), v(la.ln1, H), v(la.rstd1, 1), n)
	m.mlpBlock(lp, v(la.resMid, H), v(la.ln2, H), v(la.rstd2, 1), v(la.gate, c.Intermediate),
		v(la.up, c.Intermediate), v(la.act, c.Intermediate), v(la.down, H), v(a.res[l+1], H), a.lowX, n)
}

// Forward runs the model over a right-padded batch: ids holds b rows of t
// tokens (b = len(lens) <= a.B, t <= a.T), row r has lens[r] real tokens.
// Afterwards a.Logits() holds [b*t, Vocab] logits. Errors of the backend
// ops surface at the next BE.Sync.
func (m *Model) Forward(a *Acts, ids []int32, lens []int) error {
	if err := m.check(a); err != nil {
		return err
	}
	if err := a.setBatch(ids, lens); err != nil {
		return err
	}
	if err := a.ensureLogits(); err != nil {
		return err
	}
	m.forwardHidden(a, nil)
	c := m.Cfg
	n := a.b * a.t
	x := lowered(m.BE, a.lnf, m.cp.head, a.lowX, n*c.Hidden)
	m.BE.MatMul(a.logits.View(0, n*c.VocabSize), x.View(0, n*c.Hidden), m.cp.head, n, c.VocabSize, c.Hidden, false, true, 1, 0)
	return nil
}

// ForwardHidden is Forward without the output projection: afterwards
// a.Hidden() holds the final-norm hidden states. With BackwardHidden it
// lets a caller compute a loss over vocabulary chunks without a [b*t,V]
// logits buffer.
func (m *Model) ForwardHidden(a *Acts, ids []int32, lens []int) error {
	if err := m.check(a); err != nil {
		return err
	}
	if err := a.setBatch(ids, lens); err != nil {
		return err
	}
	m.forwardHidden(a, nil)
	return nil
}

func (m *Model) check(a *Acts) error {
	if a == nil || a.m != m {
		return fmt.Errorf("model: activations belong to another model")
	}
	if a.count {
		return fmt.Errorf("model: activations are a memory estimate")
	}
	if m.closed {
		return fmt.Errorf("model: used after Free")
	}
	return a.ensureLow()
}

// HeadWeight returns the output projection [Vocab,Hidden] (the embedding
// when tied) and its gradient view.
func (m *Model) HeadWeight() (w, grad kernels.Tensor) { return m.p.head, m.g.head }

// TokenLogProbs returns, for each of the b*t positions, log p(targets[i] |
// ids up to i) under the model (0 where targets[i] < 0 or i is padding).
// The output projection runs in row chunks, so no [b*t,V] buffer is needed.
func (m *Model) TokenLogProbs(a *Acts, ids []int32, lens []int, targets []int32) ([]float32, error) {
	return m.TokenLogProbsAt(a, ids, lens, targets, 1)
}

// TokenLogProbsAt is TokenLogProbs under the distribution at temperature
// temp (> 0): the logits are multiplied by 1/temp before the softmax, as
// policy-gradient methods score samples drawn at that temperature.
func (m *Model) TokenLogProbsAt(a *Acts, ids []int32, lens []int, targets []int32, temp float32) ([]float32, error) {
	if !(temp > 0) {
		return nil, fmt.Errorf("model: token log-probs at temperature %g", temp)
	}
	if len(targets) != len(ids) {
		return nil, fmt.Errorf("model: %d targets for %d ids", len(targets), len(ids))
	}
	if err := m.ForwardHidden(a, ids, lens); err != nil {
		return nil, err
	}
	c, be := m.Cfg, m.BE
	n := a.b * a.t
	V, H := c.VocabSize, c.Hidden
	if err := a.ensureChunk(); err != nil {
		return nil, err
	}
	tg := make([]int32, n)
	for r := 0; r < a.b; r++ {
		for i := 0; i < a.t; i++ {
			j := r*a.t + i
			tg[j] = targets[j]
			if i >= lens[r] || tg[j] < 0 {
				tg[j] = -1
			} else if tg[j] >= int32(V) {
				return nil, fmt.Errorf("model: target %d at row %d position %d is outside the vocabulary [0,%d)", tg[j], r, i, V)
			}
		}
	}
	be.UploadInt32(a.targets, tg)
	for r0 := 0; r0 < n; r0 += a.chunkRows {
		rows := min(a.chunkRows, n-r0)
		logits := a.chunk.View(0, rows*V)
		x := lowered(be, a.lnf.View(r0*H, rows*H), m.cp.head, a.lowX, rows*H)
		be.MatMul(logits, x, m.cp.head, rows, V, H, false, true, 1, 0)
		if temp != 1 {
			be.Scale(logits, 1/temp, rows*V)
		}
		be.LogProbs(a.lp.View(r0, rows), logits, a.targets.View(r0, rows), rows, V)
	}
	out := make([]float32, n)
	be.Download(out, a.lp.View(0, n))
	if err := be.Sync(); err != nil {
		return nil, fmt.Errorf("model: token log-probs: %w", err)
	}
	return out, nil
}

// chunkElems bounds the logits chunk of TokenLogProbs (64 MiB of F32).
const chunkElems = 1 << 24

func (a *Acts) ensureChunk() error {
	if a.chunk.Valid() {
		return nil
	}
	V := a.m.Cfg.VocabSize
	if a.chunkRows <= 0 { // tests preset smaller chunks
		a.chunkRows = max(1, min(a.B*a.T, chunkElems/V))
	}
	var err error
	if a.chunk, err = a.alloc("logits chunk", kernels.F32, a.chunkRows*V); err != nil {
		return err
	}
	if a.targets, err = a.alloc("targets", kernels.I32, a.B*a.T); err != nil {
		return err
	}
	if a.lp, err = a.alloc("log-probs", kernels.F32, a.B*a.T); err != nil {
		return err
	}
	a.cew, err = a.alloc("loss weights", kernels.F32, a.B*a.T)
	return err
}
