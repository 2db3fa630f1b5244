package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"sdzero/data/dataset"
)

// Arithmetic returns n addition/subtraction problems with numbers of the
// given number of digits and short column-wise worked solutions, e.g.
//
//	question "47+38"  solution "7+8=15\n4+3+1=8\n\boxed{85}"
//	question "52-38"  solution "12-8=4\n5-3-1=1\n\boxed{14}"
//
// (one line per column, least significant first, "+1" / "-1" for a carry
// or borrow). The format is terse on purpose: the demo's model reads bytes,
// so every character costs a token. kinds selects "add" and/or "sub".
func Arithmetic(n, digits int, kinds []string, seed uint64) ([]dataset.MathExample, error) {
	if digits < 1 || digits > 9 {
		return nil, fmt.Errorf("demo task: digits %d out of range 1..9", digits)
	}
	if len(kinds) == 0 {
		kinds = []string{"add", "sub"}
	}
	for _, k := range kinds {
		if k != "add" && k != "sub" {
			return nil, fmt.Errorf("demo task: unknown kind %q (want add or sub)", k)
		}
	}
	lo, hi := 1, 10
	for i := 1; i < digits; i++ {
		lo, hi = lo*10, hi*10
	}
	if digits == 1 {
		lo = 0
	}
	rng := rand.New(rand.NewPCG(seed, 0xa417))
	out := make([]dataset.MathExample, n)
	for i := range out {
		a, b := lo+rng.IntN(hi-lo), lo+rng.IntN(hi-lo)
		op := byte('+')
		if kinds[rng.IntN(len(kinds))] == "sub" {
			op = '-'
			if a < b {
				a, b = b, a
			}
		}
		sol, ans := Solve(a, b, op, -1, 0)
		out[i] = dataset.MathExample{ID: fmt.Sprintf("arith-%d-%d", seed, i), Question: fmt.Sprintf("%d%c%d", a, op, b),
			Answer: fmt.Sprint(ans), Solution: sol}
	}
	return out, nil
}

// Solve writes the column-wise worked solution of a op b (op '+' or '-',
// a >= b for '-') ending in \boxed{answer}, and returns it with the
// answer it states. errCol >= 0 injects a slip in that column: its result
// is off by delta, and the later columns and the answer follow from the
// slip consistently, as a real mistake would.
func Solve(a, b int, op byte, errCol, delta int) (string, int) {
	var sb strings.Builder
	carry, ans, place, col := 0, 0, 1, 0
	for a > 0 || b > 0 || col == 0 {
		da, db := a%10, b%10
		var r, digit int
		if op == '+' {
			r = da + db + carry
			if col == errCol {
				r = clampSlip(r, delta, 0, 18+carry)
			}
			if carry > 0 {
				fmt.Fprintf(&sb, "%d+%d+1=%d\n", da, db, r)
			} else {
				fmt.Fprintf(&sb, "%d+%d=%d\n", da, db, r)
			}
			digit, carry = r%10, r/10
		} else {
			next := 0
			if da-carry < db {
				next = 1
			}
			top := da + 10*next
			r = top - db - carry
			if col == errCol {
				r = clampSlip(r, delta, 0, 9)
			}
			if carry > 0 {
				fmt.Fprintf(&sb, "%d-%d-1=%d\n", top, db, r)
			} else {
				fmt.Fprintf(&sb, "%d-%d=%d\n", top, db, r)
			}
			digit, carry = r, next
		}
		ans += digit * place
		place *= 10
		a, b = a/10, b/10
		col++
	}
	if op == '+' && carry > 0 {
		ans += carry * place
	}
	fmt.Fprintf(&sb, "\\boxed{%d}", ans)
	return sb.String(), ans
}

// clampSlip returns r+delta, or r-delta when that leaves [lo, hi].
func clampSlip(r, delta, lo, hi int) int {
	if r+delta < lo || r+delta > hi {
		return r - delta
	}
	return r + delta
}

// Columns returns the number of solution lines of a op b.
func Columns(a, b int) int {
	n := 0
	for a > 0 || b > 0 || n == 0 {
		a, b = a/10, b/10
		n++
	}
	return n
}

// RevisionDemos turns a fraction of pretraining examples into
// demonstrations of revising within the same turn, the skill an instruct
// LLM brings to SD-Zero and a model pretrained only on solutions lacks:
// with probability fracWrong the solution becomes
//
//	<attempt with a slip> + "\n\n" + wrongPrompt + "\n\n" + <solution>
//
// and with probability fracRight
//
//	<solution> + "\n\n" + rightPrompt + "\n\n" + <solution>
//
// where the prompts are the trainer's P_r texts. Questions must be as made
// by Arithmetic.
func RevisionDemos(exs []dataset.MathExample, fracWrong, fracRight float64, wrongPrompt, rightPrompt string, seed uint64) ([]dataset.MathExample, error) {
	rng := rand.New(rand.NewPCG(seed, 0x7e51))
	out := make([]dataset.MathExample, len(exs))
	for i, e := range exs {
		out[i] = e
		u := rng.Float64()
		if u >= fracWrong+fracRight {
			continue
		}
		var a, b int
		var op byte
		if _, err := fmt.Sscanf(strings.Replace(e.Question, "-", " - ", 1), "%d - %d", &a, &b); err == nil {
			op = '-'
		} else if _, err := fmt.Sscanf(strings.Replace(e.Question, "+", " + ", 1), "%d + %d", &a, &b); err == nil {
			op = '+'
		} else {
			return nil, fmt.Errorf("demo task: example %s: question %q is not a+b or a-b", e.ID, e.Question)
		}
		sol, _ := Solve(a, b, op, -1, 0)
		if u < fracWrong {
			delta := 1 + rng.IntN(2)
			if rng.IntN(2) == 0 {
				delta = -delta
			}
			wrong, _ := Solve(a, b, op, rng.IntN(Columns(a, b)), delta)
			out[i].Solution = wrong + "\n\n" + wrongPrompt + "\n\n" + sol
		} else {
			out[i].Solution = sol + "\n\n" + rightPrompt + "\n\n" + sol
		}
	}
	return out, nil
}
