// Package chat renders conversations with a model's own Jinja chat template,
// as transformers' apply_chat_template does.
//
// The template text comes from chat_template.jinja or tokenizer_config.json's
// chat_template (a string, or a list of named templates of which "default"
// is used). It is compiled by github.com/ardanlabs/jinja and rendered with
// Hugging Face's environment: trim_blocks and lstrip_blocks, loop controls,
// raise_exception, strftime_now and a tojson that does not escape non-ASCII
// text. Whitespace control and per-iteration loop scoping are applied here
// as jinja2 does them (whitespace.go), where the engine differs. The variables are messages,
// add_generation_prompt, tools and documents (both none), the special tokens
// of tokenizer_config.json (bos_token, eos_token, ...) and the caller's
// extra keyword arguments (enable_thinking, date_string, ...).
//
// The end-of-turn token and the place where an assistant reply starts are
// derived from the template itself by rendering probe conversations, so
// that any template works, and a template that cannot be continued inside
// an assistant turn is refused by name.
//
// A few templates are built in (templates/*.jinja) for --template NAME.
package chat

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"

	"sdzero/data/tokenizer"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// ReasoningContent is an assistant turn's reasoning, for templates
	// that read message.reasoning_content (Qwen3). Empty: the key is
	// absent from the message, as when a caller does not set it.
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

// Options are the template variables callers set.
type Options struct {
	// AddGenerationPrompt appends the header of an assistant turn.
	AddGenerationPrompt bool
	// EnableThinking is passed as enable_thinking when set (nil: the
	// variable is undefined and the template's default applies).
	EnableThinking *bool
	// Vars are further keyword arguments of apply_chat_template (for
	// example date_string); they override the special tokens. Values are
	// JSON-like: nil, bool, int, int64, float64, json.Number (an integer
	// literal stays an integer), string, []any, map[string]any (keys in
	// sorted order).
	Vars map[string]any
	// Now is the time strftime_now formats (zero: the current time).
	Now time.Time
}

// Template is a compiled chat template with its special tokens.
type Template struct {
	name    string // where the template came from, for errors
	source  string
	prog    *jinja.Template
	special []specialToken
}

// specialToken is one entry of the tokenizer's special-tokens map, in the
// order transformers lists them.
type specialToken struct {
	key   string
	value jinja.Value
}

//go:embed templates/*.jinja
var templateFS embed.FS

// Names lists the built-in template names.
func Names() []string {
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".jinja"))
	}
	sort.Strings(names)
	return names
}

// Source returns the Jinja text of a built-in template.
func Source(name string) (string, error) {
	b, err := templateFS.ReadFile("templates/" + name + ".jinja")
	if err != nil {
		return "", fmt.Errorf("chat template %q: not built in (known: %s)", name, strings.Join(Names(), ", "))
	}
	return string(b), nil
}

// Named returns a built-in template by name. bosToken is the template's
// bos_token (Llama 3 prints it); empty leaves it undefined, except for
// llama3, which defaults to <|begin_of_text|>.
func Named(name, bosToken string) (*Template, error) {
	src, err := Source(name)
	if err != nil {
		return nil, err
	}
	if name == "llama3" && bosToken == "" {
		bosToken = "<|begin_of_text|>"
	}
	var special []specialToken
	if bosToken != "" {
		special = append(special, specialToken{"bos_token", jinja.NewString(bosToken)})
	}
	return compile("built-in "+name, src, special)
}

// Parse compiles template source; name says where it came from (a file,
// a model directory) in errors. tokens are the special tokens (bos_token,
// eos_token, ...) the template sees; absent ones are undefined.
func Parse(name, source string, tokens map[string]string) (*Template, error) {
	var special []specialToken
	keys := make([]string, 0, len(tokens))
	for k := range tokens {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		special = append(special, specialToken{k, jinja.NewString(tokens[k])})
	}
	return compile(name, source, special)
}

func compile(name, source string, special []specialToken) (*Template, error) {
	if strings.TrimSpace(source) == "" {
		return nil, fmt.Errorf("chat template %s: empty", name)
	}
	prepared, err := prepare(source)
	if err != nil {
		return nil, fmt.Errorf("chat template %s: cannot compile: %w", name, err)
	}
	prog, err := jinja.Compile(prepared)
	if err != nil {
		// The library's message names the line and the construct.
		return nil, fmt.Errorf("chat template %s: cannot compile: %w", name, err)
	}
	return &Template{name: name, source: source, prog: prog, special: special}, nil
}

// specialKeys are the special-token attributes of a transformers tokenizer
// that apply_chat_template passes to the template (special_tokens_map).
var specialKeys = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"}

// modelConfig is what this package reads from a model directory.
type modelConfig struct {
	source  string // chat template text, "" if none
	origin  string // the file it came from
	special []specialToken
	tokens  map[string]string // the string-valued special tokens
}

// tokenContent reads a special token written as "text" or as an
// AddedToken object {"content": "text", ...}; null is absent.
func tokenContent(raw json.RawMessage) (string, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", false, fmt.Errorf("want a string or {\"content\": ...}, got %.60s", raw)
	}
	return *obj.Content, true, nil
}

