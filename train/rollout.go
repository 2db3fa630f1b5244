package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"sdzero/data/chat"
	"sdzero/data/dataset"
	"sdzero/data/tokenizer"
	"sdzero/data/verify"
	"sdzero/model"
)

// Encoder turns text into token ids without adding special tokens
// (*tokenizer.Tokenizer implements it).
type Encoder interface {
	Encode(text string) []int32
}

// RevisionDelimiter returns the text inserted between a response and its
// revision: "\n\n" + P_r + "\n\n".
func RevisionDelimiter(pr string) string { return "\n\n" + pr + "\n\n" }

// StripStop returns y without its final token when that token is one of
// stop (y' in the method spec); otherwise y itself.
func StripStop(y []int32, stop []int32) []int32 {
	if n := len(y); n > 0 && isStop(y[n-1], stop) {
		return y[:n-1]
	}
	return y
}

func isStop(id int32, stop []int32) bool {
	for _, s := range stop {
		if id == s {
			return true
		}
	}
	return false
}

// BuildReviserInput returns the reviser context, built from ids so that the
// response is never re-tokenised: prompt + y' + ids("\n\n" + pr + "\n\n"),
// where y' is y without a final stop token (any of stop). It continues the
// same assistant turn: the revision is sampled (srt-collect) or teacher-
// forced (distill: append y) after it.
func BuildReviserInput(promptIDs, y []int32, stop []int32, pr string, tok Encoder) []int32 {
	yp := StripStop(y, stop)
	delim := tok.Encode(RevisionDelimiter(pr))
	out := make([]int32, 0, len(promptIDs)+len(yp)+len(delim)+len(y))
	out = append(out, promptIDs...)
	out = append(out, yp...)
	return append(out, delim...)
}

// Prompter renders problems into prompt token ids with the model's chat
// template, and knows the stop ids that end an assistant turn.
type Prompter struct {
	Tok  *tokenizer.Tokenizer
	Tmpl *chat.Template
	Cfg  PromptConfig
	// Stop are the ids that end a generated turn.
	Stop []int32
	// End is the id appended to demonstrations (the first stop id).
	End int32

	delim [2][]int32 // ids of RevisionDelimiter for r=0 and r=1
}

// NewPrompter loads tokenizer.json and the chat template from dir and
// resolves the stop ids: the template's own (its end-of-turn token and
// eos_token, derived by rendering), cfg.StopTokens (default <|im_end|>,
// <|endoftext|>) found in the vocabulary, then the model's EOS ids. A
// template whose generation prompt does not end where the assistant's
// content starts is refused: the reviser context continues inside that
// turn.
func NewPrompter(dir string, cfg PromptConfig, eos []int) (*Prompter, error) {
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	tmpl, err := chat.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	think := cfg.EnableThinking
	if err := tmpl.CheckContinuation(chat.Options{EnableThinking: &think}); err != nil {
		return nil, fmt.Errorf("reviser context: %w", err)
	}
	p := &Prompter{Tok: tok, Tmpl: tmpl, Cfg: cfg}
	if p.Stop, err = tmpl.StopIDs(tok); err != nil {
		return nil, fmt.Errorf("stop tokens: %w", err)
	}
	stops := cfg.StopTokens
	if len(stops) == 0 {
		stops = DefaultConfig().Prompt.StopTokens
	}
	for _, s := range stops {
		if id, ok := tok.TokenID(s); ok && !isStop(id, p.Stop) {
			p.Stop = append(p.Stop, id)
		}
	}
	for _, e := range eos {
		if id := int32(e); e >= 0 && !isStop(id, p.Stop) {
			p.Stop = append(p.Stop, id)
		}
	}
	if len(p.Stop) == 0 {
		return nil, fmt.Errorf("prompt: none of the stop tokens %q is in the vocabulary of %s and the model has no EOS id", cfg.StopTokens, dir)
	}
	p.End = p.Stop[0]
	p.delim[0] = tok.Encode(RevisionDelimiter(p.RevisionText(false)))
	p.delim[1] = tok.Encode(RevisionDelimiter(p.RevisionText(true)))
	return p, nil
}

