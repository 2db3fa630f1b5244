package train

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readMetrics(t *testing.T, runDir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(runDir, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestPhases runs every phase for a few steps on the tiny model and checks
// the run directory: metrics per step, samples counted, final model.
func TestPhases(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 8)
	cases := []struct {
		phase       string
		wantSamples int64 // per step (0: not checked)
		keys        []string
	}{
		{PhaseSFT, 0, []string{"loss", "lr", "grad_norm", "tokens"}},
		{PhaseDistill, 3, []string{"loss", "kl", "reward_mean", "accuracy", "response_len", "truncated", "teacher_sync"}},
		{PhaseSDFT, 3, []string{"loss", "kl", "teacher_sync"}},
		{PhaseGRPO, 6, []string{"loss", "clip_frac", "kl_ref", "zero_adv_groups"}},
		{PhaseRFT, 0, []string{"round", "kept"}},
		{PhaseSRTCollect, 3 + 3*2, []string{"attempts", "revisions", "kept_total"}},
		{PhaseSRT, 0, []string{"loss_rev", "loss_gen", "tokens_rev", "tokens_gen"}},
	}
	srtData := writeSRTData(t, 5)
	for _, tc := range cases {
		t.Run(tc.phase, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			cfg := tinyRunConfig(t, tc.phase, mdl, data, out)
			cfg.SRT.Data = srtData
			var log strings.Builder
			res, err := Run(context.Background(), cfg, Options{Backend: testBackend(), Out: &log})
			if err != nil {
				t.Fatalf("run: %v\n%s", err, log.String())
			}
			if res.Steps != res.TotalSteps || res.Steps == 0 {
				t.Fatalf("steps %d of %d", res.Steps, res.TotalSteps)
			}
			ms := readMetrics(t, out)
			if len(ms) != res.Steps {
				t.Fatalf("%d metrics lines for %d steps", len(ms), res.Steps)
			}
			for _, k := range tc.keys {
				if _, ok := ms[len(ms)-1][k]; !ok {
					t.Errorf("metrics lack %q: %v", k, ms[len(ms)-1])
				}
			}
			if last := ms[len(ms)-1]; tc.phase == PhaseSRT {
				// joint: loss = L_rev + L_gen, both active
				if l, r, g := last["loss"].(float64), last["loss_rev"].(float64), last["loss_gen"].(float64); r <= 0 || g <= 0 || math.Abs(l-(r+g)) > 1e-6*l {
					t.Errorf("srt joint loss %g, rev %g, gen %g", l, r, g)
				}
			}
			if tc.wantSamples > 0 && res.SamplesGenerated != tc.wantSamples*int64(res.Steps) {
				t.Errorf("samples generated %d, want %d", res.SamplesGenerated, tc.wantSamples*int64(res.Steps))
			}
			if tc.phase != PhaseSRTCollect {
				if _, err := os.Stat(filepath.Join(res.FinalModel, "model.safetensors")); err != nil {
					t.Errorf("final model: %v", err)
				}
				if _, err := os.Stat(filepath.Join(res.FinalModel, "tokenizer.json")); err != nil {
					t.Errorf("final model tokenizer: %v", err)
				}
			} else if _, err := os.Stat(res.DataPath); err != nil {
				t.Errorf("collect output: %v", err)
			}
			if _, err := os.Stat(filepath.Join(out, configFile)); err != nil {
				t.Errorf("resolved config: %v", err)
			}
		})
	}
}

// TestCollectTarget stops srt-collect at its target count, writes exactly
// that many tuples (readable by ReadSRTTuples, usable by SRTSequence), and
// resuming the finished run is a no-op.
func TestCollectTarget(t *testing.T) {
	mdl := tinyModelDir(t, 5)
	data := tinyMathData(t, 9)
	out := filepath.Join(t.TempDir(), "run")
	cfg := tinyRunConfig(t, PhaseSRTCollect, mdl, data, out)
	cfg.Collect.Target = 4
	opt := Options{Backend: testBackend(), reward: parityReward}
	res, err := Run(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	tus, err := ReadSRTTuples(res.DataPath)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept != 4 || len(tus) != 4 {
		t.Fatalf("kept %d, file has %d tuples, want 4", res.Kept, len(tus))
	}
	if res.Steps >= 3 {
		t.Errorf("collection did not stop early: %d steps", res.Steps)
	}
	seen := map[string]bool{}
	for _, tu := range tus {
		k := tu.ID + "|" + tu.InitText + "|" + tu.RevText
		if seen[k] {
			t.Errorf("duplicate tuple %q", k)
		}
		seen[k] = true
		if tu.RevisionPrompt != RevisionPrompt(tu.InitReward == 1, "paper") {
			t.Errorf("revision prompt %q for reward %g", tu.RevisionPrompt, tu.InitReward)
		}
	}
	res2, err := Resume(context.Background(), out, opt)
	if err != nil {
		t.Fatalf("resume a finished run: %v", err)
	}
	if res2.Steps != res.Steps || res2.Kept != 4 {
		t.Errorf("resume changed the run: %d steps %d kept", res2.Steps, res2.Kept)
	}
}
