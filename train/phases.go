package train

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

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

// buildSFT makes prompt + solution + end sequences from the problems.
func (t *trainer) buildSFT() error {
	skipped := 0
	for _, i := range t.usable {
		resp := t.p.Tok.Encode(t.probs[i].Solution)
		s := demoSeq(t.prompts[i], resp, nil, t.p.End)
		if len(s.IDs) > t.cfg.Train.MaxSeqLen {
			skipped++
			continue
		}
		t.seqs = append(t.seqs, s)
	}
	if skipped > 0 {
		t.prog0().logf("sft: %d demonstrations longer than max_seq_len skipped", skipped)
	}
	if len(t.seqs) == 0 {
		return fmt.Errorf("sft: no demonstrations fit max_seq_len %d (data %s)", t.cfg.Train.MaxSeqLen, t.cfg.Data.Train)
	}
	return nil
}

// prog0 returns a progress printer usable before setup finished.
func (t *trainer) prog0() *progress {
	if t.prog != nil {
		return t.prog
	}
	return &progress{w: t.opt.Out}
}

// SRTTuple is one record of the srt-collect JSONL: a problem, an attempt
// y_init with its reward, the reviser delimiter and a verified-correct
// revision y_rev, all as token ids (exact) and text (inspection).
type SRTTuple struct {
	ID         string  `json:"id"`
	Question   string  `json:"question"`
	Answer     string  `json:"answer,omitempty"`
	PromptIDs  []int32 `json:"prompt_ids"`
	InitIDs    []int32 `json:"init_ids"`
	InitText   string  `json:"init_text"`
	InitReward float64 `json:"init_reward"`
	// RevisionPrompt is P_r; DelimIDs are ids("\n\n" + P_r + "\n\n").
	RevisionPrompt string  `json:"revision_prompt"`
	DelimIDs       []int32 `json:"delim_ids"`
	RevIDs         []int32 `json:"rev_ids"`
	RevText        string  `json:"rev_text"`
}

// ReadSRTTuples reads a srt-collect JSONL file; a bad line is an error
// naming the file and line.
func ReadSRTTuples(path string) ([]SRTTuple, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("srt data: %w", err)
	}
	defer f.Close()
	var out []SRTTuple
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var tu SRTTuple
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tu); err != nil {
			return nil, fmt.Errorf("srt data %s:%d: %w", path, line, err)
		}
		if len(tu.PromptIDs) == 0 || len(tu.RevIDs) == 0 {
			return nil, fmt.Errorf("srt data %s:%d: empty prompt_ids or rev_ids", path, line)
		}
		out = append(out, tu)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("srt data %s:%d: %w", path, line+1, err)
	}
	return out, nil
}

// SRTSequence builds the SRT training sequence chat(x) + y_init' + delim +
// y_rev (+ end when y_rev lacks a stop id) with its masks: revision loss on
// y_rev+EOS when rev, generation loss on the whole assistant turn when gen
// == "turn" or on y_rev+EOS when gen == "revision".
func SRTSequence(tu SRTTuple, stop []int32, end int32, rev bool, gen string) (ids []int32, revMask, genMask []bool) {
	yp := StripStop(tu.InitIDs, stop)
	ids = append(append(append([]int32{}, tu.PromptIDs...), yp...), tu.DelimIDs...)
	revStart := len(ids)
	ids = append(ids, tu.RevIDs...)
	if !isStop(ids[len(ids)-1], stop) {
		ids = append(ids, end)
	}
	revMask = make([]bool, len(ids))
	genMask = make([]bool, len(ids))
	for j := len(tu.PromptIDs); j < len(ids); j++ {
		revMask[j] = rev && j >= revStart
		genMask[j] = gen == "turn" || (gen == "revision" && j >= revStart)
	}
	return ids, revMask, genMask
}

