package verify

import (
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
)

// This file compares answers that are relations or matrices:
//
//   - a label in front of the answer ("x = 5", "(p,q) = (3,2)", "f(2) = 7",
//     and chains "x = 5+5+1 = 11", where the last part is the answer and
//     intermediate parts are ignored, as in Math-Verify);
//   - equations that are not labels ("2x+4y-3=0"), equal when lhs-rhs of
//     one is a non-zero constant multiple of the other's
//     ("y = -x/2 + 3/4" is the same line, "x^2/16 + y^2/12 = 1/4" the same
//     ellipse as "x^2/4 + y^2/3 = 1");
//   - inequalities, equal when lhs-rhs are positive multiples with the same
//     strictness ("5 \ge x" is "x \le 5", "-x > -1" is "x < 1"), and, in one
//     variable, equal to the interval they describe ("x < 3" is
//     "(-\infty, 3)", "2 \le x < 5" is "[2, 5)");
//   - "\ne" relations, equal up to any non-zero multiple;
//   - matrices (pmatrix, bmatrix, matrix, array...), equal elementwise.
//
// "\approx" ends a chain of equalities ("x = 1/3 \approx 0.33" is 1/3);
// alone it acts as "=" ("x \approx 11" is 11).

// relation is an answer split at its top-level relation symbols:
// segs[0] ops[0] segs[1] ... ops[n-1] segs[n].
type relation struct {
	segs []string
	ops  []string // "=", "<", ">", `\le`, `\ge`, `\ne`
}

// relOps are the relation symbols after normalize, longest first.
var relOps = []string{`\approx`, `\le`, `\ge`, `\ne`, "=", "<", ">"}

// splitRelation splits s at relation symbols outside brackets.
func splitRelation(s string) relation {
	var r relation
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
			continue
		case ')', ']', '}':
			depth--
			continue
		}
		if depth != 0 {
			continue
		}
		for _, op := range relOps {
			if !strings.HasPrefix(s[i:], op) {
				continue
			}
			end := i + len(op)
			if op[0] == '\\' && end < len(s) && isASCIILetter(s[end]) {
				continue // \left, \neg, \leq handled by normalize
			}
			r.segs = append(r.segs, strings.TrimSpace(s[start:i]))
			r.ops = append(r.ops, op)
			start = end
			i = end - 1
			break
		}
	}
	r.segs = append(r.segs, strings.TrimSpace(s[start:]))
	// \approx: after an "=" it ends the chain; alone it is "=".
	hasEq := false
	for i, op := range r.ops {
		if op == `\approx` {
			if hasEq {
				r.segs, r.ops = r.segs[:i+1], r.ops[:i]
				break
			}
			r.ops[i] = "="
		}
		if r.ops[i] == "=" {
			hasEq = true
		}
	}
	return r
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

type relKind int

const (
	relPlain    relKind = iota // no relation symbol
	relLabel                   // label = value
	relEquation                // an equation that is not a label
	relIneq                    // one inequality, or a chain a < x < b
	relNe                      // a \ne b
	relOther                   // anything else (compared as text)
)

// labelRe matches what may name an answer: a symbol with an optional
// subscript, a function value f(x), a tuple of symbols, or a word.
var labelRe = regexp.MustCompile(`^(?:[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?(?:'+)?|\\[a-zA-Z]+(?:_\{?[a-zA-Z0-9]+\}?)?|[a-zA-Z]+\([^()=]*\)|\((?:[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?,)+[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?\)|[a-zA-Z]{2,})$`)

func isLabel(s string) bool {
	s = squash(s)
	return s != "" && labelRe.MatchString(s) && s != `\infty`
}

func (r relation) kind() relKind {
	if len(r.ops) == 0 {
		return relPlain
	}
	for _, s := range r.segs {
		if s == "" {
			return relOther
		}
	}
	allEq := true
	for _, op := range r.ops {
		allEq = allEq && op == "="
	}
	if allEq {
		n := len(r.segs) - 1
		if isLabel(r.segs[0]) || n >= 2 && isLabel(r.segs[n-1]) {
			return relLabel
		}
		return relEquation
	}
	if len(r.ops) == 1 && r.ops[0] == `\ne` {
		return relNe
	}
	if len(r.ops) <= 2 {
		dir := 0
		for _, op := range r.ops {
			d := ineqDir(op)
			if d == 0 || dir != 0 && d != dir {
				return relOther
			}
			dir = d
		}
		return relIneq
	}
	return relOther
}

