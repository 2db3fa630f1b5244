package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"sdzero/internal/configdoc"
	"sdzero/kernels/comm"
	"sdzero/train"
)

// setFlags collects repeated --set key=value flags.
type setFlags []string

func (s *setFlags) String() string     { return fmt.Sprint(*s) }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// runTrain implements `sdzero train`: a new run from a config file (flags
// override it), or --resume RUN. SIGINT, SIGTERM and SIGHUP stop the run
// at the next step or rollout-batch boundary, save a checkpoint and exit
// with 128 + the signal's number (interruptedError); a second SIGINT or
// SIGTERM kills the process.
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
	if err := positionalError(fs, true); err != nil {
		return err
	}

	ctx, got, stopWatch := watchStopSignals(stderr)
	defer stopWatch()

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
		// Each key with its meaning, default and phases (from the doc
		// comments of train/config.go; docs/config.md is the same text).
		if y, err = configdoc.Commented(y, configdoc.Keys, configdoc.AllPhases); err != nil {
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
	if cfg.Device == "cuda" || cfg.Device == "gpu" {
		if err := pinRankGPU(os.Getenv, os.Setenv); err != nil {
			return err
		}
	}
	be, note, err := openBackendNote(cfg.Device, cfg.Threads)
	if err != nil {
		return err
	}
	// Under mpirun or srun the run is data-parallel over the ranks
	// (docs/distributed.md); a plain process gets the one-rank Comm and
	// loads no MPI library.
	c, launch, err := comm.FromEnvironment(os.Getenv, be, comm.Options{})
	if err != nil {
		return err
	}
	opt := train.Options{Backend: be, Out: stderr, Comm: c, DeviceNote: note, Version: currentBuild().Short()}
	if c.Size() > 1 {
		if c.Rank() == 0 {
			fmt.Fprintf(stderr, "sdzero train: data-parallel over %d ranks (%v)\n", c.Size(), launch)
		} else {
			stdout = io.Discard // rank 0 reports
		}
	}
	var res *train.Result
	if *resume != "" {
		res, err = train.Resume(ctx, *resume, opt)
	} else {
		res, err = train.Run(ctx, cfg, opt)
	}
	if err != nil {
		if c.Size() > 1 {
			// The process exits without MPI_Finalize (which would wait
			// for ranks that may be stuck in a collective): mpirun then
			// ends the other ranks and names this one.
			return fmt.Errorf("rank %d of %d: %w", c.Rank(), c.Size(), err)
		}
		return err
	}
	if err := c.Close(); err != nil {
		return err
	}
	switch {
	case res.Interrupted:
		fmt.Fprintf(stdout, "interrupted at step %d/%d; checkpoint %s\nresume with: sdzero train --resume %s\n", res.Steps, res.TotalSteps, res.Checkpoint, res.RunDir)
		if ctx.Err() == nil {
			// Multi-rank: another rank's signal stopped every rank.
			return &interruptedError{sig: syscall.SIGTERM, peer: true, step: res.Steps, total: res.TotalSteps}
		}
		return &interruptedError{sig: got(), step: res.Steps, total: res.TotalSteps}
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

// pinRankGPU gives each rank of a multi-rank launch its own GPU before
// CUDA starts, as torchrun does with LOCAL_RANK: CUDA_VISIBLE_DEVICES
// becomes the local rank's entry of the visible list (all devices when
// unset). A launcher that already leaves one device per rank is kept.
func pinRankGPU(getenv func(string) string, setenv func(string, string) error) error {
	l, err := comm.Detect(getenv)
	if err != nil || !l.Distributed() || l.LocalRank < 0 {
		return err
	}
	vis := strings.TrimSpace(getenv("CUDA_VISIBLE_DEVICES"))
	var dev string
	switch ids := strings.Split(vis, ","); {
	case vis == "":
		dev = strconv.Itoa(l.LocalRank)
	case len(ids) == 1:
		return nil
	default:
		dev = strings.TrimSpace(ids[l.LocalRank%len(ids)])
	}
	return setenv("CUDA_VISIBLE_DEVICES", dev)
}

// interruptedError is runTrain's result when a signal stopped the run
// after its state was saved. main exits with ExitCode, 128 + the signal's
// number as a shell reports a process the signal killed (130 SIGINT, 143
// SIGTERM, 129 SIGHUP), so that `train && eval` and job schedulers see an
// unfinished run, not a success.
type interruptedError struct {
	sig syscall.Signal
	// peer: the signal went to another rank of a multi-rank run.
	peer        bool
	step, total int
}

func (e *interruptedError) Error() string {
	if e.peer {
		return fmt.Sprintf("interrupted at step %d of %d by a stop request to another rank: the run is not finished (exit status %d)", e.step, e.total, e.ExitCode())
	}
	return fmt.Sprintf("interrupted by %s at step %d of %d: the run is not finished (exit status %d)", signalName(e.sig), e.step, e.total, e.ExitCode())
}

// ExitCode is the process exit status main uses for the error.
func (e *interruptedError) ExitCode() int { return 128 + int(e.sig) }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// watchStopSignals returns a context cancelled by the first SIGINT,
// SIGTERM or SIGHUP (a closed terminal or tmux pane, handled like
// SIGTERM), got, which returns that signal (SIGINT if none came), and
// release, which undoes the handlers. After the first signal a second
// SIGINT or SIGTERM kills the process, while further SIGHUPs are ignored:
// a closing terminal may send more than one, and must not kill the save.
// SIGPIPE is ignored meanwhile: when the terminal goes, the reader of a
// piped stdout/stderr (tee) often goes with it, and a write must then fail
// rather than kill the run before it saves.
func watchStopSignals(stderr io.Writer) (ctx context.Context, got func() syscall.Signal, release func()) {
	pipeIgnored := signal.Ignored(syscall.SIGPIPE)
	signal.Ignore(syscall.SIGPIPE)
	ctx, first, stop := watchInterrupt(stderr, "train", "stopping at the next step or rollout-batch boundary and saving a checkpoint")
	got = func() syscall.Signal {
		if s := first(); s != 0 {
			return s
		}
		return syscall.SIGINT
	}
	release = func() {
		stop()
		if !pipeIgnored {
			signal.Reset(syscall.SIGPIPE)
		}
	}
	return ctx, got, release
}
