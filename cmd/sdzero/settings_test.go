package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// evalJSON is the part of `eval --json` these tests read.
type evalJSON struct {
	N        int     `json:"n"`
	K        int     `json:"k"`
	AvgAtK   float64 `json:"avg_at_k"`
	Settings struct {
		Model          string   `json:"model"`
		Source         string   `json:"source"`
		Overrides      []string `json:"overrides"`
		Data           string   `json:"data"`
		DataKind       string   `json:"data_kind"`
		Problems       int      `json:"problems"`
		DataOptions    []string `json:"data_options"`
		System         string   `json:"system"`
		Suffix         string   `json:"suffix"`
		Template       string   `json:"template"`
		TemplateSHA256 string   `json:"template_sha256"`
		StopIDs        []int32  `json:"stop_ids"`
		RevisionWrong  string   `json:"revision_wrong"`
		K              int      `json:"k"`
		Temperature    float64  `json:"temperature"`
		TopP           float64  `json:"top_p"`
		MaxNewTokens   int      `json:"max_new_tokens"`
		Warnings       []string `json:"warnings"`
	} `json:"settings"`
}

func parseEvalJSON(t *testing.T, out string) evalJSON {
	t.Helper()
	var r evalJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("eval --json %q: %v", out, err)
	}
	return r
}

// trainWithPrompt trains a tiny sft model for 2 steps with a distinctive
// prompt and sampling setup and returns the run directory.
func trainWithPrompt(t *testing.T, data string) string {
	t.Helper()
	mdl := cliModelDir(t, 1)
	y := `phase: sft
model: ` + mdl + `
seed: 5
device: cpu
threads: 2
data: {train: ` + data + `}
prompt: {suffix: " Answer:", system: "Be brief.", revision_wrong: "No."}
optim: {lr: 1.0e-3, warmup_steps: 1}
train: {steps: 2, batch_size: 3, micro_batch: 2, max_seq_len: 128, checkpoint_every: 0, log_every: 1}
rollout: {max_new_tokens: 5, temperature: 0.9, top_p: 0.95, gen_batch: 4}
`
	cfg := filepath.Join(t.TempDir(), "sft.yaml")
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(t.TempDir(), "run")
	mustCall(t, runTrain, "--config", cfg, "--out", run)
	return run
}

