package verify

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
	"unicode"
)

// This file is a small exact expression language for answers: numbers
// (integers, decimals, scientific notation, mixed numbers like 2\frac{1}{2}),
// variables (single letters, Greek letters, subscripts), + - * / ^ with
// constant integer exponents, \frac, \sqrt, \pi, \cdot, \times, \div,
// implicit multiplication and grouping by (), [] and {}. Anything else makes
// the parse fail, and the caller falls back to string comparison.

type tokKind int

const (
	tNum tokKind = iota
	tVar
	tCmd
	tSym
)

type token struct {
	kind tokKind
	text string
}

var greek = map[string]bool{
	"alpha": true, "beta": true, "gamma": true, "delta": true, "epsilon": true, "varepsilon": true,
	"zeta": true, "eta": true, "theta": true, "vartheta": true, "iota": true, "kappa": true,
	"lambda": true, "mu": true, "nu": true, "xi": true, "rho": true, "sigma": true, "tau": true,
	"phi": true, "varphi": true, "chi": true, "psi": true, "omega": true,
	"Gamma": true, "Delta": true, "Theta": true, "Lambda": true, "Sigma": true, "Phi": true, "Psi": true, "Omega": true,
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j < len(s) && s[j] == '.' {
				j++
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
			}
			// Scientific notation: 1.5e-3, 2E10.
			if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
				k := j + 1
				if k < len(s) && (s[k] == '+' || s[k] == '-') {
					k++
				}
				if k < len(s) && s[k] >= '0' && s[k] <= '9' {
					for k < len(s) && s[k] >= '0' && s[k] <= '9' {
						k++
					}
					j = k
				}
			}
			toks = append(toks, token{tNum, s[i:j]})
			i = j
		case c == '\\':
			j := i + 1
			for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("unsupported escape at %d", i)
			}
			toks = append(toks, token{tCmd, s[i+1 : j]})
			i = j
		case c < 128 && unicode.IsLetter(rune(c)):
			toks = append(toks, token{tVar, string(c)})
			i++
		case strings.IndexByte("+-*/^_(){}[]", c) >= 0:
			toks = append(toks, token{tSym, string(c)})
			i++
		default:
			return nil, fmt.Errorf("unsupported character %q", c)
		}
	}
	return toks, nil
}

// node is an expression tree.
type node struct {
	op   byte // 'n' number, 'v' variable, '+', '-', '*', '/', '~' negate, '^', 's' sqrt, 'f' function name(a)^exp
	num  *big.Rat
	lit  string // source text of a number literal
	name string
	a, b *node
	exp  int
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() *token {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func (p *parser) isSym(s string) bool {
	t := p.peek()
	return t != nil && t.kind == tSym && t.text == s
}

func (p *parser) isCmd(s string) bool {
	t := p.peek()
	return t != nil && t.kind == tCmd && t.text == s
}

func (p *parser) expect(s string) error {
	if !p.isSym(s) {
		return fmt.Errorf("expected %q", s)
	}
	p.pos++
	return nil
}

// parseExpr parses a whole answer string; ok is false unless every token
// is consumed.
func parseExpr(s string) (*node, bool) {
	toks, err := lex(s)
	if err != nil || len(toks) == 0 {
		return nil, false
	}
	p := &parser{toks: toks}
	n, err := p.expr(0)
	if err != nil || p.pos != len(p.toks) {
		return nil, false
	}
	return n, true
}

const maxDepth = 200

func (p *parser) expr(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("too deep")
	}
	left, err := p.term(depth + 1)
	if err != nil {
		return nil, err
	}
	for p.isSym("+") || p.isSym("-") {
		op := p.toks[p.pos].text[0]
		p.pos++
		right, err := p.term(depth + 1)
		if err != nil {
			return nil, err
		}
		left = &node{op: op, a: left, b: right}
	}
	return left, nil
}

// startsAtom reports whether the next token can begin an implicit factor.
func (p *parser) startsAtom() bool {
	t := p.peek()
	if t == nil {
		return false
	}
	switch t.kind {
	case tNum, tVar:
		return true
	case tCmd:
		return t.text == "frac" || t.text == "sqrt" || t.text == "pi" || greek[t.text] || funcNames[t.text]
	case tSym:
		return t.text == "(" || t.text == "{" || t.text == "["
	}
	return false
}

func (p *parser) term(depth int) (*node, error) {
	left, err := p.unary(depth + 1)
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isSym("*") || p.isCmd("cdot") || p.isCmd("times"):
			p.pos++
			right, err := p.unary(depth + 1)
			if err != nil {
				return nil, err
			}
			left = &node{op: '*', a: left, b: right}
		case p.isSym("/") || p.isCmd("div"):
			p.pos++
			right, err := p.unary(depth + 1)
			if err != nil {
				return nil, err
			}
			left = &node{op: '/', a: left, b: right}
		case p.startsAtom():
			// Two bare numbers in a row ("2 3") are not a product.
			if p.peek().kind == tNum && rightmostIsNumber(left) {
				return nil, fmt.Errorf("adjacent numbers")
			}
			right, err := p.power(depth + 1)
			if err != nil {
				return nil, err
			}
			left = &node{op: '*', a: left, b: right}
		default:
			return left, nil
		}
	}
}

