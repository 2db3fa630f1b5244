package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"sdzero/data/dataset"
	"sdzero/data/verify"
	"sdzero/demo"
	"sdzero/kernels"
	"sdzero/model"
	"sdzero/train"
	"sdzero/train/eval"
	"sdzero/train/eval/bench"
	"sdzero/train/plot"
)

// runEval implements `sdzero eval --model DIR --data FILE`. The prompt,
// sampling and data settings resolve as settingsOrder says: a model saved
// by `sdzero train` carries its training prompt in sdzero.json, so it is
// scored with that prompt unless a flag or --config says otherwise; every
// report starts with the settings it used.
func runEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "model directory (config.json, safetensors, tokenizer files; its sdzero.json gives the training prompt)")
	data := fs.String("data", "", "problems: .jsonl or .parquet, read like data.train (docs/data.md)")
	tokDir := fs.String("tokenizer", "", "tokenizer directory (default: --model)")
	runCfg := fs.String("config", "", "a run's config.yaml/.toml: use its prompt, rollout sampling, data.* and verify.* settings instead of the model's sdzero.json")
	var sets setFlags
	fs.Var(&sets, "set", "override one config knob, `key=value` (repeatable), e.g. --set data.answer_field=reward_model.ground_truth")
	suffix := fs.String("suffix", "", "text appended to every question (default: prompt.suffix of --config or sdzero.json)")
	df := addDataFlags(fs)
	k := fs.Int("k", 8, "samples per problem")
	temp := fs.Float64("temperature", 0.7, "sampling temperature, 0 = greedy (default: rollout.temperature of --config or sdzero.json, else 0.7)")
	topP := fs.Float64("top-p", 1, "nucleus sampling mass (default: rollout.top_p of --config or sdzero.json, else 1)")
	topK := fs.Int("top-k", 0, "sample among the K most likely tokens, 0 = off (default: rollout.top_k of --config or sdzero.json)")
	maxNew := fs.Int("max-new-tokens", 1024, "tokens per response (default: rollout.max_new_tokens of --config or sdzero.json, else 1024)")
	batch := fs.Int("batch", 64, "sequences per Generate call")
	limit := fs.Int("limit", 0, "use only the first N problems (0 = all; default: data.limit)")
	maxPrompt := fs.Int("max-prompt-tokens", 4096, "skip (and count) problems whose prompt is longer than this many tokens")
	seed := fs.Uint64("seed", 1, "sampling seed")
	revise := fs.Bool("revise", false, "also revise each response with the reviser prompt for its reward")
	variant := fs.String("pr-variant", "", "r=0 reviser prompt: paper or official (default: the config's or sdzero.json's)")
	out := fs.String("out", "", "write every sample with its reward to this JSONL file")
	asJSON := fs.Bool("json", false, "print the report as JSON (with its settings)")
	device := fs.String("device", "auto", "backend: cpu, cuda or auto")
	threads := fs.Int("threads", 0, "CPU threads (0 = all cores)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero eval --model DIR --data FILE [flags]\n\nReports avg@k, unbiased pass@k, mean response length and, with --revise,\ninitial/revised accuracy and correction/regression rates, after the settings used.\nSettings: "+settingsOrder+".")
		fs.PrintDefaults()
	}
	if err := fs.Parse(flagsFirst(fs, args)); err != nil {
		return err
	}
	if err := positionalError(fs, true); err != nil {
		return err
	}
	if *modelDir == "" || *data == "" {
		fs.Usage()
		return errors.New("eval: --model and --data are required")
	}
	if err := checkIntFlags(intFlag{"k", *k, 1, train.MaxBatchLimit}, intFlag{"max-new-tokens", *maxNew, 1, train.MaxSeqLenLimit},
		intFlag{"batch", *batch, 1, train.MaxBatchLimit}, intFlag{"limit", *limit, 0, math.MaxInt},
		intFlag{"max-prompt-tokens", *maxPrompt, 1, train.MaxSeqLenLimit}, intFlag{"threads", *threads, 0, train.MaxThreadsLimit}); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if err := checkSampling(*temp, *topP, *topK); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	rs, err := resolveSettings(*modelDir, *runCfg, sets)
	if err != nil {
		return err
	}
	cfg := rs.cfg
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["suffix"] {
		cfg.Prompt.Suffix = *suffix
	}
	if *variant != "" {
		cfg.Prompt.RevisionVariant = *variant
	}
	// Sampling: a flag, else the run's rollout settings, else the eval
	// defaults (the flags' default values).
	r := cfg.Rollout
	if !rs.fromRun {
		r.Temperature, r.TopP, r.TopK, r.MaxNewTokens = *temp, *topP, *topK, *maxNew
	}
	if given["temperature"] {
		r.Temperature = *temp
	}
	if given["top-p"] {
		r.TopP = *topP
	}
	if given["top-k"] {
		r.TopK = *topK
	}
	if given["max-new-tokens"] {
		r.MaxNewTokens = *maxNew
	}
	if err := checkSampling(r.Temperature, r.TopP, r.TopK); err != nil {
		return fmt.Errorf("eval: settings from %s: %w", rs.source, err)
	}
	dc := cfg.Data
	dc.Train = *data
	if given["limit"] {
		dc.Limit = *limit
	}
	if err := df.apply(fs, &dc); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	rs.noteFlags(fs, "suffix", "pr-variant", "temperature", "top-p", "top-k", "max-new-tokens") // data flags: in the data options
	probs, ver, err := loadEvalProblems(dc, cfg.Verify, stderr)
	if err != nil {
		return err
	}
	be, err := openBackend(*device, *threads)
	if err != nil {
		return err
	}
	m, err := model.Load(*modelDir, be)
	if err != nil {
		return err
	}
	defer m.Free()
	td := *tokDir
	if td == "" {
		td = *modelDir
	}
	p, err := train.NewPrompter(td, cfg.Prompt, m.Cfg.EOSTokenIDs)
	if err != nil {
		return err
	}
	if err := checkWeights(*modelDir, m); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	keep, longest, err := keepShortPrompts(len(probs), func(i int) (string, string) { return probs[i].ID, probs[i].Question }, p, *maxPrompt, stderr)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	kept := make([]*train.Problem, len(keep))
	exs := make([]dataset.MathExample, len(keep))
	for i, j := range keep {
		kept[i] = &probs[j]
		exs[i] = dataset.MathExample{ID: probs[j].ID, Question: probs[j].Question, Answer: probs[j].Answer, Solution: probs[j].Solution}
	}
	if err := checkDecodeMemory(fmt.Sprintf("eval (--batch %d of up to %d prompt tokens + --max-new-tokens %d)", *batch, longest, r.MaxNewTokens),
		m, be, *batch, longest, r.MaxNewTokens, "lower --batch, --max-new-tokens or --max-prompt-tokens"); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	st := rs.settings(*modelDir, td, p)
	st.Data, st.DataKind, st.Problems, st.DataOptions = *data, dc.Kind, len(exs), dataOptions(dc)
	st.K, st.Temperature, st.TopP, st.TopK, st.MaxNewTokens, st.Seed = *k, r.Temperature, r.TopP, r.TopK, r.MaxNewTokens, *seed
	opt := eval.Options{K: *k, Temperature: float32(r.Temperature), TopP: float32(r.TopP), TopK: r.TopK, MaxNewTokens: r.MaxNewTokens,
		Seed: *seed, BatchSize: *batch, Revise: *revise, PRVariant: cfg.Prompt.RevisionVariant}
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		defer f.Close()
		opt.Samples = f
	}
	setup := PrompterSetup(m, p)
	setup.Verify = func(ctx context.Context, problems []int, texts []string) []verify.Result {
		ps := make([]*train.Problem, len(problems))
		for i, j := range problems {
			ps[i] = kept[j]
		}
		return ver.Verify(ctx, ps, texts)
	}
	prog := newProgress(stderr, "eval")
	opt.Progress = prog.update
	// A signal stops at the next batch: the finished problems are
	// reported (marked partial) and the exit status is 128 + signal.
	ctx, gotSig, release := watchInterrupt(stderr, "eval", "stopping at the next batch and printing the partial results")
	defer release()
	fmt.Fprintf(stderr, "eval: %d problems x %d samples in batches of %d (SIGINT/SIGTERM: stop at the next batch with a partial report)\n", len(exs), *k, *batch)
	rep, err := eval.Evaluate(ctx, setup, exs, opt)
	prog.done()
	var stopped error
	if err != nil {
		if rep == nil || !rep.Partial || ctx.Err() == nil {
			return err
		}
		stopped = &partialError{sig: gotSig(), done: fmt.Sprintf("%d of %d problems", rep.N, rep.Total)}
	}
	rep.Settings = st
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			return err
		}
		return stopped
	}
	rep.Print(stdout)
	if *out != "" {
		fmt.Fprintf(stdout, "samples: %s\n", *out)
	}
	return stopped
}

