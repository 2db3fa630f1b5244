package verify

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strings"

	"sdzero/data/dataset"
)

// Result is one verification outcome.
type Result struct {
	// Reward is 1 for a correct response, else 0.
	Reward float64
	// Reason says why the reward is 0 (empty or "ok" when it is 1).
	Reason string
	// Extracted is the final answer (math) or program (code) that was judged.
	Extracted string
}

// Math rewards response with 1 when its final answer is equivalent to
// answer. The final answer is, in order of preference, the last
// \boxed{...}/\fbox{...} (balanced braces), the text after the last "####",
// or the text after the last "the answer is". If the response has a
// "</think>" section end, only the text after it is searched first. A
// reference that is itself a worked solution contributes its last \boxed{}
// or GSM8K "#### x".
func Math(response, answer string) Result {
	got, ok := ExtractAnswer(response)
	if !ok {
		return Result{Reason: `no final answer (want \boxed{...}, "#### x" or "the answer is x")`}
	}
	ref := answer
	if b, ok := dataset.LastBoxed(answer); ok {
		ref = b
	} else if g, ok := dataset.GSM8KAnswer(answer); ok {
		ref = g
	}
	if strings.TrimSpace(ref) == "" {
		return Result{Reason: "empty reference answer", Extracted: got}
	}
	if Equivalent(got, ref) {
		return Result{Reward: 1, Reason: "ok", Extracted: got}
	}
	return Result{Reason: fmt.Sprintf("answer %q does not match reference %q", clip(got, 200), clip(ref, 200)), Extracted: got}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

var answerIsRe = regexp.MustCompile(`(?i)the (?:final )?answer is[:\s]*`)

// ExtractAnswer returns the final answer of a response (see Math).
func ExtractAnswer(response string) (string, bool) {
	if i := strings.LastIndex(response, "</think>"); i >= 0 {
		if a, ok := extractAnswer(response[i+len("</think>"):]); ok {
			return a, true
		}
	}
	return extractAnswer(response)
}

func extractAnswer(s string) (string, bool) {
	if b, ok := dataset.LastBoxed(s); ok {
		return strings.TrimSpace(b), strings.TrimSpace(b) != ""
	}
	if i := strings.LastIndex(s, "####"); i >= 0 {
		a := strings.TrimSpace(s[i+4:])
		if j := strings.IndexByte(a, '\n'); j >= 0 {
			a = strings.TrimSpace(a[:j])
		}
		return a, a != ""
	}
	locs := answerIsRe.FindAllStringIndex(s, -1)
	if len(locs) > 0 {
		a := s[locs[len(locs)-1][1]:]
		if j := strings.IndexByte(a, '\n'); j >= 0 {
			a = a[:j]
		}
		// End at the sentence: a period followed by a space, or the end.
		if j := strings.Index(a, ". "); j >= 0 {
			a = a[:j]
		}
		a = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(a), "."))
		a = strings.Trim(a, "$ ")
		return a, a != ""
	}
	return "", false
}

var (
	frac2Re      = regexp.MustCompile(`\\frac([0-9a-zA-Z])([0-9a-zA-Z])`)
	fracA1Re     = regexp.MustCompile(`\\frac([0-9a-zA-Z])\{`)
	fracB1Re     = regexp.MustCompile(`\\frac\{([^{}]*)\}([0-9a-zA-Z])`)
	sqrt1Re      = regexp.MustCompile(`\\sqrt([0-9a-zA-Z])`)
	thousandsRe  = regexp.MustCompile(`^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$`)
	spacesRe     = regexp.MustCompile(`\s+`)
	textCmdRe    = regexp.MustCompile(`\\(?:text|textbf|textit|textrm|mbox|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}`)
	unitPowRe    = regexp.MustCompile(`^\s*\^\s*(?:\{\s*[23]\s*\}|[23])`)
	assignRe     = regexp.MustCompile(`^([a-zA-Z]|\\[a-zA-Z]+)(_\{?[a-zA-Z0-9]+\}?)?\s*=\s*`)
	inRe         = regexp.MustCompile(`^[a-zA-Z]\s*\\in\s*`)
	unitWordRe   = regexp.MustCompile(`^(.*[0-9}])\s+(?:square |cubic )?(?:units?|cm|mm|km|m|meters?|inches|inch|in|feet|foot|ft|yards?|miles?|dollars?|cents?|degrees?|hours?|minutes?|seconds?|days?|weeks?|years?|mph|kg|g|grams?|pounds?|lbs?|liters?|ml|cups?)(?:\^\{?[23]\}?|\^[23])?$`)
	unicodeRepls = strings.NewReplacer("−", "-", "×", `\times `, "·", `\cdot `, "÷", `\div `, "π", `\pi `, "∞", `\infty `, "√", `\sqrt`, "≤", `\le `, "≥", `\ge `, "°", "", "∪", `\cup `)
)

