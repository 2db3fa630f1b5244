package model

import (
	"fmt"
	"sort"

	"sdzero/kernels"
)

// Acts holds the preallocated activations of a forward pass over at most B
// rows of T tokens, and (for training acts) everything the backward needs.
// Inference acts (NewInferActs) share one set of per-layer buffers across
// layers and cannot be used for Backward.
type Acts struct {
	m *Model
	// B and T are the most rows and tokens per row the buffers hold.
	B, T  int
	train bool
	// recompute (NewRecomputeActs): the layers share one set of buffers
	// and the backward recomputes each layer's forward from its input.
	recompute bool
	// sharedQKV: training acts allocated in PrecisionBF16 keep one set of
	// F32 q, k, v for all layers (the backward reads the per-layer BF16
	// copies), so they cannot serve an F32 backward.
	sharedQKV bool

	// current batch (set by Forward)
	b, t    int
	hostIDs []int32
	ids     kernels.Tensor // I32 [B*T]
	pos     kernels.Tensor // I32 [B*T]
	lens    kernels.Tensor // I32 [B]

	res    []kernels.Tensor // residual stream at each layer input, [L+1] x [N,H]
	layers []layerActs
	lnf    kernels.Tensor // final norm output [N,H]
	rstdf  kernels.Tensor // [N]

	logits kernels.Tensor // [N,V], allocated on first use

	// TokenLogProbs scratch, allocated on first use
	chunk     kernels.Tensor // [chunkRows,V]
	chunkRows int
	targets   kernels.Tensor // I32 [N]
	lp        kernels.Tensor // F32 [N]
	cew       kernels.Tensor // F32 [N] cross-entropy weights

	grad *gradScratch // backward scratch, allocated on first Backward

	// BF16 copies of matmul inputs (PrecisionBF16 only, see ensureLow):
	// activations x and, for training acts, output gradients dy.
	lowX, lowDY kernels.Tensor

	owned []kernels.Tensor
	bytes map[string]int64 // allocation sizes by item, for memory estimates
	count bool             // counting mode: nothing is allocated
}

// layerActs are one layer's saved activations.
type layerActs struct {
	ln1, rstd1   kernels.Tensor // [N,H] (shared, recomputed by the backward), [N]
	qp, kp       kernels.Tensor // q/k projections before the q/k norm [N,qd], [N,kvd] (QKNorm only)
	qrstd, krstd kernels.Tensor // [N*hq], [N*hkv] per head, [N] over the width (QKNorm only)
	q, k, v      kernels.Tensor // attention inputs after norm and RoPE
	// qLow, kLow, vLow are BF16 copies of q, k, v that attention reads in
	// PrecisionBF16 (tensor cores on GPUs); zero Tensors otherwise.
	qLow, kLow, vLow kernels.Tensor
	att, lse         kernels.Tensor // attention output [N,qd], lse [B,hq,T]
	o                kernels.Tensor // o_proj output [N,H] (scratch; per layer for PostNorm training)
	resMid           kernels.Tensor // residual after attention [N,H]
	ln2, rstd2       kernels.Tensor // [N,H] (shared, recomputed by the backward), [N]
	gate, up         kernels.Tensor // [N,I]
	act              kernels.Tensor // silu(gate)*up [N,I] (shared, recomputed by the backward)
	down             kernels.Tensor // down_proj output [N,H] (scratch; per layer for PostNorm training)
}

// gradScratch are the backward's working buffers.
type gradScratch struct {
	dres, dln        kernels.Tensor // [N,H]
	datt, dq, dqp    kernels.Tensor // [N,qd]
	dk, dv, dkp      kernels.Tensor // [N,kvd]
	dact, dgate, dup kernels.Tensor // [N,I]
}

// NewActs allocates training activations for up to b rows of t tokens.
func (m *Model) NewActs(b, t int) (*Acts, error) { return m.newActs(b, t, true, false, false) }

// NewRecomputeActs allocates training activations that keep only each
// layer's input (the residual stream) per layer: the backward recomputes a
// layer's other activations from it just before backpropagating through
// it (activation checkpointing, one checkpoint per layer). That costs one
// more forward pass per step (about a third more FLOPs) and needs about
// 1/Layers of NewActs' per-layer memory; the gradients are bit-identical
// to NewActs' on backends that are deterministic.
func (m *Model) NewRecomputeActs(b, t int) (*Acts, error) { return m.newActs(b, t, true, true, false) }

// NewInferActs allocates forward-only activations for up to b rows of t
// tokens: one layer's buffers shared by all layers, so they use about
// 1/Layers of the memory of NewActs. Backward refuses them.
func (m *Model) NewInferActs(b, t int) (*Acts, error) { return m.newActs(b, t, false, false, false) }

