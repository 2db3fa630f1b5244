package model

import (
	"fmt"

	"sdzero/kernels"
)

// linearBackward accumulates the gradients of y = x W^T + b: dW += dy^T x,
// db += colsum(dy), and sets (beta 0) or accumulates (beta 1) dx = dy W.
// A BF16 w gets x and dy converted to BF16 in lowX and lowDY for both
// matmuls (dW and dx still accumulate in F32; db uses the F32 dy).
func linearBackward(be kernels.Backend, dx, dw, db, dy, x, w, lowX, lowDY kernels.Tensor, rows, out, in int, dxBeta float32) {
	x = lowered(be, x, w, lowX, rows*in)
	dyl := lowered(be, dy, w, lowDY, rows*out)
	be.MatMul(dw, dyl, x, out, in, rows, true, false, 1, 1)
	if db.Valid() {
		be.BiasBackward(db, dy, rows, out)
	}
	if dx.Valid() {
		be.MatMul(dx, dyl, w, rows, in, out, false, false, 1, dxBeta)
	}
}

// headBackward is linearBackward of the output projection for rows rows:
// dx = dy W, dW += dy^T x with dy [rows,Vocab]. With BF16 weights it runs
// in row chunks that fit the BF16 scratch of a.
func (m *Model) headBackward(a *Acts, dx, dy, x kernels.Tensor, rows int) {
	V, H := m.Cfg.VocabSize, m.Cfg.Hidden
	w := m.cp.head
	if w.DType != kernels.BF16 {
		linearBackward(m.BE, dx, m.g.head, kernels.Tensor{}, dy, x, w, kernels.Tensor{}, kernels.Tensor{}, rows, V, H, 0)
		return
	}
	step := max(1, a.lowDY.N/V)
	for r0 := 0; r0 < rows; r0 += step {
		r := min(step, rows-r0)
		linearBackward(m.BE, dx.View(r0*H, r*H), m.g.head, kernels.Tensor{}, dy.View(r0*V, r*V), x.View(r0*H, r*H), w,
			a.lowX, a.lowDY, r, V, H, 0)
	}
}

// Backward backpropagates dlogits [b*t, Vocab] (for the batch of the last
// Forward on a; it may be a.Logits() overwritten in place) and ACCUMULATES
// every parameter's gradient into m.Grads.
func (m *Model) Backward(a *Acts, dlogits kernels.Tensor) error {
	if err := m.check(a); err != nil {
		return err
	}
	c := m.Cfg
	n := a.b * a.t
	if dlogits.N < n*c.VocabSize {
		return fmt.Errorf("model: dlogits has %d elements, want %d", dlogits.N, n*c.VocabSize)
	}
	if err := m.prepBackward(a); err != nil {
		return err
	}
	dln := a.grad.dln.View(0, n*c.Hidden)
	m.headBackward(a, dln, dlogits.View(0, n*c.VocabSize), a.lnf.View(0, n*c.Hidden), n)
	m.backwardHidden(a, dln)
	return nil
}

// BackwardHidden backpropagates the gradient of the final-norm hidden
// states dhidden [b*t, Hidden] (the caller has already accumulated the
// output projection's gradient, see HeadWeight) and accumulates every other
// parameter's gradient.
func (m *Model) BackwardHidden(a *Acts, dhidden kernels.Tensor) error {
	if err := m.check(a); err != nil {
		return err
	}
	n := a.b * a.t
	if dhidden.N < n*m.Cfg.Hidden {
		return fmt.Errorf("model: dhidden has %d elements, want %d", dhidden.N, n*m.Cfg.Hidden)
	}
	if err := m.prepBackward(a); err != nil {
		return err
	}
	m.backwardHidden(a, dhidden.View(0, n*m.Cfg.Hidden))
	return nil
}

func (m *Model) prepBackward(a *Acts) error {
	if m.Frozen() {
		return fmt.Errorf("model: Backward on a frozen model (no gradient buffer)")
	}
	if !a.train {
		return fmt.Errorf("model: Backward needs training activations (NewActs), not inference ones")
	}
	if a.b == 0 {
		return fmt.Errorf("model: Backward before Forward")
	}
	if a.sharedQKV && m.prec != PrecisionBF16 {
		return fmt.Errorf("model: activations allocated for precision bf16 cannot run an %s backward (allocate them after SetPrecision)", m.prec)
	}
	return a.allocGrad()
}

