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

// runExplain shows, token by token, the signal SD-Zero's teacher gives the
// student on one response (see package train/explain), as HTML, PNG and
// JSON.
func runExplain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	studentDir := fs.String("student", "", "student model directory (the model being distilled)")
	teacherDir := fs.String("teacher", "", "teacher model directory (default: the student; usually the SRT model)")
	cfgPath := fs.String("config", "", "run file whose prompt, data, verify and distill settings to use (default: the student's sdzero.json, else built-in defaults)")
	prompt := fs.String("prompt", "", "the question (rendered with the chat template and the configured suffix)")
	dataPath := fs.String("data", "", "dataset file to take the question (and answer) from, with --index")
	index := fs.Int("index", 0, "with --data: 0-based problem index")
	response := fs.String("response", "", "the response to explain (default: sample one from the student)")
	answer := fs.String("answer", "", "reference answer for the verifier (default: the dataset's)")
	reward := fs.String("reward", "auto", "what the teacher is told: auto (verify the response), correct or wrong")
	noStop := fs.Bool("no-stop", false, "with --response: do not append the turn's stop token")
	seed := fs.Uint64("seed", 1, "sampling seed when the response is generated")
	outDir := fs.String("out", "explain-out", "directory for explain.html, explain.png and explain.json")
	device := fs.String("device", "auto", "compute device: cpu, cuda or auto")
	threads := fs.Int("threads", 0, "CPU threads (0 = all cores)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero explain --student DIR [--teacher DIR] [--config RUN.yaml]\n"+
			"           (--prompt TEXT | --data FILE --index N) [--response TEXT] [--answer A] [--reward auto|correct|wrong] [--out DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *studentDir == "" {
		return errors.New("--student DIR is required")
	}
	if (*prompt == "") == (*dataPath == "") {
		return errors.New("give exactly one of --prompt TEXT and --data FILE --index N")
	}
	switch *reward {
	case "auto", "correct", "wrong":
	default:
		return fmt.Errorf("--reward %q: want auto, correct or wrong", *reward)
	}
	if err := checkIntFlags(intFlag{"index", *index, 0, train.MaxBatchLimit * 1024}, intFlag{"threads", *threads, 0, train.MaxThreadsLimit}); err != nil {
		return err
	}
	if *teacherDir == "" {
		*teacherDir = *studentDir
	}
	rs, err := resolveSettings(*studentDir, *cfgPath, nil) // settingsOrder
	if err != nil {
		return err
	}
	cfg := rs.cfg
	prob := train.Problem{Question: *prompt, Answer: *answer}
	if *dataPath != "" {
		dc := cfg.Data
		dc.Train, dc.Limit = *dataPath, 0
		probs, _, err := train.LoadProblems(dc)
		if err != nil {
			return err
		}
		if *index < 0 || *index >= len(probs) {
			return fmt.Errorf("--index %d: %s has %d problems", *index, *dataPath, len(probs))
		}
		prob = probs[*index]
		if *answer != "" {
			prob.Answer = *answer
		}
	}
	ctx, gotSig, release := watchInterrupt(stderr, "explain", "stopping before the next decode step or forward pass (nothing is written)")
	defer release()
	// stopped turns a cancelled stage into the partial-exit error.
	stopped := func(stage string, err error) error {
		if ctx.Err() != nil {
			return &partialError{sig: gotSig(), done: "during " + stage, none: true}
		}
		return err
	}
	be, err := openBackend(*device, *threads)
	if err != nil {
		return err
	}
	student, err := model.LoadFrozen(*studentDir, be)
	if err != nil {
		return err
	}
	defer student.Free()
	teacher := student
	if filepath.Clean(*teacherDir) != filepath.Clean(*studentDir) {
		if teacher, err = model.LoadFrozen(*teacherDir, be); err != nil {
			return err
		}
		defer teacher.Free()
	}
	if err := checkWeights(*studentDir, student); err != nil {
		return err
	}
	if err := checkWeights(*teacherDir, teacher); err != nil {
		return err
	}
	p, err := train.NewPrompter(*studentDir, cfg.Prompt, student.Cfg.EOSTokenIDs)
	if err != nil {
		return err
	}
	promptIDs, err := promptIDsWithin(fmt.Sprintf("problem %d", *index), prob.Question, p, student)
	if err != nil {
		return err
	}
	var y []int32
	if *response != "" {
		y = p.Tok.Encode(*response)
		if !*noStop {
			y = append(y, p.End)
		}
	} else {
		ro := cfg.Rollout
		out, err := train.GenerateN(student, [][]int32{promptIDs}, train.RolloutOptions{
			N: 1, MaxNewTokens: ro.MaxNewTokens, Temperature: float32(ro.Temperature), TopP: float32(ro.TopP),
			TopK: ro.TopK, Seed: *seed, Stop: p.Stop, Context: ctx,
		})
		if err != nil {
			return stopped("the generation", err)
		}
		y = out[0]
	}
	if len(y) == 0 {
		return errors.New("the response is empty")
	}
	correct, reason := *reward == "correct", ""
	if *reward == "auto" {
		if prob.Answer == "" && prob.Code == nil {
			return errors.New("--reward auto needs a reference: --answer, or --data with an answer field (or say --reward correct|wrong)")
		}
		ver := train.NewVerifier(cfg.Verify)
		if prob.Code != nil { // the sandbox modes and refusal of unisolated mode of training
			if err := ver.FitCode(stderr); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return stopped("verification", nil)
		}
		res := ver.Verify(ctx, []*train.Problem{&prob}, []string{p.ResponseText(y)})
		if ctx.Err() != nil {
			return stopped("verification", nil)
		}
		correct, reason = res[0].Reward == 1, res[0].Reason
	}
	teacherIDs := append(p.ReviserInput(promptIDs, y, correct), y...)
	studentIDs := append(append([]int32{}, promptIDs...), y...)
	if ctx.Err() != nil {
		return stopped("the forward passes", nil)
	}
	d := cfg.Distill
	rep, err := explain.Explain(student, teacher, explain.Input{
		StudentIDs: studentIDs, TeacherIDs: teacherIDs, Response: y, Stop: p.Stop, Decode: p.Tok.Decode,
	}, explain.Options{Divergence: d.Divergence, TopK: d.TopK, ForwardWeight: d.ForwardWeight, Temperature: d.Temperature})
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return stopped("the forward passes", nil)
	}
	rep.Student, rep.Teacher = *studentDir, *teacherDir
	rep.Prompt, rep.Response = p.Tok.Decode(promptIDs), p.ResponseText(y)
	rep.Correct, rep.Revision, rep.Reason = correct, p.RevisionText(correct), reason
	paths, err := rep.WriteFiles(*outDir)
	if err != nil {
		return err
	}
	st := rs.settings(*studentDir, *studentDir, p)
	st.Data = *dataPath
	if *response == "" {
		ro := cfg.Rollout
		st.K, st.Temperature, st.TopP, st.TopK, st.MaxNewTokens, st.Seed = 1, ro.Temperature, ro.TopP, ro.TopK, ro.MaxNewTokens, *seed
	}
	if err := addSettingsToJSON(paths, st); err != nil {
		return err
	}
	st.Print(stdout)
	fmt.Fprintf(stdout, "%d response tokens, teacher told %s; total %s KL %.4g, largest %.4g at token %d (%q, %.1f%% of the total, uniform %.1f%%), %.1f%% on stop tokens\n",
		len(rep.Tokens), map[bool]string{true: "correct", false: "wrong"}[correct], rep.Options.Divergence, rep.TotalKL,
		rep.Tokens[rep.MaxKLIndex].KL, rep.MaxKLIndex, rep.Tokens[rep.MaxKLIndex].Text, 100*rep.MaxKLShare, 100*rep.UniformShare, 100*rep.StopKLShare)
	for _, path := range paths {
		fmt.Fprintln(stdout, "wrote", path)
	}
	return nil
}