// dropLongPrompts removes the problems whose prompt is longer than budget
// tokens (keepShortPrompts) and returns the rest with the longest kept
// prompt's length.
func dropLongPrompts(exs []dataset.MathExample, p *train.Prompter, budget int, w io.Writer) ([]dataset.MathExample, int, error) {
	keep, longest, err := keepShortPrompts(len(exs), func(i int) (string, string) { return exs[i].ID, exs[i].Question }, p, budget, w)
	if err != nil {
		return nil, 0, err
	}
	kept := make([]dataset.MathExample, len(keep))
	for i, j := range keep {
		kept[i] = exs[j]
	}
	return kept, longest, nil
}

// keepShortPrompts returns the indices of the n problems (id and question
// of problem i from problem(i)) whose prompt fits budget tokens (by length
// alone first, so that a 100 MB question is never tokenized), says how
// many were skipped on w, and returns the longest kept prompt's length.
func keepShortPrompts(n int, problem func(i int) (id, question string), p *train.Prompter, budget int, w io.Writer) ([]int, int, error) {
	var keep []int
	longest := 1
	for i := 0; i < n; i++ {
		id, q := problem(i)
		if train.PromptTooLong(q, budget) {
			continue
		}
		ids, err := p.PromptIDs(q)
		if err != nil {
			return nil, 0, fmt.Errorf("problem %s: %w", id, err)
		}
		if len(ids) > budget {
			continue
		}
		longest = max(longest, len(ids))
		keep = append(keep, i)
	}
	if d := n - len(keep); d > 0 {
		fmt.Fprintf(w, "eval: skipped %d of %d problems whose prompt is longer than --max-prompt-tokens %d\n", d, n, budget)
	}
	if len(keep) == 0 && n > 0 {
		return nil, 0, fmt.Errorf("every prompt is longer than --max-prompt-tokens %d", budget)
	}
	return keep, longest, nil
}

