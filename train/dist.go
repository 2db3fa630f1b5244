package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

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

// distributed reports a run over more than one rank (a trainer built
// without initComm, as some tests build one, is a single process).
func (t *trainer) distributed() bool { return t.comm != nil && t.comm.Size() > 1 }

// lead reports rank 0, the rank that prints and writes the run's files.
func (t *trainer) lead() bool { return t.comm == nil || t.comm.Rank() == 0 }

// initComm sets t.comm from the options; it also silences the output of
// every rank but 0. Every phase runs on several ranks.
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

// gatherBytes gives every rank every rank's b, in rank order (out[r] is
// rank r's; with one rank, b itself). Comm has no variable-size gather, so
// it takes two host all-reduces: the lengths, then a buffer in which each
// rank fills its own segment with 4 bytes per float64 (integers below
// 2^32, exact) and leaves the others zero. For small payloads: collected
// tuples and logged samples, not tensors.
func (t *trainer) gatherBytes(b []byte) ([][]byte, error) {
	if !t.distributed() {
		return [][]byte{b}, nil
	}
	r, n := t.comm.Rank(), t.comm.Size()
	lens := make([]float64, n)
	lens[r] = float64(len(b))
	if err := t.comm.AllReduceHost(lens); err != nil {
		return nil, fmt.Errorf("gather lengths: %w", err)
	}
	words := make([]int, n+1) // words[k]: the first word of rank k's segment
	for k, l := range lens {
		words[k+1] = words[k] + (int(l)+3)/4
	}
	buf := make([]float64, words[n])
	for i := 0; i < len(b); i += 4 {
		var w uint32
		for j := 0; j < 4 && i+j < len(b); j++ {
			w |= uint32(b[i+j]) << (8 * j)
		}
		buf[words[r]+i/4] = float64(w)
	}
	if err := t.comm.AllReduceHost(buf); err != nil {
		return nil, fmt.Errorf("gather %d bytes: %w", words[n]*4, err)
	}
	out := make([][]byte, n)
	for k := range out {
		out[k] = make([]byte, int(lens[k]))
		for i := range out[k] {
			out[k][i] = byte(uint32(buf[words[k]+i/4]) >> (8 * (i % 4)))
		}
	}
	return out, nil
}

// gatherJSON is gatherBytes for JSON lines: every rank's records
// (marshalled with json.Marshal, one per line) in rank order, unmarshalled
// into values of T.
func gatherJSON[T any](t *trainer, recs []T) ([][]T, error) {
	var b []byte
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		b = append(append(b, line...), '\n')
	}
	all, err := t.gatherBytes(b)
	if err != nil {
		return nil, err
	}
	out := make([][]T, len(all))
	for k, part := range all {
		for _, line := range bytes.Split(part, []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			var v T
			if err := json.Unmarshal(line, &v); err != nil {
				return nil, fmt.Errorf("records of rank %d: %w", k, err)
			}
			out[k] = append(out[k], v)
		}
	}
	return out, nil
}

// rowsBefore returns how many rows the ranks before this one hold and how
// many all ranks hold, given this rank's n (for a rollout whose inputs
// each rank builds from its own share, such as srt-collect's revisions).
func (t *trainer) rowsBefore(n int) (before, total int, err error) {
	if !t.distributed() {
		return 0, n, nil
	}
	v := make([]float64, t.comm.Size())
	v[t.comm.Rank()] = float64(n)
	if err := t.comm.AllReduceHost(v); err != nil {
		return 0, 0, fmt.Errorf("row counts: %w", err)
	}
	for r, x := range v {
		if r < t.comm.Rank() {
			before += int(x)
		}
		total += int(x)
	}
	return before, total, nil
}

// openRankOutputs gives a rank other than 0 what it keeps instead of the
// run's files (which rank 0 opens): a rollouts log without a file, whose
// samples rank 0 gathers (flushRollouts).
func (t *trainer) openRankOutputs() {
	if t.lead() || t.cfg.Log.RolloutsEvery <= 0 {
		return
	}
	t.rlog = &rolloutLog{share: true, every: t.cfg.Log.RolloutsEvery, per: t.cfg.Log.RolloutsSamples,
		phase: t.cfg.Phase, dec: t.p.Tok.Decode, step: -1}
}

// rankedRecord is a logged sample as a rank sends it to rank 0: its
// rollout call and its line of the file (encoded where it was drawn, so
// that rank 0 writes the bytes a single process would).
type rankedRecord struct {
	Call int    `json:"call"`
	Line []byte `json:"line"`
}

// flushRollouts appends the logged samples of the step just done to
// RUN/rollouts.jsonl. On several ranks each rank's first samples are
// gathered to rank 0, which keeps the first log.rollouts_samples in the
// single process's order (by rollout call, then global sample index: rank
// order within a call), so the file holds what a single process would
// log. Whether a step is logged is decided from the config alone, so every
// rank joins the same gathers.
func (t *trainer) flushRollouts() error {
	step := t.st.Step
	if !t.distributed() {
		t.rlog.flush(step, t.prog.logf)
		return nil
	}
	every := t.cfg.Log.RolloutsEvery
	if every <= 0 || (step != 1 && step%every != 0) {
		return nil
	}
	var mine []rankedRecord
	if t.rlog != nil {
		for k, r := range t.rlog.finish(step) {
			line, err := encodeRecord(r)
			if err != nil {
				t.prog.logf("warning: rollouts log: sample %d of step %d: %v", k, step, err)
				continue
			}
			mine = append(mine, rankedRecord{Call: r.call, Line: line})
		}
	}
	parts, err := gatherJSON(t, mine)
	if err != nil {
		return fmt.Errorf("rollouts log, step %d: %w", step, err)
	}
	if !t.lead() || t.rlog == nil {
		return nil
	}
	var all []rankedRecord
	for _, p := range parts {
		all = append(all, p...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Call < all[j].Call })
	var lines [][]byte
	for _, r := range all[:min(len(all), t.rlog.per)] {
		lines = append(lines, r.Line)
	}
	t.rlog.writeLines(lines, t.prog.logf)
	return nil
}

// errStartCheckRank0 is what the other ranks report when rank 0's start
// check failed (rank 0 reports the failure itself).
var errStartCheckRank0 = errors.New("failed on rank 0")

// shareStartCheck gives every rank rank 0's start-check outcome: its
// figures m (the keys of StartCheckMessages), whether it was stopped, and
// whether it failed. Rank 0 returns its own values; the others get m and
// stopped from rank 0, and errStartCheckRank0 (or ErrInterrupted) when it
// failed. cerr is a collective's failure.
func (t *trainer) shareStartCheck(m Metrics, stopped bool, err error) (_ Metrics, _ bool, _, cerr error) {
	_, keysOf := StartCheckMessages(&ReadinessReport{})
	keys := make([]string, 0, len(keysOf))
	for k := range keysOf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	v := make([]float64, 2+len(keys))
	if t.lead() {
		if err != nil {
			v[0] = 1
		}
		if stopped {
			v[1] = 1
		}
		for i, k := range keys {
			v[2+i] = m[k]
		}
	}
	if cerr := t.comm.AllReduceHost(v); cerr != nil {
		return nil, false, nil, fmt.Errorf("start check: share the outcome: %w", cerr)
	}
	if t.lead() {
		return m, stopped, err, nil
	}
	if v[0] != 0 {
		return nil, v[1] != 0, errStartCheckRank0, nil
	}
	m = Metrics{}
	for i, k := range keys {
		m[k] = v[2+i]
	}
	return m, false, nil, nil
}
