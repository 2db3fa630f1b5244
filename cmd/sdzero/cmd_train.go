package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"sdzero/train"
)

// setFlags collects repeated --set key=value flags.
type setFlags []string

func (s *setFlags) String() string     { return fmt.Sprint(*s) }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// runTrain implements `sdzero train`: a new run from a config file (flags
// override it), or --resume RUN. SIGINT/SIGTERM finish the current step,
// save a checkpoint and exit; a second signal kills the process.
func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "run `file` (YAML or TOML) holding every knob; defaults from the method spec")
	phase := fs.String("phase", "", "phase: srt-collect | srt | distill | sft | rft | grpo | sdft (overrides the file)")
	out := fs.String("out", "", "run `directory` (overrides the file's out)")
	resume := fs.String("resume", "", "continue the run in this `directory` from its latest checkpoint")
	device := fs.String("device", "", "backend: cpu, cuda or auto (overrides the file)")
	threads := fs.Int("threads", -1, "CPU threads, 0 = all cores (default: the file's threads)")
	modelDir := fs.String("model", "", "model `directory` to start from (overrides the file)")
	data := fs.String("data", "", "training data `file` (overrides data.train)")
	var sets setFlags
	fs.Var(&sets, "set", "override one knob, `key=value` with a dotted YAML path (repeatable), e.g. --set optim.lr=1e-5")
	printCfg := fs.Bool("print-config", false, "print the resolved config and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero train --config run.yaml [--phase P] [--set key=value ...] [--out DIR] [--device D]\n       sdzero train --resume RUN [--device D]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			stop() // a second signal gets the default behaviour (exit)
			fmt.Fprintln(stderr, "\nsdzero train: stopping after the current step and saving a checkpoint (signal again to kill)")
		case <-finished:
		}
	}()

	var cfg *train.Config
	if *resume != "" {
		if *cfgPath != "" || *phase != "" || *out != "" || len(sets) > 0 || *modelDir != "" || *data != "" {
			return errors.New("--resume continues a run with its saved config: only --device and --threads may be given")
		}
		c, err := train.LoadConfig(*resume + "/config.yaml")
		if err != nil {
			return err
		}
		cfg = c
	} else {
		cfg = train.DefaultConfig()
		if *cfgPath != "" {
			c, err := train.LoadConfig(*cfgPath)
			if err != nil {
				return err
			}
			cfg = c
		}
		for _, kv := range sets {
			if err := cfg.Set(kv); err != nil {
				return err
			}
		}
		if *phase != "" {
			cfg.Phase = *phase
		}
		if *out != "" {
			cfg.Out = *out
		}
		if *modelDir != "" {
			cfg.Model = *modelDir
		}
		if *data != "" {
			cfg.Data.Train = *data
		}
	}
	if *device != "" {
		cfg.Device = *device
	}
	if *threads >= 0 {
		cfg.Threads = *threads
	}
	if *printCfg {
		y, err := cfg.YAML()
		if err != nil {
			return err
		}
		_, err = stdout.Write(y)
		return err
	}
	if *resume == "" {
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	be, err := openBackend(cfg.Device, cfg.Threads)
	if err != nil {
		return err
	}
	opt := train.Options{Backend: be, Out: stderr}
	var res *train.Result
	if *resume != "" {
		res, err = train.Resume(ctx, *resume, opt)
	} else {
		res, err = train.Run(ctx, cfg, opt)
	}
	if err != nil {
		return err
	}
	switch {
	case res.Interrupted:
		fmt.Fprintf(stdout, "interrupted at step %d/%d; checkpoint %s\nresume with: sdzero train --resume %s\n", res.Steps, res.TotalSteps, res.Checkpoint, res.RunDir)
	default:
		fmt.Fprintf(stdout, "%s finished: %d steps, %d samples generated\nrun: %s\n", res.Phase, res.Steps, res.SamplesGenerated, res.RunDir)
		if res.FinalModel != "" {
			fmt.Fprintf(stdout, "model: %s\n", res.FinalModel)
		}
		if res.DataPath != "" {
			fmt.Fprintf(stdout, "data: %s (%d tuples)\n", res.DataPath, res.Kept)
		}
		if res.NonFiniteSkipped > 0 {
			fmt.Fprintf(stdout, "steps skipped for NaN/Inf: %d\n", res.NonFiniteSkipped)
		}
	}
	return nil
}
