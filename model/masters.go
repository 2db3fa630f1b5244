package model

import (
	"fmt"
	"sort"

	"sdzero/kernels"
)

// Sharded master weights (ZeRO-1 in precision bf16, issue 16): a
// data-parallel optimizer keeps the F32 masters of its shard of the
// parameter layout and the student itself keeps only what its forward and
// backward read, as a BF16-only model does, with its full gradient buffer.

// LayoutLen is the length of the parameter layout: the elements of Grads
// (and of Params for a model that holds all its F32 weights), alignment
// gaps included. Optimizer state and gradients are indexed by it.
func (m *Model) LayoutLen() int {
	if len(m.Specs) == 0 {
		return 0
	}
	s := m.Specs[len(m.Specs)-1]
	return s.Off + (s.N+paramAlign-1)/paramAlign*paramAlign
}

// DropMatmulMasters frees the F32 copies of m's matmul weights, so that m
// holds them only as the BF16 copies its forward and backward read (2
// bytes a weight instead of 4 + 2), as LoadFrozenBF16 does, while keeping
// its gradient buffer in the full layout. Their masters are then the
// caller's (a sharded optimizer's): it writes updated values back through
// SetMasterRange. Norms, biases and the embedding stay in Params (F32).
// The model computes bit for bit what it computed before. It needs
// PrecisionBF16 and a gradient buffer. Afterwards Save widens the BF16
// weights unless given the masters (SaveOptions.Masters), and so do
// Clone, CloneFrozen and CopyParamsFrom into a model with F32 weights:
// whoever needs the masters reads them where they are.
func (m *Model) DropMatmulMasters() error {
	switch {
	case m.closed:
		return fmt.Errorf("model: DropMatmulMasters after Free")
	case m.bf16Only:
		return fmt.Errorf("model: the matmul masters are already dropped")
	case m.prec != PrecisionBF16:
		return fmt.Errorf("model: DropMatmulMasters needs precision bf16, the model computes in %s", m.prec)
	case !m.Grads.Valid():
		return fmt.Errorf("model: DropMatmulMasters is for a trained model (this one has no gradient buffer: LoadFrozenBF16 is the frozen form)")
	}
	fOff := make([]int, len(m.Specs))
	off := 0
	for i, s := range m.Specs {
		if m.bf16Dropped(s.Name) {
			fOff[i] = -1
			continue
		}
		fOff[i] = off
		off += (s.N + paramAlign - 1) / paramAlign * paramAlign
	}
	kept, err := m.BE.Alloc(kernels.F32, off)
	if err != nil {
		return fmt.Errorf("model: allocate %d F32 parameters: %w", off, err)
	}
	for i, s := range m.Specs {
		if fOff[i] >= 0 {
			m.BE.Copy(kept.View(fOff[i], s.N), m.Params.View(s.Off, s.N))
		}
	}
	if err := m.BE.Sync(); err != nil {
		m.BE.Free(kept)
		return fmt.Errorf("model: drop the matmul masters: %w", err)
	}
	m.BE.Free(m.Params)
	m.Params, m.fOff, m.bf16Only = kept, fOff, true
	m.p = m.views(m.paramView)
	m.cp = m.bindLow(m.low)
	m.lowCopies = m.lowCopies[:0]
	for i, dst := range m.lowViews() {
		if src := m.paramView(i); dst.Valid() && src.Valid() {
			m.lowCopies = append(m.lowCopies, lowCopy{src: src, dst: dst})
		}
	}
	return nil
}

// SetMasterRange writes vals, the F32 values of layout elements [off,
// off+vals.N) (the layout of Grads, alignment gaps included), into the
// model: a matmul weight among them is rounded into its BF16 copy (the
// rounding SyncComputeWeights applies), a parameter held in F32 is copied
// (and, the tied embedding, also rounded into its BF16 copy); gaps are
// skipped. On a model that holds all its F32 weights it is a copy into
// Params followed by the refresh of the BF16 copies in the range.
func (m *Model) SetMasterRange(off int, vals kernels.Tensor) {
	end := off + vals.N
	if off < 0 || end > m.LayoutLen() {
		panic(fmt.Sprintf("model: SetMasterRange [%d,%d) outside the layout of %d elements", off, end, m.LayoutLen()))
	}
	lv := m.lowViews()
	// The first spec that ends after off.
	i := sort.Search(len(m.Specs), func(i int) bool { return m.Specs[i].Off+m.Specs[i].N > off })
	for ; i < len(m.Specs) && m.Specs[i].Off < end; i++ {
		s := m.Specs[i]
		lo, hi := max(off, s.Off), min(end, s.Off+s.N)
		if lo >= hi {
			continue
		}
		src := vals.View(lo-off, hi-lo)
		if p := m.paramView(i); p.Valid() {
			m.BE.Copy(p.View(lo-s.Off, hi-lo), src)
		}
		if l := lv[i]; l.Valid() {
			m.BE.Convert(l.View(lo-s.Off, hi-lo), src)
		}
	}
}

// HoldsMasters reports whether Params holds every parameter in F32 (false
// after DropMatmulMasters and for a BF16-only frozen model).
func (m *Model) HoldsMasters() bool { return !m.bf16Only }
