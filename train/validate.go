package train

import (
	"fmt"
	"math"
	"reflect"
)

// Upper bounds of the size knobs. They are far above any real run (a
// 1M-token sequence, a million prompts per step) and far below what
// overflows a plan or allocates without bound: the memory check at the
// start of a run then judges the real cost against the machine.
const (
	// MaxSeqLenLimit bounds train.max_seq_len, distill.teacher_max_len and
	// rollout.max_new_tokens (tokens).
	MaxSeqLenLimit = 1 << 20
	// MaxBatchLimit bounds train.batch_size, micro_batch, rollout.gen_batch
	// and the per-prompt sample counts.
	MaxBatchLimit = 1 << 20
	// MaxCountLimit bounds step, epoch and interval counts.
	MaxCountLimit = 1 << 40
	// MaxThreadsLimit bounds threads and verify.workers.
	MaxThreadsLimit = 1 << 12
	// MaxVocabLimit bounds the top-k knobs.
	MaxVocabLimit = 1 << 24
	// MaxPromptTextBytes bounds the prompt texts added to every question
	// (prompt.system, prompt.suffix, the revision sentences): each is
	// tokenized with every prompt, so a 10 MB one would cost minutes;
	// 256 KiB (about 64k tokens) is more than a Qwen3 context holds.
	MaxPromptTextBytes = 1 << 18
)

// ValidateBounds is the finiteness and range part of Validate, for
// settings that are not a whole run (a model's sdzero.json with --set
// overrides, as eval, readiness, explain and generate --chat resolve
// them): it names the first knob out of bounds.
func (c *Config) ValidateBounds() error { return c.validateBounds() }

// intBound is the allowed range of one integer knob.
type intBound struct {
	key    string
	v      int
	lo, hi int
}