// TestEvalUsesTrainingPrompt: a trained model evaluated without --config
// is scored with its training prompt and sampling (from final/sdzero.json):
// the same samples as with the run's config, other samples with the
// default suffix; the report and its JSON say which settings were used;
// flags and --config win over sdzero.json.
func TestEvalUsesTrainingPrompt(t *testing.T) {
	data := cliMathData(t, 6)
	run := trainWithPrompt(t, data)
	final := filepath.Join(run, "final")
	for _, f := range []string{"sdzero.json", "README.md"} {
		if _, err := os.Stat(filepath.Join(final, f)); err != nil {
			t.Fatalf("trainer did not write %s: %v", f, err)
		}
	}
	dir := t.TempDir()
	common := []string{"--model", final, "--data", data, "--k", "2", "--limit", "3", "--batch", "8", "--seed", "4", "--device", "cpu", "--threads", "2"}
	evalTo := func(name string, extra ...string) (evalJSON, string) {
		samples := filepath.Join(dir, name+".jsonl")
		out := mustCall(t, runEval, append(append(append([]string{}, common...), "--json", "--out", samples), extra...)...)
		b, err := os.ReadFile(samples)
		if err != nil {
			t.Fatal(err)
		}
		return parseEvalJSON(t, out), string(b)
	}

	rep, samples := evalTo("meta")
	s := rep.Settings
	if s.Suffix != " Answer:" || s.System != "Be brief." || s.RevisionWrong != "No." {
		t.Errorf("eval without --config: suffix %q system %q P_r wrong %q, want the training prompt", s.Suffix, s.System, s.RevisionWrong)
	}
	if !strings.Contains(s.Source, filepath.Join(final, "sdzero.json")) || !strings.Contains(s.Source, "sft run, step 2") {
		t.Errorf("settings source %q, want the model's sdzero.json", s.Source)
	}
	if s.Temperature != 0.9 || s.TopP != 0.95 || s.MaxNewTokens != 5 || s.K != 2 || s.Model != final || s.Data != data || s.DataKind != "math" || s.Problems != 3 {
		t.Errorf("settings %+v: want the training rollout's sampling (0.9, 0.95, 5), k 2, the model, data and 3 problems", s)
	}
	if !strings.Contains(s.Template, "tokenizer_config.json") || len(s.TemplateSHA256) != 64 || len(s.StopIDs) == 0 || len(s.Warnings) != 0 {
		t.Errorf("settings template %q %q stop ids %v warnings %v", s.Template, s.TemplateSHA256, s.StopIDs, s.Warnings)
	}
	for _, line := range strings.Split(strings.TrimSpace(samples), "\n") {
		var smp struct {
			Tokens int `json:"tokens"`
		}
		if err := json.Unmarshal([]byte(line), &smp); err != nil || smp.Tokens < 1 || smp.Tokens > 5 {
			t.Errorf("sample %s: tokens %d, want 1..5 (rollout.max_new_tokens of the run)", line, smp.Tokens)
		}
	}

	// The run's own config gives byte-identical samples (same prompt, same
	// sampling); the default suffix gives other prompts and other samples.
	repCfg, samplesCfg := evalTo("config", "--config", filepath.Join(run, "config.yaml"))
	if samplesCfg != samples {
		t.Errorf("eval via sdzero.json and via the run's config.yaml differ:\n%s\n---\n%s", samples, samplesCfg)
	}
	if !strings.HasPrefix(repCfg.Settings.Source, "--config ") || len(repCfg.Settings.Warnings) != 0 {
		t.Errorf("--config source %q warnings %v", repCfg.Settings.Source, repCfg.Settings.Warnings)
	}
	def := "\nPlease reason step by step, and put your final answer within \\boxed{}."
	repDef, samplesDef := evalTo("suffix", "--suffix", def, "--temperature", "0.9", "--top-p", "0.95")
	if repDef.Settings.Suffix != def || samplesDef == samples {
		t.Errorf("--suffix did not win over sdzero.json: suffix %q, samples unchanged %v", repDef.Settings.Suffix, samplesDef == samples)
	}
	if !strings.Contains(strings.Join(repDef.Settings.Overrides, " "), "--suffix=") {
		t.Errorf("overrides %v do not name --suffix", repDef.Settings.Overrides)
	}

	// A --config whose prompt differs from the training one wins, with a warning.
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, []byte("prompt: {suffix: \" Go:\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repOther, _ := evalTo("other", "--config", other)
	if repOther.Settings.Suffix != " Go:" || len(repOther.Settings.Warnings) == 0 || !strings.Contains(repOther.Settings.Warnings[0], `" Answer:"`) {
		t.Errorf("--config with another suffix: suffix %q warnings %v", repOther.Settings.Suffix, repOther.Settings.Warnings)
	}

	// The text report starts with the settings.
	out := mustCall(t, runEval, common...)
	for _, w := range []string{"model       " + final, "settings    " + filepath.Join(final, "sdzero.json"), `prompt      suffix " Answer:", system "Be brief."`,
		"sampling    n samples 2, temperature 0.9, top_p 0.95, max_new_tokens 5, seed 4", "data        " + data + " (math, 3 problems; data.limit=3)"} {
		if !strings.Contains(out, w) {
			t.Errorf("eval report lacks %q:\n%s", w, out)
		}
	}

	// A model without sdzero.json uses the defaults and says so.
	bare := cliModelDir(t, 2)
	out = mustCall(t, runEval, "--model", bare, "--data", data, "--k", "1", "--limit", "1", "--max-new-tokens", "2", "--device", "cpu", "--threads", "2")
	if !strings.Contains(out, "settings    built-in defaults") || !strings.Contains(out, "temperature 0.7") {
		t.Errorf("eval of a model without sdzero.json:\n%s", out)
	}
}

// TestEvalDataOptions: eval reads problem files as train does: data.*
// options from --config or --set, or the equivalent flags; without them
// the same file is an error naming the row and the key to set.
func TestEvalDataOptions(t *testing.T) {
	mdl := cliModelDir(t, 1)
	dir := t.TempDir()
	data := filepath.Join(dir, "custom.jsonl")
	rows := `{"q": "1+2=?", "gold": "3"}
{"q": "2+2=?", "gold": "4"}
not json
{"q": "3+2=?", "gold": "5"}
`
	if err := os.WriteFile(data, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(cfg, []byte("data: {question_field: q, answer_field: gold, skip_malformed: true}\nprompt: {suffix: \"\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--model", mdl, "--data", data, "--k", "1", "--max-new-tokens", "2", "--batch", "4", "--device", "cpu", "--threads", "2", "--json"}

	_, _, err := call(runEval, common...)
	if err == nil || !strings.Contains(err.Error(), data+":1") {
		t.Fatalf("eval without the field options: %v, want an error naming %s:1", err, data)
	}
	cases := []struct {
		name string
		args []string
		opts string
	}{
		{"config", []string{"--config", cfg}, "data.answer_field=gold data.question_field=q data.skip_malformed=true"},
		{"flags", []string{"--question-field", "q", "--answer-field", "gold", "--skip-malformed"}, "data.answer_field=gold data.question_field=q data.skip_malformed=true"},
		{"set", []string{"--set", "data.question_field=q", "--set", "data.answer_field=gold", "--set", "data.skip_malformed=true"}, "data.answer_field=gold data.question_field=q data.skip_malformed=true"},
		{"flag-over-config", []string{"--config", cfg, "--limit", "2"}, "data.answer_field=gold data.limit=2 data.question_field=q data.skip_malformed=true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			samples := filepath.Join(t.TempDir(), "s.jsonl")
			out, errs, err := call(runEval, append(append(append([]string{}, common...), "--out", samples), tc.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errs)
			}
			rep := parseEvalJSON(t, out)
			want := 3
			if tc.name == "flag-over-config" {
				want = 2
			}
			if rep.N != want || rep.Settings.Problems != want || strings.Join(rep.Settings.DataOptions, " ") != tc.opts {
				t.Errorf("n %d problems %d data options %v, want %d and %q", rep.N, rep.Settings.Problems, rep.Settings.DataOptions, want, tc.opts)
			}
			if !strings.Contains(errs, "1 skipped") || !strings.Contains(errs, data+":3") {
				t.Errorf("stderr %q does not report the skipped row %s:3", errs, data)
			}
			got := readJSONL(t, samples)
			for i, s := range got {
				if q, _ := s["question"].(string); !strings.HasSuffix(q, "+2=?") {
					t.Errorf("sample %d question %q, want the q field", i, q)
				}
				if a, _ := s["answer"].(string); a == "" {
					t.Errorf("sample %d has no answer (gold field)", i)
				}
			}
		})
	}
	if _, _, err := call(runEval, append(append([]string{}, common...), "--kind", "prose")...); err == nil || !strings.Contains(err.Error(), `--kind "prose"`) {
		t.Errorf("--kind prose: %v", err)
	}
}

// TestEvalCode: eval reads code datasets as train does (data.kind code,
// here by --kind) and scores them with the code verifier in the sandbox
// (verify.* settings, the sandbox plan on stderr).
func TestEvalCode(t *testing.T) {
	mdl := cliModelDir(t, 1)
	data := filepath.Join(t.TempDir(), "code.jsonl")
	rows := `{"task_id": "echo", "prompt": "Print the input.", "tests": [{"input": "1\n", "output": "1\n"}]}
{"task_id": "apps-1", "question": "Print 2.", "input_output": {"inputs": [""], "outputs": ["2\n"]}}
`
	if err := os.WriteFile(data, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(t.TempDir(), "s.jsonl")
	out, errs, err := call(runEval, "--model", mdl, "--data", data, "--kind", "code", "--set", "verify.allow_unisolated_code=true",
		"--k", "1", "--max-new-tokens", "3", "--device", "cpu", "--threads", "2", "--json", "--out", samples)
	if err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	rep := parseEvalJSON(t, out)
	if rep.N != 2 || rep.Settings.DataKind != "code" {
		t.Errorf("n %d kind %q, want 2 code problems", rep.N, rep.Settings.DataKind)
	}
	if !strings.Contains(errs, "code sandbox:") {
		t.Errorf("stderr lacks the sandbox plan:\n%s", errs)
	}
	for i, s := range readJSONL(t, samples) {
		// A 3-token response of a random model has no program: the code
		// verifier's verdict, not the math verifier's.
		if r, _ := s["reason"].(string); r != "no fenced code block in the response" {
			t.Errorf("sample %d reason %q, want the code verifier's", i, r)
		}
		if id, _ := s["id"].(string); id != []string{"echo", "apps-1"}[i] {
			t.Errorf("sample %d id %q", i, id)
		}
	}
	// The math reading of the same file fails: no answer field.
	evalArgs := []string{"--model", mdl, "--data", data, "--k", "1", "--max-new-tokens", "3", "--device", "cpu", "--threads", "2",
		"--set", "verify.allow_unisolated_code=true", "--json"}
	if _, _, err := call(runEval, evalArgs...); err == nil {
		t.Error("a code file read as math was accepted")
	}
	// A model trained on code says so in its sdzero.json: no --kind needed.
	meta := `{"format": 1, "saved": "final", "phase": "grpo", "prompt": {"suffix": " Code:"}, "data": {"kind": "code"}}`
	if err := os.WriteFile(filepath.Join(mdl, "sdzero.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, err = call(runEval, evalArgs...)
	if err != nil {
		t.Fatalf("eval of a code model without --kind: %v\n%s", err, errs)
	}
	if rep := parseEvalJSON(t, out); rep.N != 2 || rep.Settings.DataKind != "code" || rep.Settings.Suffix != " Code:" {
		t.Errorf("code model via sdzero.json: n %d kind %q suffix %q", rep.N, rep.Settings.DataKind, rep.Settings.Suffix)
	}
}

// TestModelCommandsUseTrainingPrompt: generate --chat, readiness, explain
// and score of a trained model use (or, for score, name) the training
// prompt from sdzero.json and record their settings in their JSON.
func TestModelCommandsUseTrainingPrompt(t *testing.T) {
	data := cliMathData(t, 6)
	run := trainWithPrompt(t, data)
	final := filepath.Join(run, "final")
	dev := []string{"--device", "cpu", "--threads", "2"}

	t.Run("generate", func(t *testing.T) {
		gen := func(args ...string) (map[string]any, string) {
			out, errs, err := call(runGenerate, append(append([]string{"--model", final, "--chat", "--prompt", "1+2=?", "--seed", "3", "--json"}, dev...), args...)...)
			if err != nil {
				t.Fatalf("generate %q: %v\n%s", args, err, errs)
			}
			var r map[string]any
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			ids, _ := json.Marshal(r["ids"])
			return r, string(ids)
		}
		r, ids := gen()
		s, _ := r["settings"].(map[string]any)
		if s["suffix"] != " Answer:" || s["system"] != "Be brief." || s["temperature"] != 0.9 || s["top_p"] != 0.95 || s["max_new_tokens"] != 5.0 {
			t.Errorf("generate --chat settings %v, want the training prompt and sampling", s)
		}
		if text, _ := r["text"].(string); len(text) == 0 {
			t.Error("no text generated")
		}
		_, explicit := gen("--system", "Be brief.", "--suffix", " Answer:", "--thinking", "false", "--temperature", "0.9", "--top-p", "0.95",
			"--top-k", "0", "--max-new-tokens", "5", "--stop-ids", "258,256")
		if explicit != ids {
			t.Errorf("generate with sdzero.json %s != with the same settings as flags %s", ids, explicit)
		}
		if _, other := gen("--suffix", ""); other == ids {
			t.Error("--suffix \"\" did not change the prompt")
		}
		// Without --chat the prompt is raw text, as before.
		out := mustCall(t, runGenerate, append([]string{"--model", final, "--prompt", "1+2", "--max-new-tokens", "2", "--json"}, dev...)...)
		var raw struct {
			IDs      []int32 `json:"ids"`
			Settings struct {
				Source string `json:"source"`
				Suffix string `json:"suffix"`
			} `json:"settings"`
		}
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw.IDs) != 3+2 || raw.Settings.Suffix != "" || !strings.HasPrefix(raw.Settings.Source, "raw prompt") {
			t.Errorf("raw generate: ids %v settings %+v", raw.IDs, raw.Settings)
		}
		if _, _, err := call(runGenerate, append([]string{"--model", final, "--prompt", "x", "--suffix", "y"}, dev...)...); err == nil || !strings.Contains(err.Error(), "--suffix needs --chat") {
			t.Errorf("--suffix without --chat: %v", err)
		}
	})

	t.Run("readiness", func(t *testing.T) {
		// No --data and no --config: the training data and prompt.
		out := mustCall(t, runReadiness, append([]string{"--model", final, "--problems", "2", "--samples", "2", "--kl-attempts", "0", "--json"}, dev...)...)
		r := parseEvalJSON(t, out)
		abs, _ := filepath.Abs(data)
		if r.Settings.Suffix != " Answer:" || r.Settings.Data != abs || r.Settings.Problems != 2 || r.Settings.Temperature != 0.9 || r.Settings.K != 2 {
			t.Errorf("readiness settings %+v", r.Settings)
		}
		var rep map[string]any
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep["gates"] == nil {
			t.Errorf("readiness JSON lost its own members: %v %v", err, rep)
		}
		text := mustCall(t, runReadiness, append([]string{"--model", final, "--problems", "2", "--samples", "2", "--kl-attempts", "0"}, dev...)...)
		if !strings.HasPrefix(text, "model       "+final) || !strings.Contains(text, `suffix " Answer:"`) {
			t.Errorf("readiness report does not start with its settings:\n%s", text)
		}
	})

	t.Run("explain", func(t *testing.T) {
		dir := t.TempDir()
		out := mustCall(t, runExplain, append([]string{"--student", final, "--prompt", "1+2=?", "--reward", "correct", "--out", dir}, dev...)...)
		if !strings.Contains(out, `suffix " Answer:", system "Be brief."`) {
			t.Errorf("explain output lacks the settings:\n%s", out)
		}
		b, err := os.ReadFile(filepath.Join(dir, "explain.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Prompt   string `json:"prompt"`
			Settings struct {
				Suffix string `json:"suffix"`
				Source string `json:"source"`
			} `json:"settings"`
			Tokens []any `json:"tokens"`
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rep.Prompt, "1+2=? Answer:") || !strings.Contains(rep.Prompt, "Be brief.") || rep.Settings.Suffix != " Answer:" || len(rep.Tokens) == 0 {
			t.Errorf("explain.json prompt %q settings %+v tokens %d", rep.Prompt, rep.Settings, len(rep.Tokens))
		}
	})

	t.Run("score", func(t *testing.T) {
		out := mustCall(t, runScore, append([]string{"--model", final, "--prompt", "1+2=3", "--json"}, dev...)...)
		var r struct {
			LP       []float64 `json:"token_logprobs"`
			Settings struct {
				Source string `json:"source"`
				Suffix string `json:"suffix"`
			} `json:"settings"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.LP) != 4 || !strings.Contains(r.Settings.Source, "sdzero.json") || r.Settings.Suffix != " Answer:" {
			t.Errorf("score JSON %+v", r)
		}
	})
}