// ineqDir is -1 for < and \le, +1 for > and \ge, 0 otherwise.
func ineqDir(op string) int {
	switch op {
	case "<", `\le`:
		return -1
	case ">", `\ge`:
		return 1
	}
	return 0
}

// compareRelations decides a comparison where at least one side has a
// relation symbol; decided is false when neither rule applies.
func (c *comparer) compareRelations(a, b string, depth int) (equal, decided bool) {
	ra, rb := splitRelation(a), splitRelation(b)
	ka, kb := ra.kind(), rb.kind()
	if ka == relPlain && kb == relPlain {
		return false, false
	}
	if ka == relOther || kb == relOther {
		return false, false
	}
	value := func(r relation) string { return r.segs[len(r.segs)-1] }
	switch {
	case ka == relLabel && kb == relPlain:
		return c.equivalent(value(ra), b, depth+1), true
	case ka == relPlain && kb == relLabel:
		return c.equivalent(a, value(rb), depth+1), true
	case ka == relLabel && kb == relLabel:
		if squash(ra.segs[0]) != squash(rb.segs[0]) {
			return false, true
		}
		return c.equivalent(value(ra), value(rb), depth+1), true
	case (ka == relEquation || ka == relLabel) && (kb == relEquation || kb == relLabel):
		fa, okA := equationForm(ra)
		fb, okB := equationForm(rb)
		return okA && okB && proportional(fa, fb, false), true
	case ka == relNe && kb == relNe:
		fa, okA := differenceOf(ra.segs[0], ra.segs[1])
		fb, okB := differenceOf(rb.segs[0], rb.segs[1])
		return okA && okB && proportional(fa, fb, false), true
	case ka == relIneq && kb == relIneq:
		if len(ra.ops) == 1 && len(rb.ops) == 1 {
			fa, sa, okA := ineqForm(ra)
			fb, sb, okB := ineqForm(rb)
			if okA && okB && sa == sb && proportional(fa, fb, true) {
				return true, true
			}
		}
		ia, okA := ineqInterval(ra)
		ib, okB := ineqInterval(rb)
		if okA && okB {
			return c.equivalent(ia, ib, depth+1), true
		}
		return false, true
	case ka == relIneq && kb == relPlain:
		if ia, ok := ineqInterval(ra); ok {
			return c.equivalent(ia, b, depth+1), true
		}
		return false, true
	case ka == relPlain && kb == relIneq:
		if ib, ok := ineqInterval(rb); ok {
			return c.equivalent(a, ib, depth+1), true
		}
		return false, true
	}
	return false, true
}

// differenceOf parses lhs - rhs.
func differenceOf(lhs, rhs string) (*node, bool) {
	l, okL := parseExpr(lhs)
	r, okR := parseExpr(rhs)
	if !okL || !okR {
		return nil, false
	}
	return &node{op: '-', a: l, b: r}, true
}

// equationForm is first - last of a chain of equalities.
func equationForm(r relation) (*node, bool) {
	return differenceOf(r.segs[0], r.segs[len(r.segs)-1])
}

// ineqForm writes a single inequality as f < 0 (strict) or f <= 0.
func ineqForm(r relation) (f *node, strict bool, ok bool) {
	l, rr, op := r.segs[0], r.segs[1], r.ops[0]
	if ineqDir(op) > 0 {
		l, rr = rr, l
	}
	f, ok = differenceOf(l, rr)
	return f, op == "<" || op == ">", ok
}

// ineqInterval writes an inequality in one variable as the interval it
// describes: "x < 3" is "(-\infty,3)", "2 \le x < 5" is "[2,5)".
func ineqInterval(r relation) (string, bool) {
	closed := func(op string) bool { return op == `\le` || op == `\ge` }
	isVar := func(s string) bool {
		s = squash(s)
		return labelRe.MatchString(s) && !strings.ContainsAny(s, "(),") && s != `\infty`
	}
	switch len(r.ops) {
	case 1:
		v, bound, op := r.segs[0], r.segs[1], r.ops[0]
		if !isVar(v) {
			if !isVar(bound) {
				return "", false
			}
			// c < x is x > c.
			v, bound = bound, v
			switch op {
			case "<":
				op = ">"
			case ">":
				op = "<"
			case `\le`:
				op = `\ge`
			case `\ge`:
				op = `\le`
			}
		}
		if isVar(bound) {
			return "", false
		}
		if ineqDir(op) < 0 {
			return `(-\infty,` + bound + map[bool]string{true: "]", false: ")"}[closed(op)], true
		}
		return map[bool]string{true: "[", false: "("}[closed(op)] + bound + `,\infty)`, true
	case 2:
		lo, v, hi := r.segs[0], r.segs[1], r.segs[2]
		opLo, opHi := r.ops[0], r.ops[1]
		if !isVar(v) || isVar(lo) || isVar(hi) {
			return "", false
		}
		if ineqDir(opLo) > 0 { // 5 > x > 2
			lo, hi, opLo, opHi = hi, lo, opHi, opLo
		}
		open := map[bool]string{true: "[", false: "("}[closed(opLo)]
		cl := map[bool]string{true: "]", false: ")"}[closed(opHi)]
		return open + lo + "," + hi + cl, true
	}
	return "", false
}

