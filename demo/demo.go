// Package demo is sdzero's end-to-end demonstration on a tiny task that
// runs on a laptop CPU in minutes: a small Qwen3-architecture model with a
// byte-level tokenizer (package tinytok) that solves synthetic arithmetic,
// post-trained with SD-Zero (self-revision training, then on-policy
// self-distillation) and, at the same budget of generated samples, with
// RFT and GRPO; every model is evaluated on the same held-out problems.
//
// The base model is shipped in demo/base (produced by `sdzero demo
// --regen-base --save-base demo/base`, which pretrains it with the
// trainer's SFT phase on worked solutions); the demo's settings are the
// embedded demo.yaml.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sdzero/data/dataset"
	"sdzero/data/verify"
	"sdzero/demo/tinytok"
	"sdzero/kernels"
	"sdzero/model"
	"sdzero/train"
	"sdzero/train/eval"
	"sdzero/train/plot"
)

// Options control a demo run.
type Options struct {
	// Out is the output directory (created; a previous demo output there
	// is replaced, any other non-empty directory is refused).
	Out string
	// Seeds are the run seeds (empty: the config's seed). Each seed runs
	// every method from the same base model and data.
	Seeds []uint64
	// Quick applies the config's quick overrides (a smoke test).
	Quick bool
	// RegenBase pretrains the base model with the trainer's SFT phase
	// instead of using the shipped one; SaveBase, if set, copies the
	// result there (config.json and model.safetensors).
	RegenBase bool
	SaveBase  string
	// BaseDir, if set, is used as the base model instead of the shipped
	// one (a model directory with config.json and safetensors weights
	// whose vocabulary is the demo tokenizer's).
	BaseDir string
	// BaseOnly stops after obtaining (and evaluating) the base model.
	BaseOnly bool
	// ConfigPath replaces the embedded demo.yaml.
	ConfigPath string
	// Controls are extra distillation runs from the same SRT model with
	// the teacher told something other than the verified reward
	// (distill.teacher_feedback): "blind" (always the r=1 phrase, a
	// reward-blind teacher) and/or "wrong" (always the r=0 phrase). Each
	// adds a row "SD-Zero/<control>".
	Controls []string
	// Backend runs everything (required).
	Backend kernels.Backend
	// Log receives progress lines (nil: discarded); TrainOut the
	// trainer's own progress output (nil: discarded).
	Log, TrainOut io.Writer
}

// Method names, in table order.
const (
	MethodBase   = "base"
	MethodRFT    = "RFT"
	MethodGRPO   = "GRPO"
	MethodSRT    = "SRT"
	MethodSDZero = "SD-Zero"
)

// Methods lists the rows of the result table.
var Methods = []string{MethodBase, MethodRFT, MethodGRPO, MethodSRT, MethodSDZero}

// MethodResult is one method's outcome for one seed.
type MethodResult struct {
	Method string `json:"method"`
	// Accuracy is the held-out avg@k at the evaluation temperature;
	// Greedy the held-out accuracy of greedy decoding.
	Accuracy float64         `json:"accuracy"`
	Greedy   float64         `json:"greedy_accuracy"`
	PassAtK  map[int]float64 `json:"pass_at_k"`
	MeanLen  float64         `json:"mean_len"`
	// Samples is the number of responses the method generated for
	// training (its sample budget), Tokens their tokens (stop tokens
	// included).
	Samples int64 `json:"samples"`
	Tokens  int64 `json:"tokens"`
	// Model is the evaluated model directory; RunDirs the training runs
	// that produced it.
	Model   string   `json:"model"`
	RunDirs []string `json:"run_dirs,omitempty"`
	// TrainSeconds and EvalSeconds are wall times.
	TrainSeconds float64 `json:"train_s"`
	EvalSeconds  float64 `json:"eval_s"`
}

// SeedResult is one seed's run of every method.
type SeedResult struct {
	Seed    uint64         `json:"seed"`
	Dir     string         `json:"dir"`
	Methods []MethodResult `json:"methods"`
	// Budget is SD-Zero's sample count (srt-collect + distill) that RFT
	// and GRPO were given; TokenBudget its generated tokens.
	Budget      int64 `json:"budget"`
	TokenBudget int64 `json:"token_budget"`
	// Gates are SD-Zero's preconditions measured on this seed's SRT model
	// and distillation.
	Gates   *Gates  `json:"gates,omitempty"`
	Seconds float64 `json:"wall_s"`
}

// Stat is a mean and standard deviation over seeds.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

