package eval

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"sdzero/data/dataset"
	"sdzero/data/verify"
	"sdzero/model"
)

// Revision prompts P_r (SD-Zero): the only channel through which the
// reviser learns the verifier's verdict. Keep them byte-identical with the
// trainer's.
const (
	RevisePromptCorrect       = "Let me rephrase the above solution."
	RevisePromptWrongPaper    = "Wait, this response is not correct, let me start over."
	RevisePromptWrongOfficial = "Wait, this response is wrong. Let me correct it."
)

// RevisionPrompt returns P_r for a reward, for variant "paper" (default,
// also "") or "official" (the official code's r=0 sentence).
func RevisionPrompt(reward float64, variant string) (string, error) {
	if reward > 0.5 {
		return RevisePromptCorrect, nil
	}
	switch variant {
	case "", "paper":
		return RevisePromptWrongPaper, nil
	case "official":
		return RevisePromptWrongOfficial, nil
	}
	return "", fmt.Errorf("eval: unknown revision prompt variant %q (want paper or official)", variant)
}

// Generator produces new tokens for each prompt; *model.Model is one.
type Generator interface {
	Generate(prompts [][]int32, opt model.GenerateOptions) ([][]int32, error)
}

// Setup is what Evaluate needs from a model and its tokenizer.
type Setup struct {
	Gen Generator
	// Prompt returns the token ids of the chat prompt for a question,
	// ending with the assistant turn's header.
	Prompt func(question string) ([]int32, error)
	// Encode tokenises plain text (no special tokens added).
	Encode func(text string) []int32
	// Decode turns ids into text (special tokens included as text).
	Decode func(ids []int32) string
	// StopIDs end a response (e.g. <|im_end|>, <|endoftext|>); a
	// response that ends with one is complete, and the id is not part of
	// the decoded text.
	StopIDs []int32
	// RevisionPrompt, when set, gives P_r for a reward (use the trainer's
	// prompter so the text is byte-identical to training); otherwise
	// RevisionPrompt(reward, Options.PRVariant).
	RevisionPrompt func(reward float64) string
	// Verify, when set, scores texts[i] as a response to
	// examples[problems[i]] (all of a batch at once, so that it can run
	// them in parallel, e.g. the trainer's verifier with code tests);
	// otherwise each response is checked with verify.Math against the
	// example's Answer. It returns one result per text.
	Verify func(ctx context.Context, problems []int, texts []string) []verify.Result
}

// Options control an evaluation.
type Options struct {
	// K samples per problem (default 1).
	K int
	// Temperature <= 0 decodes greedily; TopP 0 means 1 (off); TopK 0
	// is off.
	Temperature, TopP float32
	TopK              int
	// MaxNewTokens per response (default 256).
	MaxNewTokens int
	// Seed makes sampling reproducible.
	Seed uint64
	// BatchSize is the number of sequences generated at once (default 64).
	BatchSize int
	// Revise also samples one revision per response with the reviser
	// prompt for its reward, and reports revision statistics.
	Revise bool
	// PRVariant selects the r=0 revision prompt: "paper" or "official".
	PRVariant string
	// Samples receives one JSON line per sample when non-nil.
	Samples io.Writer
	// Progress, when set, is called after each generated batch with the
	// number of sequences done and the total.
	Progress func(done, total int)
}

// Report is the result of an evaluation.
type Report struct {
	// Settings, when the caller sets them, are what produced the report
	// (Evaluate leaves them nil; Print writes them as the header).
	Settings *Settings `json:"settings,omitempty"`
	// N problems, K samples each.
	N int `json:"n"`
	K int `json:"k"`
	// AvgAtK is the mean reward over all N*K samples (avg@k).
	AvgAtK float64 `json:"avg_at_k"`
	// PassAtK maps k to the mean unbiased pass@k over problems.
	PassAtK map[int]float64 `json:"pass_at_k"`
	// MeanLen is the mean response length in tokens (stop token included).
	MeanLen float64 `json:"mean_len"`
	// Truncated counts responses that hit MaxNewTokens without a stop id.
	Truncated int `json:"truncated"`
	// Revision statistics (Revise only): accuracy of the initial responses
	// and of their revisions; CorrectionRate is the fraction of wrong
	// responses whose revision is correct, RegressionRate the fraction of
	// correct responses whose revision is wrong.
	InitialAcc     float64 `json:"initial_acc,omitempty"`
	RevisedAcc     float64 `json:"revised_acc,omitempty"`
	CorrectionRate float64 `json:"correction_rate,omitempty"`
	RegressionRate float64 `json:"regression_rate,omitempty"`
	RevisedMeanLen float64 `json:"revised_mean_len,omitempty"`
	// Counts behind the rates: initially wrong/right responses, and how
	// many of them the revision fixed/broke. A rate is 0 when its
	// denominator is.
	InitialWrong int `json:"initial_wrong,omitempty"`
	InitialRight int `json:"initial_right,omitempty"`
	Corrected    int `json:"corrected,omitempty"`
	Regressed    int `json:"regressed,omitempty"`
	// GeneratedTokens and Seconds measure decoding throughput.
	GeneratedTokens int64   `json:"generated_tokens"`
	Seconds         float64 `json:"seconds"`
	// Partial is true when the evaluation was stopped (its context
	// cancelled, e.g. by a signal) before every problem was done: the
	// statistics then cover the first N of Total problems, those whose K
	// samples (and revisions) were all generated and verified.
	Partial bool `json:"partial"`
	Total   int  `json:"problems_total,omitempty"`

	samples []Sample // for Options.Samples
}

