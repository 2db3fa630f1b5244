package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/demo/tinytok"
	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
)

// saveCLIModel saves a random model of cfg in a temp dir, with the tiny
// tokenizer files when tok is set.
func saveCLIModel(t *testing.T, cfg *model.Config, tok bool) string {
	t.Helper()
	m, err := model.New(cfg, cpu.New(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	dir := filepath.Join(t.TempDir(), "model")
	if err := m.Save(dir, model.SaveOptions{DType: kernels.F32}); err != nil {
		t.Fatal(err)
	}
	if tok {
		if err := tinytok.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTrainStartAgain covers the wrong inputs TestTrainFailedStart does
// not (a model directory without a tokenizer, a tokenizer with more ids
// than the model's vocabulary), then a run directory left by a run that
// failed in its first step (config.yaml, an empty metrics.jsonl,
// summary.json saying "failed"): `--resume` says the train command
// starts it again, and the corrected command does.
func TestTrainStartAgain(t *testing.T) {
	mdl := cliModelDir(t, 1)
	data := cliMathData(t, 6)
	cfg := cliRunYAML(t, "sft", mdl, data, 1)
	small := cliTinyConfig()
	small.VocabSize = tinytok.VocabSize - 8
	for _, tc := range []struct {
		name, model, want string
	}{
		{"no tokenizer", saveCLIModel(t, cliTinyConfig(), false), "tokenizer"},
		{"vocabulary mismatch", saveCLIModel(t, small, true), "does not belong to this model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			_, _, err := call(runTrain, "--config", cfg, "--out", dir, "--model", tc.model)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Fatalf("the failed start created %s", dir)
			}
			if out := mustCall(t, runTrain, "--config", cfg, "--out", dir); !strings.Contains(out, "sft finished: 1 steps") {
				t.Errorf("corrected command: %q", out)
			}
		})
	}
	t.Run("failed first step", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "run")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// As Run saves it: the resolved config, with out.
		y = append(y, []byte("out: "+dir+"\n")...)
		for name, body := range map[string]string{"config.yaml": string(y), "metrics.jsonl": "", "summary.json": `{"phase":"sft","exit":"failed","steps":0}`} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err = call(runTrain, "--resume", dir)
		if err == nil || !strings.Contains(err.Error(), "no checkpoint") || !strings.Contains(err.Error(), "starts it again") {
			t.Errorf("--resume of a run without a checkpoint: %v", err)
		}
		if out := mustCall(t, runTrain, "--config", cfg, "--out", dir); !strings.Contains(out, "sft finished: 1 steps") {
			t.Errorf("started again: %q", out)
		}
	})
}
