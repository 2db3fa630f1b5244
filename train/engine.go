package train

import (
	"fmt"
	"sdzero/model"

	"sdzero/kernels"
)

// Loss passes: forward, per-token loss with its gradient written over the
// logits, backward (gradients accumulate into the model's Grads), over
// micro-batches of at most train.micro_batch right-padded rows.
//
// Token j of a sequence is predicted at position j-1; "weight of token j"
// means the weight of that prediction. Weights already carry the global
// normalisation (1 / tokens in the global batch), so the sum of the
// per-row losses over all micro-batches is the batch loss.

// lmPass describes a cross-entropy or policy-gradient pass.
type lmPass struct {
	seqs [][]int32
	// weight returns the weight of token j of sequence i (j >= 1); 0 skips
	// it. Used when dyn is nil.
	weight func(i, j int) float32
	// dyn, if set, computes the weight from the current log-probability of
	// the token (policy gradient: weight = -dL/dlogp, since CrossEntropy
	// with weight w has gradient w*(softmax - onehot) = -w * dlogp/dlogits).
	// active says which tokens to consider.
	active func(i, j int) bool
	dyn    func(i, j int, logp float64) float32
	// visit, if set, receives every weighted token with its weight and its
	// row loss w*(-logp) (dyn passes: logp instead of the loss).
	visit func(i, j int, w float32, v float64)
	// temp, when neither 0 nor 1, scores every token at that temperature:
	// the logits are multiplied by 1/temp before the softmax (GRPO scores
	// samples at the temperature they were drawn at) and the gradient
	// carries the chain rule's 1/temp.
	temp float32
}

// runLM runs p and returns the summed weighted loss and the number of
// weighted tokens.
func (t *trainer) runLM(p lmPass) (loss float64, tokens int, err error) {
	mb := t.cfg.Train.MicroBatch
	V := t.m.Cfg.VocabSize
	for s0 := 0; s0 < len(p.seqs); s0 += mb {
		rows := p.seqs[s0:min(s0+mb, len(p.seqs))]
		b := len(rows)
		T := 0
		for _, r := range rows {
			T = max(T, len(r))
		}
		if T > t.cfg.Train.MaxSeqLen {
			return 0, 0, fmt.Errorf("sequence of %d tokens exceeds max_seq_len %d", T, t.cfg.Train.MaxSeqLen)
		}
		n := b * T
		ids := make([]int32, n)
		lens := make([]int, b)
		tg := make([]int32, n)
		w := make([]float32, n)
		for r, s := range rows {
			copy(ids[r*T:], s)
			lens[r] = len(s)
			for pos := 0; pos < T; pos++ {
				k := r*T + pos
				tg[k] = -1
				j := pos + 1
				if j >= len(s) {
					continue
				}
				if p.dyn != nil {
					if p.active(s0+r, j) {
						tg[k] = s[j]
					}
					continue
				}
				if wt := p.weight(s0+r, j); wt != 0 {
					tg[k] = s[j]
					w[k] = wt
				}
			}
		}
		if err := t.m.Forward(t.acts, ids, lens); err != nil {
			return 0, 0, err
		}
		logits := t.acts.Logits()
		gscale := float32(1)
		if p.temp != 0 && p.temp != 1 {
			gscale = 1 / p.temp
			t.be.Scale(logits, gscale, n*V)
		}
		t.be.UploadInt32(t.tgtBuf.View(0, n), tg)
		var lp []float32
		if p.dyn != nil {
			t.be.LogProbs(t.lpBuf.View(0, n), logits, t.tgtBuf.View(0, n), n, V)
			lp = make([]float32, n)
			t.be.Download(lp, t.lpBuf.View(0, n))
			for r := range rows {
				for pos := 0; pos < T; pos++ {
					if k := r*T + pos; tg[k] >= 0 {
						w[k] = p.dyn(s0+r, pos+1, float64(lp[k]))
					}
				}
			}
		}
		t.be.Upload(t.wBuf.View(0, n), w)
		t.be.CrossEntropy(t.lossBuf.View(0, n), logits, logits, t.tgtBuf.View(0, n), t.wBuf.View(0, n), n, V, gscale)
		if err := t.m.Backward(t.acts, logits); err != nil {
			return 0, 0, err
		}
		lbuf := make([]float32, n)
		t.be.Download(lbuf, t.lossBuf.View(0, n))
		if err := t.be.Sync(); err != nil {
			return 0, 0, err
		}
		for r := range rows {
			for pos := 0; pos < T; pos++ {
				k := r*T + pos
				if tg[k] < 0 || (p.dyn == nil && w[k] == 0) {
					continue
				}
				tokens++
				if p.dyn != nil {
					if p.visit != nil {
						p.visit(s0+r, pos+1, w[k], float64(lp[k]))
					}
					continue
				}
				loss += float64(lbuf[k])
				if p.visit != nil {
					p.visit(s0+r, pos+1, w[k], float64(lbuf[k]))
				}
			}
		}
	}
	return loss, tokens, nil
}

