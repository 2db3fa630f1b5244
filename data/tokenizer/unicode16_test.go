package tokenizer

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unicode"
	"unicode/utf8"
)

// assigned15 reports whether Go's Unicode 15.0 tables assign r.
func assigned15(r rune) bool {
	for _, t := range []*unicode.RangeTable{unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs} {
		if unicode.Is(t, r) {
			return true
		}
	}
	return false
}

// newSince15 reports whether r is unassigned in Go's tables but a letter,
// number or space in Unicode 16.0.
func newSince15(r rune) bool { return !assigned15(r) && runeClass(r) != clsOther }

// TestUnicode16Tables checks the generated tables against Go's Unicode
// 15.0 ones: they must agree on every character both assign (general
// categories of assigned characters are stable), and differ only on
// characters assigned since, of which there must be thousands (Unicode 15.1
// and 16.0 added about 5,800 letters and numbers).
func TestUnicode16Tables(t *testing.T) {
	go15 := func(r rune) uint8 {
		switch {
		case unicode.IsLetter(r):
			return clsLetter
		case unicode.IsNumber(r):
			return clsNumber
		case unicode.IsSpace(r):
			return clsSpace
		}
		return clsOther
	}
	isWord15 := func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r) ||
			unicode.Is(unicode.Join_Control, r) || unicode.Is(unicode.Other_Alphabetic, r) || unicode.Is(unicode.Nl, r)
	}
	added, changed := 0, 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		got := runeClass(r)
		if r < 0x10000 && bmpClass()[r] != got {
			t.Fatalf("U+%04X: BMP table %d, range table %d", r, bmpClass()[r], got)
		}
		if !assigned15(r) {
			if got != clsOther {
				added++
			}
			continue
		}
		if want := go15(r); got != want {
			changed++
			if changed <= 10 {
				t.Errorf("U+%04X (assigned in 15.0): class %d, Go's tables say %d", r, got, want)
			}
		}
		if isWordRune(r) != isWord15(r) {
			t.Errorf("U+%04X: isWordRune %v, Go's tables say %v", r, isWordRune(r), isWord15(r))
		}
	}
	if changed > 0 {
		t.Errorf("%d characters assigned in 15.0 changed class", changed)
	}
	if added < 5000 || added > 7000 {
		t.Errorf("%d letters/numbers/spaces assigned since 15.0, want about 5,800", added)
	}
	// Spot checks of Unicode 16.0 additions.
	for _, c := range []struct {
		r    rune
		cls  uint8
		word bool
	}{
		{0x10D50, clsLetter, true}, // GARAY CAPITAL LETTER A
		{0x10D70, clsLetter, true}, // GARAY SMALL LETTER A
		{0x10D40, clsNumber, true}, // GARAY DIGIT ZERO
		{0x11BC0, clsLetter, true}, // SUNUWAR LETTER DEVI
		{0x11BF0, clsNumber, true}, // SUNUWAR DIGIT ZERO
		{0x11380, clsLetter, true}, // TULU-TIGALARI LETTER A
		{0x1CC00, clsOther, false}, // UP-POINTING GO-KART (So)
		{0xA7CB, clsLetter, true},  // LATIN CAPITAL LETTER RAMS HORN
		{0x2EBF0, clsLetter, true}, // CJK Extension I (15.1)
	} {
		if got := runeClass(c.r); got != c.cls {
			t.Errorf("U+%04X: class %d, want %d", c.r, got, c.cls)
		}
		if got := isWordRune(c.r); got != c.word {
			t.Errorf("U+%04X: isWordRune %v, want %v", c.r, got, c.word)
		}
	}
}

// u16Reference is testdata/unicode16_reference.json.gz, written by
// unicode16_reference.js with Hugging Face tokenizers.
type u16Reference struct {
	Version       string   `json:"tokenizers_version"`
	Corpus        []string `json:"corpus"`
	PreTokenizers map[string]struct {
		Tokenizer json.RawMessage `json:"tokenizer"`
		Pieces    [][]string      `json:"pieces"`
	} `json:"pretokenizers"`
	TinyIDs  []string `json:"tiny_ids"`
	Qwen3IDs []string `json:"qwen3_ids"`
}

func loadU16Reference(t *testing.T, path string) u16Reference {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var ref u16Reference
	if err := json.NewDecoder(zr).Decode(&ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Corpus) < 400 || len(ref.PreTokenizers) < 4 || len(ref.TinyIDs) != len(ref.Corpus) {
		t.Fatalf("%s too small: %d strings, %d pre-tokenizers", path, len(ref.Corpus), len(ref.PreTokenizers))
	}
	return ref
}