// normalize rewrites an answer into a canonical LaTeX-ish form; spaces are
// kept (single) because they separate commands from letters.
func normalize(s string) string {
	s = unicodeRepls.Replace(strings.TrimSpace(s))
	s = strings.ReplaceAll(s, `\$`, "")
	s = strings.ReplaceAll(s, "$", "")
	for _, r := range []struct{ old, new string }{
		{`\left.`, ""}, {`\right.`, ""}, {`\left`, ""}, {`\right`, ""}, {`\bigl`, ""}, {`\bigr`, ""},
		{`\displaystyle`, ""}, {`\!`, ""}, {`\,`, ""}, {`\;`, " "}, {`\:`, " "}, {`\ `, " "},
		{`\qquad`, " "}, {`\quad`, " "}, {"~", " "},
		{`\dfrac`, `\frac`}, {`\tfrac`, `\frac`},
		{`^{\circ}`, ""}, {`^\circ`, ""}, {`\circ`, ""}, {`\degree`, ""},
		{`\%`, ""}, {"%", ""}, {"{,}", ","},
		{`\leq`, `\le`}, {`\geq`, `\ge`}, {`\lbrace`, `\{`}, {`\rbrace`, `\}`},
		{`\langle`, "("}, {`\rangle`, ")"}, {`\lvert`, "|"}, {`\rvert`, "|"},
		{`\infinity`, `\infty`}, {`\inf `, `\infty `},
	} {
		s = strings.ReplaceAll(s, r.old, r.new)
	}
	s = strings.TrimSpace(s)
	// \text{...}: a whole-answer \text{X} is X; elsewhere it is a unit and
	// dropped together with a ^2/^3 after it.
	if m := textCmdRe.FindStringSubmatchIndex(s); m != nil && m[0] == 0 && m[1] == len(s) {
		s = s[m[2]:m[3]]
	} else {
		for {
			m := textCmdRe.FindStringIndex(s)
			if m == nil {
				break
			}
			rest := s[m[1]:]
			if u := unitPowRe.FindStringIndex(rest); u != nil {
				rest = rest[u[1]:]
			}
			s = s[:m[0]] + " " + rest
		}
	}
	s = frac2Re.ReplaceAllString(s, `\frac{$1}{$2}`)
	s = fracA1Re.ReplaceAllString(s, `\frac{$1}{`)
	s = fracB1Re.ReplaceAllString(s, `\frac{$1}{$2}`)
	s = sqrt1Re.ReplaceAllString(s, `\sqrt{$1}`)
	s = spacesRe.ReplaceAllString(strings.TrimSpace(s), " ")
	if m := unitWordRe.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	s = strings.TrimSpace(strings.TrimRight(s, ". "))
	if thousandsRe.MatchString(s) {
		s = strings.ReplaceAll(s, ",", "")
	}
	return s
}

// squash removes all whitespace for string comparison.
func squash(s string) string { return spacesRe.ReplaceAllString(s, "") }

// Equivalent reports whether two answers are mathematically the same: after
// normalisation, as exact numbers, elementwise for tuples and intervals
// (bracket types must match), unordered for sets, unions of intervals and
// bare comma lists, and as expressions by exact evaluation at random
// rational points. Anything it cannot parse is compared as a normalised
// string.
func Equivalent(a, b string) bool {
	na, nb := normalize(a), normalize(b)
	if len(na) > maxAnswerLen || len(nb) > maxAnswerLen {
		return squash(na) == squash(nb)
	}
	c := &comparer{budget: compareBudget}
	return c.equivalent(na, nb, 0)
}

const (
	// maxAnswerLen is the longest normalised answer compared structurally;
	// longer ones are compared as strings.
	maxAnswerLen = 2000
	// compareBudget bounds the scalar comparisons of one Equivalent call,
	// so nested lists cannot make it quadratic-to-the-depth slow.
	compareBudget = 400
)

