package plot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Record is one metrics.jsonl line: its numeric fields (booleans count as
// 0/1; strings and nested values are ignored).
type Record map[string]float64

// ReadMetrics reads a JSONL metrics file. Blank lines are skipped; a line
// that is not a JSON object is an error naming the line, except a truncated
// last line (a run killed mid-write), which is dropped.
func ReadMetrics(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("plot: read %s: %w", path, err)
	}
	var recs []Record
	for i, ln := range lines {
		ln = bytes.TrimSpace(ln)
		if len(ln) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(ln, &m); err != nil {
			if i == len(lines)-1 && len(recs) > 0 {
				break
			}
			return nil, fmt.Errorf("plot: %s:%d: %w", path, i+1, err)
		}
		r := Record{}
		for k, v := range m {
			switch x := v.(type) {
			case float64:
				r[k] = x
			case bool:
				if x {
					r[k] = 1
				} else {
					r[k] = 0
				}
			}
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// Group is one chart per x axis: the metric keys it draws (those present).
type Group struct {
	Name, Title, YLabel string
	// Match reports whether a metrics key belongs to the group.
	Match func(key string) bool
	// YMin and YMax, when YMax > YMin, are the least y range of its charts
	// (accuracies: [0, 1], so that one evaluation reads on its scale).
	YMin, YMax float64
}

// DefaultGroups are the charts sdzero plot draws.
var DefaultGroups = []Group{
	{"reward", "Reward", "reward", func(k string) bool { return strings.Contains(k, "reward") && !strings.Contains(k, "kl") }, 0, 0},
	{"accuracy", "Accuracy", "accuracy", func(k string) bool { return strings.Contains(k, "acc") }, 0, 1},
	{"kl", "KL divergence", "KL (nats/token)", func(k string) bool { return strings.Contains(k, "kl") }, 0, 0},
	{"length", "Response length", "tokens", func(k string) bool {
		return (strings.Contains(k, "len") || strings.Contains(k, "length")) && !strings.Contains(k, "trunc")
	}, 0, 0},
	{"loss", "Loss", "loss", func(k string) bool { return strings.Contains(k, "loss") }, 0, 0},
}

// stepKeys and sampleKeys are the x-axis keys looked for, in order.
var (
	stepKeys   = []string{"step", "global_step", "iter"}
	sampleKeys = []string{"samples", "cum_samples", "cumulative_samples", "samples_total", "total_samples", "generated_samples", "samples_generated"}
)

// Run reads runDir/metrics.jsonl and writes one PNG per metric group and x
// axis (step and cumulative generated samples) into outDir (runDir/plots
// when empty). It returns the files written.
func Run(runDir, outDir string) ([]string, error) {
	files, _, err := RunNotes(runDir, outDir)
	return files, err
}

// RunNotes is Run, also returning notes on charts it did not draw (the
// samples axis of a run that generated nothing, such as sft).
func RunNotes(runDir, outDir string) (files, notes []string, err error) {
	path := filepath.Join(runDir, "metrics.jsonl")
	recs, err := ReadMetrics(path)
	if err != nil {
		return nil, nil, err
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("plot: %s has no records", path)
	}
	if outDir == "" {
		outDir = filepath.Join(runDir, "plots")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("plot: %w", err)
	}
	title := filepath.Base(filepath.Clean(runDir))
	return RecordsNotes(recs, title, outDir)
}

// Records draws recs (see Run) into outDir with titles prefixed by name.
func Records(recs []Record, name, outDir string) ([]string, error) {
	files, _, err := RecordsNotes(recs, name, outDir)
	return files, err
}

// RecordsNotes is Records, also returning notes on charts it did not draw.
func RecordsNotes(recs []Record, name, outDir string) (files, notes []string, err error) {
	cs, notes := Charts(recs, name)
	for _, c := range cs {
		out := filepath.Join(outDir, c.File+".png")
		if err := c.Chart.WritePNG(out); err != nil {
			return files, notes, err
		}
		files = append(files, out)
	}
	if len(files) == 0 {
		return nil, notes, fmt.Errorf("plot %s: no reward, accuracy, KL, length or loss fields in the metrics", name)
	}
	return files, notes, nil
}

// NamedChart is a chart and its file name (without .png).
type NamedChart struct {
	File  string
	Chart Chart
}

// Charts builds the charts of recs: one per metric group (DefaultGroups)
// and x axis, the step and, where the run generated samples, the
// cumulative generated samples. On the samples axis the records before
// the first generated sample are left out (they have no place on a budget
// axis: drawn, a run that generates nothing, such as sft, is a vertical
// line at 0) and steps that generated nothing new (rft training between
// its rollout rounds) collapse into the last one of their budget. notes
// say which charts were not drawn and why.
func Charts(recs []Record, name string) ([]NamedChart, []string) {
	keys := map[string]bool{}
	for _, r := range recs {
		for k := range r {
			keys[k] = true
		}
	}
	stepKey := firstKey(keys, stepKeys)
	sampleKey := firstKey(keys, sampleKeys)
	if sampleKey == "" {
		for k := range keys {
			if strings.Contains(k, "sample") {
				sampleKey = k
				break
			}
		}
	}
	type axis struct {
		key, label, suffix string
		budget             bool // a cumulative budget: see Charts
	}
	var axes []axis
	if stepKey != "" {
		axes = append(axes, axis{stepKey, "step", "step", false})
	} else {
		axes = append(axes, axis{"", "record", "step", false})
	}
	var notes []string
	if sampleKey != "" {
		distinct := map[float64]bool{}
		for _, r := range recs {
			if v, ok := r[sampleKey]; ok && finite(v) && v > 0 {
				distinct[v] = true
			}
		}
		switch len(distinct) {
		case 0:
			notes = append(notes, fmt.Sprintf("%s: no generated samples (%s is 0 throughout: the phase trains on given text); charts against samples not drawn, see the *_vs_step charts", name, sampleKey))
		case 1:
			notes = append(notes, fmt.Sprintf("%s: one rollout batch only (%s takes one value); charts against samples not drawn, see the *_vs_step charts", name, sampleKey))
		default:
			axes = append(axes, axis{sampleKey, "cumulative generated samples", "samples", true})
		}
	}
	xKeys := map[string]bool{stepKey: true, sampleKey: true}
	var out []NamedChart
	for _, g := range DefaultGroups {
		var ys []string
		for k := range keys {
			if !xKeys[k] && g.Match(k) {
				ys = append(ys, k)
			}
		}
		if len(ys) == 0 {
			continue
		}
		sort.Strings(ys)
		if len(ys) > len(Palette) {
			ys = ys[:len(Palette)]
		}
		for _, ax := range axes {
			c := Chart{Title: fmt.Sprintf("%s: %s vs %s", name, g.Title, ax.label), XLabel: ax.label, YLabel: g.YLabel, YMin: g.YMin, YMax: g.YMax}
			// The x axis spans the run, also for a metric logged at a
			// few steps (held-out eval).
			c.XMin, c.XMax = math.Inf(1), math.Inf(-1)
			for i, r := range recs {
				x, ok := float64(i), true
				if ax.key != "" {
					x, ok = r[ax.key]
				}
				if ok && finite(x) && (!ax.budget || x > 0) {
					c.XMin, c.XMax = math.Min(c.XMin, x), math.Max(c.XMax, x)
				}
			}
			for _, k := range ys {
				s := Series{Name: k}
				for i, r := range recs {
					y, ok := r[k]
					if !ok {
						continue
					}
					x := float64(i)
					if ax.key != "" {
						if x, ok = r[ax.key]; !ok {
							continue
						}
					}
					if ax.budget {
						if !(x > 0) {
							continue // before the first generated sample
						}
						if n := len(s.X); n > 0 && s.X[n-1] == x {
							s.Y[n-1] = y // nothing new generated: the budget's last value
							continue
						}
					}
					s.X = append(s.X, x)
					s.Y = append(s.Y, y)
				}
				if len(s.X) > 40 {
					s.Smooth = 0.9
				}
				if len(s.X) > 0 {
					c.Series = append(c.Series, s)
				}
			}
			if !anyFinite(c.Series) {
				continue
			}
			out = append(out, NamedChart{g.Name + "_vs_" + ax.suffix, c})
		}
	}
	return out, notes
}

func firstKey(keys map[string]bool, cands []string) string {
	for _, k := range cands {
		if keys[k] {
			return k
		}
	}
	return ""
}

func anyFinite(ss []Series) bool {
	for _, s := range ss {
		for i := range s.X {
			if finite(s.X[i]) && finite(s.Y[i]) {
				return true
			}
		}
	}
	return false
}
