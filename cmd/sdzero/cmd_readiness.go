package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"sdzero/model"
	"sdzero/train"
	"sdzero/train/explain"
)

// runReadiness measures whether a reviser (usually an SRT checkpoint) is a
// better teacher than resampling before a user spends hours distilling
// from it (train.RunReadiness).
func runReadiness(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("readiness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	teacherDir := fs.String("model", "", "the reviser/teacher model directory (the SRT checkpoint to distil from)")
	studentDir := fs.String("student", "", "the generator model directory (default: the same model, as at the start of distillation)")
	cfgPath := fs.String("config", "", "run file whose prompt, data, rollout, verify and distill settings to use (default: the model's sdzero.json)")
	dataPath := fs.String("data", "", "problems (default: the run file's data.train, else the training data named in the model's sdzero.json); worked solutions enable the first-error analysis")
	df := addDataFlags(fs)
	problems := fs.Int("problems", 64, "problems to use")
	samples := fs.Int("samples", 4, "attempts per problem (>= 2; the resample rate comes from the other attempts)")
	klAttempts := fs.Int("kl-attempts", 32, "wrong attempts to analyse token by token (0: skip, the cheap check)")
	seed := fs.Uint64("seed", 1, "sampling seed")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	device := fs.String("device", "auto", "compute device: cpu, cuda or auto")
	threads := fs.Int("threads", 0, "CPU threads (0 = all cores)")
	maxPrompt := fs.Int("max-prompt-tokens", 4096, "skip (and count) problems whose prompt is longer than this many tokens")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero readiness --model SRT_DIR [--student DIR] [--config RUN.yaml] [--data FILE] [--problems N] [--samples K] [--json]\n"+
			"measures revision correction vs fresh resampling, the KL on stop tokens and, with worked solutions, the teacher at the first wrong token")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *teacherDir == "" {
		return errors.New("--model DIR is required")
	}
	if *problems < 1 {
		return fmt.Errorf("--problems %d must be >= 1", *problems)
	}
	if *samples < 2 {
		return fmt.Errorf("--samples %d must be >= 2", *samples)
	}
	if *klAttempts < 0 {
		return fmt.Errorf("--kl-attempts %d must be >= 0", *klAttempts)
	}
	if err := checkIntFlags(intFlag{"problems", *problems, 1, train.MaxBatchLimit}, intFlag{"samples", *samples, 2, train.MaxBatchLimit},
		intFlag{"kl-attempts", *klAttempts, 0, train.MaxBatchLimit}, intFlag{"threads", *threads, 0, train.MaxThreadsLimit},
		intFlag{"max-prompt-tokens", *maxPrompt, 1, train.MaxSeqLenLimit}); err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	if int64(*problems)*int64(*samples) > train.MaxBatchLimit {
		return fmt.Errorf("readiness: --problems %d x --samples %d = %d attempts is more than %d", *problems, *samples, int64(*problems)*int64(*samples), train.MaxBatchLimit)
	}
	if *studentDir == "" {
		*studentDir = *teacherDir
	}
	rs, err := resolveSettings(*teacherDir, *cfgPath, nil) // settingsOrder
	if err != nil {
		return err
	}
	cfg := rs.cfg
	dc := cfg.Data
	if *dataPath != "" {
		dc.Train = *dataPath
	} else if dc.Train == "" && rs.meta != nil && rs.meta.Data.Train != "" {
		dc.Train = rs.meta.Data.Train
		dc.QuestionField, dc.AnswerField, dc.SolutionField = rs.meta.Data.QuestionField, rs.meta.Data.AnswerField, rs.meta.Data.SolutionField
	}
	if dc.Train == "" {
		return errors.New("--data FILE is required (or a --config with data.train)")
	}
	if err := df.apply(fs, &dc); err != nil {
		return err
	}
	probs, _, err := train.LoadProblems(dc)
	if err != nil {
		return err
	}
	be, err := openBackend(*device, *threads)
	if err != nil {
		return err
	}
	teacher, err := model.LoadFrozen(*teacherDir, be)
	if err != nil {
		return err
	}
	defer teacher.Free()
	if err := checkWeights(*teacherDir, teacher); err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	student := teacher
	if filepath.Clean(*studentDir) != filepath.Clean(*teacherDir) {
		if student, err = model.LoadFrozen(*studentDir, be); err != nil {
			return err
		}
		defer student.Free()
		if err := checkWeights(*studentDir, student); err != nil {
			return fmt.Errorf("readiness: %w", err)
		}
	}
	p, err := train.NewPrompter(*teacherDir, cfg.Prompt, teacher.Cfg.EOSTokenIDs)
	if err != nil {
		return err
	}
	ro, d := cfg.Rollout, cfg.Distill
	if err := checkSampling(ro.Temperature, ro.TopP, ro.TopK); err != nil {
		return fmt.Errorf("readiness: settings from %s: %w", rs.source, err)
	}
	probs, longest, err := readinessProblems(probs, *problems, p, *maxPrompt, stderr)
	if err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	rows := len(probs) * *samples
	if ro.GenBatch > 0 {
		rows = min(rows, ro.GenBatch)
	}
	// The revisions' prompts carry an attempt: up to longest + max_new_tokens.
	if err := checkDecodeMemory(fmt.Sprintf("readiness (%d rows of up to %d prompt tokens + max_new_tokens %d)", rows, longest+ro.MaxNewTokens, ro.MaxNewTokens),
		teacher, be, rows, longest+ro.MaxNewTokens, ro.MaxNewTokens, "lower --problems, --samples, rollout.gen_batch or rollout.max_new_tokens"); err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	// A signal stops at the next generation batch (rollout.gen_batch
	// rows); the gates need every attempt, so no verdict is printed.
	ctx, gotSig, release := watchInterrupt(stderr, "readiness", "stopping at the next generation batch (no verdict from an unfinished measurement)")
	defer release()
	kl := *klAttempts
	if kl == 0 {
		kl = -1
	}
	// Code problems: the same sandbox modes, refusal of unisolated mode
	// and memory plan as training and eval (Verifier.FitCode).
	ver := train.NewVerifier(cfg.Verify)
	for i := range probs {
		if probs[i].Code != nil {
			if err := ver.FitCode(stderr); err != nil {
				return err
			}
			break
		}
	}
	rep, err := train.RunReadiness(ctx, student, teacher, p, ver, probs, train.ReadinessOptions{
		Problems: *problems, Samples: *samples, KLAttempts: kl,
		Rollout: train.RolloutOptions{MaxNewTokens: ro.MaxNewTokens, Temperature: float32(ro.Temperature),
			TopP: float32(ro.TopP), TopK: ro.TopK, GenBatch: ro.GenBatch, Seed: *seed,
			Interrupt: func() bool { return ctx.Err() != nil }},
		Divergence: explain.Options{Divergence: d.Divergence, TopK: d.TopK, ForwardWeight: d.ForwardWeight, Temperature: d.Temperature},
	})
	if err != nil {
		if ctx.Err() != nil {
			return &partialError{sig: gotSig(), done: fmt.Sprintf("part of %d problems: no readiness verdict", len(probs))}
		}
		return err
	}
	st := rs.settings(*teacherDir, *teacherDir, p)
	st.Data, st.DataKind, st.Problems, st.DataOptions = dc.Train, dc.Kind, len(probs), dataOptions(dc)
	st.K, st.Temperature, st.TopP, st.TopK, st.MaxNewTokens, st.Seed = *samples, ro.Temperature, ro.TopP, ro.TopK, ro.MaxNewTokens, *seed
	if *asJSON {
		return writeJSONWithSettings(stdout, rep, st)
	}
	st.Print(stdout)
	rep.WriteText(stdout)
	return nil
}

// readinessProblems returns the first n problems whose prompt fits budget
// tokens (by length alone first, so that a 100 MB question is never
// tokenized), says on w how many it skipped, and returns the longest kept
// prompt's length.
func readinessProblems(probs []train.Problem, n int, p *train.Prompter, budget int, w io.Writer) ([]train.Problem, int, error) {
	var kept []train.Problem
	longest, skipped := 1, 0
	for i := 0; i < len(probs) && len(kept) < n; i++ {
		q := probs[i].Question
		if train.PromptTooLong(q, budget) {
			skipped++
			continue
		}
		ids, err := p.PromptIDs(q)
		if err != nil {
			return nil, 0, fmt.Errorf("problem %s: %w", probs[i].ID, err)
		}
		if len(ids) > budget {
			skipped++
			continue
		}
		longest = max(longest, len(ids))
		kept = append(kept, probs[i])
	}
	if skipped > 0 {
		fmt.Fprintf(w, "readiness: skipped %d problems whose prompt is longer than --max-prompt-tokens %d\n", skipped, budget)
	}
	if len(kept) == 0 {
		return nil, 0, fmt.Errorf("no problem has a prompt of at most --max-prompt-tokens %d", budget)
	}
	return kept, longest, nil
}
