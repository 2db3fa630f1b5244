package dataset

import (
	"fmt"
	"strings"
)

// The layouts people already have, recognised by their fields (see
// docs/data.md for the full mapping):
//
//   - chat rows: "messages": [{"role", "content"}, ...]; the question is the
//     last user message (before a final assistant message, which is the
//     solution when present);
//   - verl: "prompt" as a message list, the answer in
//     "reward_model": {"ground_truth": ...}, the id in "extra_info.index";
//     code rows with the tests as ground_truth ({"inputs", "outputs"} or a
//     list of {"input", "output"}, possibly JSON in a string);
//   - Hugging Face datasets: GSM8K (question, answer with "####"), MATH
//     (problem, solution with \boxed), MATH-500 and OpenR1-Math (problem,
//     solution, answer), APPS (question, input_output), Codeforces-style
//     (description / input_format / output_format, official_tests or
//     examples).
//
// Field options may name nested fields with dots ("reward_model.ground_truth").

// lookup returns the value at a dotted path of nested objects.
func lookup(r record, path string) (any, bool) {
	if v, ok := r.fields[path]; ok {
		return v, v != nil
	}
	parts := strings.Split(path, ".")
	var cur any = r.fields
	for _, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok || cur == nil {
			return nil, false
		}
	}
	return cur, true
}

// pathField is field for a dotted path.
func pathField(r record, path string) (s string, present bool, err error) {
	v, ok := lookup(r, path)
	if !ok {
		return "", false, nil
	}
	s, ok = scalarString(v)
	if !ok {
		return "", true, bad(r, "field %q: want a string, got %T", path, v)
	}
	return s, true, nil
}

// chatTurn is one message of a chat-formatted row.
type chatTurn struct{ role, content string }

// messagesOf decodes a message list field (nil, false when absent or not a
// message list).
func messagesOf(r record, name string) ([]chatTurn, bool, error) {
	v, ok := lookup(r, name)
	if !ok {
		return nil, false, nil
	}
	list, ok := asList(v)
	if !ok {
		return nil, false, nil
	}
	out := make([]chatTurn, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, true, bad(r, "%s[%d]: want a message {\"role\", \"content\"}, got %T", name, i, item)
		}
		role, okR := scalarString(m["role"])
		content, okC := scalarString(m["content"])
		if !okR || !okC {
			return nil, true, bad(r, "%s[%d]: want string fields \"role\" and \"content\"", name, i)
		}
		out = append(out, chatTurn{role: role, content: content})
	}
	return out, true, nil
}

// chatQuestion returns the last user message (before a final assistant
// message) and that assistant message, if any.
func chatQuestion(r record, name string, turns []chatTurn) (question, reply string, err error) {
	end := len(turns)
	if end > 0 && turns[end-1].role == "assistant" {
		reply = turns[end-1].content
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if turns[i].role == "user" {
			return turns[i].content, reply, nil
		}
	}
	return "", "", bad(r, "field %q: no user message", name)
}

// messageFields are where chat-formatted rows keep their conversation.
var messageFields = []string{"messages", "prompt", "conversations"}

// chatRow reads a chat-formatted row (messages, or verl's prompt list).
// ok is false when the row has no message list.
func chatRow(r record, opt Options) (question, reply string, ok bool, err error) {
	names := messageFields
	if opt.QuestionField != "" {
		names = []string{opt.QuestionField}
	}
	for _, n := range names {
		turns, isList, err := messagesOf(r, n)
		if err != nil {
			return "", "", true, err
		}
		if !isList {
			continue
		}
		q, rep, err := chatQuestion(r, n, turns)
		return q, rep, true, err
	}
	return "", "", false, nil
}

// answerPaths are where an answer may be when no answer field is named:
// the plain field and verl's reward model.
var answerPaths = []string{"answer", "reward_model.ground_truth", "ground_truth", "final_answer"}

// verlID is verl's row id when present.
func verlID(r record) string {
	if s, present, err := pathField(r, "extra_info.index"); err == nil && present && s != "" {
		if src, ok, _ := pathField(r, "data_source"); ok && src != "" {
			return fmt.Sprintf("%s-%s", src, s)
		}
		return s
	}
	return ""
}

// codeforcesPrompt assembles a statement from Codeforces-style fields
// (title, description, input_format, output_format, note), or "" when
// the row has no description.
func codeforcesPrompt(r record) (string, error) {
	desc, ok, err := pathField(r, "description")
	if err != nil || !ok || strings.TrimSpace(desc) == "" {
		return "", err
	}
	var b strings.Builder
	if t, ok, _ := pathField(r, "title"); ok && t != "" {
		b.WriteString(t + "\n\n")
	}
	b.WriteString(desc)
	for _, f := range []struct{ name, head string }{{"input_format", "Input"}, {"output_format", "Output"}, {"note", "Note"}} {
		if s, ok, _ := pathField(r, f.name); ok && strings.TrimSpace(s) != "" {
			b.WriteString("\n\n" + f.head + "\n" + s)
		}
	}
	return b.String(), nil
}

// ground-truth tests of verl code rows and Codeforces-style rows, in
// order of preference.
var codeTestPaths = []string{"reward_model.ground_truth", "official_tests", "examples"}

// extraCodeTests reads tests from the layouts above; nil when none.
func extraCodeTests(r record) ([]CodeTest, error) {
	for _, p := range codeTestPaths {
		v, ok := lookup(r, p)
		if !ok {
			continue
		}
		if s, isStr := v.(string); isStr {
			var err error
			if v, err = decodeJSONString(r, p, s); err != nil {
				return nil, err
			}
		}
		if m, isMap := v.(map[string]any); isMap {
			if _, has := m["inputs"]; has {
				return decodeInputsOutputs(r, m)
			}
			return nil, bad(r, "field %q: want {\"inputs\", \"outputs\"} or a list of {\"input\", \"output\"}", p)
		}
		return decodeTests(r, p, v)
	}
	return nil, nil
}
