package train

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress prints the trainer's progress. On a terminal it redraws one
// status line in place ("\r", erase to the end of the line), fitted to the
// terminal's width at every redraw, so that a narrow or resized window
// never wraps it (a wrapped line cannot be redrawn: each update would leave
// a half-line behind). Elsewhere (a pipe, a file) it writes one plain line
// per log_every steps, plus the first and the last, and never a carriage
// return. Either way a line holds a few key figures (phase, step/total,
// loss, reward, ETA, then what fits); every metric is in metrics.jsonl.
// Evaluation results and messages (logf) are lines of their own in both
// modes, so that a redraw never overwrites them.
//
// The zero value with w set prints messages only (prog0 uses that before
// setup has finished).
type progress struct {
	w         io.Writer
	tty       bool
	every     int
	total     int
	startStep int
	start     time.Time
	phase     string
	// width returns the current line budget in columns; nil is
	// defaultWidth.
	width func() int
	// drawn is set while a status line is on screen (tty only), so that
	// the next message first erases it.
	drawn bool
}

// defaultWidth is the line budget when the width is unknown: output that
// is not a terminal, or a terminal that does not report its size.
const defaultWidth = 80

func newProgress(w io.Writer, phase string, startStep, total, every int) *progress {
	p := &progress{w: w, every: every, total: total, startStep: startStep, start: time.Now(), phase: phase}
	f, ok := w.(*os.File)
	p.tty = ok && term.IsTerminal(int(f.Fd()))
	cols := os.Getenv("COLUMNS")
	if p.tty {
		fd := int(f.Fd())
		p.width = func() int { return terminalWidth(fd, cols) }
	} else {
		n := envWidth(cols)
		p.width = func() int { return n }
	}
	return p
}

// terminalWidth is the width of the terminal on fd: the TIOCGWINSZ ioctl
// (term.GetSize issues it through golang.org/x/sys/unix), else the
// COLUMNS variable, else defaultWidth (a terminal that reports 0 columns,
// as some serial consoles and CI pseudo-terminals do).
func terminalWidth(fd int, columns string) int {
	if w, _, err := term.GetSize(fd); err == nil && w > 0 {
		return w
	}
	return envWidth(columns)
}

// envWidth reads a COLUMNS value; defaultWidth when unset or not a
// positive number.
func envWidth(columns string) int {
	if n, err := strconv.Atoi(strings.TrimSpace(columns)); err == nil && n > 0 {
		return n
	}
	return defaultWidth
}

// progressField is one figure of the status line: rank orders what is
// kept when the line is too narrow for all (lower first).
type progressField struct {
	text string
	rank int
}

// update reports the end of a step with its metrics: an evaluation line
// when the step ran one, then the status line (tty) or a plain line (on
// log_every steps, the first and the last).
func (p *progress) update(step int, m Metrics) {
	if p.w == nil {
		return
	}
	if line := evalLine(step, m); line != "" {
		p.logf("%s", line)
	}
	if p.tty {
		line := p.statusLine(step, m, true, p.cols()-1) // the last column would wrap on some terminals
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		if step >= p.total {
			fmt.Fprintln(p.w)
			p.drawn = false
		}
		return
	}
	if p.every < 1 || step%p.every == 0 || step >= p.total || step == p.startStep+1 {
		fmt.Fprintln(p.w, p.statusLine(step, m, false, p.cols()))
	}
}

func (p *progress) cols() int {
	if p.width == nil {
		return defaultWidth
	}
	return max(1, p.width())
}

// statusLine builds the line of step within width columns: phase and
// step first, then loss, reward and the ETA, then (as room allows) the
// accuracy, KL, kept tuples, a bar (bar set), the elapsed time, grad norm
// and learning rate. Fields keep their display order whatever is dropped;
// a width too small even for the first fields cuts the line.
func (p *progress) statusLine(step int, m Metrics, bar bool, width int) string {
	el := time.Since(p.start)
	eta := "?"
	if done := step - p.startStep; done > 0 {
		eta = fmtDur(time.Duration(float64(el) / float64(done) * float64(p.total-step)))
	}
	num := func(name, key string) string {
		if v, ok := m[key]; ok {
			return name + " " + strconv.FormatFloat(v, 'g', 4, 64)
		}
		return ""
	}
	reward := num("reward", "reward_mean")
	var barText string
	if bar {
		const n = 20
		fill := 0
		if p.total > 0 {
			fill = min(n, max(0, n*step/p.total))
		}
		barText = "[" + strings.Repeat("#", fill) + strings.Repeat(".", n-fill) + "]"
	}
	fields := []progressField{
		{p.phase, 0},
		{barText, 8},
		{fmt.Sprintf("step %d/%d", step, p.total), 0},
		{num("loss", "loss"), 1},
		{num("kl", "kl"), 5},
		{reward, 2},
		{num("acc", "accuracy"), 4},
		{num("kept", "kept_total"), 6},
		{num("gnorm", "grad_norm"), 10},
		{num("lr", "lr"), 11},
		{"elapsed " + fmtDur(el), 9},
		{"eta " + eta, 3},
	}
	if reward == "" {
		// Phases without a reward (sft, srt-collect's attempts) lead with
		// their accuracy instead.
		fields[6].rank = 2
	}
	used := 0
	keep := make([]bool, len(fields))
	for rank := 0; rank <= 11; rank++ {
		for i, f := range fields {
			if f.rank != rank || f.text == "" {
				continue
			}
			n := len(f.text)
			if used > 0 {
				n++
			}
			if used+n > width && rank > 0 {
				continue
			}
			keep[i] = true
			used += n
		}
	}
	var b strings.Builder
	for i, f := range fields {
		if keep[i] {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f.text)
		}
	}
	return cutToWidth(b.String(), width)
}

// cutToWidth cuts s to at most width runes (phase names and figures are
// ASCII, so runes are columns).
func cutToWidth(s string, width int) string {
	if width < 1 {
		return ""
	}
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width])
}

// evalLine is the report of the held-out evaluation that ran after step,
// or "" when m holds none.
func evalLine(step int, m Metrics) string {
	acc, ok := m["eval_accuracy"]
	if !ok {
		return ""
	}
	s := fmt.Sprintf("eval after step %d: accuracy %.4f", step, acc)
	if l, ok := m["eval_response_len"]; ok {
		s += fmt.Sprintf(", mean response %.1f tokens", l)
	}
	return s
}

// logf prints a message on its own line (erasing a status line first).
func (p *progress) logf(format string, a ...any) {
	if p.w == nil {
		return
	}
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	fmt.Fprintf(p.w, format+"\n", a...)
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}