// distillSeq pairs a student sequence with its teacher sequence: the n
// tokens student[sStart:sStart+n] equal teacher[tStart:tStart+n], and the
// teacher's distributions over them are the student's targets.
type distillSeq struct {
	student, teacher []int32
	sStart, tStart   int
	n                int
	// w is the per-token weight (1/tokens in the global batch; 0 drops
	// the sample).
	w float32
}

// runDistill runs, per micro-batch, the teacher and student forwards up to
// their final hidden states, gathers both at the aligned positions (where
// the student predicts a token of y and the teacher the same token of its
// second copy of y), and then, chunk by chunk over those positions, projects
// both to logits, computes Distill and its gradient, and backpropagates it
// through the output projection; the student's backward then runs from the
// hidden states. No [tokens, V] logits buffer exists, and positions without
// a loss (the prompt) are never projected. visit receives each token's
// divergence D (unweighted). It returns the summed weighted loss and the
// number of weighted tokens.
func (t *trainer) runDistill(seqs []distillSeq, dp kernels.DistillParams, visit func(i int, d float64)) (loss float64, tokens int, err error) {
	mb := t.cfg.Train.MicroBatch
	H := t.m.Cfg.Hidden
	var live []int
	for i, s := range seqs {
		if s.w != 0 && s.n > 0 {
			live = append(live, i)
		}
	}
	for s0 := 0; s0 < len(live); s0 += mb {
		rows := live[s0:min(s0+mb, len(live))]
		b := len(rows)
		Ts, Tt := 0, 0
		for _, i := range rows {
			Ts = max(Ts, len(seqs[i].student))
			Tt = max(Tt, len(seqs[i].teacher))
		}
		ns, nt := b*Ts, b*Tt
		tids := make([]int32, nt)
		tlens := make([]int, b)
		sids := make([]int32, ns)
		slens := make([]int, b)
		var spos, tpos []int32
		var w []float32
		for r, i := range rows {
			s := seqs[i]
			copy(tids[r*Tt:], s.teacher)
			tlens[r] = len(s.teacher)
			copy(sids[r*Ts:], s.student)
			slens[r] = len(s.student)
			for k := 0; k < s.n; k++ {
				spos = append(spos, int32(r*Ts+s.sStart-1+k)) // predicts student[sStart+k]
				tpos = append(tpos, int32(r*Tt+s.tStart-1+k)) // predicts the same token
				w = append(w, s.w)
			}
		}
		na := len(spos)
		if err := t.teacher.ForwardHidden(t.tacts, tids, tlens); err != nil {
			return 0, 0, fmt.Errorf("teacher forward: %w", err)
		}
		if err := t.m.ForwardHidden(t.acts, sids, slens); err != nil {
			return 0, 0, fmt.Errorf("student forward: %w", err)
		}
		tidx, sidx := t.idxBuf.View(0, na), t.sidxBuf.View(0, na)
		t.be.UploadInt32(tidx, tpos)
		t.be.UploadInt32(sidx, spos)
		t.be.Upload(t.wBuf.View(0, na), w)
		hT, hS := t.hidBuf.View(0, na*H), t.shidBuf.View(0, na*H)
		t.be.GatherRows(hT, t.tacts.Hidden(), tidx, na, H)
		t.be.GatherRows(hS, t.acts.Hidden(), sidx, na, H)
		if t.distillChunk > 0 {
			t.dscratch.Rows = t.distillChunk
		}
		dhc := t.dcBuf.View(0, na*H)
		model.DistillRows(t.teacher, t.m, t.dscratch, t.lossBuf.View(0, na), dhc, hT, hS, t.wBuf.View(0, na), na, dp, 1)
		// Scatter the aligned rows' gradient back to their positions
		// (EmbeddingBackward is a row scatter-add; positions are distinct).
		dh := t.dhidBuf.View(0, ns*H)
		t.be.Fill(dh, 0)
		t.be.EmbeddingBackward(dh, dhc, sidx, na, H)
		if err := t.m.BackwardHidden(t.acts, dh); err != nil {
			return 0, 0, err
		}
		lbuf := make([]float32, na)
		t.be.Download(lbuf, t.lossBuf.View(0, na))
		if err := t.be.Sync(); err != nil {
			return 0, 0, err
		}
		j := 0
		for _, i := range rows {
			s := seqs[i]
			for k := 0; k < s.n; k++ {
				loss += float64(lbuf[j])
				tokens++
				if visit != nil {
					visit(i, float64(lbuf[j])/float64(s.w))
				}
				j++
			}
		}
	}
	return loss, tokens, nil
}

// divergence maps a config's divergence name to DistillParams.
func divergence(name string, topK int, fw, temp float64) kernels.DistillParams {
	switch name {
	case "reverse":
		return kernels.DistillParams{Temp: float32(temp), TopK: 0, ForwardWeight: 0}
	case "forward":
		return kernels.DistillParams{Temp: float32(temp), TopK: 0, ForwardWeight: 1}
	}
	return kernels.DistillParams{Temp: float32(temp), TopK: topK, ForwardWeight: float32(fw)}
}
