package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

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
	student := teacher
	if filepath.Clean(*studentDir) != filepath.Clean(*teacherDir) {
		if student, err = model.LoadFrozen(*studentDir, be); err != nil {
			return err
		}
		defer student.Free()
	}
	p, err := train.NewPrompter(*teacherDir, cfg.Prompt, teacher.Cfg.EOSTokenIDs)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ro, d := cfg.Rollout, cfg.Distill
	kl := *klAttempts
	if kl == 0 {
		kl = -1
	}
	rep, err := train.RunReadiness(ctx, student, teacher, p, train.NewVerifier(cfg.Verify), probs, train.ReadinessOptions{
		Problems: *problems, Samples: *samples, KLAttempts: kl,
		Rollout: train.RolloutOptions{MaxNewTokens: ro.MaxNewTokens, Temperature: float32(ro.Temperature),
			TopP: float32(ro.TopP), TopK: ro.TopK, GenBatch: ro.GenBatch, Seed: *seed},
		Divergence: explain.Options{Divergence: d.Divergence, TopK: d.TopK, ForwardWeight: d.ForwardWeight, Temperature: d.Temperature},
	})
	if err != nil {
		return err
	}
	st := rs.settings(*teacherDir, *teacherDir, p)
	st.Data, st.DataKind, st.Problems, st.DataOptions = dc.Train, dc.Kind, min(*problems, len(probs)), dataOptions(dc)
	st.K, st.Temperature, st.TopP, st.TopK, st.MaxNewTokens, st.Seed = *samples, ro.Temperature, ro.TopP, ro.TopK, ro.MaxNewTokens, *seed
	if *asJSON {
		return writeJSONWithSettings(stdout, rep, st)
	}
	st.Print(stdout)
	rep.WriteText(stdout)
	return nil
}
