package train

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestConfigFileErrors: errors in run files name the file type, the line
// and the dotted key, suggest the closest key, and never speak Go.
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, file, src string
		want            []string
	}{
		{"yaml unknown key", "a.yaml", "optim:\n  learning_rate: 1e-5\n",
			[]string{"YAML config", "a.yaml", "line 2", "optim.learning_rate", "unknown key", "did you mean optim.lr?"}},
		{"toml unknown key", "a.toml", "[optim]\nlearning_rate = 1e-5\n",
			[]string{"TOML config", "a.toml", "line 2", "optim.learning_rate", "did you mean optim.lr?"}},
		{"typo", "a.yaml", "rollout:\n  temprature: 1\n", []string{"rollout.temprature", "did you mean rollout.temperature?"}},
		{"wrong section", "a.yaml", "train:\n  lr: 1e-5\n", []string{"train.lr", "did you mean optim.lr?"}},
		{"top-level knob", "a.toml", "phase = \"sft\"\nmax_seq_len = 512\n", []string{"TOML", "line 2", "max_seq_len", "did you mean train.max_seq_len?"}},
		{"section synonym", "a.yaml", "optimizer:\n  lr: 1\n", []string{"optimizer", "did you mean optim?"}},
		{"trl name", "a.yaml", "grpo:\n  num_generations: 8\n", []string{"grpo.num_generations", "did you mean grpo.group_size?"}},
		{"no near key", "a.yaml", "zzzzzzzz: 1\n", []string{"zzzzzzzz", "unknown key"}},
		{"string for int", "a.yaml", "train:\n  batch_size: lots\n", []string{"line 2", "train.batch_size", `want an integer, got the string "lots"`}},
		{"fraction for int", "a.yaml", "train:\n  batch_size: 1.5\n", []string{"train.batch_size", "want an integer, got 1.5"}},
		{"1e30 for int (yaml)", "a.yaml", "train:\n  max_seq_len: 1e30\n", []string{"train.max_seq_len", "1e30 is out of range for an integer"}},
		{"1e30 for int (toml)", "a.toml", "[train]\nsteps = 1e30\n", []string{"TOML", "line 2", "train.steps", "out of range for an integer"}},
		{"huge int literal", "a.yaml", "train:\n  steps: 100000000000000000000000000000\n", []string{"train.steps", "out of range for an integer"}},
		{"huge toml int", "a.toml", "[train]\nsteps = 100000000000000000000000000000\n", []string{"TOML", "line 2", "out of range"}},
		{"float overflow", "a.yaml", "optim:\n  lr: 1e400\n", []string{"optim.lr", "out of range"}},
		{"negative seed", "a.yaml", "seed: -1\n", []string{"seed", "must be >= 0"}},
		{"bool", "a.yaml", "train:\n  recompute: maybe\n", []string{"train.recompute", "want true or false"}},
		{"list for string", "a.yaml", "prompt:\n  suffix: [a]\n", []string{"prompt.suffix", "want a string, got a list"}},
		{"scalar for list", "a.yaml", "prompt:\n  stop_tokens: 5\n", []string{"prompt.stop_tokens", "want a list of strings"}},
		{"scalar for section", "a.toml", "optim = 3\n", []string{"TOML", "optim", "want a table of keys"}},
		{"empty number", "a.yaml", "optim:\n  lr:\n", []string{"optim.lr", "empty value"}},
		{"two documents", "a.yaml", "phase: sft\n---\nphase: grpo\n", []string{"more than one YAML document"}},
		{"yaml syntax", "a.yaml", "optim:\n lr: 1\n  x: [\n", []string{"YAML config", "a.yaml"}},
		{"toml syntax", "a.toml", "[optim\n", []string{"TOML config", "line 1"}},
	}
	for _, tc := range tests {
		path := filepath.Join(t.TempDir(), tc.file)
		if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(path)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
		for _, goWords := range []string{"train.OptimConfig", "unmarshal", "float64", "int64", "!!"} {
			if strings.Contains(err.Error(), goWords) {
				t.Errorf("%s: error %q speaks Go/YAML internals (%q)", tc.name, err, goWords)
			}
		}
	}
}

// TestConfigFileValues: what the strict decoder accepts.
func TestConfigFileValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.yaml")
	src := "seed: 18446744073709551615\ntrain:\n  steps: 1e3\n  batch_size: 0x10\n  micro_batch: 1_000\noptim:\n  lr: 3\nprompt:\n  system: 123\n  suffix:\n  stop_tokens: []\neval:\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if c.Seed != math.MaxUint64 || c.Train.Steps != 1000 || c.Train.BatchSize != 16 || c.Train.MicroBatch != 1000 || c.Optim.LR != 3 ||
		c.Prompt.System != "123" || c.Prompt.Suffix != "" || len(c.Prompt.StopTokens) != 0 || c.Eval != d.Eval {
		t.Errorf("decoded %+v %+v %+v", c.Train, c.Optim, c.Prompt)
	}
}

// TestConfigSetErrors: --set errors name the key and suggest the closest.
func TestConfigSetErrors(t *testing.T) {
	tests := []struct {
		kv   string
		want []string
	}{
		{"optim.learning_rate=1e-5", []string{"--set optim.learning_rate=1e-5", "optim.learning_rate: unknown key (did you mean optim.lr?)"}},
		{"rollout.max_tokens=64", []string{"did you mean rollout.max_new_tokens?"}},
		{"data.skipmalformed=true", []string{"did you mean data.skip_malformed?"}},
		{"train.max_seq_len=1e9x", []string{"train.max_seq_len", "want an integer"}},
		{"train.max_seq_len=1e30", []string{"train.max_seq_len", "out of range"}},
		{"optim.lr=", []string{"optim.lr", "empty value"}},
		{"optim.lr=abc", []string{"optim.lr", "want a number"}},
		{"nokey", []string{"want key=value"}},
		{"optim=1", []string{"optim", "want a table"}},
	}
	for _, tc := range tests {
		err := DefaultConfig().Set(tc.kv)
		if err == nil {
			t.Errorf("%s: no error", tc.kv)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.kv, err, w)
			}
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"lr", "lrr", 1}, {"kitten", "sitting", 3}, {"temprature", "temperature", 1}, {"abc", "", 3}}
	for _, tc := range tests {
		if d := editDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}

// TestDecodeYAMLNode: a section of another document decodes with the run
// file's rules and exact strings.
func TestDecodeYAMLNode(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("phases:\n  a:\n    prompt:\n      suffix: \"\\nX\"\n  b:\n    optim:\n      learnin_rate: 1\n"), &doc); err != nil {
		t.Fatal(err)
	}
	phases := doc.Content[0].Content[1]
	c := DefaultConfig()
	if err := c.DecodeYAMLNode(phases.Content[1]); err != nil || c.Prompt.Suffix != "\nX" {
		t.Errorf("suffix %q, err %v", c.Prompt.Suffix, err)
	}
	err := c.DecodeYAMLNode(phases.Content[3])
	if err == nil || !strings.Contains(err.Error(), "line 7: optim.learnin_rate: unknown key") {
		t.Errorf("got %v", err)
	}
}
