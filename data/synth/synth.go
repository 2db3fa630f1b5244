// Package synth generates seeded, verifiable arithmetic and algebra tasks
// with short step-by-step solutions ending in \boxed{answer}. Texts use only
// the characters in Alphabet so that a tiny character-level model can learn
// them.
package synth

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"sdzero/data/dataset"
)

// Alphabet is every character a generated question, answer or solution may
// contain: newline, space, digits, lowercase letters and + - * = ( ) . , ? :
// \ { } (51 characters). Division is written ":".
const Alphabet = "\n 0123456789abcdefghijklmnopqrstuvwxyz+-*=().,?:\\{}"

// Kinds lists the task kinds in their canonical order.
var Kinds = []string{"add", "sub", "mul", "linear", "word"}

// Options configures Generate.
type Options struct {
	// Kinds selects task kinds among "add", "sub", "mul", "linear" and
	// "word"; empty means all.
	Kinds []string
	// Difficulty 1..5 scales operand sizes (digits for arithmetic); 0 means
	// 1 and values above 5 are clamped to 5.
	Difficulty int
	// Seed makes the output deterministic.
	Seed uint64
	// Compact writes questions as bare expressions ("478+365=?",
	// "3*x+5=20, x=?") instead of short sentences.
	Compact bool
}

// Validate reports unknown task kinds.
func (o Options) Validate() error {
	for _, k := range o.Kinds {
		if !slices.Contains(Kinds, k) {
			return fmt.Errorf("synth: unknown kind %q (want one of %s)", k, strings.Join(Kinds, ", "))
		}
	}
	return nil
}

// Generate returns n tasks. The same options always give the same tasks.
// It panics on options that fail Validate.
func Generate(n int, opt Options) []dataset.MathExample {
	if err := opt.Validate(); err != nil {
		panic(err)
	}
	kinds := opt.Kinds
	if len(kinds) == 0 {
		kinds = Kinds
	}
	d := min(max(opt.Difficulty, 1), 5)
	rng := rand.New(rand.NewPCG(opt.Seed, 0x73796e7468))
	out := make([]dataset.MathExample, 0, max(n, 0))
	for i := 0; i < n; i++ {
		var ex dataset.MathExample
		switch kinds[rng.IntN(len(kinds))] {
		case "add":
			ex = genAdd(rng, d, opt.Compact)
		case "sub":
			ex = genSub(rng, d, opt.Compact)
		case "mul":
			ex = genMul(rng, d, opt.Compact)
		case "linear":
			ex = genLinear(rng, d, opt.Compact)
		case "word":
			ex = genWord(rng, d)
		}
		ex.ID = fmt.Sprintf("synth-%d-%d", opt.Seed, i)
		out = append(out, ex)
	}
	return out
}

// WriteJSONL writes tasks in the dataset JSONL format (see
// dataset.WriteMathJSONL).
func WriteJSONL(path string, exs []dataset.MathExample) error {
	return dataset.WriteMathJSONL(path, exs)
}

// number returns a random number with exactly digits digits.
func number(rng *rand.Rand, digits int) int64 {
	if digits <= 1 {
		return rng.Int64N(10)
	}
	lo := pow10(digits - 1)
	return lo + rng.Int64N(9*lo)
}

