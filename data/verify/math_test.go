package verify

import (
	"strings"
	"testing"
)

// equivCases are (a, b, verdict) triples for Equivalent. The "false" rows
// are wrong-but-close answers that must stay wrong.
var equivCases = []struct {
	a, b string
	want bool
}{
	// Integers and signs.
	{"42", "42", true},
	{"42", "042", true},
	{"-7", "-7", true},
	{"+7", "7", true},
	{"1000", "1001", false},
	{"-5", "5", false},
	{"0", "-0", true},
	{"12", "12.5", false},
	{"12", "12.0", true},
	{"12", "12.00", true},
	// Thousands separators.
	{"1,000", "1000", true},
	{"1{,}000", "1000", true},
	{"1\\,000", "1000", true},
	{"12,345,678", "12345678", true},
	{"1,000", "1001", false},
	{"1,000.5", "1000.5", true},
	// Decimals and fractions, exact.
	{"0.5", "1/2", true},
	{"0.5", "\\frac{1}{2}", true},
	{"\\frac12", "\\frac{1}{2}", true},
	{"\\dfrac{1}{2}", "0.5", true},
	{"\\tfrac{3}{4}", "0.75", true},
	{"\\frac{2}{4}", "\\frac{1}{2}", true},
	{"\\frac{-1}{2}", "-\\frac{1}{2}", true},
	{"-\\frac{1}{2}", "-0.5", true},
	{"\\frac{1}{3}", "0.333", false},
	{"1/3", "0.33", false},
	{"1/3", "0.3333333", true},
	{"2/3", "0.6666667", true},
	{"2/3", "0.6666666", true},
	{"2/3", "0.6666665", false},
	{"\\frac{1}{3}", "0.333333", true},
	{"2/3", "0.666666", false},
	{"2/3", "0.667", false},
	{"\\frac{1}{7}", "0.142857142857", true},
	{"\\frac{1}{7}", "0.1428", false},
	{"0.1", "\\frac{1}{10}", true},
	{"0.1+0.2", "0.3", true},
	{"\\frac{7}{2}", "3\\frac{1}{2}", true},
	{"-3\\frac{1}{2}", "-3.5", true},
	{"2\\frac{1}{2}", "1", false},
	{"\\frac{3}{2}", "\\frac{2}{3}", false},
	{"\\frac32", "1.5", true},
	{"\\frac{10}{4}", "2.5", true},
	// Scientific notation.
	{"1.5e3", "1500", true},
	{"1.5E3", "1500", true},
	{"2e-3", "0.002", true},
	{"1.5\\times10^{3}", "1500", true},
	{"1.5 \\times 10^3", "1500", true},
	{"3\\cdot 10^{-2}", "0.03", true},
	{"1.5\\times10^{3}", "1501", false},
	{"6.02\\times10^{23}", "602000000000000000000000", true},
	{"10^{10}", "10000000000", true},
	// Dollars, percent, degrees, units, periods, spacing.
	{"\\$5", "5", true},
	{"$5$", "5", true},
	{"\\$5.00", "5", true},
	{"50\\%", "50", true},
	{"50%", "50", true},
	{"50\\%", "51", false},
	{"30^\\circ", "30", true},
	{"30^{\\circ}", "30", true},
	{"30°", "30", true},
	{"90^\\circ", "\\frac{\\pi}{2}", false},
	{"5 \\text{ cm}", "5", true},
	{"5\\text{cm}^2", "5", true},
	{"5 \\mbox{ inches}", "5", true},
	{"12 dollars", "12", true},
	{"7 cm", "7", true},
	{"7 cm", "8", false},
	{"10.", "10", true},
	{"x+1.", "x+1", true},
	{"\\left( 1, 2 \\right)", "(1,2)", true},
	{"\\!1\\!", "1", true},
	{"1 \\; 000", "1000", true},
	{"1 \\; 000", "1001", false},
	{"\\displaystyle\\frac{1}{2}", "0.5", true},
	{"−3", "-3", true},
	// Text answers.
	{"\\text{Yes}", "yes", true},
	{"\\text{(B)}", "(B)", true},
	{"\\text{no}", "yes", false},
	{"Monday", "monday", true},
	{"Tuesday", "Monday", false},
	// Radicals (exact multi-quadratic arithmetic).
	{"\\sqrt{8}", "2\\sqrt{2}", true},
	{"\\sqrt8", "2\\sqrt2", true},
	{"\\sqrt{12}", "2\\sqrt{3}", true},
	{"\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}", true},
	{"\\frac{2}{1+\\sqrt{3}}", "\\sqrt{3}-1", true},
	{"\\sqrt{2}\\sqrt{3}", "\\sqrt{6}", true},
	{"\\sqrt{2}+\\sqrt{3}", "\\sqrt{5}", false},
	{"\\sqrt{2}", "1.414", false},
	{"\\sqrt{2}", "1.41421356", true},
	{"\\sqrt{2}", "1.41421358", false},
	{"\\sqrt{2}", "1.41421357", true},
	{"\\sqrt{4}", "2", true},
	{"\\sqrt{\\frac{1}{4}}", "\\frac{1}{2}", true},
	{"(\\sqrt{2}+1)^2", "3+2\\sqrt{2}", true},
	{"\\sqrt[2]{9}", "3", true},
	{"\\sqrt{18}", "3\\sqrt{3}", false},
	{"3\\sqrt{2}", "\\sqrt{18}", true},
	{"\\sqrt{-4}", "2", false},
	// Pi is a transcendental symbol, never a number.
	{"\\pi", "3.14", false},
	{"\\pi", "3.14159265", true},
	{"2\\pi", "\\pi+\\pi", true},
	{"\\frac{\\pi}{2}", "\\frac{1}{2}\\pi", true},
	{"\\pi r^2", "r^2\\pi", true},
	{"4\\pi", "4 \\pi", true},
	{"\\pi^2", "2\\pi", false},
	{"\\frac{\\pi}{3}", "\\frac{\\pi}{6}", false},
	// Polynomials and rational expressions.
	{"x+1", "1+x", true},
	{"x+1", "x-1", false},
	{"2x", "x^2", false},
	{"2x", "x+x", true},
	{"2x", "2*x", true},
	{"2x", "2\\cdot x", true},
	{"x^2+2x+1", "(x+1)^2", true},
	{"x^2-1", "(x-1)(x+1)", true},
	{"x^2+1", "(x+1)^2", false},
	{"\\frac{x^2-1}{x-1}", "x+1", true},
	{"\\frac{1}{x}", "x^{-1}", true},
	{"\\frac{1}{x}+\\frac{1}{y}", "\\frac{x+y}{xy}", true},
	{"\\frac{1}{x}+\\frac{1}{y}", "\\frac{2}{x+y}", false},
	{"3x^3-2x", "x(3x^2-2)", true},
	{"a^2-b^2", "(a-b)(a+b)", true},
	{"a^2-b^2", "(a-b)^2", false},
	{"(a+b)^3", "a^3+3a^2b+3ab^2+b^3", true},
	{"(a+b)^3", "a^3+b^3", false},
	{"xy", "yx", true},
	{"x_1+x_2", "x_2+x_1", true},
	{"x_1", "x_2", false},
	{"\\alpha+\\beta", "\\beta+\\alpha", true},
	{"2\\theta", "\\theta", false},
	{"\\sqrt{x^2}", "x", false},
	{"\\sqrt{4x^2}", "2\\sqrt{x^2}", true},
	{"-x^2", "(-x)^2", false},
	{"-x^2", "-(x^2)", true},
	{"x^{2}", "x^2", true},
	{"x^{10}", "(x^5)^2", true},
	{"x^{10}", "x^{11}", false},
	{"\\frac{x}{2}", "0.5x", true},
	{"\\frac{x}{3}", "0.333x", false},
	// Equations and membership: the right-hand side is compared.
	{"x=5", "5", true},
	{"x = 5", "5", true},
	{"y=2x+3", "2x+3", true},
	{"x=5", "y=5", false},
	{"x=5", "6", false},
	{"x \\in (1,2)", "(1,2)", true},
	// Tuples and intervals: elementwise, bracket types must match.
	{"(1,2)", "(1,2)", true},
	{"(1, 2)", "(1,2)", true},
	{"(1,2)", "[1,2]", false},
	{"(1,2)", "(2,1)", false},
	{"(1,2]", "(1,2]", true},
	{"(1,2]", "(1,2)", false},
	{"[1,2)", "(1,2)", false},
	{"(0.5, \\frac{3}{2})", "(\\frac{1}{2}, 1.5)", true},
	{"(1,2,3)", "(1,2)", false},
	{"(-\\infty, 2]", "(-\\infty,2]", true},
	{"(-\\infty, 2]", "(-\\infty,2)", false},
	{"(-\\infty,\\infty)", "(-\\infty, \\infty)", true},
	{"(-\\infty, 1) \\cup (2, \\infty)", "(2,\\infty)\\cup(-\\infty,1)", true},
	{"(-\\infty, 1) \\cup (2, \\infty)", "(-\\infty,1]\\cup(2,\\infty)", false},
	{"\\left[ 0, \\frac{1}{2} \\right]", "[0,0.5]", true},
	{"(x, x^2)", "(x, x \\cdot x)", true},
	{"\\langle 1, 2 \\rangle", "(1,2)", true},
	// Sets: unordered; a set is never a tuple or interval.
	{"\\{1,2\\}", "\\{2,1\\}", true},
	{"\\{1,2\\}", "(1,2)", false},
	{"{1,2}", "(1,2)", false},
	{"\\{1,2\\}", "\\{1,3\\}", false},
	{"\\{1,2,2\\}", "\\{1,2\\}", false},
	{"\\left\\{ \\frac{1}{2}, 3 \\right\\}", "\\{3, 0.5\\}", true},
	// Bare lists (e.g. all solutions): unordered.
	{"1, 2", "2, 1", true},
	{"1,2,3", "3,2,1", true},
	{"1, 2", "1, 3", false},
	{"x=1, x=2", "2, 1", true},
	{"-1, 1", "1", false},
	// Non-numeric or unparseable answers fall back to strings.
	{"\\sin x", "\\sin x", true},
	{"\\sin x", "\\cos x", false},
	{"\\log_2 8", "3", false},
	{"\\infty", "\\infty", true},
	{"\\infty", "-\\infty", false},
	{"", "0", false},
	{"10^{10^{10}}", "1", false},
	{"2^{1000}", "2^{999}\\cdot 2", true},
	{"1/0", "1/0", true},
	{"1/0", "2/0", false},
	{"x^23", "x^{23}", false},
	{"\\frac{1}{0}", "0", false},
	// More wrong-but-close and equivalent forms.
	{"\\frac{22}{7}", "\\pi", false},
	{"3.14", "\\frac{22}{7}", false},
	{"0.142857", "\\frac{1}{7}", true},
	{"1.0e2", "100", true},
	{"100", "10^2", true},
	{"100", "10^3", false},
	{"-\\infty", "-\\infty", true},
	{"\\frac{1}{2}", "\\frac{1}{2}x", false},
	{"x^2y", "yx^2", true},
	{"(x+y)^2", "x^2+y^2", false},
	{"5!", "120", false},
	{"1/2", "2/4", true},
	{"\\frac{a}{b}", "\\frac{b}{a}", false},
	{"\\frac{1}{2}", "0.50", true},
	{"-0.5", "\\frac{-1}{2}", true},
	{"\\sqrt{3}/3", "\\frac{1}{\\sqrt{3}}", true},
	{"2^{-1}", "0.5", true},
	{"(1,2)", "1,2", false},
	{"\\{1\\}", "1", false},
	{"12.50", "12.5", true},
	{"\\$12.50", "12.5", true},
	{"x+1", "x+1.0001", false},
	{"\\text{A}", "A", true},
	{"0.999", "1", false},
	{"1\\pm\\sqrt{2}", "1+\\sqrt{2}, 1-\\sqrt{2}", true},
	{"1\\pm\\sqrt{2}", "1-\\sqrt{2}, 1+\\sqrt{2}", true},
	{"\\pm 3", "3, -3", true},
	{"1\\pm\\sqrt{2}", "1+\\sqrt{2}", false},
	{"1\\pm\\sqrt{2}", "1\\pm\\sqrt{3}", false},
	{"0.9999999", "1", false},
	{"999", "1000", false},
	{"\\frac{3}{4}", "0.75\\%", true}, // \% is dropped, as the reference graders do
}

