package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"sdzero/train/plot"
	"sdzero/train/tboard"
)

// runExport writes a run's metrics as TensorBoard event files and/or CSV.
func runExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tbDir := fs.String("tensorboard", "", "directory for the TensorBoard event file (default RUN/tensorboard; \"-\" to skip)")
	csvPath := fs.String("csv", "", "CSV file to write (default RUN/metrics.csv; \"-\" to skip)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero export RUN [--tensorboard DIR] [--csv FILE]\n"+
			"writes RUN/metrics.jsonl as TensorBoard scalars (tensorboard --logdir RUN/tensorboard) and as a CSV table")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("give exactly one run directory")
	}
	run := fs.Arg(0)
	recs, err := plot.ReadMetrics(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("%s: metrics.jsonl has no records", run)
	}
	rows := make([]map[string]float64, len(recs))
	for i, r := range recs {
		rows[i] = r
	}
	if *csvPath != "-" {
		path := *csvPath
		if path == "" {
			path = filepath.Join(run, "metrics.csv")
		}
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
		if err != nil {
			return err
		}
		err = tboard.WriteCSV(f, rows)
		if err == nil {
			err = f.Chmod(0o644)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	if *tbDir != "-" {
		dir := *tbDir
		if dir == "" {
			dir = filepath.Join(run, "tensorboard")
		}
		path, err := writeEvents(dir, rows)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	return nil
}

// writeEvents writes one event per record (step from "step", else the
// record index; wall time from the run start plus "elapsed_s" when
// present) into a fresh event file in dir, replacing earlier exports.
func writeEvents(dir string, rows []map[string]float64) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "events.out.tfevents.*.sdzero-export"))
	start := time.Now()
	if e, ok := rows[len(rows)-1]["elapsed_s"]; ok {
		start = start.Add(-time.Duration(e * float64(time.Second)))
	}
	path := filepath.Join(dir, tboard.FileName(start, "sdzero-export"))
	w, err := tboard.Create(path, start)
	if err != nil {
		return "", err
	}
	for i, r := range rows {
		step := int64(i + 1)
		if s, ok := r["step"]; ok {
			step = int64(s)
		}
		wall := start
		if e, ok := r["elapsed_s"]; ok {
			wall = start.Add(time.Duration(e * float64(time.Second)))
		}
		vals := make(map[string]float64, len(r))
		for k, v := range r {
			if k != "step" {
				vals[k] = v
			}
		}
		if err := w.Scalars(step, wall, vals); err != nil {
			w.Close()
			return "", err
		}
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	for _, o := range old {
		if o != path {
			os.Remove(o)
		}
	}
	return path, nil
}
