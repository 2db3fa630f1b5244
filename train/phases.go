package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"sdzero/model"
)

// lmSeq is a training sequence with loss masks: mask[j] bit maskRev marks
// token j for the revision loss, maskGen for the generation (SFT) loss.
type lmSeq struct {
	IDs  []int32 `json:"ids"`
	Mask []uint8 `json:"mask"`
}

const (
	maskRev uint8 = 1
	maskGen uint8 = 2
)

// demoSeq builds prompt + response (+ end id when the response does not
// end with a stop id), with the generation mask on the response.
func demoSeq(prompt, resp []int32, stop []int32, end int32) lmSeq {
	ids := append(append([]int32{}, prompt...), resp...)
	if len(resp) == 0 || !isStop(resp[len(resp)-1], stop) {
		ids = append(ids, end)
	}
	mask := make([]uint8, len(ids))
	for j := len(prompt); j < len(ids); j++ {
		mask[j] = maskGen
	}
	return lmSeq{IDs: ids, Mask: mask}
}

// prog0 returns a progress printer usable before setup finished.
func (t *trainer) prog0() *progress {
	if t.prog != nil {
		return t.prog
	}
	return &progress{w: t.opt.Out}
}

// stepSupervised is one sft/srt step: L = sum over revision tokens of
// -logp / N_rev + sum over generation tokens of -logp / N_gen (N counted
// over the global batch); in two-stage srt only one of the two terms is
// active per stage.
func (t *trainer) stepSupervised() (Metrics, error) {
	batch := t.smp.next(t.cfg.Train.BatchSize)
	lo, hi := t.share(len(batch)) // this rank's share (dist.go)
	batch = batch[lo:hi]
	useRev, useGen := true, true
	m := Metrics{}
	if t.cfg.Phase == PhaseSRT && t.cfg.SRT.Mode == "two-stage" {
		var stage int
		stage, useRev, useGen = srtStage(t.st.Step, t.st.TotalSteps, t.cfg.SRT.StageSplit, t.cfg.SRT.StageOrder)
		m["stage"] = float64(stage)
	}
	return m, t.supervisedOn(t.seqs, batch, useRev, useGen, m)
}

// srtStage returns two-stage SRT's stage (1 for the first
// round(split*total) steps, then 2) at step (0-based) and the loss each
// uses: in order "generation-first" stage 1 trains the generation loss
// and stage 2 the revision loss; "revision-first" the reverse.
func srtStage(step, total int, split float64, order string) (stage int, useRev, useGen bool) {
	stage = 2
	if step < int(math.Round(split*float64(total))) {
		stage = 1
	}
	genStage := 1
	if order == "revision-first" {
		genStage = 2
	}
	return stage, stage != genStage, stage == genStage
}

// supervisedOn runs one masked-CE optimizer step on seqs[batch].
func (t *trainer) supervisedOn(all []lmSeq, batch []int, useRev, useGen bool, m Metrics) error {
	seqs := make([][]int32, len(batch))
	masks := make([][]uint8, len(batch))
	nRev, nGen := 0, 0
	for k, i := range batch {
		seqs[k], masks[k] = all[i].IDs, all[i].Mask
		for _, b := range all[i].Mask {
			if useRev && b&maskRev != 0 {
				nRev++
			}
			if useGen && b&maskGen != 0 {
				nGen++
			}
		}
	}
	if err := t.sumInts(&nRev, &nGen); err != nil { // normalisers over the global batch
		return err
	}
	wRev, wGen := float32(0), float32(0)
	if nRev > 0 && useRev {
		wRev = 1 / float32(nRev)
	}
	if nGen > 0 && useGen {
		wGen = 1 / float32(nGen)
	}
	var lossRev, lossGen float64
	t.m.ZeroGrads()
	loss, tokens, err := t.runLM(lmPass{
		seqs: seqs,
		weight: func(i, j int) float32 {
			w := float32(0)
			if masks[i][j]&maskRev != 0 {
				w += wRev
			}
			if masks[i][j]&maskGen != 0 {
				w += wGen
			}
			return w
		},
		visit: func(i, j int, w float32, l float64) {
			nll := l / float64(w)
			if masks[i][j]&maskRev != 0 {
				lossRev += nll * float64(wRev)
			}
			if masks[i][j]&maskGen != 0 {
				lossGen += nll * float64(wGen)
			}
		},
	})
	if err != nil {
		return err
	}
	if err := t.sum(&loss, &lossRev, &lossGen); err != nil {
		return err
	}
	if err := t.sumInts(&tokens); err != nil {
		return err
	}
	m["loss"] = loss
	if t.cfg.Phase == PhaseSRT {
		m["loss_rev"], m["loss_gen"] = lossRev, lossGen
		m["tokens_rev"], m["tokens_gen"] = float64(nRev), float64(nGen)
	}
	m["tokens"] = float64(tokens)
	if tokens == 0 {
		// No loss token in this batch (e.g. a stage-1 batch without revision
		// tokens): no update.
		m["skipped"] = 1
		return nil
	}
	return t.optimStep(m, loss)
}

// rolloutStats adds reward, accuracy and length metrics.
func rolloutStats(m Metrics, samples []Sample) {
	if len(samples) == 0 {
		return
	}
	var r, l, stop float64
	for _, s := range samples {
		r += s.Reward
		l += float64(len(s.Response))
		if s.Stopped {
			stop++
		}
	}
	n := float64(len(samples))
	m["reward_mean"] = r / n
	m["accuracy"] = r / n // binary rewards: the fraction correct
	m["response_len"] = l / n
	m["stop_rate"] = stop / n
}