// Summary is summary.json.
type Summary struct {
	Seeds []uint64     `json:"seeds"`
	Runs  []SeedResult `json:"runs"`
	// Accuracy and Greedy map each method to its mean and sample
	// standard deviation over seeds (std 0 for one seed).
	Accuracy map[string]Stat `json:"accuracy"`
	Greedy   map[string]Stat `json:"greedy_accuracy"`
	// Samples and Tokens map each method to its mean generated training
	// samples and tokens over seeds.
	Samples map[string]float64 `json:"samples"`
	Tokens  map[string]float64 `json:"tokens"`
	// Gates lists every gate with its value and verdict per seed.
	Gates []GateSummary `json:"gates"`
	// Eval describes the held-out evaluation.
	EvalProblems int     `json:"eval_problems"`
	EvalK        int     `json:"eval_k"`
	EvalTemp     float64 `json:"eval_temperature"`
	// Base is "shipped" or "regenerated"; BaseModel its directory;
	// BaseSeconds the time to obtain it.
	Base        string  `json:"base"`
	BaseModel   string  `json:"base_model"`
	BaseSeconds float64 `json:"base_s"`
	Quick       bool    `json:"quick"`
	Seconds     float64 `json:"wall_s"`
	Backend     string  `json:"backend"`
	// Config is the demo settings file used.
	Config string `json:"config"`
}

// marker identifies a directory the demo created (safe to replace).
const marker = ".sdzero-demo"

type runner struct {
	opt    Options
	cfg    *Config
	raw    []byte
	be     kernels.Backend
	log    io.Writer
	trainW io.Writer
	out    string
	tokDir string
	// data files
	trainData, evalData, pretrainData string
	evalSet                           []dataset.MathExample
	held                              map[string]bool
}

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(r.log, format+"\n", a...)
}

// Run executes the demo and writes summary.json into opt.Out.
func Run(ctx context.Context, opt Options) (*Summary, error) {
	t0 := time.Now()
	if opt.Backend == nil {
		return nil, errors.New("demo: no backend")
	}
	raw := DefaultYAML
	if opt.ConfigPath != "" {
		b, err := os.ReadFile(opt.ConfigPath)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		raw = b
	}
	cfg, err := ParseConfig(raw, opt.Quick)
	if err != nil {
		return nil, err
	}
	if opt.Out == "" {
		opt.Out = "demo-out"
	}
	if len(opt.Seeds) == 0 {
		opt.Seeds = []uint64{cfg.Seed}
	}
	r := &runner{opt: opt, cfg: cfg, raw: raw, be: opt.Backend, log: opt.Log, trainW: opt.TrainOut, out: opt.Out}
	if r.log == nil {
		r.log = io.Discard
	}
	if r.trainW == nil {
		r.trainW = io.Discard
	}
	if err := prepareOut(opt.Out); err != nil {
		return nil, err
	}
	if err := r.prepareData(); err != nil {
		return nil, err
	}
	sum := &Summary{Seeds: opt.Seeds, EvalProblems: len(r.evalSet), EvalK: cfg.Eval.K, EvalTemp: cfg.Eval.Temperature,
		Quick: opt.Quick, Backend: r.be.Name(), Config: string(raw)}
	tb := time.Now()
	base, err := r.baseModel(ctx)
	if err != nil {
		return nil, err
	}
	sum.BaseModel, sum.BaseSeconds = base, time.Since(tb).Seconds()
	switch {
	case opt.RegenBase:
		sum.Base = "regenerated"
	case opt.BaseDir != "":
		sum.Base = "given"
	default:
		sum.Base = "shipped"
	}
	if opt.BaseOnly {
		mr := &MethodResult{Method: MethodBase, Model: base}
		if err := r.evaluate(ctx, mr, opt.Seeds[0], filepath.Join(opt.Out, "eval-base.jsonl")); err != nil {
			return nil, fmt.Errorf("evaluate base: %w", err)
		}
		r.logf("eval base     avg@%d %.3f  greedy %.3f  mean length %.1f  (%.1fs)", cfg.Eval.K, mr.Accuracy, mr.Greedy, mr.MeanLen, mr.EvalSeconds)
		sum.Runs = []SeedResult{{Seed: opt.Seeds[0], Dir: opt.Out, Methods: []MethodResult{*mr}}}
		opt.Seeds = opt.Seeds[:1]
	}
	for _, seed := range opt.Seeds {
		if opt.BaseOnly {
			break
		}
		sr, err := r.runSeed(ctx, seed, base)
		if err != nil {
			return nil, fmt.Errorf("demo seed %d: %w", seed, err)
		}
		sum.Runs = append(sum.Runs, *sr)
		if len(opt.Seeds) > 1 {
			r.logf("")
			PrintTable(r.log, sum.Runs[len(sum.Runs)-1:], cfg)
		}
	}
	sum.Accuracy, sum.Greedy = aggregate(sum.Runs)
	sum.Samples, sum.Tokens = budgets(sum.Runs)
	sum.Gates = gateSummary(sum.Runs)
	sum.Seconds = time.Since(t0).Seconds()
	if err := writeJSON(filepath.Join(opt.Out, "summary.json"), sum); err != nil {
		return nil, err
	}
	return sum, nil
}

