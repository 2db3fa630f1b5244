// Command sdzero is the CLI of the sdzero training engine: inspect, score and
// generate with Hugging Face Qwen3-family checkpoints, tokenize text, train
// with SD-Zero and its baselines, evaluate, plot and benchmark.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: it parses its own flags from args and writes
// its results to stdout.
type command struct {
	run   func(args []string, stdout, stderr io.Writer) error
	brief string
}

func commands() map[string]command {
	return map[string]command{
		"inspect":   {runInspect, "print a model's architecture, sizes and memory estimate"},
		"score":     {runScore, "log-probability of each token given its prefix"},
		"generate":  {runGenerate, "generate a continuation (greedy or sampled)"},
		"tokenize":  {runTokenize, "encode text to ids or decode ids to text"},
		"train":     {runTrain, "train with SD-Zero or a baseline from a config file"},
		"eval":      {runEval, "evaluate a checkpoint on a dataset (avg@k, pass@k, revision)"},
		"plot":      {runPlot, "draw PNG curves of a run's metrics"},
		"bench":     {runBench, "benchmark train, decode or distill steps"},
		"demo":      {runDemo, "run the end-to-end demo on the embedded tiny task"},
		"verify":    {runVerify, "grade a response against a gold answer with the math verifier"},
		"export":    {runExport, "write a run's metrics as TensorBoard event files and CSV"},
		"compare":   {runCompare, "overlay runs' accuracy against generated samples and tokens; table at equal budgets"},
		"readiness": {runReadiness, "is the reviser a better teacher than resampling? (before distilling)"},
		"explain":   {runExplain, "per-token KL and token reward of the teacher on one response (HTML, PNG, JSON)"},
		"version":   {runVersion, "print the version, VCS commit and Go version of this binary"},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: sdzero <command> [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].brief)
	}
	fmt.Fprintln(w, "\nrun 'sdzero <command> -h' for a command's flags")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stderr)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	if os.Args[1] == "--version" || os.Args[1] == "-version" {
		os.Args[1] = "version"
	}
	cmd, ok := commands()[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "sdzero: unknown command %q\n\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "sdzero %s: %v\n", os.Args[1], err)
		// An error may carry its own status (train: 128 + signal after an
		// interruption).
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
