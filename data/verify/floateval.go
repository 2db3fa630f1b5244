package verify

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
)

// Exact arithmetic (alg) covers rationals and square roots. Answers with
// elementary functions (\sin, \ln, ...) or \pi as a number are compared in
// float64 instead, at the same kind of pseudo-random points, with a
// relative tolerance far below any rounding a person would write.

// funcNames are the functions the parser accepts after a backslash.
var funcNames = map[string]bool{
	"sin": true, "cos": true, "tan": true, "sec": true, "csc": true, "cot": true,
	"arcsin": true, "arccos": true, "arctan": true, "sinh": true, "cosh": true, "tanh": true,
	"ln": true, "log": true, "exp": true,
}

// hasFunc reports whether n applies a function.
func hasFunc(n *node) bool {
	if n == nil {
		return false
	}
	return n.op == 'f' || hasFunc(n.a) || hasFunc(n.b)
}

// hasPi reports whether n mentions \pi.
func hasPi(n *node) bool {
	if n == nil {
		return false
	}
	return n.op == 'v' && n.name == `\pi` || hasPi(n.a) || hasPi(n.b)
}

var errFloatDomain = errors.New("outside the function's domain")

// evalFloat computes n in float64; \pi is π unless env binds it.
func evalFloat(n *node, env map[string]*big.Rat) (float64, error) {
	switch n.op {
	case 'n':
		f, _ := n.num.Float64()
		return f, nil
	case 'v':
		if v, ok := env[n.name]; ok {
			f, _ := v.Float64()
			return f, nil
		}
		if n.name == `\pi` {
			return math.Pi, nil
		}
		return 0, errUnsupported
	case '~':
		a, err := evalFloat(n.a, env)
		return -a, err
	case 's':
		a, err := evalFloat(n.a, env)
		if err != nil || a < 0 {
			return 0, errFloatDomain
		}
		return math.Sqrt(a), nil
	case '^':
		a, err := evalFloat(n.a, env)
		if err != nil {
			return 0, err
		}
		return math.Pow(a, float64(n.exp)), nil
	case 'f':
		a, err := evalFloat(n.a, env)
		if err != nil {
			return 0, err
		}
		v := applyFunc(n.name, a)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, errFloatDomain
		}
		if n.exp != 0 && n.exp != 1 {
			v = math.Pow(v, float64(n.exp))
		}
		return v, nil
	}
	a, err := evalFloat(n.a, env)
	if err != nil {
		return 0, err
	}
	b, err := evalFloat(n.b, env)
	if err != nil {
		return 0, err
	}
	switch n.op {
	case '+':
		return a + b, nil
	case '-':
		return a - b, nil
	case '*':
		return a * b, nil
	case '/':
		if b == 0 {
			return 0, errFloatDomain
		}
		return a / b, nil
	}
	return 0, errUnsupported
}

func applyFunc(name string, x float64) float64 {
	switch name {
	case "sin":
		return math.Sin(x)
	case "cos":
		return math.Cos(x)
	case "tan":
		return math.Tan(x)
	case "sec":
		return 1 / math.Cos(x)
	case "csc":
		return 1 / math.Sin(x)
	case "cot":
		return 1 / math.Tan(x)
	case "arcsin":
		return math.Asin(x)
	case "arccos":
		return math.Acos(x)
	case "arctan":
		return math.Atan(x)
	case "sinh":
		return math.Sinh(x)
	case "cosh":
		return math.Cosh(x)
	case "tanh":
		return math.Tanh(x)
	case "ln":
		return math.Log(x)
	case "log":
		return math.Log10(x)
	case "exp":
		return math.Exp(x)
	}
	return math.NaN()
}

// randomEnv binds each name to a small non-zero rational.
func randomEnv(rng *rand.Rand, names []string) map[string]*big.Rat {
	env := map[string]*big.Rat{}
	for _, n := range names {
		num := rng.Int64N(41) - 20
		if num == 0 {
			num = 23
		}
		env[n] = big.NewRat(num, rng.Int64N(7)+1)
	}
	return env
}

// floatPointsEqual compares a and b in float64 at pseudo-random points of
// names (none: once), with relative tolerance 1e-9.
func floatPointsEqual(a, b *node, names []string) bool {
	const minAgree, maxTries = 5, 40
	rng := rand.New(rand.NewPCG(0x51f15e, uint64(len(names))))
	need := minAgree
	if len(names) == 0 {
		need = 1
	}
	agree := 0
	for try := 0; try < maxTries && agree < need; try++ {
		env := randomEnv(rng, names)
		va, errA := evalFloat(a, env)
		vb, errB := evalFloat(b, env)
		if errA == errUnsupported || errB == errUnsupported {
			return false
		}
		if errA != nil || errB != nil {
			continue
		}
		if math.Abs(va-vb) > 1e-9*math.Max(1, math.Max(math.Abs(va), math.Abs(vb))) {
			return false
		}
		agree++
	}
	return agree >= need
}
