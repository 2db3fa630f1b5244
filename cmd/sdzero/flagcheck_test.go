package main

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/data/dataset"
	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
	"sdzero/train"
)

// TestFlagBounds: non-finite and out-of-range numeric flags, and stray
// key=value arguments, are refused at the entry point with the flag's name
// (no model is loaded: the model directory does not exist).
func TestFlagBounds(t *testing.T) {
	noModel := filepath.Join(t.TempDir(), "absent")
	m := []string{"--model", noModel, "--ids", "1,2", "--device", "cpu"}
	e := []string{"--model", noModel, "--data", "absent.jsonl", "--device", "cpu"}
	tests := []struct {
		name string
		run  func([]string, io.Writer, io.Writer) error
		args []string
		want []string
	}{
		{"generate NaN temperature", runGenerate, append(m, "--temperature", "NaN"), []string{"--temperature", "finite"}},
		{"generate Inf temperature", runGenerate, append(m, "--temperature", "+Inf"), []string{"--temperature", "finite"}},
		{"generate tiny temperature", runGenerate, append(m, "--temperature", "1e-30"), []string{"--temperature", "out of range"}},
		{"generate NaN top-p", runGenerate, append(m, "--top-p", "NaN"), []string{"--top-p NaN"}},
		{"generate top-p 0", runGenerate, append(m, "--top-p", "0"), []string{"--top-p 0"}},
		{"generate negative top-k", runGenerate, append(m, "--top-k", "-1"), []string{"--top-k -1"}},
		{"generate 2e9 new tokens", runGenerate, append(m, "--max-new-tokens", "2000000000"), []string{"--max-new-tokens 2000000000", "out of range"}},
		{"generate 0 new tokens", runGenerate, append(m, "--max-new-tokens", "0"), []string{"--max-new-tokens 0"}},
		{"generate negative threads", runGenerate, append(m, "--threads", "-4"), []string{"--threads -4"}},
		{"generate key=value", runGenerate, append(m, "max-new-tokens=5"), []string{`unexpected argument "max-new-tokens=5"`, "--max-new-tokens=5"}},
		{"score huge threads", runScore, append(m, "--threads", "100000"), []string{"--threads 100000"}},
		{"score stray", runScore, append(m, "stray"), []string{"unexpected arguments", "stray"}},
		{"inspect huge batch", runInspect, []string{"--model", noModel, "--batch", "100000000"}, []string{"--batch 100000000", "out of range"}},
		{"inspect huge seq", runInspect, []string{"--model", noModel, "--seq", "1000000000"}, []string{"--seq 1000000000"}},
		{"eval k 0", runEval, append(e, "--k", "0"), []string{"--k 0"}},
		{"eval NaN temperature", runEval, append(e, "--temperature", "NaN"), []string{"--temperature", "finite"}},
		{"eval NaN top-p", runEval, append(e, "--top-p", "NaN"), []string{"--top-p NaN"}},
		{"eval 2e9 new tokens", runEval, append(e, "--max-new-tokens", "2000000000"), []string{"--max-new-tokens 2000000000"}},
		{"eval huge batch", runEval, append(e, "--batch", "100000000"), []string{"--batch 100000000"}},
		{"eval negative limit", runEval, append(e, "--limit", "-1"), []string{"--limit -1"}},
		{"eval prompt budget 0", runEval, append(e, "--max-prompt-tokens", "0"), []string{"--max-prompt-tokens 0"}},
		{"eval key=value", runEval, append(e, "k=4"), []string{"--k=4"}},
		{"train key=value", runTrain, []string{"--model", noModel, "optim.lr=1e-5"}, []string{`unexpected argument "optim.lr=1e-5"`, "--set optim.lr=1e-5"}},
		{"train set typo", runTrain, []string{"--set", "optim.learning_rate=1e-5"}, []string{"optim.learning_rate", "did you mean optim.lr?"}},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		err := tc.run(tc.args, &out, &errb)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), noModel) {
			t.Errorf("%s: error %q came from loading the model, not from the flag check", tc.name, err)
		}
	}
}