// comparer carries the remaining work budget of one Equivalent call.
type comparer struct{ budget int }

func (c *comparer) equivalent(a, b string, depth int) bool {
	if depth > 8 {
		return squash(a) == squash(b)
	}
	if squash(a) == squash(b) {
		return true
	}
	// "x \in (1,2)", "x = 5": compare the right-hand side.
	a, b = stripLHS(a, b), stripLHS(b, a)
	if squash(a) == squash(b) {
		return true
	}
	sa, sb := splitStructure(a), splitStructure(b)
	if sa.kind != sb.kind {
		return false
	}
	switch sa.kind {
	case kindScalar:
		c.budget--
		if c.budget < 0 {
			return false
		}
		return scalarEqual(a, b)
	case kindBracket:
		if sa.open != sb.open || sa.close != sb.close || len(sa.elems) != len(sb.elems) {
			return false
		}
		for i := range sa.elems {
			if !c.equivalent(sa.elems[i], sb.elems[i], depth+1) {
				return false
			}
		}
		return true
	default: // sets, unions, bare lists: unordered
		return c.unorderedEqual(sa.elems, sb.elems, depth)
	}
}

func stripLHS(s, other string) string {
	if m := inRe.FindStringIndex(s); m != nil {
		return strings.TrimSpace(s[m[1]:])
	}
	if m := assignRe.FindStringIndex(s); m != nil {
		rest := s[m[1]:]
		if !strings.Contains(rest, "=") && strings.TrimSpace(rest) != "" && !assignRe.MatchString(other) {
			return strings.TrimSpace(rest)
		}
	}
	return s
}

// unorderedEqual reports whether x and y match as multisets: a perfect
// bipartite matching under equivalence (Kuhn's augmenting paths).
func (c *comparer) unorderedEqual(x, y []string, depth int) bool {
	if len(x) != len(y) {
		return false
	}
	n := len(x)
	eq := make([][]bool, n)
	for i := range x {
		eq[i] = make([]bool, n)
		any := false
		for j := range y {
			eq[i][j] = c.equivalent(x[i], y[j], depth+1)
			any = any || eq[i][j]
		}
		if !any {
			return false
		}
	}
	matchOfY := make([]int, n)
	for j := range matchOfY {
		matchOfY[j] = -1
	}
	var augment func(i int, seen []bool) bool
	augment = func(i int, seen []bool) bool {
		for j := 0; j < n; j++ {
			if eq[i][j] && !seen[j] {
				seen[j] = true
				if matchOfY[j] < 0 || augment(matchOfY[j], seen) {
					matchOfY[j] = i
					return true
				}
			}
		}
		return false
	}
	for i := 0; i < n; i++ {
		if !augment(i, make([]bool, n)) {
			return false
		}
	}
	return true
}

type structKind int

const (
	kindScalar structKind = iota
	kindBracket
	kindSet
	kindUnion
	kindList
)

type structure struct {
	kind        structKind
	open, close string
	elems       []string
}

// splitTop splits s at top-level occurrences of sep (outside (), [], {}).
func splitTop(s, sep string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
		if depth == 0 && strings.HasPrefix(s[i:], sep) {
			parts = append(parts, strings.TrimSpace(s[start:i]))
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(parts, strings.TrimSpace(s[start:]))
}

// matchedOuter reports whether the bracket opening at 0 closes at the end.
func matchedOuter(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 && i != len(s)-1 {
				return false
			}
		}
	}
	return depth == 0
}

func splitStructure(s string) structure {
	if parts := splitTop(s, `\cup`); len(parts) > 1 {
		return structure{kind: kindUnion, elems: parts}
	}
	if strings.HasPrefix(s, `\{`) && strings.HasSuffix(s, `\}`) {
		inner := strings.TrimSpace(s[2 : len(s)-2])
		return structure{kind: kindSet, elems: splitTop(inner, ",")}
	}
	if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' && matchedOuter(s) {
		inner := s[1 : len(s)-1]
		if parts := splitTop(inner, ","); len(parts) > 1 {
			return structure{kind: kindSet, elems: parts}
		}
	}
	if len(s) >= 2 && (s[0] == '(' || s[0] == '[') && (s[len(s)-1] == ')' || s[len(s)-1] == ']') {
		inner := s[1 : len(s)-1]
		// Depth check on the inner text with mixed brackets: (1,2] is valid.
		if balanced(inner) {
			if parts := splitTop(inner, ","); len(parts) > 1 {
				return structure{kind: kindBracket, open: s[:1], close: s[len(s)-1:], elems: parts}
			}
		}
	}
	if parts := splitTop(s, ","); len(parts) > 1 {
		return structure{kind: kindList, elems: parts}
	}
	// a \pm b is the list a+b, a-b.
	if parts := splitTop(s, `\pm`); len(parts) == 2 && parts[1] != "" {
		return structure{kind: kindList, elems: []string{
			parts[0] + "+(" + parts[1] + ")", parts[0] + "-(" + parts[1] + ")",
		}}
	}
	return structure{kind: kindScalar}
}