func (t *trainer) buildSRT() error {
	tus, err := ReadSRTTuples(t.cfg.SRT.Data)
	if err != nil {
		return err
	}
	skipped := 0
	for _, tu := range tus {
		rev := false
		switch t.cfg.SRT.RevisionMask {
		case "all":
			rev = true
		case "correct-init":
			rev = tu.InitReward == 1
		case "wrong-init":
			rev = tu.InitReward != 1
		}
		ids, rm, gm := SRTSequence(tu, t.p.Stop, t.p.End, rev, t.cfg.SRT.GenerationMask)
		if len(ids) > t.cfg.Train.MaxSeqLen {
			skipped++
			continue
		}
		mask := make([]uint8, len(ids))
		any := false
		for j := range ids {
			if rm[j] {
				mask[j] |= maskRev
			}
			if gm[j] {
				mask[j] |= maskGen
			}
			any = any || mask[j] != 0
		}
		if any {
			t.seqs = append(t.seqs, lmSeq{IDs: ids, Mask: mask})
		}
	}
	if skipped > 0 {
		t.prog0().logf("srt: %d tuples longer than max_seq_len skipped", skipped)
	}
	if len(t.seqs) == 0 {
		return fmt.Errorf("srt: no trainable tuples in %s (of %d)", t.cfg.SRT.Data, len(tus))
	}
	return nil
}

// stepSupervised is one sft/srt step: L = sum over revision tokens of
// -logp / N_rev + sum over generation tokens of -logp / N_gen (N counted
// over the global batch); in two-stage srt only one of the two terms is
// active per stage.
func (t *trainer) stepSupervised() (Metrics, error) {
	batch := t.smp.next(t.cfg.Train.BatchSize)
	useRev, useGen := true, true
	m := Metrics{}
	if t.cfg.Phase == PhaseSRT && t.cfg.SRT.Mode == "two-stage" {
		stage1 := t.st.Step < int(math.Round(t.cfg.SRT.StageSplit*float64(t.st.TotalSteps)))
		useRev, useGen = stage1, !stage1
		m["stage"] = 2
		if stage1 {
			m["stage"] = 1
		}
	}
	return m, t.supervisedOn(t.seqs, batch, useRev, useGen, m)
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
	probs = make([]*Problem, len(idx))
	prompts = make([][]int32, len(idx))
	for i, u := range idx {
		p := t.usable[u]
		probs[i], prompts[i] = &t.probs[p], t.prompts[p]
	}
	return idx, probs, prompts
}

func (t *trainer) rollout(ctx context.Context, probs []*Problem, prompts [][]int32, n int) ([]Sample, error) {
	samples, err := Rollout(ctx, t.m, t.p, t.ver, probs, prompts, t.cfg.rolloutOptions(t.p.Stop, n, t.rng.Uint64()))
	if err != nil {
		return nil, err
	}
	t.st.SamplesGenerated += int64(len(samples))
	return samples, nil
}

// DistillPair builds the SD-Zero student and teacher sequences for prompt
// x and sampled response y (with its stop id when it stopped): student =
// x + y, teacher = x + y' + delim + y, with the official truncation rule
// when the teacher exceeds budget (keep the first (budget - |x| -
// |delim|)/2 tokens of y for both). ok is false when even that does not
// fit (the sample then gets weight 0). truncated reports the rule fired.
func DistillPair(x, y, delim []int32, stop []int32, budget int) (student, teacher []int32, sStart, tStart, n int, truncated, ok bool) {
	yp := StripStop(y, stop)
	if len(x)+len(yp)+len(delim)+len(y) > budget {
		l := (budget - len(x) - len(delim)) / 2
		if l < 1 {
			return nil, nil, 0, 0, 0, true, false
		}
		l = min(l, len(y))
		y, yp, truncated = y[:l], y[:l], true
	}
	student = append(append([]int32{}, x...), y...)
	teacher = append(append(append(append([]int32{}, x...), yp...), delim...), y...)
	return student, teacher, len(x), len(teacher) - len(y), len(y), truncated, true
}

