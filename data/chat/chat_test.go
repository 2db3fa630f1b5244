package chat

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ardanlabs/jinja"

	"sdzero/data/tokenizer"
	"sdzero/internal/fixtures"
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

// goldenCase is one rendering by jinja2 in testdata/golden.json.
type goldenCase struct {
	Model               string          `json:"model"`
	Case                string          `json:"case"`
	Messages            json.RawMessage `json:"messages"`
	AddGenerationPrompt bool            `json:"add_generation_prompt"`
	Kwargs              map[string]any  `json:"kwargs"`
	Text                *string         `json:"text"`
	Error               *string         `json:"error"`
}

type golden struct {
	Now   string       `json:"now"`
	Cases []goldenCase `json:"cases"`
}

func readGolden(t *testing.T) golden {
	t.Helper()
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// goldenTemplate loads a golden case's template as a user would: a model
// directory under testdata/models, or "builtin-NAME".
func goldenTemplate(t *testing.T, model string) *Template {
	t.Helper()
	var tm *Template
	var err error
	if name, ok := strings.CutPrefix(model, "builtin-"); ok {
		tm, err = Parse("built-in "+name, mustSource(t, name), map[string]string{"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"})
	} else {
		tm, err = LoadDir(filepath.Join("testdata", "models", model))
	}
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func mustSource(t *testing.T, name string) string {
	t.Helper()
	s, err := Source(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func caseOptions(t *testing.T, c goldenCase, now time.Time) Options {
	t.Helper()
	opt := Options{AddGenerationPrompt: c.AddGenerationPrompt, Now: now}
	for k, v := range c.Kwargs {
		if k == "enable_thinking" {
			b, ok := v.(bool)
			if !ok {
				t.Fatalf("enable_thinking %v", v)
			}
			opt.EnableThinking = &b
			continue
		}
		if opt.Vars == nil {
			opt.Vars = map[string]any{}
		}
		opt.Vars[k] = v
	}
	return opt
}

// TestGoldenJinja2 renders every case of testdata/golden.json (jinja2 with
// transformers' environment on the real templates under testdata/models
// and the built-ins, by testdata/gen_golden.py) and compares exactly.
func TestGoldenJinja2(t *testing.T) {
	g := readGolden(t)
	now, err := time.Parse("2006-01-02T15:04:05", g.Now)
	if err != nil {
		t.Fatal(err)
	}
	tmpls := map[string]*Template{}
	perModel := map[string]int{}
	for _, c := range g.Cases {
		tm := tmpls[c.Model]
		if tm == nil {
			tm = goldenTemplate(t, c.Model)
			tmpls[c.Model] = tm
		}
		perModel[c.Model]++
		got, err := tm.RenderJSON(c.Messages, caseOptions(t, c, now))
		if c.Error != nil {
			if err == nil || !strings.Contains(err.Error(), *c.Error) {
				t.Errorf("%s/%s gen=%v %v: err = %v, want jinja2's %q", c.Model, c.Case, c.AddGenerationPrompt, c.Kwargs, err, *c.Error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s/%s gen=%v %v: %v", c.Model, c.Case, c.AddGenerationPrompt, c.Kwargs, err)
			continue
		}
		if got != *c.Text {
			t.Errorf("%s/%s gen=%v %v:\n got %q\nwant %q", c.Model, c.Case, c.AddGenerationPrompt, c.Kwargs, got, *c.Text)
		}
	}
	entries, err := os.ReadDir("testdata/models")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if perModel[e.Name()] < 30 {
			t.Errorf("model %s: only %d golden cases", e.Name(), perModel[e.Name()])
		}
	}
	for _, n := range Names() {
		if perModel["builtin-"+n] < 30 {
			t.Errorf("built-in %s: only %d golden cases", n, perModel["builtin-"+n])
		}
	}
}

// TestRenderMatchesRenderJSON: the typed Message path gives the same text
// as the JSON path on golden conversations.
func TestRenderMatchesRenderJSON(t *testing.T) {
	g := readGolden(t)
	now, _ := time.Parse("2006-01-02T15:04:05", g.Now)
	tmpls := map[string]*Template{}
	n := 0
	for _, c := range g.Cases {
		if c.Text == nil {
			continue
		}
		var msgs []Message
		if err := json.Unmarshal(c.Messages, &msgs); err != nil {
			t.Fatal(err)
		}
		tm := tmpls[c.Model]
		if tm == nil {
			tm = goldenTemplate(t, c.Model)
			tmpls[c.Model] = tm
		}
		got, err := tm.Render(msgs, caseOptions(t, c, now))
		if err != nil {
			t.Fatal(err)
		}
		if got != *c.Text {
			t.Errorf("%s/%s: Render %q, want %q", c.Model, c.Case, got, *c.Text)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("only %d cases compared", n)
	}
}

// TestFixtureTemplatesMatchTestdata: the templates copied into
// testdata/models are those of ../shared/fixtures/chat-templates, loaded
// through LoadDir from the unmodified files.
func TestFixtureTemplatesMatchTestdata(t *testing.T) {
	for _, name := range []string{"qwen3-4b-instruct-2507", "llama-3.2-1b-instruct", "qwen2.5-math-1.5b-instruct"} {
		dir := fixtures.Path(t, filepath.Join("chat-templates", name))
		if _, err := os.Stat(dir); err != nil {
			t.Skipf("chat-template fixtures absent (%v): skipping", err)
		}
		real, err := LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		copied, err := LoadDir(filepath.Join("testdata", "models", name))
		if err != nil {
			t.Fatal(err)
		}
		if real.SourceText() != copied.SourceText() {
			t.Errorf("%s: testdata template differs from the fixture", name)
		}
		msgs := []Message{{Role: "system", Content: "s"}, {Role: "user", Content: "u"}}
		a, err1 := real.Render(msgs, Options{AddGenerationPrompt: true, Now: time.Unix(0, 0)})
		b, err2 := copied.Render(msgs, Options{AddGenerationPrompt: true, Now: time.Unix(0, 0)})
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("%s: fixture renders %q (%v), testdata %q (%v)", name, a, err1, b, err2)
		}
	}
	// DeepSeek-R1-Distill's fixture config was saved without its template
	// (transformers 4.54 writes chat_template.jinja separately): a clear
	// error, not a guess.
	dir := fixtures.Path(t, filepath.Join("chat-templates", "deepseek-r1-distill-qwen-1.5b"))
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "no chat template") {
		t.Errorf("deepseek fixture without a template: err = %v", err)
	}
}

// TestLiveJinja2 re-runs the generator with python3's jinja2 into a temp
// file and checks that it reproduces the committed goldens, so that the
// goldens stay what jinja2 renders. Skips without python3 + jinja2.
func TestLiveJinja2(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: skipping the live jinja2 comparison (goldens are committed)")
	}
	if err := exec.Command(py, "-c", "import jinja2").Run(); err != nil {
		t.Skip("python3 has no jinja2 (apt-get install python3-jinja2): skipping the live comparison")
	}
	out := filepath.Join(t.TempDir(), "golden.json")
	cmd := exec.Command(py, "testdata/gen_golden.py", "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen_golden.py: %v\n%s", err, b)
	}
	live, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var lg golden
	if err := json.Unmarshal(live, &lg); err != nil {
		t.Fatal(err)
	}
	g := readGolden(t)
	if len(lg.Cases) != len(g.Cases) {
		t.Fatalf("live jinja2 rendered %d cases, committed goldens have %d: regenerate testdata/golden.json", len(lg.Cases), len(g.Cases))
	}
	for i := range g.Cases {
		a, b := g.Cases[i], lg.Cases[i]
		if a.Model != b.Model || a.Case != b.Case || !eqPtr(a.Text, b.Text) || !eqPtr(a.Error, b.Error) {
			t.Errorf("case %d %s/%s: committed golden differs from live jinja2", i, a.Model, a.Case)
		}
	}
}

func eqPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// TestQwen3Golden checks the four Hugging Face renderings of the tokenizer
// fixture (text and ids) through LoadDir on its real tokenizer_config.json.
func TestQwen3Golden(t *testing.T) {
	dir := fixtureDir(t)
	tk := qwen3Tok(t)
	tm, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
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
	chatml := mustSource(t, "chatml")
	llama := mustSource(t, "llama3")
	hi := []Message{{Role: "user", Content: " hi "}}
	gen := Options{AddGenerationPrompt: true}

	dir := t.TempDir()
	writeConfig(t, dir, map[string]any{"chat_template": chatml, "bos_token": nil})
	tm, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := tm.Render(hi, gen); s != "<|im_start|>user\n hi <|im_end|>\n<|im_start|>assistant\n" {
		t.Errorf("string template: %q", s)
	}

	// A list of named templates: "default" is used; the bos token is an
	// AddedToken object.
	dir = t.TempDir()
	writeConfig(t, dir, map[string]any{
		"chat_template": []map[string]string{{"name": "tool_use", "template": "x"}, {"name": "default", "template": llama}},
		"bos_token":     map[string]any{"content": "<s>", "lstrip": false},
	})
	if tm, err = LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	if s, _ := tm.Render(hi, gen); s != "<s><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" {
		t.Errorf("llama3 with config bos: %q", s)
	}
	writeConfig(t, dir, map[string]any{"chat_template": []map[string]string{{"name": "tool_use", "template": "x"}}})
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "default") {
		t.Errorf("named list without default: err = %v", err)
	}

	// No template in the config, then one in chat_template.jinja.
	dir = t.TempDir()
	writeConfig(t, dir, map[string]any{"eos_token": "<|im_end|>"})
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "--template") {
		t.Fatalf("missing template: err = %v", err)
	}
	if tm, err := LoadDirAs(dir, "chatml"); err != nil || tm.Name() != "built-in chatml" {
		t.Fatalf("LoadDirAs: %v %v", tm, err)
	}
	if _, err := LoadDirAs(dir, "mistral"); err == nil || !strings.Contains(err.Error(), "neither built in") {
		t.Fatalf("LoadDirAs with an unknown name: err = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(chatml), 0o644); err != nil {
		t.Fatal(err)
	}
	if tm, err := LoadDir(dir); err != nil || !strings.HasSuffix(tm.Name(), "chat_template.jinja") {
		t.Fatalf("chat_template.jinja: %v %v", tm, err)
	}
	// chat_template.jinja wins over tokenizer_config.json's, as in
	// transformers.
	writeConfig(t, dir, map[string]any{"eos_token": "<|im_end|>", "chat_template": "config's"})
	if tm, err := LoadDir(dir); err != nil || tm.SourceText() != chatml {
		t.Fatalf("chat_template.jinja beside a config template: %v %v", tm, err)
	}
	// A template file as the override; it sees the directory's eos_token.
	file := filepath.Join(t.TempDir(), "t.jinja")
	if err := os.WriteFile(file, []byte("{{ messages[0].content }}{{ eos_token }}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tm, err := LoadDirAs(dir, file); err != nil {
		t.Fatal(err)
	} else if s, _ := tm.Render(hi, gen); s != " hi <|im_end|>" {
		t.Errorf("file override: %q", s)
	}
}

// TestTemplateErrors: unparsable and failing templates are errors that
// name the template and, for syntax, the line and construct.
func TestTemplateErrors(t *testing.T) {
	for _, c := range []struct {
		name, src, want string
	}{
		{"unknown statement", "{% for m in messages %}\n{% frobnicate %}\n{% endfor %}", "line 2"},
		{"unclosed block", "{% if add_generation_prompt %}x", "if"},
		// Lines keep their numbers through whitespace control and comments.
		{"line after stripping", "{%- if true -%}\n\n  {#- two\nlines -#}\n\n{% frobnicate %}{% endif %}", "line 6"},
		{"unclosed tag", "ok\n{{ messages[0].content", "line 2"},
		{"unclosed string", "ok\n\n{{ 'abc }}", "line 3"},
		{"raise_exception", "x\n{{ raise_exception('Conversation roles must alternate') }}", "near line 2: {{ raise_exception('Conversation roles must alternate') }}"},
		{"unknown filter", "{% for m in messages %}\n{{ m.content | nosuch }}\n{% endfor %}", "near line 2"},
		{"not callable", "{{ 'a' }}\n\n{{ messages[0].content.nosuch() }}", "near line 3"},
		{"empty", "  ", "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tm, err := Parse("t.jinja", c.src, nil)
			if err == nil {
				_, err = tm.Render([]Message{{Role: "user", Content: "x"}}, Options{})
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "t.jinja") {
				t.Errorf("err = %v, want it to name t.jinja and %q", err, c.want)
			}
		})
	}
	tm, _ := Named("qwen3", "")
	if _, err := tm.Render(nil, Options{}); err == nil {
		t.Error("no messages: no error")
	}
	if _, err := tm.RenderJSON([]byte(`{"role": "user"}`), Options{}); err == nil {
		t.Error("RenderJSON of an object: no error")
	}
	if _, err := strftime(time.Now(), "%Q"); err == nil {
		t.Error("strftime %Q: no error")
	}
}

func TestStrftime(t *testing.T) {
	at := time.Date(2024, 7, 6, 0, 5, 9, 0, time.UTC)
	for _, c := range []struct{ f, want string }{
		{"%d %b %Y", "06 Jul 2024"},
		{"%Y-%m-%d %H:%M:%S", "2024-07-06 00:05:09"},
		{"%A %a %B %j %I%p %y %%", "Saturday Sat July 188 12AM 24 %"},
	} {
		if got, err := strftime(at, c.f); err != nil || got != c.want {
			t.Errorf("strftime(%q) = %q, %v; want %q", c.f, got, err, c.want)
		}
	}
}

func TestAssistantTurn(t *testing.T) {
	for _, c := range []struct {
		name, src, close, final, err string
	}{
		{"chatml", mustSource(t, "chatml"), "<|im_end|>\n<|im_start|>user\n", "<|im_end|>\n", ""},
		{"llama3", mustSource(t, "llama3"), "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>", ""},
		// Llama 2 style: no generation prompt, the reply follows [/INST].
		{"inst", "{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content }} [/INST]{% else %} {{ m.content }} </s>{% endif %}{% endfor %}", " </s>[INST] ", " </s>", ""},
		// R1 style: the prompt primes a think block history drops.
		{"r1", "{% for m in messages %}{% if m.role == 'user' %}<U>{{ m.content }}{% else %}<A>{{ m.content }}<E>{% endif %}{% endfor %}{% if add_generation_prompt %}<A><think>\n{% endif %}", "<E><U>", "<E>", ""},
		// Phi-3-small style: without the prompt the conversation ends in eos.
		{"eos", "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% else %}<eos>{% endif %}", "<|end|><|user|>", "<|end|><eos>", ""},
		{"no header", "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}", "", "", "add_generation_prompt adds nothing"},
		{"rewrites", "{% if add_generation_prompt %}X{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}", "", "", "cannot continue inside the assistant turn"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tm, err := Parse(c.name, c.src, nil)
			if err != nil {
				t.Fatal(err)
			}
			turn, err := tm.AssistantTurn(Options{})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), c.name) {
					t.Fatalf("err = %v, want %q naming the template", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if turn.Close != c.close || turn.FinalClose != c.final {
				t.Errorf("turn = %+v, want close %q, final close %q", turn, c.close, c.final)
			}
		})
	}
}