// newActs allocates activations; with count it only records their sizes
// (memory plans).
func (m *Model) newActs(b, t int, train, recompute, count bool) (*Acts, error) {
	if b <= 0 || t <= 0 {
		return nil, fmt.Errorf("model: activations for %d rows x %d tokens", b, t)
	}
	a := &Acts{m: m, B: b, T: t, train: train, recompute: recompute, count: count, bytes: map[string]int64{}}
	if err := a.allocAll(); err != nil {
		a.Free()
		return nil, err
	}
	return a, nil
}

// alloc allocates (or, in counting mode, only records) a tensor.
func (a *Acts) alloc(item string, d kernels.DType, n int) (kernels.Tensor, error) {
	a.bytes[item] += int64(n) * int64(d.Size())
	if a.count {
		return kernels.Tensor{DType: d, N: n}, nil
	}
	t, err := a.m.BE.Alloc(d, n)
	if err != nil {
		return t, fmt.Errorf("model: allocate %s (%d x %s): %w", item, n, d, err)
	}
	a.owned = append(a.owned, t)
	return t, nil
}

func (a *Acts) allocAll() error {
	c := a.m.Cfg
	N := a.B * a.T
	H, I := c.Hidden, c.Intermediate
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	var err error
	f := func(item string, n int) kernels.Tensor {
		if err != nil {
			return kernels.Tensor{}
		}
		var t kernels.Tensor
		t, err = a.alloc(item, kernels.F32, n)
		return t
	}
	i32 := func(item string, n int) kernels.Tensor {
		if err != nil {
			return kernels.Tensor{}
		}
		var t kernels.Tensor
		t, err = a.alloc(item, kernels.I32, n)
		return t
	}
	a.ids, a.pos, a.lens = i32("ids/positions", N), i32("ids/positions", N), i32("ids/positions", a.B)
	nLayerBufs := c.Layers
	if !a.train || a.recompute {
		nLayerBufs = 1
	}
	a.res = make([]kernels.Tensor, c.Layers+1)
	if a.train {
		for l := range a.res {
			a.res[l] = f("residual stream", N*H)
		}
	} else {
		r := f("residual stream", N*H)
		for l := range a.res {
			a.res[l] = r
		}
	}
	// The normed inputs (ln1, ln2) and silu(gate)*up are consumed at once
	// by the next matmuls and recomputed by the backward from what is kept
	// (residuals, gate, up), so all layers share one buffer of each: that
	// saves 2*H+I floats per token per layer. o and down are consumed at
	// once by the residual adds.
	ln, act := f("scratch", N*H), f("scratch", N*I)
	o, down := f("scratch", N*H), f("scratch", N*H)
	// PostNorm families normalise o and down before the residual adds, so
	// the backward needs them: training acts keep them per layer.
	postKeep := c.PostNorm && a.train && !a.recompute
	// In PrecisionBF16 attention (and its backward) reads the per-layer
	// BF16 copies of q, k, v: the F32 ones are scratch, shared by layers.
	var sq, sk, sv kernels.Tensor
	if a.train && !a.recompute && a.m.prec == PrecisionBF16 {
		a.sharedQKV = true
		sq, sk, sv = f("q/k/v", N*qd), f("q/k/v", N*kvd), f("q/k/v", N*kvd)
	}
	bufs := make([]layerActs, nLayerBufs)
	for i := range bufs {
		la := &bufs[i]
		la.ln1, la.ln2, la.act, la.o, la.down = ln, ln, act, o, down
		if postKeep {
			la.o, la.down = f("post-norm inputs", N*H), f("post-norm inputs", N*H)
		}
		la.rstd1, la.rstd2 = f("norms", N), f("norms", N)
		if c.QKNorm {
			qr, _, kr, _ := c.qkNormShape()
			la.qp, la.kp = f("q/k/v", N*qd), f("q/k/v", N*kvd)
			la.qrstd, la.krstd = f("norms", N*qr), f("norms", N*kr)
		}
		if a.sharedQKV {
			la.q, la.k, la.v = sq, sk, sv
		} else {
			la.q, la.k, la.v = f("q/k/v", N*qd), f("q/k/v", N*kvd), f("q/k/v", N*kvd)
		}
		la.att, la.lse = f("attention", N*qd), f("attention", N*c.Heads)
		la.resMid = f("residual stream", N*H)
		la.gate, la.up = f("mlp", N*I), f("mlp", N*I)
		if !c.QKNorm {
			la.qp, la.kp = la.q, la.k
		}
		if err != nil {
			return err
		}
	}
	a.layers = make([]layerActs, c.Layers)
	for l := range a.layers {
		a.layers[l] = bufs[l%nLayerBufs]
	}
	a.lnf, a.rstdf = f("norms", N*H), f("norms", N)
	if err != nil {
		return err
	}
	return a.ensureLow()
}