// stepDistill is one SD-Zero (distill) or SDFT step.
func (t *trainer) stepDistill(ctx context.Context) (Metrics, error) {
	cfg := t.cfg
	batch, probs, prompts := t.batchProblems(cfg.Train.BatchSize)
	samples, err := t.rollout(ctx, probs, prompts, cfg.Rollout.N)
	if err != nil {
		return nil, err
	}
	m := Metrics{}
	rolloutStats(m, samples)
	seqs := make([]distillSeq, len(samples))
	truncated, dropped, total := 0, 0, 0
	budget := t.teacherMaxLen()
	for k, s := range samples {
		x := prompts[s.Index]
		var st, te []int32
		var ss, ts, n int
		var tr, ok bool
		if cfg.Phase == PhaseDistill {
			st, te, ss, ts, n, tr, ok = DistillPair(x, s.Response, t.p.Delimiter(s.Reward == 1), t.p.Stop, budget)
		} else {
			tp := t.tprompts[t.usable[batch[s.Index]]]
			y := s.Response
			ok = len(tp) < budget
			if ok && len(tp)+len(y) > budget {
				y, tr = y[:budget-len(tp)], true
			}
			st = append(append([]int32{}, x...), y...)
			te = append(append([]int32{}, tp...), y...)
			ss, ts, n = len(x), len(tp), len(y)
		}
		if tr {
			truncated++
		}
		if !ok || n == 0 {
			dropped++
			continue
		}
		seqs[k] = distillSeq{student: st, teacher: te, sStart: ss, tStart: ts, n: n, w: 1}
		total += n
	}
	for k := range seqs {
		if seqs[k].w != 0 {
			seqs[k].w = 1 / float32(total)
		}
	}
	var dp = divergence(cfg.Distill.Divergence, cfg.Distill.TopK, cfg.Distill.ForwardWeight, cfg.Distill.Temperature)
	if cfg.Phase == PhaseSDFT {
		dp = divergence(cfg.SDFT.Divergence, cfg.SDFT.TopK, cfg.SDFT.ForwardWeight, cfg.SDFT.Temperature)
	}
	var kl [2]float64
	var cnt [2]int
	t.m.ZeroGrads()
	loss, tokens, err := t.runDistill(seqs, dp, func(i int, d float64) {
		r := 0
		if samples[i].Reward == 1 {
			r = 1
		}
		kl[r] += d
		cnt[r]++
	})
	if err != nil {
		return nil, err
	}
	m["loss"] = loss
	m["tokens"] = float64(tokens)
	m["truncated"], m["dropped"] = float64(truncated), float64(dropped)
	if tokens > 0 {
		m["kl"] = (kl[0] + kl[1]) / float64(tokens)
	}
	if cnt[1] > 0 {
		m["kl_r1"] = kl[1] / float64(cnt[1])
	}
	if cnt[0] > 0 {
		m["kl_r0"] = kl[0] / float64(cnt[0])
	}
	if tokens == 0 {
		// Nothing to learn from (all dropped): no update.
		m["skipped"] = 1
	} else if err := t.optimStep(m, loss); err != nil {
		return nil, err
	}
	// Teacher updates after the student's step.
	step := t.st.Step + 1
	m["teacher_sync"] = 0
	if cfg.Phase == PhaseDistill && cfg.Distill.TeacherSyncEvery > 0 && step%cfg.Distill.TeacherSyncEvery == 0 {
		t.teacher.CopyParamsFrom(t.m)
		t.teacherKind = "saved"
		t.st.TeacherSyncStep = step
		t.st.TeacherSyncs++
		m["teacher_sync"] = 1
		t.prog.logf("step %d: teacher synced with the student (sync %d)", step, t.st.TeacherSyncs)
	}
	if cfg.Phase == PhaseSDFT && cfg.SDFT.EMARate > 0 && m["skipped"] == 0 {
		a := float32(cfg.SDFT.EMARate)
		n := t.m.Params.N
		t.be.Scale(t.teacher.Params, 1-a, n)
		t.be.AXPY(t.teacher.Params, t.m.Params, a, n)
		t.teacher.SyncComputeWeights()
		if err := t.be.Sync(); err != nil {
			return nil, fmt.Errorf("ema teacher: %w", err)
		}
		t.teacherKind = "saved"
		t.st.TeacherSyncStep = step
		m["teacher_sync"] = 1
	}
	m["teacher_sync_step"] = float64(t.st.TeacherSyncStep)
	return m, nil
}

// SDFTTeacherMessage is the teacher's user message for SDFT: template with
// {question} and {solution} replaced.
func SDFTTeacherMessage(template, question, solution string) string {
	return strings.NewReplacer("{question}", question, "{solution}", solution).Replace(template)
}

// GroupAdvantages returns (r - mean)/(std + eps) within consecutive
// groups of g rewards, with the sample (n-1) standard deviation as in
// TRL's GRPO. It also returns the number of groups whose rewards were all
// equal (zero advantage).
func GroupAdvantages(rewards []float64, g int, eps float64) (adv []float64, flat int) {
	adv = make([]float64, len(rewards))
	for s := 0; s < len(rewards); s += g {
		grp := rewards[s:min(s+g, len(rewards))]
		mean := 0.0
		for _, r := range grp {
			mean += r
		}
		mean /= float64(len(grp))
		v := 0.0
		for _, r := range grp {
			v += (r - mean) * (r - mean)
		}
		std := 0.0
		if len(grp) > 1 {
			std = math.Sqrt(v / float64(len(grp)-1))
		}
		if v == 0 {
			flat++
		}
		for i, r := range grp {
			adv[s+i] = (r - mean) / (std + eps)
		}
	}
	return adv, flat
}

