package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// awkwardStrings are values yaml.v3's own writer loses or mangles (leading
// newlines, a lone newline, a tab after a newline) and others a hand-made
// writer easily gets wrong.
var awkwardStrings = []string{
	"", "\n", "\n\n", "\nlead", "\n\nlead", "trail\n", "trail\n\n", "\n x\n", "a\n\nb",
	"\t", "\t\nx", "a\tb", " lead", "trail ", "  ", "\r\n", "a\rb",
	`"double"`, "'single'", `mixed "q" 'q'`, `back\slash`, `\n literal`, `\\`,
	"#hash", "x # not a comment", ": colon", "key: value", "- dash", "[not, a, list]", "{a: b}",
	"~", "null", "yes", "no", "true", "0x10", "1e3", "007", ".nan",
	"é ü ß 日本語", "emoji 😀", "nbsp\u00a0x", "zw\u200bsp", "nel\u0085x", "ls\u2028ps\u2029", "\ufeffbom",
	"nul\x00byte", "del\x7f", "bell\a", "<|im_end|>", "{question}\n\n{solution}",
	"\nPlease reason step by step, and put your final answer within \\boxed{}.",
}

// stringKnobs returns the dotted keys and values of every string knob of c.
func stringKnobs(v reflect.Value, key string, out map[string]reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		name := yamlName(v.Type().Field(i))
		if name == "" {
			continue
		}
		switch f := v.Field(i); f.Kind() {
		case reflect.Struct:
			stringKnobs(f, joinKey(key, name), out)
		case reflect.String:
			out[joinKey(key, name)] = f
		}
	}
}

// roundTrip writes c in format ("yaml" or "toml"), loads the file and
// returns the loaded config.
func roundTrip(t *testing.T, c *Config, format string) *Config {
	t.Helper()
	var b []byte
	var err error
	if format == "toml" {
		b, err = c.TOML()
	} else {
		b, err = c.YAML()
	}
	if err != nil {
		t.Fatalf("%s: write: %v", format, err)
	}
	path := filepath.Join(t.TempDir(), "run."+format)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("%s: load: %v\n%s", format, err, b)
	}
	return back
}

func TestConfigRoundTripDefaults(t *testing.T) {
	for _, format := range []string{"yaml", "toml"} {
		c := DefaultConfig()
		back := roundTrip(t, c, format)
		if k := firstDifference(reflect.ValueOf(c).Elem(), reflect.ValueOf(back).Elem(), ""); k != "" {
			t.Errorf("%s: default %s does not survive save/load", format, k)
		}
		if back.Prompt.Suffix != DefaultConfig().Prompt.Suffix {
			t.Errorf("%s: suffix %q, want %q", format, back.Prompt.Suffix, DefaultConfig().Prompt.Suffix)
		}
		if back.Hash() != c.Hash() {
			t.Errorf("%s: hash changed by save/load", format)
		}
	}
}

func TestConfigRoundTripStrings(t *testing.T) {
	keys := map[string]reflect.Value{}
	stringKnobs(reflect.ValueOf(DefaultConfig()).Elem(), "", keys)
	if len(keys) < 20 {
		t.Fatalf("found %d string knobs; the walk is broken", len(keys))
	}
	for _, format := range []string{"yaml", "toml"} {
		for _, s := range awkwardStrings {
			// Every string knob holds s at once, and the stop-token list
			// holds it twice.
			c := DefaultConfig()
			knobs := map[string]reflect.Value{}
			stringKnobs(reflect.ValueOf(c).Elem(), "", knobs)
			for _, v := range knobs {
				v.SetString(s)
			}
			c.Prompt.StopTokens = []string{s, s}
			back := roundTrip(t, c, format)
			if k := firstDifference(reflect.ValueOf(c).Elem(), reflect.ValueOf(back).Elem(), ""); k != "" {
				t.Errorf("%s: %q does not survive save/load (first at %s)", format, s, k)
			}
			if c.Hash() != back.Hash() {
				t.Errorf("%s: %q: hash changed by save/load", format, s)
			}
		}
	}
}

func TestConfigRoundTripNumbers(t *testing.T) {
	tests := []struct {
		name string
		set  func(c *Config)
	}{
		{"smallest float", func(c *Config) { c.Optim.LR = 5e-324 }},
		{"largest float", func(c *Config) { c.Optim.LR = math.MaxFloat64 }},
		{"tenth", func(c *Config) { c.Optim.LR, c.Rollout.TopP = 0.1, 0.3 }},
		{"17 digits", func(c *Config) { c.Optim.LR = 1.2345678901234567e-5 }},
		{"whole float", func(c *Config) { c.Distill.Temperature = 2 }},
		{"big whole float", func(c *Config) { c.Distill.Temperature = 1e22 }},
		{"negative", func(c *Config) { c.Optim.WarmupSteps = -1; c.Verify.TestTimeoutS = -2.5 }},
		{"int extremes", func(c *Config) { c.Train.Steps, c.Train.Epochs = math.MaxInt64, math.MinInt64 }},
		{"seed max", func(c *Config) { c.Seed = math.MaxUint64 }},
		{"seed above int64", func(c *Config) { c.Seed = 1<<63 + 12345 }},
		{"bools", func(c *Config) { c.Train.Recompute, c.Collect.StripOpenings = true, false }},
		{"empty list", func(c *Config) { c.Prompt.StopTokens = nil }},
	}
	for _, format := range []string{"yaml", "toml"} {
		for _, tc := range tests {
			c := DefaultConfig()
			tc.set(c)
			back := roundTrip(t, c, format)
			if k := firstDifference(reflect.ValueOf(c).Elem(), reflect.ValueOf(back).Elem(), ""); k != "" {
				t.Errorf("%s: %s: %s does not survive save/load", format, tc.name, k)
			}
		}
	}
}

