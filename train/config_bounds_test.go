package train

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"sdzero/model"
)

// validBase is a config that validates, for every phase's checks.
func validBase(phase string) *Config {
	c := DefaultConfig()
	c.Phase, c.Model, c.Out, c.Data.Train, c.SRT.Data = phase, "m", "o", "d", "s"
	return c
}

// floatKnobs returns the dotted keys and values of every float knob.
func floatKnobs(v reflect.Value, key string, out map[string]reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		name := yamlName(v.Type().Field(i))
		if name == "" {
			continue
		}
		switch f := v.Field(i); f.Kind() {
		case reflect.Struct:
			floatKnobs(f, joinKey(key, name), out)
		case reflect.Float64:
			out[joinKey(key, name)] = f
		}
	}
}

// TestValidateNonFinite: every float knob refuses NaN and both
// infinities, naming the knob, in every phase.
func TestValidateNonFinite(t *testing.T) {
	keys := map[string]reflect.Value{}
	floatKnobs(reflect.ValueOf(DefaultConfig()).Elem(), "", keys)
	if len(keys) < 15 {
		t.Fatalf("found %d float knobs; the walk is broken", len(keys))
	}
	for _, phase := range Phases {
		for key := range keys {
			for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				c := validBase(phase)
				knobs := map[string]reflect.Value{}
				floatKnobs(reflect.ValueOf(c).Elem(), "", knobs)
				knobs[key].SetFloat(bad)
				err := c.Validate()
				if err == nil || !strings.Contains(err.Error(), key+":") {
					t.Errorf("%s: %s = %g: want an error naming it, got %v", phase, key, bad, err)
				}
			}
		}
	}
}

// TestValidateBounds: absurd sizes and non-positive counts are refused
// by name before anything is allocated.
func TestValidateBounds(t *testing.T) {
	tests := []struct {
		phase string
		mut   func(c *Config)
		want  string
	}{
		{PhaseDistill, func(c *Config) { c.Train.MaxSeqLen = 1e9 }, "train.max_seq_len"},
		{PhaseDistill, func(c *Config) { c.Train.BatchSize = 1e8 }, "train.batch_size"},
		{PhaseDistill, func(c *Config) { c.Train.MicroBatch = 1e8 }, "train.micro_batch"},
		{PhaseDistill, func(c *Config) { c.Rollout.MaxNewTokens = 2e9; c.Train.MaxSeqLen = 1 << 20 }, "rollout.max_new_tokens"},
		{PhaseDistill, func(c *Config) { c.Rollout.N = 1e9 }, "rollout.n"},
		{PhaseDistill, func(c *Config) { c.Rollout.N = 0 }, "rollout.n"},
		{PhaseDistill, func(c *Config) { c.Rollout.GenBatch = -1 }, "rollout.gen_batch"},
		{PhaseDistill, func(c *Config) { c.Rollout.TopK = -3 }, "rollout.top_k"},
		{PhaseDistill, func(c *Config) { c.Rollout.Temperature = 1e-30 }, "rollout.temperature"},
		{PhaseDistill, func(c *Config) { c.Rollout.Temperature = 1e6 }, "rollout.temperature"},
		{PhaseDistill, func(c *Config) { c.Distill.Temperature = 1e-9 }, "distill.temperature"},
		{PhaseDistill, func(c *Config) { c.Distill.TopK = 1 << 30 }, "distill.top_k"},
		{PhaseDistill, func(c *Config) { c.Threads = -1 }, "threads"},
		{PhaseDistill, func(c *Config) { c.Threads = 1e6 }, "threads"},
		{PhaseDistill, func(c *Config) { c.Verify.Workers = 1e6 }, "verify.workers"},
		{PhaseDistill, func(c *Config) { c.Verify.TestTimeoutS = -1 }, "verify.test_timeout_s"},
		{PhaseDistill, func(c *Config) { c.Verify.CompileTimeoutS = 1e9 }, "verify.compile_timeout_s"},
		{PhaseDistill, func(c *Config) { c.Verify.MemoryMB = -5 }, "verify.memory_mb"},
		{PhaseDistill, func(c *Config) { c.Eval.Limit = -1 }, "eval.limit"},
		{PhaseDistill, func(c *Config) { c.Train.Steps = math.MaxInt }, "train.steps"},
		{PhaseDistill, func(c *Config) { c.Train.KeepCheckpoints = 0 }, "train.keep_checkpoints"},
		{PhaseRFT, func(c *Config) { c.RFT.K = 1e9 }, "rft.k"},
		{PhaseGRPO, func(c *Config) { c.GRPO.GroupSize = 1e9 }, "grpo.group_size"},
		{PhaseSRTCollect, func(c *Config) { c.Collect.NRev = 1e9 }, "srt_collect.n_rev"},
		{PhaseSDFT, func(c *Config) { c.SDFT.Temperature = 1e-300 }, "sdft.temperature"},
	}
	for _, phase := range Phases {
		if err := validBase(phase).Validate(); err != nil {
			t.Fatalf("base config of %s: %v", phase, err)
		}
	}
	for _, tc := range tests {
		c := validBase(tc.phase)
		tc.mut(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want+":") {
			t.Errorf("%s: want an error naming %s, got %v", tc.phase, tc.want, err)
		}
	}
}

