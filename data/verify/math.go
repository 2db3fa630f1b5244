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
//
// Several \boxed{} in the searched text are one answer, their contents
// joined as a list (as Math-Verify reads them), so a response cannot box
// several guesses and be graded on the best. Without any of these markers
// the last math span ($...$, \(...\), \[...\]) or else the last number
// is the answer, as Math-Verify falls back to.
func Math(response, answer string) Result {
	got, ok := ExtractAnswer(response)
	if !ok {
		return Result{Reason: `no final answer (want \boxed{...}, "#### x" or "the answer is x")`}
	}
	ref := answer
	if bs := allBoxed(answer); len(bs) > 0 {
		ref = strings.Join(bs, ", ")
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

// answerIsRe anchors a final answer: "the (final) answer is", or
// "Answer:" when math or a number follows it (checked by the caller).
var answerIsRe = regexp.MustCompile(`(?i)the (?:final )?answer is[:\s]*|\banswer\s*:\s*`)

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
	if bs := allBoxed(s); len(bs) > 1 {
		return strings.Join(bs, ", "), true
	}
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
	var locs [][]int
	for _, l := range answerIsRe.FindAllStringIndex(s, -1) {
		if s[l[0]] == 'a' || s[l[0]] == 'A' { // "Answer:" needs math or a number next
			if l[1] >= len(s) || !strings.ContainsRune(`$\-(.[0123456789`, rune(s[l[1]])) {
				continue
			}
		}
		locs = append(locs, l)
	}
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
	// Whichever ends last: a math span or a plain number (or a/b).
	span, spanEnd := lastMathSpan(s)
	num, numEnd := "", -1
	if m := lastNumberRe.FindAllStringSubmatchIndex(s, -1); len(m) > 0 {
		last := m[len(m)-1]
		num, numEnd = strings.TrimSpace(s[last[2]:last[3]]), last[3]
	}
	switch {
	case spanEnd >= 0 && spanEnd >= numEnd:
		return span, true
	case numEnd >= 0:
		return num, true
	}
	return "", false
}

// lastNumberRe finds plain numbers (thousands separators, decimals,
// percent) for the last-resort extraction.
// A number glued to letters before it ("XYZ2") is not an answer.
var lastNumberRe = regexp.MustCompile(`(?:^|[^\w.])(-?\d+\s*/\s*\d+|-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*%)?|-?\.\d+)`)

// mathSpanRes match $$...$$, \[...\], $...$ and \(...\) spans; inline ones
// stay on one line, as in Math-Verify.
var mathSpanRes = []*regexp.Regexp{
	regexp.MustCompile(`(?s)\$\$(.+?)\$\$`),
	regexp.MustCompile(`(?s)\\\[(.+?)\\\]`),
	regexp.MustCompile(`\\\((.+?)\\\)`),
	regexp.MustCompile(`(?:^|[^\\$])\$([^$\n]+?)\$`),
}

// lastMathSpan returns the content of the math span that ends last and
// where it ends (-1: none).
func lastMathSpan(s string) (string, int) {
	best, bestEnd := "", -1
	for _, re := range mathSpanRes {
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			if c := strings.TrimSpace(s[m[2]:m[3]]); c != "" && m[1] > bestEnd {
				best, bestEnd = c, m[1]
			}
		}
	}
	return best, bestEnd
}

// allBoxed returns the contents of every balanced \boxed{...} or
// \fbox{...} in s, in order (nested ones are part of their outer box).
func allBoxed(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], `\boxed`)
		k := strings.Index(s[i:], `\fbox`)
		if j < 0 && k < 0 {
			break
		}
		start, tag := j, len(`\boxed`)
		if j < 0 || k >= 0 && k < j {
			start, tag = k, len(`\fbox`)
		}
		p := i + start + tag
		for p < len(s) && s[p] == ' ' {
			p++
		}
		if p >= len(s) || s[p] != '{' {
			i = i + start + tag
			continue
		}
		depth, end := 0, -1
		for q := p; q < len(s); q++ {
			if s[q] == '{' {
				depth++
			} else if s[q] == '}' {
				depth--
				if depth == 0 {
					end = q
					break
				}
			}
		}
		if end < 0 {
			break
		}
		if c := strings.TrimSpace(s[p+1 : end]); c != "" {
			out = append(out, c)
		}
		i = end + 1
	}
	return out
}