// TestConfigTOMLRefusesUnwritable: values the TOML reader would refuse are
// errors at writing time, naming the key.
func TestConfigTOMLRefusesUnwritable(t *testing.T) {
	tests := []struct {
		set  func(c *Config)
		want string
	}{
		{func(c *Config) { c.Optim.LR = math.NaN() }, "optim.lr"},
		{func(c *Config) { c.Rollout.Temperature = math.Inf(1) }, "rollout.temperature"},
		{func(c *Config) { c.Prompt.System = "\xff" }, "prompt.system"},
		{func(c *Config) { c.Prompt.StopTokens = []string{"a", "\xfe"} }, "prompt.stop_tokens[1]"},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		tc.set(c)
		if _, err := c.TOML(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %s, got %v", tc.want, err)
		}
	}
	// YAML keeps them (yaml.v3 writes .nan and !!binary exactly).
	c := DefaultConfig()
	c.Optim.LR, c.Prompt.System = math.NaN(), "\xff\x00"
	back := roundTrip(t, c, "yaml")
	if !math.IsNaN(back.Optim.LR) || back.Prompt.System != "\xff\x00" {
		t.Errorf("yaml: lr %g system %q", back.Optim.LR, back.Prompt.System)
	}
}

// TestConfigSetExactStrings: --set keeps a string knob's text, and the
// YAML escapes it accepts give the characters.
func TestConfigSetExactStrings(t *testing.T) {
	tests := []struct{ kv, want string }{
		{`prompt.suffix="\nThink."`, "\nThink."},
		{`prompt.suffix=\nThink.`, `\nThink.`},
		{"prompt.system=123", "123"},
		{"prompt.system=1e3", "1e3"},
		{"prompt.system=true", "true"},
		{"prompt.system=", ""},
		{"prompt.system='a: b'", "a: b"},
		{"prompt.system=x=y", "x=y"},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		if err := c.Set(tc.kv); err != nil {
			t.Errorf("%s: %v", tc.kv, err)
			continue
		}
		got := c.Prompt.System
		if strings.HasPrefix(tc.kv, "prompt.suffix") {
			got = c.Prompt.Suffix
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.kv, got, tc.want)
		}
	}
}

// TestResumeDefaultPrompt: a run with the default prompt settings (the
// suffix starts with a newline) resumes; before configs round-tripped
// exactly, its saved config.yaml lost the newline and --resume reported a
// changed config hash.
func TestResumeDefaultPrompt(t *testing.T) {
	mdl := tinyModelDir(t, 5)
	data := tinyMathData(t, 5)
	dir := filepath.Join(t.TempDir(), "run")
	c := tinyRunConfig(t, PhaseSFT, mdl, data, dir)
	c.Prompt = DefaultConfig().Prompt
	c.Train.MaxSeqLen = 160 // room for the 74-byte suffix
	c.Train.CheckpointEvery = 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Run(ctx, c, Options{Backend: testBackend(), OnStep: func(step int, _ Metrics) {
		if step == 2 {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted {
		t.Fatalf("run was not interrupted (steps %d)", res.Steps)
	}
	saved, err := LoadConfig(filepath.Join(dir, configFile))
	if err != nil {
		t.Fatal(err)
	}
	if saved.Prompt.Suffix != DefaultConfig().Prompt.Suffix {
		t.Fatalf("saved suffix %q, want %q", saved.Prompt.Suffix, DefaultConfig().Prompt.Suffix)
	}
	res, err = Resume(context.Background(), dir, Options{Backend: testBackend()})
	if err != nil {
		t.Fatalf("resume with the default prompt: %v", err)
	}
	if res.Interrupted || res.Steps != c.Train.Steps {
		t.Errorf("resumed run: interrupted %v, %d steps, want %d", res.Interrupted, res.Steps, c.Train.Steps)
	}
}

// ExampleConfig_YAML shows how the default suffix is written.
func ExampleConfig_YAML() {
	b, _ := DefaultConfig().YAML()
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "suffix:") {
			fmt.Println(strings.TrimSpace(line))
		}
	}
	// Output: suffix: "\nPlease reason step by step, and put your final answer within \\boxed{}."
}

// TestConfigYAMLUnchangedWithoutLossyStrings: a config whose strings
// yaml.v3 writes exactly is written byte for byte as yaml.Marshal writes
// it, so the hashes in existing checkpoints of such runs still match.
func TestConfigYAMLUnchangedWithoutLossyStrings(t *testing.T) {
	c := DefaultConfig()
	c.Prompt.Suffix = " Put the answer in \\boxed{}."
	c.Prompt.System = "You are 'helpful': answer #1"
	c.Model, c.Out, c.Data.Train = "/models/qwen3", "/runs/a", "/data/train.jsonl"
	got, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	want, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("YAML differs from yaml.Marshal:\n%s\nwant\n%s", got, want)
	}
}