func TestCheckTemperature(t *testing.T) {
	tests := []struct {
		v  float64
		ok bool
	}{{0, true}, {0.7, true}, {MinTemperature, true}, {MaxTemperature, true}, {1e-5, false}, {101, false},
		{math.NaN(), false}, {math.Inf(1), false}, {math.Inf(-1), false}}
	for _, tc := range tests {
		err := CheckTemperature("--temperature", tc.v)
		if (err == nil) != tc.ok {
			t.Errorf("%g: ok %v, got %v", tc.v, tc.ok, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--temperature") {
			t.Errorf("%g: error %q does not name the flag", tc.v, err)
		}
	}
}

// TestCheckMemory: a plan beyond the machine is refused before any
// allocation, with the plan and the knobs to lower in the error; the
// test config's plan fits.
func TestCheckMemory(t *testing.T) {
	be := testBackend()
	if _, _, ok := MemoryAvailable(be); !ok {
		t.Skip("available memory unknown here (no /proc/meminfo)")
	}
	mdl := tinyModelDir(t, 1)
	c := tinyRunConfig(t, PhaseDistill, mdl, "d", "o")
	if err := c.CheckMemory(be); err != nil {
		t.Fatalf("tiny run refused: %v", err)
	}
	c.Train.MicroBatch, c.Train.MaxSeqLen = MaxBatchLimit, MaxSeqLenLimit
	err := c.CheckMemory(be)
	if err == nil {
		t.Fatal("a 2^40-token micro-batch was not refused")
	}
	for _, w := range []string{"train.micro_batch 1048576", "student activations", "teacher parameters", "total", "lower train.micro_batch"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

func TestPromptTooLong(t *testing.T) {
	if PromptTooLong(strings.Repeat("x", 32*100), 100) || !PromptTooLong(strings.Repeat("x", 32*100+1), 100) {
		t.Error("the byte rule is not 32 bytes per token")
	}
}

func TestPlanTotalSaturates(t *testing.T) {
	if got := PlanTotal([]model.MemoryItem{{Name: "a", Bytes: math.MaxInt64 - 1}, {Name: "b", Bytes: 5}}); got != math.MaxInt64 {
		t.Errorf("total %d, want saturation at MaxInt64", got)
	}
	if byteSize(-1) != "(overflow)" || byteSize(3<<40) != "3.00 TiB" {
		t.Errorf("byteSize: %s %s", byteSize(-1), byteSize(3<<40))
	}
}