// validateBounds checks that every float knob is finite and every integer
// knob lies in its range, naming the knob (its dotted key). It runs before
// the semantic checks of Validate, which may then assume sane numbers.
func (c *Config) validateBounds() error {
	if key, f, ok := firstNonFinite(reflect.ValueOf(c).Elem(), ""); ok {
		return fmt.Errorf("config: %s: must be a finite number, got %g", key, f)
	}
	t, r := c.Train, c.Rollout
	bounds := []intBound{
		{"threads", c.Threads, 0, MaxThreadsLimit},
		{"data.limit", c.Data.Limit, 0, math.MaxInt},
		{"optim.warmup_steps", c.Optim.WarmupSteps, math.MinInt, MaxCountLimit},
		{"train.steps", t.Steps, 0, MaxCountLimit},
		{"train.epochs", t.Epochs, math.MinInt, 1 << 20},
		{"train.batch_size", t.BatchSize, 1, MaxBatchLimit},
		{"train.micro_batch", t.MicroBatch, 1, MaxBatchLimit},
		{"train.max_seq_len", t.MaxSeqLen, 8, MaxSeqLenLimit},
		{"train.checkpoint_every", t.CheckpointEvery, 0, MaxCountLimit},
		{"train.keep_checkpoints", t.KeepCheckpoints, 1, 1 << 20},
		{"train.log_every", t.LogEvery, 1, MaxCountLimit},
		{"train.max_nonfinite", t.MaxNonFinite, 1, MaxCountLimit},
		{"rollout.n", r.N, 1, MaxBatchLimit},
		{"rollout.max_new_tokens", r.MaxNewTokens, 1, MaxSeqLenLimit},
		{"rollout.top_k", r.TopK, 0, MaxVocabLimit},
		{"rollout.gen_batch", r.GenBatch, 1, MaxBatchLimit},
		{"verify.workers", c.Verify.Workers, 0, MaxThreadsLimit},
		{"verify.memory_mb", c.Verify.MemoryMB, 0, 1 << 24},
		{"eval.limit", c.Eval.Limit, 0, math.MaxInt},
		{"eval.every", c.Eval.Every, math.MinInt, MaxCountLimit},
		{"srt_collect.n_init", c.Collect.NInit, math.MinInt, MaxBatchLimit},
		{"srt_collect.n_rev", c.Collect.NRev, math.MinInt, MaxBatchLimit},
		{"srt_collect.target", c.Collect.Target, 0, math.MaxInt},
		{"distill.teacher_sync_every", c.Distill.TeacherSyncEvery, 0, MaxCountLimit},
		{"distill.top_k", c.Distill.TopK, 0, MaxVocabLimit},
		{"distill.teacher_max_len", c.Distill.TeacherMaxLen, 0, 2 * MaxSeqLenLimit},
		{"rft.k", c.RFT.K, math.MinInt, MaxBatchLimit},
		{"rft.rounds", c.RFT.Rounds, math.MinInt, 1 << 20},
		{"rft.prompts_per_round", c.RFT.PromptsPerRound, 0, math.MaxInt},
		{"rft.steps_per_round", c.RFT.StepsPerRound, 0, MaxCountLimit},
		{"grpo.group_size", c.GRPO.GroupSize, math.MinInt, MaxBatchLimit},
		{"grpo.updates", c.GRPO.Updates, math.MinInt, 1 << 20},
		{"sdft.top_k", c.SDFT.TopK, 0, MaxVocabLimit},
		{"log.rollouts_every", c.Log.RolloutsEvery, 0, MaxCountLimit},
		{"log.rollouts_samples", c.Log.RolloutsSamples, 1, 1 << 16},
	}
	for _, b := range bounds {
		if b.v < b.lo || b.v > b.hi {
			return fmt.Errorf("config: %s: %d is out of range: %s", b.key, b.v, rangeText(b.lo, b.hi))
		}
	}
	for _, pt := range []struct{ key, v string }{{"prompt.system", c.Prompt.System}, {"prompt.suffix", c.Prompt.Suffix},
		{"prompt.revision_correct", c.Prompt.RevisionCorrect}, {"prompt.revision_wrong", c.Prompt.RevisionWrong}} {
		if len(pt.v) > MaxPromptTextBytes {
			return fmt.Errorf("config: %s: %d bytes is more than %d (it is added to every prompt)", pt.key, len(pt.v), MaxPromptTextBytes)
		}
	}
	floats := []struct {
		key    string
		v      float64
		lo, hi float64
	}{
		{"verify.test_timeout_s", c.Verify.TestTimeoutS, 0, 86400},
		{"verify.compile_timeout_s", c.Verify.CompileTimeoutS, 0, 86400},
		{"rollout.temperature", r.Temperature, 0, MaxTemperature},
		{"eval.temperature", c.Eval.Temperature, 0, MaxTemperature},
		{"distill.temperature", c.Distill.Temperature, 0, MaxTemperature},
		{"sdft.temperature", c.SDFT.Temperature, 0, MaxTemperature},
	}
	for _, b := range floats {
		if b.v < b.lo || b.v > b.hi {
			return fmt.Errorf("config: %s: %g is out of range: must be in [%g, %g]", b.key, b.v, b.lo, b.hi)
		}
	}
	for _, tk := range []struct {
		key string
		v   float64
	}{{"rollout.temperature", r.Temperature}, {"eval.temperature", c.Eval.Temperature},
		{"distill.temperature", c.Distill.Temperature}, {"sdft.temperature", c.SDFT.Temperature}} {
		if err := CheckTemperature(tk.key, tk.v); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// MinTemperature and MaxTemperature bound a sampling or distillation
// temperature other than 0 (greedy): below MinTemperature float32 logits
// divided by it overflow to infinity and the softmax is NaN.
const (
	MinTemperature = 1e-4
	MaxTemperature = 100
)

// CheckTemperature checks a temperature knob or flag named name: finite,
// 0 (greedy) or in [MinTemperature, MaxTemperature].
func CheckTemperature(name string, v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("%s: must be a finite number, got %g", name, v)
	case v == 0:
		return nil
	case v < MinTemperature || v > MaxTemperature:
		return fmt.Errorf("%s: %g is out of range: 0 (greedy) or in [%g, %g]", name, v, MinTemperature, float64(MaxTemperature))
	}
	return nil
}

// rangeText says what an integer range allows, for errors.
func rangeText(lo, hi int) string {
	switch {
	case lo == math.MinInt:
		return fmt.Sprintf("must be at most %d", hi)
	case hi == math.MaxInt:
		return fmt.Sprintf("must be at least %d", lo)
	}
	return fmt.Sprintf("must be in [%d, %d]", lo, hi)
}

// firstNonFinite returns the dotted key and value of the first NaN or
// infinite float knob of v.
func firstNonFinite(v reflect.Value, key string) (string, float64, bool) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			name := yamlName(v.Type().Field(i))
			if name == "" {
				continue
			}
			if k, f, ok := firstNonFinite(v.Field(i), joinKey(key, name)); ok {
				return k, f, true
			}
		}
	case reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return key, f, true
		}
	}
	return "", 0, false
}
