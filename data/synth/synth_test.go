package synth

import (
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sdzero/data/dataset"
	"sdzero/data/verify"
)

func inAlphabet(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune(Alphabet, c) {
			return false
		}
	}
	return true
}

var (
	binRe = regexp.MustCompile(`^(\d+)([-+*])(\d+)=\?$`)
	linRe = regexp.MustCompile(`^(-?\d+)\*x([-+]\d+)=(-?\d+), x=\?$`)
)

// checkCompact recomputes the answer of a compact question independently.
func checkCompact(t *testing.T, ex dataset.MathExample) {
	t.Helper()
	atoi := func(s string) int64 {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", ex.Question, err)
		}
		return v
	}
	if m := binRe.FindStringSubmatch(ex.Question); m != nil {
		a, b := atoi(m[1]), atoi(m[3])
		want := map[string]int64{"+": a + b, "-": a - b, "*": a * b}[m[2]]
		if ex.Answer != strconv.FormatInt(want, 10) {
			t.Errorf("%s: answer %s, want %d", ex.Question, ex.Answer, want)
		}
		return
	}
	if m := linRe.FindStringSubmatch(ex.Question); m != nil {
		a, b, c, x := atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(ex.Answer)
		if a*x+b != c {
			t.Errorf("%s: x=%d does not solve it", ex.Question, x)
		}
		return
	}
	t.Errorf("unrecognised compact question %q", ex.Question)
}

func TestGenerateVerifiable(t *testing.T) {
	for d := 1; d <= 5; d++ {
		for _, compact := range []bool{false, true} {
			opt := Options{Difficulty: d, Seed: uint64(100 + d), Compact: compact}
			exs := Generate(300, opt)
			if len(exs) != 300 {
				t.Fatalf("got %d examples", len(exs))
			}
			seen := map[string]bool{}
			for _, ex := range exs {
				seen[strings.Fields(ex.Question)[0]] = true
				for _, s := range []string{ex.Question, ex.Answer, ex.Solution, ex.ID} {
					if !inAlphabet(s) {
						t.Fatalf("text outside Alphabet: %q", s)
					}
				}
				if !strings.HasSuffix(ex.Solution, `\boxed{`+ex.Answer+`}`) {
					t.Fatalf("solution does not end in the boxed answer: %q", ex.Solution)
				}
				if r := verify.Math(ex.Solution, ex.Answer); r.Reward != 1 {
					t.Fatalf("verify.Math rejects its own solution: %+v for %+v", r, ex)
				}
				if compact && !strings.Contains(ex.Question, " has ") && !strings.Contains(ex.Question, " shares ") {
					checkCompact(t, ex)
				}
				if len(ex.Question) > 90 || len(ex.Solution) > 200 {
					t.Errorf("text too long for the tiny demo model: %q / %q", ex.Question, ex.Solution)
				}
			}
		}
	}
}

// TestWorkedSolutionsAreCorrect replays the column steps: every "a+b=c"
// style equation in a solution must hold.
func TestWorkedSolutionsAreCorrect(t *testing.T) {
	eqRe := regexp.MustCompile(`(?m)^([0-9+*\-]+)=(\d+)`)
	eval := func(expr string) int64 {
		// Only + - * between non-negative integers, left to right with * first.
		var sum int64
		tokens := regexp.MustCompile(`\d+|[-+*]`).FindAllString(expr, -1)
		sign, prod := int64(1), int64(0)
		havePending := false
		mulNext := false
		for _, tok := range tokens {
			switch tok {
			case "+", "-":
				if havePending {
					sum += sign * prod
				}
				sign = map[string]int64{"+": 1, "-": -1}[tok]
				havePending = false
			case "*":
				mulNext = true
			default:
				v, _ := strconv.ParseInt(tok, 10, 64)
				if mulNext {
					prod *= v
					mulNext = false
				} else {
					prod = v
				}
				havePending = true
			}
		}
		if havePending {
			sum += sign * prod
		}
		return sum
	}
	for _, kind := range []string{"add", "sub", "mul"} {
		for _, ex := range Generate(200, Options{Kinds: []string{kind}, Difficulty: 5, Seed: 7}) {
			for _, m := range eqRe.FindAllStringSubmatch(ex.Solution, -1) {
				got := eval(m[1])
				want, _ := strconv.ParseInt(m[2], 10, 64)
				if got != want {
					t.Fatalf("%s: step %q is wrong (%d)", ex.Question, m[0], got)
				}
			}
		}
	}
}