// UserIDs renders one user message (with the system message if any) and
// the assistant generation prompt.
func (p *Prompter) UserIDs(content string) ([]int32, error) {
	var msgs []chat.Message
	if p.Cfg.System != "" {
		msgs = append(msgs, chat.Message{Role: "system", Content: p.Cfg.System})
	}
	msgs = append(msgs, chat.Message{Role: "user", Content: content})
	think := p.Cfg.EnableThinking
	ids, err := p.Tmpl.RenderIDs(p.Tok, msgs, chat.Options{AddGenerationPrompt: true, EnableThinking: &think})
	if err != nil {
		return nil, fmt.Errorf("render prompt: %w", err)
	}
	return ids, nil
}

// PromptIDs renders a problem's question (plus the configured suffix).
func (p *Prompter) PromptIDs(question string) ([]int32, error) {
	return p.UserIDs(question + p.Cfg.Suffix)
}

// RevisionText is P_r for a reward under this prompter's config.
func (p *Prompter) RevisionText(correct bool) string { return p.Cfg.revisionText(correct) }

// ReviserInput is BuildReviserInput with this prompter's stop ids and P_r.
func (p *Prompter) ReviserInput(promptIDs, y []int32, correct bool) []int32 {
	yp := StripStop(y, p.Stop)
	d := p.Delimiter(correct)
	out := make([]int32, 0, len(promptIDs)+len(yp)+len(d)+len(y))
	return append(append(append(out, promptIDs...), yp...), d...)
}

// Delimiter returns ids("\n\n" + P_r + "\n\n") for the reward (cached).
func (p *Prompter) Delimiter(correct bool) []int32 {
	if correct {
		return p.delim[1]
	}
	return p.delim[0]
}

// ResponseText decodes a response without its final stop token.
func (p *Prompter) ResponseText(y []int32) string { return p.Tok.Decode(StripStop(y, p.Stop)) }

// Problem is one training or evaluation problem.
type Problem struct {
	ID       string
	Question string
	// Answer is the reference final answer (math).
	Answer string
	// Solution is a worked solution / demonstration (sft, sdft).
	Solution string
	// Code is set for code problems (verified by tests).
	Code *dataset.CodeExample
}

// LoadProblems reads a math or code dataset as configured.
func LoadProblems(dc DataConfig) ([]Problem, dataset.Summary, error) {
	opt := dataset.Options{QuestionField: dc.QuestionField, AnswerField: dc.AnswerField,
		SolutionField: dc.SolutionField, SkipMalformed: dc.SkipMalformed}
	var out []Problem
	var sum dataset.Summary
	switch dc.Kind {
	case "code":
		exs, s, err := dataset.LoadCode(dc.Train, opt)
		if err != nil {
			return nil, s, err
		}
		sum = s
		for i := range exs {
			ex := exs[i]
			out = append(out, Problem{ID: ex.ID, Question: ex.Prompt, Code: &ex})
		}
	default:
		exs, s, err := dataset.LoadMath(dc.Train, opt)
		if err != nil {
			return nil, s, err
		}
		sum = s
		for _, ex := range exs {
			out = append(out, Problem{ID: ex.ID, Question: ex.Question, Answer: ex.Answer, Solution: ex.Solution})
		}
	}
	if dc.Limit > 0 && len(out) > dc.Limit {
		out = out[:dc.Limit]
	}
	if len(out) == 0 {
		return nil, sum, fmt.Errorf("data %s: no problems", dc.Train)
	}
	return out, sum, nil
}

