package verify

import (
	"errors"
	"math/big"
	"sort"
	"strings"
)

// alg is an exact element of a multi-quadratic extension of the rationals:
// a sum of c_S * sqrt(prod S) over sets S of pairwise distinct "primes"
// (square-free factors found by trial division; a residual cofactor that
// could not be factored is kept as one opaque radicand). Every operation is
// an algebraic identity valid for positive radicands, so two elements with
// identical representations are equal as real numbers; the converse can fail
// only for unfactored cofactors sharing a factor, which makes comparison
// conservative (a false "not equal"), never unsound.
type alg struct {
	terms map[string]*algTerm // key: radicand primes joined by '*', "" = rational part
}

type algTerm struct {
	primes []*big.Int // sorted ascending, distinct
	coef   *big.Rat
}

// errUndefined marks a value that does not exist at this point (division by
// zero, square root of a negative number).
var errUndefined = errors.New("undefined")

// errUnsupported marks an expression the exact evaluator cannot handle.
var errUnsupported = errors.New("unsupported")

// maxBits bounds numerator/denominator sizes so adversarial inputs such as
// 10^{10^{10}} cannot exhaust memory or time.
const maxBits = 1 << 14

// maxTerms bounds the number of radical terms of one value (inverting a sum
// of k independent square roots needs 2^k terms).
const maxTerms = 256

func algRat(r *big.Rat) alg {
	a := alg{terms: map[string]*algTerm{}}
	if r.Sign() != 0 {
		a.terms[""] = &algTerm{coef: new(big.Rat).Set(r)}
	}
	return a
}

func primesKey(ps []*big.Int) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, "*")
}

func (a alg) addTerm(ps []*big.Int, c *big.Rat) {
	if c.Sign() == 0 {
		return
	}
	k := primesKey(ps)
	if t, ok := a.terms[k]; ok {
		t.coef.Add(t.coef, c)
		if t.coef.Sign() == 0 {
			delete(a.terms, k)
		}
		return
	}
	a.terms[k] = &algTerm{primes: ps, coef: new(big.Rat).Set(c)}
}

func (a alg) isZero() bool { return len(a.terms) == 0 }

// rational returns the value when a has no radical part.
func (a alg) rational() (*big.Rat, bool) {
	switch len(a.terms) {
	case 0:
		return new(big.Rat), true
	case 1:
		if t, ok := a.terms[""]; ok {
			return t.coef, true
		}
	}
	return nil, false
}

func (a alg) add(b alg, sign int) alg {
	out := alg{terms: map[string]*algTerm{}}
	for _, t := range a.terms {
		out.addTerm(t.primes, t.coef)
	}
	for _, t := range b.terms {
		c := t.coef
		if sign < 0 {
			c = new(big.Rat).Neg(c)
		}
		out.addTerm(t.primes, c)
	}
	return out
}

func (a alg) neg() alg { return algRat(new(big.Rat)).add(a, -1) }

// mulPrimes multiplies sqrt(prod p) * sqrt(prod q) = prod(p∩q) * sqrt(prod(p△q)).
func mulPrimes(p, q []*big.Int) (rat *big.Int, rest []*big.Int) {
	rat = big.NewInt(1)
	i, j := 0, 0
	for i < len(p) || j < len(q) {
		switch {
		case j >= len(q) || (i < len(p) && p[i].Cmp(q[j]) < 0):
			rest = append(rest, p[i])
			i++
		case i >= len(p) || q[j].Cmp(p[i]) < 0:
			rest = append(rest, q[j])
			j++
		default:
			rat.Mul(rat, p[i])
			i++
			j++
		}
	}
	return rat, rest
}

func (a alg) mul(b alg) (alg, error) {
	if len(a.terms)*len(b.terms) > maxTerms*maxTerms/4 {
		return alg{}, errUnsupported
	}
	out := alg{terms: map[string]*algTerm{}}
	for _, x := range a.terms {
		for _, y := range b.terms {
			r, rest := mulPrimes(x.primes, y.primes)
			c := new(big.Rat).Mul(x.coef, y.coef)
			c.Mul(c, new(big.Rat).SetInt(r))
			if c.Num().BitLen() > maxBits || c.Denom().BitLen() > maxBits {
				return alg{}, errUnsupported
			}
			out.addTerm(rest, c)
		}
	}
	if len(out.terms) > maxTerms {
		return alg{}, errUnsupported
	}
	return out, nil
}

// conj flips the sign of every term whose radicand contains p.
func (a alg) conj(p *big.Int) alg {
	out := alg{terms: map[string]*algTerm{}}
	for _, t := range a.terms {
		c := t.coef
		for _, q := range t.primes {
			if q.Cmp(p) == 0 {
				c = new(big.Rat).Neg(c)
				break
			}
		}
		out.addTerm(t.primes, c)
	}
	return out
}

