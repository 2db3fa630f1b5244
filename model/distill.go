package model

import (
	"fmt"

	"sdzero/kernels"
)

// DistillChunkRows is how many aligned rows one chunk of DistillRows
// projects at most: 64 MiB of F32 logits per model (about 110 rows for a
// 152k vocabulary, 16 at least).
func DistillChunkRows(vocab int) int { return max(16, (64<<20)/(4*max(1, vocab))) }

// DistillScratch holds the per-chunk buffers of DistillRows: the teacher's
// and student's F32 logits of one chunk, and in PrecisionBF16 the BF16
// copies of the chunk's hidden states and the BF16 student gradient that
// the bf16 output projection reads.
type DistillScratch struct {
	// Rows is the chunk size in aligned rows; it may be lowered after
	// allocation (tests do, to force many chunks), not raised.
	Rows         int
	cap          int
	tl, sl       kernels.Tensor // F32 [cap,V]
	hT, hS, dLow kernels.Tensor // BF16 [Rows,H], [Rows,H], [Rows,V] (PrecisionBF16 only)
	owned        []kernels.Tensor
	be           kernels.Backend
}

// NewDistillScratch allocates DistillRows' buffers for chunks of rows
// aligned rows (DistillChunkRows when rows <= 0) of the student m (its
// precision at this call decides the BF16 buffers).
func (m *Model) NewDistillScratch(rows int) (*DistillScratch, error) {
	V, H := m.Cfg.VocabSize, m.Cfg.Hidden
	if rows <= 0 {
		rows = DistillChunkRows(V)
	}
	s := &DistillScratch{Rows: rows, cap: rows, be: m.BE}
	var err error
	al := func(d kernels.DType, n int, what string) kernels.Tensor {
		if err != nil {
			return kernels.Tensor{}
		}
		var t kernels.Tensor
		if t, err = m.BE.Alloc(d, n); err != nil {
			err = fmt.Errorf("model: distillation %s (%d x %s): %w", what, n, d, err)
			return t
		}
		s.owned = append(s.owned, t)
		return t
	}
	s.tl = al(kernels.F32, rows*V, "teacher logits chunk")
	s.sl = al(kernels.F32, rows*V, "student logits chunk")
	if m.prec == PrecisionBF16 {
		s.hT = al(kernels.BF16, rows*H, "teacher hidden chunk")
		s.hS = al(kernels.BF16, rows*H, "student hidden chunk")
		s.dLow = al(kernels.BF16, rows*V, "student gradient chunk")
	}
	if err != nil {
		s.Free()
		return nil, err
	}
	return s, nil
}

// Free releases the buffers.
func (s *DistillScratch) Free() {
	for _, t := range s.owned {
		s.be.Free(t)
	}
	s.owned = nil
}

// DistillRows runs the vocabulary part of distillation over na aligned
// rows: hT and hS [na,H] are the teacher's and the student's final-norm
// hidden states at positions that predict the same token, w [na] the rows'
// weights. Chunk by chunk it projects both to logits through each model's
// output projection (in its compute precision), computes the divergence p
// selects into loss [na] (weighted) and its gradient (times gscale), and
// backpropagates that through the student's projection: the student's
// head gradient accumulates and dhS [na,H] receives d(loss)/d(hS). No
// [na,V] buffer exists. teacher may be the student itself.
func DistillRows(teacher, student *Model, s *DistillScratch, loss, dhS, hT, hS, w kernels.Tensor, na int,
	p kernels.DistillParams, gscale float32) {
	be := student.BE
	V, H := student.Cfg.VocabSize, student.Cfg.Hidden
	wT, wS, gS := teacher.cp.head, student.cp.head, student.g.head
	if (wT.DType == kernels.BF16 || wS.DType == kernels.BF16) && !s.hS.Valid() {
		panic("model: DistillRows: a bf16 model with scratch allocated for fp32 (NewDistillScratch before SetPrecision)")
	}
	rows := min(max(1, s.Rows), s.cap)
	for c0 := 0; c0 < na; c0 += rows {
		nc := min(rows, na-c0)
		tl, sl := s.tl.View(0, nc*V), s.sl.View(0, nc*V)
		ht := lowered(be, hT.View(c0*H, nc*H), wT, s.hT, nc*H)
		hs := lowered(be, hS.View(c0*H, nc*H), wS, s.hS, nc*H)
		be.MatMul(tl, ht, wT, nc, V, H, false, true, 1, 0)
		be.MatMul(sl, hs, wS, nc, V, H, false, true, 1, 0)
		// The gradient of the weighted divergence: BF16 straight from the
		// loss kernel when the projection is bf16, else in place.
		dl := sl
		if wS.DType == kernels.BF16 {
			dl = s.dLow.View(0, nc*V)
		}
		be.Distill(loss.View(c0, nc), dl, sl, tl, w.View(c0, nc), nc, V, p, gscale)
		// Through logits = h W^T: dh = dlogits W, dW += dlogits^T h.
		be.MatMul(dhS.View(c0*H, nc*H), dl, wS, nc, H, V, false, false, 1, 0)
		be.MatMul(gS, dl, hs, V, H, nc, true, false, 1, 1)
	}
}
