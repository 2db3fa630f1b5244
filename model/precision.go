package model

import (
	"fmt"
	"strings"

	"sdzero/kernels"
)

// Precision selects the dtype the model's matmuls compute in.
type Precision uint8

// The precisions. PrecisionF32 is the default and computes everything in
// F32. PrecisionBF16 is mixed precision: the F32 parameters stay the master
// copy (the optimiser updates them), the linear layers' matmuls read a BF16
// copy of their weights and BF16 copies of their input activations and
// output gradients, attention reads BF16 copies of q, k and v (its two
// products then run on bf16 tensor cores on GPUs), and everything
// accumulates in F32; norms, softmax statistics, losses, the residual
// stream and gradients stay F32.
const (
	PrecisionF32 Precision = iota
	PrecisionBF16
)

// String returns "fp32" or "bf16".
func (p Precision) String() string {
	switch p {
	case PrecisionF32:
		return "fp32"
	case PrecisionBF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

// ParsePrecision parses "fp32" (or "f32", "float32") and "bf16" (or
// "bfloat16").
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(s) {
	case "fp32", "f32", "float32":
		return PrecisionF32, nil
	case "bf16", "bfloat16":
		return PrecisionBF16, nil
	}
	return 0, fmt.Errorf("unknown precision %q (want fp32 or bf16)", s)
}

// lowCopy is one matmul weight's F32 master and its BF16 compute copy.
type lowCopy struct{ src, dst kernels.Tensor }

// isMatmulWeight reports the parameters the linear layers multiply by:
// the projections and the output head (the embedding when tied).
func (m *Model) isMatmulWeight(name string) bool {
	if strings.HasSuffix(name, "_proj.weight") || name == "lm_head.weight" {
		return true
	}
	return name == "model.embed_tokens.weight" && m.Cfg.TieEmbeddings
}

// lowElems is the size of the BF16 weight buffer: every matmul weight,
// each aligned like in Params.
func (m *Model) lowElems() int {
	total := 0
	for _, s := range m.Specs {
		if m.isMatmulWeight(s.Name) {
			total += (s.N + paramAlign - 1) / paramAlign * paramAlign
		}
	}
	return total
}

// Precision returns the model's compute precision.
func (m *Model) Precision() Precision { return m.prec }

// SetPrecision switches the compute precision. PrecisionBF16 needs a
// backend that Supports(kernels.BF16); it allocates one contiguous BF16
// buffer holding a copy of every matmul weight and fills it from Params.
// Activations allocated before the switch get their BF16 scratch on their
// next use.
func (m *Model) SetPrecision(p Precision) error {
	if m.closed {
		return fmt.Errorf("model: SetPrecision after Free")
	}
	if p == m.prec {
		return nil
	}
	if m.bf16Only {
		return fmt.Errorf("model: a BF16-only model (no F32 matmul weights) cannot change precision to %s", p)
	}
	switch p {
	case PrecisionF32:
		m.BE.Free(m.low)
		m.low, m.lowCopies, m.cp, m.prec = kernels.Tensor{}, nil, m.p, PrecisionF32
		return nil
	case PrecisionBF16:
		if !m.BE.Supports(kernels.BF16) {
			return fmt.Errorf("model: precision bf16 needs BF16 matmuls, which backend %q does not support (use fp32)", m.BE.Name())
		}
	default:
		return fmt.Errorf("model: unknown precision %d", p)
	}
	total := m.lowElems()
	low, err := m.BE.Alloc(kernels.BF16, total)
	if err != nil {
		return fmt.Errorf("model: allocate %d BF16 weight copies: %w", total, err)
	}
	cp := m.bindLow(low)
	var copies []lowCopy
	for i, dst := range m.lowViewsOf(low) {
		if dst.Valid() {
			copies = append(copies, lowCopy{src: m.Params.View(m.Specs[i].Off, m.Specs[i].N), dst: dst})
		}
	}
	m.low, m.lowCopies, m.cp, m.prec = low, copies, cp, PrecisionBF16
	m.SyncComputeWeights()
	if err := m.BE.Sync(); err != nil {
		return fmt.Errorf("model: fill BF16 weight copies: %w", err)
	}
	return nil
}

// SyncComputeWeights refreshes the BF16 weight copies from the F32 master
// parameters; whoever changes Params directly (an optimiser step, an EMA
// update) calls it. A no-op in PrecisionF32.
func (m *Model) SyncComputeWeights() {
	for _, c := range m.lowCopies {
		m.BE.Convert(c.dst, c.src)
	}
}

// ComputeCopy is one BF16 weight copy: elements [Off, Off+N) of Params
// and their BF16 copy Low.
type ComputeCopy struct {
	Off, N int
	Low    kernels.Tensor
}

// ComputeCopies lists the BF16 weight copies in parameter order (none in
// PrecisionF32), for an optimiser that refreshes each copy in the pass
// that updates its master (kernels.FusedAdamW) instead of calling
// SyncComputeWeights afterwards.
func (m *Model) ComputeCopies() []ComputeCopy {
	out := make([]ComputeCopy, len(m.lowCopies))
	for i, c := range m.lowCopies {
		out[i] = ComputeCopy{Off: c.src.Off - m.Params.Off, N: c.src.N, Low: c.dst}
	}
	return out
}

// ComputeBytes is the memory of the BF16 weight copies (0 in PrecisionF32).
func (m *Model) ComputeBytes() int64 { return int64(m.low.N) * 2 }

// lowered returns x converted to BF16 into scratch when the weight w it
// multiplies is BF16, and x itself otherwise (or when x already is BF16).
func lowered(be kernels.Backend, x, w, scratch kernels.Tensor, n int) kernels.Tensor {
	if w.DType != kernels.BF16 || x.DType == kernels.BF16 {
		return x
	}
	s := scratch.View(0, n)
	be.Convert(s, x.View(0, n))
	return s
}

// lowScratchSizes are the element counts of the BF16 scratch for matmul
// inputs (x) and output gradients (dy) of activations for n tokens: the
// widest linear input and output, and for dy at least one chunk of head
// rows (the head backward runs in row chunks that fit it).
func lowScratchSizes(c *Config, n int) (x, dy int) {
	w := max(c.Hidden, c.Heads*c.HeadDim, c.Intermediate)
	rows := min(n, max(1, chunkElems/c.VocabSize))
	return n * w, max(n*w, rows*c.VocabSize)
}

// ensureLow allocates the BF16 matmul scratch if the model computes in
// BF16 and a has none yet.
func (a *Acts) ensureLow() error {
	if a.m.prec != PrecisionBF16 || a.lowX.N > 0 {
		return nil
	}
	nx, ndy := lowScratchSizes(a.m.Cfg, a.B*a.T)
	var err error
	if a.lowX, err = a.alloc("bf16 matmul inputs", kernels.BF16, nx); err != nil {
		return err
	}
	if a.train {
		if a.lowDY, err = a.alloc("bf16 matmul inputs", kernels.BF16, ndy); err != nil {
			return err
		}
	}
	// BF16 attention inputs: per layer for training (the backward reads
	// them), one shared set for inference and recomputing acts.
	c := a.m.Cfg
	N := a.B * a.T
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	var shared *layerActs
	for l := range a.layers {
		la := &a.layers[l]
		if (!a.train || a.recompute) && shared != nil {
			la.qLow, la.kLow, la.vLow = shared.qLow, shared.kLow, shared.vLow
			continue
		}
		for _, x := range []struct {
			t *kernels.Tensor
			n int
		}{{&la.qLow, N * qd}, {&la.kLow, N * kvd}, {&la.vLow, N * kvd}} {
			if *x.t, err = a.alloc("q/k/v", kernels.BF16, x.n); err != nil {
				return err
			}
		}
		shared = la
	}
	return nil
}
