package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"sdzero/model"
	"sdzero/train/explain"
)

// SD-Zero helps only where the teacher (the reviser, told the reward) is
// better than the generator at the tokens where the generator errs. The
// readiness check measures that before a user spends hours distilling:
//
//   - revision: how often the reviser turns a wrong attempt into a correct
//     one (correction) and a correct one into a wrong one (regression),
//     against the fresh-resample rate, how often simply sampling the same
//     problem again succeeds. A reviser that corrects less often than
//     resampling carries no information resampling lacks;
//   - the distillation signal on wrong attempts: the share of the KL mass
//     on the stop token (a teacher that wants to continue past the end
//     says nothing about the content), reported apart;
//   - where every problem has a worked reference solution in the format
//     the model writes (synthetic tasks), the first wrong token of each
//     wrong attempt is known exactly: the first token where the attempt
//     leaves the reference. There the check compares the teacher's and the
//     student's probability of the correct token, against a copy baseline
//     (the teacher told "correct", which can only copy the attempt), the
//     KL rank and share of that position, and counts per error type.

// ReadinessOptions configure RunReadiness.
type ReadinessOptions struct {
	// Problems is how many problems to use (default 64), Samples the
	// attempts per problem (default 4, at least 2: the resample rate of a
	// wrong attempt is the success rate of the other attempts).
	Problems, Samples int
	// Rollout sets the sampling of attempts and revisions; Rollout.N is
	// ignored.
	Rollout RolloutOptions
	// KLAttempts bounds the wrong attempts analysed token by token
	// (default 32; each costs a forward pass of both models per context).
	// Negative skips the token analysis (the cheap check).
	KLAttempts int
	// Divergence is the trainer's (explain.Options).
	Divergence explain.Options
}

// ErrorTypeStats are the first-error figures of one error type.
type ErrorTypeStats struct {
	Count int `json:"count"`
	// TeacherHigher counts the errors where the teacher (told wrong) puts
	// more probability than the student on the correct token.
	TeacherHigher int `json:"teacher_higher"`
}

// FirstErrorStats describe the teacher at the first wrong token of wrong
// attempts (only where a reference solution locates it).
type FirstErrorStats struct {
	// Located is the number of wrong attempts analysed whose first wrong
	// token was located.
	Located int `json:"located"`
	// TeacherHigher is the share of them where the teacher told "wrong"
	// gives the correct token more probability than the student;
	// CopyHigher the same for the teacher told "correct" (the copy
	// baseline).
	TeacherHigher float64 `json:"teacher_higher"`
	CopyHigher    float64 `json:"copy_higher"`
	// Mean probabilities of the correct token there.
	StudentProb float64 `json:"student_prob"`
	TeacherProb float64 `json:"teacher_prob"`
	CopyProb    float64 `json:"copy_prob"`
	// KLRank is the mean rank (1 = largest) of the error position among the
	// attempt's non-stop positions by KL; KLShare the mean share of the
	// non-stop KL there, and UniformShare the mean 1/positions it is
	// compared with (KLShare/UniformShare is the concentration).
	KLRank       float64 `json:"kl_rank"`
	KLShare      float64 `json:"kl_share"`
	UniformShare float64 `json:"uniform_share"`
	// ByType counts the errors per type (see ErrorType).
	ByType map[string]ErrorTypeStats `json:"by_type"`
}

// ReadinessReport is the result of RunReadiness.
type ReadinessReport struct {
	Problems int `json:"problems"`
	Attempts int `json:"attempts"`
	// Accuracy is the attempts' success rate.
	Accuracy float64 `json:"accuracy"`
	// ResampleRate is the mean, over wrong attempts, of the success rate of
	// the other attempts at the same problem.
	ResampleRate float64 `json:"resample_rate"`
	// CorrectionRate is P(revision correct | attempt wrong), RegressionRate
	// P(revision wrong | attempt correct); Wrong and Right count the
	// attempts behind them.
	CorrectionRate float64 `json:"correction_rate"`
	RegressionRate float64 `json:"regression_rate"`
	Wrong          int     `json:"wrong_attempts"`
	Right          int     `json:"right_attempts"`
	// Analysed wrong attempts, their KL share on stop tokens, and the
	// first-error figures (nil without located errors).
	Analysed    int              `json:"analysed"`
	StopKLShare float64          `json:"stop_kl_share"`
	FirstError  *FirstErrorStats `json:"first_error,omitempty"`
	// Gates are the named preconditions with their verdicts; Ready is true
	// when every evaluated gate passed; Warnings say in words what failed.
	Gates    []Gate   `json:"gates"`
	Ready    bool     `json:"ready"`
	Warnings []string `json:"warnings,omitempty"`
}