// batchProblems draws the next batch of problems and their prompts; idx
// are the sampler's indices into t.usable.
func (t *trainer) batchProblems(k int) (idx []int, probs []*Problem, prompts [][]int32) {
	idx = t.smp.next(k)
	// A rank takes its contiguous share of the global batch, and its
	// rollout rows sit at the share's place in the global rollout.
	lo, hi := t.share(len(idx))
	t.rowShare = [2]int{lo, len(idx)}
	idx = idx[lo:hi]
	probs = make([]*Problem, len(idx))
	prompts = make([][]int32, len(idx))
	for i, u := range idx {
		p := t.usable[u]
		probs[i], prompts[i] = &t.probs[p], t.prompts[p]
	}
	return idx, probs, prompts
}

// rollout samples n responses per prompt with the student and counts them,
// and their tokens, in the run's generation budget. A stop request ends it
// with ErrInterrupted (interruptibleRollout).
func (t *trainer) rollout(ctx context.Context, probs []*Problem, prompts [][]int32, n int) ([]Sample, error) {
	opt := t.cfg.rolloutOptions(t.p.Stop, n, t.rng.Uint64())
	if t.distributed() {
		opt.RowOffset, opt.TotalRows = t.rowShare[0]*n, t.rowShare[1]*n
	}
	samples, err := t.interruptibleRollout(ctx, probs, prompts, opt)
	if err != nil {
		return nil, err
	}
	ns, nt := float64(len(samples)), 0.0
	for _, s := range samples {
		nt += float64(len(s.Response))
	}
	if err := t.sum(&ns, &nt); err != nil { // the run's budget counts every rank's samples
		return nil, fmt.Errorf("rollout counts: %w", err)
	}
	t.st.SamplesGenerated += int64(ns)
	t.st.GenTokens += int64(nt)
	return samples, nil
}

// seqLogProbs returns per-sequence token log-probs under mdl: out[i][j] is
// log p(seqs[i][j] | prefix) for j >= 1 (out[i][0] = 0).
func (t *trainer) seqLogProbs(mdl *model.Model, acts *model.Acts, seqs [][]int32) ([][]float32, error) {
	return t.seqLogProbsAt(mdl, acts, seqs, 1)
}

// seqLogProbsAt is seqLogProbs at temperature temp (logits divided by
// temp, as runLM's lmPass.temp).
func (t *trainer) seqLogProbsAt(mdl *model.Model, acts *model.Acts, seqs [][]int32, temp float32) ([][]float32, error) {
	mb := t.cfg.Train.MicroBatch
	out := make([][]float32, len(seqs))
	for s0 := 0; s0 < len(seqs); s0 += mb {
		rows := seqs[s0:min(s0+mb, len(seqs))]
		T := 0
		for _, r := range rows {
			T = max(T, len(r))
		}
		b := len(rows)
		ids := make([]int32, b*T)
		tg := make([]int32, b*T)
		lens := make([]int, b)
		for r, s := range rows {
			copy(ids[r*T:], s)
			lens[r] = len(s)
			for p := 0; p < T; p++ {
				tg[r*T+p] = -1
				if p+1 < len(s) {
					tg[r*T+p] = s[p+1]
				}
			}
		}
		lp, err := mdl.TokenLogProbsAt(acts, ids, lens, tg, temp)
		if err != nil {
			return nil, err
		}
		for r, s := range rows {
			o := make([]float32, len(s))
			for j := 1; j < len(s); j++ {
				o[j] = lp[r*T+j-1]
			}
			out[s0+r] = o
		}
	}
	return out, nil
}

// seqKey hashes a (prompt, response) pair for de-duplication.
func seqKey(parts ...[]int32) [32]byte {
	h := sha256.New()
	var b [4]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint32(b[:], uint32(len(p)))
		h.Write(b[:])
		for _, id := range p {
			binary.LittleEndian.PutUint32(b[:], uint32(id))
			h.Write(b[:])
		}
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// SplitProblems keeps the problems at positions [dc.SplitFrom*N,
// dc.SplitTo*N) of probs (N = len(probs)), in file order or, when
// dc.SplitSeed is not 0, in the order of a permutation drawn from
// SplitSeed alone (not the run's seed), so that two phases given the same
// split_seed and complementary ranges see disjoint problems (the paper's
// N1/N2 split of SRT collection and distillation). The kept problems
// stay in their file order.
func SplitProblems(probs []Problem, dc DataConfig) ([]Problem, error) {
	if dc.SplitFrom == 0 && dc.SplitTo == 1 {
		return probs, nil
	}
	n := len(probs)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if dc.SplitSeed != 0 {
		rand.New(rand.NewPCG(dc.SplitSeed, 0x5bd1e995)).Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	lo := int(math.Floor(dc.SplitFrom * float64(n)))
	hi := int(math.Floor(dc.SplitTo * float64(n)))
	keep := make([]bool, n)
	for _, i := range order[lo:hi] {
		keep[i] = true
	}
	var out []Problem
	for i, k := range keep {
		if k {
			out = append(out, probs[i])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data %s: split [%g, %g) of %d problems is empty", dc.Train, dc.SplitFrom, dc.SplitTo, n)
	}
	return out, nil
}
