package train

import (
	"context"
	"fmt"
	"strings"

	"sdzero/kernels"
)

// Data-parallel training over the ranks of Options.Comm (docs/distributed.md).
//
// Every rank loads the same model, data and config, keeps the same RNG and
// problem sampler, and so draws the same global batch; it takes its
// contiguous share of the batch's prompts (share), generates and verifies
// their rollouts (keyed by the global row index, RolloutOptions.RowOffset,
// so that the samples do not depend on the number of ranks), and computes
// the gradient of its part of the loss, whose normalisers (token counts)
// are summed over all ranks first. The optimizer (optim.NewShardedAdamW)
// reduce-scatters the gradients, updates this rank's shard of the AdamW
// state and all-gathers the parameters, so every rank holds the same
// weights after each step. Metrics are summed over the ranks; rank 0
// alone prints, writes metrics.jsonl, the model files and the checkpoint's
// shared files, and each rank writes its optimizer shard.
//
// Every rank makes the same collective calls in the same order: every
// decision that leads to one (skip a step, stop, save) is taken from
// globally reduced values. A stop request (SIGTERM to any rank) is agreed
// on at step boundaries only.

// distPhases are the phases a multi-rank run supports.
var distPhases = []string{PhaseSFT, PhaseSRT, PhaseDistill, PhaseSDFT, PhaseGRPO}

// distributed reports a run over more than one rank (a trainer built
// without initComm, as some tests build one, is a single process).
func (t *trainer) distributed() bool { return t.comm != nil && t.comm.Size() > 1 }

// lead reports rank 0, the rank that prints and writes the run's files.
func (t *trainer) lead() bool { return t.comm == nil || t.comm.Rank() == 0 }

// initComm sets t.comm from the options and refuses what a multi-rank run
// cannot do; it also silences the output of every rank but 0.
func (t *trainer) initComm() error {
	t.comm = t.opt.Comm
	if t.comm == nil {
		t.comm = kernels.NewLocalComm(t.be)
	}
	if !t.distributed() {
		return nil
	}
	if !t.lead() {
		t.opt.Out = nil
	}
	ok := false
	for _, p := range distPhases {
		ok = ok || p == t.cfg.Phase
	}
	if !ok {
		return fmt.Errorf("phase %s does not run on several ranks (rank %d of %d): run it as a single process; multi-rank runs support %s",
			t.cfg.Phase, t.comm.Rank(), t.comm.Size(), strings.Join(distPhases, ", "))
	}
	return nil
}

// share returns this rank's contiguous share [lo, hi) of k items (the
// global batch's prompts): rank r gets items r*k/size to (r+1)*k/size.
func (t *trainer) share(k int) (lo, hi int) {
	if !t.distributed() {
		return 0, k
	}
	r, n := t.comm.Rank(), t.comm.Size()
	return r * k / n, (r + 1) * k / n
}

// sum replaces each value with its sum over all ranks (one collective).
// Values are float64: sums of counts are exact below 2^53.
func (t *trainer) sum(vals ...*float64) error {
	if !t.distributed() {
		return nil
	}
	buf := make([]float64, len(vals))
	for i, v := range vals {
		buf[i] = *v
	}
	if err := t.comm.AllReduceHost(buf); err != nil {
		return err
	}
	for i, v := range vals {
		*v = buf[i]
	}
	return nil
}

// sumInts is sum for integer counts.
func (t *trainer) sumInts(vals ...*int) error {
	if !t.distributed() {
		return nil
	}
	f := make([]float64, len(vals))
	p := make([]*float64, len(vals))
	for i, v := range vals {
		f[i] = float64(*v)
		p[i] = &f[i]
	}
	if err := t.sum(p...); err != nil {
		return err
	}
	for i, v := range vals {
		*v = int(f[i])
	}
	return nil
}

// agree reports whether any rank's flag is set (an AllReduce of the
// flags); with one rank it is the flag itself.
func (t *trainer) agree(flag bool) (bool, error) {
	v := 0.0
	if flag {
		v = 1
	}
	if err := t.sum(&v); err != nil {
		return false, err
	}
	return v > 0, nil
}

// stopAgreed reports, at a step boundary, whether any rank was asked to
// stop (its context cancelled by a signal): then every rank stops there.
func (t *trainer) stopAgreed(ctx context.Context) (bool, error) {
	stop, err := t.agree(ctx.Err() != nil)
	if err != nil {
		return false, fmt.Errorf("agree on stopping: %w", err)
	}
	return stop, nil
}

// rolloutStatsGlobal is rolloutStats over every rank's samples.
func (t *trainer) rolloutStatsGlobal(m Metrics, samples []Sample) error {
	var r, l, stop float64
	for _, s := range samples {
		r += s.Reward
		l += float64(len(s.Response))
		if s.Stopped {
			stop++
		}
	}
	n := float64(len(samples))
	if err := t.sum(&r, &l, &stop, &n); err != nil {
		return fmt.Errorf("rollout metrics: %w", err)
	}
	if n == 0 {
		return nil
	}
	m["reward_mean"] = r / n
	m["accuracy"] = r / n
	m["response_len"] = l / n
	m["stop_rate"] = stop / n
	return nil
}

// sumErrorCounts sums errorCounts over the ranks (nil when no rank had a
// located error, as errorCounts returns for one rank).
func (t *trainer) sumErrorCounts(errs map[string]int) (map[string]int, error) {
	if !t.distributed() {
		return errs, nil
	}
	v := make([]float64, len(ErrorTypes)+1)
	if errs != nil {
		v[0] = 1
		for i, typ := range ErrorTypes {
			v[i+1] = float64(errs[typ])
		}
	}
	if err := t.comm.AllReduceHost(v); err != nil {
		return nil, fmt.Errorf("error counts: %w", err)
	}
	if v[0] == 0 {
		return nil, nil
	}
	out := make(map[string]int, len(ErrorTypes))
	for i, typ := range ErrorTypes {
		out[typ] = int(v[i+1])
	}
	return out, nil
}
