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
//	question "52-38"  solution "12-8=4\n4-3=1\n\boxed{14}"
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
		var q, sol string
		var ans int
		switch kinds[rng.IntN(len(kinds))] {
		case "add":
			q, sol, ans = fmt.Sprintf("%d+%d", a, b), addSolution(a, b), a+b
		default:
			if a < b {
				a, b = b, a
			}
			q, sol, ans = fmt.Sprintf("%d-%d", a, b), subSolution(a, b), a-b
		}
		out[i] = dataset.MathExample{ID: fmt.Sprintf("arith-%d-%d", seed, i), Question: q, Answer: fmt.Sprint(ans),
			Solution: sol + fmt.Sprintf("\\boxed{%d}", ans)}
	}
	return out, nil
}

func addSolution(a, b int) string {
	var sb strings.Builder
	carry := 0
	for a > 0 || b > 0 {
		da, db := a%10, b%10
		s := da + db + carry
		if carry > 0 {
			fmt.Fprintf(&sb, "%d+%d+1=%d\n", da, db, s)
		} else {
			fmt.Fprintf(&sb, "%d+%d=%d\n", da, db, s)
		}
		carry = s / 10
		a, b = a/10, b/10
	}
	if sb.Len() == 0 {
		sb.WriteString("0+0=0\n")
	}
	return sb.String()
}

func subSolution(a, b int) string {
	var sb strings.Builder
	borrow := 0
	for a > 0 || b > 0 {
		da, db := a%10, b%10
		next := 0
		if da-borrow < db {
			next = 1
		}
		top := da + 10*next
		if borrow > 0 {
			fmt.Fprintf(&sb, "%d-%d-1=%d\n", top, db, top-db-1)
		} else {
			fmt.Fprintf(&sb, "%d-%d=%d\n", top, db, top-db)
		}
		borrow = next
		a, b = a/10, b/10
	}
	if sb.Len() == 0 {
		sb.WriteString("0-0=0\n")
	}
	return sb.String()
}