// grpoTokenWeight returns the CrossEntropy weight (-dL/dlogp) and the loss
// contribution of one response token under the clipped surrogate with
// token-mean normalisation over nTok tokens and an optional k3 KL term to
// the reference: L_tok = (-min(ratio*A, clip(ratio)*A) + beta*k3)/nTok,
// ratio = exp(logp - old), k3 = exp(ref - logp) - (ref - logp) - 1.
func grpoTokenWeight(logp, old, ref, adv, clipLow, clipHigh, beta float64, nTok int) (w, loss float64, clipped bool) {
	ratio := math.Exp(logp - old)
	cr := math.Min(math.Max(ratio, 1-clipLow), 1+clipHigh)
	surr := math.Min(ratio*adv, cr*adv)
	// The min picks the clipped branch (zero gradient) when it is smaller.
	clipped = cr*adv < ratio*adv
	dsurr := 0.0
	if !clipped {
		dsurr = ratio * adv
	}
	n := float64(nTok)
	w = dsurr / n
	loss = -surr / n
	if beta > 0 {
		d := ref - logp
		loss += beta * (math.Exp(d) - d - 1) / n
		// dk3/dlogp = 1 - exp(ref - logp); w = -dL/dlogp
		w -= beta * (1 - math.Exp(d)) / n
	}
	return w, loss, clipped
}

// stepGRPO is one GRPO rollout batch with grpo.updates optimizer steps.
func (t *trainer) stepGRPO(ctx context.Context) (Metrics, error) {
	cfg, g := t.cfg, t.cfg.GRPO
	_, probs, prompts := t.batchProblems(cfg.Train.BatchSize)
	samples, err := t.rollout(ctx, probs, prompts, g.GroupSize)
	if err != nil {
		return nil, err
	}
	m := Metrics{}
	rolloutStats(m, samples)
	rewards := make([]float64, len(samples))
	for i, s := range samples {
		rewards[i] = s.Reward
	}
	adv, flat := GroupAdvantages(rewards, g.GroupSize, g.AdvEps)
	seqs := make([][]int32, len(samples))
	starts := make([]int, len(samples))
	nTok := 0
	absAdv := 0.0
	for i, s := range samples {
		x := prompts[s.Index]
		seqs[i] = append(append([]int32{}, x...), s.Response...)
		starts[i] = len(x)
		nTok += len(s.Response)
		absAdv += math.Abs(adv[i])
	}
	m["zero_adv_groups"] = float64(flat)
	m["adv_abs_mean"] = absAdv / float64(len(samples))
	m["tokens"] = float64(nTok)
	if nTok == 0 {
		m["skipped"] = 1
		return m, nil
	}
	// Old (rollout-time) and reference log-probs, when they can differ
	// from the current ones.
	var old, ref [][]float32
	if g.Updates > 1 {
		if old, err = t.seqLogProbs(t.m, t.acts, seqs); err != nil {
			return nil, err
		}
	}
	if g.KLCoef > 0 {
		if ref, err = t.seqLogProbs(t.teacher, t.tacts, seqs); err != nil {
			return nil, err
		}
	}
	active := func(i, j int) bool { return j >= starts[i] }
	var loss float64
	var clippedN, klN int
	var klSum float64
	for u := 0; u < g.Updates; u++ {
		loss, clippedN, klSum, klN = 0, 0, 0, 0
		t.m.ZeroGrads()
		_, _, err := t.runLM(lmPass{
			seqs:   seqs,
			active: active,
			dyn: func(i, j int, logp float64) float32 {
				o, r := logp, logp
				if old != nil {
					o = float64(old[i][j])
				}
				if ref != nil {
					r = float64(ref[i][j])
				}
				w, l, c := grpoTokenWeight(logp, o, r, adv[i], g.ClipLow, g.ClipHigh, g.KLCoef, nTok)
				loss += l
				if c {
					clippedN++
				}
				if ref != nil {
					d := r - logp
					klSum += math.Exp(d) - d - 1
					klN++
				}
				return float32(w)
			},
		})
		if err != nil {
			return nil, err
		}
		if err := t.optimStep(m, loss); err != nil {
			return nil, err
		}
	}
	m["loss"] = loss
	m["clip_frac"] = float64(clippedN) / float64(nTok)
	if klN > 0 {
		m["kl_ref"] = klSum / float64(klN)
	}
	return m, nil
}

