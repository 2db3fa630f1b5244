package tokenizer

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// sequence nests v in depth Sequences (key names their list field).
func sequence(key string, v any, depth int) any {
	for i := 0; i < depth; i++ {
		v = map[string]any{"type": "Sequence", key: []any{v}}
	}
	return v
}

func repeatList(v any, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestPipelineBounds: hostile tokenizer.json files that would exhaust
// memory are refused on load, naming the component.
func TestPipelineBounds(t *testing.T) {
	bl := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}
	nfc := map[string]any{"type": "NFC"}
	rep := func(content string) map[string]any {
		return map[string]any{"type": "Replace", "pattern": map[string]any{"String": "a"}, "content": content}
	}
	cases := []struct {
		name  string
		extra map[string]any
		want  []string // substrings of the error
	}{
		// 30 chained ByteLevels double the text 30 times (an OOM before).
		{"30 ByteLevel", map[string]any{"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": repeatList(bl, 30)}},
			[]string{"pre_tokenizer Sequence[8] ByteLevel", "512 bytes of one byte", "limit 256x"}},
		{"nested pre_tokenizer", map[string]any{"pre_tokenizer": sequence("pretokenizers", bl, 12)},
			[]string{"pre_tokenizer Sequence[0] Sequence[0]", "nested 9 deep"}},
		{"nested normalizer", map[string]any{"normalizer": sequence("normalizers", nfc, 20)},
			[]string{"normalizer Sequence[0]", "nested 9 deep"}},
		{"nested decoder", map[string]any{"decoder": sequence("decoders", map[string]any{"type": "Fuse"}, 9)},
			[]string{"decoder Sequence[0]", "nested 9 deep"}},
		{"too many normalizers", map[string]any{"normalizer": map[string]any{"type": "Sequence", "normalizers": repeatList(map[string]any{"type": "NFD"}, 70)}},
			[]string{"normalizer Sequence", "NFD"}},
		{"too many components", map[string]any{"decoder": map[string]any{"type": "Sequence", "decoders": repeatList(map[string]any{"type": "Fuse"}, 100)}},
			[]string{"decoder Sequence[63]", "more than 64 components in the decoder"}},
		{"huge Replace", map[string]any{"normalizer": rep(strings.Repeat("x", 1000))},
			[]string{"normalizer Replace", "1000x"}},
		{"chained Replace", map[string]any{"normalizer": map[string]any{"type": "Sequence", "normalizers": repeatList(rep("aa"), 30)}},
			[]string{"normalizer Sequence[8] Replace", "limit 256x"}},
		{"NFKC then Metaspace then ByteLevel", map[string]any{
			"normalizer":    map[string]any{"type": "NFKC"},
			"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{map[string]any{"type": "Metaspace", "replacement": "▁"}, bl, bl}}},
			[]string{"pre_tokenizer Sequence[2] ByteLevel", "264 bytes"}},
		{"chained Replace decoders", map[string]any{"decoder": map[string]any{"type": "Sequence", "decoders": repeatList(rep("aa"), 30)}},
			[]string{"decoder Sequence[8] Replace", "the decoders up to here"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := map[string]any{"added_tokens": []any{}, "model": map[string]any{"type": "BPE", "vocab": map[string]int{"a": 0}, "merges": []any{}}}
			for k, v := range c.extra {
				f[k] = v
			}
			data, _ := json.Marshal(f)
			_, err := Parse(data)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// The real pipelines are far inside the bounds.
	for _, c := range []map[string]any{
		{"normalizer": nfc, "pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{bl}}},
		{"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}}}},
	} {
		f := map[string]any{"added_tokens": []any{}, "model": map[string]any{"type": "BPE", "vocab": map[string]int{"a": 0}, "merges": []any{}}}
		for k, v := range c {
			f[k] = v
		}
		data, _ := json.Marshal(f)
		if _, err := Parse(data); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
}

// TestRegexTimeout: a Split regex with catastrophic backtracking ((a+)+b
// hung for over a minute) fails after regexTimeout with an error naming
// the component, and Encode returns nil rather than a partial encoding.
func TestRegexTimeout(t *testing.T) {
	pre := map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `(a+)+b`}, "behavior": "Isolated", "invert": false},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
	}}
	tok := tinyTokenizer(t, nil, false, nil, map[string]any{"pre_tokenizer": pre})
	text := "xy " + strings.Repeat("a", 40)
	ids, err := tok.EncodeChecked(text)
	if err == nil {
		t.Fatalf("EncodeChecked = %v, want a timeout", ids)
	}
	for _, w := range []string{"pre_tokenizer Sequence[0] Split", "(a+)+b", "timeout"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if got := tok.Encode(text); got != nil {
		t.Errorf("Encode = %v, want nil", got)
	}
	if got := tok.AppendEncode([]int32{7}, text); len(got) != 1 || got[0] != 7 {
		t.Errorf("AppendEncode = %v, want the input unchanged", got)
	}
	// Text the pattern handles quickly still encodes.
	if got, err := tok.EncodeChecked("aab"); err != nil || len(got) != 3 {
		t.Errorf("EncodeChecked(aab) = %v, %v", got, err)
	}
}

// TestNormalizationGrowth checks the growth factors the budget assumes for
// the Unicode normalization forms on every assigned character.
func TestNormalizationGrowth(t *testing.T) {
	forms := []struct {
		name   string
		f      norm.Form
		growth int
	}{{"NFC", norm.NFC, growthNFC}, {"NFD", norm.NFD, growthNFD}, {"NFKC", norm.NFKC, growthNFKC}, {"NFKD", norm.NFKD, growthNFKD}}
	worst := make([]int, len(forms))
	var buf [utf8.UTFMax]byte
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !assigned15(r) || unicode.Is(unicode.Cs, r) {
			continue
		}
		n := utf8.EncodeRune(buf[:], r)
		for i, f := range forms {
			out := len(f.f.Bytes(buf[:n]))
			if out > f.growth*n {
				t.Errorf("%s(U+%04X) is %d bytes from %d, above the assumed %dx", f.name, r, out, n, f.growth)
			}
			worst[i] = max(worst[i], (out+n-1)/n)
		}
	}
	// The factors are tight: some character reaches each.
	for i, f := range forms {
		if worst[i] != f.growth {
			t.Errorf("%s: worst growth %dx, assumed %dx", f.name, worst[i], f.growth)
		}
	}
}
