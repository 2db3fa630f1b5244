package eval

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"sdzero/data/dataset"
	"sdzero/model"
)

const stopID = 300

func enc(s string) []int32 {
	out := make([]int32, len(s))
	for i := range len(s) {
		out[i] = int32(s[i])
	}
	return out
}

func dec(ids []int32) string {
	b := make([]byte, len(ids))
	for i, id := range ids {
		b[i] = byte(id)
	}
	return string(b)
}

// fakeGen answers "Q<p>" prompts: sample j of problem p (counted per
// problem in call order) is correct iff j < correct[p]. Revision prompts
// (they contain the reviser sentence) are answered correctly after a wrong
// attempt and wrongly after a right one for odd problems.
type fakeGen struct {
	correct map[int]int
	seen    map[int]int
	calls   int
	rows    int
}

func (g *fakeGen) Generate(prompts [][]int32, opt model.GenerateOptions) ([][]int32, error) {
	g.calls++
	g.rows += len(prompts)
	out := make([][]int32, len(prompts))
	for i, p := range prompts {
		text := dec(p)
		var prob int
		fmt.Sscanf(text, "Q%d", &prob)
		ans := prob + 100
		var resp string
		switch {
		case strings.Contains(text, RevisePromptWrongPaper):
			resp = fmt.Sprintf("fixed \\boxed{%d}", ans)
		case strings.Contains(text, RevisePromptCorrect):
			if prob%2 == 1 {
				resp = "oops \\boxed{-1}"
			} else {
				resp = fmt.Sprintf("same \\boxed{%d}", ans)
			}
		default:
			j := g.seen[prob]
			g.seen[prob]++
			if j < g.correct[prob] {
				resp = fmt.Sprintf("so \\boxed{%d}", ans)
			} else {
				resp = "so \\boxed{7}"
			}
		}
		ids := enc(resp)
		if prob != 3 { // problem 3's responses run out of tokens
			ids = append(ids, stopID)
		}
		out[i] = ids
	}
	return out, nil
}

func TestEvaluate(t *testing.T) {
	correct := map[int]int{0: 0, 1: 1, 2: 4, 3: 2}
	var exs []dataset.MathExample
	for p := 0; p < 4; p++ {
		exs = append(exs, dataset.MathExample{ID: fmt.Sprint("p", p), Question: fmt.Sprintf("Q%d", p), Answer: fmt.Sprint(p + 100)})
	}
	g := &fakeGen{correct: correct, seen: map[int]int{}}
	var buf bytes.Buffer
	setup := Setup{Gen: g, Prompt: func(q string) ([]int32, error) { return enc(q), nil }, Encode: enc, Decode: dec, StopIDs: []int32{stopID}}
	rep, err := Evaluate(context.Background(), setup, exs, Options{K: 4, BatchSize: 3, Revise: true, Samples: &buf})
	if err != nil {
		t.Fatal(err)
	}
	// 16 samples, 7 correct.
	if rep.N != 4 || rep.K != 4 || math.Abs(rep.AvgAtK-7.0/16) > 1e-12 {
		t.Errorf("N %d K %d avg@k %v, want 4 4 %v", rep.N, rep.K, rep.AvgAtK, 7.0/16)
	}
	for _, k := range []int{1, 2, 4} {
		var want float64
		for p := 0; p < 4; p++ {
			want += bruteForce(4, correct[p], k)
		}
		want /= 4
		if math.Abs(rep.PassAtK[k]-want) > 1e-12 {
			t.Errorf("pass@%d = %v, want %v", k, rep.PassAtK[k], want)
		}
	}
	if rep.Truncated != 4 {
		t.Errorf("truncated %d, want 4 (problem 3)", rep.Truncated)
	}
	// Revision: 9 wrong all fixed; 7 right, of which problem 1's one and
	// problem 3's two regress (odd problems).
	if rep.InitialWrong != 9 || rep.Corrected != 9 || rep.InitialRight != 7 || rep.Regressed != 3 {
		t.Errorf("revision counts %+v", rep)
	}
	if math.Abs(rep.RevisedAcc-13.0/16) > 1e-12 || rep.CorrectionRate != 1 || math.Abs(rep.RegressionRate-3.0/7) > 1e-12 {
		t.Errorf("revised %v correction %v regression %v", rep.RevisedAcc, rep.CorrectionRate, rep.RegressionRate)
	}
	// 16 generations + 16 revisions in batches of 3 = 6 + 6 calls.
	if g.rows != 32 || g.calls != 12 {
		t.Errorf("generator saw %d rows in %d calls, want 32 in 12", g.rows, g.calls)
	}
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		var s Sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("sample line %d: %v", n+1, err)
		}
		if s.Problem != n/4 || s.Sample != n%4 || s.RevisionReward == nil {
			t.Errorf("sample line %d: %+v", n+1, s)
		}
		if strings.Contains(s.Response, string(rune(stopID))) {
			t.Errorf("sample line %d: stop token in text %q", n+1, s.Response)
		}
		wantR := 0.0
		if n%4 < correct[n/4] {
			wantR = 1
		}
		if s.Reward != wantR {
			t.Errorf("sample line %d: reward %v, want %v (%q, reason %q)", n+1, s.Reward, wantR, s.Response, s.Reason)
		}
		n++
	}
	if n != 16 {
		t.Errorf("%d sample lines, want 16", n)
	}
}