// seqLogProbs returns per-sequence token log-probs under mdl: out[i][j] is
// log p(seqs[i][j] | prefix) for j >= 1 (out[i][0] = 0).
func (t *trainer) seqLogProbs(mdl *model.Model, acts *model.Acts, seqs [][]int32) ([][]float32, error) {
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
		lp, err := mdl.TokenLogProbs(acts, ids, lens, tg)
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

// rftRound is the current RFT round's kept samples.
type rftRound struct {
	round    int
	perRound int
	seqs     []lmSeq
	smp      *sampler
}

func (r *rftRound) save(path string) error {
	return writeAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, s := range r.seqs {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *rftRound) restore(t *trainer, st *rftState, ckpt string) error {
	path := filepath.Join(ckpt, rftRoundFile)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("rft round: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var seqs []lmSeq
	for {
		var s lmSeq
		if err := dec.Decode(&s); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("rft round %s: %w", path, err)
		}
		seqs = append(seqs, s)
	}
	if len(seqs) != st.Kept {
		return fmt.Errorf("rft round %s: %d samples, trainer.json records %d", path, len(seqs), st.Kept)
	}
	r.round, r.seqs = st.Round, seqs
	r.smp = newSampler(len(seqs), t.cfg.Seed^uint64(st.Round+1)*0x9e3779b97f4a7c15)
	if len(seqs) > 0 {
		return r.smp.restore(st.Sampler, len(seqs))
	}
	return nil
}

// stepRFT is one RFT step; the first step of a round first samples K
// responses for the round's prompts and keeps the correct ones.
func (t *trainer) stepRFT(ctx context.Context) (Metrics, error) {
	cfg := t.cfg
	r := t.rft
	round := t.st.Step / r.perRound
	m := Metrics{"round": float64(round)}
	if r.round != round {
		np := len(t.usable)
		if cfg.RFT.PromptsPerRound > 0 {
			np = min(np, cfg.RFT.PromptsPerRound)
		}
		var seqs []lmSeq
		seen := map[[32]byte]bool{}
		_, probs, prompts := t.batchProblems(np)
		all, err := t.rollout(ctx, probs, prompts, cfg.RFT.K)
		if err != nil {
			return nil, err
		}
		for _, s := range all {
			if s.Reward != 1 {
				continue
			}
			key := seqKey(prompts[s.Index], s.Response)
			if seen[key] {
				continue
			}
			seen[key] = true
			sq := demoSeq(prompts[s.Index], s.Response, t.p.Stop, t.p.End)
			if len(sq.IDs) <= cfg.Train.MaxSeqLen {
				seqs = append(seqs, sq)
			}
		}
		rolloutStats(m, all)
		r.round, r.seqs = round, seqs
		r.smp = newSampler(len(seqs), cfg.Seed^uint64(round+1)*0x9e3779b97f4a7c15)
		t.prog.logf("rft round %d: %d of %d samples correct and kept (deduplicated)", round, len(seqs), len(all))
	}
	m["kept"] = float64(len(r.seqs))
	if len(r.seqs) == 0 {
		m["skipped"] = 1
		return m, nil
	}
	batch := r.smp.next(cfg.Train.BatchSize)
	if err := t.supervisedOn(r.seqs, batch, false, true, m); err != nil {
		return nil, err
	}
	return m, nil
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

// collector is srt-collect's output and counters.
type collector struct {
	path string
	f    *os.File
	seen map[[32]byte]bool
	st   collectState
}

func (c *collector) open(t *trainer, st *trainerState) error {
	c.path = t.cfg.Collect.Output
	if c.path == "" {
		c.path = filepath.Join(t.runDir, "srt_data.jsonl")
	}
	c.seen = map[[32]byte]bool{}
	flags := os.O_RDWR | os.O_CREATE
	if st == nil {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(c.path, flags, 0o644)
	if err != nil {
		return fmt.Errorf("srt-collect output: %w", err)
	}
	c.f = f
	if st != nil {
		if st.Collect == nil {
			return fmt.Errorf("checkpoint: %s lacks srt-collect state", stateFile)
		}
		c.st = *st.Collect
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.Size() < c.st.OutputBytes {
			return fmt.Errorf("srt-collect output %s: %d bytes, the checkpoint recorded %d (truncated?)", c.path, fi.Size(), c.st.OutputBytes)
		}
		if err := f.Truncate(c.st.OutputBytes); err != nil {
			return err
		}
		tus, err := ReadSRTTuples(c.path)
		if err != nil {
			return err
		}
		if len(tus) != c.st.Kept {
			return fmt.Errorf("srt-collect output %s: %d tuples, the checkpoint recorded %d", c.path, len(tus), c.st.Kept)
		}
		for _, tu := range tus {
			c.seen[tupleKey(tu)] = true
		}
	}
	_, err = f.Seek(c.st.OutputBytes, io.SeekStart)
	return err
}

func (c *collector) sync() error {
	if c.f == nil {
		return nil
	}
	return c.f.Sync()
}

func tupleKey(tu SRTTuple) [32]byte {
	h := sha256.Sum256([]byte(tu.ID + "\x00" + tu.Question))
	return seqKey(toIDs(h[:]), tu.InitIDs, tu.RevIDs)
}

func toIDs(b []byte) []int32 {
	out := make([]int32, len(b))
	for i, x := range b {
		out[i] = int32(x)
	}
	return out
}

// step collects one batch of problems: NInit attempts each, then NRev
// revisions per attempt in the reviser context; correct revisions are kept
// (deduplicated) until the target count.
func (c *collector) step(ctx context.Context, t *trainer) (Metrics, error) {
	cfg := t.cfg
	_, probs, prompts := t.batchProblems(cfg.Train.BatchSize)
	attempts, err := t.rollout(ctx, probs, prompts, cfg.Collect.NInit)
	if err != nil {
		return nil, err
	}
	m := Metrics{}
	revIn := make([][]int32, len(attempts))
	revProbs := make([]*Problem, len(attempts))
	var attAcc float64
	for k, a := range attempts {
		revIn[k] = t.p.ReviserInput(prompts[a.Index], a.Response, a.Reward == 1)
		revProbs[k] = probs[a.Index]
		attAcc += a.Reward
	}
	revs, err := t.rollout(ctx, revProbs, revIn, cfg.Collect.NRev)
	if err != nil {
		return nil, err
	}
	kept := 0
	var revAcc float64
	var accBy, cntBy [2]float64
	var buf []byte
	for _, rv := range revs {
		a := attempts[rv.Index]
		ri := 0
		if a.Reward == 1 {
			ri = 1
		}
		cntBy[ri]++
		accBy[ri] += rv.Reward
		revAcc += rv.Reward
		if rv.Reward != 1 || (cfg.Collect.Target > 0 && c.st.Kept >= cfg.Collect.Target) {
			continue
		}
		p := probs[a.Index]
		pr := t.p.RevisionText(a.Reward == 1)
		tu := SRTTuple{ID: p.ID, Question: p.Question, Answer: p.Answer, PromptIDs: prompts[a.Index],
			InitIDs: a.Response, InitText: a.Text, InitReward: a.Reward, RevisionPrompt: pr,
			DelimIDs: t.p.Delimiter(a.Reward == 1), RevIDs: rv.Response, RevText: rv.Text}
		key := tupleKey(tu)
		if c.seen[key] {
			continue
		}
		c.seen[key] = true
		line, err := json.Marshal(tu)
		if err != nil {
			return nil, err
		}
		buf = append(append(buf, line...), '\n')
		kept++
		c.st.Kept++
	}
	if len(buf) > 0 {
		n, err := c.f.Write(buf)
		c.st.OutputBytes += int64(n)
		if err != nil {
			return nil, fmt.Errorf("srt-collect output %s: %w", c.path, err)
		}
	}
	c.st.Attempts += len(attempts)
	rolloutStats(m, attempts)
	m["attempts"] = float64(len(attempts))
	m["attempt_acc"] = attAcc / float64(len(attempts))
	m["revisions"] = float64(len(revs))
	m["revision_acc"] = revAcc / float64(max(1, len(revs)))
	if cntBy[0] > 0 {
		m["revision_acc_r0"] = accBy[0] / cntBy[0]
	}
	if cntBy[1] > 0 {
		m["revision_acc_r1"] = accBy[1] / cntBy[1]
	}
	m["kept"] = float64(kept)
	m["kept_total"] = float64(c.st.Kept)
	if cfg.Collect.Target > 0 && c.st.Kept >= cfg.Collect.Target {
		t.done = true
	}
	return m, nil
}
