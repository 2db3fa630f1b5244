package train

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/train/explain"
)

// A distillation that goes wrong usually goes wrong quietly: the loss
// falls while the student learns the teacher's mistakes. Two defences run
// inside the distill phase:
//
//   - the start check: the cheap part of the readiness check (revision
//     correction against fresh resampling) on a few training problems
//     before the first step, with a warning in words when the teacher is
//     no better than resampling;
//   - the collapse guards: the training reward, and where the problems
//     have worked solutions the count of first errors per ErrorType, are
//     compared, over a window of steps, with their values in the first
//     window; a fall of the reward or a growth of an error type past its
//     threshold warns, and with distill.guard_stop stops the run and keeps
//     the best model.
//
// Neither changes the run's random streams: the check samples with a seed
// of its own, and the guards only read the steps' results, so a run with
// them is bit-identical to one without until a guard stops it, and a
// resumed run to an uninterrupted one.

// ErrorTypes are the values ErrorType returns, in the order the metrics
// and messages list them.
var ErrorTypes = []string{"operand", "carry", "borrow", "column", "answer", "length", "format"}

// bestSubdir is where the guard keeps the best model of a run with
// distill.guard_stop.
const bestSubdir = "best"

// guardSeedSalt separates the start check's sampling seed from the run's
// streams (derived from the same config seed).
const guardSeedSalt = 0x9e3779b97f4a7c15

// validateGuards checks the start-check, guard and teacher-feedback knobs
// (naming their keys).
func (d *DistillConfig) validateGuards() error {
	ints := []struct {
		key    string
		v, max int
	}{
		{"distill.readiness_problems", d.ReadinessProblems, MaxBatchLimit},
		{"distill.guard_window", d.GuardWindow, 1 << 20},
		{"distill.guard_min_errors", d.GuardMinErrors, MaxBatchLimit},
	}
	for _, b := range ints {
		if b.v < 0 || b.v > b.max {
			return fmt.Errorf("config: %s: %d is out of range: must be in [0, %d]", b.key, b.v, b.max)
		}
	}
	if d.ReadinessProblems > 0 && (d.ReadinessSamples < 2 || d.ReadinessSamples > MaxBatchLimit) {
		return fmt.Errorf("config: distill.readiness_samples: %d is out of range: the resample rate needs at least 2 attempts per problem (at most %d)", d.ReadinessSamples, MaxBatchLimit)
	}
	switch d.TeacherFeedback {
	case "", "reward", "blind", "wrong":
	default:
		return fmt.Errorf("config: distill.teacher_feedback: %q is not reward, blind or wrong", d.TeacherFeedback)
	}
	if d.GuardRewardDrop < 0 || d.GuardRewardDrop >= 1 {
		return fmt.Errorf("config: distill.guard_reward_drop: %g is out of range: a fraction of the start reward in [0, 1) (0 = off)", d.GuardRewardDrop)
	}
	if d.GuardErrorGrowth != 0 && d.GuardErrorGrowth < 1 {
		return fmt.Errorf("config: distill.guard_error_growth: %g is out of range: a factor >= 1 (0 = off)", d.GuardErrorGrowth)
	}
	if d.GuardErrorGrowth > 1e6 {
		return fmt.Errorf("config: distill.guard_error_growth: %g is out of range: at most 1e6", d.GuardErrorGrowth)
	}
	return nil
}

// GuardAlarm is one guard firing.
type GuardAlarm struct {
	// Kind is "reward" or "error:TYPE".
	Kind string
	// Start is the value over the first window, Now over the last one
	// (the mean training reward, or the error count).
	Start, Now float64
	// Step is the step it fired at; Message says in words what happened
	// and what to do.
	Step    int
	Message string
}

// CollapseGuard compares a distillation's training reward and first-error
// counts over the last Window steps with the first Window steps.
type CollapseGuard struct {
	Window      int
	RewardDrop  float64
	ErrorGrowth float64
	MinErrors   int

	rewards []float64
	errs    []map[string]int
	fired   map[string]bool
}

