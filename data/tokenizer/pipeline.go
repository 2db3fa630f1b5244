package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a piece of text before pre-tokenization.
type normalizer func(string) string

// parseNormalizer builds the normalizer of tokenizer.json's "normalizer"
// field (nil when null). Supported: NFC, NFD, NFKC, NFKD and Sequence.
func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch h.Type {
	case "NFC":
		return nfcString, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "Sequence":
		var seq []normalizer
		for i, r := range h.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, fmt.Errorf("normalizer Sequence[%d]: %w", i, err)
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		if len(seq) == 0 {
			return nil, nil
		}
		return func(s string) string {
			for _, n := range seq {
				s = n(s)
			}
			return s
		}, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported (supported: NFC, NFD, NFKC, NFKD, Sequence)", h.Type)
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
		if norm.NFC.PropertiesString(s).BoundaryBefore() && norm.NFC.IsNormalString(s) {
			t[r/64] |= 1 << (r % 64)
		}
	}
	return &t
})

// nfcString is norm.NFC.String with a fast path for text made only of
// segment-starting NFC runes (ASCII, most Latin, CJK, kana, Hangul
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
			return norm.NFC.String(s)
		}
		i += w
	}
	return s
}

// Split behaviours of Hugging Face's SplitDelimiterBehavior.
const (
	behRemoved = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

// preStep is one pre-tokenizer: it splits a piece into pieces (appending to
// dst, dropping empty ones) and may transform them.
type preStep interface {
	apply(piece string, dst []string, scratch *[][2]int) []string
}

// splitStep is the Split pre-tokenizer (and Digits, which is a Split on
// numeric characters).
type splitStep struct {
	f        finder
	behavior int
	invert   bool
}

func (st *splitStep) apply(s string, dst []string, scratch *[][2]int) []string {
	if s == "" {
		return dst
	}
	matches := st.f.findAll(s, (*scratch)[:0])
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
		return dst
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
	for _, sp := range out {
		if sp.a < sp.b {
			dst = append(dst, s[sp.a:sp.b])
		}
	}
	return dst
}

// numericFinder matches maximal runs (or single characters) of numeric
// characters: the Digits pre-tokenizer's char::is_numeric, which is the
// Unicode N categories like \p{N}.
type numericFinder struct{ individual bool }

func (f numericFinder) findAll(s string, dst [][2]int) [][2]int {
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
	return dst
}

// byteLevelStep is the ByteLevel pre-tokenizer. When it is the last step
// (mapLater), the byte-to-rune mapping is left to the model's byte path.
type byteLevelStep struct {
	addPrefixSpace bool
	useRegex       bool
	mapLater       bool
}

var gpt2Finder = gpt2Scanner{}

func (st *byteLevelStep) apply(s string, dst []string, scratch *[][2]int) []string {
	if s == "" {
		return dst
	}
	if st.addPrefixSpace && s[0] != ' ' {
		s = " " + s
	}
	start := len(dst)
	if st.useRegex {
		iso := splitStep{f: gpt2Finder, behavior: behIsolated}
		dst = iso.apply(s, dst, scratch)
	} else {
		dst = append(dst, s)
	}
	if !st.mapLater {
		for i := start; i < len(dst); i++ {
			dst[i] = byteLevelString(dst[i])
		}
	}
	return dst
}

// parsePreTokenizer flattens tokenizer.json's "pre_tokenizer" into steps.
func parsePreTokenizer(raw json.RawMessage) ([]preStep, error) {
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
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch h.Type {
	case "Sequence":
		var steps []preStep
		for i, r := range h.PreTokenizers {
			s, err := parsePreTokenizer(r)
			if err != nil {
				return nil, fmt.Errorf("pre_tokenizer Sequence[%d]: %w", i, err)
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "Split":
		var pat struct {
			Regex  *string `json:"Regex"`
			String *string `json:"String"`
		}
		if err := json.Unmarshal(h.Pattern, &pat); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split pattern: %w", err)
		}
		var f finder
		var err error
		switch {
		case pat.Regex != nil:
			f, err = newFinder(*pat.Regex)
		case pat.String != nil:
			f, err = newLiteralFinder(*pat.String)
		default:
			err = fmt.Errorf("pattern has neither Regex nor String: %s", h.Pattern)
		}
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		b, err := parseBehavior(h.Behavior)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		return []preStep{&splitStep{f: f, behavior: b, invert: h.Invert}}, nil
	case "ByteLevel":
		st := &byteLevelStep{addPrefixSpace: true, useRegex: true}
		if h.AddPrefixSpace != nil {
			st.addPrefixSpace = *h.AddPrefixSpace
		}
		if h.UseRegex != nil {
			st.useRegex = *h.UseRegex
		}
		return []preStep{st}, nil
	case "Digits":
		b := behContiguous
		if h.Individual {
			b = behIsolated
		}
		return []preStep{&splitStep{f: numericFinder{individual: h.Individual}, behavior: b}}, nil
	}
	return nil, fmt.Errorf("pre_tokenizer type %q is not supported (supported: Split, ByteLevel, Digits, Sequence)", h.Type)
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

func (f literalFinder) findAll(s string, dst [][2]int) [][2]int {
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], f.lit)
		if k < 0 {
			break
		}
		dst = append(dst, [2]int{i + k, i + k + len(f.lit)})
		i += k + len(f.lit)
	}
	return dst
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
