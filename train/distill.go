package train

import (
	"context"
	"fmt"

	"sdzero/model"
)

// TeacherBF16Only reports whether the run's teacher (distill, sdft) or
// reference model (grpo) computing in precision p is held BF16-only
// (model.LoadFrozenBF16): its matmul weights as the BF16 copies the
// forward reads and no F32 masters, 2 bytes a parameter instead of 6.
// That is every bf16 teacher except SDFT's EMA teacher (sdft.ema_rate >
// 0), whose F32 weights accumulate the student's into a running average
// that BF16 could not hold; a synced distill teacher is refreshed by
// converting the student's masters, the same rounding as before.
func (c *Config) TeacherBF16Only(p model.Precision) bool {
	return p == model.PrecisionBF16 && !(c.Phase == PhaseSDFT && c.SDFT.EMARate > 0)
}

// teacherBF16Only is TeacherBF16Only for the run (tests can keep the F32
// masters with Options.teacherF32).
func (t *trainer) teacherBF16Only() bool {
	p, err := t.cfg.ModelPrecision(t.be)
	return err == nil && t.cfg.TeacherBF16Only(p) && !t.opt.teacherF32
}

// cloneTeacher copies the student into a frozen teacher (BF16-only where
// teacherBF16Only).
func (t *trainer) cloneTeacher() (*model.Model, error) {
	if t.teacherBF16Only() {
		return t.m.CloneFrozenBF16()
	}
	return t.m.CloneFrozen()
}

// loadTeacher loads a frozen teacher from dir (BF16-only where
// teacherBF16Only). A checkpoint's teacher/ of a BF16-only teacher holds
// its matmul weights widened from BF16, which convert back exactly.
func (t *trainer) loadTeacher(dir string) (*model.Model, error) {
	if t.teacherBF16Only() {
		return model.LoadFrozenBF16(dir, t.be)
	}
	return model.LoadFrozen(dir, t.be)
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
	if cfg.Phase == PhaseDistill && t.guard == nil {
		if err := t.guardStart(ctx); err != nil {
			return nil, err
		}
	}
	batch, probs, prompts := t.batchProblems(cfg.Train.BatchSize)
	samples, err := t.rollout(ctx, probs, prompts, cfg.Rollout.N)
	if err != nil {
		return nil, err
	}
	m := Metrics{}
	if err := t.rolloutStatsGlobal(m, samples); err != nil {
		return nil, err
	}
	if cfg.Phase == PhaseDistill {
		if err := t.guardStep(m, probs, samples); err != nil {
			return nil, err
		}
		if t.done {
			// A guard stopped the run and put the best model in the
			// student: no update on top of it.
			m["skipped"] = 1
			return m, nil
		}
	}
	seqs := make([]distillSeq, len(samples))
	truncated, dropped, total := 0, 0, 0
	budget := t.teacherMaxLen()
	for k, s := range samples {
		x := prompts[s.Index]
		var st, te []int32
		var ss, ts, n int
		var tr, ok bool
		if cfg.Phase == PhaseDistill {
			st, te, ss, ts, n, tr, ok = DistillPair(x, s.Response, t.p.Delimiter(teacherSeesCorrect(cfg.Distill.TeacherFeedback, s.Reward)), t.p.Stop, budget)
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
	if err := t.sumInts(&total); err != nil { // the token mean is over the global batch
		return nil, err
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
		t.rlog.tokenKL(i, d) // rollouts.jsonl's per-token KL summary
	})
	if err != nil {
		return nil, err
	}
	if err := t.sum(&loss, &kl[0], &kl[1]); err != nil {
		return nil, err
	}
	if err := t.sumInts(&tokens, &cnt[0], &cnt[1], &truncated, &dropped); err != nil {
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
		if err := t.copyStudentInto(t.teacher); err != nil {
			return nil, fmt.Errorf("teacher sync: %w", err)
		}
		t.teacherKind = "saved"
		t.st.TeacherSyncStep = step
		t.st.TeacherSyncs++
		m["teacher_sync"] = 1
		t.prog.logf("step %d: teacher synced with the student (sync %d)", step, t.st.TeacherSyncs)
	}
	if cfg.Phase == PhaseSDFT && cfg.SDFT.EMARate > 0 && m["skipped"] == 0 {
		if err := t.emaTeacher(float32(cfg.SDFT.EMARate)); err != nil {
			return nil, err
		}
		t.teacherKind = "saved"
		t.st.TeacherSyncStep = step
		m["teacher_sync"] = 1
	}
	m["teacher_sync_step"] = float64(t.st.TeacherSyncStep)
	return m, nil
}
