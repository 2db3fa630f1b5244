package dataset

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestMathFormats reads one row of each layout in docs/data.md.
func TestMathFormats(t *testing.T) {
	tests := []struct {
		name, row string
		opt       Options
		want      MathExample
	}{
		{"gsm8k", `{"question": "Natalia sold 48 clips...", "answer": "48/2 = 24\n#### 72"}`, Options{},
			MathExample{Question: "Natalia sold 48 clips...", Answer: "72", Solution: "48/2 = 24\n#### 72"}},
		{"math", `{"problem": "Find x.", "solution": "So $x=\\boxed{5}$.", "level": "Level 2", "type": "Algebra"}`, Options{},
			MathExample{Question: "Find x.", Answer: "5", Solution: "So $x=\\boxed{5}$."}},
		{"math-500", `{"problem": "Compute.", "solution": "... \\boxed{\\frac12}", "answer": "\\frac{1}{2}", "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"}`, Options{},
			MathExample{ID: "test/algebra/1.json", Question: "Compute.", Answer: `\frac{1}{2}`, Solution: `... \boxed{\frac12}`}},
		{"openr1-math", `{"problem": "P", "solution": "S", "answer": "7", "problem_type": "Algebra", "messages": [{"role": "user", "content": "P"}, {"role": "assistant", "content": "<think>...</think> \\boxed{7}"}]}`, Options{},
			MathExample{Question: "P", Answer: "7", Solution: "S"}},
		{"chat", `{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "It is \\boxed{2}."}]}`, Options{},
			MathExample{Question: "1+1?", Answer: "2", Solution: "It is \\boxed{2}."}},
		{"chat multi-turn", `{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "2+2?"}], "answer": "4"}`, Options{},
			MathExample{Question: "2+2?", Answer: "4"}},
		{"verl", `{"data_source": "openai/gsm8k", "prompt": [{"role": "user", "content": "Q? Let's think step by step."}], "ability": "math", "reward_model": {"style": "rule", "ground_truth": "72"}, "extra_info": {"split": "train", "index": 3}}`, Options{},
			MathExample{ID: "openai/gsm8k-3", Question: "Q? Let's think step by step.", Answer: "72"}},
		{"dotted fields", `{"data": {"q": "Q", "a": "9"}}`, Options{QuestionField: "data.q", AnswerField: "data.a"},
			MathExample{Question: "Q", Answer: "9"}},
	}
	for _, tc := range tests {
		p := writeFile(t, "d.jsonl", tc.row+"\n")
		got, _, err := LoadMath(p, tc.opt)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		want := tc.want
		if want.ID == "" {
			want.ID = p + ":1"
		}
		if !reflect.DeepEqual(got[0], want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got[0], want)
		}
	}
}

func TestFormatErrors(t *testing.T) {
	tests := []struct{ row, want string }{
		{`{"messages": [{"role": "assistant", "content": "x"}]}`, "no user message"},
		{`{"messages": [{"role": "user"}]}`, `messages[0]: want string fields "role" and "content"`},
		{`{"prompt": [{"role": "user", "content": "Q"}]}`, "missing answer"},
		{`{"title": "x"}`, "data.question_field"},
		{`{"question": "q", "solution": "no marker"}`, "data.answer_field"},
	}
	for _, tc := range tests {
		p := writeFile(t, "e.jsonl", tc.row+"\n")
		_, _, err := LoadMath(p, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p+":1") {
			t.Errorf("%s: err %v, want one naming %s:1 and %q", tc.row, err, p, tc.want)
		}
	}
}

func TestCodeFormats(t *testing.T) {
	tests := []struct {
		name, row string
		want      CodeExample
	}{
		{"apps", `{"problem_id": 7, "question": "Read n, print 2n.", "solutions": "[\"print(2*int(input()))\"]", "input_output": "{\"inputs\": [\"2\\n\"], \"outputs\": [\"4\\n\"]}", "difficulty": "interview"}`,
			CodeExample{ID: "7", Prompt: "Read n, print 2n.", Tests: []CodeTest{{"2\n", "4\n"}}}},
		{"codeforces", `{"id": "1A", "title": "Theatre Square", "description": "Pave it.", "input_format": "n m a", "output_format": "count", "official_tests": [{"input": "6 6 4\n", "output": "4\n"}], "examples": [{"input": "1 1 1\n", "output": "1\n"}]}`,
			CodeExample{ID: "1A", Prompt: "Theatre Square\n\nPave it.\n\nInput\nn m a\n\nOutput\ncount", Tests: []CodeTest{{"6 6 4\n", "4\n"}}}},
		{"codeforces examples only", `{"id": "2B", "description": "Echo.", "examples": [{"input": "x\n", "output": "x\n"}]}`,
			CodeExample{ID: "2B", Prompt: "Echo.", Tests: []CodeTest{{"x\n", "x\n"}}}},
		{"verl code", `{"data_source": "codecontests", "prompt": [{"role": "user", "content": "Echo a line."}], "reward_model": {"style": "rule", "ground_truth": "{\"inputs\": [\"a\\n\"], \"outputs\": [\"a\\n\"]}"}, "extra_info": {"index": 0}}`,
			CodeExample{ID: "codecontests-0", Prompt: "Echo a line.", Tests: []CodeTest{{"a\n", "a\n"}}}},
	}
	for _, tc := range tests {
		p := writeFile(t, "c.jsonl", tc.row+"\n")
		got, _, err := LoadCode(p, Options{})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got[0], tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got[0], tc.want)
		}
	}
}

// verl's parquet layout: prompt as a list of structs, reward_model and
// extra_info as nested structs.
type pqMsg struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}
type pqReward struct {
	Style       string `parquet:"style"`
	GroundTruth string `parquet:"ground_truth"`
}
type pqExtra struct {
	Split string `parquet:"split"`
	Index int64  `parquet:"index"`
}
type pqVerl struct {
	DataSource  string   `parquet:"data_source"`
	Prompt      []pqMsg  `parquet:"prompt"`
	Ability     string   `parquet:"ability"`
	RewardModel pqReward `parquet:"reward_model"`
	ExtraInfo   pqExtra  `parquet:"extra_info"`
}

func TestVerlParquet(t *testing.T) {
	p := filepath.Join(t.TempDir(), "train.parquet")
	rows := []pqVerl{
		{"openai/gsm8k", []pqMsg{{"user", "Q0"}}, "math", pqReward{"rule", "72"}, pqExtra{"train", 0}},
		{"openai/gsm8k", []pqMsg{{"system", "S"}, {"user", "Q1"}}, "math", pqReward{"rule", "5"}, pqExtra{"train", 1}},
	}
	if err := parquet.WriteFile(p, rows); err != nil {
		t.Fatal(err)
	}
	got, _, err := LoadMath(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []MathExample{
		{ID: "openai/gsm8k-0", Question: "Q0", Answer: "72"},
		{ID: "openai/gsm8k-1", Question: "Q1", Answer: "5"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
