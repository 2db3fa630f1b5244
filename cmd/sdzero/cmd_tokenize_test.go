package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sdzero/data/tokenizer"
	"sdzero/internal/fixtures"
)

// chatResult is the --chat --json output.
type chatResult struct {
	IDs  []int32 `json:"ids"`
	Text string  `json:"text"`
}

func runChat(t *testing.T, args ...string) chatResult {
	t.Helper()
	out := mustCall(t, runTokenize, append([]string{"--chat", "--json"}, args...)...)
	var res chatResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return res
}

// TestTokenizeChatHF: --model DIR --chat renders the directory's own
// template and encodes it as Hugging Face does: the four renderings of the
// Qwen3 tokenizer fixture (text and ids from transformers).
func TestTokenizeChatHF(t *testing.T) {
	dir := fixtures.Path(t, "qwen3-tokenizer")
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Skipf("Qwen3 tokenizer fixture absent (%v): skipping", err)
	}
	var g struct {
		ChatTemplate map[string]struct {
			Messages json.RawMessage `json:"messages"`
			Text     string          `json:"text"`
			IDs      []int32         `json:"ids"`
		} `json:"chat_template"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.ChatTemplate) == 0 {
		t.Fatal("no chat renderings in the fixture")
	}
	for name, c := range g.ChatTemplate {
		thinking := "false"
		if strings.HasSuffix(name, "True") {
			thinking = "true"
		}
		res := runChat(t, "--model", dir, "--thinking", thinking, "--text", string(c.Messages))
		if res.Text != c.Text {
			t.Errorf("%s: text\n got %q\nwant %q", name, res.Text, c.Text)
		}
		if !slices.Equal(res.IDs, c.IDs) {
			t.Errorf("%s: ids\n got %v\nwant %v", name, res.IDs, c.IDs)
		}
	}
}

// TestTokenizeChatModelTemplates: the Qwen-vocabulary model directories of
// data/chat/testdata/models (real templates) through the CLI match
// jinja2's goldens, with every message field passed through
// (reasoning_content), and --generation-prompt and --thinking honoured.
func TestTokenizeChatModelTemplates(t *testing.T) {
	tokDir := fixtures.Path(t, "qwen3-tokenizer")
	tokJSON, err := os.ReadFile(filepath.Join(tokDir, "tokenizer.json"))
	if err != nil {
		t.Skipf("Qwen3 tokenizer fixture absent (%v): skipping", err)
	}
	data, err := os.ReadFile("../../data/chat/testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Model               string          `json:"model"`
			Case                string          `json:"case"`
			Messages            json.RawMessage `json:"messages"`
			AddGenerationPrompt bool            `json:"add_generation_prompt"`
			Kwargs              map[string]any  `json:"kwargs"`
			Text                *string         `json:"text"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.Load(filepath.Join(tokDir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	n := 0
	for _, c := range g.Cases {
		// A few conversations per model: each CLI call loads the tokenizer.
		if (c.Model != "qwen3-4b-instruct-2507" && c.Model != "qwen2.5-math-1.5b-instruct") || c.Text == nil ||
			len(c.Kwargs) != 0 || !slices.Contains([]string{"multi", "reasoning_content", "unicode"}, c.Case) {
			continue
		}
		dir := dirs[c.Model]
		if dir == "" {
			dir = t.TempDir()
			src := filepath.Join("../../data/chat/testdata/models", c.Model)
			entries, err := os.ReadDir(src)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(src, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tokJSON, 0o644); err != nil {
				t.Fatal(err)
			}
			dirs[c.Model] = dir
		}
		args := []string{"--model", dir, "--generation-prompt=" + strconv.FormatBool(c.AddGenerationPrompt), "--text", string(c.Messages)}
		if v, ok := c.Kwargs["enable_thinking"].(bool); ok {
			args = append(args, "--thinking", strconv.FormatBool(v))
		}
		res := runChat(t, args...)
		if res.Text != *c.Text {
			t.Errorf("%s/%s gen=%v %v: text\n got %q\nwant %q", c.Model, c.Case, c.AddGenerationPrompt, c.Kwargs, res.Text, *c.Text)
		}
		if want := tk.Encode(*c.Text); !slices.Equal(res.IDs, want) {
			t.Errorf("%s/%s: ids are not the encoding of the text without added special tokens", c.Model, c.Case)
		}
		n++
	}
	if n < 12 {
		t.Fatalf("only %d CLI cases ran", n)
	}
}

// TestTokenizeChatOverrides: --template takes a built-in name or a Jinja
// file, --kwargs reaches the template, and a broken template is an error
// naming the file and line.
func TestTokenizeChatOverrides(t *testing.T) {
	dir := fixtures.Path(t, "qwen3-tokenizer")
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Skipf("Qwen3 tokenizer fixture absent (%v): skipping", err)
	}
	msgs := `[{"role":"user","content":"hi"}]`
	if res := runChat(t, "--model", dir, "--template", "chatml", "--text", msgs); res.Text != "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n" {
		t.Errorf("--template chatml: %q", res.Text)
	}
	file := filepath.Join(t.TempDir(), "t.jinja")
	if err := os.WriteFile(file, []byte("{{ eos_token }}{{ greeting }} {{ messages[0].content }}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := runChat(t, "--model", dir, "--template", file, "--kwargs", `{"greeting": "hello"}`, "--text", msgs); res.Text != "<|im_end|>hello hi" {
		t.Errorf("--template FILE --kwargs: %q", res.Text)
	}
	if err := os.WriteFile(file, []byte("ok\n{% for m in messages %}\n{% bogus %}\n{% endfor %}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := call(runTokenize, "--model", dir, "--chat", "--template", file, "--text", msgs)
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("broken template: err = %v, want the file and line 3", err)
	}
}
