package tokenizer

import (
	"fmt"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// finder finds the non-overlapping matches of a pattern in a string, as
// Hugging Face's onig-based find_iter does: leftmost-first, and an empty
// match right where the previous match ended is skipped.
type finder interface {
	// findAll appends the [start, end) byte offsets of every match in s.
	// Only regexp2 patterns can fail, by exceeding regexTimeout.
	findAll(s string, dst [][2]int) ([][2]int, error)
}

// Patterns with a hand-written scanner. The scanners are checked against
// regexp2 by a differential test; any other pattern runs on regexp2.
const (
	// gpt2Pattern is the ByteLevel pre-tokenizer's regex (GPT-2).
	gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// llama3Pattern is Llama 3's Split regex (numbers in runs of up to 3).
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// qwen2Pattern is Qwen2/Qwen3's Split regex (single digits).
	qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// newFinder returns the fastest exact finder for an Oniguruma pattern.
func newFinder(pattern string) (finder, error) {
	switch pattern {
	case gpt2Pattern:
		return gpt2Scanner{}, nil
	case llama3Pattern:
		return llamaScanner{maxDigits: 3}, nil
	case qwen2Pattern:
		return llamaScanner{maxDigits: 1}, nil
	}
	return newRegexp2Finder(pattern)
}

// regexp2Finder runs a pattern on github.com/dlclark/regexp2, whose
// backtracking semantics (lookaround, (?i:...), \p{..}) are close to
// Oniguruma's. Multiline mode gives ^ and $ Ruby's line semantics. Each
// match may take at most regexTimeout: backtracking is exponential on
// patterns such as (a+)+b.
type regexp2Finder struct {
	re      *regexp2.Regexp
	pattern string
}

func newRegexp2Finder(pattern string) (*regexp2Finder, error) {
	return newRegexp2FinderTimeout(pattern, regexTimeout)
}

func newRegexp2FinderTimeout(pattern string, timeout time.Duration) (*regexp2Finder, error) {
	re, err := regexp2.Compile(rewriteUnicode16(pattern), regexp2.Multiline)
	if err != nil {
		return nil, fmt.Errorf("compile regex %q: %w", pattern, err)
	}
	re.MatchTimeout = timeout
	return &regexp2Finder{re: re, pattern: pattern}, nil
}

func (f *regexp2Finder) findAll(s string, dst [][2]int) ([][2]int, error) {
	if s == "" {
		return dst, nil
	}
	runes := []rune(s)
	// byteOff[i] is the byte offset of rune i (s is valid UTF-8).
	byteOff := make([]int, len(runes)+1)
	off := 0
	for i, r := range runes {
		byteOff[i] = off
		off += utf8.RuneLen(r)
	}
	byteOff[len(runes)] = off
	m, err := f.re.FindRunesMatch(runes)
	lastEnd := -1
	for err == nil && m != nil {
		start, end := m.Index, m.Index+m.Length
		if !(start == end && start == lastEnd) {
			dst = append(dst, [2]int{byteOff[start], byteOff[end]})
			lastEnd = end
		}
		m, err = f.re.FindNextMatch(m)
	}
	if err != nil {
		return dst, fmt.Errorf("regex %q on a %d-byte piece of text: %w (the pattern backtracks too much)", f.pattern, len(s), err)
	}
	return dst, nil
}

//go:generate go run ./internal/gen16 -data ${UNICODE16} -out unicode16.go
//go:generate go run ./internal/gen16 -hfnorm testdata/hf_normalization.json.gz -out hfnorm.go

// Character classes as Oniguruma sees them on UTF-8 text: \s is Unicode
// White_Space, \p{L} and \p{N} the general categories, all of Unicode 16.0
// (unicode16.go, generated: Go's unicode package is Unicode 15.0, and
// characters added in 16.0, such as Garay or Sunuwar letters, would split
// differently from Hugging Face).
const (
	clsOther  = 0
	clsLetter = 1
	clsNumber = 2
	clsSpace  = 3
)

// classRange is a range of code points of one class (unicode16.go).
type classRange struct {
	lo, hi rune
	cls    uint8
}

// runeRange is a closed range of code points (unicode16.go).
type runeRange struct{ lo, hi rune }

// inRanges reports whether r is in the sorted ranges rs.
func inRanges(rs []runeRange, r rune) bool {
	lo, hi := 0, len(rs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch {
		case r < rs[m].lo:
			hi = m
		case r > rs[m].hi:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

var asciiClass = func() (t [128]uint8) {
	for c := 0; c < 128; c++ {
		t[c] = runeClass(rune(c))
	}
	return t
}()

// bmpClass is the class of every rune of the Basic Multilingual Plane,
// built on first use (64 KiB) so that the scanners avoid the binary
// searches of the unicode tables.
var bmpClass = sync.OnceValue(func() *[0x10000]uint8 {
	var t [0x10000]uint8
	for r := rune(0); r < 0x10000; r++ {
		t[r] = runeClass(r)
	}
	return &t
})

// runeClass looks r up in the Unicode 16.0 class table.
func runeClass(r rune) uint8 {
	t := unicode16Classes
	lo, hi := 0, len(t)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch {
		case r < t[m].lo:
			hi = m
		case r > t[m].hi:
			lo = m + 1
		default:
			return t[m].cls
		}
	}
	return clsOther
}

// classAt returns the class and width of the rune starting at s[i].
func classAt(s string, i int) (uint8, rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiClass[c], rune(c), 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r < 0x10000 {
		return bmpClass()[r], r, w
	}
	return runeClass(r), r, w
}

// foldEq reports whether r matches the ASCII lower-case letter want under
// Unicode simple case folding, as Oniguruma's (?i) does (so U+017F LATIN
// SMALL LETTER LONG S matches 's').
func foldEq(r rune, want byte) bool {
	if r < utf8.RuneSelf {
		return r|0x20 == rune(want)
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f == rune(want) {
			return true
		}
	}
	return false
}

// contraction returns the length of a match of 's|'t|'re|'ve|'m|'ll|'d at
// s[i] (an apostrophe), or 0. With fold, letters match case-insensitively.
func contraction(s string, i int, fold bool) int {
	j := i + 1
	if j >= len(s) {
		return 0
	}
	next := func(k int) (rune, int) {
		if k >= len(s) {
			return -1, 0
		}
		if s[k] < utf8.RuneSelf {
			return rune(s[k]), 1
		}
		return utf8.DecodeRuneInString(s[k:])
	}
	is := func(r rune, want byte) bool {
		if fold {
			return foldEq(r, want)
		}
		return r == rune(want)
	}
	r1, w1 := next(j)
	switch {
	case is(r1, 's'), is(r1, 't'), is(r1, 'm'), is(r1, 'd'):
		return 1 + w1
	}
	r2, w2 := next(j + w1)
	switch {
	case is(r1, 'r') && is(r2, 'e'), is(r1, 'v') && is(r2, 'e'), is(r1, 'l') && is(r2, 'l'):
		return 1 + w1 + w2
	}
	return 0
}

// runEnd returns the end of the run of runes of class cls starting at i.
func runEnd(s string, i int, cls uint8) int {
	for i < len(s) {
		c, _, w := classAt(s, i)
		if c != cls {
			break
		}
		i += w
	}
	return i
}

// spaceTail handles the alternatives \s+(?!\S)|\s+ for a whitespace run
// starting at i: the whole run when it ends the text or is one rune long,
// otherwise the run less its last rune.
func spaceTail(s string, i int) int {
	j := runEnd(s, i, clsSpace)
	if j == len(s) {
		return j
	}
	_, last := utf8.DecodeLastRuneInString(s[:j])
	if j-last > i {
		return j - last
	}
	return j
}

// llamaScanner is the hand-written matcher of llama3Pattern (maxDigits 3)
// and qwen2Pattern (maxDigits 1).
type llamaScanner struct {
	maxDigits int
}

func (sc llamaScanner) findAll(s string, dst [][2]int) ([][2]int, error) {
	for i := 0; i < len(s); {
		j := sc.match(s, i)
		dst = append(dst, [2]int{i, j})
		i = j
	}
	return dst, nil
}

// match returns the end of the match at i; every rune starts a match.
func (sc llamaScanner) match(s string, i int) int {
	cls, r, w := classAt(s, i)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' {
		if n := contraction(s, i, true); n > 0 {
			return i + n
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if cls == clsLetter {
		return runEnd(s, i+w, clsLetter)
	}
	if cls != clsNumber && r != '\r' && r != '\n' && i+w < len(s) {
		if c2, _, w2 := classAt(s, i+w); c2 == clsLetter {
			return runEnd(s, i+w+w2, clsLetter)
		}
	}
	// \p{N}{1,maxDigits}
	if cls == clsNumber {
		j := i + w
		for n := 1; n < sc.maxDigits && j < len(s); n++ {
			c2, _, w2 := classAt(s, j)
			if c2 != clsNumber {
				break
			}
			j += w2
		}
		return j
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	start := i
	if r == ' ' && i+1 < len(s) {
		if c2, _, _ := classAt(s, i+1); c2 == clsOther {
			start = i + 1
		}
	}
	if c0, _, _ := classAt(s, start); c0 == clsOther {
		j := runEnd(s, start, clsOther)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// cls is clsSpace from here on.
	// \s*[\r\n]+ : up to just after the last \r or \n of the whitespace run.
	j := runEnd(s, i, clsSpace)
	for k := j - 1; k >= i; k-- {
		if s[k] == '\r' || s[k] == '\n' {
			return k + 1
		}
	}
	// \s+(?!\S)|\s+
	return spaceTail(s, i)
}

// gpt2Scanner is the hand-written matcher of gpt2Pattern.
type gpt2Scanner struct{}

func (gpt2Scanner) findAll(s string, dst [][2]int) ([][2]int, error) {
	for i := 0; i < len(s); {
		j := gpt2Match(s, i)
		dst = append(dst, [2]int{i, j})
		i = j
	}
	return dst, nil
}

func gpt2Match(s string, i int) int {
	cls, r, _ := classAt(s, i)
	if r == '\'' {
		if n := contraction(s, i, false); n > 0 {
			return i + n
		}
	}
	start, c := i, cls
	if r == ' ' && i+1 < len(s) {
		if c2, _, _ := classAt(s, i+1); c2 != clsSpace {
			start, c = i+1, c2
		}
	}
	switch c {
	case clsLetter, clsNumber, clsOther:
		return runEnd(s, start, c)
	}
	return spaceTail(s, i)
}

// categoryRange is a range of code points of one general category, an
// index into unicode16CategoryNames (unicode16.go).
type categoryRange struct {
	lo, hi rune
	cat    uint8
}