func pow10(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// digitsOf returns the decimal digits of v >= 0, least significant first.
func digitsOf(v int64) []int64 {
	if v == 0 {
		return []int64{0}
	}
	var ds []int64
	for ; v > 0; v /= 10 {
		ds = append(ds, v%10)
	}
	return ds
}

func boxed(v int64) string { return `\boxed{` + itoa(v) + `}` }

func question(compact bool, expr, sentence string) string {
	if compact {
		return expr + "=?"
	}
	return sentence
}

// addSteps writes a column addition of a and b with carries.
func addSteps(a, b int64) []string {
	da, db := digitsOf(a), digitsOf(b)
	var lines []string
	carry := int64(0)
	for i := 0; i < max(len(da), len(db)); i++ {
		var x, y int64
		terms := []string{}
		if i < len(da) {
			x = da[i]
			terms = append(terms, itoa(x))
		}
		if i < len(db) {
			y = db[i]
			terms = append(terms, itoa(y))
		}
		if carry > 0 {
			terms = append(terms, itoa(carry))
		}
		s := x + y + carry
		last := i == max(len(da), len(db))-1
		if len(terms) == 1 {
			lines = append(lines, "bring down "+terms[0])
			carry = 0
			continue
		}
		line := strings.Join(terms, "+") + "=" + itoa(s)
		if last {
			line += " write " + itoa(s)
			carry = 0
		} else {
			line += " write " + itoa(s%10)
			carry = s / 10
			if carry > 0 {
				line += " carry " + itoa(carry)
			}
		}
		lines = append(lines, line)
	}
	return lines
}

func genAdd(rng *rand.Rand, d int, compact bool) dataset.MathExample {
	a, b := number(rng, d), number(rng, d-rng.IntN(2))
	expr := itoa(a) + "+" + itoa(b)
	steps := addSteps(a, b)
	return dataset.MathExample{
		Question: question(compact, expr, "what is "+expr+"?"),
		Answer:   itoa(a + b),
		Solution: strings.Join(append(steps, boxed(a+b)), "\n"),
	}
}

// subSteps writes a column subtraction a-b (a >= b) with borrows.
func subSteps(a, b int64) []string {
	da, db := digitsOf(a), digitsOf(b)
	var lines []string
	borrow := int64(0)
	for i := range da {
		var y int64
		if i < len(db) {
			y = db[i]
		}
		x := da[i]
		if i >= len(db) && borrow == 0 {
			lines = append(lines, "bring down "+itoa(x))
			continue
		}
		top := itoa(x)
		if borrow > 0 {
			top += "-1"
		}
		if x-borrow < y {
			lines = append(lines, "1"+top+"-"+itoa(y)+"="+itoa(10+x-borrow-y)+" borrow 1")
			borrow = 1
		} else {
			lines = append(lines, top+"-"+itoa(y)+"="+itoa(x-borrow-y))
			borrow = 0
		}
	}
	return lines
}

func genSub(rng *rand.Rand, d int, compact bool) dataset.MathExample {
	a, b := number(rng, d), number(rng, d-rng.IntN(2))
	expr := itoa(a) + "-" + itoa(b)
	var steps []string
	if a >= b {
		steps = subSteps(a, b)
	} else {
		// Harder levels allow negative results: swap and negate.
		if d < 3 {
			a, b = b, a
			expr = itoa(a) + "-" + itoa(b)
			steps = subSteps(a, b)
		} else {
			steps = append([]string{"swap: " + expr + "=-(" + itoa(b) + "-" + itoa(a) + ")"}, subSteps(b, a)...)
		}
	}
	return dataset.MathExample{
		Question: question(compact, expr, "what is "+expr+"?"),
		Answer:   itoa(a - b),
		Solution: strings.Join(append(steps, boxed(a-b)), "\n"),
	}
}

// mulDigitSteps writes a times a single digit m, column by column.
func mulDigitSteps(a, m int64) []string {
	da := digitsOf(a)
	var lines []string
	carry := int64(0)
	for i, x := range da {
		line := itoa(x) + "*" + itoa(m)
		if carry > 0 {
			line += "+" + itoa(carry)
		}
		s := x*m + carry
		line += "=" + itoa(s)
		if i == len(da)-1 {
			line += " write " + itoa(s)
		} else {
			line += " write " + itoa(s%10)
			carry = s / 10
			if carry > 0 {
				line += " carry " + itoa(carry)
			}
		}
		lines = append(lines, line)
	}
	return lines
}

func genMul(rng *rand.Rand, d int, compact bool) dataset.MathExample {
	a := number(rng, d)
	bDigits := 1
	if d >= 4 {
		bDigits = 2
	}
	b := number(rng, bDigits)
	if b < 2 {
		b = 2 + rng.Int64N(8)
	}
	expr := itoa(a) + "*" + itoa(b)
	var steps []string
	if b < 10 {
		steps = mulDigitSteps(a, b)
	} else {
		lo, hi := b%10, b/10
		p1, p2 := a*lo, a*hi*10
		steps = []string{
			itoa(a) + "*" + itoa(lo) + "=" + itoa(p1),
			itoa(a) + "*" + itoa(hi*10) + "=" + itoa(p2),
			itoa(p1) + "+" + itoa(p2) + "=" + itoa(p1+p2),
		}
	}
	return dataset.MathExample{
		Question: question(compact, expr, "what is "+expr+"?"),
		Answer:   itoa(a * b),
		Solution: strings.Join(append(steps, boxed(a*b)), "\n"),
	}
}

func signed(v int64) string {
	if v < 0 {
		return "-" + itoa(-v)
	}
	return "+" + itoa(v)
}

func genLinear(rng *rand.Rand, d int, compact bool) dataset.MathExample {
	span := 5 * int64(d)
	x := rng.Int64N(2*span+1) - span
	a := 2 + rng.Int64N(int64(2*d+1))
	if d >= 3 && rng.IntN(2) == 0 {
		a = -a
	}
	b := rng.Int64N(10*int64(d)+1) - 5*int64(d)
	if b == 0 {
		b = 1
	}
	c := a*x + b
	lhs := itoa(a) + "*x" + signed(b)
	eq := lhs + "=" + itoa(c)
	// a*x = c - b
	move := itoa(c)
	if b > 0 {
		move += "-" + itoa(b)
	} else {
		move += "+" + itoa(-b)
	}
	rhs := c - b
	steps := []string{
		eq,
		itoa(a) + "*x=" + move + "=" + itoa(rhs),
		"x=" + itoa(rhs) + ":" + paren(a) + "=" + itoa(x),
		boxed(x),
	}
	q := "solve " + eq + " for x."
	if compact {
		q = eq + ", x=?"
	}
	return dataset.MathExample{Question: q, Answer: itoa(x), Solution: strings.Join(steps, "\n")}
}

func paren(v int64) string {
	if v < 0 {
		return "(" + itoa(v) + ")"
	}
	return itoa(v)
}

var (
	names = []string{"ann", "bob", "sam", "tom", "eva", "max", "lia", "ben"}
	items = []string{"apples", "pens", "cards", "books", "coins", "shells"}
)

func genWord(rng *rand.Rand, d int) dataset.MathExample {
	who := names[rng.IntN(len(names))]
	what := items[rng.IntN(len(items))]
	digits := max(1, (d+1)/2+1)
	switch rng.IntN(4) {
	case 0:
		a, b := number(rng, digits), number(rng, digits)
		return dataset.MathExample{
			Question: fmt.Sprintf("%s has %d %s and gets %d more. how many %s now?", who, a, what, b, what),
			Answer:   itoa(a + b),
			Solution: fmt.Sprintf("%d+%d=%d\n%s", a, b, a+b, boxed(a+b)),
		}
	case 1:
		a, b := number(rng, digits), number(rng, digits)
		if a < b {
			a, b = b, a
		}
		return dataset.MathExample{
			Question: fmt.Sprintf("%s has %d %s and gives away %d. how many are left?", who, a, what, b),
			Answer:   itoa(a - b),
			Solution: fmt.Sprintf("%d-%d=%d\n%s", a, b, a-b, boxed(a-b)),
		}
	case 2:
		a, b := 2+rng.Int64N(int64(3*d+5)), 2+rng.Int64N(9)
		return dataset.MathExample{
			Question: fmt.Sprintf("%s has %d bags with %d %s each. how many %s in total?", who, b, a, what, what),
			Answer:   itoa(a * b),
			Solution: fmt.Sprintf("%d*%d=%d\n%s", b, a, a*b, boxed(a*b)),
		}
	default:
		each, k := 2+rng.Int64N(int64(3*d+5)), 2+rng.Int64N(8)
		total := each * k
		return dataset.MathExample{
			Question: fmt.Sprintf("%s shares %d %s equally among %d friends. how many does each get?", who, total, what, k),
			Answer:   itoa(each),
			Solution: fmt.Sprintf("%d:%d=%d\n%s", total, k, each, boxed(each)),
		}
	}
}
