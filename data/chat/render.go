package chat

import (
	"fmt"
	"strings"
	"unicode"
)

// The renderers below follow their templates in templates/ line by line;
// testdata/rendered.json holds jinja2's output for them.

// renderChatML is templates/chatml.jinja: every message as a ChatML block.
func renderChatML(_ *Template, msgs []Message, opt Options) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		writeBlock(&b, m.Role, m.Content)
	}
	if opt.AddGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}

func writeBlock(b *strings.Builder, role, content string) {
	b.WriteString("<|im_start|>")
	b.WriteString(role)
	b.WriteString("\n")
	b.WriteString(content)
	b.WriteString("<|im_end|>\n")
}

// renderQwen2 is templates/qwen2.jinja: ChatML with a default system prompt.
func renderQwen2(_ *Template, msgs []Message, opt Options) (string, error) {
	var b strings.Builder
	if msgs[0].Role != "system" {
		b.WriteString("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
	}
	for _, m := range msgs {
		writeBlock(&b, m.Role, m.Content)
	}
	if opt.AddGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}

func checkRoles(name string, msgs []Message) error {
	for i, m := range msgs {
		switch m.Role {
		case "system", "user", "assistant", "tool":
		default:
			// The template would silently drop the message.
			return fmt.Errorf("chat %s: message %d has role %q (want system, user, assistant or tool)", name, i, m.Role)
		}
	}
	return nil
}

// writeTool renders a "tool" message as the Qwen templates do: consecutive
// tool messages share one user block.
func writeTool(b *strings.Builder, msgs []Message, i int) {
	if i == 0 || msgs[i-1].Role != "tool" {
		b.WriteString("<|im_start|>user")
	}
	b.WriteString("\n<tool_response>\n")
	b.WriteString(msgs[i].Content)
	b.WriteString("\n</tool_response>")
	if i == len(msgs)-1 || msgs[i+1].Role != "tool" {
		b.WriteString("<|im_end|>\n")
	}
}

// renderQwen25 is templates/qwen2.5.jinja without tools.
func renderQwen25(t *Template, msgs []Message, opt Options) (string, error) {
	if err := checkRoles(t.name, msgs); err != nil {
		return "", err
	}
	var b strings.Builder
	if msgs[0].Role == "system" {
		writeBlock(&b, "system", msgs[0].Content)
	} else {
		b.WriteString("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n")
	}
	for i, m := range msgs {
		switch {
		case m.Role == "user", m.Role == "system" && i > 0, m.Role == "assistant":
			writeBlock(&b, m.Role, m.Content)
		case m.Role == "tool":
			writeTool(&b, msgs, i)
		}
	}
	if opt.AddGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}

// renderQwen3 is templates/qwen3.jinja without tools: assistant turns
// after the last user query keep their reasoning in a <think> block (the
// last turn always gets one); earlier ones lose it.
func renderQwen3(t *Template, msgs []Message, opt Options) (string, error) {
	if err := checkRoles(t.name, msgs); err != nil {
		return "", err
	}
	var b strings.Builder
	if msgs[0].Role == "system" {
		writeBlock(&b, "system", msgs[0].Content)
	}
	lastQuery := len(msgs) - 1
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Role == "user" && !(strings.HasPrefix(m.Content, "<tool_response>") && strings.HasSuffix(m.Content, "</tool_response>")) {
			lastQuery = i
			break
		}
	}
	for i, m := range msgs {
		switch {
		case m.Role == "user" || (m.Role == "system" && i > 0):
			writeBlock(&b, m.Role, m.Content)
		case m.Role == "assistant":
			content, reasoning := m.Content, ""
			if strings.Contains(m.Content, "</think>") {
				content = strings.TrimLeft(afterLast(m.Content, "</think>"), "\n")
				before := strings.TrimRight(beforeFirst(m.Content, "</think>"), "\n")
				reasoning = strings.TrimLeft(afterLast(before, "<think>"), "\n")
			}
			b.WriteString("<|im_start|>assistant\n")
			if i > lastQuery && (i == len(msgs)-1 || reasoning != "") {
				b.WriteString("<think>\n")
				b.WriteString(strings.Trim(reasoning, "\n"))
				b.WriteString("\n</think>\n\n")
				b.WriteString(strings.TrimLeft(content, "\n"))
			} else {
				b.WriteString(content)
			}
			b.WriteString("<|im_end|>\n")
		case m.Role == "tool":
			writeTool(&b, msgs, i)
		}
	}
	if opt.AddGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
		if opt.EnableThinking != nil && !*opt.EnableThinking {
			b.WriteString("<think>\n\n</think>\n\n")
		}
	}
	return b.String(), nil
}

// afterLast is Python's s.split(sep)[-1].
func afterLast(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}

// beforeFirst is Python's s.split(sep)[0].
func beforeFirst(s, sep string) string {
	if i := strings.Index(s, sep); i >= 0 {
		return s[:i]
	}
	return s
}

// pyStrip is Python's str.strip(): Jinja's trim filter.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	})
}

// renderLlama3 is templates/llama3.jinja (Llama 3 Instruct).
func renderLlama3(t *Template, msgs []Message, opt Options) (string, error) {
	var b strings.Builder
	for i, m := range msgs {
		if i == 0 {
			b.WriteString(t.bosToken)
		}
		b.WriteString("<|start_header_id|>")
		b.WriteString(m.Role)
		b.WriteString("<|end_header_id|>\n\n")
		b.WriteString(pyStrip(m.Content))
		b.WriteString("<|eot_id|>")
	}
	if opt.AddGenerationPrompt {
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	}
	return b.String(), nil
}