// NewCollapseGuard returns the guard of a distill config (nil when
// distill.guard_window is 0).
func NewCollapseGuard(d DistillConfig) *CollapseGuard {
	if d.GuardWindow <= 0 {
		return nil
	}
	return &CollapseGuard{Window: d.GuardWindow, RewardDrop: d.GuardRewardDrop, ErrorGrowth: d.GuardErrorGrowth,
		MinErrors: d.GuardMinErrors, fired: map[string]bool{}}
}

// Steps is the number of steps observed.
func (g *CollapseGuard) Steps() int { return len(g.rewards) }

// windowMean is the mean reward of steps [from, from+Window).
func (g *CollapseGuard) windowMean(from int) float64 {
	var s float64
	for _, r := range g.rewards[from : from+g.Window] {
		s += r
	}
	return s / float64(g.Window)
}

// windowErrors is the count of one error type over steps [from, from+Window).
func (g *CollapseGuard) windowErrors(from int, typ string) int {
	n := 0
	for _, e := range g.errs[from : from+g.Window] {
		n += e[typ]
	}
	return n
}

// Current returns the mean training reward of the last window (ok false
// before a whole window).
func (g *CollapseGuard) Current() (float64, bool) {
	if len(g.rewards) < g.Window {
		return 0, false
	}
	return g.windowMean(len(g.rewards) - g.Window), true
}

// Start returns the mean training reward of the first window (ok false
// before a whole window).
func (g *CollapseGuard) Start() (float64, bool) {
	if len(g.rewards) < g.Window {
		return 0, false
	}
	return g.windowMean(0), true
}

// Observe adds one step's mean training reward and first-error counts per
// type (nil where the problems have no worked solutions) and returns the
// guards that fire for the first time at this step. The windows do not
// overlap: nothing is judged before step 2*Window.
func (g *CollapseGuard) Observe(reward float64, errs map[string]int) []GuardAlarm {
	g.rewards = append(g.rewards, reward)
	g.errs = append(g.errs, errs)
	n := len(g.rewards)
	if n < 2*g.Window {
		return nil
	}
	last := n - g.Window
	var out []GuardAlarm
	if r0, r1 := g.windowMean(0), g.windowMean(last); g.RewardDrop > 0 && r0 > 0 && r1 < (1-g.RewardDrop)*r0 && !g.fired["reward"] {
		g.fired["reward"] = true
		out = append(out, GuardAlarm{Kind: "reward", Start: r0, Now: r1, Step: n, Message: fmt.Sprintf(
			"collapse guard: the training reward fell from %.3f (steps 1-%d) to %.3f (steps %d-%d), below %.0f%% of its start: "+
				"the distillation is making the model worse at the task.", r0, g.Window, r1, last+1, n, 100*(1-g.RewardDrop))})
	}
	if g.ErrorGrowth > 0 {
		for _, typ := range ErrorTypes {
			e0, e1 := g.windowErrors(0, typ), g.windowErrors(last, typ)
			key := "error:" + typ
			if e1 < max(g.MinErrors, 1) || float64(e1) <= g.ErrorGrowth*float64(e0) || g.fired[key] {
				continue
			}
			g.fired[key] = true
			out = append(out, GuardAlarm{Kind: key, Start: float64(e0), Now: float64(e1), Step: n, Message: fmt.Sprintf(
				"collapse guard: first errors of type %q grew from %d (steps 1-%d) to %d (steps %d-%d), more than %gx: "+
					"the student is learning a mistake (often one the teacher makes too).", typ, e0, g.Window, e1, last+1, n, g.ErrorGrowth)})
		}
	}
	return out
}

// teacherSeesCorrect is the reward phrase the distillation teacher is
// given for a sample whose verified reward is reward, under
// distill.teacher_feedback.
func teacherSeesCorrect(feedback string, reward float64) bool {
	switch feedback {
	case "blind":
		return true
	case "wrong":
		return false
	}
	return reward == 1
}