// Verifier computes binary rewards in a bounded worker pool; every job has
// a hard deadline (verify.Pool), so a stuck verification scores 0 with a
// reason instead of stalling the rollout batch.
type Verifier struct {
	// Workers bounds parallel verifications.
	Workers int
	CodeOpt verify.CodeOptions

	// requested is verify.workers as configured (0 = choose).
	requested int
	// override replaces the verifier (tests).
	override func(p *Problem, text string) verify.Result
}

// NewVerifier builds a verifier from the config.
func NewVerifier(vc VerifyConfig) *Verifier {
	w := vc.Workers
	if w <= 0 {
		w = runtime.NumCPU()
	}
	return &Verifier{
		Workers:   w,
		requested: vc.Workers,
		CodeOpt: verify.CodeOptions{
			TestTimeout:         time.Duration(vc.TestTimeoutS * float64(time.Second)),
			CompileTimeout:      time.Duration(vc.CompileTimeoutS * float64(time.Second)),
			MemoryBytes:         int64(vc.MemoryMB) << 20,
			Python:              vc.Python,
			Gxx:                 vc.Gxx,
			AllowUnisolatedCode: vc.AllowUnisolatedCode,
			Stats:               &verify.CodeStats{},
		},
	}
}

// FitCode prepares the verifier for code problems: it refuses a machine
// without sandbox isolation unless verify.allow_unisolated_code is set,
// sizes Workers so that every sample's memory bound fits the available
// memory (verify.FitCodeWorkers), and prints the sandbox mode and plan.
func (v *Verifier) FitCode(out io.Writer) error {
	info := verify.ProbeSandbox()
	fmt.Fprintf(out, "code sandbox: %s\n", info.Detail)
	if !info.Namespaces && !v.CodeOpt.AllowUnisolatedCode {
		return fmt.Errorf("verify: code problems need the sandbox's namespace isolation, unavailable here (%s); set verify.allow_unisolated_code: true to run them without filesystem and process isolation (see docs/sandbox.md)", info.Detail)
	}
	plan, err := verify.FitCodeWorkers(v.requested, v.CodeOpt)
	fmt.Fprintf(out, "%s\n", plan)
	if err != nil {
		return err
	}
	v.Workers = plan.Workers
	return nil
}

// Verify scores texts[i] against probs[i] (same length), in parallel.
func (v *Verifier) Verify(ctx context.Context, probs []*Problem, texts []string) []verify.Result {
	jobs := make([]verify.Job, len(texts))
	for i := range texts {
		p, text := probs[i], texts[i]
		if v.override != nil {
			jobs[i] = func(context.Context) verify.Result { return v.override(p, text) }
		} else if p.Code != nil {
			jobs[i] = func(ctx context.Context) verify.Result { return verify.Code(ctx, text, *p.Code, v.CodeOpt) }
		} else {
			jobs[i] = func(context.Context) verify.Result { return verify.Math(text, p.Answer) }
		}
	}
	return verify.NewPool(max(v.Workers, 1)).Run(ctx, jobs)
}

// RolloutOptions configure Rollout.
type RolloutOptions struct {
	// N samples per prompt.
	N            int
	MaxNewTokens int
	Temperature  float32
	TopP         float32
	TopK         int
	// GenBatch bounds the rows of one Generate call (<= 0: all at once).
	GenBatch int
	// Seed makes the rollout reproducible.
	Seed uint64
	// Stop ids end a response (included in it).
	Stop []int32
	// Interrupt, if set, is asked before each Generate call: true stops
	// the rollout there with ErrInterrupted (a graceful stop within one
	// generation batch, however many samples the rollout has).
	Interrupt func() bool
	// Context, if set, stops generation between two decode steps once it
	// is done (model.GenerateOptions.Context); the error wraps its Err.
	// For one long generation (explain), where Interrupt comes too rarely.
	Context context.Context
	// Static decodes each GenBatch chunk as its own batch, until its
	// longest row ends, instead of continuously (the default: GenBatch
	// slots refilled as rows end, see model.GenerateOptions.Slots). The
	// tokens are the same either way; it is there to compare the two.
	Static bool
	// RowOffset and TotalRows place this call's rows in a larger rollout
	// (TotalRows 0: this call is the whole rollout): its rows are rows
	// [RowOffset, RowOffset+len(prompts)*N) of TotalRows, and each is
	// sampled exactly as in one call over all of them. A data-parallel
	// rank generates its contiguous share of the global batch this way,
	// so that the samples do not depend on the number of ranks.
	RowOffset, TotalRows int
}