func TestEvaluateErrors(t *testing.T) {
	setup := Setup{Gen: &fakeGen{seen: map[int]int{}}, Prompt: func(q string) ([]int32, error) { return enc(q), nil }, Encode: enc, Decode: dec}
	ex := []dataset.MathExample{{Question: "Q0", Answer: "100"}}
	if _, err := Evaluate(context.Background(), setup, nil, Options{}); err == nil {
		t.Error("no examples accepted")
	}
	if _, err := Evaluate(context.Background(), setup, ex, Options{PRVariant: "nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("bad variant: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if rep, err := Evaluate(ctx, setup, ex, Options{}); !errors.Is(err, context.Canceled) || rep == nil || !rep.Partial || rep.N != 0 || rep.Total != 1 {
		t.Errorf("cancelled context: want a partial report of 0 of 1 problems and context.Canceled, got %+v, %v", rep, err)
	}
}

// TestEvaluatePartial cancels the context after the second generation
// batch (a signal between batches): the report covers the problems whose
// K samples were all generated and verified, is marked partial, and the
// samples file holds exactly those problems' samples; a stop during the
// revisions reports the problems whose revisions are done.
func TestEvaluatePartial(t *testing.T) {
	var exs []dataset.MathExample
	for p := 0; p < 5; p++ {
		exs = append(exs, dataset.MathExample{ID: fmt.Sprint("p", p), Question: fmt.Sprintf("Q%d", p), Answer: fmt.Sprint(p + 100)})
	}
	cases := []struct {
		name        string
		revise      bool
		cancelAfter int // Generate calls
		wantN       int
		wantRevised bool
	}{
		// K=2, batches of 3 sequences: after 2 batches 6 sequences = 3 problems.
		{"attempts", false, 2, 3, false},
		// 10 attempts take 4 batches; 2 more batches = 6 revisions = 3 problems.
		{"revisions", true, 6, 3, true},
		// Stopped in the attempts of a revise run: attempts only.
		{"before revisions", true, 3, 4, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			g := &cancelGen{fakeGen: fakeGen{correct: map[int]int{0: 2, 1: 1, 2: 2, 3: 2, 4: 2}, seen: map[int]int{}}, after: tc.cancelAfter, cancel: cancel}
			setup := Setup{Gen: g, Prompt: func(q string) ([]int32, error) { return enc(q), nil }, Encode: enc, Decode: dec, StopIDs: []int32{stopID}}
			var samples bytes.Buffer
			rep, err := Evaluate(ctx, setup, exs, Options{K: 2, BatchSize: 3, Revise: tc.revise, Samples: &samples})
			if !errors.Is(err, context.Canceled) || rep == nil {
				t.Fatalf("want a report and context.Canceled, got %v", err)
			}
			if !rep.Partial || rep.N != tc.wantN || rep.Total != 5 {
				t.Fatalf("partial %v, %d of %d problems; want %d of 5", rep.Partial, rep.N, rep.Total, tc.wantN)
			}
			if g.calls != tc.cancelAfter {
				t.Errorf("%d Generate calls after the stop at %d: not stopped at the batch boundary", g.calls, tc.cancelAfter)
			}
			if lines := strings.Count(samples.String(), "\n"); lines != 2*tc.wantN {
				t.Errorf("%d sample lines, want %d", lines, 2*tc.wantN)
			}
			// Problems 0, 2 (both right) and 1 (one of two): avg 5/6 over 3 problems.
			if tc.wantN == 3 && math.Abs(rep.AvgAtK-5.0/6) > 1e-12 {
				t.Errorf("avg@k %v over the first 3 problems, want 5/6", rep.AvgAtK)
			}
			if got := rep.InitialRight+rep.InitialWrong > 0; got != tc.wantRevised {
				t.Errorf("revision statistics present %v, want %v", got, tc.wantRevised)
			}
			var out strings.Builder
			rep.Print(&out)
			if want := fmt.Sprintf("PARTIAL: interrupted after %d of 5 problems", tc.wantN); !strings.Contains(out.String(), want) {
				t.Errorf("report lacks %q:\n%s", want, out.String())
			}
			b, _ := json.Marshal(rep)
			if !strings.Contains(string(b), `"partial":true`) {
				t.Errorf("JSON lacks \"partial\":true: %s", b)
			}
		})
	}
}

// cancelGen is fakeGen that cancels its context after a number of calls.
type cancelGen struct {
	fakeGen
	after  int
	cancel func()
}

func (g *cancelGen) Generate(prompts [][]int32, opt model.GenerateOptions) ([][]int32, error) {
	out, err := g.fakeGen.Generate(prompts, opt)
	if g.calls == g.after {
		g.cancel()
	}
	return out, err
}