func TestEquivalent(t *testing.T) {
	for _, tc := range equivCases {
		if got := Equivalent(tc.a, tc.b); got != tc.want {
			t.Errorf("Equivalent(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := Equivalent(tc.b, tc.a); got != tc.want {
			t.Errorf("Equivalent(%q, %q) (swapped) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
	t.Logf("%d equivalence cases (each checked both ways)", len(equivCases))
	if len(equivCases) < 150 {
		t.Fatalf("only %d cases", len(equivCases))
	}
}

func TestExtractAnswer(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`so \boxed{5}`, "5", true},
		{`\boxed{1} then \boxed{\frac{1}{2}}`, `1, \frac{1}{2}`, true},
		{`\boxed{\left\{1, 2\right\}}`, `\left\{1, 2\right\}`, true},
		{`\fbox{7}`, "7", true},
		{"steps\n#### 1,234\n", "1,234", true},
		{"Thus the answer is 12.", "12", true},
		{"The final answer is $\\frac{1}{2}$. Done.", `\frac{1}{2}`, true},
		{"the answer is 3 and then the answer is 4", "4", true},
		{"<think>\\boxed{1}</think> so \\boxed{2}", "2", true},
		{"<think>maybe \\boxed{1}</think> no box here", "1", true},
		{"I think it is 5", "5", true},
		{"I think it is $x = 5$ or so", "x = 5", true},
		{"no number here", "", false},
		{`\boxed{}`, "", false},
		{`\boxed{unbalanced`, "", false},
	}
	for _, tc := range tests {
		got, ok := ExtractAnswer(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ExtractAnswer(%q) = %q,%v want %q,%v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMath(t *testing.T) {
	tests := []struct {
		resp, ans string
		reward    float64
		reason    string
	}{
		{`We get $\boxed{\dfrac{1}{2}}$.`, "0.5", 1, "ok"},
		{`So \boxed{x=3}`, "3", 1, "ok"},
		{"5+7=12\n#### 12", "12", 1, "ok"},
		{`\boxed{13}`, "12", 0, "does not match"},
		{"no idea", "12", 0, "no final answer"},
		{`\boxed{12}`, `\boxed{12}`, 1, "ok"},
		{`\boxed{12}`, "", 0, "empty reference"},
		{`\boxed{1234}`, "so 1,000+234\n#### 1,234", 1, "ok"},
	}
	for _, tc := range tests {
		r := Math(tc.resp, tc.ans)
		if r.Reward != tc.reward || !strings.Contains(r.Reason, tc.reason) {
			t.Errorf("Math(%q, %q) = %+v, want reward %v reason ~%q", tc.resp, tc.ans, r, tc.reward, tc.reason)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{`\$1,000.`, "1000"},
		{`\left(1,2\right)`, "(1,2)"},
		{`\dfrac12`, `\frac{1}{2}`},
		{`\frac1{x}`, `\frac{1}{x}`},
		{`\frac{a}2`, `\frac{a}{2}`},
		{`45^{\circ}`, "45"},
		{`\text{east}`, "east"},
		{`3 \text{ m}^2`, "3"},
	}
	for _, tc := range tests {
		if got := normalize(tc.in); got != tc.want {
			t.Errorf("normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func BenchmarkMath(b *testing.B) {
	resp := `First, (x+1)^2 = x^2+2x+1, so the answer is \boxed{\frac{x^2+2x+1}{x+1}}.`
	for i := 0; i < b.N; i++ {
		if Math(resp, "x+1").Reward != 1 {
			b.Fatal("wrong verdict")
		}
	}
}
