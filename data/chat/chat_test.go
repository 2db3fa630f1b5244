package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sdzero/internal/fixtures"
	"slices"
	"strings"
	"sync"
	"testing"

	"sdzero/data/tokenizer"
)

// fixtureDir returns the Qwen3 tokenizer fixture or skips the test.
func fixtureDir(t *testing.T) string {
	t.Helper()
	d := fixtures.Path(t, "qwen3-tokenizer")
	if _, err := os.Stat(filepath.Join(d, "tokenizer.json")); err != nil {
		t.Skipf("Qwen3 tokenizer fixture absent (%v): skipping", err)
	}
	return d
}

var (
	tokOnce sync.Once
	tok     *tokenizer.Tokenizer
	tokErr  error
)

func qwen3Tok(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	dir := fixtureDir(t)
	tokOnce.Do(func() { tok, tokErr = tokenizer.LoadDir(dir) })
	if tokErr != nil {
		t.Fatal(tokErr)
	}
	return tok
}

func boolPtr(b bool) *bool { return &b }

// TestRenderedByJinja compares every renderer with jinja2's rendering of
// its template (testdata/rendered.json, from testdata/gen_golden.py).
func TestRenderedByJinja(t *testing.T) {
	data, err := os.ReadFile("testdata/rendered.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Template            string    `json:"template"`
		Case                string    `json:"case"`
		Messages            []Message `json:"messages"`
		AddGenerationPrompt bool      `json:"add_generation_prompt"`
		EnableThinking      *bool     `json:"enable_thinking"`
		Text                string    `json:"text"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, c := range cases {
		tm, err := Named(c.Template, "<|begin_of_text|>")
		if err != nil {
			t.Fatal(err)
		}
		got, err := tm.Render(c.Messages, Options{AddGenerationPrompt: c.AddGenerationPrompt, EnableThinking: c.EnableThinking})
		if err != nil {
			t.Errorf("%s/%s: %v", c.Template, c.Case, err)
			continue
		}
		if got != c.Text {
			t.Errorf("%s/%s gen=%v thinking=%v:\n got %q\nwant %q", c.Template, c.Case, c.AddGenerationPrompt, c.EnableThinking, got, c.Text)
		}
		seen[c.Template]++
	}
	for _, n := range Names() {
		if seen[n] < 20 {
			t.Errorf("template %s: only %d jinja cases", n, seen[n])
		}
	}
}

// TestQwen3Golden checks the four Hugging Face renderings of the fixture
// (text and ids) through LoadDir on the real tokenizer_config.json.
func TestQwen3Golden(t *testing.T) {
	dir := fixtureDir(t)
	tk := qwen3Tok(t)
	tm, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Name() != "qwen3" {
		t.Fatalf("LoadDir selected %q, want qwen3", tm.Name())
	}
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		ChatTemplate map[string]struct {
			Messages []Message `json:"messages"`
			Text     string    `json:"text"`
			IDs      []int32   `json:"ids"`
		} `json:"chat_template"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.ChatTemplate) != 4 {
		t.Fatalf("want 4 golden renderings, got %d", len(g.ChatTemplate))
	}
	for name, c := range g.ChatTemplate {
		opt := Options{AddGenerationPrompt: true, EnableThinking: boolPtr(strings.HasSuffix(name, "True"))}
		text, err := tm.Render(c.Messages, opt)
		if err != nil {
			t.Fatal(err)
		}
		if text != c.Text {
			t.Errorf("%s: text\n got %q\nwant %q", name, text, c.Text)
		}
		ids, err := tm.RenderIDs(tk, c.Messages, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, c.IDs) {
			t.Errorf("%s: ids\n got %v\nwant %v", name, ids, c.IDs)
		}
		if strings.HasSuffix(name, "True") {
			// nil is the template default: thinking on.
			def, _ := tm.Render(c.Messages, Options{AddGenerationPrompt: true})
			if def != c.Text {
				t.Errorf("%s: EnableThinking nil rendered %q", name, def)
			}
		}
	}
}

