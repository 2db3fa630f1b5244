package demo

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"sdzero/model"
	"sdzero/train"
	"sdzero/train/explain"
	"sdzero/train/plot"
)

// SD-Zero's preconditions, as the demo measures them before comparing
// methods: the readiness check (train.RunReadiness) on the SRT model about
// to be distilled, the number of SRT tuples with a wrong first attempt,
// and whether any error type grew during the distillation (the collapse
// guards' per-step first-error counts, err_* in the distill run's
// metrics.jsonl).

// MinWrongInitTuples is how many SRT tuples with a wrong first attempt the
// demo's collection should keep.
const MinWrongInitTuples = 1000

// Gates are one seed's measured preconditions.
type Gates struct {
	// Readiness is the check on the SRT model (student and teacher the
	// same model, as at the start of distillation), on the distillation's
	// training problems.
	Readiness *train.ReadinessReport `json:"readiness"`
	// WrongInitTuples is the number of SRT tuples collected from a wrong
	// first attempt.
	WrongInitTuples int `json:"srt_wrong_init_tuples"`
	// ErrorGrowth is each error type's first-error count in the first and
	// last window of distillation steps.
	ErrorGrowth []ErrorGrowth `json:"error_growth"`
	// List is every gate with its verdict (the readiness gates, then
	// srt_wrong_init_tuples and no_error_type_growing); Pass is true when
	// all passed.
	List []train.Gate `json:"list"`
	Pass bool         `json:"pass"`
}

// ErrorGrowth is one error type's first-error counts at the start and the
// end of distillation (Window steps each).
type ErrorGrowth struct {
	Type   string `json:"type"`
	Start  int    `json:"start"`
	End    int    `json:"end"`
	Window int    `json:"window"`
	// Growing is true when End exceeds growth x Start and is at least
	// the guard's minimum count (distill.guard_error_growth,
	// distill.guard_min_errors).
	Growing bool `json:"growing"`
}

// GateSummary is one gate over seeds.
type GateSummary struct {
	Name   string    `json:"name"`
	Target string    `json:"target"`
	Values []float64 `json:"values"`
	Pass   []bool    `json:"pass"`
}

// readiness runs the readiness check on the SRT model.
func (r *runner) readiness(ctx context.Context, srtModel, data string, seed uint64) (*train.ReadinessReport, error) {
	dc, err := r.cfg.PhaseConfig("distill", r.opt.Quick)
	if err != nil {
		return nil, err
	}
	m, err := model.LoadFrozen(srtModel, r.be)
	if err != nil {
		return nil, err
	}
	defer m.Free()
	p, err := train.NewPrompter(r.tokDir, dc.Prompt, m.Cfg.EOSTokenIDs)
	if err != nil {
		return nil, err
	}
	dcfg := dc.Data
	dcfg.Train = data
	probs, _, err := train.LoadProblems(dcfg)
	if err != nil {
		return nil, err
	}
	// The distillation's problems (its data split), which the SRT
	// reviser was not trained on.
	if probs, err = train.SplitProblems(probs, dcfg); err != nil {
		return nil, err
	}
	rc, ro, d := r.cfg.Readiness, dc.Rollout, dc.Distill
	return train.RunReadiness(ctx, m, m, p, train.NewVerifier(dc.Verify), probs, train.ReadinessOptions{
		Problems: rc.Problems, Samples: rc.Samples, KLAttempts: rc.KLAttempts,
		Rollout: train.RolloutOptions{MaxNewTokens: ro.MaxNewTokens, Temperature: float32(ro.Temperature),
			TopP: float32(ro.TopP), TopK: ro.TopK, GenBatch: ro.GenBatch, Seed: seed},
		Divergence: explain.Options{Divergence: d.Divergence, TopK: d.TopK, ForwardWeight: d.ForwardWeight, Temperature: d.Temperature},
	})
}

// errorGrowth reads the per-step first-error counts of a distill run and
// compares the first and last window of steps (window: the guard's, at
// most half the steps).
func errorGrowth(runDir string, window int, growth float64, minErrors int) ([]ErrorGrowth, error) {
	recs, err := plot.ReadMetrics(filepath.Join(runDir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	var steps []plot.Record
	for _, rec := range recs {
		if _, ok := rec["errors_located"]; ok {
			steps = append(steps, rec)
		}
	}
	if len(steps) < 2 {
		return nil, fmt.Errorf("demo: distill run %s logged first-error counts for %d steps, need at least 2", runDir, len(steps))
	}
	window = max(1, min(window, len(steps)/2))
	var out []ErrorGrowth
	for _, typ := range train.ErrorTypes {
		g := ErrorGrowth{Type: typ, Window: window}
		for i := 0; i < window; i++ {
			g.Start += int(steps[i]["err_"+typ])
			g.End += int(steps[len(steps)-1-i]["err_"+typ])
		}
		g.Growing = float64(g.End) > growth*float64(g.Start) && g.End >= max(minErrors, 1)
		out = append(out, g)
	}
	return out, nil
}

// judge fills List and Pass.
func (g *Gates) judge(growth float64) {
	g.List = nil
	if g.Readiness != nil {
		g.List = append(g.List, g.Readiness.Gates...)
	}
	g.List = append(g.List, train.Gate{Name: "srt_wrong_init_tuples", Value: float64(g.WrongInitTuples),
		Target: fmt.Sprintf(">= %d", MinWrongInitTuples), Pass: g.WrongInitTuples >= MinWrongInitTuples})
	if g.ErrorGrowth != nil {
		worst, growing := 0.0, false
		for _, e := range g.ErrorGrowth {
			worst = max(worst, float64(e.End)/float64(max(e.Start, 1)))
			growing = growing || e.Growing
		}
		g.List = append(g.List, train.Gate{Name: "no_error_type_growing", Value: worst,
			Target: fmt.Sprintf("no type's end/start count > %gx (and >= guard_min_errors)", growth), Pass: !growing})
	}
	g.Pass = true
	for _, x := range g.List {
		g.Pass = g.Pass && x.Pass
	}
}

// WriteText prints the gates that are not in the readiness report.
func (g *Gates) WriteText(w io.Writer) {
	fmt.Fprintf(w, "  SRT tuples with a wrong first attempt: %d (target >= %d)\n", g.WrongInitTuples, MinWrongInitTuples)
	if g.ErrorGrowth != nil {
		fmt.Fprintf(w, "  first errors per type during distillation (first vs last %d steps):", g.ErrorGrowth[0].Window)
		for _, e := range g.ErrorGrowth {
			if e.Start > 0 || e.End > 0 {
				fmt.Fprintf(w, " %s %d->%d", e.Type, e.Start, e.End)
			}
		}
		fmt.Fprintln(w)
	}
	for _, x := range g.List {
		mark := "PASS"
		if !x.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  [%s] %s = %.3f (target %s)\n", mark, x.Name, x.Value, x.Target)
	}
}

// gateSummary collects every gate over seeds, in first-seen order.
func gateSummary(runs []SeedResult) []GateSummary {
	var out []GateSummary
	idx := map[string]int{}
	for _, sr := range runs {
		if sr.Gates == nil {
			continue
		}
		for _, g := range sr.Gates.List {
			i, ok := idx[g.Name]
			if !ok {
				i = len(out)
				idx[g.Name] = i
				out = append(out, GateSummary{Name: g.Name, Target: g.Target})
			}
			out[i].Values = append(out[i].Values, g.Value)
			out[i].Pass = append(out[i].Pass, g.Pass)
		}
	}
	return out
}