// Sample is one JSONL line of the samples file.
type Sample struct {
	ID        string  `json:"id"`
	Problem   int     `json:"problem"`
	Sample    int     `json:"sample"`
	Question  string  `json:"question"`
	Answer    string  `json:"answer"`
	Response  string  `json:"response"`
	Tokens    int     `json:"tokens"`
	Truncated bool    `json:"truncated"`
	Reward    float64 `json:"reward"`
	Reason    string  `json:"reason"`
	Extracted string  `json:"extracted"`

	Revision          string   `json:"revision,omitempty"`
	RevisionTokens    int      `json:"revision_tokens,omitempty"`
	RevisionReward    *float64 `json:"revision_reward,omitempty"`
	RevisionReason    string   `json:"revision_reason,omitempty"`
	RevisionExtracted string   `json:"revision_extracted,omitempty"`
}

func (o *Options) defaults() {
	if o.K <= 0 {
		o.K = 1
	}
	if o.MaxNewTokens <= 0 {
		o.MaxNewTokens = 256
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.TopP <= 0 {
		o.TopP = 1
	}
}

// seq is one sequence to generate.
type seq struct {
	prompt []int32
	out    []int32
}

// generate runs the sequences through s.Gen in batches; batch b uses seed
// mix(seed, b) so results do not depend on anything but the seed, the
// batch size and the order. after(start, end), when set, is called with
// each finished batch (the evaluator verifies it there, so that an
// interruption loses at most the batch in flight). It returns how many
// sequences are done: fewer than len(seqs) only with an error, which wraps
// ctx.Err() when ctx was cancelled (checked at every batch boundary).
func generate(ctx context.Context, s Setup, seqs []*seq, o Options, seed uint64, after func(start, end int) error) (int, error) {
	for b, start := 0, 0; start < len(seqs); b, start = b+1, start+o.BatchSize {
		if err := ctx.Err(); err != nil {
			return start, err
		}
		end := min(start+o.BatchSize, len(seqs))
		prompts := make([][]int32, end-start)
		for i := range prompts {
			prompts[i] = seqs[start+i].prompt
		}
		outs, err := s.Gen.Generate(prompts, model.GenerateOptions{
			MaxNewTokens: o.MaxNewTokens,
			StopIDs:      s.StopIDs,
			Temperature:  o.Temperature,
			TopP:         o.TopP,
			TopK:         o.TopK,
			Seed:         mix(seed, uint64(b)),
		})
		if err != nil {
			return start, fmt.Errorf("eval: generate batch %d: %w", b, err)
		}
		if len(outs) != len(prompts) {
			return start, fmt.Errorf("eval: generate batch %d returned %d rows for %d prompts", b, len(outs), len(prompts))
		}
		for i, out := range outs {
			seqs[start+i].out = out
		}
		if after != nil {
			if err := after(start, end); err != nil {
				return start, err
			}
		}
	}
	return len(seqs), nil
}

// mix is SplitMix64 of a^b-mixing, to derive independent seeds.
func mix(a, b uint64) uint64 {
	z := a + 0x9e3779b97f4a7c15*(b+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// stripStop returns ids without a trailing stop id, and whether it had one.
func stripStop(ids, stop []int32) ([]int32, bool) {
	if len(ids) == 0 {
		return ids, false
	}
	last := ids[len(ids)-1]
	for _, s := range stop {
		if last == s {
			return ids[:len(ids)-1], true
		}
	}
	return ids, false
}

// Evaluate generates K responses per example, verifies them against the
// example's answer, and (with Revise) one revision of each response. When
// ctx is cancelled it stops at the next batch boundary and returns both a
// partial report (Report.Partial) over the problems finished by then and
// an error wrapping ctx.Err(), so that a caller that only wants complete
// results fails as before; revision statistics need every initial
// response, so a stop before the revisions reports the initial responses
// only.
func Evaluate(ctx context.Context, s Setup, examples []dataset.MathExample, o Options) (*Report, error) {
	o.defaults()
	if s.RevisionPrompt == nil {
		if _, err := RevisionPrompt(0, o.PRVariant); err != nil {
			return nil, err
		}
		v := o.PRVariant
		s.RevisionPrompt = func(r float64) string { p, _ := RevisionPrompt(r, v); return p }
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("eval: no examples")
	}
	if s.Gen == nil || s.Prompt == nil || s.Decode == nil || (o.Revise && s.Encode == nil) {
		return nil, fmt.Errorf("eval: setup needs Gen, Prompt, Decode (and Encode to revise)")
	}
	t0 := time.Now()
	total := len(examples) * o.K
	if o.Revise {
		total *= 2
	}
	prog := func(done int) {
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	seqs := make([]*seq, 0, len(examples)*o.K)
	for i, ex := range examples {
		p, err := s.Prompt(ex.Question)
		if err != nil {
			return nil, fmt.Errorf("eval: prompt for example %d (%s): %w", i, ex.ID, err)
		}
		for k := 0; k < o.K; k++ {
			seqs = append(seqs, &seq{prompt: p})
		}
	}
	// Each batch is verified as soon as it is generated: when ctx is
	// cancelled (a signal), everything before the batch in flight has its
	// verdict and the report covers the problems whose K samples (and
	// revisions) are all done.
	verdicts := make([]verify.Result, len(seqs))
	verifyBatch := func(dst []verify.Result, qs []*seq, offset int) func(start, end int) error {
		return func(start, end int) error {
			v, err := verifyAll(ctx, s, examples, qs[start:end], start, o.K)
			if err != nil {
				return err
			}
			copy(dst[start:], v)
			prog(offset + end)
			return nil
		}
	}
	done, err := generate(ctx, s, seqs, o, o.Seed, verifyBatch(verdicts, seqs, 0))
	if err != nil && !stopped(ctx, err) {
		return nil, err
	}
	nDone := done / o.K
	var rev []*seq
	var revVerdicts []verify.Result
	if o.Revise && nDone == len(examples) {
		// Reviser input: prompt + y' + "\n\n" + P_r + "\n\n", y' = y
		// without its stop token, by ids (no re-tokenising of y).
		rev = make([]*seq, len(seqs))
		for i, sq := range seqs {
			body, _ := stripStop(sq.out, s.StopIDs)
			in := append(append(append([]int32{}, sq.prompt...), body...), s.Encode("\n\n"+s.RevisionPrompt(verdicts[i].Reward)+"\n\n")...)
			rev[i] = &seq{prompt: in}
		}
		revVerdicts = make([]verify.Result, len(rev))
		revDone, err := generate(ctx, s, rev, o, mix(o.Seed, 0x5eed), verifyBatch(revVerdicts, rev, len(seqs)))
		if err != nil && !stopped(ctx, err) {
			return nil, err
		}
		nDone = revDone / o.K
	}
	ro := o
	if rev == nil {
		ro.Revise = false // stopped before the revisions: the initial responses' statistics only
	}
	rep := report(s, examples, ro, seqs, verdicts, rev, revVerdicts, nDone)
	rep.Seconds = time.Since(t0).Seconds()
	if o.Samples != nil {
		samples := rep.samples
		w := bufio.NewWriter(o.Samples)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i := range samples {
			if err := enc.Encode(&samples[i]); err != nil {
				return nil, fmt.Errorf("eval: write sample %d: %w", i, err)
			}
		}
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("eval: write samples: %w", err)
		}
	}
	rep.samples = nil
	if rep.Partial {
		return rep, fmt.Errorf("eval: stopped after %d of %d problems: %w", rep.N, rep.Total, ctx.Err())
	}
	return rep, nil
}

// stopped reports whether err is ctx's cancellation (a graceful stop), as
// opposed to a failure.
func stopped(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, ctx.Err())
}

// report computes the statistics over the first n examples: their K
// samples each in seqs (and their revisions in rev when Revise). n below
// len(examples) makes a partial report.
func report(s Setup, examples []dataset.MathExample, o Options, seqs []*seq, verdicts []verify.Result, rev []*seq, revVerdicts []verify.Result, n int) *Report {
	rep := &Report{N: n, K: o.K, PassAtK: map[int]float64{}}
	if n < len(examples) {
		rep.Partial, rep.Total = true, len(examples)
	}
	ns := n * o.K
	samples := make([]Sample, ns)
	rep.samples = samples
	if n == 0 {
		return rep
	}
	var lenSum float64
	correct := make([]int, n)
	for i, sq := range seqs[:ns] {
		ex := examples[i/o.K]
		body, stopped := stripStop(sq.out, s.StopIDs)
		text := s.Decode(body)
		v := verdicts[i]
		samples[i] = Sample{ID: ex.ID, Problem: i / o.K, Sample: i % o.K, Question: ex.Question, Answer: ex.Answer,
			Response: text, Tokens: len(sq.out), Truncated: !stopped, Reward: v.Reward, Reason: v.Reason, Extracted: v.Extracted}
		rep.AvgAtK += v.Reward
		lenSum += float64(len(sq.out))
		rep.GeneratedTokens += int64(len(sq.out))
		if !stopped {
			rep.Truncated++
		}
		if v.Reward > 0.5 {
			correct[i/o.K]++
		}
	}
	fn := float64(ns)
	rep.AvgAtK /= fn
	rep.MeanLen = lenSum / fn
	for _, k := range KValues(o.K) {
		var sum float64
		for _, c := range correct {
			sum += PassAtK(o.K, c, k)
		}
		rep.PassAtK[k] = sum / float64(n)
	}
	if !o.Revise {
		return rep
	}
	var wrong, right, fixed, broken int
	var revLen float64
	for i, sq := range rev[:ns] {
		body, _ := stripStop(sq.out, s.StopIDs)
		text := s.Decode(body)
		v := revVerdicts[i]
		r := v.Reward
		samples[i].Revision, samples[i].RevisionTokens = text, len(sq.out)
		samples[i].RevisionReward, samples[i].RevisionReason, samples[i].RevisionExtracted = &r, v.Reason, v.Extracted
		rep.GeneratedTokens += int64(len(sq.out))
		revLen += float64(len(sq.out))
		rep.RevisedAcc += r
		if samples[i].Reward > 0.5 {
			right++
			if r <= 0.5 {
				broken++
			}
		} else {
			wrong++
			if r > 0.5 {
				fixed++
			}
		}
	}
	rep.InitialAcc = rep.AvgAtK
	rep.RevisedAcc /= fn
	rep.RevisedMeanLen = revLen / fn
	rep.CorrectionRate = ratio(fixed, wrong)
	rep.RegressionRate = ratio(broken, right)
	rep.InitialWrong, rep.InitialRight, rep.Corrected, rep.Regressed = wrong, right, fixed, broken
	return rep
}

// verifyAll scores generated sequences (seqs[i] is sequence first+i,
// which answers example (first+i)/k) with s.Verify, else verify.Math
// against the example's answer.
func verifyAll(ctx context.Context, s Setup, examples []dataset.MathExample, seqs []*seq, first, k int) ([]verify.Result, error) {
	texts := make([]string, len(seqs))
	problems := make([]int, len(seqs))
	for i, sq := range seqs {
		body, _ := stripStop(sq.out, s.StopIDs)
		texts[i], problems[i] = s.Decode(body), (first+i)/k
	}
	if s.Verify == nil {
		out := make([]verify.Result, len(texts))
		for i, text := range texts {
			out[i] = verify.Math(text, examples[problems[i]].Answer)
		}
		return out, nil
	}
	out := s.Verify(ctx, problems, texts)
	if len(out) != len(texts) {
		return nil, fmt.Errorf("eval: verifier returned %d results for %d responses", len(out), len(texts))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("eval: verification: %w", err) // cancelled checks score 0: not a result
	}
	return out, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Print writes the report as a short table, after its settings.
func (r *Report) Print(w io.Writer) {
	if r.Settings != nil {
		r.Settings.Print(w)
	}
	if r.Partial {
		fmt.Fprintf(w, "PARTIAL: interrupted after %d of %d problems; every figure below covers those %d only\n", r.N, r.Total, r.N)
		if r.N == 0 {
			return
		}
	}
	fmt.Fprintf(w, "problems %d, samples per problem %d\n", r.N, r.K)
	fmt.Fprintf(w, "avg@%d      %.4f\n", r.K, r.AvgAtK)
	for _, k := range KValues(r.K) {
		fmt.Fprintf(w, "pass@%-6d %.4f\n", k, r.PassAtK[k])
	}
	fmt.Fprintf(w, "mean length %.1f tokens (%d truncated)\n", r.MeanLen, r.Truncated)
	if r.InitialRight+r.InitialWrong > 0 {
		fmt.Fprintf(w, "revision: initial acc %.4f -> revised acc %.4f\n", r.InitialAcc, r.RevisedAcc)
		fmt.Fprintf(w, "  correction rate (wrong->right) %.4f (%d/%d), regression rate (right->wrong) %.4f (%d/%d)\n",
			r.CorrectionRate, r.Corrected, r.InitialWrong, r.RegressionRate, r.Regressed, r.InitialRight)
	}
	fmt.Fprintf(w, "generated %d tokens in %.1fs (%.0f tokens/s)\n", r.GeneratedTokens, r.Seconds, float64(r.GeneratedTokens)/max(r.Seconds, 1e-9))
}