// guardAdvice is appended to the first alarm of a run.
const guardAdvice = "Check the teacher before distilling further: `sdzero readiness --model SRT_MODEL --data TRAIN` (is revising better than resampling, " +
	"and does the teacher know the correct token where the student errs?) and `sdzero eval --model SRT_MODEL --data TRAIN --revise` (correction rate). " +
	"A lower optim.lr, or rft/grpo for this model and task, may serve better."

// StartCheckMessages turns the distill-start readiness report into the
// lines the trainer prints and the figures it adds to the first record of
// metrics.jsonl (keys readiness_*).
func StartCheckMessages(rep *ReadinessReport) ([]string, Metrics) {
	m := Metrics{
		"readiness_problems":        float64(rep.Problems),
		"readiness_attempts":        float64(rep.Attempts),
		"readiness_accuracy":        rep.Accuracy,
		"readiness_correction_rate": rep.CorrectionRate,
		"readiness_resample_rate":   rep.ResampleRate,
		"readiness_regression_rate": rep.RegressionRate,
		"readiness_wrong":           float64(rep.Wrong),
		"readiness_ready":           0,
	}
	if rep.Ready {
		m["readiness_ready"] = 1
	}
	lines := []string{fmt.Sprintf("start check (%d problems x %d attempts): attempt accuracy %.1f%%; the teacher corrects %.1f%% of %d wrong attempts "+
		"(breaks %.1f%% of right ones); a fresh sample of the same problem succeeds %.1f%%",
		rep.Problems, rep.Attempts/max(rep.Problems, 1), 100*rep.Accuracy, 100*rep.CorrectionRate, rep.Wrong,
		100*rep.RegressionRate, 100*rep.ResampleRate)}
	switch {
	case rep.Wrong == 0:
		lines = append(lines, "start check: no wrong attempt in the sample: the reward-0 teacher could not be judged, and most samples will carry little signal")
	case rep.CorrectionRate <= rep.ResampleRate:
		lines = append(lines, fmt.Sprintf("warning: the teacher is not better than resampling (it corrects %.1f%% of wrong attempts, a fresh sample succeeds %.1f%%): "+
			"distilling from it has no dense signal to transfer and may make the model worse. "+
			"Run `sdzero readiness --model SRT_MODEL` for the full check (the teacher at the first wrong token), and consider training the reviser longer (srt) or rft/grpo.",
			100*rep.CorrectionRate, 100*rep.ResampleRate))
	default:
		lines = append(lines, "start check: the teacher corrects more often than resampling succeeds (the full check is `sdzero readiness`)")
	}
	return lines, m
}

// errorCounts classifies the first error of each wrong sample whose
// problem has a worked solution (nil when none has one).
func errorCounts(p *Prompter, probs []*Problem, samples []Sample) map[string]int {
	var out map[string]int
	for _, s := range samples {
		prob := probs[s.Index]
		if s.Reward == 1 || prob.Solution == "" {
			continue
		}
		if out == nil {
			out = make(map[string]int, len(ErrorTypes))
		}
		ref := append(p.Tok.Encode(prob.Solution), p.End)
		if d := firstDivergence(s.Response, ref); d >= 0 && d < len(s.Response) {
			out[ErrorType(p.Tok.Decode(ref), p.Tok.Decode(s.Response[:d]))]++
		}
	}
	return out
}

// distillGuard is the distill phase's start check and guard state.
type distillGuard struct {
	g *CollapseGuard
	// first holds the start check's figures for the first record.
	first Metrics
	// best is the highest windowed reward seen and bestStep its step (0:
	// none saved).
	best     float64
	bestStep int
	warned   bool
}