// rolloutOptions derives RolloutOptions from the config (seed and N set by
// the caller).
func (c *Config) rolloutOptions(stop []int32, n int, seed uint64) RolloutOptions {
	r := c.Rollout
	return RolloutOptions{N: n, MaxNewTokens: r.MaxNewTokens, Temperature: float32(r.Temperature),
		TopP: float32(r.TopP), TopK: r.TopK, GenBatch: r.GenBatch, Seed: seed, Stop: stop}
}

// Sample is one generated response.
type Sample struct {
	// Index is the position of the sample's prompt in the caller's slice.
	Index int
	// Response holds the new tokens, with the stop token when Stopped.
	Response []int32
	// Stopped reports that the response ended with a stop token (false:
	// it hit MaxNewTokens).
	Stopped bool
	// Text is the decoded response without its stop token.
	Text   string
	Reward float64
	// Verdict is the verifier's full result.
	Verdict verify.Result
}

// GenerateN samples opt.N responses for every prompt (sample k belongs to
// prompt k/N), at most opt.GenBatch rows at a time, drawing each chunk of
// GenBatch rows from its own seed derived from opt.Seed, so that the result
// depends only on the inputs. The rows decode continuously (a row that
// ends hands its slot to the next row, whose chunk's stream it still
// samples from) unless opt.Static.
func GenerateN(m *model.Model, prompts [][]int32, opt RolloutOptions) ([][]int32, error) {
	n := opt.N
	if n < 1 {
		n = 1
	}
	rows := make([][]int32, 0, len(prompts)*n)
	for _, p := range prompts {
		for j := 0; j < n; j++ {
			rows = append(rows, p)
		}
	}
	// Chunks of GenBatch rows are cut from the whole rollout (global row
	// indices), each with its own seed; this call generates its part of
	// every chunk it overlaps, drawing that chunk's random numbers.
	if len(rows) == 0 {
		return nil, nil
	}
	off, total := opt.RowOffset, opt.TotalRows
	if total <= 0 {
		off, total = 0, len(rows)
	}
	if off < 0 || off+len(rows) > total {
		return nil, fmt.Errorf("generate: rows [%d,%d) outside the rollout's %d rows", off, off+len(rows), total)
	}
	gb := opt.GenBatch
	if gb <= 0 {
		gb = total
	}
	if !opt.Static && len(rows) > gb {
		streams := map[int]func(r, i int) float32{}
		// Interrupt is asked as the static chunks ask it: once per chunk,
		// before its first row of this call starts decoding.
		var admit func(r int) error
		if opt.Interrupt != nil {
			admit = func(r int) error {
				if g := off + r; (r == 0 || g%gb == 0) && opt.Interrupt() {
					return fmt.Errorf("generate rows %d..%d: %w", r, len(rows), ErrInterrupted)
				}
				return nil
			}
		}
		gopt := model.GenerateOptions{
			MaxNewTokens: opt.MaxNewTokens, StopIDs: opt.Stop, Temperature: opt.Temperature,
			TopK: opt.TopK, TopP: opt.TopP, Slots: gb, Admit: admit, Context: opt.Context,
			// Global row off+r is row off+r-cs of chunk c, as in the
			// chunk's own static call.
			Uniform: func(r, i int) float32 {
				g := off + r
				c := g / gb
				u := streams[c]
				if u == nil {
					cs := c * gb
					u = model.SeedUniforms(mixSeed(opt.Seed, uint64(c)), min(cs+gb, total)-cs, 0)
					streams[c] = u
				}
				return u(g-c*gb, i)
			},
		}
		g, err := m.Generate(rows, gopt)
		if errors.Is(err, ErrInterrupted) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("generate rows 0..%d: %w", len(rows), err)
		}
		if len(g) != len(rows) {
			return nil, fmt.Errorf("generate rows 0..%d: got %d outputs", len(rows), len(g))
		}
		return g, nil
	}
	out := make([][]int32, 0, len(rows))
	for c := off / max(gb, 1); c*gb < off+len(rows); c++ {
		cs, ce := c*gb, min((c+1)*gb, total)
		start, end := max(cs, off)-off, min(ce, off+len(rows))-off
		if opt.Interrupt != nil && opt.Interrupt() {
			return nil, fmt.Errorf("generate rows %d..%d of %d: %w", start, end, len(rows), ErrInterrupted)
		}
		gopt := model.GenerateOptions{
			MaxNewTokens: opt.MaxNewTokens, StopIDs: opt.Stop, Temperature: opt.Temperature,
			TopK: opt.TopK, TopP: opt.TopP, Seed: mixSeed(opt.Seed, uint64(c)), Context: opt.Context,
		}
		if end-start != ce-cs {
			gopt.SampleRows, gopt.SampleRowOffset = ce-cs, off+start-cs
		}
		g, err := m.Generate(rows[start:end], gopt)
		if err != nil {
			return nil, fmt.Errorf("generate rows %d..%d: %w", start, end, err)
		}
		if len(g) != end-start {
			return nil, fmt.Errorf("generate rows %d..%d: got %d outputs", start, end, len(g))
		}
		out = append(out, g...)
	}
	return out, nil
}

