package demo

import (
	"fmt"
	"strings"
	"testing"

	"sdzero/data/verify"
)

func TestSolveIsCorrect(t *testing.T) {
	for a := 0; a < 1000; a += 7 {
		for b := 0; b < 1000; b += 11 {
			for _, op := range []byte{'+', '-'} {
				x, y := a, b
				want := x + y
				if op == '-' {
					if x < y {
						x, y = y, x
					}
					want = x - y
				}
				sol, got := Solve(x, y, op, -1, 0)
				if got != want {
					t.Fatalf("%d%c%d: answer %d, want %d\n%s", x, op, y, got, want, sol)
				}
				if v := verify.Math(sol, fmt.Sprint(want)); v.Reward != 1 {
					t.Fatalf("%d%c%d: verifier rejects %q: %s", x, op, y, sol, v.Reason)
				}
				if lines := strings.Count(sol, "\n"); lines != Columns(x, y) {
					t.Fatalf("%d%c%d: %d lines, want %d", x, op, y, lines, Columns(x, y))
				}
				for col := 0; col < Columns(x, y); col++ {
					for _, d := range []int{-2, -1, 1, 2} {
						if _, bad := Solve(x, y, op, col, d); bad == want {
							t.Fatalf("%d%c%d: slip in column %d by %d still gives %d", x, op, y, col, d, want)
						}
					}
				}
			}
		}
	}
}

func TestSolveExamples(t *testing.T) {
	cases := []struct {
		a, b int
		op   byte
		want string
	}{
		{47, 38, '+', "7+8=15\n4+3+1=8\n\\boxed{85}"},
		{52, 38, '-', "12-8=4\n5-3-1=1\n\\boxed{14}"},
		{95, 17, '+', "5+7=12\n9+1+1=11\n\\boxed{112}"},
		{0, 0, '+', "0+0=0\n\\boxed{0}"},
	}
	for _, tc := range cases {
		if got, _ := Solve(tc.a, tc.b, tc.op, -1, 0); got != tc.want {
			t.Errorf("Solve(%d%c%d) = %q, want %q", tc.a, tc.op, tc.b, got, tc.want)
		}
	}
}

func TestArithmeticHardShare(t *testing.T) {
	for _, hard := range []float64{-1, 0, 0.02, 0.7, 1} {
		spec := Spec{Digits: 4, Kinds: []string{"add", "sub"}, Hard: hard, HardChain: 3}
		if hard < 0 {
			spec.Hard, spec.HardChain = 0, 0
		}
		exs, err := Arithmetic(2000, spec, 5)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range exs {
			if v := verify.Math(e.Solution, e.Answer); v.Reward != 1 {
				t.Fatalf("%s: %q does not verify against %s", e.Question, e.Solution, e.Answer)
			}
			var a, b int
			var op byte
			if _, err := fmt.Sscanf(strings.Replace(e.Question, "-", " - ", 1), "%d - %d", &a, &b); err == nil {
				op = '-'
			} else if _, err := fmt.Sscanf(strings.Replace(e.Question, "+", " + ", 1), "%d + %d", &a, &b); err == nil {
				op = '+'
			} else {
				t.Fatalf("question %q", e.Question)
			}
			if a < 1000 || a > 9999 || b < 1000 || b > 9999 {
				t.Fatalf("question %q: operands not 4-digit", e.Question)
			}
			if Chain(a, b, op) >= 3 {
				n++
			}
			if hard > 0 && hard < 1 && strings.Count(e.Solution, "\n") != 4 && op == '-' {
				t.Fatalf("%q: %d lines", e.Solution, strings.Count(e.Solution, "\n"))
			}
		}
		got := float64(n) / float64(len(exs))
		// hard_chain 0 leaves the natural share (about 10%).
		if hard < 0 && (got < 0.05 || got > 0.2) || hard >= 0 && (got < hard-0.04 || got > hard+0.04) {
			t.Errorf("hard %g: %.3f of problems have a chain of 3+", hard, got)
		}
	}
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Digits: 0}, "digits"},
		{Spec{Digits: 2, Kinds: []string{"mul"}}, "mul"},
		{Spec{Digits: 4, Hard: 0.5, HardChain: 4}, "hard_chain"},
		{Spec{Digits: 4, Hard: 1.5, HardChain: 2}, "hard fraction"},
	} {
		if _, err := Arithmetic(1, tc.spec, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func TestChain(t *testing.T) {
	for _, tc := range []struct {
		a, b int
		op   byte
		want int
	}{
		{4003, 1867, '-', 3},
		{5555, 1111, '-', 0},
		{1234, 4321, '+', 0},
		{9999, 1001, '+', 3},
		{1950, 1060, '+', 2},
		{2000, 1, '-', 3},
		{1500, 2400, '+', 0},
		{1090, 1010, '+', 1},
	} {
		if got := Chain(tc.a, tc.b, tc.op); got != tc.want {
			t.Errorf("Chain(%d%c%d) = %d, want %d", tc.a, tc.op, tc.b, got, tc.want)
		}
	}
}

func TestSelectRevisionDemos(t *testing.T) {
	exs, err := Arithmetic(400, Spec{Digits: 4, Kinds: []string{"add", "sub"}, Hard: 0.5, HardChain: 3}, 7)
	if err != nil {
		t.Fatal(err)
	}
	atts := make([]Attempt, len(exs))
	wrongs := 0
	for i, e := range exs {
		switch i % 4 {
		case 0, 1:
			atts[i] = Attempt{Text: e.Solution, Correct: true}
		case 2:
			wrong, _ := Solve(0, 0, '+', 0, 1)
			atts[i] = Attempt{Text: wrong}
			wrongs++
		case 3:
			// truncated (no boxed answer) or chaining a revision of its
			// own: left out
			atts[i] = Attempt{Text: "1+2=3\n4+"}
			if i%8 == 7 {
				atts[i] = Attempt{Text: e.Solution + "\n\nWait\n\n" + e.Solution}
			}
		}
	}
	var w, r int
	for _, i := range SelectRevisionDemos(atts, 0.5, 9) {
		switch {
		case i%4 == 3:
			t.Fatalf("attempt %d (%q) picked", i, atts[i].Text)
		case atts[i].Correct:
			r++
		default:
			w++
		}
	}
	if w != wrongs || r < 70 || r > 130 {
		t.Errorf("%d r=0 demos (want %d) and %d r=1 demos of 200 right attempts (want about 100)", w, wrongs, r)
	}
}
