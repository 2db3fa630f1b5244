package train

import (
	"context"
	"math"
	"strings"
	"testing"

	"sdzero/model"
	"sdzero/train/explain"
)

func TestErrorType(t *testing.T) {
	// The demo task's worked solutions (demo.Solve) of 4003-1867 and 47+38.
	ref := "13-7=6\n10-6-1=3\n9-8-1=0\n4-1-1=2\n\\boxed{2136}"
	add := "7+8=15\n4+3+1=8\n\\boxed{85}"
	tests := []struct {
		ref, prefix, want string
	}{
		{ref, "", "operand"},              // first digit of 13
		{ref, "1", "operand"},             // second digit of 13
		{ref, "13", "format"},             // the operator
		{ref, "13-", "operand"},           // operand b
		{ref, "13-7", "borrow"},           // wrote -1 where none is
		{ref, "13-7=", "column"},          // the result
		{ref, "13-7=6\n10-6", "borrow"},   // left out the -1
		{ref, "13-7=6\n10-6-1", "format"}, // "=" after the borrow
		{ref, "13-7=6\n10-6-1=3\n9-8-1=0\n4-1-1=2\n\\boxed{", "answer"},
		{ref, "13-7=6\n10-6-1=3\n9-8-1=0\n4-1-1=2\n", "length"}, // a fifth column line instead of the answer
		{ref, "13-7=6\n10-6-1=3\n9-8-1=0\n4-1-1=2\n\\boxed{2136}\n", "length"},
		{add, "7+8", "carry"}, // wrote +1 in the first column
		{add, "7+8=15\n4+3", "carry"},
		{add, "7+8=1", "column"},
		{"x=5\n\\boxed{5}", "x", "format"},
	}
	for _, tc := range tests {
		if got := ErrorType(tc.ref, tc.prefix); got != tc.want {
			t.Errorf("ErrorType(%q, %q) = %q, want %q", tc.ref, tc.prefix, got, tc.want)
		}
	}
}

func TestFirstDivergenceAndRank(t *testing.T) {
	for _, tc := range []struct {
		y, ref []int32
		want   int
	}{
		{[]int32{1, 2, 3}, []int32{1, 2, 3}, -1},
		{[]int32{1, 2, 4}, []int32{1, 2, 3}, 2},
		{[]int32{1, 2}, []int32{1, 2, 3}, 2},
		{[]int32{1, 2, 3, 4}, []int32{1, 2, 3}, 3},
		{[]int32{9}, []int32{1}, 0},
	} {
		if got := firstDivergence(tc.y, tc.ref); got != tc.want {
			t.Errorf("firstDivergence(%v, %v) = %d, want %d", tc.y, tc.ref, got, tc.want)
		}
	}
	ts := []explain.Token{{KL: 1}, {KL: 5}, {KL: 2}, {KL: 100, Stop: true}}
	rank, share, n := klRank(ts, 2)
	if rank != 2 || math.Abs(share-0.25) > 1e-12 || n != 3 {
		t.Errorf("klRank = %d, %v, %d; want 2, 0.25, 3 (stop token excluded)", rank, share, n)
	}
}