func TestRecognize(t *testing.T) {
	for _, name := range Names() {
		src, err := Source(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, variant := range []string{src, "  " + strings.ReplaceAll(src, "%}", " %}\n") + "\n"} {
			tm, err := Recognize(variant, "")
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if tm.Name() != name {
				t.Errorf("%s recognised as %s", name, tm.Name())
			}
		}
	}
	// A revised Qwen3 template is recognised by its features.
	q3, _ := Source("qwen3")
	revised := strings.Replace(q3, "{%- set content = message.content %}", "{%- if message.content is string %}{%- set content = message.content %}{%- else %}{%- set content = '' %}{%- endif %}", 1)
	if tm, err := Recognize(revised, ""); err != nil || tm.Name() != "qwen3" {
		t.Errorf("revised qwen3: %v %v", tm, err)
	}
	// Changing a default system prompt or a literal is refused.
	q2, _ := Source("qwen2")
	for _, bad := range []string{
		strings.Replace(q2, "You are a helpful assistant.", "You are a pirate.", 1),
		"{{ messages[0]['content'] }}",
		"",
	} {
		if tm, err := Recognize(bad, ""); err == nil {
			t.Errorf("Recognize(%.40q) = %s, want error", bad, tm.Name())
		}
	}
}

func writeConfig(t *testing.T, dir string, cfg map[string]any) {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDirVariants(t *testing.T) {
	chatml, _ := Source("chatml")
	llama, _ := Source("llama3")

	dir := t.TempDir()
	writeConfig(t, dir, map[string]any{"chat_template": chatml, "bos_token": nil})
	if tm, err := LoadDir(dir); err != nil || tm.Name() != "chatml" {
		t.Fatalf("string template: %v %v", tm, err)
	}

	dir = t.TempDir()
	writeConfig(t, dir, map[string]any{
		"chat_template": []map[string]string{{"name": "tool_use", "template": "x"}, {"name": "default", "template": llama}},
		"bos_token":     map[string]any{"content": "<s>", "lstrip": false},
	})
	tm, err := LoadDir(dir)
	if err != nil || tm.Name() != "llama3" {
		t.Fatalf("named list template: %v %v", tm, err)
	}
	if s, _ := tm.Render([]Message{{"user", " hi "}}, Options{AddGenerationPrompt: true}); s != "<s><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" {
		t.Errorf("llama3 with config bos: %q", s)
	}

	// No template in the config, one in chat_template.jinja.
	dir = t.TempDir()
	writeConfig(t, dir, map[string]any{"eos_token": "<|im_end|>"})
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "LoadDirAs") {
		t.Fatalf("missing template: err = %v", err)
	}
	if tm, err := LoadDirAs(dir, "chatml"); err != nil || tm.Name() != "chatml" {
		t.Fatalf("LoadDirAs: %v %v", tm, err)
	}
	if _, err := LoadDirAs(dir, "mistral"); err == nil {
		t.Fatal("LoadDirAs with an unknown name: no error")
	}
	if err := os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(chatml), 0o644); err != nil {
		t.Fatal(err)
	}
	if tm, err := LoadDir(dir); err != nil || tm.Name() != "chatml" {
		t.Fatalf("chat_template.jinja: %v %v", tm, err)
	}

	dir = t.TempDir()
	writeConfig(t, dir, map[string]any{"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"})
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "unrecognised") {
		t.Fatalf("unknown template: err = %v", err)
	}
}

func TestRenderErrors(t *testing.T) {
	q3, _ := Named("qwen3", "")
	if _, err := q3.Render(nil, Options{}); err == nil {
		t.Error("no messages: no error")
	}
	if _, err := q3.Render([]Message{{"narrator", "x"}}, Options{}); err == nil || !strings.Contains(err.Error(), "narrator") {
		t.Errorf("unknown role: err = %v", err)
	}
}

func TestStopIDsAndContinueTurn(t *testing.T) {
	tk := qwen3Tok(t)
	tm, _ := Named("qwen3", "")
	eot, err := tm.EndOfTurnID(tk)
	if err != nil || eot != 151645 {
		t.Fatalf("EndOfTurnID = %d, %v; want 151645", eot, err)
	}
	if got := tm.StopIDs(tk); !slices.Equal(got, []int32{151645, 151643}) {
		t.Errorf("StopIDs = %v, want [151645 151643]", got)
	}
	l3, _ := Named("llama3", "")
	if _, err := l3.EndOfTurnID(tk); err == nil {
		t.Error("llama3 end of turn on the Qwen tokenizer: no error")
	}

	prefix, err := tm.RenderIDs(tk, []Message{{"user", "What is 2+3?"}}, Options{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	response := tk.Encode("The answer is 5.")
	insert := "\n\nYour answer was judged incorrect.\n\n"
	got := ContinueTurn(tk, prefix, response, insert)
	want := append(append(slices.Clone(prefix), response...), tk.Encode(insert)...)
	if !slices.Equal(got, want) {
		t.Fatalf("ContinueTurn = %v, want %v", got, want)
	}
	if &got[0] == &prefix[0] {
		t.Error("ContinueTurn aliases prefix")
	}
	if tk.Decode(got) != "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\nThe answer is 5."+insert {
		t.Errorf("decoded %q", tk.Decode(got))
	}
}
