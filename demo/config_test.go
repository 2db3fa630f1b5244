package demo

import (
	"strings"
	"testing"

	"sdzero/train"
)

func TestEmbeddedConfigPhases(t *testing.T) {
	for _, quick := range []bool{false, true} {
		c, err := ParseConfig(DefaultYAML, quick)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"pretrain": train.PhaseSFT, "pretrain-revise": train.PhaseSRT, "srt-collect": train.PhaseSRTCollect, "srt": train.PhaseSRT,
			"distill": train.PhaseDistill, "rft": train.PhaseRFT, "grpo": train.PhaseGRPO}
		for _, name := range PhaseNames {
			pc, err := c.PhaseConfig(name, quick)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if pc.Phase != want[name] {
				t.Errorf("%s: phase %q, want %q", name, pc.Phase, want[name])
			}
			// common applies to every phase, defaults survive where
			// nothing overrides them.
			if pc.Prompt.Suffix != "" || pc.Rollout.MaxNewTokens != 160 || pc.Optim.Beta2 != 0.999 {
				t.Errorf("%s: suffix %q max_new_tokens %d beta2 %v", name, pc.Prompt.Suffix, pc.Rollout.MaxNewTokens, pc.Optim.Beta2)
			}
			pc.Model, pc.Out, pc.Data.Train, pc.SRT.Data = "m", "o", "d.jsonl", "s.jsonl"
			if err := pc.Validate(); err != nil {
				t.Errorf("%s (quick %v): %v", name, quick, err)
			}
		}
	}
}

func TestQuickOverrides(t *testing.T) {
	full, err := ParseConfig(DefaultYAML, false)
	if err != nil {
		t.Fatal(err)
	}
	quick, err := ParseConfig(DefaultYAML, true)
	if err != nil {
		t.Fatal(err)
	}
	if quick.Task.Eval >= full.Task.Eval {
		t.Errorf("quick eval set %d not smaller than %d", quick.Task.Eval, full.Task.Eval)
	}
	a, _ := full.PhaseConfig("distill", false)
	b, _ := quick.PhaseConfig("distill", true)
	if b.Train.Steps >= a.Train.Steps || b.Optim.LR != a.Optim.LR {
		t.Errorf("quick distill steps %d lr %g vs full %d %g", b.Train.Steps, b.Optim.LR, a.Train.Steps, a.Optim.LR)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "seed: 1\nbogus: 2\n", "bogus"},
		{"missing phase", "seed: 1\ntask: {train: 1, eval: 1}\neval: {k: 1, max_new_tokens: 8}\nphases: {}\n", "phases.pretrain"},
	}
	for _, tc := range cases {
		if _, err := ParseConfig([]byte(tc.yaml), false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	c, err := ParseConfig(DefaultYAML, false)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Phases["srt"]
	n.Content[0].Value = "nonsense_key_for_test"
	c.Phases["srt"] = n
	if _, err := c.PhaseConfig("srt", false); err == nil {
		t.Error("unknown trainer key in a phase accepted")
	}
}

func TestMeanStd(t *testing.T) {
	s := meanStd([]float64{0.2, 0.4, 0.6})
	if d := s.Mean - 0.4; d > 1e-12 || d < -1e-12 {
		t.Errorf("mean %v", s.Mean)
	}
	if d := s.Std - 0.2; d > 1e-12 || d < -1e-12 {
		t.Errorf("std %v", s.Std)
	}
	if s := meanStd([]float64{0.5}); s.Std != 0 {
		t.Errorf("std of one value %v", s.Std)
	}
}