// PrompterSetup connects a model and the trainer's prompter (chat template,
// suffix, stop ids, P_r) to the evaluator, so that evaluation prompts are
// byte-identical to training prompts.
func PrompterSetup(m *model.Model, p *train.Prompter) eval.Setup {
	return eval.Setup{
		Gen:            m,
		Prompt:         p.PromptIDs,
		Encode:         p.Tok.Encode,
		Decode:         p.Tok.Decode,
		StopIDs:        p.Stop,
		RevisionPrompt: func(r float64) string { return p.RevisionText(r > 0.5) },
	}
}

// progress prints "label done/total" on one line when w is a terminal and
// nothing otherwise (eval output is meant to be piped).
type progress struct {
	w     io.Writer
	label string
	tty   bool
	t0    time.Time
}

func newProgress(w io.Writer, label string) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, label: label, tty: tty, t0: time.Now()}
}

func (p *progress) update(done, total int) {
	if !p.tty {
		return
	}
	el := time.Since(p.t0).Seconds()
	eta := 0.0
	if done > 0 {
		eta = el / float64(done) * float64(total-done)
	}
	fmt.Fprintf(p.w, "\r%s %d/%d sequences  %.0fs elapsed  ETA %.0fs ", p.label, done, total, el, eta)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// runPlot implements `sdzero plot RUN [--out DIR]`.
func runPlot(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for the PNG files (default RUN/plots)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero plot RUN [--out DIR]\n\nDraws reward, accuracy, KL, response length and loss curves against step\nand cumulative generated samples from RUN/metrics.jsonl.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(flagsFirst(fs, args)); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return errors.New("plot: missing RUN directory")
	}
	for _, run := range fs.Args() {
		outDir := *out
		if outDir != "" && fs.NArg() > 1 {
			outDir = filepath.Join(outDir, filepath.Base(filepath.Clean(run)))
		}
		files, notes, err := plot.RunNotes(run, outDir)
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintln(stdout, f)
		}
		for _, n := range notes {
			fmt.Fprintln(stderr, "note:", n) // charts not drawn, and why
		}
	}
	return nil
}