// allocGrad allocates the backward scratch.
func (a *Acts) allocGrad() error {
	if a.grad != nil {
		return nil
	}
	c := a.m.Cfg
	N := a.B * a.T
	H, I := c.Hidden, c.Intermediate
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	g := &gradScratch{}
	var err error
	f := func(n int) kernels.Tensor {
		if err != nil {
			return kernels.Tensor{}
		}
		var t kernels.Tensor
		t, err = a.alloc("backward scratch", kernels.F32, n)
		return t
	}
	g.dres, g.dln = f(N*H), f(N*H)
	g.datt, g.dq = f(N*qd), f(N*qd)
	g.dk, g.dv = f(N*kvd), f(N*kvd)
	if c.QKNorm {
		g.dqp, g.dkp = f(N*qd), f(N*kvd)
	} else {
		g.dqp, g.dkp = g.dq, g.dk
	}
	g.dact, g.dgate, g.dup = f(N*I), f(N*I), f(N*I)
	if err != nil {
		return err
	}
	a.grad = g
	return nil
}

// ensureLogits allocates the [B*T,V] logits buffer on first use.
func (a *Acts) ensureLogits() error {
	if a.logits.Valid() || (a.count && a.logits.N > 0) {
		return nil
	}
	t, err := a.alloc("logits", kernels.F32, a.B*a.T*a.m.Cfg.VocabSize)
	a.logits = t
	return err
}

// Logits returns the logits of the last Forward, [b*t, Vocab] F32 for the
// b rows of t tokens it was given (logits at position i predict token i+1).
func (a *Acts) Logits() kernels.Tensor {
	if !a.logits.Valid() {
		return kernels.Tensor{}
	}
	return a.logits.View(0, a.b*a.t*a.m.Cfg.VocabSize)
}

// Hidden returns the final-norm hidden states of the last forward,
// [b*t, Hidden] F32: what the output projection multiplies.
func (a *Acts) Hidden() kernels.Tensor { return a.lnf.View(0, a.b*a.t*a.m.Cfg.Hidden) }

// Batch returns the rows and tokens per row of the last Forward.
func (a *Acts) Batch() (b, t int) { return a.b, a.t }

// Free releases every buffer.
func (a *Acts) Free() {
	if a == nil {
		return
	}
	if !a.count {
		for _, t := range a.owned {
			a.m.BE.Free(t)
		}
	}
	a.owned = nil
	a.grad = nil
	a.logits = kernels.Tensor{}
}

// MemoryItem is one line of a memory estimate.
type MemoryItem struct {
	Name  string
	Bytes int64
}

// TrainingMemory estimates the memory of training at b rows of t tokens:
// F32 parameters, gradients, AdamW's two moments, activations and logits
// (the dominant items), itemised, as this package allocates them.
func TrainingMemory(cfg *Config, b, t int) ([]MemoryItem, error) {
	return TrainingMemoryAt(cfg, b, t, PrecisionF32)
}

// TrainingMemoryAt is TrainingMemory for a model computing in precision p
// (bf16 adds the BF16 weight copies and matmul-input scratch).
func TrainingMemoryAt(cfg *Config, b, t int, p Precision) ([]MemoryItem, error) {
	return TrainingMemoryPlan(cfg, b, t, p, false)
}

// TrainingMemoryPlan is TrainingMemoryAt for NewRecomputeActs when
// recompute is set.
func TrainingMemoryPlan(cfg *Config, b, t int, p Precision, recompute bool) ([]MemoryItem, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	specs, n := layout(cfg)
	items := []MemoryItem{
		{"parameters (F32)", int64(n) * 4},
		{"gradients (F32)", int64(n) * 4},
		{"AdamW moments (2 x F32)", int64(n) * 8},
	}
	m := &Model{Cfg: cfg, Specs: specs, prec: p}
	if p == PrecisionBF16 {
		items = append(items, MemoryItem{"parameters (BF16 matmul copies)", int64(m.lowElems()) * 2})
	}
	a, err := m.newActs(b, t, true, recompute, true)
	if err != nil {
		return nil, err
	}
	if err := a.ensureLogits(); err != nil {
		return nil, err
	}
	if err := a.allocGrad(); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(a.bytes))
	for k := range a.bytes {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		items = append(items, MemoryItem{"activations: " + k, a.bytes[k]})
	}
	return items, nil
}

// InferenceMemory is the size in bytes of NewInferActs(b, t) for a model of
// configuration cfg computing in precision p (without the logits buffer,
// which only Forward allocates).
func InferenceMemory(cfg *Config, b, t int, p Precision) (int64, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	specs, _ := layout(cfg)
	m := &Model{Cfg: cfg, Specs: specs, prec: p}
	a, err := m.newActs(b, t, false, false, true)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, v := range a.bytes {
		n += v
	}
	return n, nil
}
