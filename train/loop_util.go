package train

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
)

// samplerState is the resumable position of a sampler.
type samplerState struct {
	N     int    `json:"n"`
	Seed  uint64 `json:"seed"`
	Epoch int    `json:"epoch"`
	Pos   int    `json:"pos"`
}

// sampler draws indices 0..n-1 in a fresh deterministic permutation per
// epoch (PCG seeded by seed and the epoch), so that its position is two
// integers.
type sampler struct {
	st   samplerState
	perm []int
}

func newSampler(n int, seed uint64) *sampler {
	s := &sampler{st: samplerState{N: n, Seed: seed}}
	s.shuffle()
	return s
}

func (s *sampler) shuffle() {
	r := rand.New(rand.NewPCG(s.st.Seed, uint64(s.st.Epoch)+0x5DEECE66D))
	s.perm = r.Perm(s.st.N)
}

// next returns k indices, wrapping into the next epoch as needed.
func (s *sampler) next(k int) []int {
	out := make([]int, 0, k)
	for len(out) < k && s.st.N > 0 {
		if s.st.Pos >= s.st.N {
			s.st.Epoch++
			s.st.Pos = 0
			s.shuffle()
		}
		out = append(out, s.perm[s.st.Pos])
		s.st.Pos++
	}
	return out
}

func (s *sampler) restore(st samplerState, n int) error {
	if st.N != n {
		return fmt.Errorf("sampler state is for %d items, the data has %d (data changed?)", st.N, n)
	}
	if st.Pos < 0 || st.Pos > st.N || st.Epoch < 0 {
		return fmt.Errorf("sampler state out of range: %+v", st)
	}
	s.st = st
	s.shuffle()
	return nil
}

// Metrics keys written to metrics.jsonl (one JSON object per trainer step;
// absent keys do not apply to the phase):
//
//	step, phase, lr, loss, grad_norm, skipped (1 when no update was applied:
//	NaN/Inf, or no loss token in the batch), nonfinite (1 for NaN/Inf),
//	tokens (loss tokens), tokens_per_s, step_s, elapsed_s,
//	samples_generated (cumulative responses generated, all phases),
//	reward_mean, accuracy (fraction of samples with reward 1),
//	response_len (mean tokens), stop_rate (responses that ended with a stop
//	token);
//	distill/sdft: kl (mean per-token divergence), kl_r1, kl_r0 (split by the
//	sample's reward), truncated, dropped (teacher budget), teacher_sync (1 on
//	a sync/EMA event), teacher_sync_step;
//	srt: loss_rev, loss_gen, tokens_rev, tokens_gen, stage;
//	grpo: clip_frac, kl_ref, adv_abs_mean, zero_adv_groups;
//	rft: round, kept (correct deduplicated samples of the round);
//	srt-collect: attempts, attempt_acc, revisions, revision_acc, kept,
//	kept_total, revision_acc_r0, revision_acc_r1;
//	with eval.data: eval_accuracy, eval_response_len (held-out, on the
//	steps the evaluation ran after).
type Metrics map[string]float64

// metricsLog appends JSON lines to RUN/metrics.jsonl and tracks its size.
type metricsLog struct {
	f    *os.File
	size int64
}

func openMetrics(path string, truncateTo int64) (*metricsLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if truncateTo >= 0 {
		if st.Size() < truncateTo {
			f.Close()
			return nil, fmt.Errorf("metrics %s: %d bytes, the checkpoint recorded %d (file truncated?)", path, st.Size(), truncateTo)
		}
		if err := f.Truncate(truncateTo); err != nil {
			f.Close()
			return nil, fmt.Errorf("metrics %s: %w", path, err)
		}
	} else {
		truncateTo = st.Size()
	}
	if _, err := f.Seek(truncateTo, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &metricsLog{f: f, size: truncateTo}, nil
}

func (l *metricsLog) write(phase string, m Metrics) error {
	obj := make(map[string]any, len(m)+1)
	for k, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			obj[k] = nil // JSON has no NaN; null marks it
			continue
		}
		obj[k] = v
	}
	obj["phase"] = phase
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	n, err := l.f.Write(b)
	l.size += int64(n)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (l *metricsLog) close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// lrAt is the learning rate of optimizer step s (0-based) of total: linear
// warm-up from base/warmup to base over the first warmup steps, then the
// schedule's decay toward minLR, reached one step after the last (as
// Hugging Face's schedulers, so that no step has a zero rate).
func lrAt(schedule string, s, warmup, total int, base, minLR float64) float64 {
	if warmup > 0 && s < warmup {
		return base * float64(s+1) / float64(warmup)
	}
	decay := total - warmup
	if decay < 1 || schedule == "constant" {
		return base
	}
	frac := float64(s-warmup) / float64(decay)
	frac = math.Min(1, math.Max(0, frac))
	switch schedule {
	case "linear":
		return minLR + (base-minLR)*(1-frac)
	default: // cosine
		return minLR + (base-minLR)*0.5*(1+math.Cos(math.Pi*frac))
	}
}
