package tokenizer

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedMatcher finds added tokens in text like Hugging Face's
// AddedVocabulary: leftmost-longest matching (its Aho-Corasick automaton),
// then the single_word, lstrip and rstrip rules.
type addedMatcher struct {
	toks []addedToken
	// byFirst[b] lists indices into toks of the patterns starting with byte
	// b, longest first.
	byFirst [256][]int
	pats    []string // the pattern each token is matched by (normalized content for normalized tokens)
}

func newAddedMatcher(toks []addedToken, pats []string) *addedMatcher {
	m := &addedMatcher{toks: toks, pats: pats}
	for i, p := range pats {
		if p == "" {
			continue
		}
		m.byFirst[p[0]] = append(m.byFirst[p[0]], i)
	}
	for b := range m.byFirst {
		l := m.byFirst[b]
		sort.SliceStable(l, func(x, y int) bool { return len(pats[l[x]]) > len(pats[l[y]]) })
	}
	return m
}

func (m *addedMatcher) empty() bool { return m == nil || len(m.toks) == 0 }

// match returns the leftmost-longest occurrence at or after from: its token
// index and byte span, or ok=false.
func (m *addedMatcher) match(s string, from int) (idx, start, end int, ok bool) {
	for i := from; i < len(s); i++ {
		cands := m.byFirst[s[i]]
		for _, c := range cands {
			if strings.HasPrefix(s[i:], m.pats[c]) {
				return c, i, i + len(m.pats[c]), true
			}
		}
	}
	return 0, 0, 0, false
}

// isWordRune is the Unicode \w of Rust's regex crate (Alphabetic, marks,
// decimal numbers, connector punctuation, joiners), from Unicode 16.0.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || (r >= '0' && r <= '9') || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	return inRanges(unicode16Word, r)
}

// isSpaceRune is Rust's char::is_whitespace (White_Space), from Unicode 16.0.
func isSpaceRune(r rune) bool { return runeClass(r) == clsSpace }

// split calls emit for each piece of s in order: added tokens with their id,
// the text between them with id -1. Empty text pieces are not emitted.
func (m *addedMatcher) split(s string, emit func(piece string, id int32)) {
	if m.empty() {
		if s != "" {
			emit(s, -1)
		}
		return
	}
	startOffset := 0
	pos := 0
	for pos < len(s) {
		idx, start, stop, ok := m.match(s, pos)
		if !ok {
			break
		}
		pos = stop
		tok := &m.toks[idx]
		if tok.SingleWord {
			startSpace := start == 0
			if !startSpace {
				r, _ := utf8.DecodeLastRuneInString(s[:start])
				startSpace = !isWordRune(r)
			}
			stopSpace := stop == len(s)
			if !stopSpace {
				r, _ := utf8.DecodeRuneInString(s[stop:])
				stopSpace = !isWordRune(r)
			}
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			ns := start
			for ns > 0 {
				r, w := utf8.DecodeLastRuneInString(s[:ns])
				if !isSpaceRune(r) {
					break
				}
				ns -= w
			}
			start = max(ns, startOffset)
		}
		if tok.RStrip {
			for stop < len(s) {
				r, w := utf8.DecodeRuneInString(s[stop:])
				if !isSpaceRune(r) {
					break
				}
				stop += w
			}
			pos = stop
		}
		if startOffset < start {
			emit(s[startOffset:start], -1)
		}
		emit(s[start:stop], tok.ID)
		startOffset = stop
	}
	if startOffset < len(s) {
		emit(s[startOffset:], -1)
	}
}
