package demo

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/kernels/cpu"
	"sdzero/train"
)

// smokeOverrides shrink every phase of the embedded settings so that the
// whole pipeline runs in seconds (the numbers are not meaningful).
const smokeOverrides = `
  task: {eval: 12}
  eval: {k: 2, batch: 32}
  readiness: {problems: 4, samples: 2, kl_attempts: 3}
  phases:
    srt-collect:
      train: {steps: 1, batch_size: 12}
    srt:
      train: {steps: 2, batch_size: 8, micro_batch: 8}
    distill:
      train: {steps: 2, batch_size: 4, micro_batch: 4}
    rft:
      rft: {k: 2}
      train: {steps: 0, epochs: 1, batch_size: 8, micro_batch: 8}
    grpo:
      grpo: {group_size: 2}
      train: {batch_size: 4, micro_batch: 8}
`

func smokeConfig(t *testing.T) string {
	t.Helper()
	raw := string(DefaultYAML)
	i := strings.Index(raw, "\nquick:")
	if i < 0 {
		t.Fatal("demo.yaml has no quick section")
	}
	raw = raw[:i] + "\nquick:" + smokeOverrides
	path := filepath.Join(t.TempDir(), "smoke.yaml")
	if err := os.WriteFile(path, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDemoPipeline runs every phase of the demo from the shipped base model
// with tiny settings and checks the summary's bookkeeping: all methods
// evaluated on the same held-out set, RFT and GRPO given SD-Zero's sample
// budget.
func TestDemoPipeline(t *testing.T) {
	if !HasShippedBase() {
		t.Skip("no shipped base model in demo/base")
	}
	out := filepath.Join(t.TempDir(), "out")
	var log strings.Builder
	sum, err := Run(context.Background(), Options{Out: out, Quick: true, ConfigPath: smokeConfig(t), Backend: cpu.New(2), Log: &log})
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if len(sum.Runs) != 1 || len(sum.Runs[0].Methods) != len(Methods) {
		t.Fatalf("summary runs %+v", sum.Runs)
	}
	sr := sum.Runs[0]
	got := map[string]MethodResult{}
	for _, mr := range sr.Methods {
		got[mr.Method] = mr
		if mr.Accuracy < 0 || mr.Accuracy > 1 || mr.Greedy < 0 || mr.Greedy > 1 {
			t.Errorf("%s: accuracy %v greedy %v", mr.Method, mr.Accuracy, mr.Greedy)
		}
		if _, err := os.Stat(filepath.Join(mr.Model, "model.safetensors")); err != nil {
			t.Errorf("%s: model %s: %v", mr.Method, mr.Model, err)
		}
	}
	if sr.Budget <= 0 || got[MethodSDZero].Samples != sr.Budget || got[MethodBase].Samples != 0 {
		t.Errorf("budget %d, SD-Zero samples %d, base samples %d", sr.Budget, got[MethodSDZero].Samples, got[MethodBase].Samples)
	}
	for _, m := range []string{MethodRFT, MethodGRPO} {
		// Matched to the nearest whole prompt batch.
		if s := got[m].Samples; s <= 0 || float64(absDiff(s, sr.Budget)) > 0.5*float64(sr.Budget) {
			t.Errorf("%s generated %d samples for a budget of %d", m, s, sr.Budget)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if len(back.Accuracy) != len(Methods) || back.EvalProblems != 12 {
		t.Errorf("summary.json accuracy %v, eval problems %d", back.Accuracy, back.EvalProblems)
	}
	for _, m := range Methods[1:] {
		if back.Samples[m] <= 0 || back.Tokens[m] < back.Samples[m] {
			t.Errorf("summary.json %s: %v samples, %v tokens", m, back.Samples[m], back.Tokens[m])
		}
	}
	// The gates: the readiness check's, the tuple count and the error
	// growth, each with one value per seed.
	names := map[string]bool{}
	for _, g := range back.Gates {
		names[g.Name] = len(g.Values) == 1 && len(g.Pass) == 1
	}
	for _, n := range []string{"correction_above_resample", "srt_wrong_init_tuples", "no_error_type_growing"} {
		if !names[n] {
			t.Errorf("summary.json gates %+v lack %s", back.Gates, n)
		}
	}
	if g := back.Runs[0].Gates; g == nil || g.Readiness == nil || g.Readiness.Attempts != 8 || len(g.ErrorGrowth) != len(train.ErrorTypes) {
		t.Errorf("summary.json seed gates %+v", g)
	}
	// A second run into the same directory replaces the demo output; a
	// foreign non-empty directory is refused.
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "precious.txt"), []byte("x"), 0o644)
	if _, err := Run(context.Background(), Options{Out: foreign, Backend: cpu.New(1)}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("foreign directory: %v", err)
	}
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