// prepareOut creates dir, replacing a previous demo output there.
func prepareOut(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("demo: %w", err)
	case len(ents) > 0:
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("demo: %s is not empty and not a previous demo output; pick another --out", dir)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("demo: clear %s: %w", dir, err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, marker), []byte("created by sdzero demo; the demo replaces this directory's contents\n"), 0o644)
}

// prepareData writes the tokenizer and the train, held-out and pretraining
// problem sets. Held-out questions never appear in a training set.
func (r *runner) prepareData() error {
	t := r.cfg.Task
	r.tokDir = filepath.Join(r.out, "tokenizer")
	if err := tinytok.WriteDir(r.tokDir); err != nil {
		return err
	}
	dataDir := filepath.Join(r.out, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var genErr error
	gen := func(n int, hard float64, seed uint64) []dataset.MathExample {
		exs, err := Arithmetic(n, t.Spec(hard), seed)
		if err != nil && genErr == nil {
			genErr = err
		}
		return exs
	}
	evalSet := uniqueQuestions(gen(t.Eval*2, t.Hard, t.EvalSeed), nil, t.Eval)
	if genErr != nil {
		return genErr
	}
	if len(evalSet) < t.Eval {
		return fmt.Errorf("demo: only %d distinct held-out problems of kinds %v with %d digits", len(evalSet), t.Kinds, t.Digits)
	}
	held := map[string]bool{}
	for _, e := range evalSet {
		held[e.Question] = true
	}
	trainSet := uniqueQuestions(gen(t.Train*2, t.Hard, t.TrainSeed), held, t.Train)
	if genErr != nil {
		return genErr
	}
	r.evalSet, r.held = evalSet, held
	r.evalData = filepath.Join(dataDir, "heldout.jsonl")
	r.trainData = filepath.Join(dataDir, "train.jsonl")
	if err := dataset.WriteMathJSONL(r.evalData, evalSet); err != nil {
		return err
	}
	if err := dataset.WriteMathJSONL(r.trainData, trainSet); err != nil {
		return err
	}
	if r.opt.RegenBase {
		pre := filterOut(gen(t.Pretrain, t.PretrainHard, t.PretrainSeed), held)
		if genErr != nil {
			return genErr
		}
		r.pretrainData = filepath.Join(dataDir, "pretrain.jsonl")
		if err := dataset.WriteMathJSONL(r.pretrainData, pre); err != nil {
			return err
		}
		r.logf("data: %d pretraining (%.0f%% hard), %d training and %d held-out problems (%.0f%% hard: a carry/borrow chain of %d+ columns) in %s",
			len(pre), 100*t.PretrainHard, len(trainSet), len(evalSet), 100*t.Hard, t.HardChain, dataDir)
	} else {
		r.logf("data: %d training and %d held-out problems in %s", len(trainSet), len(evalSet), dataDir)
	}
	return nil
}

// uniqueQuestions keeps the first n examples with distinct questions not
// in skip.
func uniqueQuestions(exs []dataset.MathExample, skip map[string]bool, n int) []dataset.MathExample {
	seen := map[string]bool{}
	var out []dataset.MathExample
	for _, e := range exs {
		if len(out) == n {
			break
		}
		if seen[e.Question] || skip[e.Question] {
			continue
		}
		seen[e.Question] = true
		out = append(out, e)
	}
	return out
}

func filterOut(exs []dataset.MathExample, skip map[string]bool) []dataset.MathExample {
	var out []dataset.MathExample
	for _, e := range exs {
		if !skip[e.Question] {
			out = append(out, e)
		}
	}
	return out
}

// baseModel returns the directory of the base model: the shipped one, or
// one pretrained now with the trainer's SFT phase.
func (r *runner) baseModel(ctx context.Context) (string, error) {
	dir := filepath.Join(r.out, "base")
	if r.opt.BaseDir != "" && !r.opt.RegenBase {
		r.logf("base: %s", r.opt.BaseDir)
		return r.opt.BaseDir, nil
	}
	if !r.opt.RegenBase {
		if err := writeShippedBase(dir); err != nil {
			return "", err
		}
		if err := tinytok.WriteDir(dir); err != nil {
			return "", err
		}
		r.logf("base: shipped checkpoint written to %s", dir)
		return dir, nil
	}
	bm := r.cfg.BaseModel
	mc := &model.Config{Arch: "qwen3", VocabSize: tinytok.VocabSize, Hidden: bm.Hidden, Intermediate: bm.Intermediate,
		Layers: bm.Layers, Heads: bm.Heads, KVHeads: bm.KVHeads, HeadDim: bm.HeadDim, RMSNormEps: 1e-6, RopeTheta: 10000,
		TieEmbeddings: true, QKNorm: true, MaxPositions: 512, BOSTokenID: -1, EOSTokenIDs: []int{tinytok.ImEndID}}
	if err := mc.Validate(); err != nil {
		return "", fmt.Errorf("demo base_model: %w", err)
	}
	m, err := model.New(mc, r.be, bm.InitSeed)
	if err != nil {
		return "", err
	}
	initDir := filepath.Join(r.out, "base-init")
	err = m.Save(initDir, model.SaveOptions{})
	m.Free()
	if err != nil {
		return "", err
	}
	if err := tinytok.WriteDir(initDir); err != nil {
		return "", err
	}
	tc, err := r.cfg.PhaseConfig("pretrain", r.opt.Quick)
	if err != nil {
		return "", err
	}
	tc.Model, tc.Tokenizer = initDir, r.tokDir
	tc.Out = filepath.Join(r.out, "base-pretrain")
	tc.Data.Train = r.pretrainData
	tc.Seed = bm.InitSeed
	r.logf("base: pretraining %s (%d parameters) with SFT on worked solutions -> %s", mc, mc.NumParams(), tc.Out)
	t0 := time.Now()
	res, err := train.Run(ctx, tc, train.Options{Backend: r.be, Out: r.trainW})
	if err != nil {
		return "", fmt.Errorf("pretrain: %w", err)
	}
	if res.FinalModel == "" {
		return "", fmt.Errorf("pretrain: run %s ended without a final model (interrupted?)", res.RunDir)
	}
	r.logf("base: stage 1 pretrained in %.1fs -> %s", time.Since(t0).Seconds(), res.FinalModel)
	final, err := r.pretrainRevise(ctx, res.FinalModel)
	if err != nil {
		return "", err
	}
	if r.opt.SaveBase != "" {
		if err := saveBase(final, r.opt.SaveBase); err != nil {
			return "", err
		}
		r.logf("base: saved to %s (config.json, model.safetensors)", r.opt.SaveBase)
	}
	return final, nil
}

// pretrainRevise is the base model's second pretraining stage: the
// stage-1 model answers fresh problems once at the rollout temperature;
// its wrong answers (and some right ones) become revision demonstrations
// (SelectRevisionDemos) <answer> P_r <worked solution>, trained with the
// trainer's SRT phase (phases.pretrain-revise: revision loss on the worked
// solution only, so the model learns to revise after P_r without learning
// to write P_r after its own answers). It returns the final model
// directory.
func (r *runner) pretrainRevise(ctx context.Context, stage1 string) (string, error) {
	t := r.cfg.Task
	rd := t.RevisionDemos
	tc, err := r.cfg.PhaseConfig("pretrain-revise", r.opt.Quick)
	if err != nil {
		return "", err
	}
	probs, err := Arithmetic(rd.Problems, t.Spec(rd.Hard), t.PretrainSeed+1)
	if err != nil {
		return "", err
	}
	probs = filterOut(probs, r.held)
	plain, err := Arithmetic(rd.Plain, t.Spec(t.PretrainHard), t.PretrainSeed+2)
	if err != nil {
		return "", err
	}
	plain = filterOut(plain, r.held)
	t0 := time.Now()
	m, err := model.Load(stage1, r.be)
	if err != nil {
		return "", err
	}
	p, err := train.NewPrompter(r.tokDir, tc.Prompt, m.Cfg.EOSTokenIDs)
	if err != nil {
		m.Free()
		return "", err
	}
	prompts, attempts, err := sampleAttempts(ctx, m, p, probs, tc.Rollout, t.PretrainSeed)
	m.Free()
	if err != nil {
		return "", fmt.Errorf("pretrain-revise: %w", err)
	}
	picked := SelectRevisionDemos(attempts, rd.Right, t.PretrainSeed)
	wrong, nRev := 0, 0
	for _, a := range attempts {
		if !a.Correct {
			wrong++
		}
	}
	var buf []byte
	add := func(tu train.SRTTuple) error {
		line, err := json.Marshal(tu)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		buf = append(append(buf, line...), '\n')
		return nil
	}
	// Plain worked solutions keep the model answering from the prompt
	// alone (with revision demos only, it forgets how): a tuple without
	// an attempt and delimiter is the sequence prompt + solution.
	for _, e := range plain {
		ids, err := p.PromptIDs(e.Question)
		if err != nil {
			return "", fmt.Errorf("demo: problem %s: %w", e.ID, err)
		}
		if err := add(train.SRTTuple{ID: e.ID, Question: e.Question, Answer: e.Answer, PromptIDs: ids, InitReward: 1,
			RevIDs: p.Tok.Encode(e.Solution), RevText: e.Solution}); err != nil {
			return "", err
		}
	}
	for _, i := range picked {
		a, e := attempts[i], probs[i]
		if !a.Correct {
			nRev++
		}
		reward := 0.0
		if a.Correct {
			reward = 1
		}
		if err := add(train.SRTTuple{ID: e.ID, Question: e.Question, Answer: e.Answer, PromptIDs: prompts[i], InitIDs: a.IDs, InitText: a.Text,
			InitReward: reward, RevisionPrompt: p.RevisionText(a.Correct), DelimIDs: p.Delimiter(a.Correct),
			RevIDs: p.Tok.Encode(e.Solution), RevText: e.Solution}); err != nil {
			return "", err
		}
	}
	r.logf("base: stage 1 answered %d problems (%.0f%% hard): %d wrong (%.1f%%); %d r=0 and %d r=1 revision demos from its own attempts (%.1fs)",
		len(probs), 100*rd.Hard, wrong, 100*float64(wrong)/float64(max(1, len(probs))), nRev, len(picked)-nRev, time.Since(t0).Seconds())
	path := filepath.Join(filepath.Dir(r.trainData), "revision-demos.jsonl")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	tc.Model, tc.Tokenizer = stage1, r.tokDir
	tc.Out = filepath.Join(r.out, "base-pretrain-revise")
	tc.Data.Train = r.pretrainData
	tc.SRT.Data = path
	tc.Seed = r.cfg.BaseModel.InitSeed + 1
	t1 := time.Now()
	res, err := train.Run(ctx, tc, train.Options{Backend: r.be, Out: r.trainW})
	if err != nil {
		return "", fmt.Errorf("pretrain-revise: %w", err)
	}
	if res.FinalModel == "" {
		return "", fmt.Errorf("pretrain-revise: run %s ended without a final model (interrupted?)", res.RunDir)
	}
	r.logf("base: stage 2 (%d plain solutions + %d revision demos) in %.1fs -> %s", len(plain), len(picked), time.Since(t1).Seconds(), res.FinalModel)
	return res.FinalModel, nil
}

// sampleAttempts answers every problem once with m at the rollout
// settings ro and verifies the answers; it returns the prompts too.
func sampleAttempts(ctx context.Context, m *model.Model, p *train.Prompter, probs []dataset.MathExample, ro train.RolloutConfig, seed uint64) ([][]int32, []Attempt, error) {
	prompts := make([][]int32, len(probs))
	for i, e := range probs {
		ids, err := p.PromptIDs(e.Question)
		if err != nil {
			return nil, nil, fmt.Errorf("problem %s: %w", e.ID, err)
		}
		prompts[i] = ids
	}
	ys, err := train.GenerateN(m, prompts, train.RolloutOptions{N: 1, MaxNewTokens: ro.MaxNewTokens, Temperature: float32(ro.Temperature),
		TopP: float32(ro.TopP), TopK: ro.TopK, GenBatch: ro.GenBatch, Seed: seed, Stop: p.Stop})
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	out := make([]Attempt, len(ys))
	for i, y := range ys {
		text := p.ResponseText(y)
		out[i] = Attempt{IDs: y, Text: text, Correct: verify.Math(text, probs[i].Answer).Reward == 1}
	}
	return prompts, out, nil
}

// runSeed trains every method with one seed and evaluates it.
func (r *runner) runSeed(ctx context.Context, seed uint64, base string) (*SeedResult, error) {
	t0 := time.Now()
	dir := filepath.Join(r.out, fmt.Sprintf("seed-%d", seed))
	sr := &SeedResult{Seed: seed, Dir: dir}
	r.logf("\n== seed %d: %s", seed, dir)
	results := map[string]*MethodResult{}

	phase := func(name, out, model string, data string, set func(*train.Config)) (*train.Result, float64, error) {
		tc, err := r.cfg.PhaseConfig(name, r.opt.Quick)
		if err != nil {
			return nil, 0, err
		}
		tc.Model, tc.Tokenizer = model, r.tokDir
		tc.Out = filepath.Join(dir, out)
		tc.Data.Train = data
		tc.Seed = seed
		if set != nil {
			set(tc)
		}
		st := time.Now()
		res, err := train.Run(ctx, tc, train.Options{Backend: r.be, Out: r.trainW})
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", out, err)
		}
		if res.Interrupted {
			return nil, 0, fmt.Errorf("%s: interrupted (resume with sdzero train --resume %s)", out, res.RunDir)
		}
		sec := time.Since(st).Seconds()
		if _, err := plot.Run(res.RunDir, ""); err != nil {
			r.logf("plot %s: %v", res.RunDir, err)
		}
		r.logf("%-12s %4d steps  %6d samples  %7d tokens  %6.1fs  -> %s", out, res.Steps, res.SamplesGenerated, res.GenTokens, sec, res.RunDir)
		return res, sec, nil
	}

	// SD-Zero: srt-collect, srt, the readiness gates, distill.
	col, colS, err := phase("srt-collect", "srt-collect", base, r.trainData, nil)
	if err != nil {
		return nil, err
	}
	if col.Kept == 0 {
		return nil, fmt.Errorf("srt-collect kept no correct revisions (%s)", col.RunDir)
	}
	wrongInit, err := wrongInitTuples(col.DataPath)
	if err != nil {
		return nil, err
	}
	srt, srtS, err := phase("srt", "srt", base, r.trainData, func(c *train.Config) { c.SRT.Data = col.DataPath })
	if err != nil {
		return nil, err
	}
	tr := time.Now()
	rep, err := r.readiness(ctx, srt.FinalModel, r.trainData, seed)
	if err != nil {
		return nil, fmt.Errorf("readiness: %w", err)
	}
	r.logf("readiness of the SRT model (%.1fs):", time.Since(tr).Seconds())
	rep.WriteText(r.log)
	dis, disS, err := phase("distill", "distill", srt.FinalModel, r.trainData, nil)
	if err != nil {
		return nil, err
	}
	dc, err := r.cfg.PhaseConfig("distill", r.opt.Quick)
	if err != nil {
		return nil, err
	}
	d := dc.Distill
	window := d.GuardWindow
	if window <= 0 {
		window = 5
	}
	growth, err := errorGrowth(dis.RunDir, window, d.GuardErrorGrowth, d.GuardMinErrors)
	if err != nil {
		return nil, err
	}
	sr.Gates = &Gates{Readiness: rep, WrongInitTuples: wrongInit, ErrorGrowth: growth}
	sr.Gates.judge(d.GuardErrorGrowth)
	r.logf("gates:")
	sr.Gates.WriteText(r.log)

	budget := col.SamplesGenerated + dis.SamplesGenerated
	tokens := col.GenTokens + dis.GenTokens
	sr.Budget, sr.TokenBudget = budget, tokens
	results[MethodSRT] = &MethodResult{Method: MethodSRT, Model: srt.FinalModel, Samples: col.SamplesGenerated, Tokens: col.GenTokens,
		RunDirs: []string{col.RunDir, srt.RunDir}, TrainSeconds: colS + srtS}
	results[MethodSDZero] = &MethodResult{Method: MethodSDZero, Model: dis.FinalModel, Samples: budget, Tokens: tokens,
		RunDirs: []string{col.RunDir, srt.RunDir, dis.RunDir}, TrainSeconds: colS + srtS + disS}
	methods := append([]string{}, Methods...)
	for _, c := range r.opt.Controls {
		name := MethodSDZero + "/" + c
		res, sec, err := phase("distill", "distill-"+c, srt.FinalModel, r.trainData, func(tc *train.Config) { tc.Distill.TeacherFeedback = c })
		if err != nil {
			return nil, err
		}
		results[name] = &MethodResult{Method: name, Model: res.FinalModel, Samples: col.SamplesGenerated + res.SamplesGenerated,
			Tokens: col.GenTokens + res.GenTokens, RunDirs: []string{col.RunDir, srt.RunDir, res.RunDir}, TrainSeconds: colS + srtS + sec}
		methods = append(methods, name)
	}

	// Baselines at SD-Zero's sample budget (their answers are about as
	// long as SD-Zero's samples, so the token budgets come out close; the
	// table shows both).
	rft, rftS, err := phase("rft", "rft", base, r.trainData, func(c *train.Config) {
		per := int64(c.RFT.K) * int64(c.RFT.Rounds)
		c.RFT.PromptsPerRound = int(max(1, (budget+per/2)/per))
	})
	if err != nil {
		return nil, err
	}
	results[MethodRFT] = &MethodResult{Method: MethodRFT, Model: rft.FinalModel, Samples: rft.SamplesGenerated, Tokens: rft.GenTokens,
		RunDirs: []string{rft.RunDir}, TrainSeconds: rftS}
	grpo, grpoS, err := phase("grpo", "grpo", base, r.trainData, func(c *train.Config) {
		per := int64(c.GRPO.GroupSize) * int64(c.Train.BatchSize)
		c.Train.Steps = int(max(1, (budget+per/2)/per))
	})
	if err != nil {
		return nil, err
	}
	results[MethodGRPO] = &MethodResult{Method: MethodGRPO, Model: grpo.FinalModel, Samples: grpo.SamplesGenerated, Tokens: grpo.GenTokens,
		RunDirs: []string{grpo.RunDir}, TrainSeconds: grpoS}
	results[MethodBase] = &MethodResult{Method: MethodBase, Model: base}

	for _, name := range methods {
		mr := results[name]
		file := "eval-" + strings.ToLower(strings.ReplaceAll(name, "/", "-")) + ".jsonl"
		if err := r.evaluate(ctx, mr, seed, filepath.Join(dir, file)); err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", name, err)
		}
		r.logf("eval %-14s avg@%d %.3f  greedy %.3f  pass@%d %.3f  (%.1fs)", name, r.cfg.Eval.K, mr.Accuracy, mr.Greedy,
			r.cfg.Eval.K, mr.PassAtK[r.cfg.Eval.K], mr.EvalSeconds)
		sr.Methods = append(sr.Methods, *mr)
	}
	sr.Seconds = time.Since(t0).Seconds()
	return sr, nil
}

