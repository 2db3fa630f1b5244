package chat

import (
	"fmt"
	"slices"
	"strings"

	"sdzero/data/tokenizer"
)

// Probe texts: contents no template rewrites (no surrounding whitespace,
// no think tags), so they can be found in the rendering.
const (
	probeUser   = "sdzero-probe-question"
	probeReply  = "sdzero-probe-reply"
	probeUser2  = "sdzero-probe-question-two"
	probeReply2 = "sdzero-probe-reply-two"
)

// Turn is how a template lays out an assistant turn, derived by rendering
// probe conversations.
type Turn struct {
	// Close is what the template writes after an assistant message that
	// another turn follows, up to that turn's content (for example
	// "<|im_end|>\n<|im_start|>user\n"): it starts with the end-of-turn
	// token.
	Close string
	// FinalClose is what the template writes after the last assistant
	// message (Olmo 3 writes eos_token there instead of <|im_end|>).
	FinalClose string
}

// AssistantTurn derives the template's assistant-turn layout from
// renderings of probe conversations: a question without and with the
// generation prompt, with a reply, and two rounds. The reply's content
// must start where the generation prompt ends: the generation prompt must
// be the conversation (as rendered without it) followed by at least the
// start of what the template writes before a reply's content (its
// header); past that the two may differ in what the template writes about
// reasoning (DeepSeek-R1's prompt opens "<think>\n", Qwen3 and Nemotron
// write an empty think block into history). A template without a
// generation prompt qualifies when only whitespace precedes the reply
// (Llama 2's "[/INST] "). Anything else is an error naming the template:
// the reviser context could not continue inside the assistant turn.
func (t *Template) AssistantTurn(opt Options) (Turn, error) {
	user := []Message{{Role: "user", Content: probeUser}}
	o := opt
	o.AddGenerationPrompt = false
	bare, err := t.Render(user, o)
	if err != nil {
		return Turn{}, fmt.Errorf("chat template %s: probe a user message: %w", t.name, err)
	}
	o.AddGenerationPrompt = true
	prompt, err := t.Render(user, o)
	if err != nil {
		return Turn{}, fmt.Errorf("chat template %s: probe the generation prompt: %w", t.name, err)
	}
	o.AddGenerationPrompt = false
	full, err := t.Render(append(user, Message{Role: "assistant", Content: probeReply}), o)
	if err != nil {
		return Turn{}, fmt.Errorf("chat template %s: probe an assistant message: %w", t.name, err)
	}
	at := strings.Index(full, probeReply)
	if at < 0 {
		return Turn{}, fmt.Errorf("chat template %s: an assistant message's content does not appear in the rendering %q", t.name, full)
	}
	head, final := full[:at], full[at+len(probeReply):]
	two := append(user, Message{Role: "assistant", Content: probeReply}, Message{Role: "user", Content: probeUser2}, Message{Role: "assistant", Content: probeReply2})
	longer, err := t.Render(two, o)
	if err != nil {
		return Turn{}, fmt.Errorf("chat template %s: probe a two-turn conversation: %w", t.name, err)
	}
	a, b := strings.Index(longer, probeReply), strings.Index(longer, probeUser2)
	if a < 0 || b < a {
		return Turn{}, fmt.Errorf("chat template %s: a two-turn conversation renders as %q, without the first reply before the second question", t.name, longer)
	}
	close := longer[a+len(probeReply) : b]
	conv := commonPrefix(bare, head) // the conversation before the reply's turn
	shared := commonPrefix(prompt, head)
	switch {
	case prompt == bare:
		if !strings.HasPrefix(head, prompt) || strings.TrimSpace(head[len(prompt):]) != "" {
			return Turn{}, fmt.Errorf("chat template %s: add_generation_prompt adds nothing, yet an assistant reply is preceded by %q; cannot derive where the reply starts",
				t.name, head[len(shared):])
		}
	case !strings.HasPrefix(prompt, conv) || len(shared) <= len(conv):
		return Turn{}, fmt.Errorf("chat template %s: the generation prompt ends with %q where an assistant reply is preceded by %q; cannot continue inside the assistant turn",
			t.name, prompt[len(shared):], head[len(shared):])
	}
	return Turn{Close: close, FinalClose: final}, nil
}

// CheckContinuation reports whether a rendering with AddGenerationPrompt
// ends where the assistant's content starts, so that the reviser context
// prompt + y + "\n\n" + P_r + "\n\n" continues inside the same assistant
// turn (see AssistantTurn).
func (t *Template) CheckContinuation(opt Options) error {
	_, err := t.AssistantTurn(opt)
	return err
}

func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return a[:i]
}

// EndOfTurnID is the id of the token that closes an assistant turn: the
// first special token the template writes after an assistant message that
// another turn follows (<|im_end|>, <|eot_id|>, <end_of_turn>, </s>), else
// after the last one, else the eos_token of tokenizer_config.json.
func (t *Template) EndOfTurnID(tok *tokenizer.Tokenizer) (int32, error) {
	turn, err := t.AssistantTurn(Options{})
	if err != nil {
		return -1, err
	}
	for _, s := range []string{turn.Close, turn.FinalClose} {
		if id, ok := firstSpecial(tok, s); ok {
			return id, nil
		}
	}
	if id, ok := t.eosID(tok); ok {
		return id, nil
	}
	return -1, fmt.Errorf("chat template %s: cannot derive the end-of-turn token: an assistant message ends with %q (%q when last), which holds no special token of the tokenizer, and there is no eos_token in its vocabulary",
		t.name, turn.Close, turn.FinalClose)
}

// firstSpecial is the first special token of the encoding of s.
func firstSpecial(tok *tokenizer.Tokenizer, s string) (int32, bool) {
	for _, id := range tok.Encode(s) {
		if tok.IsSpecial(id) {
			return id, true
		}
	}
	return -1, false
}

// eosID is the id of tokenizer_config.json's eos_token, if the tokenizer
// has it.
func (t *Template) eosID(tok *tokenizer.Tokenizer) (int32, bool) {
	for _, s := range t.special {
		if s.key == "eos_token" && s.value.IsString() {
			return tok.TokenID(s.value.AsString())
		}
	}
	return -1, false
}

// StopIDs are the ids that end generation: the end-of-turn token, the
// special token that closes a last assistant message, the eos_token of
// tokenizer_config.json and the tokenizer's own eos token, each once and
// only if the tokenizer has it. It is an error when the end-of-turn token
// cannot be derived.
func (t *Template) StopIDs(tok *tokenizer.Tokenizer) ([]int32, error) {
	eot, err := t.EndOfTurnID(tok)
	if err != nil {
		return nil, err
	}
	turn, err := t.AssistantTurn(Options{})
	if err != nil {
		return nil, err
	}
	ids := []int32{eot}
	add := func(id int32, ok bool) {
		if ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	add(firstSpecial(tok, turn.FinalClose))
	add(t.eosID(tok))
	if _, id, ok := tok.EOS(); ok {
		add(id, true)
	}
	return ids, nil
}
