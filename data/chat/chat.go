// Package chat renders conversations with a model's chat template.
//
// Jinja templates are not interpreted: a built-in Go renderer is selected
// from the template text and refuses what it cannot render exactly.
// Recognised (whitespace-insensitive exact match of the template text):
//
//   - "qwen3": Qwen3's hybrid-thinking template (enable_thinking, the
//     <think> handling of assistant history). Revised Qwen3 templates are
//     also recognised by their features (<|im_start|>, enable_thinking,
//     <think>, last_query_index, reasoning_content).
//   - "qwen2.5": Qwen2.5's ChatML with the "You are Qwen, created by Alibaba
//     Cloud. You are a helpful assistant." default system prompt.
//   - "qwen2": Qwen2's ChatML with the "You are a helpful assistant." default.
//   - "chatml": plain ChatML, no default system prompt (sdzero's demo).
//   - "llama3": Llama 3 Instruct (bos_token, header ids, <|eot_id|>).
//
// Tool definitions and tool calls are not supported; "tool" messages are
// (Qwen templates).
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
	"unicode"

	"sdzero/data/tokenizer"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Options are the template variables callers set.
type Options struct {
	// AddGenerationPrompt appends the header of an assistant turn.
	AddGenerationPrompt bool
	// EnableThinking is Qwen3's enable_thinking (nil: the template default,
	// thinking on). Ignored by templates without it.
	EnableThinking *bool
}

// Template is a recognised chat template.
type Template struct {
	name   string
	render func(t *Template, msgs []Message, opt Options) (string, error)
	// endOfTurn ends every turn; extraStops are other generation stops.
	endOfTurn  string
	extraStops []string
	bosToken   string // Llama 3 prepends it
}

//go:embed templates/*.jinja
var templateFS embed.FS

// builtin lists the renderers by name.
var builtin = map[string]Template{
	"qwen3":   {name: "qwen3", render: renderQwen3, endOfTurn: "<|im_end|>", extraStops: []string{"<|endoftext|>"}},
	"qwen2.5": {name: "qwen2.5", render: renderQwen25, endOfTurn: "<|im_end|>", extraStops: []string{"<|endoftext|>"}},
	"qwen2":   {name: "qwen2", render: renderQwen2, endOfTurn: "<|im_end|>", extraStops: []string{"<|endoftext|>"}},
	"chatml":  {name: "chatml", render: renderChatML, endOfTurn: "<|im_end|>", extraStops: []string{"<|endoftext|>"}},
	"llama3":  {name: "llama3", render: renderLlama3, endOfTurn: "<|eot_id|>", extraStops: []string{"<|end_of_text|>"}},
}

// Names lists the built-in template names.
func Names() []string {
	names := make([]string, 0, len(builtin))
	for n := range builtin {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Source returns the Jinja text a built-in renderer reproduces.
func Source(name string) (string, error) {
	b, err := templateFS.ReadFile("templates/" + name + ".jinja")
	if err != nil {
		return "", fmt.Errorf("chat template %q: not built in (known: %s)", name, strings.Join(Names(), ", "))
	}
	return string(b), nil
}

// Named returns a built-in template by name. bosToken is used by templates
// that print it (llama3).
func Named(name, bosToken string) (*Template, error) {
	b, ok := builtin[name]
	if !ok {
		return nil, fmt.Errorf("chat template %q: not built in (known: %s)", name, strings.Join(Names(), ", "))
	}
	b.bosToken = bosToken
	if name == "llama3" && bosToken == "" {
		b.bosToken = "<|begin_of_text|>"
	}
	return &b, nil
}

// squash removes all whitespace, for whitespace-insensitive comparison.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// Recognize selects the built-in renderer for a Jinja chat template text,
// or returns an error naming what it could not match.
func Recognize(source, bosToken string) (*Template, error) {
	sq := squash(source)
	for _, name := range Names() {
		src, err := Source(name)
		if err != nil {
			return nil, err
		}
		if squash(src) == sq {
			return Named(name, bosToken)
		}
	}
	if strings.Contains(source, "<|im_start|>") && strings.Contains(source, "enable_thinking") &&
		strings.Contains(source, "<think>") && strings.Contains(source, "last_query_index") &&
		strings.Contains(source, "reasoning_content") {
		return Named("qwen3", bosToken)
	}
	head := source
	if len(head) > 120 {
		head = head[:120] + "..."
	}
	return nil, fmt.Errorf("unrecognised chat template %q: known templates are %s; name one explicitly with LoadDirAs",
		head, strings.Join(Names(), ", "))
}

// tokenizerConfig is the part of tokenizer_config.json this package reads.
type tokenizerConfig struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	BOSToken     json.RawMessage `json:"bos_token"`
}

// readConfig reads dir/tokenizer_config.json (absent is not an error) and
// returns its chat template source (or dir/chat_template.jinja, where newer
// transformers save it) and bos token.
func readConfig(dir string) (source, bos string, err error) {
	path := filepath.Join(dir, "tokenizer_config.json")
	data, err := os.ReadFile(path)
	var cfg tokenizerConfig
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", "", fmt.Errorf("chat: %w", err)
	default:
		if err := json.Unmarshal(data, &cfg); err != nil {
			return "", "", fmt.Errorf("chat: %s: %w", path, err)
		}
	}
	if len(cfg.BOSToken) > 0 && string(cfg.BOSToken) != "null" {
		if err := json.Unmarshal(cfg.BOSToken, &bos); err != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if err := json.Unmarshal(cfg.BOSToken, &obj); err != nil {
				return "", "", fmt.Errorf("chat: %s: bos_token: %w", path, err)
			}
			bos = obj.Content
		}
	}
	if len(cfg.ChatTemplate) > 0 && string(cfg.ChatTemplate) != "null" {
		if err := json.Unmarshal(cfg.ChatTemplate, &source); err != nil {
			// A list of named templates: use "default".
			var named []struct {
				Name     string `json:"name"`
				Template string `json:"template"`
			}
			if err := json.Unmarshal(cfg.ChatTemplate, &named); err != nil {
				return "", "", fmt.Errorf("chat: %s: chat_template is neither a string nor a list of named templates", path)
			}
			for _, n := range named {
				if n.Name == "default" {
					source = n.Template
				}
			}
			if source == "" {
				return "", "", fmt.Errorf("chat: %s: chat_template list has no \"default\" entry", path)
			}
		}
	}
	if source == "" {
		if b, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
			source = string(b)
		}
	}
	return source, bos, nil
}