// wrongInitTuples counts the tuples of an srt-collect output whose first
// attempt was wrong.
func wrongInitTuples(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("demo: %w", err)
	}
	n := 0
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var tu struct {
			InitReward float64 `json:"init_reward"`
		}
		if err := json.Unmarshal([]byte(line), &tu); err != nil {
			return 0, fmt.Errorf("demo: %s line %d: %w", path, i+1, err)
		}
		if tu.InitReward != 1 {
			n++
		}
	}
	return n, nil
}

// evaluate measures a model on the held-out set: avg@k at the evaluation
// temperature (samples written to path) and greedy accuracy.
func (r *runner) evaluate(ctx context.Context, mr *MethodResult, seed uint64, path string) error {
	t0 := time.Now()
	m, err := model.Load(mr.Model, r.be)
	if err != nil {
		return err
	}
	defer m.Free()
	pc, err := r.cfg.PhaseConfig("distill", r.opt.Quick)
	if err != nil {
		return err
	}
	p, err := train.NewPrompter(r.tokDir, pc.Prompt, m.Cfg.EOSTokenIDs)
	if err != nil {
		return err
	}
	setup := eval.Setup{Gen: m, Prompt: p.PromptIDs, Encode: p.Tok.Encode, Decode: p.Tok.Decode, StopIDs: p.Stop,
		RevisionPrompt: func(rw float64) string { return p.RevisionText(rw > 0.5) }}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer f.Close()
	e := r.cfg.Eval
	rep, err := eval.Evaluate(ctx, setup, r.evalSet, eval.Options{K: e.K, Temperature: float32(e.Temperature), TopP: 1,
		MaxNewTokens: e.MaxNewTokens, Seed: seed, BatchSize: e.Batch, Samples: f})
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	greedy, err := eval.Evaluate(ctx, setup, r.evalSet, eval.Options{K: 1, Temperature: 0,
		MaxNewTokens: e.MaxNewTokens, Seed: seed, BatchSize: e.Batch})
	if err != nil {
		return err
	}
	mr.Accuracy, mr.Greedy, mr.PassAtK, mr.MeanLen = rep.AvgAtK, greedy.AvgAtK, rep.PassAtK, rep.MeanLen
	mr.EvalSeconds = time.Since(t0).Seconds()
	return nil
}