// guardStart prepares the guard before the first distill step of this
// process: on a new run, the start check; on a resumed run, the guard's
// history from metrics.jsonl (the records up to the checkpoint).
func (t *trainer) guardStart(ctx context.Context) error {
	d := t.cfg.Distill
	t.guard = &distillGuard{g: NewCollapseGuard(d)}
	if t.st.Step > 0 {
		return t.guardReplay()
	}
	if d.ReadinessProblems <= 0 {
		return nil
	}
	// Problems spread over the training set, from a stream of their own.
	perm := rand.New(rand.NewPCG(t.cfg.Seed^guardSeedSalt, 1)).Perm(len(t.usable))
	probs := make([]Problem, min(d.ReadinessProblems, len(perm)))
	for i := range probs {
		probs[i] = t.probs[t.usable[perm[i]]]
	}
	rctx := ctx
	if t.runCtx != nil {
		rctx = t.runCtx
	}
	// On several ranks, rank 0 alone runs the check (every rank holds the
	// same student and teacher) and tells the others its outcome.
	rep, err := &ReadinessReport{}, error(nil)
	if t.lead() {
		rep, err = RunReadiness(rctx, t.m, t.teacher, t.p, t.ver, probs, ReadinessOptions{
			Problems: len(probs), Samples: d.ReadinessSamples, KLAttempts: -1,
			Rollout:    t.cfg.rolloutOptions(t.p.Stop, 0, t.cfg.Seed^guardSeedSalt),
			Divergence: explain.Options{Divergence: d.Divergence, TopK: d.TopK, ForwardWeight: d.ForwardWeight, Temperature: d.Temperature},
		})
	}
	stopped := err != nil && t.stopping()
	var lines []string
	var m Metrics
	if err == nil {
		lines, m = StartCheckMessages(rep)
	}
	if t.distributed() {
		var cerr error
		if m, stopped, err, cerr = t.shareStartCheck(m, stopped, err); cerr != nil {
			return cerr
		}
	}
	if err != nil {
		if stopped {
			return fmt.Errorf("start check: %w", ErrInterrupted)
		}
		return fmt.Errorf("start check (distill.readiness_problems %d): %w", d.ReadinessProblems, err)
	}
	for _, l := range lines {
		t.prog.logf("%s", l)
	}
	t.guard.first = m
	return nil
}

// guardReplay feeds the guard the distill records of metrics.jsonl, so a
// resumed run judges against the same start values (and does not warn
// again about what it warned about before the interruption).
func (t *trainer) guardReplay() error {
	if t.guard.g == nil {
		return nil
	}
	path := filepath.Join(t.runDir, metricsFile)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("collapse guard: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("collapse guard: %s line %d: %w", path, line, err)
		}
		if rec["phase"] != PhaseDistill {
			continue
		}
		reward, _ := rec["reward_mean"].(float64)
		var errs map[string]int
		if _, ok := rec["errors_located"]; ok {
			errs = map[string]int{}
			for _, typ := range ErrorTypes {
				v, _ := rec["err_"+typ].(float64)
				errs[typ] = int(v)
			}
		}
		t.guard.g.Observe(reward, errs)
		t.guard.noteBest(rec["guard_best_step"])
		if _, ok := rec["guard_fired"]; ok {
			t.guard.warned = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("collapse guard: %s: %w", path, err)
	}
	if cur, ok := t.guard.g.Current(); ok && t.guard.bestStep > 0 {
		t.guard.best = max(t.guard.best, cur)
	}
	return nil
}

// noteBest restores the best step from a replayed record.
func (dg *distillGuard) noteBest(v any) {
	if f, ok := v.(float64); ok && int(f) > dg.bestStep {
		dg.bestStep = int(f)
		if cur, ok := dg.g.Current(); ok {
			dg.best = cur
		}
	}
}

