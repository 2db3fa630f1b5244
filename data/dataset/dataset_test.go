package dataset

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMathJSONL(t *testing.T) {
	tests := []struct {
		name string
		rows string
		opt  Options
		want []MathExample
	}{
		{
			name: "question+answer",
			rows: `{"question":"1+1?","answer":"2"}` + "\n",
			want: []MathExample{{ID: "F:1", Question: "1+1?", Answer: "2"}},
		},
		{
			name: "problem+numeric answer+id",
			rows: `{"id":"p7","problem":"2*3?","answer":6}` + "\n\n" + `{"prompt":"x","answer":1.5}`,
			want: []MathExample{{ID: "p7", Question: "2*3?", Answer: "6"}, {ID: "F:3", Question: "x", Answer: "1.5"}},
		},
		{
			name: "gsm8k answer field",
			rows: `{"question":"q","answer":"3 + 4 = 7\n#### 1,234"}`,
			want: []MathExample{{ID: "F:1", Question: "q", Answer: "1234", Solution: "3 + 4 = 7\n#### 1,234"}},
		},
		{
			name: "MATH solution with boxed",
			rows: `{"problem":"q","solution":"so $\\boxed{\\frac{1}{2}}$."}`,
			want: []MathExample{{ID: "F:1", Question: "q", Answer: `\frac{1}{2}`, Solution: `so $\boxed{\frac{1}{2}}$.`}},
		},
		{
			name: "solution with ####",
			rows: `{"problem":"q","solution":"a\n#### 42"}`,
			want: []MathExample{{ID: "F:1", Question: "q", Answer: "42", Solution: "a\n#### 42"}},
		},
		{
			name: "custom fields",
			rows: `{"input":"what?","target":"-3","why":"because"}`,
			opt:  Options{QuestionField: "input", AnswerField: "target", SolutionField: "why"},
			want: []MathExample{{ID: "F:1", Question: "what?", Answer: "-3", Solution: "because"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "m.jsonl", tc.rows)
			got, sum, err := LoadMath(p, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want {
				tc.want[i].ID = strings.Replace(tc.want[i].ID, "F", p, 1)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			if sum.Loaded != len(tc.want) || sum.Skipped != 0 {
				t.Fatalf("summary %v", sum)
			}
		})
	}
}

func TestMalformedRows(t *testing.T) {
	rows := strings.Join([]string{
		`{"question":"ok","answer":"1"}`,
		`{"question":"no answer"}`,
		`not json`,
		`{"question":"ok2","answer":"2"}`,
		`[1,2]`,
		`{"question":{"a":1},"answer":"3"}`,
		`{"question":"q","answer":"#### "}`,
	}, "\n")
	p := writeFile(t, "bad.jsonl", rows)
	_, _, err := LoadMath(p, Options{})
	if err == nil || !strings.Contains(err.Error(), p+":2:") {
		t.Fatalf("want error naming %s:2, got %v", p, err)
	}
	got, sum, err := LoadMath(p, Options{SkipMalformed: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Answer != "2" {
		t.Fatalf("got %+v", got)
	}
	if sum.Rows != 7 || sum.Loaded != 2 || sum.Skipped != 5 || len(sum.Errors) != 5 {
		t.Fatalf("summary %+v", sum)
	}
	for i, line := range []int{2, 3, 5, 6, 7} {
		if !strings.HasPrefix(sum.Errors[i], p+":"+itoa(line)+":") {
			t.Errorf("error %d = %q, want line %d", i, sum.Errors[i], line)
		}
	}
	if !strings.Contains(sum.String(), "5 skipped") {
		t.Errorf("summary string %q", sum.String())
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestLoadErrors(t *testing.T) {
	if _, _, err := LoadMath("/nonexistent/x.jsonl", Options{}); err == nil {
		t.Fatal("missing file: want error")
	}
	p := writeFile(t, "x.csv", "a,b\n")
	if _, _, err := LoadMath(p, Options{}); err == nil || !strings.Contains(err.Error(), "extension") {
		t.Fatalf("csv: got %v", err)
	}
	p = writeFile(t, "x.parquet", "not parquet at all")
	if _, _, err := LoadMath(p, Options{}); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("bad parquet: got %v", err)
	}
}

func TestLoadCodeJSONL(t *testing.T) {
	rows := strings.Join([]string{
		`{"task_id":"a","prompt":"echo","tests":[{"input":"1\n","output":"1\n"},{"input":"x","output":"x"}]}`,
		`{"prompt":"p","tests":"[{\"input\":\"2\",\"output\":\"4\"}]"}`,
		`{"task_id":"HumanEval/0","prompt":"def f(x):\n","test":"def check(candidate):\n    assert candidate(1)==2\n","entry_point":"f"}`,
		`{"text":"write g","test_list":["assert g(1)==1","assert g(2)==4"],"test_setup_code":"import math"}`,
		`{"question":"apps","input_output":{"inputs":["1\n"],"outputs":["2\n"]}}`,
		`{"prompt":"no tests"}`,
		`{"prompt":"bad tests","tests":[{"input":1}]}`,
		`{"prompt":"ep only","entry_point":"f","tests":[{"input":"","output":""}]}`,
	}, "\n")
	p := writeFile(t, "c.jsonl", rows)
	got, sum, err := LoadCode(p, Options{SkipMalformed: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []CodeExample{
		{ID: "a", Prompt: "echo", Tests: []CodeTest{{"1\n", "1\n"}, {"x", "x"}}},
		{ID: p + ":2", Prompt: "p", Tests: []CodeTest{{"2", "4"}}},
		{ID: "HumanEval/0", Prompt: "def f(x):\n", Test: "def check(candidate):\n    assert candidate(1)==2\n", EntryPoint: "f"},
		{ID: p + ":4", Prompt: "write g", Test: "import math\nassert g(1)==1\nassert g(2)==4"},
		{ID: p + ":5", Prompt: "apps", Tests: []CodeTest{{"1\n", "2\n"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if sum.Skipped != 3 {
		t.Fatalf("summary %+v", sum)
	}
	if _, _, err := LoadCode(p, Options{}); err == nil || !strings.Contains(err.Error(), p+":6:") {
		t.Fatalf("want error at line 6, got %v", err)
	}
}

type pqMath struct {
	Problem string `parquet:"problem"`
	Answer  string `parquet:"answer"`
	Level   int64  `parquet:"level"`
}

type pqTest struct {
	Input  string `parquet:"input"`
	Output string `parquet:"output"`
}

type pqCode struct {
	TaskID string   `parquet:"task_id"`
	Prompt string   `parquet:"prompt"`
	Tests  []pqTest `parquet:"tests,list"`
}

func TestParquetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	mp := filepath.Join(dir, "math.parquet")
	rows := []pqMath{{"1+2?", "3", 1}, {"", "4", 2}, {"half?", `\frac{1}{2}`, 3}}
	if err := parquet.WriteFile(mp, rows); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadMath(mp, Options{})
	if err == nil || !strings.Contains(err.Error(), mp+": row 1") {
		t.Fatalf("want error naming row 1, got %v", err)
	}
	got, sum, err := LoadMath(mp, Options{SkipMalformed: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []MathExample{
		{ID: mp + ": row 0", Question: "1+2?", Answer: "3"},
		{ID: mp + ": row 2", Question: "half?", Answer: `\frac{1}{2}`},
	}
	if !reflect.DeepEqual(got, want) || sum.Skipped != 1 || sum.Rows != 3 {
		t.Fatalf("got %+v (%v)", got, sum)
	}

	cp := filepath.Join(dir, "code.parquet")
	crows := []pqCode{
		{"t0", "double", []pqTest{{"2\n", "4\n"}, {"5\n", "10\n"}}},
		{"t1", "id", []pqTest{{"x", "x"}}},
	}
	if err := parquet.WriteFile(cp, crows); err != nil {
		t.Fatal(err)
	}
	cgot, _, err := LoadCode(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cwant := []CodeExample{
		{ID: "t0", Prompt: "double", Tests: []CodeTest{{"2\n", "4\n"}, {"5\n", "10\n"}}},
		{ID: "t1", Prompt: "id", Tests: []CodeTest{{"x", "x"}}},
	}
	if !reflect.DeepEqual(cgot, cwant) {
		t.Fatalf("got %+v\nwant %+v", cgot, cwant)
	}
}

func TestWriteJSONLRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.jsonl")
	in := []MathExample{{ID: "a", Question: "q <&>", Answer: "1", Solution: "s\n\\boxed{1}"}, {ID: "b", Question: "r", Answer: "x+1"}}
	if err := WriteMathJSONL(p, in); err != nil {
		t.Fatal(err)
	}
	got, _, err := LoadMath(p, Options{})
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("got %+v, %v", got, err)
	}
	cp := filepath.Join(t.TempDir(), "c.jsonl")
	cin := []CodeExample{{ID: "c", Prompt: "p", Tests: []CodeTest{{"1", "2"}}}, {ID: "d", Prompt: "q", Test: "assert 1", EntryPoint: "f"}}
	if err := WriteCodeJSONL(cp, cin); err != nil {
		t.Fatal(err)
	}
	cgot, _, err := LoadCode(cp, Options{})
	if err != nil || !reflect.DeepEqual(cgot, cin) {
		t.Fatalf("got %+v, %v", cgot, err)
	}
}

func TestLastBoxed(t *testing.T) {
	tests := []struct{ in, want string }{
		{`a \boxed{1} b \boxed{2}`, "2"},
		{`\boxed{\frac{1}{2}}`, `\frac{1}{2}`},
		{`\fbox{7}`, "7"},
		{`\boxed{3} then \boxed{4`, "3"},
		{`\boxed {x}`, "x"},
	}
	for _, tc := range tests {
		got, ok := LastBoxed(tc.in)
		if !ok || got != tc.want {
			t.Errorf("LastBoxed(%q) = %q,%v want %q", tc.in, got, ok, tc.want)
		}
	}
	if _, ok := LastBoxed("no box"); ok {
		t.Error("no box: want false")
	}
}

func TestSamplerDeterministicAndComplete(t *testing.T) {
	const n = 10
	a, b := NewSampler(n, 42), NewSampler(n, 42)
	c := NewSampler(n, 43)
	var ea, ec []int
	for i := 0; i < 5; i++ {
		x, y, z := a.Next(3), b.Next(3), c.Next(3)
		if !slices.Equal(x, y) {
			t.Fatalf("same seed differs: %v vs %v", x, y)
		}
		ea = append(ea, x...)
		ec = append(ec, z...)
	}
	if slices.Equal(ea, ec) {
		t.Fatal("different seeds gave the same order")
	}
	// Each epoch is a permutation; epochs 0 and 1 differ.
	e0 := slices.Clone(ea[:n])
	if slices.Equal(ea[:n/2], ea[n:n+n/2]) {
		t.Fatal("epoch 1 repeats epoch 0")
	}
	slices.Sort(e0)
	for i := range e0 {
		if e0[i] != i {
			t.Fatalf("epoch 0 not a permutation: %v", ea[:n])
		}
	}
	if cur := a.Cursor(); cur.Epoch != 1 || cur.Pos != 5 || cur.Seed != 42 || cur.N != n {
		t.Fatalf("cursor %+v", cur)
	}
}

func TestSamplerRestore(t *testing.T) {
	s := NewSampler(7, 9)
	s.Next(12)
	js, err := json.Marshal(s.Cursor())
	if err != nil {
		t.Fatal(err)
	}
	want := s.Next(20)
	var c Cursor
	if err := json.Unmarshal(js, &c); err != nil {
		t.Fatal(err)
	}
	r := NewSampler(7, 0) // seed comes from the cursor
	if err := r.Restore(c); err != nil {
		t.Fatal(err)
	}
	if got := r.Next(20); !slices.Equal(got, want) {
		t.Fatalf("after restore %v want %v", got, want)
	}
	if err := NewSampler(8, 9).Restore(c); err == nil {
		t.Fatal("size mismatch: want error")
	}
	if err := NewSampler(7, 9).Restore(Cursor{Pos: 8}); err == nil {
		t.Fatal("pos out of range: want error")
	}
	if NewSampler(0, 1).Next(3) != nil {
		t.Fatal("empty dataset: want nil")
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		n     int
		frac  float64
		nEval int
	}{{100, 0.1, 10}, {10, 0.01, 1}, {5, 0, 0}, {5, 1, 5}, {5, 0.99, 4}, {1, 0.5, 1}, {0, 0.5, 0}}
	for _, tc := range tests {
		tr, ev := Split(tc.n, tc.frac, 3)
		if len(ev) != tc.nEval || len(tr)+len(ev) != tc.n {
			t.Errorf("Split(%d,%v): %d train %d eval, want %d eval", tc.n, tc.frac, len(tr), len(ev), tc.nEval)
		}
		all := append(slices.Clone(tr), ev...)
		slices.Sort(all)
		for i := range all {
			if all[i] != i {
				t.Fatalf("Split(%d,%v) not a partition: %v %v", tc.n, tc.frac, tr, ev)
			}
		}
		tr2, ev2 := Split(tc.n, tc.frac, 3)
		if !slices.Equal(tr, tr2) || !slices.Equal(ev, ev2) {
			t.Fatal("Split not deterministic")
		}
	}
	_, a := Split(100, 0.2, 1)
	_, b := Split(100, 0.2, 2)
	if slices.Equal(a, b) {
		t.Fatal("different seeds gave the same split")
	}
}