// methodNames lists the methods of runs in table order (Methods, then
// the controls).
func methodNames(runs []SeedResult) []string {
	names := append([]string{}, Methods...)
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	for _, sr := range runs {
		for _, mr := range sr.Methods {
			if !seen[mr.Method] {
				seen[mr.Method] = true
				names = append(names, mr.Method)
			}
		}
	}
	return names
}

// budgets returns each method's mean generated samples and tokens.
func budgets(runs []SeedResult) (samples, tokens map[string]float64) {
	samples, tokens = map[string]float64{}, map[string]float64{}
	n := map[string]float64{}
	for _, sr := range runs {
		for _, mr := range sr.Methods {
			samples[mr.Method] += float64(mr.Samples)
			tokens[mr.Method] += float64(mr.Tokens)
			n[mr.Method]++
		}
	}
	for k, c := range n {
		samples[k] /= c
		tokens[k] /= c
	}
	return samples, tokens
}

// aggregate computes the mean and sample standard deviation per method.
func aggregate(runs []SeedResult) (acc, greedy map[string]Stat) {
	acc, greedy = map[string]Stat{}, map[string]Stat{}
	for _, name := range methodNames(runs) {
		var a, g []float64
		for _, sr := range runs {
			for _, mr := range sr.Methods {
				if mr.Method == name {
					a = append(a, mr.Accuracy)
					g = append(g, mr.Greedy)
				}
			}
		}
		if len(a) > 0 {
			acc[name], greedy[name] = meanStd(a), meanStd(g)
		}
	}
	return acc, greedy
}