func TestExamples(t *testing.T) {
	exs := Generate(1, Options{Kinds: []string{"add"}, Difficulty: 3, Seed: 1, Compact: true})
	t.Logf("add: %q -> %q", exs[0].Question, exs[0].Solution)
	tests := []struct {
		name  string
		steps []string
		want  []string
	}{
		{"add carries", addSteps(478, 365), []string{"8+5=13 write 3 carry 1", "7+6+1=14 write 4 carry 1", "4+3+1=8 write 8"}},
		{"add shorter", addSteps(95, 7), []string{"5+7=12 write 2 carry 1", "9+1=10 write 10"}},
		{"add bring down", addSteps(203, 40), []string{"3+0=3 write 3", "0+4=4 write 4", "bring down 2"}},
		{"sub borrows", subSteps(503, 78), []string{"13-8=5 borrow 1", "10-1-7=2 borrow 1", "5-1-0=4"}},
		{"sub bring down", subSteps(905, 3), []string{"5-3=2", "bring down 0", "bring down 9"}},
		{"mul carries", mulDigitSteps(478, 5), []string{"8*5=40 write 0 carry 4", "7*5+4=39 write 9 carry 3", "4*5+3=23 write 23"}},
	}
	for _, tc := range tests {
		if !reflect.DeepEqual(tc.steps, tc.want) {
			t.Errorf("%s: got %q want %q", tc.name, tc.steps, tc.want)
		}
	}
}

func TestDeterministicAndKinds(t *testing.T) {
	a := Generate(50, Options{Seed: 9, Difficulty: 2})
	b := Generate(50, Options{Seed: 9, Difficulty: 2})
	c := Generate(50, Options{Seed: 10, Difficulty: 2})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different tasks")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same tasks")
	}
	for _, ex := range Generate(40, Options{Kinds: []string{"linear"}, Seed: 3, Difficulty: 4}) {
		if !strings.HasPrefix(ex.Question, "solve ") {
			t.Fatalf("kind filter: %q", ex.Question)
		}
	}
	if err := (Options{Kinds: []string{"div"}}).Validate(); err == nil {
		t.Fatal("unknown kind: want error")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Generate with an unknown kind: want panic")
		}
	}()
	Generate(1, Options{Kinds: []string{"div"}})
}

func TestDifficultyScales(t *testing.T) {
	maxLen := func(d int) int {
		m := 0
		for _, ex := range Generate(100, Options{Kinds: []string{"add"}, Difficulty: d, Seed: 1, Compact: true}) {
			m = max(m, len(ex.Answer))
		}
		return m
	}
	if !(maxLen(1) < maxLen(3) && maxLen(3) < maxLen(5)) {
		t.Fatalf("answer lengths do not grow with difficulty: %d %d %d", maxLen(1), maxLen(3), maxLen(5))
	}
}

func TestWriteJSONL(t *testing.T) {
	exs := Generate(20, Options{Seed: 5})
	p := filepath.Join(t.TempDir(), "synth.jsonl")
	if err := WriteJSONL(p, exs); err != nil {
		t.Fatal(err)
	}
	got, sum, err := dataset.LoadMath(p, dataset.Options{})
	if err != nil || !reflect.DeepEqual(got, exs) || sum.Loaded != 20 {
		t.Fatalf("round trip: %v %v", err, sum)
	}
}

func TestAlphabetSize(t *testing.T) {
	seen := map[rune]bool{}
	for _, c := range Alphabet {
		if seen[c] {
			t.Fatalf("duplicate %q in Alphabet", c)
		}
		seen[c] = true
	}
	if len(seen) != 51 || len(seen) > 64 {
		t.Fatalf("Alphabet has %d characters", len(seen))
	}
}