// proportional reports whether f = k*g for one constant k != 0 (k > 0
// when positive), by exact evaluation at pseudo-random rational points, or
// in floating point where the expressions hold functions or \pi.
func proportional(f, g *node, positive bool) bool {
	names := varList(f, g)
	if len(names) == 0 {
		return false
	}
	const minAgree, maxTries = 5, 30
	rng := rand.New(rand.NewPCG(0x9e3779b9, uint64(len(names))))
	var ratio alg
	have, agree := false, 0
	exact := !hasFunc(f) && !hasFunc(g)
	var fRatio float64
	for try := 0; try < maxTries && agree < minAgree; try++ {
		env := randomEnv(rng, names)
		if !exact {
			fv, errF := evalFloat(f, env)
			gv, errG := evalFloat(g, env)
			if errF != nil || errG != nil || math.IsNaN(fv) || math.IsNaN(gv) || math.IsInf(fv, 0) || math.IsInf(gv, 0) {
				continue
			}
			if gv == 0 {
				if math.Abs(fv) > 1e-12 {
					return false
				}
				continue
			}
			r := fv / gv
			if !have {
				if r == 0 || positive && r < 0 {
					return false
				}
				fRatio, have = r, true
			} else if math.Abs(r-fRatio) > 1e-9*math.Max(1, math.Abs(fRatio)) {
				return false
			}
			agree++
			continue
		}
		fv, errF := eval(f, env)
		gv, errG := eval(g, env)
		if errF == errUnsupported || errG == errUnsupported {
			return false
		}
		if errF != nil || errG != nil {
			continue
		}
		if gv.isZero() {
			if !fv.isZero() {
				return false
			}
			continue
		}
		r, err := fv.div(gv)
		if err != nil {
			continue
		}
		if !have {
			if r.isZero() || positive && r.float(64).Sign() < 0 {
				return false
			}
			ratio, have = r, true
		} else if !r.add(ratio, -1).isZero() {
			return false
		}
		agree++
	}
	return agree >= minAgree
}

// matrixEnvRe matches a whole-answer matrix environment, optionally inside
// \left( \right) or brackets (array environments are written that way).
var matrixEnvRe = regexp.MustCompile(`^[(\[]?\s*\\begin\{(pmatrix|bmatrix|Bmatrix|matrix|smallmatrix|array)\}(\{[lcr|]*\})?(.*?)\\end\{(?:pmatrix|bmatrix|Bmatrix|matrix|smallmatrix|array)\}\s*[)\]]?$`)

// canonicalMatrix rewrites a matrix answer as \mat{a&b\\c&d} (cells
// trimmed, no trailing empty row) so that pmatrix, bmatrix and arrays
// compare alike; anything else is returned unchanged.
func canonicalMatrix(s string) string {
	m := matrixEnvRe.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	rows := matrixRows(m[3])
	if rows == nil {
		return s
	}
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = strings.Join(r, "&")
	}
	return `\mat{` + strings.Join(parts, `\\`) + "}"
}

// matrixRows splits matrix content into rows of cells.
func matrixRows(body string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(body, `\\`) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var cells []string
		for _, c := range strings.Split(line, "&") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	return rows
}

// compareMatrices decides comparisons where a side is a \mat{...}.
func (c *comparer) compareMatrices(a, b string, depth int) (equal, decided bool) {
	ma, mb := strings.HasPrefix(a, `\mat{`), strings.HasPrefix(b, `\mat{`)
	if !ma && !mb {
		return false, false
	}
	if ma != mb {
		return false, true
	}
	ra, rb := matrixRows(a[5:len(a)-1]), matrixRows(b[5:len(b)-1])
	if len(ra) != len(rb) {
		return false, true
	}
	for i := range ra {
		if len(ra[i]) != len(rb[i]) {
			return false, true
		}
		for j := range ra[i] {
			if !c.equivalent(ra[i][j], rb[i][j], depth+1) {
				return false, true
			}
		}
	}
	return true, true
}