// backwardHidden runs the backward from d(final norm output) down to the
// embedding.
func (m *Model) backwardHidden(a *Acts, dlnf kernels.Tensor) {
	c, be := m.Cfg, m.BE
	b, t := a.b, a.t
	n := b * t
	H, I, d := c.Hidden, c.Intermediate, c.HeadDim
	qd, kvd := c.Heads*d, c.KVHeads*d
	g := a.grad
	eps := float32(c.RMSNormEps)
	v := func(x kernels.Tensor, w int) kernels.Tensor { return x.View(0, n*w) }
	dres := v(g.dres, H)
	dln := v(g.dln, H)
	lx, ldy := a.lowX, a.lowDY

	be.Fill(dres, 0)
	be.RMSNormBackward(dres, m.g.norm, dlnf, v(a.res[c.Layers], H), m.p.norm, v(a.rstdf, 1), n, H)
	for l := c.Layers - 1; l >= 0; l-- {
		if a.recompute {
			// The layers share their buffers: refill them for layer l
			// from its input res[l] (same ops, same values as the forward).
			m.layerForward(a, l, nil)
		}
		lp, lg, la := &m.cp.layers[l], &m.g.layers[l], &a.layers[l]
		// MLP: res[l+1] = resMid + down(act), or + RMSNorm(down) for
		// PostNorm. act and ln2 live in shared buffers: recompute them
		// (same ops, same values as the forward).
		dact, dgate, dup := v(g.dact, I), v(g.dgate, I), v(g.dup, I)
		ddown := dres
		if c.PostNorm {
			// d(down) through post_feedforward_layernorm, into dln (free
			// until the gate/up backward overwrites it).
			ddown = dln
			be.Fill(ddown, 0)
			be.RMSNormBackward(ddown, lg.ffNorm, dres, v(la.down, H), lp.ffNorm, v(la.rstd2, 1), n, H)
		}
		act := swigluFor(be, v(la.act, I), v(la.gate, I), v(la.up, I), lp.wDown, lx, n*I)
		linearBackward(be, dact, lg.wDown, lg.bDown, ddown, act, lp.wDown, lx, ldy, n, H, I, 0)
		be.SwiGLUBackward(dgate, dup, dact, v(la.gate, I), v(la.up, I), n*I)
		var ln2x kernels.Tensor // what gate and up multiplied
		if c.PostNorm {
			ln2x = lowered(be, v(la.resMid, H), lp.wGate, lx, n*H)
		} else {
			ln2x = normFor(be, v(la.ln2, H), v(la.rstd2, 1), v(la.resMid, H), lp.postNorm, lp.wGate, lx, n, H, eps)
		}
		linearBackward(be, dln, lg.wGate, lg.bGate, dgate, ln2x, lp.wGate, lx, ldy, n, I, H, 0)
		linearBackward(be, dln, lg.wUp, lg.bUp, dup, ln2x, lp.wUp, lx, ldy, n, I, H, 1)
		// dres becomes d(resMid): the residual path plus the MLP input's.
		if c.PostNorm {
			be.Add(dres, dres, dln, n*H)
		} else {
			be.RMSNormBackward(dres, lg.postNorm, dln, v(la.resMid, H), lp.postNorm, v(la.rstd2, 1), n, H)
		}

		// Attention: resMid = res[l] + o(att), or + RMSNorm(o) for PostNorm.
		datt := v(g.datt, qd)
		do := dres
		if c.PostNorm {
			do = dln
			be.Fill(do, 0)
			be.RMSNormBackward(do, lg.postNorm, dres, v(la.o, H), lp.postNorm, v(la.rstd1, 1), n, H)
		}
		linearBackward(be, datt, lg.wo, lg.bo, do, v(la.att, qd), lp.wo, lx, ldy, n, H, qd, 0)
		dq, dk, dv := v(g.dq, qd), v(g.dk, kvd), v(g.dv, kvd)
		aq, ak, av := v(la.q, qd), v(la.k, kvd), v(la.v, kvd)
		if la.qLow.Valid() {
			aq, ak, av = v(la.qLow, qd), v(la.kLow, kvd), v(la.vLow, kvd)
		}
		be.AttentionBackward(dq, dk, dv, datt, v(la.att, qd), v(la.lse, c.Heads), aq, ak, av,
			a.lens.View(0, b), b, t, c.Heads, c.KVHeads, d, m.ropes[l].scale, c.LayerWindow(l))
		m.rope(l, dq, v(a.pos, 1), n, c.Heads, true)
		m.rope(l, dk, v(a.pos, 1), n, c.KVHeads, true)
		dqp, dkp := dq, dk
		if c.QKNorm {
			qr, qn, kr, kn := c.qkNormShape()
			dqp, dkp = v(g.dqp, qd), v(g.dkp, kvd)
			be.Fill(dqp, 0)
			be.Fill(dkp, 0)
			be.RMSNormBackward(dqp, lg.qNorm, dq, v(la.qp, qd), lp.qNorm, v(la.qrstd, qr), n*qr, qn)
			be.RMSNormBackward(dkp, lg.kNorm, dk, v(la.kp, kvd), lp.kNorm, v(la.krstd, kr), n*kr, kn)
		}
		var ln1x kernels.Tensor // what q, k and v multiplied
		if c.PostNorm {
			ln1x = lowered(be, v(a.res[l], H), lp.wq, lx, n*H)
		} else {
			ln1x = normFor(be, v(la.ln1, H), v(la.rstd1, 1), v(a.res[l], H), lp.inNorm, lp.wq, lx, n, H, eps)
		}
		linearBackward(be, dln, lg.wq, lg.bq, dqp, ln1x, lp.wq, lx, ldy, n, qd, H, 0)
		linearBackward(be, dln, lg.wk, lg.bk, dkp, ln1x, lp.wk, lx, ldy, n, kvd, H, 1)
		linearBackward(be, dln, lg.wv, lg.bv, dv, ln1x, lp.wv, lx, ldy, n, kvd, H, 1)
		if c.PostNorm {
			be.Add(dres, dres, dln, n*H)
		} else {
			be.RMSNormBackward(dres, lg.inNorm, dln, v(a.res[l], H), lp.inNorm, v(la.rstd1, 1), n, H)
		}
	}
	be.EmbeddingBackward(m.g.embed, dres, v(a.ids, 1), n, H)
}