func rightmostIsNumber(n *node) bool {
	for n.op == '*' {
		n = n.b
	}
	return n.op == 'n'
}

func (p *parser) unary(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("too deep")
	}
	if p.isSym("-") {
		p.pos++
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &node{op: '~', a: x}, nil
	}
	if p.isSym("+") {
		p.pos++
		return p.unary(depth + 1)
	}
	return p.power(depth + 1)
}

func (p *parser) power(depth int) (*node, error) {
	base, err := p.atom(depth + 1)
	if err != nil {
		return nil, err
	}
	if !p.isSym("^") {
		return base, nil
	}
	p.pos++
	// Exponent: a signed atom, e.g. ^2, ^{-1}, ^-1.
	neg := false
	if p.isSym("-") {
		neg = true
		p.pos++
	} else if p.isSym("+") {
		p.pos++
	}
	// ^23 in LaTeX means ^{2}3; models often mean ^{23}. Refuse to guess.
	if t := p.peek(); t != nil && t.kind == tNum && len(t.text) > 1 {
		return nil, fmt.Errorf("ambiguous exponent %q", t.text)
	}
	e, err := p.atom(depth + 1)
	if err != nil {
		return nil, err
	}
	return finishPower(base, e, neg)
}

func finishPower(base, e *node, neg bool) (*node, error) {
	v, err := constValue(e)
	if err != nil {
		return nil, fmt.Errorf("non-constant exponent")
	}
	r, ok := v.rational()
	if !ok || !r.IsInt() || r.Num().BitLen() > 16 {
		return nil, fmt.Errorf("exponent must be a small integer")
	}
	n := int(r.Num().Int64())
	if neg {
		n = -n
	}
	if n > 1000 || n < -1000 {
		return nil, fmt.Errorf("exponent too large")
	}
	return &node{op: '^', a: base, exp: n}, nil
}

// braced parses a {...} group (or a single token for \frac12-style input,
// which normalisation already rewrites).
func (p *parser) braced(depth int) (*node, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	x, err := p.expr(depth + 1)
	if err != nil {
		return nil, err
	}
	return x, p.expect("}")
}