// readConfig reads dir/tokenizer_config.json (absent is not an error): its
// special tokens and chat template, or dir/chat_template.jinja (where newer
// transformers save it) in its place.
func readConfig(dir string) (modelConfig, error) {
	mc := modelConfig{tokens: map[string]string{}}
	path := filepath.Join(dir, "tokenizer_config.json")
	data, err := os.ReadFile(path)
	cfg := map[string]json.RawMessage{}
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return mc, fmt.Errorf("chat: %w", err)
	default:
		if err := json.Unmarshal(data, &cfg); err != nil {
			return mc, fmt.Errorf("chat: %s: %w", path, err)
		}
	}
	for _, k := range specialKeys {
		raw := cfg[k]
		if k == "additional_special_tokens" {
			if len(raw) == 0 || string(raw) == "null" {
				continue
			}
			var list []json.RawMessage
			if err := json.Unmarshal(raw, &list); err != nil {
				return mc, fmt.Errorf("chat: %s: %s: want a list: %w", path, k, err)
			}
			items := make([]jinja.Value, 0, len(list))
			for i, r := range list {
				s, ok, err := tokenContent(r)
				if err != nil {
					return mc, fmt.Errorf("chat: %s: %s[%d]: %w", path, k, i, err)
				}
				if ok {
					items = append(items, jinja.NewString(s))
				}
			}
			mc.special = append(mc.special, specialToken{k, jinja.NewList(items)})
			continue
		}
		s, ok, err := tokenContent(raw)
		if err != nil {
			return mc, fmt.Errorf("chat: %s: %s: %w", path, k, err)
		}
		if ok {
			mc.special = append(mc.special, specialToken{k, jinja.NewString(s)})
			mc.tokens[k] = s
		}
	}
	// As transformers does, chat_template.jinja takes priority over the
	// template entries of tokenizer_config.json.
	jpath := filepath.Join(dir, "chat_template.jinja")
	b, err := os.ReadFile(jpath)
	switch {
	case err == nil:
		mc.source, mc.origin = string(b), jpath
		return mc, nil
	case !errors.Is(err, os.ErrNotExist):
		return mc, fmt.Errorf("chat: %w", err)
	}
	if raw := cfg["chat_template"]; len(raw) > 0 && string(raw) != "null" {
		mc.origin = path
		if err := json.Unmarshal(raw, &mc.source); err != nil {
			// A list of named templates: transformers uses "default".
			var named []struct {
				Name     string `json:"name"`
				Template string `json:"template"`
			}
			if err := json.Unmarshal(raw, &named); err != nil {
				return mc, fmt.Errorf("chat: %s: chat_template is neither a string nor a list of named templates", path)
			}
			found := false
			var names []string
			for _, n := range named {
				names = append(names, n.Name)
				if n.Name == "default" {
					mc.source, found = n.Template, true
				}
			}
			if !found {
				return mc, fmt.Errorf("chat: %s: chat_template list has no \"default\" entry (has %s)", path, strings.Join(names, ", "))
			}
		}
	}
	return mc, nil
}

// LoadDir loads the chat template of a model or tokenizer directory
// (chat_template.jinja, else tokenizer_config.json's chat_template) with
// the special tokens of its tokenizer_config.json. A missing template is
// an error.
func LoadDir(dir string) (*Template, error) {
	mc, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	if mc.source == "" {
		return nil, fmt.Errorf("chat: no chat template in %s (tokenizer_config.json chat_template or chat_template.jinja); name one with --template (built in: %s) or a .jinja file",
			dir, strings.Join(Names(), ", "))
	}
	return compile(mc.origin, mc.source, mc.special)
}

// LoadDirAs returns the template override for dir: a built-in name or the
// path of a Jinja file, whatever template the directory has (or lacks);
// dir's tokenizer_config.json, if present, supplies the special tokens.
func LoadDirAs(dir, nameOrFile string) (*Template, error) {
	mc, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	if src, err := Source(nameOrFile); err == nil {
		special := mc.special
		if nameOrFile == "llama3" && mc.tokens["bos_token"] == "" {
			special = append([]specialToken{{"bos_token", jinja.NewString("<|begin_of_text|>")}}, special...)
		}
		return compile("built-in "+nameOrFile, src, special)
	}
	b, err := os.ReadFile(nameOrFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("chat template %q: neither built in (%s) nor a file", nameOrFile, strings.Join(Names(), ", "))
		}
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return compile(nameOrFile, string(b), mc.special)
}

// Name says where the template came from (its file, or "built-in NAME").
func (t *Template) Name() string { return t.name }

// SourceText is the template's Jinja text.
func (t *Template) SourceText() string { return t.source }

