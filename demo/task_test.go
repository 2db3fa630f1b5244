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

func TestArithmeticAndRevisionDemos(t *testing.T) {
	exs, err := Arithmetic(2000, 2, []string{"add", "sub"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exs {
		if v := verify.Math(e.Solution, e.Answer); v.Reward != 1 {
			t.Fatalf("%s: %q does not verify against %s", e.Question, e.Solution, e.Answer)
		}
	}
	demos, err := RevisionDemos(exs, 0.1, 0.05, "WRONG", "RIGHT", 9)
	if err != nil {
		t.Fatal(err)
	}
	var wrong, right int
	for i, d := range demos {
		// The final solution (after a revision prompt, if any) is correct;
		// the whole text holds two boxes, which the verifier reads as a list.
		final := d.Solution[strings.LastIndex(d.Solution, "\n\n")+len("\n\n"):]
		if !strings.Contains(d.Solution, "\n\n") {
			final = d.Solution
		}
		if v := verify.Math(final, d.Answer); v.Reward != 1 {
			t.Fatalf("demo %d: %q does not verify against %s", i, final, d.Answer)
		}
		switch {
		case strings.Contains(d.Solution, "\n\nWRONG\n\n"):
			wrong++
			first, _, _ := strings.Cut(d.Solution, "\n\nWRONG")
			if verify.Math(first, d.Answer).Reward != 0 {
				t.Fatalf("demo %d: the attempt before the r=0 prompt is correct: %q", i, first)
			}
		case strings.Contains(d.Solution, "\n\nRIGHT\n\n"):
			right++
			first, second, _ := strings.Cut(d.Solution, "\n\nRIGHT\n\n")
			if first != second || first != exs[i].Solution {
				t.Fatalf("demo %d: r=1 demo %q", i, d.Solution)
			}
		default:
			if d.Solution != exs[i].Solution {
				t.Fatalf("demo %d changed without a revision", i)
			}
		}
	}
	if wrong < 150 || wrong > 250 || right < 60 || right > 140 {
		t.Errorf("%d wrong and %d right demos of 2000, want about 200 and 100", wrong, right)
	}
	if _, err := Arithmetic(1, 0, nil, 1); err == nil {
		t.Error("0 digits accepted")
	}
	if _, err := Arithmetic(1, 2, []string{"mul"}, 1); err == nil {
		t.Error("kind mul accepted")
	}
}
