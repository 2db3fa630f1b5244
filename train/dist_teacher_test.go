package train

import (
	"math"
	"path/filepath"
	"testing"
)

// TestDistBF16Teacher: a 2-rank distill run in bf16, whose teacher every
// rank holds BF16-only and syncs from its student every 2 steps, matches
// the single process in bf16 within the 1-vs-2-rank bounds.
func TestDistBF16Teacher(t *testing.T) {
	needMPIRun(t)
	mdl := tinyModelDir(t, 23)
	data := tinyMathData(t, 8)
	one := distJob{Phase: PhaseDistill, Model: mdl, Data: data, Out: filepath.Join(t.TempDir(), "one"), BF16: true}
	two, ref, _ := runOneAndTwoRanks(t, one)
	if s := metricsOf(t, two.Out, "teacher_sync_step"); len(s) == 0 || s[len(s)-1] == 0 {
		t.Fatalf("test setup: the teacher never synced: %v", s)
	}
	l1, l2 := metricsOf(t, one.Out, "loss"), metricsOf(t, two.Out, "loss")
	if len(l1) != ref.Steps || len(l2) != len(l1) {
		t.Fatalf("losses: %v vs %v", l1, l2)
	}
	dl := 0.0
	for i := range l1 {
		dl = max(dl, math.Abs(l1[i]-l2[i])/(math.Abs(l1[i])+1e-6))
	}
	dw := maxAbsDiff(t, readParams(t, filepath.Join(one.Out, finalSubdir)), readParams(t, filepath.Join(two.Out, finalSubdir)))
	t.Logf("bf16 distill: losses %v (1 rank) vs %v (2 ranks): max relative difference %.3g; final weights: max difference %.3g", l1, l2, dl, dw)
	if dl > distLossTol || dw > distWeightTol {
		t.Errorf("2 ranks differ from 1: losses by %.3g (bound %g), weights by %.3g (bound %g)", dl, distLossTol, dw, distWeightTol)
	}
}