// ForwardBackwardCE runs the forward, a weighted next-token cross-entropy
// and the backward without a [b*t, Vocab] logits buffer: the output
// projection, the loss and its gradient run over row chunks. targets[i] is
// the id to predict at position i (< 0: none), weights[i] its weight
// (nil: all 1). It returns sum_i weights[i]*CE_i and ACCUMULATES gscale
// times its gradient into m.Grads.
func (m *Model) ForwardBackwardCE(a *Acts, ids []int32, lens []int, targets []int32, weights []float32, gscale float32) (float64, error) {
	if len(targets) != len(ids) || (weights != nil && len(weights) != len(ids)) {
		return 0, fmt.Errorf("model: %d targets and %d weights for %d ids", len(targets), len(weights), len(ids))
	}
	if err := m.ForwardHidden(a, ids, lens); err != nil {
		return 0, err
	}
	if err := m.prepBackward(a); err != nil {
		return 0, err
	}
	if err := a.ensureChunk(); err != nil {
		return 0, err
	}
	c, be := m.Cfg, m.BE
	n := a.b * a.t
	V, H := c.VocabSize, c.Hidden
	tg := make([]int32, n)
	w := make([]float32, n)
	for r := 0; r < a.b; r++ {
		for i := 0; i < a.t; i++ {
			j := r*a.t + i
			tg[j], w[j] = targets[j], 1
			if weights != nil {
				w[j] = weights[j]
			}
			if i >= lens[r] || tg[j] < 0 {
				tg[j], w[j] = -1, 0
			} else if tg[j] >= int32(V) {
				return 0, fmt.Errorf("model: target %d at row %d position %d is outside the vocabulary [0,%d)", tg[j], r, i, V)
			}
		}
	}
	be.UploadInt32(a.targets, tg)
	be.Upload(a.cew, w)
	dln := a.grad.dln.View(0, n*H)
	for r0 := 0; r0 < n; r0 += a.chunkRows {
		rows := min(a.chunkRows, n-r0)
		logits := a.chunk.View(0, rows*V)
		x := a.lnf.View(r0*H, rows*H)
		be.MatMul(logits, lowered(be, x, m.cp.head, a.lowX, rows*H), m.cp.head, rows, V, H, false, true, 1, 0)
		// The gradient goes straight to BF16 for a bf16 head (no F32
		// pass and conversion), else over the logits in place.
		dl := logits
		if m.cp.head.DType == kernels.BF16 && a.lowDY.N >= rows*V {
			dl = a.lowDY.View(0, rows*V)
		}
		be.CrossEntropy(a.lp.View(r0, rows), dl, logits, a.targets.View(r0, rows), a.cew.View(r0, rows), rows, V, gscale)
		m.headBackward(a, dln.View(r0*H, rows*H), dl, x, rows)
	}
	losses := make([]float32, n)
	be.Download(losses, a.lp.View(0, n))
	m.backwardHidden(a, dln)
	if err := be.Sync(); err != nil {
		return 0, fmt.Errorf("model: cross-entropy step: %w", err)
	}
	var sum float64
	for _, v := range losses {
		sum += float64(v)
	}
	return sum, nil
}