// runBench implements `sdzero bench train|decode|distill`.
func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	device := fs.String("device", "auto", "backend: cpu, cuda or auto")
	threads := fs.Int("threads", 0, "CPU threads (0 = all cores)")
	preset := fs.String("preset", "tiny", "model size: tiny, 0.6b, 4b or custom (tiny overridden by the dimension flags)")
	layers := fs.Int("layers", 0, "override num_hidden_layers")
	hidden := fs.Int("hidden", 0, "override hidden_size")
	inter := fs.Int("intermediate", 0, "override intermediate_size")
	heads := fs.Int("heads", 0, "override num_attention_heads")
	kvHeads := fs.Int("kv-heads", 0, "override num_key_value_heads")
	headDim := fs.Int("head-dim", 0, "override head_dim")
	vocab := fs.Int("vocab", 0, "override vocab_size")
	batch := fs.Int("batch", 8, "rows per step")
	seq := fs.Int("seq", 256, "tokens per row (train; distill: student tokens, the teacher sees twice as many)")
	prompt := fs.Int("prompt", 64, "decode: prompt tokens per row")
	newTok := fs.Int("new", 64, "decode: new tokens per row")
	steps := fs.Int("steps", 5, "timed steps")
	warmup := fs.Int("warmup", 1, "untimed warm-up steps")
	topK := fs.Int("topk", 64, "distill: teacher top-k of the mixed KL (0 = full-vocabulary reverse KL)")
	seed := fs.Uint64("seed", 1, "random seed")
	precision := fs.String("precision", "auto", "matmul precision: fp32, bf16 (mixed precision) or auto (bf16 where the backend supports it)")
	recompute := fs.Bool("recompute", false, "train, distill: recompute each layer's activations in the backward (activation checkpointing)")
	noGraphs := fs.Bool("no-graphs", false, "decode: run each step op by op instead of replaying a recorded step (CUDA graphs)")
	rows := fs.Int("rows", 0, "rollout: sequences in all, --batch at a time (0 = 4 x batch)")
	meanLen := fs.Int("mean-len", 0, "rollout: mean response length through stop ids (0 = new/4)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	mmSize := fs.Int("size", 1024, "matmul: m = n = k of the product")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero bench train|decode|distill|rollout|matmul [flags]\n\nTimes steps of a randomly initialised model and prints tokens/s, ms/step,\nmodel TFLOP/s (formula printed) and memory; decode also the decode-only\nstep, bytes per step and bandwidth; rollout compares the static batch with\ncontinuous batching; matmul times one --size cubed product in the precision. SDZERO_BENCH_OPS=1 adds a per-op time table.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(flagsFirst(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("bench: want exactly one of train, decode, distill, rollout, matmul")
	}
	cfg, err := bench.Preset(*preset)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		v   int
		dst *int
	}{{*layers, &cfg.Layers}, {*hidden, &cfg.Hidden}, {*inter, &cfg.Intermediate}, {*heads, &cfg.Heads},
		{*kvHeads, &cfg.KVHeads}, {*headDim, &cfg.HeadDim}, {*vocab, &cfg.VocabSize}} {
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	be, err := openBackend(*device, *threads)
	if err != nil {
		return err
	}
	o := bench.Options{Batch: *batch, Seq: *seq, Prompt: *prompt, NewTokens: *newTok, Warmup: *warmup, Steps: *steps, TopK: *topK, Seed: *seed, NoGraphs: *noGraphs, Recompute: *recompute,
		Rows: *rows, MeanLen: *meanLen, Ops: os.Getenv("SDZERO_BENCH_OPS") != ""}
	switch *precision {
	case "auto":
		if be.Supports(kernels.BF16) {
			o.Precision = model.PrecisionBF16
		}
	default:
		if o.Precision, err = model.ParsePrecision(*precision); err != nil {
			return fmt.Errorf("bench: --precision: %w", err)
		}
	}
	if fs.Arg(0) == "matmul" {
		// One square product C = A B, operands in the precision's dtype
		// (torch.matmul of two tensors of that dtype is its anchor).
		r, err := bench.MatMul(be, *mmSize, o.Precision, *warmup, max(*steps, 20), *seed)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(r)
		}
		r.Print(stdout)
		return nil
	}
	var r *bench.Result
	switch fs.Arg(0) {
	case "train":
		r, err = bench.Train(be, cfg, o)
	case "decode":
		r, err = bench.Decode(be, cfg, o)
	case "distill":
		r, err = bench.Distill(be, cfg, o)
	case "rollout":
		r, err = bench.Rollout(be, cfg, o)
	default:
		return fmt.Errorf("bench: unknown benchmark %q (want train, decode, distill or rollout)", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(stdout, "model: %s\n", cfg)
	r.Print(stdout)
	return nil
}

// runDemo implements `sdzero demo` (what `make demo` runs).
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "demo-out", "output directory (a previous demo output there is replaced)")
	seed := fs.Uint64("seed", 0, "run seed (default: demo.yaml's seed)")
	seeds := fs.String("seeds", "", "comma-separated seeds: run every method per seed and report mean and std")
	quick := fs.Bool("quick", false, "smoke test: fewer steps and held-out problems (numbers not meaningful)")
	regen := fs.Bool("regen-base", false, "pretrain the base model (trainer SFT phase) instead of using the shipped one")
	saveBase := fs.String("save-base", "", "with --regen-base: also copy the base model here (e.g. demo/base)")
	baseDir := fs.String("base", "", "use this model directory as the base model instead of the shipped one")
	baseOnly := fs.Bool("base-only", false, "stop after obtaining and evaluating the base model")
	cfgPath := fs.String("config", "", "demo settings file (default: the embedded demo/demo.yaml)")
	printCfg := fs.Bool("print-config", false, "print the embedded demo settings and exit")
	device := fs.String("device", "auto", "backend: cpu, cuda or auto")
	threads := fs.Int("threads", 0, "CPU threads (0 = all cores)")
	verbose := fs.Bool("v", false, "show the trainer's progress lines")
	controls := fs.String("controls", "", "comma-separated teacher controls to distil as extra rows: blind (reward-blind teacher, always told correct), wrong (always told wrong)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero demo [flags]\n\nEnd-to-end demo on synthetic arithmetic with a tiny model: SRT + SD-Zero,\nRFT and GRPO at the same sample budget, held-out accuracy table and\nDIR/summary.json.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(flagsFirst(fs, args)); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))
	}
	if *printCfg {
		_, err := stdout.Write(demo.DefaultYAML)
		return err
	}
	if *saveBase != "" && !*regen {
		return errors.New("demo: --save-base needs --regen-base")
	}
	var list []uint64
	if *seeds != "" {
		for _, f := range strings.Split(*seeds, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return fmt.Errorf("demo: --seeds %q: %w", *seeds, err)
			}
			list = append(list, v)
		}
	} else if *seed != 0 {
		list = []uint64{*seed}
	}
	var ctrl []string
	if *controls != "" {
		for _, c := range strings.Split(*controls, ",") {
			c = strings.TrimSpace(c)
			if c != "blind" && c != "wrong" {
				return fmt.Errorf("demo: --controls %q: %q is not blind or wrong", *controls, c)
			}
			ctrl = append(ctrl, c)
		}
	}
	be, err := openBackend(*device, *threads)
	if err != nil {
		return err
	}
	var trainOut io.Writer
	if *verbose {
		trainOut = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := demo.Run(ctx, demo.Options{Out: *out, Seeds: list, Quick: *quick, RegenBase: *regen, SaveBase: *saveBase, BaseOnly: *baseOnly, BaseDir: *baseDir,
		ConfigPath: *cfgPath, Controls: ctrl, Backend: be, Log: stdout, TrainOut: trainOut})
	if err != nil {
		return err
	}
	cfg, err := demo.ParseConfig([]byte(sum.Config), *quick)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	demo.PrintTable(stdout, sum.Runs, cfg)
	fmt.Fprintf(stdout, "\nbase model: %s (%s); total wall time %.1fs; summary: %s\n", sum.BaseModel, sum.Base, sum.Seconds,
		filepath.Join(*out, "summary.json"))
	return nil
}

// flagsFirst moves flags before positional arguments so that both
// `sdzero plot RUN --out D` and `sdzero plot --out D RUN` parse (the flag
// package stops at the first positional argument). A flag without "=" takes
// the next argument as its value unless fs defines it as boolean.
func flagsFirst(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		isBool := false
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				isBool = true
			}
		}
		if !isBool && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(flags, pos...)
}
