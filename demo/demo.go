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
	// training (its sample budget).
	Samples int64 `json:"samples"`
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
	// and GRPO were given.
	Budget  int64   `json:"budget"`
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
	gen := func(n int, seed uint64) []dataset.MathExample {
		exs, err := Arithmetic(n, t.Digits, t.Kinds, seed)
		if err != nil && genErr == nil {
			genErr = err
		}
		return exs
	}
	evalSet := uniqueQuestions(gen(t.Eval*2, t.EvalSeed), nil, t.Eval)
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
	trainSet := uniqueQuestions(gen(t.Train*2, t.TrainSeed), held, t.Train)
	r.evalSet = evalSet
	r.evalData = filepath.Join(dataDir, "heldout.jsonl")
	r.trainData = filepath.Join(dataDir, "train.jsonl")
	if err := dataset.WriteMathJSONL(r.evalData, evalSet); err != nil {
		return err
	}
	if err := dataset.WriteMathJSONL(r.trainData, trainSet); err != nil {
		return err
	}
	if r.opt.RegenBase {
		pc, err := r.cfg.PhaseConfig("pretrain", r.opt.Quick)
		if err != nil {
			return err
		}
		p, err := train.NewPrompter(r.tokDir, pc.Prompt, []int{tinytok.ImEndID})
		if err != nil {
			return err
		}
		pre, err := RevisionDemos(filterOut(gen(t.Pretrain, t.PretrainSeed), held), t.RevisionDemos.Wrong, t.RevisionDemos.Right,
			p.RevisionText(false), p.RevisionText(true), t.PretrainSeed)
		if err != nil {
			return err
		}
		r.pretrainData = filepath.Join(dataDir, "pretrain.jsonl")
		if err := dataset.WriteMathJSONL(r.pretrainData, pre); err != nil {
			return err
		}
		r.logf("data: %d pretraining, %d training and %d held-out problems in %s", len(pre), len(trainSet), len(evalSet), dataDir)
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
	r.logf("base: pretrained in %.1fs -> %s", time.Since(t0).Seconds(), res.FinalModel)
	if r.opt.SaveBase != "" {
		if err := saveBase(res.FinalModel, r.opt.SaveBase); err != nil {
			return "", err
		}
		r.logf("base: saved to %s (config.json, model.safetensors)", r.opt.SaveBase)
	}
	return res.FinalModel, nil
}

