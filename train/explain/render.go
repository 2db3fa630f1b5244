package explain

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"sdzero/train/plot"
)

// WriteFiles writes explain.json, explain.html and explain.png into dir
// (created if needed) and returns their paths.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	jsonPath := filepath.Join(dir, "explain.json")
	htmlPath := filepath.Join(dir, "explain.html")
	pngPath := filepath.Join(dir, "explain.png")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(jsonPath, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return nil, err
	}
	if err := writeAtomic(htmlPath, r.WriteHTML); err != nil {
		return nil, err
	}
	if err := r.WritePNG(pngPath); err != nil {
		return nil, err
	}
	return []string{jsonPath, htmlPath, pngPath}, nil
}

// writeAtomic writes path through a temporary file and a rename.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// WritePNG draws the per-token KL and token reward against the position.
func (r *Report) WritePNG(path string) error {
	xs := make([]float64, len(r.Tokens))
	kls := make([]float64, len(r.Tokens))
	rew := make([]float64, len(r.Tokens))
	for i, t := range r.Tokens {
		xs[i], kls[i], rew[i] = float64(i), t.KL, t.TokenReward
	}
	c := plot.Chart{
		Title:  fmt.Sprintf("per-token %s KL and token reward (told %s)", r.Options.Divergence, verdict(r.Correct)),
		XLabel: "response token", YLabel: "nats",
		Series: []plot.Series{{Name: "KL", X: xs, Y: kls}, {Name: "log p_student - log p_teacher", X: xs, Y: rew}},
		Width:  max(800, min(2400, 8*len(xs))), Height: 480,
	}
	return c.WritePNG(path)
}

func verdict(correct bool) string {
	if correct {
		return "correct"
	}
	return "wrong"
}

// visible shows whitespace in a token: spaces as they are, newlines as a
// return sign followed by a line break, tabs as an arrow.
func visible(s string) string {
	e := html.EscapeString(s)
	e = strings.ReplaceAll(e, "\t", "&rarr;")
	e = strings.ReplaceAll(e, "\n", "<span class=nl>&#x21b5;</span><br>")
	if strings.TrimSpace(s) == "" && !strings.Contains(s, "\n") {
		e = strings.ReplaceAll(e, " ", "&nbsp;")
	}
	return e
}

// heat maps v in [0, hi] to a white-to-red background, and signed values
// in [-hi, hi] to blue (negative) through white to red (positive).
func heat(v, hi float64, signed bool) string {
	if hi <= 0 || math.IsNaN(v) {
		return "#ffffff"
	}
	x := math.Min(1, math.Abs(v)/hi)
	if signed && v < 0 {
		return fmt.Sprintf("rgb(%d,%d,255)", int(255*(1-x)), int(255*(1-0.6*x)))
	}
	return fmt.Sprintf("rgb(255,%d,%d)", int(255*(1-0.8*x)), int(255*(1-x)))
}

func alts(as []Alt) string {
	var b strings.Builder
	for i, a := range as {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q %.3f", a.Text, a.Prob)
	}
	return b.String()
}