var (
	frac2Re     = regexp.MustCompile(`\\frac([0-9a-zA-Z])([0-9a-zA-Z])`)
	fracA1Re    = regexp.MustCompile(`\\frac([0-9a-zA-Z])\{`)
	fracB1Re    = regexp.MustCompile(`\\frac\{([^{}]*)\}([0-9a-zA-Z])`)
	sqrt1Re     = regexp.MustCompile(`\\sqrt([0-9a-zA-Z])`)
	thousandsRe = regexp.MustCompile(`^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$`)
	spacesRe    = regexp.MustCompile(`\s+`)
	textCmdRe   = regexp.MustCompile(`\\(?:text|textbf|textit|textrm|textnormal|textsf|texttt|mbox|mathrm|mathbf|mathit|mathsf|operatorname)\s*\{([^{}]*)\}`)
	// sepWordRe: "and"/"or" (bare or in \text{}) and ";" separate the
	// items of a list answer; they are not units to drop.
	sepWordRe    = regexp.MustCompile(`\s*(?:\\(?:text|textnormal|textrm|mbox|mathrm)\s*\{\s*,?\s*(?:and|or)\s*\}|,?\s+(?:and|or)\s+|;)\s*`)
	sqrtSpaceRe  = regexp.MustCompile(`\\sqrt\s+([0-9a-zA-Z])`)
	unitPowRe    = regexp.MustCompile(`^\s*\^\s*(?:\{\s*[23]\s*\}|[23])`)
	inRe         = regexp.MustCompile(`^[a-zA-Z]\s*\\in\s*`)
	unitWordRe   = regexp.MustCompile(`^(.*[0-9}])\s+(?:square |cubic )?(?:units?|cm|mm|km|m|meters?|centimeters?|millimeters?|kilometers?|inches|inch|in|feet|foot|ft|yards?|miles?|dollars?|cents?|degrees?|hours?|minutes?|seconds?|days?|weeks?|years?|mph|kg|g|grams?|pounds?|lbs?|liters?|ml|cups?|percent|percentage|pct)(?:\^\{?[23]\}?|\^[23])?$`)
	unicodeRepls = strings.NewReplacer("−", "-", "×", `\times `, "·", `\cdot `, "÷", `\div `, "π", `\pi `, "∞", `\infty `, "√", `\sqrt`, "≤", `\le `, "≥", `\ge `, "°", "", "∪", `\cup `)
)

