package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// fragments are the pieces random test strings are built from: every
// character class the scanners distinguish, the contractions in all cases,
// and the whitespace mixes that exercise \s*[\r\n]+ and \s+(?!\S).
var fragments = []string{
	"a", "Z", "x", "hello", "World", "s", "t", "re", "RE", "ll", "LL", "ve", "m", "M", "d", "D",
	"'", "'s", "'S", "'t", "'T", "'re", "'Re", "'rE", "'ve", "'VE", "'m", "'ll", "'lL", "'d", "'x", "''", "'1",
	"0", "7", "42", "12345", "3.14", "٣", "²", "½", "Ⅻ", "𝟙",
	" ", "  ", "   ", "\t", "\n", "\r", "\r\n", "\n\n", " \n", "\n ", "\t\n\t", "\v", "\f",
	"\u00a0", "\u2003", "\u3000", "\u2028", "\u0085", "\u1680",
	".", ",", "!", "?", "-", "+", "=", "(", ")", "{", "}", "$", "\\", "^", "_", "\"", "`", "@", "#", "*", "/",
	"é", "ß", "Ω", "Привет", "你好", "世界", "。", "，", "：", "日本語", "한국어", "ı", "İ", "K",
	"e\u0301", "\u0301", "\u200d", "\ufe0f", "🙂", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "\ufffd", "\x01", "\x7f",
	"<|im_start|>", "<think>", "\\boxed{", "x_{i}^{2}",
}

func randomText(r *rand.Rand) string {
	n := r.IntN(24)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(fragments[r.IntN(len(fragments))])
	}
	return b.String()
}

// adversarial strings written by hand for the lookahead, the newline
// alternative and the optional prefix characters.
var adversarial = []string{
	"", " ", "  ", "\n", "\r\n", " \r\n ", "a  b", "a \n b", "  \n\n  x", "\t\tx", "x\t\t", "x   ",
	"   ", " \t \n \t ", "\n\n\n", "a\r\r\nb", "a\u00a0b", "a\u00a0\u00a0b", "\u3000你好", "'s's's",
	"'S'T'RE'VE'M'LL'D", "don't I'm we'll they'd've", "'", "''s", "x'", " 's", " '", "! !", " !!\n\n",
	"123456789", "1 2  3", " 1", "a1b2", "..\r\n", "?\n", "?\n\nx", " ?\n x", "a\n", "\na", "🙂🙂 🙂",
	"$x_{i}$", "ſ", "x'ſ", "e\u0301\u0301", "\u0301a", "a\u0301", " \u0301", "\u200d", "a\u200db",
}

func TestScannersMatchRegexp2(t *testing.T) {
	for _, c := range []struct {
		name    string
		pattern string
		fast    finder
	}{
		{"gpt2", gpt2Pattern, gpt2Scanner{}},
		{"llama3", llama3Pattern, llamaScanner{maxDigits: 3}},
		{"qwen2", qwen2Pattern, llamaScanner{maxDigits: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := newFinder(c.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if f != c.fast {
				t.Fatalf("newFinder did not select the scanner for %s", c.name)
			}
			ref, err := newRegexp2Finder(c.pattern)
			if err != nil {
				t.Fatal(err)
			}
			check := func(s string) {
				// U+017F is the one place where regexp2's (?i) (simple
				// lower-casing) differs from Oniguruma's case folding; the
				// scanner follows Oniguruma (TestLongSContraction).
				if strings.Contains(s, "ſ") {
					return
				}

				got, _ := c.fast.findAll(s, nil)
				want, err := ref.findAll(s, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%q:\nscanner %v\nregexp2 %v", s, got, want)
				}
			}
			for _, s := range adversarial {
				check(s)
			}
			r := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 20000; i++ {
				check(randomText(r))
			}
			// Random runes from the whole BMP and beyond.
			for i := 0; i < 5000; i++ {
				rs := make([]rune, r.IntN(12))
				for k := range rs {
					switch r.IntN(3) {
					case 0:
						rs[k] = rune(r.IntN(0x80))
					case 1:
						rs[k] = rune(r.IntN(0x3100))
					default:
						rs[k] = rune(r.IntN(0x30000))
					}
					if rs[k] >= 0xD800 && rs[k] < 0xE000 {
						rs[k] = 'x'
					}
				}
				check(string(rs))
			}
		})
	}
}

// TestLongSContraction pins Oniguruma's case folding in (?i:'s): U+017F
// LATIN SMALL LETTER LONG S folds to 's', so "'ſ" is a contraction.
func TestLongSContraction(t *testing.T) {
	got, _ := llamaScanner{maxDigits: 1}.findAll("x'ſt", nil)
	want := [][2]int{{0, 1}, {1, 4}, {4, 5}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSplitBehaviours(t *testing.T) {
	f := literalFinder{lit: "-"}
	cases := []struct {
		beh    int
		invert bool
		in     string
		want   []string
	}{
		{behRemoved, false, "the-final--countdown", []string{"the", "final", "countdown"}},
		{behIsolated, false, "the-final--countdown", []string{"the", "-", "final", "-", "-", "countdown"}},
		{behMergedWithPrevious, false, "the-final--countdown", []string{"the-", "final-", "-", "countdown"}},
		{behMergedWithNext, false, "the-final--countdown", []string{"the", "-final", "-", "-countdown"}},
		{behContiguous, false, "the-final--countdown", []string{"the", "-", "final", "--", "countdown"}},
		{behRemoved, true, "the-final--countdown", []string{"-", "-", "-"}},
		{behMergedWithPrevious, true, "the-final--countdown", []string{"the", "-final", "-", "-countdown"}},
		{behIsolated, false, "-", []string{"-"}},
		{behMergedWithNext, false, "a-", []string{"a", "-"}},
	}
	for _, c := range cases {
		st := &splitStep{f: f, behavior: c.beh, invert: c.invert}
		var scratch [][2]int
		got, _, _ := st.apply(c.in, false, nil, &scratch)
		if !slices.Equal(got, c.want) {
			t.Errorf("behaviour %d invert %v on %q: got %q, want %q", c.beh, c.invert, c.in, got, c.want)
		}
	}
}
