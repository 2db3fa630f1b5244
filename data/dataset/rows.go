package dataset

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// bad builds a malformed-row error at r's location.
func bad(r record, format string, args ...any) error {
	return &rowError{loc: r.loc, msg: fmt.Sprintf(format, args...)}
}

// scalarString converts a scalar field value to text. ok is false for
// values that are not scalars (lists, objects).
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float32:
		return formatFloat(float64(x), 32), true
	case float64:
		return formatFloat(x, 64), true
	case *big.Float:
		return x.Text('g', -1), true
	}
	return "", false
}

func formatFloat(f float64, bits int) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// field returns the named field as a string; present is false when the field
// is absent or null.
func field(r record, name string) (s string, present bool, err error) {
	v, ok := r.fields[name]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok = scalarString(v)
	if !ok {
		return "", true, bad(r, "field %q: want a string, got %T", name, v)
	}
	return s, true, nil
}

// firstField returns the first present field among names.
func firstField(r record, names []string) (s, name string, err error) {
	for _, n := range names {
		s, present, err := field(r, n)
		if err != nil {
			return "", n, err
		}
		if present {
			return s, n, nil
		}
	}
	return "", "", nil
}

// rowID returns the row's id field or its location.
func rowID(r record) string {
	for _, n := range []string{"id", "task_id", "unique_id", "idx", "problem_id"} {
		if s, present, err := field(r, n); err == nil && present && s != "" {
			return s
		}
	}
	return r.loc
}

// GSM8KAnswer returns the final answer of a GSM8K-style solution (the text
// after the last "####", with thousands separators removed) and whether the
// marker was present.
func GSM8KAnswer(solution string) (string, bool) {
	i := strings.LastIndex(solution, "####")
	if i < 0 {
		return "", false
	}
	ans := strings.TrimSpace(solution[i+4:])
	if j := strings.IndexByte(ans, '\n'); j >= 0 {
		ans = strings.TrimSpace(ans[:j])
	}
	ans = strings.ReplaceAll(ans, ",", "")
	return ans, ans != ""
}

// LastBoxed returns the content of the last \boxed{...} (or \fbox{...}) in s,
// matching braces, and whether one was found.
func LastBoxed(s string) (string, bool) {
	best := -1
	for _, tag := range []string{`\boxed`, `\fbox`} {
		if i := strings.LastIndex(s, tag); i > best {
			best = i
		}
	}
	for best >= 0 {
		j := best + len(`\boxed`)
		if strings.HasPrefix(s[best:], `\fbox`) {
			j = best + len(`\fbox`)
		}
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j < len(s) && s[j] == '{' {
			depth := 0
			for k := j; k < len(s); k++ {
				switch s[k] {
				case '{':
					depth++
				case '}':
					depth--
					if depth == 0 {
						return s[j+1 : k], true
					}
				}
			}
		}
		// Unbalanced or bare \boxed: try an earlier one.
		prev := -1
		for _, tag := range []string{`\boxed`, `\fbox`} {
			if i := strings.LastIndex(s[:best], tag); i > prev {
				prev = i
			}
		}
		best = prev
	}
	return "", false
}

var defaultMathQuestion = []string{"question", "problem", "prompt"}

// mathQuestion finds the question: the first present of names, where a
// message list (chat rows, verl's prompt) gives its last user message and
// the final assistant message as the reply; then the chat fields.
func mathQuestion(r record, names []string, opt Options) (q, reply string, err error) {
	for _, n := range names {
		v, ok := lookup(r, n)
		if !ok {
			continue
		}
		if s, isScalar := scalarString(v); isScalar {
			return s, "", nil
		}
		turns, isList, err := messagesOf(r, n)
		if err != nil {
			return "", "", err
		}
		if !isList {
			return "", "", bad(r, "field %q: want a string or a message list, got %T", n, v)
		}
		return chatQuestion(r, n, turns)
	}
	if opt.QuestionField == "" {
		if q, rep, ok, err := chatRow(r, opt); ok || err != nil {
			return q, rep, err
		}
	}
	return "", "", nil
}