// normalize rewrites an answer into a canonical LaTeX-ish form; spaces are
// kept (single) because they separate commands from letters.
func normalize(s string) string {
	// Row breaks (\\) must survive the spacing rules below (\ is a space).
	s = strings.ReplaceAll(unicodeRepls.Replace(strings.TrimSpace(s)), `\\`, "\x00")
	s = strings.ReplaceAll(s, `\$`, "")
	s = strings.ReplaceAll(s, "$", "")
	// Math delimiters inside an answer: \(...\) and \[...\].
	for _, d := range []string{`\(`, `\)`, `\[`, `\]`} {
		s = strings.ReplaceAll(s, d, " ")
	}
	for _, r := range []struct{ old, new string }{
		{`\left.`, ""}, {`\right.`, ""}, {`\left`, ""}, {`\right`, ""}, {`\bigl`, ""}, {`\bigr`, ""},
		{`\displaystyle`, ""}, {`,\! `, ","}, {`,\!`, ","}, {`\!`, ""}, {`\,`, ""}, {`\;`, " "}, {`\:`, " "}, {`\ `, " "},
		{`\qquad`, " "}, {`\quad`, " "}, {"~", " "},
		{`\dfrac`, `\frac`}, {`\tfrac`, `\frac`}, {`\cfrac`, `\frac`},
		{`\leqslant`, `\le`}, {`\geqslant`, `\ge`}, {`\neq`, `\ne`}, {`!=`, `\ne`},
		{`<=`, `\le`}, {`>=`, `\ge`}, {`\lt`, `<`}, {`\gt`, `>`},
		{`^{\circ}`, ""}, {`^\circ`, ""}, {`\circ`, ""}, {`\degree`, ""},
		{`\%`, ""}, {"%", ""}, {"{,}", ","},
		{`\leq`, `\le`}, {`\geq`, `\ge`}, {`\lbrace`, `\{`}, {`\rbrace`, `\}`},
		{`\langle`, "("}, {`\rangle`, ")"}, {`\lvert`, "|"}, {`\rvert`, "|"},
		{`\infinity`, `\infty`}, {`\inf `, `\infty `},
	} {
		s = strings.ReplaceAll(s, r.old, r.new)
	}
	s = strings.TrimSpace(s)
	s = sepWordRe.ReplaceAllString(s, ", ")
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
	s = sqrtSpaceRe.ReplaceAllString(s, `\sqrt{$1}`)
	s = sqrt1Re.ReplaceAllString(s, `\sqrt{$1}`)
	s = spacesRe.ReplaceAllString(strings.TrimSpace(s), " ")
	if m := unitWordRe.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	s = strings.TrimSpace(strings.TrimRight(s, ". "))
	if thousandsRe.MatchString(s) {
		s = strings.ReplaceAll(s, ",", "")
	}
	return canonicalMatrix(strings.ReplaceAll(s, "\x00", `\\`))
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
	// "x \in (1,2)": compare the set.
	a, b = stripIn(a), stripIn(b)
	if squash(a) == squash(b) {
		return true
	}
	if eq, ok := c.compareMatrices(a, b, depth); ok {
		return eq
	}
	// Relations, unless a side is a bare list ("x=1, x=2" is two answers).
	if len(splitTop(a, ",")) == 1 && len(splitTop(b, ",")) == 1 {
		if eq, ok := c.compareRelations(a, b, depth); ok {
			return eq
		}
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

func stripIn(s string) string {
	if m := inRe.FindStringIndex(s); m != nil {
		return strings.TrimSpace(s[m[1]:])
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
		if errA == nil && errB == nil {
			if va.add(vb, -1).isZero() {
				return true
			}
			return decimalClose(na, va.float(256), nb, vb) || decimalClose(nb, vb.float(256), na, va)
		}
		// Beyond exact arithmetic (nested radicals): floating point, at a
		// relative tolerance (1e-9) no rounding a person writes reaches.
		if floatPointsEqual(na, nb, nil) {
			return true
		}
		fa, errA := evalFloat(na, nil)
		fb, errB := evalFloat(nb, nil)
		return errA == nil && errB == nil &&
			(decimalClose(na, big.NewFloat(fa), nb, alg{}) || decimalClose(nb, big.NewFloat(fb), na, alg{}))
	}
	if randomPointsEqual(na, nb, names) {
		return true
	}
	// \pi as a number, and functions: floating point.
	if onlyPi(names) || hasFunc(na) || hasFunc(nb) {
		consts := names
		if onlyPi(names) {
			consts = nil
		}
		if floatPointsEqual(na, nb, consts) {
			return true
		}
		if len(consts) == 0 {
			fa, errA := evalFloat(na, nil)
			fb, errB := evalFloat(nb, nil)
			if errA == nil && errB == nil {
				return decimalClose(na, big.NewFloat(fa), nb, alg{}) || decimalClose(nb, big.NewFloat(fb), na, alg{})
			}
		}
	}
	return false
}

// onlyPi reports whether the only free name is \pi.
func onlyPi(names []string) bool { return len(names) == 1 && names[0] == `\pi` }

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

// A decimal literal matches a value it does not equal only when that
// value has no finite decimal expansion (an irrational or a repeating
// fraction: 1/3, \sqrt{2}, \pi) and both agree when rounded to
// roundPlaces decimal places, for literals of at most that many places
// (Math-Verify's float_rounding=6: 0.333333 is 1/3, 3.141593 is \pi, 0.333
// and 3.14 are not), or, for longer literals (minToleranceDigits
// significant digits), when the value lies within one unit in the
// literal's last place (rounded or truncated: 3.14159265 is \pi,
// 1.41421358 is not \sqrt{2}).
// Between two finite decimals there is no tolerance: 16386.21 is not
// 16386.20, and 0.9999999 is not 1.
const (
	roundPlaces        = 6
	minToleranceDigits = 7
)

// decimalClose applies that rule with lit the literal (value litVal) and
// other the other side: its exact value ov, or when ov is empty the
// float64 value of otherNode.
func decimalClose(lit *node, litVal *big.Float, otherNode *node, ov alg) bool {
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
	const prec = 256
	var other *big.Float
	if r, ok := ov.rational(); ok && len(ov.terms) > 0 {
		if finiteDecimal(r) {
			return false
		}
		other = new(big.Float).SetPrec(prec).SetRat(r)
	} else if len(ov.terms) > 0 {
		other = ov.float(prec)
	} else {
		if isFiniteDecimalNode(otherNode) {
			return false
		}
		f, err := evalFloat(otherNode, nil)
		if err != nil {
			return false
		}
		other = new(big.Float).SetPrec(prec).SetFloat64(f)
	}
	// Rounded agreement, for literals that are not tiny (0.0000001 and
	// 1/3000000 both round to 0).
	if frac <= roundPlaces && len(digits) > 0 && frac-len(digits) < roundPlaces-3 {
		if roundTo(litVal, roundPlaces) == roundTo(other, roundPlaces) {
			return true
		}
	}
	if len(digits) < minToleranceDigits {
		return false
	}
	ulp := new(big.Float).SetPrec(prec).SetRat(new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(frac)), nil)))
	diff := new(big.Float).SetPrec(prec).Sub(litVal, other)
	diff.Abs(diff)
	return diff.Cmp(ulp) <= 0
}

// roundTo formats x rounded half away from zero to places decimals.
func roundTo(x *big.Float, places int) string {
	scale := new(big.Float).SetPrec(x.Prec() + 64).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(places)), nil))
	y := new(big.Float).SetPrec(x.Prec()+64).Mul(x, scale)
	half := big.NewFloat(0.5)
	if y.Sign() < 0 {
		y.Sub(y, half)
	} else {
		y.Add(y, half)
	}
	i, _ := y.Int(nil) // truncates toward zero
	return i.String()
}

// finiteDecimal reports whether r has a terminating decimal expansion
// (its reduced denominator has no prime factors but 2 and 5).
func finiteDecimal(r *big.Rat) bool {
	d := new(big.Int).Set(r.Denom())
	for _, p := range []int64{2, 5} {
		bp := big.NewInt(p)
		m := new(big.Int)
		for {
			q, rem := new(big.Int).QuoRem(d, bp, m)
			if rem.Sign() != 0 {
				break
			}
			d = q
		}
	}
	return d.Cmp(big.NewInt(1)) == 0
}

// isFiniteDecimalNode reports whether n is a plain number literal.
func isFiniteDecimalNode(n *node) bool {
	if n != nil && n.op == '~' {
		n = n.a
	}
	return n != nil && n.op == 'n'
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