// Render renders msgs as apply_chat_template(msgs, tokenize=False) does.
func (t *Template) Render(msgs []Message, opt Options) (string, error) {
	if len(msgs) == 0 {
		return "", fmt.Errorf("chat %s: no messages", t.name)
	}
	items := make([]jinja.Value, len(msgs))
	for i, m := range msgs {
		d := jinja.NewDict()
		d.AsDict().Set("role", jinja.NewString(m.Role))
		d.AsDict().Set("content", jinja.NewString(m.Content))
		if m.ReasoningContent != "" {
			d.AsDict().Set("reasoning_content", jinja.NewString(m.ReasoningContent))
		}
		items[i] = d
	}
	return t.render(jinja.NewList(items), opt)
}

// RenderJSON renders a JSON list of message objects, keeping every field
// (reasoning_content, tool_calls, ...) and the key order as written.
func (t *Template) RenderJSON(messages []byte, opt Options) (string, error) {
	v, err := parseJSONValue(messages)
	if err != nil {
		return "", fmt.Errorf("chat %s: messages: %w", t.name, err)
	}
	if !v.IsList() {
		return "", fmt.Errorf("chat %s: messages: want a JSON list of message objects", t.name)
	}
	if v.AsList().Len() == 0 {
		return "", fmt.Errorf("chat %s: no messages", t.name)
	}
	for i, m := range v.AsList().Items {
		if !m.IsDict() {
			return "", fmt.Errorf("chat %s: message %d is not an object", t.name, i)
		}
	}
	return t.render(v, opt)
}

func (t *Template) render(messages jinja.Value, opt Options) (string, error) {
	return t.renderWith(messages, opt, nil)
}

// renderWith renders with extra variables set last (tests pass ordered
// dicts this way).
func (t *Template) renderWith(messages jinja.Value, opt Options, extra map[string]jinja.Value) (string, error) {
	data := make(map[string]jinja.Value, len(t.special)+8+len(extra))
	for _, s := range t.special {
		data[s.key] = s.value
	}
	data["messages"] = messages
	data["tools"] = jinja.None()
	data["documents"] = jinja.None()
	data["add_generation_prompt"] = jinja.NewBool(opt.AddGenerationPrompt)
	now := opt.Now
	data["strftime_now"] = jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 || !args[0].IsString() {
			return jinja.Undefined(), errors.New("strftime_now: want one format string")
		}
		at := now
		if at.IsZero() {
			at = time.Now()
		}
		s, err := strftime(at, args[0].AsString())
		if err != nil {
			return jinja.Undefined(), err
		}
		return jinja.NewString(s), nil
	})
	if opt.EnableThinking != nil {
		data["enable_thinking"] = jinja.NewBool(*opt.EnableThinking)
	}
	for k, v := range opt.Vars {
		data[k] = jinja.FromGoValue(v)
	}
	for k, v := range extra {
		data[k] = v
	}
	out, err := t.prog.RenderValues(data)
	if err != nil {
		return "", fmt.Errorf("chat template %s: render%s: %w", t.name, locate(t.source, err.Error()), err)
	}
	return out, nil
}

// locate finds the template line a render error is about, since the
// engine's run-time errors carry no position: the first line holding a
// name the message quotes (unknown filter "x"), the expression it says is
// not callable, or the raise_exception message itself. "" when none is
// found.
func locate(source, msg string) string {
	var needles []string
	for rest := msg; ; {
		i := strings.IndexByte(rest, '"')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '"')
		if j < 0 {
			break
		}
		needles = append(needles, rest[i+1:i+1+j])
		rest = rest[i+j+2:]
	}
	if expr, _, ok := strings.Cut(msg, " is not callable"); ok {
		// The engine writes subscripts as [item]: fall back on the last
		// attribute, as written in the source.
		needles = append(needles, expr)
		if i := strings.LastIndexByte(expr, '.'); i >= 0 {
			needles = append(needles, expr[i:]+"(")
		}
	}
	needles = append(needles, msg)
	lines := strings.Split(source, "\n")
	for _, n := range needles {
		if strings.TrimSpace(n) == "" {
			continue
		}
		for i, l := range lines {
			if strings.Contains(l, n) {
				return fmt.Sprintf(" (near line %d: %s)", i+1, strings.TrimSpace(l))
			}
		}
	}
	return ""
}

// RenderIDs renders msgs and encodes the text without adding special tokens
// (as apply_chat_template(tokenize=True) does); the template's own special
// tokens are matched whole.
func (t *Template) RenderIDs(tok *tokenizer.Tokenizer, msgs []Message, opt Options) ([]int32, error) {
	s, err := t.Render(msgs, opt)
	if err != nil {
		return nil, err
	}
	return tok.Encode(s), nil
}

// ContinueTurn returns prefix + response + Encode(insert) in a new slice:
// text inserted inside the same assistant turn after a generated response,
// without re-tokenising the response (so its ids stay those sampled).
// prefix must be a rendering with AddGenerationPrompt, whose end is where
// the assistant's content starts; Template.CheckContinuation says whether
// a template satisfies that.
func ContinueTurn(tok *tokenizer.Tokenizer, prefix, response []int32, insert string) []int32 {
	out := make([]int32, 0, len(prefix)+len(response)+len(insert)/2+4)
	out = append(out, prefix...)
	out = append(out, response...)
	return tok.AppendEncode(out, insert)
}