// LoadDir selects the renderer for the chat template of a model or
// tokenizer directory (tokenizer_config.json's chat_template, or
// chat_template.jinja). An unknown or missing template is an error.
func LoadDir(dir string) (*Template, error) {
	source, bos, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	if source == "" {
		return nil, fmt.Errorf("chat: no chat template in %s (tokenizer_config.json chat_template or chat_template.jinja); use LoadDirAs with one of %s",
			dir, strings.Join(Names(), ", "))
	}
	t, err := Recognize(source, bos)
	if err != nil {
		return nil, fmt.Errorf("chat: %s: %w", dir, err)
	}
	return t, nil
}

// LoadDirAs returns the built-in template name for dir, whatever template
// the directory has (or lacks); dir's tokenizer_config.json, if present,
// supplies the bos token.
func LoadDirAs(dir, name string) (*Template, error) {
	_, bos, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	return Named(name, bos)
}

// Name is the built-in renderer's name.
func (t *Template) Name() string { return t.name }

// Render renders msgs as the template does.
func (t *Template) Render(msgs []Message, opt Options) (string, error) {
	if len(msgs) == 0 {
		return "", fmt.Errorf("chat %s: no messages", t.name)
	}
	return t.render(t, msgs, opt)
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

// EndOfTurnID is the id of the token that closes a turn (<|im_end|> for
// ChatML templates, <|eot_id|> for Llama 3).
func (t *Template) EndOfTurnID(tok *tokenizer.Tokenizer) (int32, error) {
	id, ok := tok.TokenID(t.endOfTurn)
	if !ok {
		return -1, fmt.Errorf("chat %s: end-of-turn token %q is not in the tokenizer", t.name, t.endOfTurn)
	}
	return id, nil
}

// StopIDs are the ids that end generation: the end-of-turn token, the
// template's end-of-text token and the tokenizer's eos token, each once and
// only if the tokenizer has it.
func (t *Template) StopIDs(tok *tokenizer.Tokenizer) []int32 {
	var ids []int32
	add := func(s string) {
		if id, ok := tok.TokenID(s); ok && s != "" {
			for _, x := range ids {
				if x == id {
					return
				}
			}
			ids = append(ids, id)
		}
	}
	add(t.endOfTurn)
	for _, s := range t.extraStops {
		add(s)
	}
	if s, _, ok := tok.EOS(); ok {
		add(s)
	}
	return ids
}

// ContinueTurn returns prefix + response + Encode(insert) in a new slice:
// text inserted inside the same assistant turn after a generated response,
// without re-tokenising the response (so its ids stay those sampled).
func ContinueTurn(tok *tokenizer.Tokenizer, prefix, response []int32, insert string) []int32 {
	out := make([]int32, 0, len(prefix)+len(response)+len(insert)/2+4)
	out = append(out, prefix...)
	out = append(out, response...)
	return tok.AppendEncode(out, insert)
}