// decodeMath turns a record into a MathExample.
func decodeMath(r record, opt Options) (MathExample, error) {
	qNames := defaultMathQuestion
	if opt.QuestionField != "" {
		qNames = []string{opt.QuestionField}
	}
	q, reply, err := mathQuestion(r, qNames, opt)
	if err != nil {
		return MathExample{}, err
	}
	if strings.TrimSpace(q) == "" {
		return MathExample{}, bad(r, "missing question (fields %s, or a \"messages\" list with a user message; "+
			"set data.question_field to name another field)", strings.Join(qNames, "|"))
	}
	ansNames := answerPaths
	if opt.AnswerField != "" {
		ansNames = []string{opt.AnswerField}
	}
	solName := opt.SolutionField
	if solName == "" {
		solName = "solution"
	}
	var ans, ansName string
	hasAns := false
	for _, n := range ansNames {
		a, present, err := pathField(r, n)
		if err != nil {
			return MathExample{}, err
		}
		if present {
			ans, ansName, hasAns = a, n, true
			break
		}
	}
	sol, hasSol, err := pathField(r, solName)
	if err != nil {
		return MathExample{}, err
	}
	if !hasSol && reply != "" {
		sol, hasSol, solName = reply, true, "the final assistant message"
	}
	id := verlID(r)
	if id == "" {
		id = rowID(r)
	}
	ex := MathExample{ID: id, Question: q, Solution: sol}
	switch {
	case hasAns && strings.Contains(ans, "####"):
		a, ok := GSM8KAnswer(ans)
		if !ok {
			return MathExample{}, bad(r, "field %q: empty answer after ####", ansName)
		}
		ex.Answer = a
		if !hasSol {
			ex.Solution = ans
		}
	case hasAns:
		ex.Answer = strings.TrimSpace(ans)
	case hasSol:
		if a, ok := GSM8KAnswer(sol); ok {
			ex.Answer = a
		} else if a, ok := LastBoxed(sol); ok {
			ex.Answer = strings.TrimSpace(a)
		} else {
			return MathExample{}, bad(r, "no answer field (%s) and %s has neither \"#### x\" nor \\boxed{x} (set data.answer_field)",
				strings.Join(ansNames, "|"), quoteField(solName))
		}
	default:
		return MathExample{}, bad(r, "missing answer: none of %s or %q present (set data.answer_field / data.solution_field)",
			strings.Join(ansNames, "|"), solName)
	}
	if ex.Answer == "" {
		return MathExample{}, bad(r, "empty answer")
	}
	return ex, nil
}

// quoteField quotes a field name, not a description.
func quoteField(name string) string {
	if strings.Contains(name, " ") {
		return name
	}
	return fmt.Sprintf("field %q", name)
}

var defaultCodePrompt = []string{"prompt", "question", "problem", "text"}