// runSeed trains every method with one seed and evaluates it.
func (r *runner) runSeed(ctx context.Context, seed uint64, base string) (*SeedResult, error) {
	t0 := time.Now()
	dir := filepath.Join(r.out, fmt.Sprintf("seed-%d", seed))
	sr := &SeedResult{Seed: seed, Dir: dir}
	r.logf("\n== seed %d: %s", seed, dir)
	results := map[string]*MethodResult{}

	phase := func(name, model string, data string, set func(*train.Config)) (*train.Result, float64, error) {
		tc, err := r.cfg.PhaseConfig(name, r.opt.Quick)
		if err != nil {
			return nil, 0, err
		}
		tc.Model, tc.Tokenizer = model, r.tokDir
		tc.Out = filepath.Join(dir, name)
		tc.Data.Train = data
		tc.Seed = seed
		if set != nil {
			set(tc)
		}
		st := time.Now()
		res, err := train.Run(ctx, tc, train.Options{Backend: r.be, Out: r.trainW})
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		if res.Interrupted {
			return nil, 0, fmt.Errorf("%s: interrupted (resume with sdzero train --resume %s)", name, res.RunDir)
		}
		sec := time.Since(st).Seconds()
		if _, err := plot.Run(res.RunDir, ""); err != nil {
			r.logf("plot %s: %v", res.RunDir, err)
		}
		r.logf("%-12s %4d steps  %6d samples  %6.1fs  -> %s", name, res.Steps, res.SamplesGenerated, sec, res.RunDir)
		return res, sec, nil
	}

	// SD-Zero: srt-collect, srt, distill.
	col, colS, err := phase("srt-collect", base, r.trainData, nil)
	if err != nil {
		return nil, err
	}
	if col.Kept == 0 {
		return nil, fmt.Errorf("srt-collect kept no correct revisions (%s)", col.RunDir)
	}
	srt, srtS, err := phase("srt", base, r.trainData, func(c *train.Config) { c.SRT.Data = col.DataPath })
	if err != nil {
		return nil, err
	}
	dis, disS, err := phase("distill", srt.FinalModel, r.trainData, nil)
	if err != nil {
		return nil, err
	}
	budget := col.SamplesGenerated + dis.SamplesGenerated
	sr.Budget = budget
	results[MethodSRT] = &MethodResult{Method: MethodSRT, Model: srt.FinalModel, Samples: col.SamplesGenerated,
		RunDirs: []string{col.RunDir, srt.RunDir}, TrainSeconds: colS + srtS}
	results[MethodSDZero] = &MethodResult{Method: MethodSDZero, Model: dis.FinalModel, Samples: budget,
		RunDirs: []string{col.RunDir, srt.RunDir, dis.RunDir}, TrainSeconds: colS + srtS + disS}

	// Baselines at SD-Zero's sample budget.
	rft, rftS, err := phase("rft", base, r.trainData, func(c *train.Config) {
		per := int64(c.RFT.K) * int64(c.RFT.Rounds)
		c.RFT.PromptsPerRound = int(max(1, (budget+per/2)/per))
	})
	if err != nil {
		return nil, err
	}
	results[MethodRFT] = &MethodResult{Method: MethodRFT, Model: rft.FinalModel, Samples: rft.SamplesGenerated,
		RunDirs: []string{rft.RunDir}, TrainSeconds: rftS}
	grpo, grpoS, err := phase("grpo", base, r.trainData, func(c *train.Config) {
		per := int64(c.GRPO.GroupSize) * int64(c.Train.BatchSize)
		c.Train.Steps = int(max(1, (budget+per/2)/per))
	})
	if err != nil {
		return nil, err
	}
	results[MethodGRPO] = &MethodResult{Method: MethodGRPO, Model: grpo.FinalModel, Samples: grpo.SamplesGenerated,
		RunDirs: []string{grpo.RunDir}, TrainSeconds: grpoS}
	results[MethodBase] = &MethodResult{Method: MethodBase, Model: base}

	for _, name := range Methods {
		mr := results[name]
		if err := r.evaluate(ctx, mr, seed, filepath.Join(dir, "eval-"+strings.ToLower(name)+".jsonl")); err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", name, err)
		}
		r.logf("eval %-8s avg@%d %.3f  greedy %.3f  (%.1fs)", name, r.cfg.Eval.K, mr.Accuracy, mr.Greedy, mr.EvalSeconds)
		sr.Methods = append(sr.Methods, *mr)
	}
	sr.Seconds = time.Since(t0).Seconds()
	return sr, nil
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

// aggregate computes the mean and sample standard deviation per method.
func aggregate(runs []SeedResult) (acc, greedy map[string]Stat) {
	acc, greedy = map[string]Stat{}, map[string]Stat{}
	for _, name := range Methods {
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
	fmt.Fprintf(w, "%-8s  %-15s  %-15s  %8s  %8s\n", "method", "avg@k", "greedy", "samples", "train_s")
	for _, name := range Methods {
		if _, ok := acc[name]; !ok {
			continue
		}
		var samples int64
		var sec float64
		for _, sr := range runs {
			for _, mr := range sr.Methods {
				if mr.Method == name {
					samples += mr.Samples
					sec += mr.TrainSeconds
				}
			}
		}
		n := int64(len(runs))
		fmt.Fprintf(w, "%-8s  %-15s  %-15s  %8d  %8.1f\n", name, fmtStat(acc[name], len(runs)), fmtStat(greedy[name], len(runs)),
			samples/n, sec/float64(n))
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
