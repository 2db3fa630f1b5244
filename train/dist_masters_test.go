package train

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestDistShardedMasters: in a 2-rank bf16 run each rank's optimizer holds
// the F32 masters of its half of the parameters (ZeRO-1's sharded master
// weights; the student keeps its BF16 matmul weights and F32 norms), and
// the run is bit-identical to the same 2-rank run with whole masters on
// every rank: metrics, checkpoints and final weights, for distill (its
// BF16-only teacher synced from the student) and sdft (its EMA teacher
// averaging the gathered F32 masters). A sharded distill run stopped by
// rank 1 after step 2 and resumed under 2 ranks ends bit-identical to the
// uninterrupted one.
func TestDistShardedMasters(t *testing.T) {
	needMPIRun(t)
	mdl := tinyModelDir(t, 24)
	data := tinyMathData(t, 8)
	n := readParamsLen(t, mdl)
	for _, c := range []struct {
		phase string
		ema   float64
	}{{PhaseDistill, 0}, {PhaseSDFT, 0.1}} {
		t.Run(c.phase, func(t *testing.T) {
			base := distJob{Phase: c.phase, Model: mdl, Data: data, BF16: true, EMA: c.ema, CheckpointEvery: 2}
			whole, sharded := base, base
			whole.Out, whole.WholeMasters = filepath.Join(t.TempDir(), "whole"), true
			sharded.Out = filepath.Join(t.TempDir(), "sharded")
			outs := map[string][]distOutcome{}
			for _, j := range []distJob{whole, sharded} {
				o, log, err := mpirunJob(t, 2, j)
				if err != nil || len(o) != 2 || o[0].Err != "" || o[1].Err != "" {
					t.Fatalf("%s: %v %+v\n%s", j.Out, err, o, log)
				}
				outs[filepath.Base(j.Out)] = o
			}
			for r, o := range outs["sharded"] {
				if want := int64(4 * (n / 2)); o.MasterBytes != want {
					t.Errorf("rank %d holds %d bytes of F32 masters, want %d (half of %d parameters)", r, o.MasterBytes, want, n)
				}
				if w := outs["whole"][r]; w.MasterBytes != 0 || w.OptimizerBytes != o.OptimizerBytes {
					t.Errorf("rank %d with whole masters: %d master bytes in the optimizer (want 0), moments %d vs %d", r, w.MasterBytes, w.OptimizerBytes, o.OptimizerBytes)
				}
			}
			if mw, ms := stripTiming(readMetrics(t, whole.Out)), stripTiming(readMetrics(t, sharded.Out)); !reflect.DeepEqual(mw, ms) {
				t.Errorf("metrics differ:\nwhole masters   %v\nsharded masters %v", mw, ms)
			}
			if c.phase == PhaseSDFT {
				if s := metricsOf(t, sharded.Out, "teacher_sync"); len(s) == 0 || s[len(s)-1] != 1 {
					t.Fatalf("test setup: the EMA teacher never moved: %v", s)
				}
			}
			for _, sub := range []string{finalSubdir, filepath.Join(checkpointsDir, checkpointName(2), modelSubdir)} {
				if !reflect.DeepEqual(readParams(t, filepath.Join(whole.Out, sub)), readParams(t, filepath.Join(sharded.Out, sub))) {
					t.Errorf("%s: weights differ between whole and sharded masters", sub)
				}
			}
			if c.phase != PhaseDistill {
				return
			}
			cut := sharded
			cut.Out, cut.StopAfter = filepath.Join(t.TempDir(), "cut"), 2
			if o, log, err := mpirunJob(t, 2, cut); err != nil || len(o) != 2 || !o[0].Interrupted || o[0].Steps != 2 {
				t.Fatalf("stopped run: %v %+v\n%s", err, o, log)
			}
			cut.Resume, cut.StopAfter = true, 0
			if o, log, err := mpirunJob(t, 2, cut); err != nil || len(o) != 2 || o[0].Err != "" || o[0].Steps != 4 {
				t.Fatalf("resumed run: %v %+v\n%s", err, o, log)
			}
			if !reflect.DeepEqual(readParams(t, filepath.Join(sharded.Out, finalSubdir)), readParams(t, filepath.Join(cut.Out, finalSubdir))) {
				t.Error("resumed under 2 ranks with sharded masters: final weights differ from the uninterrupted run")
			}
		})
	}
}

// readParamsLen is the parameter layout length of the model in dir.
func readParamsLen(t *testing.T, dir string) int { return len(readParams(t, dir)) }