// decodeCode turns a record into a CodeExample. Accepted test layouts:
//   - "tests": [{"input": ..., "output": ...}, ...] (or that list as a JSON string);
//   - "input_output": {"inputs": [...], "outputs": [...]} (APPS; object or JSON string);
//   - "test" (+ optional "entry_point"): HumanEval;
//   - "test_list": ["assert ...", ...] (MBPP), joined by newlines into Test,
//     with "test_setup_code" prepended when present.
func decodeCode(r record, opt Options) (CodeExample, error) {
	pNames := defaultCodePrompt
	if opt.QuestionField != "" {
		pNames = []string{opt.QuestionField}
	}
	p, _, err := mathQuestion(r, pNames, opt)
	if err != nil {
		return CodeExample{}, err
	}
	if strings.TrimSpace(p) == "" && opt.QuestionField == "" {
		if p, err = codeforcesPrompt(r); err != nil {
			return CodeExample{}, err
		}
	}
	if strings.TrimSpace(p) == "" {
		return CodeExample{}, bad(r, "missing prompt (fields %s, \"description\", or a \"messages\" list; set data.question_field)", strings.Join(pNames, "|"))
	}
	id := verlID(r)
	if id == "" {
		id = rowID(r)
	}
	ex := CodeExample{ID: id, Prompt: p}
	if v, ok := r.fields["tests"]; ok && v != nil {
		tests, err := decodeTests(r, "tests", v)
		if err != nil {
			return CodeExample{}, err
		}
		ex.Tests = tests
	} else if v, ok := r.fields["input_output"]; ok && v != nil {
		tests, err := decodeInputsOutputs(r, v)
		if err != nil {
			return CodeExample{}, err
		}
		ex.Tests = tests
	} else {
		tests, err := extraCodeTests(r)
		if err != nil {
			return CodeExample{}, err
		}
		ex.Tests = tests
	}
	test, hasTest, err := field(r, "test")
	if err != nil {
		return CodeExample{}, err
	}
	if hasTest {
		ex.Test = test
	} else if v, ok := r.fields["test_list"]; ok && v != nil {
		list, ok := asList(v)
		if !ok {
			return CodeExample{}, bad(r, "field \"test_list\": want a list of strings, got %T", v)
		}
		var lines []string
		if setup, present, _ := field(r, "test_setup_code"); present && strings.TrimSpace(setup) != "" {
			lines = append(lines, setup)
		}
		for i, item := range list {
			s, ok := scalarString(item)
			if !ok {
				return CodeExample{}, bad(r, "test_list[%d]: want a string, got %T", i, item)
			}
			lines = append(lines, s)
		}
		ex.Test = strings.Join(lines, "\n")
	}
	ep, _, err := field(r, "entry_point")
	if err != nil {
		return CodeExample{}, err
	}
	ex.EntryPoint = strings.TrimSpace(ep)
	if len(ex.Tests) == 0 && strings.TrimSpace(ex.Test) == "" {
		return CodeExample{}, bad(r, "no tests: want \"tests\", \"input_output\", \"test\", \"test_list\", \"official_tests\", \"examples\" or reward_model.ground_truth")
	}
	if ex.EntryPoint != "" && strings.TrimSpace(ex.Test) == "" {
		return CodeExample{}, bad(r, "entry_point %q without test code", ex.EntryPoint)
	}
	return ex, nil
}

// asList converts a decoded list value ([]any or a typed slice) to []any.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case []map[string]any:
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

// decodeJSONString parses a JSON-in-a-string field value.
func decodeJSONString(r record, name, s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, bad(r, "field %q: string is not valid JSON: %v", name, err)
	}
	return v, nil
}

func decodeTests(r record, name string, v any) ([]CodeTest, error) {
	if s, ok := v.(string); ok {
		var err error
		if v, err = decodeJSONString(r, name, s); err != nil {
			return nil, err
		}
	}
	list, ok := asList(v)
	if !ok {
		return nil, bad(r, "field %q: want a list of {input, output}, got %T", name, v)
	}
	out := make([]CodeTest, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, bad(r, "%s[%d]: want an object {input, output}, got %T", name, i, item)
		}
		in, okIn := scalarString(m["input"])
		outS, okOut := scalarString(m["output"])
		if !okIn || !okOut {
			return nil, bad(r, "%s[%d]: want string fields \"input\" and \"output\"", name, i)
		}
		out = append(out, CodeTest{Input: in, Output: outS})
	}
	if len(out) == 0 {
		return nil, bad(r, "field %q: empty test list", name)
	}
	return out, nil
}

func decodeInputsOutputs(r record, v any) ([]CodeTest, error) {
	if s, ok := v.(string); ok {
		var err error
		if v, err = decodeJSONString(r, "input_output", s); err != nil {
			return nil, err
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, bad(r, "field \"input_output\": want {inputs, outputs}, got %T", v)
	}
	ins, ok1 := asList(m["inputs"])
	outs, ok2 := asList(m["outputs"])
	if !ok1 || !ok2 || len(ins) != len(outs) || len(ins) == 0 {
		return nil, bad(r, "field \"input_output\": want equally long non-empty lists inputs and outputs")
	}
	tests := make([]CodeTest, len(ins))
	for i := range ins {
		in, okIn := scalarString(ins[i])
		out, okOut := scalarString(outs[i])
		if !okIn || !okOut {
			return nil, bad(r, "input_output[%d]: want strings", i)
		}
		tests[i] = CodeTest{Input: in, Output: out}
	}
	return tests, nil
}
