// Package compare puts several runs side by side at equal budgets: a
// metric (eval accuracy by default) against cumulative generated samples
// and against cumulative generated tokens, as one PNG and as a table of
// values interpolated at common budgets. Methods that spend their budget
// differently (SD-Zero samples once per prompt, RFT and GRPO many times)
// are only comparable this way.
package compare

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sdzero/train/plot"
)

// Budget axes: the metrics.jsonl keys of the two budgets.
const (
	SamplesKey = "samples_generated"
	TokensKey  = "gen_tokens"
)

// Curve is one run's metric against one budget, sorted by budget, points
// with a missing or non-finite value left out.
type Curve struct {
	Run    string
	Budget []float64
	Value  []float64
}

// Run is one run's curves.
type Run struct {
	Name            string
	Samples, Tokens Curve
}

// Load reads dir/metrics.jsonl and extracts metric against both budgets.
func Load(dir, metric string) (Run, error) {
	recs, err := plot.ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return Run{}, err
	}
	name := filepath.Base(filepath.Clean(dir))
	r := Run{Name: name, Samples: Curve{Run: name}, Tokens: Curve{Run: name}}
	found := false
	for _, rec := range recs {
		v, ok := rec[metric]
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		found = true
		if s, ok := rec[SamplesKey]; ok && finite(s) {
			r.Samples.Budget = append(r.Samples.Budget, s)
			r.Samples.Value = append(r.Samples.Value, v)
		}
		if t, ok := rec[TokensKey]; ok && finite(t) {
			r.Tokens.Budget = append(r.Tokens.Budget, t)
			r.Tokens.Value = append(r.Tokens.Value, v)
		}
	}
	if !found {
		return Run{}, fmt.Errorf("compare: %s has no %q values (run with eval.data set, or pick another --metric)", dir, metric)
	}
	r.Samples.sort()
	r.Tokens.sort()
	return r, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (c *Curve) sort() {
	idx := make([]int, len(c.Budget))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return c.Budget[idx[a]] < c.Budget[idx[b]] })
	b, v := make([]float64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		b[i], v[i] = c.Budget[j], c.Value[j]
	}
	c.Budget, c.Value = b, v
}

// spends reports whether the curve's budget ever grows (an SFT run
// generates nothing and has no place on a budget axis).
func (c Curve) spends() bool { return len(c.Budget) > 0 && c.Budget[len(c.Budget)-1] > c.Budget[0] }

// At interpolates the curve linearly at budget x; ok is false outside the
// budgets the run covered.
func (c Curve) At(x float64) (float64, bool) {
	n := len(c.Budget)
	if n == 0 || x < c.Budget[0] || x > c.Budget[n-1] {
		return 0, false
	}
	i := sort.SearchFloat64s(c.Budget, x)
	if c.Budget[i] == x {
		// The last value at this budget (several evals at one budget).
		for i+1 < n && c.Budget[i+1] == x {
			i++
		}
		return c.Value[i], true
	}
	x0, x1 := c.Budget[i-1], c.Budget[i]
	t := (x - x0) / (x1 - x0)
	return c.Value[i-1] + t*(c.Value[i]-c.Value[i-1]), true
}

// Budgets returns n budgets evenly spaced over the range every curve
// covers (from the largest first budget to the smallest last one), or nil
// when the ranges do not overlap.
func Budgets(curves []Curve, n int) []float64 {
	lo, hi := math.Inf(-1), math.Inf(1)
	any := false
	for _, c := range curves {
		if !c.spends() {
			continue
		}
		any = true
		lo = math.Max(lo, c.Budget[0])
		hi = math.Min(hi, c.Budget[len(c.Budget)-1])
	}
	if !any || hi < lo || n < 1 {
		return nil
	}
	if n == 1 || hi == lo {
		return []float64{hi}
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	return out
}

// Table writes the metric of every run at the common budgets of one axis.
func Table(w io.Writer, axis string, curves []Curve, budgets []float64) {
	fmt.Fprintf(w, "%-14s", axis)
	for _, c := range curves {
		fmt.Fprintf(w, " %12s", clip(c.Run, 12))
	}
	fmt.Fprintln(w)
	if len(budgets) == 0 {
		fmt.Fprintln(w, "  (no budget range common to the runs that generate)")
		return
	}
	for _, b := range budgets {
		fmt.Fprintf(w, "%-14.0f", b)
		for _, c := range curves {
			if v, ok := c.At(b); ok && c.spends() {
				fmt.Fprintf(w, " %12.4f", v)
			} else {
				fmt.Fprintf(w, " %12s", "-")
			}
		}
		fmt.Fprintln(w)
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "~"
}

// WritePNG draws the metric against samples (left) and tokens (right) for
// every run into one PNG.
func WritePNG(path, metric string, runs []Run) error {
	if len(runs) == 0 {
		return errors.New("compare: no runs")
	}
	mk := func(axis string, pick func(Run) Curve) (*image.RGBA, error) {
		ch := plot.Chart{Title: fmt.Sprintf("%s vs generated %s", metric, axis), XLabel: "cumulative generated " + axis, YLabel: metric, Width: 720, Height: 480}
		for _, r := range runs {
			c := pick(r)
			if !c.spends() {
				continue
			}
			ch.Series = append(ch.Series, plot.Series{Name: r.Name, X: c.Budget, Y: c.Value})
		}
		if len(ch.Series) == 0 {
			return nil, fmt.Errorf("compare: no run generates %s", axis)
		}
		return ch.Render()
	}
	left, err := mk("samples", func(r Run) Curve { return r.Samples })
	if err != nil {
		return err
	}
	right, err := mk("tokens", func(r Run) Curve { return r.Tokens })
	if err != nil {
		return err
	}
	img := image.NewRGBA(image.Rect(0, 0, left.Bounds().Dx()+right.Bounds().Dx(), max(left.Bounds().Dy(), right.Bounds().Dy())))
	draw.Draw(img, left.Bounds(), left, image.Point{}, draw.Src)
	draw.Draw(img, right.Bounds().Add(image.Pt(left.Bounds().Dx(), 0)), right, image.Point{}, draw.Src)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if err := png.Encode(tmp, img); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Names makes run names unique (the base names of run directories may
// repeat: seed1/distill, seed2/distill).
func Names(dirs []string) []string {
	out := make([]string, len(dirs))
	count := map[string]int{}
	for i, d := range dirs {
		out[i] = filepath.Base(filepath.Clean(d))
		count[out[i]]++
	}
	for i, d := range dirs {
		if count[out[i]] > 1 {
			parts := strings.Split(filepath.ToSlash(filepath.Clean(d)), "/")
			if len(parts) >= 2 {
				out[i] = parts[len(parts)-2] + "/" + parts[len(parts)-1]
			}
		}
	}
	return out
}
