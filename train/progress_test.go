package train

import (
	"strings"
	"testing"
	"time"
)

// progressMetrics is a distill step's metrics with every key the status
// line knows, at magnitudes that make the longest figures.
func progressMetrics(step int) Metrics {
	return Metrics{
		"loss": 0.123456789, "kl": 0.00123456, "reward_mean": 0.5625, "accuracy": 0.5625,
		"grad_norm": 12.3456, "lr": 1.23456e-6, "response_len": 311.25, "tokens_per_s": 12345.6,
		"step": float64(step), "samples_generated": 1e6, "kept_total": 12345,
	}
}

// screenLines splits terminal output into what each redraw or line shows:
// a carriage return starts a new screen line as a newline does, and the
// erase-line sequence takes no column.
func screenLines(out string) []string {
	out = strings.ReplaceAll(out, "\033[K", "")
	return strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' })
}

// TestProgressFitsWidth: at 80 and 120 columns (and a narrow 30), on a
// terminal and piped, no status or eval line is wider than the width (on a
// terminal, narrower by one column: writing the last one wraps on some
// terminals); the key figures are there when the width allows; piped
// output has no carriage return, one line per log_every step plus the
// first and the last; eval results are lines of their own in both modes.
func TestProgressFitsWidth(t *testing.T) {
	for _, tc := range []struct {
		name  string
		width int
		tty   bool
		phase string
		total int
		want  []string // substrings of every status line
	}{
		{"tty 80", 80, true, "distill", 20, []string{"distill", "step ", "/20", "loss 0.1235", "reward 0.5625", "eta "}},
		{"tty 120", 120, true, "distill", 20, []string{"distill", "[", "loss 0.1235", "kl 0.001235", "reward 0.5625", "acc 0.5625", "eta "}},
		{"piped 80", 80, false, "distill", 20, []string{"distill step ", "loss", "reward", "eta "}},
		{"piped 120", 120, false, "srt-collect", 20, []string{"srt-collect step ", "kept 1.234e+04", "eta "}},
		{"tty 80 large steps", 80, true, "distill", 123456789, []string{"step ", "/123456789", "loss", "reward", "eta "}},
		{"tty 30", 30, true, "distill", 20, []string{"distill step "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			p := &progress{w: &b, tty: tc.tty, every: 5, total: tc.total, start: time.Now().Add(-time.Hour), phase: tc.phase,
				width: func() int { return tc.width }}
			steps := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
			if tc.total <= 20 {
				steps = append(steps, tc.total)
			}
			for _, s := range steps {
				m := progressMetrics(s)
				if s == 5 {
					m["eval_accuracy"], m["eval_response_len"] = 0.58, 123.4
				}
				p.update(s, m)
			}
			out := b.String()
			limit := tc.width
			if tc.tty {
				limit--
			}
			evals := 0
			status := 0
			for _, l := range screenLines(out) {
				isEval := strings.HasPrefix(l, "eval after step 5: accuracy 0.5800")
				// An eval line is a whole line (never redrawn): below its
				// own length it may wrap.
				if len(l) > limit && !(isEval && tc.width < 64) {
					t.Errorf("line of %d columns (limit %d): %q", len(l), limit, l)
				}
				if isEval {
					evals++
					continue
				}
				status++
				for _, w := range tc.want {
					if !strings.Contains(l, w) {
						t.Errorf("status line %q lacks %q", l, w)
					}
				}
			}
			if evals != 1 {
				t.Errorf("%d eval lines, want 1:\n%s", evals, out)
			}
			if !tc.tty {
				if strings.Contains(out, "\r") {
					t.Errorf("piped output has a carriage return:\n%q", out)
				}
				// steps 1, 5, 10 and the last (20)
				if status != 4 {
					t.Errorf("%d piped status lines, want 4 (first, every 5th, last):\n%s", status, out)
				}
			} else if status != len(steps) {
				t.Errorf("%d redraws, want %d", status, len(steps))
			}
		})
	}
}

// TestProgressEvalNotOverwritten: on a terminal the eval line ends with a
// newline before the next redraw, and a message erases the status line
// before it is printed.
func TestProgressEvalNotOverwritten(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b, tty: true, every: 10, total: 10, start: time.Now(), phase: "grpo", width: func() int { return 80 }}
	p.update(1, Metrics{"loss": 1})
	p.update(2, Metrics{"loss": 1, "eval_accuracy": 0.25})
	p.logf("step %d: teacher synced", 2)
	out := b.String()
	i := strings.Index(out, "eval after step 2: accuracy 0.2500\n")
	if i < 0 || !strings.HasPrefix(out[i-4:], "\r\033[K") {
		t.Fatalf("eval line not erased-then-printed on its own line:\n%q", out)
	}
	if !strings.HasSuffix(out, "\r\033[Kstep 2: teacher synced\n") {
		t.Errorf("message not on its own line:\n%q", out)
	}
}

func TestEnvWidth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{{"", 80}, {"120", 120}, {" 100 ", 100}, {"0", 80}, {"-5", 80}, {"wide", 80}} {
		if got := envWidth(tc.in); got != tc.want {
			t.Errorf("envWidth(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