// mixSeed derives an independent seed for chunk c (splitmix64 finaliser).
func mixSeed(seed, c uint64) uint64 {
	z := seed + (c+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Rollout samples opt.N responses per prompt with m and verifies each one
// against its problem (probs[i] goes with prompts[i]). Sample k belongs to
// prompt k/N. Rewards are 0 or 1.
func Rollout(ctx context.Context, m *model.Model, p *Prompter, v *Verifier, probs []*Problem, prompts [][]int32, opt RolloutOptions) ([]Sample, error) {
	if len(probs) != len(prompts) {
		return nil, fmt.Errorf("rollout: %d problems but %d prompts", len(probs), len(prompts))
	}
	if opt.Stop == nil {
		opt.Stop = p.Stop
	}
	if opt.N < 1 {
		opt.N = 1
	}
	gens, err := GenerateN(m, prompts, opt)
	if err != nil {
		return nil, err
	}
	samples := make([]Sample, len(gens))
	texts := make([]string, len(gens))
	vp := make([]*Problem, len(gens))
	for k, y := range gens {
		texts[k] = p.ResponseText(y)
		vp[k] = probs[k/opt.N]
		samples[k] = Sample{Index: k / opt.N, Response: y, Text: texts[k],
			Stopped: len(y) > 0 && isStop(y[len(y)-1], opt.Stop)}
	}
	res := v.Verify(ctx, vp, texts)
	for k := range samples {
		samples[k].Verdict = res[k]
		samples[k].Reward = res[k].Reward
	}
	return samples, nil
}

// copyTokenizerFiles copies the tokenizer and chat-template files of src
// into dst so that an exported model directory is self-contained.
func copyTokenizerFiles(src, dst string) error {
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return err
		}
		if strings.HasPrefix(name, "generation_config") {
			// Keep the model's own generation config if Save wrote one.
			if _, err := os.Stat(filepath.Join(dst, name)); err == nil {
				continue
			}
		}
		if err := writeFileAtomic(filepath.Join(dst, name), data); err != nil {
			return err
		}
	}
	return nil
}