// WriteHTML writes a self-contained page: a summary, the response with
// every token coloured by its KL (or, switched by the radio buttons, by its
// token reward), numbers and both models' top alternatives on hover, and a
// table of the highest-KL positions. No scripts, no external resources.
func (r *Report) WriteHTML(w io.Writer) error {
	var hiKL, hiRew float64
	for _, t := range r.Tokens {
		hiKL = math.Max(hiKL, t.KL)
		hiRew = math.Max(hiRew, math.Abs(t.TokenReward))
	}
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sdzero explain</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;max-width:1100px;color:#222}
h1{font-size:20px}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
.resp{font-family:ui-monospace,monospace;font-size:14px;line-height:1.9;white-space:normal;border:1px solid #ddd;padding:10px;border-radius:6px}
.t{padding:1px 0;border-radius:2px;cursor:help}.t.stop{outline:1px dashed #888}.nl{color:#999}
#by-rew:checked ~ .resp .kl{display:none}#by-kl:checked ~ .resp .rw{display:none}
.kl,.rw{display:inline}.legend{font-size:12px;color:#555}pre{white-space:pre-wrap;background:#f6f6f6;padding:8px;border-radius:6px}
</style></head><body>
`)
	fmt.Fprintf(&b, "<h1>Per-token distillation signal (teacher told: %s)</h1>\n", verdict(r.Correct))
	fmt.Fprintf(&b, "<p>student <code>%s</code>, teacher <code>%s</code>; divergence %s (top-k %d, forward weight %g, temperature %g); P<sub>r</sub>: <q>%s</q></p>\n",
		html.EscapeString(r.Student), html.EscapeString(r.Teacher), html.EscapeString(r.Options.Divergence), r.Options.TopK, r.Options.ForwardWeight, r.Options.Temperature, html.EscapeString(r.Revision))
	fmt.Fprintf(&b, "<table><tr><th>tokens</th><th>total KL</th><th>largest KL</th><th>share on stop tokens</th><th>mean token reward</th></tr>"+
		"<tr><td>%d</td><td>%.4g</td><td>%.4g at token %d (%.1f%% of the total; uniform %.1f%%)</td><td>%.1f%%</td><td>%.4g</td></tr></table>\n",
		len(r.Tokens), r.TotalKL, maxKL(r), r.MaxKLIndex, 100*r.MaxKLShare, 100*r.UniformShare, 100*r.StopKLShare, r.MeanTokenReward)
	if r.Reason != "" {
		fmt.Fprintf(&b, "<p>verifier: %s</p>\n", html.EscapeString(r.Reason))
	}
	fmt.Fprintf(&b, "<h2>Prompt</h2><pre>%s</pre>\n", html.EscapeString(r.Prompt))
	b.WriteString(`<h2>Response</h2>
<input type="radio" name="view" id="by-kl" checked><label for="by-kl">colour by KL</label>
<input type="radio" name="view" id="by-rew"><label for="by-rew">colour by token reward (red: the teacher likes the token less than the student; blue: more)</label>
<p class="legend">Hover a token for its numbers and both models' top alternatives. Dashed: stop token.</p>
<div class="resp">`)
	for _, t := range r.Tokens {
		cls := "t"
		if t.Stop {
			cls += " stop"
		}
		tip := fmt.Sprintf("#%d id %d\nKL %.4g (forward %.4g, reverse %.4g)\nlog p student %.4f, teacher %.4f, reward %.4f\nstudent top: %s\nteacher top: %s",
			t.Index, t.ID, t.KL, t.ForwardKL, t.ReverseKL, t.StudentLogProb, t.TeacherLogProb, t.TokenReward, alts(t.StudentTop), alts(t.TeacherTop))
		text := visible(t.Text)
		if text == "" {
			text = "&#x2205;"
		}
		fmt.Fprintf(&b, `<span class="%s kl" style="background:%s" title="%s">%s</span><span class="%s rw" style="background:%s" title="%s">%s</span>`,
			cls, heat(t.KL, hiKL, false), html.EscapeString(tip), text, cls, heat(t.TokenReward, hiRew, true), html.EscapeString(tip), text)
	}
	b.WriteString("</div>\n<h2>Highest-KL positions</h2>\n<table><tr><th>#</th><th>token</th><th>KL</th><th>token reward</th><th>student top</th><th>teacher top</th></tr>\n")
	order := make([]int, len(r.Tokens))
	for i := range order {
		order[i] = i
	}
	sortByKL(order, r.Tokens)
	for _, i := range order[:min(10, len(order))] {
		t := r.Tokens[i]
		fmt.Fprintf(&b, "<tr><td>%d</td><td><code>%s</code></td><td>%.4g</td><td>%.4g</td><td>%s</td><td>%s</td></tr>\n",
			t.Index, visible(t.Text), t.KL, t.TokenReward, html.EscapeString(alts(t.StudentTop)), html.EscapeString(alts(t.TeacherTop)))
	}
	b.WriteString("</table>\n</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func maxKL(r *Report) float64 {
	if r.MaxKLIndex < 0 {
		return 0
	}
	return r.Tokens[r.MaxKLIndex].KL
}

func sortByKL(order []int, ts []Token) {
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && ts[order[j]].KL > ts[order[j-1]].KL; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
}
