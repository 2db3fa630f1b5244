package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"sdzero/data/dataset"
)

// Spec selects the demo's arithmetic problems.
type Spec struct {
	// Digits per operand (both operands have exactly this many digits,
	// except with Digits 1, where 0 is allowed).
	Digits int
	// Kinds holds "add" and/or "sub" (empty: both).
	Kinds []string
	// Hard is the fraction of problems whose carry or borrow chain (Chain)
	// is at least HardChain; the others have a shorter one. HardChain 0
	// leaves the natural mix of random operands. The hard
	// problems are where a small model's errors are systematic (a carry or
	// borrow propagated through several columns, as in 4003-1867).
	Hard      float64
	HardChain int
}

// Arithmetic returns n addition/subtraction problems of s with short
// column-wise worked solutions, e.g.
//
//	question "47+38"  solution "7+8=15\n4+3+1=8\n\boxed{85}"
//	question "52-38"  solution "12-8=4\n5-3-1=1\n\boxed{14}"
//
// (one line per column, least significant first, "+1" / "-1" for a carry
// or borrow). The format is terse on purpose: the demo's model reads bytes,
// so every character costs a token.
func Arithmetic(n int, s Spec, seed uint64) ([]dataset.MathExample, error) {
	if s.Digits < 1 || s.Digits > 9 {
		return nil, fmt.Errorf("demo task: digits %d out of range 1..9", s.Digits)
	}
	kinds := s.Kinds
	if len(kinds) == 0 {
		kinds = []string{"add", "sub"}
	}
	for _, k := range kinds {
		if k != "add" && k != "sub" {
			return nil, fmt.Errorf("demo task: unknown kind %q (want add or sub)", k)
		}
	}
	if s.Hard < 0 || s.Hard > 1 {
		return nil, fmt.Errorf("demo task: hard fraction %g out of range 0..1", s.Hard)
	}
	if s.HardChain < 0 || s.HardChain > s.Digits-1 || s.Hard > 0 && s.HardChain == 0 {
		return nil, fmt.Errorf("demo task: hard_chain %d out of range 1..%d for %d digits", s.HardChain, s.Digits-1, s.Digits)
	}
	lo, hi := 1, 10
	for i := 1; i < s.Digits; i++ {
		lo, hi = lo*10, hi*10
	}
	if s.Digits == 1 {
		lo = 0
	}
	rng := rand.New(rand.NewPCG(seed, 0xa417))
	out := make([]dataset.MathExample, n)
	for i := range out {
		hard := rng.Float64() < s.Hard
		op := byte('+')
		if kinds[rng.IntN(len(kinds))] == "sub" {
			op = '-'
		}
		var a, b int
		// Rejection sampling: a hard chain has probability about 0.1 for
		// random 4-digit operands, so this takes a few dozen draws at most.
		for {
			a, b = lo+rng.IntN(hi-lo), lo+rng.IntN(hi-lo)
			if op == '-' && a < b {
				a, b = b, a
			}
			if s.HardChain == 0 || (Chain(a, b, op) >= s.HardChain) == hard {
				break
			}
		}
		sol, ans := Solve(a, b, op, -1, 0)
		out[i] = dataset.MathExample{ID: fmt.Sprintf("arith-%d-%d", seed, i), Question: fmt.Sprintf("%d%c%d", a, op, b),
			Answer: fmt.Sprint(ans), Solution: sol}
	}
	return out, nil
}

// Chain returns the length of the longest run of consecutive columns of
// a op b (op '+' or '-', a >= b for '-') that receive a carry or borrow
// from the column below: 3 for 4003-1867 (columns 2, 3 and 4 all get a
// borrow), 0 when no column carries.
func Chain(a, b int, op byte) int {
	carry, run, best := 0, 0, 0
	for a > 0 || b > 0 {
		da, db := a%10, b%10
		if carry > 0 {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
		if op == '+' {
			carry = (da + db + carry) / 10
		} else if da-carry < db {
			carry = 1
		} else {
			carry = 0
		}
		a, b = a/10, b/10
	}
	return best
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

// Attempt is one sampled answer of a model to a problem: its tokens
// (the stop token included, as generated), text and verdict.
type Attempt struct {
	IDs     []int32
	Text    string
	Correct bool
}

// SelectRevisionDemos picks the attempts that become revision
// demonstrations in the base model's second pretraining stage, built from
// the model's own sampled answers: the skill an instruct LLM brings to
// SD-Zero, here learnt on the mistakes this model actually makes
// (systematic ones, at carry and borrow chains), not on synthetic slips.
// Every wrong attempt is picked (it becomes <attempt> P_r(r=0) <worked
// solution>) and a fracRight share of the right ones (<attempt> P_r(r=1)
// <worked solution>). Attempts that do not end in a boxed answer
// (truncated) are left out, as are attempts holding a revision delimiter
// ("\n\n") of their own. It returns the indices of the picked attempts.
func SelectRevisionDemos(attempts []Attempt, fracRight float64, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x7e51))
	var out []int
	for i, a := range attempts {
		keepRight := rng.Float64() < fracRight
		if !strings.HasSuffix(strings.TrimSpace(a.Text), "}") || !strings.Contains(a.Text, `\boxed{`) || strings.Contains(a.Text, "\n\n") {
			continue
		}
		if a.Correct && !keepRight {
			continue
		}
		out = append(out, i)
	}
	return out
}