func meanStd(x []float64) Stat {
	var s Stat
	for _, v := range x {
		s.Mean += v
	}
	s.Mean /= float64(len(x))
	if len(x) > 1 {
		var ss float64
		for _, v := range x {
			ss += (v - s.Mean) * (v - s.Mean)
		}
		s.Std = math.Sqrt(ss / float64(len(x)-1))
	}
	return s
}

// PrintTable writes the held-out accuracy table of one or more seeds
// (several: mean ± std).
func PrintTable(w io.Writer, runs []SeedResult, cfg *Config) {
	if len(runs) == 0 {
		return
	}
	acc, greedy := aggregate(runs)
	k, temp := 0, 0.0
	if cfg != nil {
		k, temp = cfg.Eval.K, cfg.Eval.Temperature
	}
	seeds := make([]string, len(runs))
	for i, r := range runs {
		seeds[i] = fmt.Sprint(r.Seed)
	}
	fmt.Fprintf(w, "held-out accuracy (seed %s; avg@%d at T=%.1f, and greedy)\n", strings.Join(seeds, ","), k, temp)
	fmt.Fprintf(w, "%-14s  %-15s  %-15s  %8s  %9s  %8s\n", "method", "avg@k", "greedy", "samples", "tokens", "train_s")
	for _, name := range methodNames(runs) {
		if _, ok := acc[name]; !ok {
			continue
		}
		var samples, tokens int64
		var sec float64
		for _, sr := range runs {
			for _, mr := range sr.Methods {
				if mr.Method == name {
					samples += mr.Samples
					tokens += mr.Tokens
					sec += mr.TrainSeconds
				}
			}
		}
		n := int64(len(runs))
		fmt.Fprintf(w, "%-14s  %-15s  %-15s  %8d  %9d  %8.1f\n", name, fmtStat(acc[name], len(runs)), fmtStat(greedy[name], len(runs)),
			samples/n, tokens/n, sec/float64(n))
	}
	if gs := gateSummary(runs); len(gs) > 0 {
		fmt.Fprintf(w, "\nSD-Zero's preconditions (per seed):\n")
		for _, g := range gs {
			vals := make([]string, len(g.Values))
			for i, v := range g.Values {
				mark := "pass"
				if !g.Pass[i] {
					mark = "FAIL"
				}
				vals[i] = fmt.Sprintf("%.3f %s", v, mark)
			}
			fmt.Fprintf(w, "  %-32s %s  (target %s)\n", g.Name, strings.Join(vals, ", "), g.Target)
		}
	}
}

func fmtStat(s Stat, n int) string {
	if n > 1 {
		return fmt.Sprintf("%5.1f ± %4.1f", 100*s.Mean, 100*s.Std)
	}
	return fmt.Sprintf("%5.1f", 100*s.Mean)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}
