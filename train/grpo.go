package train

import (
	"context"
	"fmt"
	"math"
)

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

// grpoTemperature is the temperature of GRPO's log-probabilities:
// rollout.temperature under grpo.logprob_temperature "rollout" (1 for
// greedy rollouts), else 1.
func (c *Config) grpoTemperature() float32 {
	if c.GRPO.LogProbTemperature == "rollout" && c.Rollout.Temperature > 0 {
		return float32(c.Rollout.Temperature)
	}
	return 1
}

// grpoClipHigh is the upper clip bound: DAPOClipHigh under
// grpo.dapo_clip_higher, else grpo.clip_high.
func (c *Config) grpoClipHigh() float64 {
	if c.GRPO.DAPOClipHigher {
		return DAPOClipHigh
	}
	return c.GRPO.ClipHigh
}

// grpoGroups is one step's rollout: prompts[i] with probs[i], and the
// group of samples of prompt i at samples[i*G:(i+1)*G] (Sample.Index = i).
type grpoGroups struct {
	probs   []*Problem
	prompts [][]int32
	samples []Sample
}

// add appends prompt k of a rollout (its group of g samples in all).
func (gg *grpoGroups) add(p *Problem, prompt []int32, group []Sample) {
	i := len(gg.prompts)
	gg.probs, gg.prompts = append(gg.probs, p), append(gg.prompts, prompt)
	for _, s := range group {
		s.Index = i
		gg.samples = append(gg.samples, s)
	}
}

// flatGroup reports whether every reward of the group is equal (zero
// advantage: no learning signal).
func flatGroup(group []Sample) bool {
	for _, s := range group[1:] {
		if s.Reward != group[0].Reward {
			return false
		}
	}
	return true
}

// grpoRollout draws train.batch_size prompts and their groups. Under
// grpo.dapo_dynamic_sampling (DAPO) groups with all rewards equal are
// dropped and further batches are drawn, at most
// dynamic_sampling_max_draws of them, until batch_size groups remain;
// extra groups of the last draw are left out. all holds every sample
// generated (for the reward statistics); drawn counts extra draws and
// dropped the flat groups left out.
func (t *trainer) grpoRollout(ctx context.Context) (gg grpoGroups, all []Sample, drawn, dropped int, err error) {
	cfg, g := t.cfg, t.cfg.GRPO
	B, G := cfg.Train.BatchSize, g.GroupSize
	kept := 0 // groups kept over all ranks
	for {
		_, probs, prompts := t.batchProblems(B)
		lo, K := t.rowShare[0], t.rowShare[1]
		samples, err := t.rollout(ctx, probs, prompts, G)
		if err != nil {
			return gg, nil, 0, 0, err
		}
		all = append(all, samples...)
		// Which groups of the global batch are flat: every rank decides
		// which to keep from the same list (a rank keeps its own).
		flat := make([]float64, K)
		if g.DAPODynamicSampling {
			for k := range prompts {
				if flatGroup(samples[k*G : (k+1)*G]) {
					flat[lo+k] = 1
				}
			}
			if t.distributed() {
				if err := t.comm.AllReduceHost(flat); err != nil {
					return gg, nil, 0, 0, fmt.Errorf("dynamic sampling: %w", err)
				}
			}
		}
		for j := range flat {
			if flat[j] > 0 {
				dropped++
				continue
			}
			if kept < B {
				kept++
				if k := j - lo; k >= 0 && k < len(prompts) {
					gg.add(probs[k], prompts[k], samples[k*G:(k+1)*G])
				}
			}
		}
		if !g.DAPODynamicSampling || kept >= B || drawn >= g.DynamicSamplingMaxDraws {
			return gg, all, drawn, dropped, nil
		}
		drawn++
	}
}

// stepGRPO is one GRPO rollout batch with grpo.updates optimizer steps.
func (t *trainer) stepGRPO(ctx context.Context) (Metrics, error) {
	cfg, g := t.cfg, t.cfg.GRPO
	gg, all, drawn, dropped, err := t.grpoRollout(ctx)
	if err != nil {
		return nil, err
	}
	m := Metrics{}
	if err := t.rolloutStatsGlobal(m, all); err != nil {
		return nil, err
	}
	samples, prompts := gg.samples, gg.prompts
	groups, nSamples := len(gg.prompts), len(samples)
	if err := t.sumInts(&groups, &nSamples); err != nil {
		return nil, err
	}
	if g.DAPODynamicSampling {
		m["dyn_draws"], m["dyn_dropped_groups"] = float64(drawn), float64(dropped)
		m["groups"] = float64(groups)
	}
	if nSamples == 0 {
		m["skipped"] = 1
		return m, nil
	}
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
	// The token mean and the metrics are over every rank's groups.
	if err := t.sumInts(&nTok, &flat); err != nil {
		return nil, err
	}
	if err := t.sum(&absAdv); err != nil {
		return nil, err
	}
	m["zero_adv_groups"] = float64(flat)
	m["adv_abs_mean"] = absAdv / float64(nSamples)
	m["tokens"] = float64(nTok)
	if nTok == 0 {
		m["skipped"] = 1
		return m, nil
	}
	temp := cfg.grpoTemperature()
	clipHigh := cfg.grpoClipHigh()
	m["logprob_temperature"] = float64(temp)
	// Old (rollout-time) and reference log-probs, when they can differ
	// from the current ones; all at the same temperature.
	var old, ref [][]float32
	if g.Updates > 1 {
		if old, err = t.seqLogProbsAt(t.m, t.acts, seqs, temp); err != nil {
			return nil, err
		}
	}
	if g.KLCoef > 0 {
		if ref, err = t.seqLogProbsAt(t.teacher, t.tacts, seqs, temp); err != nil {
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
			temp:   temp,
			active: active,
			dyn: func(i, j int, logp float64) float32 {
				o, r := logp, logp
				if old != nil {
					o = float64(old[i][j])
				}
				if ref != nil {
					r = float64(ref[i][j])
				}
				w, l, c := grpoTokenWeight(logp, o, r, adv[i], g.ClipLow, clipHigh, g.KLCoef, nTok)
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
		if err := t.sum(&loss, &klSum); err != nil {
			return nil, err
		}
		if err := t.sumInts(&clippedN, &klN); err != nil {
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
