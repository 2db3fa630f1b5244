package eval

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	if _, err := Evaluate(ctx, setup, ex, Options{}); err == nil {
		t.Error("cancelled context accepted")
	}
}