// nanModelDir saves a tiny random model whose final norm weight holds a
// NaN.
func nanModelDir(t *testing.T) string {
	t.Helper()
	be := cpu.New(1)
	cfg := &model.Config{Arch: "qwen3", VocabSize: 64, Hidden: 16, Intermediate: 32, Layers: 1, Heads: 2, KVHeads: 1, HeadDim: 8,
		RMSNormEps: 1e-6, RopeTheta: 10000, TieEmbeddings: true, QKNorm: true, MaxPositions: 128, BOSTokenID: -1, EOSTokenIDs: []int{63}}
	m, err := model.New(cfg, be, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	w := m.Param("model.norm.weight")
	vals := make([]float32, w.N)
	for i := range vals {
		vals[i] = 1
	}
	vals[3] = float32(math.NaN())
	be.Upload(w, vals)
	dir := filepath.Join(t.TempDir(), "nan-model")
	if err := m.Save(dir, model.SaveOptions{DType: kernels.F32}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNaNWeights: generate and score refuse a model with NaN weights,
// naming the tensor, instead of emitting token 0 or failing in the JSON
// encoder.
func TestNaNWeights(t *testing.T) {
	dir := nanModelDir(t)
	tests := []struct {
		name string
		run  func([]string, io.Writer, io.Writer) error
		args []string
	}{
		{"generate greedy", runGenerate, []string{"--ids", "1,2,3", "--max-new-tokens", "2", "--greedy"}},
		{"generate sampled", runGenerate, []string{"--ids", "1,2,3", "--max-new-tokens", "2", "--temperature", "1"}},
		{"score json", runScore, []string{"--ids", "1,2,3", "--json"}},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		err := tc.run(append([]string{"--model", dir, "--device", "cpu", "--threads", "1"}, tc.args...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "model.norm.weight") || !strings.Contains(err.Error(), "not finite") {
			t.Errorf("%s: want an error naming model.norm.weight, got %v (output %q)", tc.name, err, out.String())
		}
	}
}

// TestDropLongPrompts: eval skips, by a stated rule and with a count,
// prompts over its token budget; a multi-megabyte question is skipped by
// its length alone.
func TestDropLongPrompts(t *testing.T) {
	tokDir := cliFixture(t, "qwen3-tokenizer")
	p, err := train.NewPrompter(tokDir, train.DefaultConfig().Prompt, []int{151645})
	if err != nil {
		t.Fatal(err)
	}
	exs := []dataset.MathExample{
		{ID: "short", Question: "What is 2+2?"},
		{ID: "long", Question: strings.Repeat("What is 2+2? ", 40)},
		{ID: "huge", Question: strings.Repeat("x", 8<<20)},
	}
	var msg bytes.Buffer
	kept, longest, err := dropLongPrompts(exs, p, 64, &msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || kept[0].ID != "short" || longest < 10 || longest > 64 {
		t.Errorf("kept %v, longest %d", kept, longest)
	}
	if !strings.Contains(msg.String(), "skipped 2 of 3") || !strings.Contains(msg.String(), "--max-prompt-tokens 64") {
		t.Errorf("message %q", msg.String())
	}
	if _, _, err := dropLongPrompts(exs[1:], p, 64, io.Discard); err == nil {
		t.Error("no error when every prompt is too long")
	}
}

// TestPrintConfigExact: `train --print-config` shows the exact default
// suffix and reads back to the same config.
func TestPrintConfigExact(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runTrain([]string{"--print-config"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `suffix: "\nPlease reason step by step`) {
		t.Errorf("--print-config does not show the suffix's leading newline:\n%s", out.String())
	}
	path := filepath.Join(t.TempDir(), "printed.yaml")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := train.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Prompt.Suffix != train.DefaultConfig().Prompt.Suffix || c.Hash() != train.DefaultConfig().Hash() {
		t.Errorf("printed config reads back as suffix %q (hash %s, default %s)", c.Prompt.Suffix, c.Hash(), train.DefaultConfig().Hash())
	}
}