// TestRevisionRates: a constructed case with known rates. Two problems,
// three attempts each.
func TestRevisionRates(t *testing.T) {
	ok := []bool{false, true, true, false, false, false}
	rev := []bool{true, false, true, false, true, false}
	var r ReadinessReport
	r.revisionRates(ok, rev, 3)
	// Wrong attempts: 0 (others: 2 of 2 right), 3, 4, 5 (others: 0 of 2).
	if r.Wrong != 4 || r.Right != 2 {
		t.Fatalf("wrong %d right %d, want 4 and 2", r.Wrong, r.Right)
	}
	if want := 0.25 * (1 + 0 + 0 + 0); math.Abs(r.ResampleRate-want) > 1e-12 {
		t.Errorf("resample %v, want %v", r.ResampleRate, want)
	}
	if math.Abs(r.CorrectionRate-0.5) > 1e-12 { // attempts 0 and 4 corrected
		t.Errorf("correction %v, want 0.5", r.CorrectionRate)
	}
	if math.Abs(r.RegressionRate-0.5) > 1e-12 { // attempt 1 broken
		t.Errorf("regression %v, want 0.5", r.RegressionRate)
	}
	r.judge()
	if !r.Ready || len(r.Gates) != 1 || !r.Gates[0].Pass {
		t.Errorf("gates %+v ready %v: correction 0.5 > resample 0.25 passes", r.Gates, r.Ready)
	}
	r.ResampleRate = 0.6
	r.Warnings = nil
	r.judge()
	if r.Ready || r.Gates[0].Pass || !strings.Contains(strings.Join(r.Warnings, " "), "sampling the same problem again succeeds 60.0%") {
		t.Errorf("correction below resample: gates %+v warnings %q", r.Gates, r.Warnings)
	}
	r.Warnings = nil
	r.ResampleRate = 0.1
	r.FirstError = &FirstErrorStats{Located: 10, TeacherHigher: 0.8, CopyHigher: 0.3, KLShare: 0.3, UniformShare: 0.05}
	r.judge()
	if !r.Ready || len(r.Gates) != 4 {
		t.Errorf("all gates should pass: %+v %q", r.Gates, r.Warnings)
	}
}

// TestRunReadinessSmoke runs the whole check on a tiny random model: the
// figures are consistent with one another whatever the model does.
func TestRunReadinessSmoke(t *testing.T) {
	dir := tinyModelDir(t, 3)
	m, err := model.LoadFrozen(dir, testBackend())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	p, err := NewPrompter(dir, DefaultConfig().Prompt, m.Cfg.EOSTokenIDs)
	if err != nil {
		t.Fatal(err)
	}
	probs := []Problem{
		{ID: "a", Question: "47+38", Answer: "85", Solution: "7+8=15\n4+3+1=8\n\\boxed{85}"},
		{ID: "b", Question: "52-38", Answer: "14", Solution: "12-8=4\n5-3-1=1\n\\boxed{14}"},
		{ID: "c", Question: "11+22", Answer: "33", Solution: "1+2=3\n1+2=3\n\\boxed{33}"},
	}
	rep, err := RunReadiness(context.Background(), m, m, p, NewVerifier(DefaultConfig().Verify), probs, ReadinessOptions{
		Problems: 3, Samples: 2, KLAttempts: 2,
		Rollout:    RolloutOptions{MaxNewTokens: 12, Temperature: 1, TopP: 1, Seed: 4},
		Divergence: explain.Options{Divergence: "mixed", TopK: 8, ForwardWeight: 0.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Attempts != 6 || rep.Wrong+rep.Right != 6 || rep.Analysed > 2 {
		t.Errorf("counts: %+v", rep)
	}
	for _, v := range []float64{rep.Accuracy, rep.ResampleRate, rep.CorrectionRate, rep.RegressionRate, rep.StopKLShare} {
		if v < 0 || v > 1 || math.IsNaN(v) {
			t.Errorf("rate %v outside [0,1]: %+v", v, rep)
		}
	}
	if rep.Wrong > 0 && (rep.FirstError == nil || rep.FirstError.Located != rep.Analysed) {
		t.Errorf("a random model's wrong attempts all leave the reference: first error %+v, analysed %d", rep.FirstError, rep.Analysed)
	}
	var sb strings.Builder
	rep.WriteText(&sb)
	if !strings.Contains(sb.String(), "fresh resample succeeds") {
		t.Errorf("text report: %s", sb.String())
	}
	if _, err := RunReadiness(context.Background(), m, m, p, nil, probs, ReadinessOptions{Samples: 1}); err == nil {
		t.Error("one sample per problem must be refused")
	}
}