// TestGoldenTemplatesContinue: every real template derives its turn, and
// the text after a reply starts with the model's end-of-turn token.
func TestGoldenTemplatesContinue(t *testing.T) {
	closes := map[string]string{
		"c4ai-command-r-plus":           "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>",
		"deepseek-coder-33b-instruct":   "\n<|EOT|>\n### Instruction:\n",
		"deepseek-r1-distill-qwen-32b":  "<｜end▁of▁sentence｜><｜User｜>",
		"gemma-4-26b-a4b-it":            "<turn|>\n<|turn>user\n",
		"glm-5.2":                       "<|user|>",
		"gpt-oss-20b":                   "<|end|><|start|>user<|message|>",
		"lfm2.5-vl-1.6b":                "<|im_end|>\n<|im_start|>user\n",
		"ministral-3-14b-instruct-2512": "</s>[INST]",
		"nvidia-nemotron-3-super":       "<|im_end|>\n<|im_start|>user\n",
		"qwen3-8b":                      "<|im_end|>\n<|im_start|>user\n",
		"gemma-3-4b-it":                 "<end_of_turn>\n<start_of_turn>user\n",
		"gemma-7b-it":                   "<end_of_turn>\n<start_of_turn>user\n",
		"granite-3.0-8b-instruct":       "<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>",
		"llama-2-13b-chat":              " </s><s>[INST] ",
		"llama-3.2-1b-instruct":         "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n",
		"mistral-7b-instruct-v0.2-v1":   "</s> [INST] ",
		"mixtral-8x7b-instruct-v0.1":    "</s>[INST] ",
		"olmo-2-1124-7b-instruct":       "<|endoftext|>\n<|user|>\n",
		"olmo-3.1-32b-instruct":         "<|im_end|>\n<|im_start|>user\n",
		"openchat-3.5-0106":             "<|end_of_turn|>GPT4 Correct User: ",
		"phi-3-mini":                    "<|end|>\n<|user|>\n",
		"phi-3-small":                   "<|end|>\n<|user|>\n",
		"phi-4":                         "<|im_end|><|im_start|>user<|im_sep|>",
		"qwen2.5-math-1.5b-instruct":    "<|im_end|>\n<|im_start|>user\n",
		"qwen3-4b-instruct-2507":        "<|im_end|>\n<|im_start|>user\n",
		"smollm2-360m-instruct":         "<|im_end|>\n<|im_start|>user\n",
	}
	entries, err := os.ReadDir("testdata/models")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		tm := goldenTemplate(t, e.Name())
		for _, think := range []*bool{nil, boolPtr(true), boolPtr(false)} {
			turn, err := tm.AssistantTurn(Options{EnableThinking: think})
			if err != nil {
				t.Errorf("%s thinking=%v: %v", e.Name(), think, err)
				continue
			}
			want, ok := closes[e.Name()]
			if !ok {
				t.Errorf("%s: no expected close (got %q)", e.Name(), turn.Close)
			} else if turn.Close != want {
				t.Errorf("%s: close %q, want %q", e.Name(), turn.Close, want)
			}
		}
	}
}