func (p *parser) atom(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("too deep")
	}
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("unexpected end")
	}
	switch t.kind {
	case tNum:
		p.pos++
		r, ok := parseNumber(t.text)
		if !ok {
			return nil, fmt.Errorf("bad number %q", t.text)
		}
		n := &node{op: 'n', num: r, lit: t.text}
		// Mixed number: 2\frac{1}{2} = 5/2 (integer literal directly followed
		// by a fraction of integer literals).
		if !strings.ContainsAny(t.text, ".eE") && p.isCmd("frac") {
			save := p.pos
			p.pos++
			num, err1 := p.braced(depth + 1)
			var err2 error
			var d *node
			if err1 == nil {
				d, err2 = p.braced(depth + 1)
			}
			if err1 == nil && err2 == nil && isIntLit(num) && isIntLit(d) && d.num.Sign() != 0 {
				f := new(big.Rat).Quo(num.num, d.num)
				return &node{op: 'n', num: new(big.Rat).Add(r, f), lit: t.text + "+frac"}, nil
			}
			p.pos = save
		}
		return n, nil
	case tVar:
		p.pos++
		name := t.text
		return p.subscript(name)
	case tCmd:
		switch {
		case t.text == "pi":
			p.pos++
			return &node{op: 'v', name: `\pi`}, nil
		case greek[t.text]:
			p.pos++
			return p.subscript(`\` + t.text)
		case funcNames[t.text]:
			return p.function(depth)
		case t.text == "frac":
			p.pos++
			a, err := p.braced(depth + 1)
			if err != nil {
				return nil, err
			}
			b, err := p.braced(depth + 1)
			if err != nil {
				return nil, err
			}
			return &node{op: '/', a: a, b: b}, nil
		case t.text == "sqrt":
			p.pos++
			if p.isSym("[") {
				// \sqrt[2]{x} only.
				p.pos++
				idx, err := p.expr(depth + 1)
				if err != nil {
					return nil, err
				}
				if err := p.expect("]"); err != nil {
					return nil, err
				}
				if !isIntLit(idx) || idx.num.Cmp(big.NewRat(2, 1)) != 0 {
					return nil, fmt.Errorf("only square roots are supported")
				}
			}
			a, err := p.braced(depth + 1)
			if err != nil {
				return nil, err
			}
			return &node{op: 's', a: a}, nil
		}
		return nil, fmt.Errorf("unsupported command \\%s", t.text)
	case tSym:
		closeFor := map[string]string{"(": ")", "{": "}", "[": "]"}
		if c, ok := closeFor[t.text]; ok {
			p.pos++
			x, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			return x, p.expect(c)
		}
	}
	return nil, fmt.Errorf("unexpected %q", t.text)
}

// function parses \sin x, \sin(x), \sin{x}, \sin^2 x and \sin^{2}(x):
// an optional integer power after the name, then a bracketed group or one
// power-level factor as the argument.
func (p *parser) function(depth int) (*node, error) {
	name := p.peek().text
	p.pos++
	exp := 1
	if p.isSym("^") {
		p.pos++
		var e *node
		var err error
		if p.isSym("{") {
			e, err = p.braced(depth + 1)
		} else {
			e, err = p.atom(depth + 1)
		}
		if err != nil {
			return nil, err
		}
		if !isIntLit(e) || !e.num.Num().IsInt64() || e.num.Num().Int64() > 16 {
			return nil, fmt.Errorf("unsupported power of \\%s", name)
		}
		exp = int(e.num.Num().Int64())
	}
	var arg *node
	var err error
	if p.isSym("(") || p.isSym("{") {
		arg, err = p.atom(depth + 1)
	} else {
		// \sin 2x is sin(2x): a factor and the letters right after it.
		arg, err = p.power(depth + 1)
		for err == nil {
			t := p.peek()
			if t == nil || t.kind != tVar {
				break
			}
			var v *node
			if v, err = p.power(depth + 1); err == nil {
				arg = &node{op: '*', a: arg, b: v}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return &node{op: 'f', name: name, a: arg, exp: exp}, nil
}

func (p *parser) subscript(name string) (*node, error) {
	if !p.isSym("_") {
		return &node{op: 'v', name: name}, nil
	}
	p.pos++
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("dangling _")
	}
	if t.kind == tNum || t.kind == tVar {
		p.pos++
		// x_12 in LaTeX is x_1 2; keep it simple and reject multi-digit.
		if len(t.text) > 1 {
			return nil, fmt.Errorf("ambiguous subscript")
		}
		return &node{op: 'v', name: name + "_" + t.text}, nil
	}
	if t.kind == tSym && t.text == "{" {
		p.pos++
		var sb strings.Builder
		for {
			u := p.peek()
			if u == nil {
				return nil, fmt.Errorf("unterminated subscript")
			}
			p.pos++
			if u.kind == tSym && u.text == "}" {
				break
			}
			if u.kind != tNum && u.kind != tVar {
				return nil, fmt.Errorf("unsupported subscript")
			}
			sb.WriteString(u.text)
		}
		return &node{op: 'v', name: name + "_" + sb.String()}, nil
	}
	return nil, fmt.Errorf("unsupported subscript")
}

func isIntLit(n *node) bool {
	return n != nil && n.op == 'n' && n.num.IsInt() && !strings.ContainsAny(n.lit, ".eE+")
}

// parseNumber parses an integer, decimal or scientific literal exactly.
func parseNumber(s string) (*big.Rat, bool) {
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i+1:]
	}
	r, ok := new(big.Rat).SetString(mant)
	if !ok {
		return nil, false
	}
	if exp != "" {
		var e int
		if _, err := fmt.Sscan(exp, &e); err != nil || e > 400 || e < -400 {
			return nil, false
		}
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil)
		if e >= 0 {
			r.Mul(r, new(big.Rat).SetInt(p))
		} else {
			r.Quo(r, new(big.Rat).SetInt(p))
		}
	}
	return r, true
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// vars returns the sorted variable names in n.
func vars(n *node, set map[string]bool) {
	if n == nil {
		return
	}
	if n.op == 'v' {
		set[n.name] = true
	}
	vars(n.a, set)
	vars(n.b, set)
}

func varList(ns ...*node) []string {
	set := map[string]bool{}
	for _, n := range ns {
		vars(n, set)
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func constValue(n *node) (alg, error) { return eval(n, nil) }

// eval computes n exactly with variables bound by env.
func eval(n *node, env map[string]*big.Rat) (alg, error) {
	switch n.op {
	case 'n':
		return algRat(n.num), nil
	case 'v':
		v, ok := env[n.name]
		if !ok {
			return alg{}, errUnsupported
		}
		return algRat(v), nil
	case '~':
		a, err := eval(n.a, env)
		if err != nil {
			return alg{}, err
		}
		return a.neg(), nil
	case 's':
		a, err := eval(n.a, env)
		if err != nil {
			return alg{}, err
		}
		return a.sqrt()
	case 'f':
		// Elementary functions leave the exact field: see evalFloat.
		return alg{}, errUnsupported
	case '^':
		a, err := eval(n.a, env)
		if err != nil {
			return alg{}, err
		}
		if a.isZero() && n.exp <= 0 {
			return alg{}, errUndefined
		}
		return a.pow(n.exp)
	}
	a, err := eval(n.a, env)
	if err != nil {
		return alg{}, err
	}
	b, err := eval(n.b, env)
	if err != nil {
		return alg{}, err
	}
	switch n.op {
	case '+':
		return a.add(b, 1), nil
	case '-':
		return a.add(b, -1), nil
	case '*':
		return a.mul(b)
	case '/':
		return a.div(b)
	}
	return alg{}, errUnsupported
}