func (a alg) firstPrime() *big.Int {
	var best *big.Int
	for _, t := range a.terms {
		for _, p := range t.primes {
			if best == nil || p.Cmp(best) < 0 {
				best = p
			}
		}
	}
	return best
}

// inv computes 1/a by multiplying with conjugates until the norm is rational.
func (a alg) inv() (alg, error) {
	num := algRat(big.NewRat(1, 1))
	cur := a
	for steps := 0; ; steps++ {
		if steps > 16 {
			return alg{}, errUnsupported
		}
		p := cur.firstPrime()
		if p == nil {
			break
		}
		c := cur.conj(p)
		var err error
		if num, err = num.mul(c); err != nil {
			return alg{}, err
		}
		if cur, err = cur.mul(c); err != nil {
			return alg{}, err
		}
		// cur is now formally free of p; guard against no progress.
		for _, t := range cur.terms {
			for _, q := range t.primes {
				if q.Cmp(p) == 0 {
					return alg{}, errUnsupported
				}
			}
		}
	}
	n, _ := cur.rational()
	if n.Sign() == 0 {
		if a.isZero() {
			return alg{}, errUndefined
		}
		// A zero norm of a nonzero representation: dependent radicands.
		return alg{}, errUnsupported
	}
	return num.mul(algRat(new(big.Rat).Inv(n)))
}

func (a alg) div(b alg) (alg, error) {
	if b.isZero() {
		return alg{}, errUndefined
	}
	bi, err := b.inv()
	if err != nil {
		return alg{}, err
	}
	return a.mul(bi)
}

func (a alg) pow(n int) (alg, error) {
	if n < 0 {
		ai, err := a.inv()
		if err != nil {
			return alg{}, err
		}
		return ai.pow(-n)
	}
	out := algRat(big.NewRat(1, 1))
	base := a
	for n > 0 {
		var err error
		if n&1 == 1 {
			if out, err = out.mul(base); err != nil {
				return alg{}, err
			}
		}
		n >>= 1
		if n > 0 {
			if base, err = base.mul(base); err != nil {
				return alg{}, err
			}
		}
	}
	return out, nil
}

// smallPrimes are the trial divisors used to split radicands.
var smallPrimes = func() []int64 {
	const limit = 2000
	sieve := make([]bool, limit)
	var ps []int64
	for i := 2; i < limit; i++ {
		if !sieve[i] {
			ps = append(ps, int64(i))
			for j := i * i; j < limit; j += i {
				sieve[j] = true
			}
		}
	}
	return ps
}()

// sqrt returns sqrt(a) for a non-negative rational a.
func (a alg) sqrt() (alg, error) {
	r, ok := a.rational()
	if !ok {
		return alg{}, errUnsupported // nested radicals
	}
	if r.Sign() < 0 {
		return alg{}, errUndefined
	}
	if r.Sign() == 0 {
		return algRat(new(big.Rat)), nil
	}
	// sqrt(p/q) = sqrt(p*q)/q.
	n := new(big.Int).Mul(r.Num(), r.Denom())
	outside := big.NewInt(1)
	var inside []*big.Int
	rem := new(big.Int)
	for _, sp := range smallPrimes {
		p := big.NewInt(sp)
		if new(big.Int).Mul(p, p).Cmp(n) > 0 {
			break
		}
		odd := false
		for {
			q, m := new(big.Int).QuoRem(n, p, rem)
			if m.Sign() != 0 {
				break
			}
			n = q
			odd = !odd
			if !odd {
				outside.Mul(outside, p)
			}
		}
		if odd {
			inside = append(inside, p)
		}
	}
	if n.Cmp(big.NewInt(1)) > 0 {
		s := new(big.Int).Sqrt(n)
		if new(big.Int).Mul(s, s).Cmp(n) == 0 {
			outside.Mul(outside, s)
		} else {
			// Either prime or a product of large factors: kept opaque.
			inside = append(inside, n)
		}
	}
	// Merge odd primes found by division with the cofactor; inside may now
	// contain the same prime twice only if the cofactor equals one of them,
	// which trial division rules out.
	sort.Slice(inside, func(i, j int) bool { return inside[i].Cmp(inside[j]) < 0 })
	c := new(big.Rat).SetFrac(outside, r.Denom())
	out := alg{terms: map[string]*algTerm{}}
	out.addTerm(inside, c)
	return out, nil
}

// float approximates a at the given precision.
func (a alg) float(prec uint) *big.Float {
	sum := new(big.Float).SetPrec(prec)
	for _, t := range a.terms {
		v := new(big.Float).SetPrec(prec).SetRat(t.coef)
		if len(t.primes) > 0 {
			rad := new(big.Int).SetInt64(1)
			for _, p := range t.primes {
				rad.Mul(rad, p)
			}
			s := new(big.Float).SetPrec(prec).SetInt(rad)
			s.Sqrt(s)
			v.Mul(v, s)
		}
		sum.Add(sum, v)
	}
	return sum
}