func TestStopIDsAndContinueTurn(t *testing.T) {
	tk := qwen3Tok(t)
	tm, err := LoadDir(fixtureDir(t))
	if err != nil {
		t.Fatal(err)
	}
	eot, err := tm.EndOfTurnID(tk)
	if err != nil || eot != 151645 {
		t.Fatalf("EndOfTurnID = %d, %v; want 151645", eot, err)
	}
	stops, err := tm.StopIDs(tk)
	if err != nil || !slices.Equal(stops, []int32{151645}) {
		t.Errorf("StopIDs = %v, %v; want [151645] (eos_token is <|im_end|>)", stops, err)
	}
	// Olmo 3 closes a last reply with eos_token, earlier ones with
	// <|im_end|>: both stop.
	olmo3 := goldenTemplate(t, "olmo-3.1-32b-instruct")
	if stops, err := olmo3.StopIDs(tk); err != nil || !slices.Equal(stops, []int32{151645, 151643}) {
		t.Errorf("olmo3 StopIDs = %v, %v; want [151645 151643]", stops, err)
	}
	l3, _ := Named("llama3", "")
	if _, err := l3.EndOfTurnID(tk); err == nil {
		t.Error("llama3 end of turn on the Qwen tokenizer: no error")
	}
	// A template with no special token after the content falls back to
	// eos_token.
	plain, _ := Parse("plain", "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}", map[string]string{"eos_token": "<|endoftext|>"})
	if id, err := plain.EndOfTurnID(tk); err != nil || id != 151643 {
		t.Errorf("plain EndOfTurnID = %d, %v; want eos 151643", id, err)
	}
	noEOS, _ := Parse("plain-no-eos", "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}", nil)
	if _, err := noEOS.EndOfTurnID(tk); err == nil || !strings.Contains(err.Error(), "plain-no-eos") {
		t.Errorf("no end-of-turn token: err = %v", err)
	}

	prefix, err := tm.RenderIDs(tk, []Message{{Role: "user", Content: "What is 2+3?"}}, Options{AddGenerationPrompt: true})
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

// BenchmarkRender measures one rendering of the Qwen3 template (a system
// prompt, one question, the generation prompt): the per-prompt cost of the
// Jinja engine, to set against tokenizing the result.
func BenchmarkRender(b *testing.B) {
	tm, err := Named("qwen3", "")
	if err != nil {
		b.Fatal(err)
	}
	msgs := []Message{{Role: "system", Content: "You are a careful solver."}, {Role: "user", Content: "What is 2+3? Put the answer in \\boxed{}."}}
	opt := Options{AddGenerationPrompt: true, EnableThinking: boolPtr(false)}
	for b.Loop() {
		if _, err := tm.Render(msgs, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// knownDeviations are the semantics snippets of golden.json where
// github.com/ardanlabs/jinja v1.8.0 differs from jinja2, none of which the
// real templates in testdata/models use: Python's float and None
// formatting, tuples, a few str methods and filters, and some syntax.
// TestJinjaSemantics fails if one of them starts to match (shrink the
// list) or another snippet differs.
var knownDeviations = map[string]string{
	"{{ 'abc'.startswith('a') }}{{ 'abc'.endswith(('c','d')) }}":                                               "endswith(tuple) is False",
	"{{ x|default('d') }}|{{ none|default('d') }}|{{ ''|default('d', true) }}":                                 "none prints as empty, not None",
	"{{ 1 ~ 'a' ~ none ~ true }}|{{ 'a' in 'cat' }}{{ 2 in [1,2] }}{{ 'k' in {'k':1} }}{{ 'z' not in 'cat' }}": "none ~ concatenates as empty, not None",
	"{{ x is defined }}{{ y is defined }}{{ y is none }}{{ x is string }}{{ 3 is number }}{{ [1] is iterable }}{{ {} is mapping }}{{ 'a' is sequence }}{{ false is false }}{{ true is true }}{{ 1 is true }}": "a string is not a sequence",
	"{{ 7 // 2 }}{{ 7 % 3 }}{{ 7 / 2 }}{{ 2 ** 3 }}{{ 1.0 }}{{ 2 * 1.5 }}{{ 4 / 2 }}{{ -3 // 2 }}":                                                                                                            "floats print without .0; // truncates",
	"{{ [] }}{{ [1, 'a'] }}{{ {'a': 1} }}{{ none }}{{ true }}{{ (1, 2) }}{{ [none, true, 1.5] }}":                                                                                                             "none prints empty; tuples print as lists",
	"{{ '%s-%d'|format('a', 3) }}{{ 'x %s' % 'y' }}":                                                             "no format filter or % formatting",
	"{{ 'abc'.find('c') }}{{ 'aab'.count('a') }}{{ '-'.join(['a','b']) }}{{ 'a b'.split(' ', 1) }}":              "no str.join",
	"{{ 'abc'.rsplit('b') }}{{ 'x'.center(5) }}|{{ 'ab'.isdigit() }}{{ '12'.isdigit() }}":                        "no rsplit, center, isdigit",
	"{{ 1e3 }}{{ 0.1 + 0.2 }}{{ 1/3 }}{{ 10000000000000000.0 }}{{ 1.5e-7 }}{{ -0.0 }}":                           "no exponent literals",
	"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% for a, b in [[1,2],[3,4]] %}{{ a+b }}{% endfor %}":                    "no tuple assignment in set",
	"{{ {'a': 1, 'b': [1, {'c': 'x'}]}|string }}{{ 'it''s' }}{{ \"q\\\"q\" }}{{ 'tab\\tnl\\n' }}{{ '\\u00e9' }}": "no adjacent string literal concatenation",
	"{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'é<>&\\''|tojson }}":       "tojson with indent sorts the keys",
	"{{ d|tojson(sort_keys=true) }}":                                      "tojson ignores sort_keys",
	"{{ messages|length is divisibleby 2 }}{{ 3 is odd }}{{ 4 is even }}": "no test argument without parentheses",
}

// TestJinjaSemantics renders golden.json's semantics snippets (jinja2 with
// transformers' environment) and compares them with the engine.
func TestJinjaSemantics(t *testing.T) {
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Now       string `json:"now"`
		Semantics []struct {
			Src   string          `json:"src"`
			Ctx   json.RawMessage `json:"ctx"`
			Text  *string         `json:"text"`
			Error *string         `json:"error"`
		} `json:"semantics"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse("2006-01-02T15:04:05", g.Now)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Semantics) < 40 {
		t.Fatalf("only %d semantics snippets", len(g.Semantics))
	}
	for _, c := range g.Semantics {
		got, err := func() (string, error) {
			tm, err := Parse("snippet", c.Src, nil)
			if err != nil {
				return "", err
			}
			ctx, err := parseJSONValue(c.Ctx)
			if err != nil {
				return "", err
			}
			extra := map[string]jinja.Value{}
			for _, k := range ctx.AsDict().Keys {
				extra[k] = ctx.AsDict().Data[k]
			}
			return tm.renderWith(jinja.NewList(nil), Options{Now: now}, extra)
		}()
		same := (c.Error != nil && err != nil && strings.Contains(err.Error(), *c.Error)) ||
			(c.Text != nil && err == nil && got == *c.Text)
		why, known := knownDeviations[c.Src]
		switch {
		case same && known:
			t.Errorf("%q now matches jinja2 (%s): remove it from knownDeviations", c.Src, why)
		case !same && !known:
			want := ""
			if c.Text != nil {
				want = *c.Text
			} else {
				want = "error " + *c.Error
			}
			t.Errorf("%q:\n got %q (err %v)\nwant %q", c.Src, got, err, want)
		}
	}
}

// BenchmarkRenderIDs is BenchmarkRender plus encoding the text with the
// real Qwen3 tokenizer: what a prompt costs end to end.
func BenchmarkRenderIDs(b *testing.B) {
	d := fixtures.Path(b, "qwen3-tokenizer")
	tk, err := tokenizer.LoadDir(d)
	if err != nil {
		b.Skipf("Qwen3 tokenizer fixture: %v", err)
	}
	tm, err := Named("qwen3", "")
	if err != nil {
		b.Fatal(err)
	}
	msgs := []Message{{Role: "system", Content: "You are a careful solver."}, {Role: "user", Content: "What is 2+3? Put the answer in \\boxed{}."}}
	opt := Options{AddGenerationPrompt: true, EnableThinking: boolPtr(false)}
	for b.Loop() {
		if _, err := tm.RenderIDs(tk, msgs, opt); err != nil {
			b.Fatal(err)
		}
	}
}