// TestUnicode16Reference compares the pre-tokenizer pieces of the GPT-2,
// Llama 3 and Qwen2 scanners and of Digits, a single_word added token's
// word boundaries, and (with the fixture) Qwen3's ids with Hugging Face on
// text full of characters assigned in Unicode 15.1 and 16.0.
func TestUnicode16Reference(t *testing.T) {
	ref := loadU16Reference(t, filepath.Join("testdata", "unicode16_reference.json.gz"))
	checkU16Reference(t, ref)
}

func checkU16Reference(t *testing.T, ref u16Reference) {
	newChars := 0
	for _, s := range ref.Corpus {
		for _, r := range s {
			if newSince15(r) {
				newChars++
			}
		}
	}
	if newChars < 500 {
		t.Fatalf("only %d characters new since Unicode 15.0 in the corpus", newChars)
	}
	for name, v := range ref.PreTokenizers {
		t.Run(name, func(t *testing.T) {
			tok, err := Parse(v.Tokenizer)
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i, s := range ref.Corpus {
				got := pieces(tok, s)
				if tok.byteLevelIn {
					for k := range got {
						got[k] = byteLevelString(got[k])
					}
				}
				if !slices.Equal(got, v.Pieces[i]) && !(len(got) == 0 && len(v.Pieces[i]) == 0) {
					bad++
					if bad <= 5 {
						t.Errorf("pieces of %q (tokenizers %s)\n got %q\nwant %q", s, ref.Version, got, v.Pieces[i])
					}
				}
				if name == "qwen2" {
					if got, want := tok.Encode(s), parseIDList(ref.TinyIDs[i]); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
						t.Errorf("Encode(%q) with single_word \"ony\" = %v, want %v", s, got, want)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d differ", bad, len(ref.Corpus))
			}
		})
	}
	t.Run("qwen3", func(t *testing.T) {
		if ref.Qwen3IDs == nil {
			t.Skip("reference written without the Qwen3 fixture")
		}
		tok := qwen3(t)
		for i, s := range ref.Corpus {
			if got, want := tok.Encode(s), parseIDList(ref.Qwen3IDs[i]); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("Encode(%q)\n got %v\nwant %v", s, got, want)
			}
		}
	})
}

// onigSets is testdata/oniguruma_sets.json.gz, written by
// oniguruma_sets.js: what Hugging Face's Oniguruma matches for each
// pattern, probed over every code point.
type onigSets struct {
	Version string                     `json:"tokenizers_version"`
	Sets    map[string]json.RawMessage `json:"sets"`
}

// TestOnigurumaSets checks the scanners' classes on every code point, and
// regexp2 running rewritten patterns on all the characters assigned since
// Unicode 15.0 and a sample of the others, against Oniguruma's sets.
func TestOnigurumaSets(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "oniguruma_sets.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var ref onigSets
	if err := json.NewDecoder(zr).Decode(&ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Sets) < 40 {
		t.Fatalf("only %d sets", len(ref.Sets))
	}
	set := func(p string) []runeRange {
		var rs [][2]rune
		if err := json.Unmarshal(ref.Sets[p], &rs); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out := make([]runeRange, len(rs))
		for i, r := range rs {
			out[i] = runeRange{r[0], r[1]}
		}
		return out
	}
	letter, number, space, unassigned := set(`\p{L}`), set(`\p{N}`), set(`\s`), set(`\p{Cn}`)
	// The samples: every character whose category Go's tables do not know,
	// and every 61st other one.
	var sample []rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r < 0xE000 {
			continue
		}
		want := uint8(clsOther)
		switch {
		case inRanges(letter, r):
			want = clsLetter
		case inRanges(number, r):
			want = clsNumber
		case inRanges(space, r):
			want = clsSpace
		}
		if got := runeClass(r); got != want {
			t.Errorf("U+%04X: class %d, Oniguruma's %d", r, got, want)
		}
		if (!assigned15(r) && !inRanges(unassigned, r)) || r%61 == 0 {
			sample = append(sample, r)
		}
	}
	text := string(sample)
	for p := range ref.Sets {
		want := set(p)
		t.Run(p, func(t *testing.T) {
			f, err := newRegexp2Finder(p)
			if err != nil {
				t.Fatal(err)
			}
			matches, err := f.findAll(text, nil)
			if err != nil {
				t.Fatal(err)
			}
			matched := map[int]bool{}
			for _, m := range matches {
				if _, w := utf8.DecodeRuneInString(text[m[0]:]); m[1]-m[0] != w {
					t.Fatalf("match %v is not one character", m)
				}
				matched[m[0]] = true
			}
			bad := 0
			for i, r := range text {
				if matched[i] != inRanges(want, r) {
					if bad++; bad <= 5 {
						t.Errorf("U+%04X: regexp2 matches %v, Oniguruma %v", r, matched[i], !matched[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d characters differ", bad, len(sample))
			}
		})
	}
}