func balanced(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// scalarEqual compares two single answers as exact expressions.
func scalarEqual(a, b string) bool {
	// Plain words ("Yes", "Monday") are text, not products of variables.
	if isWord(squash(a)) && isWord(squash(b)) {
		return strings.EqualFold(squash(a), squash(b))
	}
	na, okA := parseExpr(a)
	nb, okB := parseExpr(b)
	if !okA || !okB {
		return textEqual(a, b)
	}
	names := varList(na, nb)
	if len(names) == 0 {
		va, errA := constValue(na)
		vb, errB := constValue(nb)
		if errA != nil || errB != nil {
			return false
		}
		if va.add(vb, -1).isZero() {
			return true
		}
		return decimalClose(na, va, nb, vb) || decimalClose(nb, vb, na, va)
	}
	return randomPointsEqual(na, nb, names)
}

// textEqual is the last resort: normalised strings, case-insensitive only
// for plain words.
func textEqual(a, b string) bool {
	a, b = squash(a), squash(b)
	return a == b || isWord(a) && isWord(b) && strings.EqualFold(a, b)
}

// isWord reports whether s is a plain word of at least three letters.
func isWord(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return len(s) >= 3
}

// minToleranceDigits is the number of significant digits a decimal literal
// needs before it may match a value it rounds to rather than equals.
const minToleranceDigits = 7

// decimalClose reports whether lit is a decimal literal with many digits
// and other is within one unit in lit's last place (so both rounded and
// truncated decimals match).
func decimalClose(lit *node, lv alg, other *node, ov alg) bool {
	if lit.op == '~' {
		lit = lit.a
	}
	if lit.op != 'n' || strings.ContainsAny(lit.lit, "eE+") {
		return false
	}
	dot := strings.IndexByte(lit.lit, '.')
	if dot < 0 {
		return false
	}
	frac := len(lit.lit) - dot - 1
	digits := strings.TrimLeft(strings.Replace(lit.lit, ".", "", 1), "0")
	if len(digits) < minToleranceDigits {
		return false
	}
	ulpRat := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(frac)), nil))
	if a, ok := lv.rational(); ok {
		if b, ok := ov.rational(); ok {
			d := new(big.Rat).Sub(a, b)
			return d.Abs(d).Cmp(ulpRat) <= 0
		}
	}
	const prec = 256
	diff := new(big.Float).SetPrec(prec).Sub(lv.float(prec), ov.float(prec))
	diff.Abs(diff)
	ulp := new(big.Float).SetPrec(prec).SetRat(ulpRat)
	return diff.Cmp(ulp) <= 0
}

// randomPointsEqual evaluates both expressions exactly at pseudo-random
// rational points (deterministic) and requires agreement at every point
// where both are defined, with at least minAgree such points.
func randomPointsEqual(a, b *node, names []string) bool {
	const minAgree, maxTries = 5, 30
	rng := rand.New(rand.NewPCG(0x5d2e0, uint64(len(names))))
	agree := 0
	for try := 0; try < maxTries && agree < minAgree; try++ {
		env := map[string]*big.Rat{}
		for _, n := range names {
			num := rng.Int64N(41) - 20
			if num == 0 {
				num = 23
			}
			env[n] = big.NewRat(num, rng.Int64N(7)+1)
		}
		va, errA := eval(a, env)
		vb, errB := eval(b, env)
		if errA == errUnsupported || errB == errUnsupported {
			return false
		}
		if errA != nil || errB != nil {
			// Undefined at this point on one side (e.g. a removable
			// singularity); such a point says nothing.
			continue
		}
		if !va.add(vb, -1).isZero() {
			return false
		}
		agree++
	}
	return agree >= minAgree
}
