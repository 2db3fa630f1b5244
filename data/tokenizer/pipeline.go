package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a piece of text before pre-tokenization. Only a
// Replace regex run on regexp2 can fail (by exceeding its match timeout).
type normalizer func(string) (string, error)

// Worst-case growth of the Unicode normalization forms in UTF-8 bytes
// (UAX #15, "Maximum expansion factors"; checked over every rune by
// TestNormalizationGrowth).
const (
	growthNFC  = 3
	growthNFD  = 3
	growthNFKC = 11
	growthNFKD = 11
)

// parseNormalizer builds the normalizer of tokenizer.json's "normalizer"
// field (nil when null). Supported: NFC, NFD, NFKC, NFKD, Prepend, Replace
// and Sequence.
func parseNormalizer(raw json.RawMessage, b *budget, depth int, where string) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
		Prepend     *string           `json:"prepend"`
		Pattern     json.RawMessage   `json:"pattern"`
		Content     *string           `json:"content"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := b.enter(depth, where); err != nil {
		return nil, err
	}
	where += " " + h.Type
	unicodeForm := func(f func(string) string, growth float64) (normalizer, error) {
		if err := b.grow(where, growth); err != nil {
			return nil, err
		}
		return func(s string) (string, error) { return f(s), nil }, nil
	}
	switch h.Type {
	case "NFC":
		return unicodeForm(nfcString, growthNFC)
	case "NFD":
		return unicodeForm(func(s string) string { return hfNormalize(norm.NFD, s) }, growthNFD)
	case "NFKC":
		return unicodeForm(func(s string) string { return hfNormalize(norm.NFKC, s) }, growthNFKC)
	case "NFKD":
		return unicodeForm(func(s string) string { return hfNormalize(norm.NFKD, s) }, growthNFKD)
	case "Prepend":
		if h.Prepend == nil {
			return nil, fmt.Errorf("%s: no \"prepend\"", where)
		}
		p := *h.Prepend
		// Per piece, and a piece is at least one byte.
		if err := b.grow(where, float64(1+len(p))); err != nil {
			return nil, err
		}
		return func(s string) (string, error) {
			// Hugging Face prepends to non-empty text only.
			if s == "" {
				return s, nil
			}
			return p + s, nil
		}, nil
	case "Replace":
		r, err := parseReplace(h.Pattern, h.Content, where)
		if err != nil {
			return nil, err
		}
		if err := b.grow(where, r.growth()); err != nil {
			return nil, err
		}
		return r.apply, nil
	case "Sequence":
		var seq []normalizer
		for i, r := range h.Normalizers {
			n, err := parseNormalizer(r, b, depth+1, fmt.Sprintf("%s[%d]", where, i))
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		switch len(seq) {
		case 0:
			return nil, nil
		case 1:
			return seq[0], nil
		}
		return func(s string) (string, error) {
			var err error
			for _, n := range seq {
				if s, err = n(s); err != nil {
					return "", err
				}
			}
			return s, nil
		}, nil
	}
	return nil, fmt.Errorf("%s: type %q is not supported (supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)", where, h.Type)
}

// replacer is the Replace normalizer and decoder: every match of a
// pattern (a literal String or a Regex) becomes content.
type replacer struct {
	f       finder
	lit     string // the String pattern, "" for a Regex
	regex   bool
	content string
	where   string
}

func parseReplace(pattern json.RawMessage, content *string, where string) (*replacer, error) {
	if content == nil {
		return nil, fmt.Errorf("%s: no \"content\"", where)
	}
	f, lit, regex, err := parsePattern(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &replacer{f: f, lit: lit, regex: regex, content: *content, where: where}, nil
}

// growth is the most bytes one input byte can become: a literal of n
// bytes becomes len(content); a regex may match every character or the
// empty string between them.
func (r *replacer) growth() float64 {
	c := float64(len(r.content))
	if !r.regex && r.lit != "" {
		return max(1, c/float64(len(r.lit)))
	}
	return 1 + 2*c
}

func (r *replacer) apply(s string) (string, error) {
	if s == "" {
		return s, nil
	}
	if !r.regex && r.lit != "" {
		return strings.ReplaceAll(s, r.lit, r.content), nil
	}
	matches, err := r.f.findAll(s, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", r.where, err)
	}
	if len(matches) == 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s) + len(matches)*len(r.content))
	prev := 0
	for _, m := range matches {
		b.WriteString(s[prev:m[0]])
		b.WriteString(r.content)
		prev = m[1]
	}
	b.WriteString(s[prev:])
	return b.String(), nil
}

// parsePattern reads a {"String": ...} or {"Regex": ...} pattern.
func parsePattern(raw json.RawMessage) (f finder, lit string, regex bool, err error) {
	var pat struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	}
	if err := json.Unmarshal(raw, &pat); err != nil {
		return nil, "", false, fmt.Errorf("pattern: %w", err)
	}
	switch {
	case pat.Regex != nil:
		f, err = newFinder(*pat.Regex)
		return f, "", true, err
	case pat.String != nil:
		f, err = newLiteralFinder(*pat.String)
		return f, *pat.String, false, err
	}
	return nil, "", false, fmt.Errorf("pattern has neither Regex nor String: %s", raw)
}

// nfcSafe marks the BMP runes that are in NFC and start a segment
// (canonical combining class 0, nothing composes with the rune before):
// a string of such runes is already NFC. Built on first use (8 KiB).
var nfcSafe = sync.OnceValue(func() *[0x10000 / 64]uint64 {
	var t [0x10000 / 64]uint64
	for r := rune(0); r < 0x10000; r++ {
		if r >= 0xD800 && r < 0xE000 {
			continue
		}
		s := string(r)
		if norm.NFC.PropertiesString(s).BoundaryBefore() && norm.NFC.IsNormalString(s) && !inRanges(hfNormFrozen, r) {
			t[r/64] |= 1 << (r % 64)
		}
	}
	return &t
})

// nfcString is hfNormalize(norm.NFC, s) with a fast path for text made
// only of segment-starting NFC runes (ASCII, most Latin, CJK, kana, Hangul
// syllables, ...), which is returned as is.
func nfcString(s string) string {
	safe := nfcSafe()
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if r >= 0x10000 || safe[r/64]&(1<<(r%64)) == 0 {
			return hfNormalize(norm.NFC, s)
		}
		i += w
	}
	return s
}

// hfNormalize is Hugging Face's Unicode normalization: Go's form f, except
// that the characters Hugging Face's older tables do not know
// (hfNormFrozen: marks, composites and letters of scripts added since) are
// left as they are, as characters without a decomposition, combining class
// or composition are. Such a character is a starter that composes with
// nothing, so the text on either side of it normalizes on its own.
func hfNormalize(f norm.Form, s string) string {
	var b strings.Builder
	start := 0
	bmp := hfFrozenBMP()
	for i, r := range s {
		if r < 0x10000 {
			if bmp[r/64]&(1<<(r%64)) == 0 {
				continue
			}
		} else if !inRanges(hfNormFrozen, r) {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s) + len(s)/4)
		}
		b.WriteString(f.String(s[start:i]))
		b.WriteRune(r)
		start = i + utf8.RuneLen(r)
	}
	if start == 0 {
		return f.String(s)
	}
	b.WriteString(f.String(s[start:]))
	return b.String()
}

// hfFrozenBMP is hfNormFrozen's BMP part as a bitmap (8 KiB), so that
// hfNormalize tests most runes with one load.
var hfFrozenBMP = sync.OnceValue(func() *[0x10000 / 64]uint64 {
	var t [0x10000 / 64]uint64
	for _, r := range hfNormFrozen {
		for c := r.lo; c <= r.hi && c < 0x10000; c++ {
			t[c/64] |= 1 << (c % 64)
		}
	}
	return &t
})

// Split behaviours of Hugging Face's SplitDelimiterBehavior.
const (
	behRemoved = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

// preStep is one pre-tokenizer: it splits a piece into pieces (appending to
// dst, dropping empty ones) and may transform them. atStart says the piece
// begins the input text (Hugging Face: its original offset is 0), which
// Metaspace's prepend_scheme "first" needs; keepsStart reports whether the
// first piece appended still does.
type preStep interface {
	apply(piece string, atStart bool, dst []string, scratch *[][2]int) (out []string, keepsStart bool, err error)
}

// splitStep is the Split pre-tokenizer (and Digits, which is a Split on
// numeric characters).
type splitStep struct {
	f        finder
	behavior int
	invert   bool
	where    string // names the component in errors
}

func (st *splitStep) apply(s string, _ bool, dst []string, scratch *[][2]int) ([]string, bool, error) {
	if s == "" {
		return dst, false, nil
	}
	matches, err := st.f.findAll(s, (*scratch)[:0])
	if err != nil {
		return dst, false, fmt.Errorf("%s: %w", st.where, err)
	}
	*scratch = matches
	// Fast path for the common Isolated split without invert: each match
	// and each gap is a piece.
	if st.behavior == behIsolated && !st.invert {
		prev := 0
		for _, m := range matches {
			if prev < m[0] {
				dst = append(dst, s[prev:m[0]])
			}
			if m[0] < m[1] {
				dst = append(dst, s[m[0]:m[1]])
			}
			prev = m[1]
		}
		if prev < len(s) {
			dst = append(dst, s[prev:])
		}
		return dst, true, nil
	}
	// General path, following NormalizedString::split: the string as a
	// list of (span, is_match), then the behaviour.
	type span struct {
		a, b    int
		isMatch bool
	}
	spans := make([]span, 0, 2*len(matches)+1)
	prev := 0
	for _, m := range matches {
		if prev != m[0] {
			spans = append(spans, span{prev, m[0], false})
		}
		spans = append(spans, span{m[0], m[1], true})
		prev = m[1]
	}
	if prev != len(s) {
		spans = append(spans, span{prev, len(s), false})
	}
	if st.invert {
		for i := range spans {
			spans[i].isMatch = !spans[i].isMatch
		}
	}
	var out []span
	switch st.behavior {
	case behIsolated:
		out = spans
	case behRemoved:
		for _, sp := range spans {
			if !sp.isMatch {
				out = append(out, sp)
			}
		}
	case behMergedWithPrevious:
		prevMatch := false
		for _, sp := range spans {
			if sp.isMatch && !prevMatch && len(out) > 0 {
				out[len(out)-1].b = sp.b
			} else {
				out = append(out, span{sp.a, sp.b, false})
			}
			prevMatch = sp.isMatch
		}
	case behMergedWithNext:
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.isMatch && !prevMatch && len(out) > 0 {
				out[len(out)-1].a = sp.a
			} else {
				out = append(out, span{sp.a, sp.b, false})
			}
			prevMatch = sp.isMatch
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case behContiguous:
		prevMatch := false
		for _, sp := range spans {
			if sp.isMatch == prevMatch && len(out) > 0 {
				out[len(out)-1].b = sp.b
			} else {
				out = append(out, span{sp.a, sp.b, false})
			}
			prevMatch = sp.isMatch
		}
	}
	// Only Removed (or invert) can drop the text's first bytes.
	keeps, first := false, true
	for _, sp := range out {
		if sp.a < sp.b {
			if first {
				keeps, first = sp.a == 0, false
			}
			dst = append(dst, s[sp.a:sp.b])
		}
	}
	return dst, keeps, nil
}

// numericFinder matches maximal runs (or single characters) of numeric
// characters: the Digits pre-tokenizer's char::is_numeric, which is the
// Unicode N categories like \p{N}.
type numericFinder struct{ individual bool }

func (f numericFinder) findAll(s string, dst [][2]int) ([][2]int, error) {
	for i := 0; i < len(s); {
		c, _, w := classAt(s, i)
		if c != clsNumber {
			i += w
			continue
		}
		j := i + w
		if !f.individual {
			j = runEnd(s, j, clsNumber)
		}
		dst = append(dst, [2]int{i, j})
		i = j
	}
	return dst, nil
}

// byteLevelStep is the ByteLevel pre-tokenizer. When it is the last step
// (mapLater), the byte-to-rune mapping is left to the model's byte path.
type byteLevelStep struct {
	addPrefixSpace bool
	useRegex       bool
	mapLater       bool
}

var gpt2Finder = gpt2Scanner{}

func (st *byteLevelStep) apply(s string, _ bool, dst []string, scratch *[][2]int) ([]string, bool, error) {
	if s == "" {
		return dst, false, nil
	}
	if st.addPrefixSpace && s[0] != ' ' {
		s = " " + s
	}
	start := len(dst)
	if st.useRegex {
		iso := splitStep{f: gpt2Finder, behavior: behIsolated}
		dst, _, _ = iso.apply(s, false, dst, scratch) // the GPT-2 scanner cannot fail
	} else {
		dst = append(dst, s)
	}
	if !st.mapLater {
		for i := start; i < len(dst); i++ {
			dst[i] = byteLevelString(dst[i])
		}
	}
	return dst, true, nil
}

// Metaspace prepend schemes.
const (
	prependAlways = iota
	prependFirst
	prependNever
)

// metaspaceStep is the Metaspace pre-tokenizer (SentencePiece style):
// spaces become the replacement (usually U+2581 "▁"), which is prepended
// by the prepend scheme, and with split each replacement starts a piece.
type metaspaceStep struct {
	rep     string
	prepend int
	split   bool
}

func (st *metaspaceStep) apply(s string, atStart bool, dst []string, _ *[][2]int) ([]string, bool, error) {
	if s == "" {
		return dst, false, nil
	}
	s = strings.ReplaceAll(s, " ", st.rep)
	if !strings.HasPrefix(s, st.rep) && (st.prepend == prependAlways || (st.prepend == prependFirst && atStart)) {
		s = st.rep + s
	}
	if !st.split {
		return append(dst, s), true, nil
	}
	// MergedWithNext on the replacement: each one begins a piece.
	prev := 0
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], st.rep)
		if k < 0 {
			break
		}
		if i+k > prev {
			dst = append(dst, s[prev:i+k])
			prev = i + k
		}
		i += k + len(st.rep)
	}
	return append(dst, s[prev:]), true, nil
}

// parsePreTokenizer flattens tokenizer.json's "pre_tokenizer" into steps.
func parsePreTokenizer(raw json.RawMessage, b *budget, depth int, where string) ([]preStep, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h struct {
		Type           string            `json:"type"`
		PreTokenizers  []json.RawMessage `json:"pretokenizers"`
		Pattern        json.RawMessage   `json:"pattern"`
		Behavior       string            `json:"behavior"`
		Invert         bool              `json:"invert"`
		AddPrefixSpace *bool             `json:"add_prefix_space"`
		UseRegex       *bool             `json:"use_regex"`
		Individual     bool              `json:"individual_digits"`
		Replacement    *string           `json:"replacement"`
		PrependScheme  *string           `json:"prepend_scheme"`
		Split          *bool             `json:"split"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := b.enter(depth, where); err != nil {
		return nil, err
	}
	where += " " + h.Type
	switch h.Type {
	case "Sequence":
		var steps []preStep
		for i, r := range h.PreTokenizers {
			s, err := parsePreTokenizer(r, b, depth+1, fmt.Sprintf("%s[%d]", where, i))
			if err != nil {
				return nil, err
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "Split":
		f, _, _, err := parsePattern(h.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		beh, err := parseBehavior(h.Behavior)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return []preStep{&splitStep{f: f, behavior: beh, invert: h.Invert, where: where}}, nil
	case "ByteLevel":
		st := &byteLevelStep{addPrefixSpace: true, useRegex: true}
		if h.AddPrefixSpace != nil {
			st.addPrefixSpace = *h.AddPrefixSpace
		}
		if h.UseRegex != nil {
			st.useRegex = *h.UseRegex
		}
		// Each byte becomes a rune of up to 2 bytes; the prefix space is
		// one more byte per piece.
		g := 2.0
		if st.addPrefixSpace {
			g = 4
		}
		if err := b.grow(where, g); err != nil {
			return nil, err
		}
		return []preStep{st}, nil
	case "Digits":
		beh := behContiguous
		if h.Individual {
			beh = behIsolated
		}
		return []preStep{&splitStep{f: numericFinder{individual: h.Individual}, behavior: beh, where: where}}, nil
	case "Metaspace":
		st, err := parseMetaspace(h.Replacement, h.AddPrefixSpace, h.PrependScheme, h.Split, where)
		if err != nil {
			return nil, err
		}
		// A space becomes the replacement, and each piece may get one more.
		r := float64(len(st.rep))
		if err := b.grow(where, max(1, r)+r); err != nil {
			return nil, err
		}
		return []preStep{st}, nil
	}
	return nil, fmt.Errorf("%s: type %q is not supported (supported: Split, ByteLevel, Digits, Metaspace, Sequence)", where, h.Type)
}

// parseMetaspace reads a Metaspace pre-tokenizer or decoder as Hugging
// Face deserializes it: the replacement is one character; the legacy
// add_prefix_space false means prepend_scheme "never" (and contradicts any
// other scheme); the scheme defaults to "always" and split to true.
func parseMetaspace(replacement *string, addPrefixSpace *bool, scheme *string, split *bool, where string) (*metaspaceStep, error) {
	if replacement == nil {
		return nil, fmt.Errorf("%s: no \"replacement\"", where)
	}
	if utf8.RuneCountInString(*replacement) != 1 {
		return nil, fmt.Errorf("%s: replacement %q is not one character", where, *replacement)
	}
	st := &metaspaceStep{rep: *replacement, prepend: prependAlways, split: true}
	if scheme != nil {
		switch *scheme {
		case "always":
			st.prepend = prependAlways
		case "first":
			st.prepend = prependFirst
		case "never":
			st.prepend = prependNever
		default:
			return nil, fmt.Errorf("%s: unknown prepend_scheme %q (want always, first or never)", where, *scheme)
		}
	}
	if addPrefixSpace != nil && !*addPrefixSpace {
		if scheme != nil && st.prepend != prependNever {
			return nil, fmt.Errorf("%s: add_prefix_space false contradicts prepend_scheme %q", where, *scheme)
		}
		st.prepend = prependNever
	}
	if split != nil {
		st.split = *split
	}
	return st, nil
}

func parseBehavior(s string) (int, error) {
	switch s {
	case "Removed":
		return behRemoved, nil
	case "Isolated":
		return behIsolated, nil
	case "MergedWithPrevious":
		return behMergedWithPrevious, nil
	case "MergedWithNext":
		return behMergedWithNext, nil
	case "Contiguous":
		return behContiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

// literalFinder matches a fixed string (Split's {"String": ...} pattern).
type literalFinder struct{ lit string }

func newLiteralFinder(lit string) (finder, error) {
	if lit == "" {
		// An empty literal would match everywhere; regexp2 handles it as
		// Oniguruma does (empty matches between characters).
		return newRegexp2Finder("")
	}
	return literalFinder{lit: lit}, nil
}

func (f literalFinder) findAll(s string, dst [][2]int) ([][2]int, error) {
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], f.lit)
		if k < 0 {
			break
		}
		dst = append(dst, [2]int{i + k, i + k + len(f.lit)})
		i += k + len(f.lit)
	}
	return dst, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
