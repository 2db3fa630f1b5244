package model

import (
	"fmt"

	"sdzero/kernels"
)

// linearBackward accumulates the gradients of y = x W^T + b: dW += dy^T x,
// db += colsum(dy), and sets (beta 0) or accumulates (beta 1) dx = dy W.
func linearBackward(be kernels.Backend, dx, dw, db, dy, x, w kernels.Tensor, rows, out, in int, dxBeta float32) {
	be.MatMul(dw, dy, x, out, in, rows, true, false, 1, 1)
	if db.Valid() {
		be.BiasBackward(db, dy, rows, out)
	}
	if dx.Valid() {
		be.MatMul(dx, dy, w, rows, in, out, false, false, 1, dxBeta)
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
	linearBackward(m.BE, dln, m.g.head, kernels.Tensor{}, dlogits.View(0, n*c.VocabSize), a.lnf.View(0, n*c.Hidden), m.p.head, n, c.VocabSize, c.Hidden, 0)
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
	if !a.train {
		return fmt.Errorf("model: Backward needs training activations (NewActs), not inference ones")
	}
	if a.b == 0 {
		return fmt.Errorf("model: Backward before Forward")
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
	v := func(x kernels.Tensor, w int) kernels.Tensor { return x.View(0, n*w) }
	dres := v(g.dres, H)
	dln := v(g.dln, H)

	be.Fill(dres, 0)
	be.RMSNormBackward(dres, m.g.norm, dlnf, v(a.res[c.Layers], H), m.p.norm, v(a.rstdf, 1), n, H)
	for l := c.Layers - 1; l >= 0; l-- {
		lp, lg, la := &m.p.layers[l], &m.g.layers[l], &a.layers[l]
		// MLP: res[l+1] = resMid + down(act).
		dact, dgate, dup := v(g.dact, I), v(g.dgate, I), v(g.dup, I)
		linearBackward(be, dact, lg.wDown, lg.bDown, dres, v(la.act, I), lp.wDown, n, H, I, 0)
		be.SwiGLUBackward(dgate, dup, dact, v(la.gate, I), v(la.up, I), n*I)
		linearBackward(be, dln, lg.wGate, lg.bGate, dgate, v(la.ln2, H), lp.wGate, n, I, H, 0)
		linearBackward(be, dln, lg.wUp, lg.bUp, dup, v(la.ln2, H), lp.wUp, n, I, H, 1)
		// dres becomes d(resMid): the residual path plus the norm's.
		be.RMSNormBackward(dres, lg.postNorm, dln, v(la.resMid, H), lp.postNorm, v(la.rstd2, 1), n, H)

		// Attention: resMid = res[l] + o(att).
		datt := v(g.datt, qd)
		linearBackward(be, datt, lg.wo, lg.bo, dres, v(la.att, qd), lp.wo, n, H, qd, 0)
		dq, dk, dv := v(g.dq, qd), v(g.dk, kvd), v(g.dv, kvd)
		be.AttentionBackward(dq, dk, dv, datt, v(la.att, qd), v(la.lse, c.Heads), v(la.q, qd), v(la.k, kvd), v(la.v, kvd),
			a.lens.View(0, b), b, t, c.Heads, c.KVHeads, d, c.attnScale())
		theta := float32(c.RopeTheta)
		be.RoPE(dq, v(a.pos, 1), n, c.Heads, d, theta, true)
		be.RoPE(dk, v(a.pos, 1), n, c.KVHeads, d, theta, true)
		dqp, dkp := dq, dk
		if c.QKNorm {
			dqp, dkp = v(g.dqp, qd), v(g.dkp, kvd)
			be.Fill(dqp, 0)
			be.Fill(dkp, 0)
			be.RMSNormBackward(dqp, lg.qNorm, dq, v(la.qp, qd), lp.qNorm, v(la.qrstd, c.Heads), n*c.Heads, d)
			be.RMSNormBackward(dkp, lg.kNorm, dk, v(la.kp, kvd), lp.kNorm, v(la.krstd, c.KVHeads), n*c.KVHeads, d)
		}
		ln1 := v(la.ln1, H)
		linearBackward(be, dln, lg.wq, lg.bq, dqp, ln1, lp.wq, n, qd, H, 0)
		linearBackward(be, dln, lg.wk, lg.bk, dkp, ln1, lp.wk, n, kvd, H, 1)
		linearBackward(be, dln, lg.wv, lg.bv, dv, ln1, lp.wv, n, kvd, H, 1)
		be.RMSNormBackward(dres, lg.inNorm, dln, v(a.res[l], H), lp.inNorm, v(la.rstd1, 1), n, H)
	}
	be.EmbeddingBackward(m.g.embed, dres, v(a.ids, 1), n, H)
}