// guardStep runs after a distill step's rollout (before its update): it
// records the error counts in m, feeds the guard, keeps the best model when
// distill.guard_stop is set, and reports the alarms. When a guard stops the
// run it sets t.done and loads the best model into the student; the step
// must then not update it.
func (t *trainer) guardStep(m Metrics, probs []*Problem, samples []Sample) error {
	dg := t.guard
	for k, v := range dg.first {
		m[k] = v
	}
	dg.first = nil
	errs, err := t.sumErrorCounts(errorCounts(t.p, probs, samples))
	if err != nil {
		return err
	}
	if errs != nil {
		located := 0
		for _, typ := range ErrorTypes {
			m["err_"+typ] = float64(errs[typ])
			located += errs[typ]
		}
		m["errors_located"] = float64(located)
	}
	if dg.g == nil {
		return nil
	}
	alarms := dg.g.Observe(m["reward_mean"], errs)
	step := t.st.Step + 1
	cfg := t.cfg.Distill
	if cur, ok := dg.g.Current(); ok {
		m["guard_reward"] = cur
		if r0, ok := dg.g.Start(); ok {
			m["guard_reward_start"] = r0
		}
		// The student now is the model that generated this step's
		// samples, the last of the window.
		if cfg.GuardStop && (dg.bestStep == 0 || cur > dg.best) {
			if err := t.saveBest(); err != nil {
				return err
			}
			dg.best, dg.bestStep = cur, step
			m["guard_best_step"] = float64(step)
		}
	}
	if len(alarms) == 0 {
		return nil
	}
	m["guard_fired"] = 1
	for i, a := range alarms {
		msg := a.Message
		if i == len(alarms)-1 && !dg.warned {
			msg += " " + guardAdvice
		}
		t.prog.logf("step %d: %s", step, msg)
	}
	dg.warned = true
	if !cfg.GuardStop {
		t.prog.logf("step %d: the run goes on (set distill.guard_stop: true to stop here and keep the best model)", step)
		return nil
	}
	m["guard_stopped"] = 1
	t.done = true
	if dg.bestStep == 0 {
		t.prog.logf("step %d: collapse guard: stopping the run; no best model was kept (no whole window yet), the final model is the current one", step)
		return nil
	}
	if err := t.loadBest(); err != nil {
		return err
	}
	t.prog.logf("step %d: collapse guard: stopping the run; the final model is the best one seen (the model of step %d, windowed training reward %.3f; also in %s)",
		step, dg.bestStep, dg.best, filepath.Join(t.runDir, bestSubdir))
	return nil
}

// saveBest writes the student to RUN/best (via a temporary directory, so
// a failed save keeps the previous best).
func (t *trainer) saveBest() error {
	var err error
	if t.masters, err = t.masterImage(); err != nil { // every rank takes part
		return fmt.Errorf("collapse guard: best model: %w", err)
	}
	defer func() { t.masters = nil }()
	if !t.lead() {
		return nil // rank 0 writes the run's files; loadBest waits for it
	}
	dir := filepath.Join(t.runDir, bestSubdir)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("collapse guard: best model: %w", err)
	}
	if err := t.m.Save(tmp, t.saveOptions(kernels.F32)); err != nil {
		return fmt.Errorf("collapse guard: best model %s: %w", tmp, err)
	}
	if err := copyTokenizerFiles(t.tokDir(), tmp); err != nil {
		return fmt.Errorf("collapse guard: best model %s: %w", tmp, err)
	}
	if err := t.writeModelFiles(tmp, "best"); err != nil {
		return fmt.Errorf("collapse guard: best model %s: %w", tmp, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("collapse guard: best model: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("collapse guard: best model: %w", err)
	}
	return nil
}

// loadBest copies the weights of RUN/best into the student.
func (t *trainer) loadBest() error {
	if t.distributed() {
		if err := t.comm.Barrier(); err != nil { // rank 0 has written RUN/best
			return fmt.Errorf("collapse guard: best model: %w", err)
		}
	}
	dir := filepath.Join(t.runDir, bestSubdir)
	b, err := model.LoadFrozen(dir, t.be)
	if err != nil {
		return fmt.Errorf("collapse guard: best model: %w", err)
	}
	defer b.Free()
	if b.LayoutLen() != t.m.LayoutLen() {
		return fmt.Errorf("collapse guard: best model %s has %d parameters, the student %d", dir, b.LayoutLen(), t.m.LayoutLen())
	}
	t.m.CopyParamsFrom(b)
	if t.mastersSharded() {
		if err := t.adam.LoadMasters(b); err != nil {
			return fmt.Errorf("collapse guard: best model: %w", err)
		}
	}
	return nil
}