// Gate is one precondition of SD-Zero, measured.
type Gate struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Pass   bool    `json:"pass"`
}

// Readiness thresholds (the method's preconditions, as the issue that
// introduced the check states them).
const (
	// TeacherHigherTarget is the share of first errors where the teacher
	// must beat the student on the correct token.
	TeacherHigherTarget = 0.70
	// KLConcentrationTarget is how many times the uniform share the KL at
	// the first error must carry.
	KLConcentrationTarget = 5.0
)

// RunReadiness measures the preconditions on problems (the first
// opt.Problems) with student as the generator and teacher as the reviser
// (the same model for an SRT checkpoint about to be distilled).
func RunReadiness(ctx context.Context, student, teacher *model.Model, p *Prompter, v *Verifier, problems []Problem, opt ReadinessOptions) (*ReadinessReport, error) {
	if opt.Problems <= 0 {
		opt.Problems = 64
	}
	if opt.Samples == 0 {
		opt.Samples = 4
	}
	if opt.Samples < 2 {
		return nil, fmt.Errorf("readiness: samples %d: at least 2 attempts per problem are needed for the resample rate", opt.Samples)
	}
	if opt.KLAttempts == 0 {
		opt.KLAttempts = 32
	}
	probs := problems[:min(opt.Problems, len(problems))]
	if len(probs) == 0 {
		return nil, errors.New("readiness: no problems")
	}
	prompts := make([][]int32, len(probs))
	for i := range probs {
		ids, err := p.PromptIDs(probs[i].Question)
		if err != nil {
			return nil, fmt.Errorf("readiness: problem %d: %w", i, err)
		}
		prompts[i] = ids
	}
	ro := opt.Rollout
	ro.N = opt.Samples
	ro.Stop = p.Stop
	attempts, err := GenerateN(student, prompts, ro)
	if err != nil {
		return nil, fmt.Errorf("readiness: attempts: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k := opt.Samples
	probPtrs := make([]*Problem, len(attempts))
	texts := make([]string, len(attempts))
	for i := range attempts {
		probPtrs[i] = &probs[i/k]
		texts[i] = p.ResponseText(attempts[i])
	}
	res := v.Verify(ctx, probPtrs, texts)
	ok := make([]bool, len(attempts))
	rep := &ReadinessReport{Problems: len(probs), Attempts: len(attempts)}
	for i, r := range res {
		ok[i] = r.Reward == 1
		if ok[i] {
			rep.Accuracy++
		}
	}
	rep.Accuracy /= float64(len(attempts))
	// Revisions of every attempt, by the teacher told the attempt's reward.
	revIn := make([][]int32, len(attempts))
	for i := range attempts {
		revIn[i] = p.ReviserInput(prompts[i/k], attempts[i], ok[i])
	}
	ro.N = 1
	revs, err := GenerateN(teacher, revIn, ro)
	if err != nil {
		return nil, fmt.Errorf("readiness: revisions: %w", err)
	}
	for i := range revs {
		texts[i] = p.ResponseText(revs[i])
	}
	revRes := v.Verify(ctx, probPtrs, texts)
	revOK := make([]bool, len(revRes))
	for i, r := range revRes {
		revOK[i] = r.Reward == 1
	}
	rep.revisionRates(ok, revOK, k)
	if opt.KLAttempts > 0 {
		if err := readinessTokens(ctx, rep, student, teacher, p, probs, prompts, attempts, ok, k, opt); err != nil {
			return nil, err
		}
	}
	rep.judge()
	return rep, nil
}

// revisionRates fills the correction, regression and resample rates from
// the attempts' and their revisions' verdicts (k attempts per problem, in
// problem order).
func (r *ReadinessReport) revisionRates(ok, revOK []bool, k int) {
	var resample float64
	r.Wrong, r.Right, r.CorrectionRate, r.RegressionRate, r.ResampleRate = 0, 0, 0, 0, 0
	for i := range ok {
		if ok[i] {
			r.Right++
			if !revOK[i] {
				r.RegressionRate++
			}
			continue
		}
		r.Wrong++
		if revOK[i] {
			r.CorrectionRate++
		}
		others := 0
		for j := (i / k) * k; j < (i/k+1)*k; j++ {
			if j != i && ok[j] {
				others++
			}
		}
		resample += float64(others) / float64(k-1)
	}
	if r.Wrong > 0 {
		r.CorrectionRate /= float64(r.Wrong)
		r.ResampleRate = resample / float64(r.Wrong)
	}
	if r.Right > 0 {
		r.RegressionRate /= float64(r.Right)
	}
}

// readinessTokens runs the token analysis on up to opt.KLAttempts wrong
// attempts, spread over problems.
func readinessTokens(ctx context.Context, rep *ReadinessReport, student, teacher *model.Model, p *Prompter,
	probs []Problem, prompts, attempts [][]int32, ok []bool, k int, opt ReadinessOptions) error {
	var totalKL, stopKL float64
	fe := &FirstErrorStats{ByType: map[string]ErrorTypeStats{}}
	var higher, copyHigher int
	for i := range attempts {
		if ok[i] || rep.Analysed >= opt.KLAttempts {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		prob := &probs[i/k]
		y := attempts[i]
		in := explain.Input{
			StudentIDs: append(append([]int32{}, prompts[i/k]...), y...),
			TeacherIDs: append(p.ReviserInput(prompts[i/k], y, false), y...),
			Response:   y, Stop: p.Stop,
		}
		errPos, correctID, etype := -1, int32(-1), ""
		if prob.Solution != "" {
			ref := append(p.Tok.Encode(prob.Solution), p.End)
			if d := firstDivergence(y, ref); d >= 0 && d < len(y) {
				errPos, correctID = d, ref[d]
				etype = ErrorType(p.Tok.Decode(ref), p.Tok.Decode(y[:d]))
				in.Probe = map[int]int32{d: correctID}
			}
		}
		r, err := explain.Explain(student, teacher, in, opt.Divergence)
		if err != nil {
			return fmt.Errorf("readiness: attempt %d: %w", i, err)
		}
		rep.Analysed++
		totalKL += r.TotalKL
		stopKL += r.StopKLShare * r.TotalKL
		if errPos < 0 {
			continue
		}
		copyIn := in
		copyIn.TeacherIDs = append(p.ReviserInput(prompts[i/k], y, true), y...)
		rc, err := explain.Explain(student, teacher, copyIn, opt.Divergence)
		if err != nil {
			return fmt.Errorf("readiness: attempt %d (copy baseline): %w", i, err)
		}
		tk, ck := r.Tokens[errPos], rc.Tokens[errPos]
		fe.Located++
		fe.StudentProb += tk.StudentProbeProb
		fe.TeacherProb += tk.TeacherProbeProb
		fe.CopyProb += ck.TeacherProbeProb
		ts := fe.ByType[etype]
		ts.Count++
		if tk.TeacherProbeProb > tk.StudentProbeProb {
			higher++
			ts.TeacherHigher++
		}
		fe.ByType[etype] = ts
		if ck.TeacherProbeProb > ck.StudentProbeProb {
			copyHigher++
		}
		rank, share, positions := klRank(r.Tokens, errPos)
		fe.KLRank += float64(rank)
		fe.KLShare += share
		fe.UniformShare += 1 / float64(positions)
	}
	if totalKL > 0 {
		rep.StopKLShare = stopKL / totalKL
	}
	if fe.Located > 0 {
		n := float64(fe.Located)
		fe.TeacherHigher, fe.CopyHigher = float64(higher)/n, float64(copyHigher)/n
		fe.StudentProb /= n
		fe.TeacherProb /= n
		fe.CopyProb /= n
		fe.KLRank /= n
		fe.KLShare /= n
		fe.UniformShare /= n
		rep.FirstError = fe
	}
	return nil
}

// firstDivergence returns the first index where y and ref differ (the
// shorter length when one is a prefix of the other), or -1 when equal.
func firstDivergence(y, ref []int32) int {
	for i := 0; i < min(len(y), len(ref)); i++ {
		if y[i] != ref[i] {
			return i
		}
	}
	if len(y) != len(ref) {
		return min(len(y), len(ref))
	}
	return -1
}

// klRank returns the rank (1 = largest) of position pos by KL among the
// non-stop positions, its share of their KL, and their number.
func klRank(ts []explain.Token, pos int) (rank int, share float64, positions int) {
	var total float64
	rank = 1
	for i, t := range ts {
		if t.Stop {
			continue
		}
		positions++
		total += t.KL
		if i != pos && t.KL > ts[pos].KL {
			rank++
		}
	}
	if total > 0 {
		share = ts[pos].KL / total
	}
	return rank, share, max(positions, 1)
}

// errorLineRe parses a column line of the synthetic tasks' worked
// solutions: "a+b=r", "a+b+1=r", "a-b=r", "a-b-1=r".
var errorLineRe = regexp.MustCompile(`^(\d+)([+\-*])(\d+)([+\-]1)?=(\d*)$`)

// ErrorType classifies the first error of an attempt from the reference
// solution text and the attempt's text up to (not including) the first
// wrong token, for column-wise worked solutions (one "a+b(+1)=r" line per
// column, then \boxed{answer}):
//
//   - "operand": a digit of a column's operands was copied wrong;
//   - "carry" / "borrow": the "+1" / "-1" of a carry or borrow was added
//     or left out;
//   - "column": a column's result is wrong;
//   - "answer": the columns are right but the boxed answer is not;
//   - "length": a column line too many or too few, or the stop misplaced;
//   - "format": anything else.
func ErrorType(reference, prefix string) string {
	refLines := strings.Split(reference, "\n")
	preLines := strings.Split(prefix, "\n")
	li := len(preLines) - 1
	partial := preLines[li]
	if li >= len(refLines) {
		return "length"
	}
	refLine := refLines[li]
	if strings.HasPrefix(refLine, `\boxed{`) {
		if partial == "" {
			return "length"
		}
		return "answer"
	}
	m := errorLineRe.FindStringSubmatch(refLine)
	if m == nil {
		return "format"
	}
	// Which part of the reference line the attempt left, by offset:
	// operand a, the operator, operand b, the carry marker, "=", result.
	at := len(partial)
	opAt := len(m[1])
	carryAt := opAt + 1 + len(m[3])
	eqAt := carryAt + len(m[4])
	switch {
	case at < opAt || at > opAt && at < carryAt:
		return "operand"
	case at == opAt:
		return "format"
	case at < eqAt:
		// The reference carries here; the attempt did not.
		return carryName(m[2])
	case at == eqAt:
		if m[4] == "" {
			// The reference has "=" where the attempt wrote something
			// else: a carry the reference lacks, or a typo.
			return carryName(m[2])
		}
		return "format"
	default:
		return "column"
	}
}

func carryName(op string) string {
	if op == "-" {
		return "borrow"
	}
	return "carry"
}

// judge evaluates the gates and writes the warnings.
func (r *ReadinessReport) judge() {
	r.Gates = r.Gates[:0]
	add := func(name string, value float64, target string, pass bool, warn string) {
		r.Gates = append(r.Gates, Gate{Name: name, Value: value, Target: target, Pass: pass})
		if !pass {
			r.Warnings = append(r.Warnings, warn)
		}
	}
	if r.Wrong > 0 {
		add("correction_above_resample", r.CorrectionRate-r.ResampleRate, "> 0",
			r.CorrectionRate > r.ResampleRate,
			fmt.Sprintf("the reviser corrects %.1f%% of wrong attempts, but sampling the same problem again succeeds %.1f%% of the time: "+
				"its revisions carry no information that resampling lacks, so distilling from it has no dense signal to transfer. "+
				"Train the reviser longer (srt), or prefer rft/grpo for this model and task.", 100*r.CorrectionRate, 100*r.ResampleRate))
	}
	if fe := r.FirstError; fe != nil {
		add("teacher_higher_at_first_error", fe.TeacherHigher, fmt.Sprintf(">= %.2f", TeacherHigherTarget),
			fe.TeacherHigher >= TeacherHigherTarget,
			fmt.Sprintf("at the first wrong token of a wrong attempt the teacher prefers the correct token to the student in only %.0f%% of cases "+
				"(target %.0f%%): it does not know better where the student errs.", 100*fe.TeacherHigher, 100*TeacherHigherTarget))
		add("teacher_above_copy_baseline", fe.TeacherHigher-fe.CopyHigher, "> 0", fe.TeacherHigher > fe.CopyHigher,
			fmt.Sprintf("the teacher told \"wrong\" beats the student at the first error no more often (%.0f%%) than the teacher told \"correct\" (%.0f%%), "+
				"which can only copy: the reward phrase does not reach the tokens that matter.", 100*fe.TeacherHigher, 100*fe.CopyHigher))
		conc := 0.0
		if fe.UniformShare > 0 {
			conc = fe.KLShare / fe.UniformShare
		}
		add("kl_concentration_at_first_error", conc, fmt.Sprintf(">= %gx uniform", KLConcentrationTarget), conc >= KLConcentrationTarget,
			fmt.Sprintf("the KL at the first error is only %.1fx an even spread (target %gx): the loss is not focused where the mistake is.", conc, KLConcentrationTarget))
	}
	r.Ready = len(r.Warnings) == 0
}

// WriteText prints the report for a person.
func (r *ReadinessReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "readiness on %d problems x %d attempts: attempt accuracy %.1f%%\n", r.Problems, r.Attempts/max(r.Problems, 1), 100*r.Accuracy)
	fmt.Fprintf(w, "  revision: corrects %.1f%% of %d wrong attempts, breaks %.1f%% of %d right ones; fresh resample succeeds %.1f%%\n",
		100*r.CorrectionRate, r.Wrong, 100*r.RegressionRate, r.Right, 100*r.ResampleRate)
	if r.Analysed > 0 {
		fmt.Fprintf(w, "  token analysis of %d wrong attempts: %.1f%% of the KL on stop tokens\n", r.Analysed, 100*r.StopKLShare)
	}
	if fe := r.FirstError; fe != nil {
		fmt.Fprintf(w, "  first wrong token located in %d: P(correct) teacher %.3f vs student %.3f (copy baseline %.3f); teacher higher in %.0f%% (copy %.0f%%)\n",
			fe.Located, fe.TeacherProb, fe.StudentProb, fe.CopyProb, 100*fe.TeacherHigher, 100*fe.CopyHigher)
		fmt.Fprintf(w, "  KL at the first error: rank %.1f, share %.1f%% (uniform %.1f%%)\n", fe.KLRank, 100*fe.KLShare, 100*fe.UniformShare)
		types := make([]string, 0, len(fe.ByType))
		for t := range fe.ByType {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			s := fe.ByType[t]
			fmt.Fprintf(w, "    %-8s %4d errors, teacher higher in %d\n", t, s.Count, s.TeacherHigher)
		}
	}
	for _, g := range r.Gates {
		mark := "PASS"
		if !g.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  [%s] %s = %.3f (target %s)\n", mark, g.Name, g.Value, g.Target)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	if r.Ready {
		fmt.Fprintln(w, "  ready: the teacher is better than resampling where it was measured")
	}
}
