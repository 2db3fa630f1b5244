package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestModelMetaWritten trains a tiny distill run with a distinctive prompt
// and checks that the final model, the checkpoint's model and nothing else
// carry sdzero.json with the run's prompt and sampling settings, that
// ApplyTo restores them into a default config, and that the final model
// has a model card naming base model, data, method, settings and evals.
func TestModelMetaWritten(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 8)
	out := filepath.Join(t.TempDir(), "run")
	cfg := tinyRunConfig(t, PhaseDistill, mdl, data, out)
	cfg.Train.Steps = 2
	cfg.Train.MaxSeqLen = 128
	cfg.Prompt.System = "Be brief."
	cfg.Prompt.Suffix = " Final answer:"
	cfg.Prompt.RevisionWrong = "No, that is wrong."
	cfg.Rollout.Temperature, cfg.Rollout.TopP, cfg.Rollout.MaxNewTokens = 0.9, 0.95, 9
	cfg.Eval.Data, cfg.Eval.Every, cfg.Eval.Limit = data, 1, 3
	res, err := Run(context.Background(), cfg, Options{Backend: testBackend(), Version: "v9.9.9-test"})
	if err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(out, finalSubdir)
	for _, dir := range []string{final, filepath.Join(res.Checkpoint, modelSubdir)} {
		m, err := ReadModelMeta(dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		wantSaved := "final"
		if dir != final {
			wantSaved = "checkpoint"
		}
		abs, _ := filepath.Abs(mdl)
		if m.Saved != wantSaved || m.Step != 2 || m.Phase != PhaseDistill || m.BaseModel != abs || m.Version != "v9.9.9-test" {
			t.Errorf("%s: saved %q step %d phase %q base %q version %q", dir, m.Saved, m.Step, m.Phase, m.BaseModel, m.Version)
		}
		p := m.Prompt
		if p.System != "Be brief." || p.Suffix != " Final answer:" || p.RevisionWrong != "No, that is wrong." || p.RevisionCorrect != RevisionCorrectText {
			t.Errorf("%s: prompt %+v", dir, p)
		}
		if m.Rollout.Temperature != 0.9 || m.Rollout.TopP != 0.95 || m.Rollout.MaxNewTokens != 9 {
			t.Errorf("%s: rollout %+v", dir, m.Rollout)
		}
		if len(m.StopIDs) == 0 || m.StopIDs[0] != 258 || m.ChatTemplate.SHA256 == "" || !strings.Contains(m.ChatTemplate.Origin, "tokenizer_config.json") {
			t.Errorf("%s: stop ids %v, template %+v", dir, m.StopIDs, m.ChatTemplate)
		}
		// The copied tokenizer files give the same template, so none is added.
		if _, err := os.Stat(filepath.Join(dir, "chat_template.jinja")); err == nil {
			t.Errorf("%s: chat_template.jinja written although tokenizer_config.json has the template", dir)
		}
		got := DefaultConfig()
		m.ApplyTo(got)
		if !reflect.DeepEqual(got.Prompt, cfg.Prompt) || got.Rollout.Temperature != 0.9 || got.Rollout.TopP != 0.95 || got.Rollout.MaxNewTokens != 9 {
			t.Errorf("ApplyTo: prompt %+v rollout %+v", got.Prompt, got.Rollout)
		}
	}
	if _, err := os.Stat(filepath.Join(res.Checkpoint, modelSubdir, ModelCardFile)); err == nil {
		t.Error("a checkpoint got a model card")
	}
	card, err := os.ReadFile(filepath.Join(final, ModelCardFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"base_model: \"model\"", "SD-Zero on-policy self-distillation", data + "` (math), 8 problems",
		"steps | 2 of 2", "v9.9.9-test", `question suffix: ` + "`\" Final answer:\"`", "system prompt: `\"Be brief.\"`",
		"distill.divergence: \"mixed\"", `stop tokens: ["<|im_end|>", "<|endoftext|>"] (ids [258 256])`, "optim.lr: 0.001", "## Evaluation during training", "| 2 | ", "sdzero eval --model " + final} {
		if !strings.Contains(string(card), w) {
			t.Errorf("model card lacks %q:\n%s", w, card)
		}
	}
}

// TestModelMetaTemplateKept checks that a model whose chat template lives
// in chat_template.jinja (which the tokenizer copy does not carry) keeps
// it in its saved directories.
func TestModelMetaTemplateKept(t *testing.T) {
	mdl := tinyModelDir(t, 2)
	const tmpl = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
	if err := os.WriteFile(filepath.Join(mdl, "chat_template.jinja"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	cfg := tinyRunConfig(t, PhaseSFT, mdl, tinyMathData(t, 6), out)
	cfg.Train.Steps = 1
	if _, err := Run(context.Background(), cfg, Options{Backend: testBackend()}); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(out, finalSubdir)
	b, err := os.ReadFile(filepath.Join(final, "chat_template.jinja"))
	if err != nil || string(b) != tmpl {
		t.Fatalf("final chat_template.jinja: %q, %v; want the source model's", b, err)
	}
	m, err := ReadModelMeta(final)
	if err != nil {
		t.Fatal(err)
	}
	if m.ChatTemplate.SHA256 != TemplateHash(tmpl) || m.Data.Kind != "math" || m.Saved != "final" || m.Method != MethodName(PhaseSFT) {
		t.Errorf("sdzero.json: %+v", m)
	}
}

// TestReadModelMetaErrors: a missing file is os.ErrNotExist (callers fall
// back on defaults), a newer format and bad JSON are errors naming the file.
func TestReadModelMetaErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadModelMeta(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing sdzero.json: %v, want ErrNotExist", err)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"format": 99, "sdzero_version": "v5"}`, "format 99"},
		{`{"format": `, "unexpected end"},
	} {
		if err := os.WriteFile(filepath.Join(dir, ModelMetaFile), []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadModelMeta(dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ModelMetaFile) {
			t.Errorf("%s: %v, want an error naming the file with %q", tc.body, err, tc.want)
		}
	}
}

func TestBaseModelName(t *testing.T) {
	for _, tc := range []struct{ dir, want string }{
		{"/hf/hub/models--Qwen--Qwen3-0.6B/snapshots/0123abcd", "Qwen/Qwen3-0.6B"},
		{"/hf/hub/models--Qwen--Qwen3-0.6B", "Qwen/Qwen3-0.6B"},
		{"/data/my-model/", "my-model"},
		{"base", "base"},
	} {
		if got := baseModelName(tc.dir); got != tc.want {
			t.Errorf("baseModelName(%q) = %q, want %q", tc.dir, got, tc.want)
		}
	}
}
