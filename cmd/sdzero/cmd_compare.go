package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"sdzero/train/compare"
)

// runCompare overlays several runs' accuracy against generated samples and
// tokens (one PNG) and prints their values at equal budgets.
func runCompare(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	metric := fs.String("metric", "eval_accuracy", "metrics.jsonl key to compare")
	out := fs.String("out", "compare.png", "PNG to write")
	points := fs.Int("points", 5, "budgets in the table (evenly spaced over the range all runs cover)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero compare [--metric eval_accuracy] [--out compare.png] RUN_DIR RUN_DIR...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		return errors.New("give one or more run directories (each with a metrics.jsonl)")
	}
	if *points < 1 {
		return fmt.Errorf("--points %d must be >= 1", *points)
	}
	names := compare.Names(dirs)
	runs := make([]compare.Run, 0, len(dirs))
	for i, d := range dirs {
		r, err := compare.Load(d, *metric)
		if err != nil {
			return err
		}
		r.Name, r.Samples.Run, r.Tokens.Run = names[i], names[i], names[i]
		runs = append(runs, r)
	}
	var samples, tokens []compare.Curve
	for _, r := range runs {
		samples = append(samples, r.Samples)
		tokens = append(tokens, r.Tokens)
	}
	fmt.Fprintf(stdout, "%s at equal generated samples:\n", *metric)
	compare.Table(stdout, "samples", samples, compare.Budgets(samples, *points))
	fmt.Fprintf(stdout, "\n%s at equal generated tokens:\n", *metric)
	compare.Table(stdout, "tokens", tokens, compare.Budgets(tokens, *points))
	if err := compare.WritePNG(*out, *metric, runs); err != nil {
		return err
	}
	abs, _ := filepath.Abs(*out)
	fmt.Fprintln(stdout, "\nwrote", abs)
	return nil
}
