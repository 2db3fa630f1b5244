package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// pieces runs only the pre-tokenizers of tok on s (as the start of a text).
func pieces(tok *Tokenizer, s string) []string {
	e := encoder{t: tok}
	if err := e.preTokenize(s, true); err != nil {
		panic(err)
	}
	return e.pieces
}

// TestQwenPreTokenization pins the Qwen2/Qwen3 regex's splits on the cases
// the issue lists (hand-derived from Oniguruma's semantics).
func TestQwenPreTokenization(t *testing.T) {
	tok := qwen3(t)
	cases := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"12345678", []string{"1", "2", "3", "4", "5", "6", "7", "8"}},
		{"3.14 -42", []string{"3", ".", "1", "4", " -", "4", "2"}},
		{"I'M here, you'LL see; it's", []string{"I", "'M", " here", ",", " you", "'LL", " see", ";", " it", "'s"}},
		{"they'd've", []string{"they", "'d", "'ve"}},
		{"'sa", []string{"'s", "a"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a \n\n b", []string{"a", " \n\n", " b"}},
		{"x   ", []string{"x", "   "}},
		{"   ", []string{"   "}},
		{" ", []string{" "}},
		{"\r\n\ttabs", []string{"\r\n", "\ttabs"}},
		{"\t\t end", []string{"\t\t", " end"}},
		{"!!!\n\nx", []string{"!!!\n\n", "x"}},
		{"a \n \n  b", []string{"a", " \n \n", " ", " b"}},
		{"👍🏽 ok", []string{"👍🏽", " ok"}},
		{"👨\u200d👩\u200d👧!", []string{"👨\u200d👩\u200d👧!"}},
		{"你好，世界。", []string{"你好", "，世界", "。"}},
		{"«Привет»", []string{"«Привет", "»"}},
		{"\u00a0word", []string{"\u00a0word"}},
		{"x\u3000\u3000y", []string{"x", "\u3000", "\u3000y"}},
		{"$x_{i}^{2}$", []string{"$x", "_{", "i", "}^{", "2", "}$"}},
	}
	for _, c := range cases {
		if got := pieces(tok, c.in); !slices.Equal(got, c.want) {
			t.Errorf("pieces(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestRoundTrip: decoding an encoding gives back the NFC text; invalid
// UTF-8 is encoded as U+FFFD per invalid byte.
func TestRoundTrip(t *testing.T) {
	tok := qwen3(t)
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 3000; i++ {
		s := randomText(r)
		ids := tok.Encode(s)
		if got, want := tok.Decode(ids), norm.NFC.String(s); got != want {
			t.Fatalf("Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
	}
	// Invalid UTF-8: one U+FFFD per invalid byte.
	for in, same := range map[string]string{
		"a\xffb":         "a\ufffdb",
		"\xe2\x82":       "\ufffd\ufffd",
		"ok\xf0\x9f\x99": "ok\ufffd\ufffd\ufffd",
		"\xc3\x28":       "\ufffd(",
	} {
		if got, want := tok.Encode(in), tok.Encode(same); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want Encode(%q) = %v", in, got, same, want)
		}
	}
}

// TestBPEMatchesNaive compares the priority-queue merge with the textbook
// loop (merge the lowest-ranked pair, leftmost first, until none applies)
// on the Qwen3 merges.
func TestBPEMatchesNaive(t *testing.T) {
	tok := qwen3(t)
	m := tok.model
	naive := func(c []int32) []int32 {
		c = slices.Clone(c)
		for {
			best, at := int32(-1), -1
			var id int32
			for i := 0; i+1 < len(c); i++ {
				if v, ok := m.merges[pairKey(c[i], c[i+1])]; ok && (at < 0 || v.rank < best) {
					best, at, id = v.rank, i, v.id
				}
			}
			if at < 0 {
				return c
			}
			c = append(c[:at+1], c[at+2:]...)
			c[at] = id
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	words := []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "                 ", "internationalization", "你好世界你好世界", "🙂🙂🙂"}
	for i := 0; i < 3000; i++ {
		words = append(words, randomText(r))
	}
	for _, w := range words {
		syms := make([]int32, len(w))
		for i := 0; i < len(w); i++ {
			syms[i] = m.byteIDs[w[i]]
		}
		if got, want := m.mergeAll(slices.Clone(syms)), naive(syms); !slices.Equal(got, want) {
			t.Fatalf("%q: heap %v, naive %v", w, got, want)
		}
	}
}

func TestStreamDecoder(t *testing.T) {
	tok := qwen3(t)
	r := rand.New(rand.NewPCG(11, 12))
	texts := []string{"emoji 🙂👍🏽 and café naïve Ångström", "你好，世界。数学题：1+1=？", "👨\u200d👩\u200d👧"}
	for i := 0; i < 300; i++ {
		texts = append(texts, randomText(r))
	}
	for _, s := range texts {
		ids := tok.Encode(s)
		d := tok.NewStreamDecoder()
		var b strings.Builder
		for _, id := range ids {
			out := d.Next(id)
			if !utf8.ValidString(out) {
				t.Fatalf("%q: Next emitted invalid UTF-8 %q", s, out)
			}
			b.WriteString(out)
		}
		b.WriteString(d.Flush())
		if got, want := b.String(), tok.Decode(ids); got != want {
			t.Fatalf("stream %q, Decode %q", got, want)
		}
	}
	// A character split over two tokens is held back, then emitted whole:
	// "🙂" is bytes F0 9F 99 82; byte-level tokens for F0 9F and 99 82.
	d := tok.NewStreamDecoder()
	a, ok1 := tok.TokenID(byteLevelString("\xf0\x9f"))
	b, ok2 := tok.TokenID(byteLevelString("\x99\x82"))
	if !ok1 || !ok2 {
		t.Fatal("byte pair tokens missing from the Qwen3 vocabulary")
	}
	if out := d.Next(a); out != "" {
		t.Errorf("first half emitted %q", out)
	}
	if out := d.Next(b); out != "🙂" {
		t.Errorf("second half emitted %q, want 🙂", out)
	}
	// An incomplete character at the end flushes as U+FFFD; invalid bytes
	// do not block the stream.
	d.Next(a)
	if out := d.Flush(); out != "\ufffd" {
		t.Errorf("Flush = %q", out)
	}
	x, _ := tok.TokenID(byteLevelString("\xff"))
	if out := d.Next(x); out != "\ufffd" {
		t.Errorf("invalid byte emitted %q", out)
	}
}

func TestEncodeBatchMatchesEncode(t *testing.T) {
	tok := qwen3(t)
	r := rand.New(rand.NewPCG(13, 14))
	texts := make([]string, 200)
	for i := range texts {
		texts[i] = randomText(r)
	}
	got := tok.EncodeBatch(texts)
	for i, s := range texts {
		if !slices.Equal(got[i], tok.Encode(s)) {
			t.Fatalf("EncodeBatch[%d] differs for %q", i, s)
		}
	}
	if len(tok.EncodeBatch(nil)) != 0 {
		t.Fatal("EncodeBatch(nil) not empty")
	}
	// The same on a pre-tokenizer that runs on regexp2 (shared between
	// goroutines).
	pre := map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\p{L}+|\s+(?!\S)`}, "behavior": "Isolated", "invert": false},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
	}}
	tiny := tinyTokenizer(t, []string{"h e", "l l"}, false, nil, map[string]any{"pre_tokenizer": pre})
	got = tiny.EncodeBatch(texts)
	for i, s := range texts {
		if !slices.Equal(got[i], tiny.Encode(s)) {
			t.Fatalf("regexp2 EncodeBatch[%d] differs for %q", i, s)
		}
	}
}

func TestQwenConfigAndSpecials(t *testing.T) {
	tok := qwen3(t)
	if n := tok.VocabSize(); n != 151669 {
		t.Errorf("VocabSize = %d, want 151669", n)
	}
	if s, id, ok := tok.EOS(); !ok || s != "<|im_end|>" || id != 151645 {
		t.Errorf("EOS = %q %d %v", s, id, ok)
	}
	if s, id, ok := tok.Pad(); !ok || s != "<|endoftext|>" || id != 151643 {
		t.Errorf("Pad = %q %d %v", s, id, ok)
	}
	if _, _, ok := tok.BOS(); ok {
		t.Error("Qwen3 has no BOS")
	}
	if !tok.IsSpecial(151645) || tok.IsSpecial(151667) {
		t.Error("IsSpecial wrong for <|im_end|> / <think>")
	}
	ids := []int32{151644, 872, 198, 9707, 151645}
	if got := tok.DecodeSkipSpecial(ids); got != "user\nHello" {
		t.Errorf("DecodeSkipSpecial = %q", got)
	}
	// Qwen's post-processor is ByteLevel: EncodeSpecial adds nothing.
	if !slices.Equal(tok.EncodeSpecial("Hello world"), tok.Encode("Hello world")) {
		t.Error("EncodeSpecial differs from Encode for Qwen3")
	}
	// Added tokens are matched whole even inside words, and a partial one
	// is plain text.
	if got := tok.Encode("x<think>y<|im_end"); !slices.Contains(got, 151667) || slices.Contains(got, 151645) {
		t.Errorf("added-token matching: %v", got)
	}
	// Unknown ids are skipped by Decode.
	if got := tok.Decode([]int32{9707, 999999, -1}); got != "Hello" {
		t.Errorf("Decode with unknown ids = %q", got)
	}
}

// tinyTokenizer builds a byte-level BPE tokenizer.json: the 256 byte
// tokens, the given merges (their results appended to the vocabulary), the
// added tokens and the given components.
func tinyTokenizer(t *testing.T, merges []string, pairForm bool, added []addedToken, extra map[string]any) *Tokenizer {
	t.Helper()
	vocab := map[string]int32{}
	for b := 0; b < 256; b++ {
		vocab[string(byteToRune[b])] = int32(b)
	}
	var ms []any
	for _, m := range merges {
		a, b, _ := strings.Cut(m, " ")
		if _, ok := vocab[a+b]; !ok {
			vocab[a+b] = int32(len(vocab))
		}
		if pairForm {
			ms = append(ms, []string{a, b})
		} else {
			ms = append(ms, m)
		}
	}
	for i := range added {
		if added[i].ID == 0 {
			added[i].ID = int32(len(vocab) + i)
			if id, ok := vocab[added[i].Content]; ok {
				added[i].ID = id
			}
		}
	}
	model := map[string]any{"type": "BPE", "vocab": vocab, "merges": ms, "byte_fallback": false, "ignore_merges": false}
	f := map[string]any{
		"added_tokens":   added,
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel"},
		"model":          model,
	}
	for k, v := range extra {
		if k == "model" {
			for mk, mv := range v.(map[string]any) {
				model[mk] = mv
			}
			continue
		}
		f[k] = v
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ids turns a string of single bytes into their byte ids (tiny tokenizer).
func byteIDs(s string) []int32 {
	out := make([]int32, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int32(s[i])
	}
	return out
}

func TestMergeForms(t *testing.T) {
	merges := []string{"h e", "l l", "he ll", "Ġ w"}
	for _, pair := range []bool{false, true} {
		tok := tinyTokenizer(t, merges, pair, nil, nil)
		he, _ := tok.TokenID("he")
		hell, _ := tok.TokenID("hell")
		gw, _ := tok.TokenID("Ġw")
		want := []int32{hell, 'o', gw, 'o', 'r', 'l', 'd'}
		if got := tok.Encode("hello world"); !slices.Equal(got, want) {
			t.Errorf("pair form %v: got %v, want %v (he=%d)", pair, got, want, he)
		}
	}
}

func TestIgnoreMerges(t *testing.T) {
	// "abc" is in the vocabulary but unreachable by merges.
	tok := tinyTokenizer(t, []string{"a b", "ab c"}, false, nil, nil)
	abc, _ := tok.TokenID("abc")
	if got := tok.Encode("abc"); !slices.Equal(got, []int32{abc}) {
		t.Fatalf("merges: %v", got)
	}
	tok = tinyTokenizer(t, []string{"b c", "a b"}, false, nil, map[string]any{"model": map[string]any{"ignore_merges": true}})
	tok.model.vocab["xyz"] = 999 // a whole word in the vocabulary wins over merges
	if got := tok.Encode("xyz"); !slices.Equal(got, []int32{999}) {
		t.Fatalf("ignore_merges: %v", got)
	}
}

func TestAddedTokenOptions(t *testing.T) {
	added := []addedToken{
		{Content: "<s>", Special: true},
		{Content: "[L]", LStrip: true},
		{Content: "[R]", RStrip: true},
		{Content: "ony", SingleWord: true},
		{Content: "<longer>", Special: true},
		{Content: "<long", Special: true},
	}
	tok := tinyTokenizer(t, nil, false, added, nil)
	id := func(s string) int32 { v, _ := tok.TokenID(s); return v }
	cases := []struct {
		in   string
		want []int32
	}{
		{"a<s>b", append(append(byteIDs("a"), id("<s>")), byteIDs("b")...)},
		{"a  [L]b", append(append(byteIDs("a"), id("[L]")), byteIDs("b")...)},
		{"a[R]  b", append(append(byteIDs("a"), id("[R]")), byteIDs("b")...)},
		{"ony", []int32{id("ony")}},
		{"x ony y", append(append(bl(" x"[1:]), append(bl(" "), id("ony"))...), bl(" y")...)},
		{"Anthony", bl("Anthony")},
		{"<longer>", []int32{id("<longer>")}},
		{"<longe", append([]int32{id("<long")}, bl("e")...)},
	}
	for _, c := range cases {
		if got := tok.Encode(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// bl is the tiny tokenizer's encoding of s without merges: its byte ids.
func bl(s string) []int32 { return byteIDs(s) }

func TestTemplatePostProcessor(t *testing.T) {
	added := []addedToken{{Content: "<|begin_of_text|>", Special: true}, {Content: "<|end|>", Special: true}}
	post := map[string]any{
		"type": "Sequence",
		"processors": []any{
			map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
			map[string]any{
				"type":   "TemplateProcessing",
				"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<|begin_of_text|>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"SpecialToken": map[string]any{"id": "<|end|>", "type_id": 0}}},
				"pair":   []any{},
				"special_tokens": map[string]any{
					"<|begin_of_text|>": map[string]any{"id": "<|begin_of_text|>", "ids": []int{256}, "tokens": []string{"<|begin_of_text|>"}},
					"<|end|>":           map[string]any{"id": "<|end|>", "ids": []int{257}, "tokens": []string{"<|end|>"}},
				},
			},
		},
	}
	tok := tinyTokenizer(t, nil, false, added, map[string]any{"post_processor": post})
	if got := tok.EncodeSpecial("hi"); !slices.Equal(got, []int32{256, 'h', 'i', 257}) {
		t.Errorf("EncodeSpecial = %v", got)
	}
	if got := tok.Encode("hi"); !slices.Equal(got, []int32{'h', 'i'}) {
		t.Errorf("Encode = %v", got)
	}
}

func TestByteLevelPrefixSpaceAndGPT2Regex(t *testing.T) {
	pre := map[string]any{"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}
	tok := tinyTokenizer(t, nil, false, []addedToken{{Content: "<s>", Special: true}}, map[string]any{"pre_tokenizer": pre})
	// Each text segment between added tokens gets a prefix space.
	s, _ := tok.TokenID("<s>")
	want := append(append(bl(" hi"), s), bl(" there")...)
	if got := tok.Encode("hi<s>there"); !slices.Equal(got, want) {
		t.Errorf("add_prefix_space: %v, want %v", got, want)
	}
	if got := pieces(tok, "Don't  stop 123"); !slices.Equal(got, []string{" Don", "'t", " ", " stop", " 123"}) {
		t.Errorf("GPT-2 pieces %q", got)
	}
	// Cases from Hugging Face's byte_level.rs unit tests (no prefix space).
	tok = tinyTokenizer(t, nil, false, nil, nil)
	for in, want := range map[string][]string{
		"Hello there\nHello there":          {"Hello", " there", "\n", "Hello", " there"},
		"Hello there       dear":            {"Hello", " there", "      ", " dear"},
		"Hello my friend, how is your day?": {"Hello", " my", " friend", ",", " how", " is", " your", " day", "?"},
	} {
		if got := pieces(tok, in); !slices.Equal(got, want) {
			t.Errorf("pieces(%q) = %q, want %q", in, got, want)
		}
	}
	// The ByteLevel decoder keeps a token with a rune outside the byte
	// table as its raw UTF-8 (decode_unknown_characters).
	if got := string(appendByteLevelDecoded(appendByteLevelDecoded(nil, "Ġfriend!"), "[PA D]")); got != " friend![PA D]" {
		t.Errorf("decoded %q", got)
	}
}

func TestByteFallbackAndUnk(t *testing.T) {
	// A character-level (non byte-level) BPE: no pre-tokenizer, no decoder.
	vocab := map[string]int32{"<unk>": 0, "a": 1, "b": 2, "ab": 3, "<0xC3>": 4, "<0xA9>": 5}
	base := map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{"a b"}, "unk_token": "<unk>"}
	mk := func(extra map[string]any) *Tokenizer {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		data, _ := json.Marshal(map[string]any{"added_tokens": []any{}, "model": m})
		tok, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct {
		extra map[string]any
		in    string
		want  []int32
	}{
		{nil, "abxyb", []int32{3, 0, 0, 2}},
		{map[string]any{"fuse_unk": true}, "abxyb", []int32{3, 0, 2}},
		{map[string]any{"byte_fallback": true}, "aéb", []int32{1, 4, 5, 2}},
		{map[string]any{"byte_fallback": true}, "axb", []int32{1, 0, 2}},
	}
	for _, c := range cases {
		if got := mk(c.extra).Encode(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%v Encode(%q) = %v, want %v", c.extra, c.in, got, c.want)
		}
	}
	if got := mk(nil).Decode([]int32{3, 0}); got != "ab <unk>" {
		t.Errorf("no decoder: Decode = %q", got)
	}
}

func TestUnsupportedComponents(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"added_tokens": []any{}, "model": map[string]any{"type": "BPE", "vocab": map[string]int{"a": 0}, "merges": []any{}}}
	}
	cases := []struct {
		key   string
		value any
		name  string
	}{
		{"normalizer", map[string]any{"type": "Lowercase"}, "Lowercase"},
		{"normalizer", map[string]any{"type": "Sequence", "normalizers": []any{map[string]any{"type": "NFC"}, map[string]any{"type": "StripAccents"}}}, "StripAccents"},
		{"pre_tokenizer", map[string]any{"type": "Whitespace"}, "Whitespace"},
		{"pre_tokenizer", map[string]any{"type": "Metaspace", "replacement": "__"}, "not one character"},
		{"pre_tokenizer", map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "sometimes"}, "sometimes"},
		{"pre_tokenizer", map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "add_prefix_space": false}, "contradicts"},
		{"pre_tokenizer", map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(?<=a"}, "behavior": "Isolated", "invert": false}, "(?<=a"},
		{"pre_tokenizer", map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "a"}, "behavior": "Sideways", "invert": false}, "Sideways"},
		{"decoder", map[string]any{"type": "Metaspace"}, "Metaspace"},
		{"decoder", map[string]any{"type": "WordPiece"}, "WordPiece"},
		{"decoder", map[string]any{"type": "Strip", "content": "ab", "start": 1, "stop": 0}, "Strip"},
		{"normalizer", map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}}, "content"},
		{"post_processor", map[string]any{"type": "Weird"}, "Weird"},
		{"model", map[string]any{"type": "WordPiece", "vocab": map[string]int{"a": 0}}, "WordPiece"},
		{"model", map[string]any{"type": "BPE", "vocab": map[string]int{"a": 0}, "merges": []any{"a b"}}, `"b"`},
	}
	for _, c := range cases {
		f := base()
		f[c.key] = c.value
		data, _ := json.Marshal(f)
		_, err := Parse(data)
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s %v: err = %v, want one naming %s", c.key, c.value, err, c.name)
		}
	}
}

func TestSplitRegexFallbackAndDigits(t *testing.T) {
	// A pattern without a hand-written scanner runs on regexp2.
	pre := map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Digits", "individual_digits": false},
		map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\s+`}, "behavior": "Removed", "invert": false},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
	}}
	tok := tinyTokenizer(t, nil, false, nil, map[string]any{"pre_tokenizer": pre})
	if got := pieces(tok, "ab12 3c  d"); !slices.Equal(got, []string{"ab", "12", "3", "c", "d"}) {
		t.Errorf("pieces %q", got)
	}
	pre["pretokenizers"].([]any)[0] = map[string]any{"type": "Digits", "individual_digits": true}
	tok = tinyTokenizer(t, nil, false, nil, map[string]any{"pre_tokenizer": pre})
	if got := pieces(tok, "x123"); !slices.Equal(got, []string{"x", "1", "2", "3"}) {
		t.Errorf("individual digits: %q", got)
	}
	// ByteLevel before another step: the later step sees mapped runes.
	pre2 := map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
		map[string]any{"type": "Split", "pattern": map[string]any{"String": "Ġ"}, "behavior": "MergedWithNext", "invert": false},
	}}
	tok = tinyTokenizer(t, nil, false, nil, map[string]any{"pre_tokenizer": pre2})
	if got := pieces(tok, "a b c"); !slices.Equal(got, []string{"a", "Ġb", "Ġc"}) {
		t.Errorf("mapped then split: %q", got)
	}
	if got := tok.Encode("a b"); !slices.Equal(got, []int32{'a', ' ', 'b'}) {
		t.Errorf("Encode after mapped split = %v", got)
	}
}

func TestJSONScanner(t *testing.T) {
	data := []byte(`{"model": {"type": "BPE", "dropout": null, "unk_token": null, "ignore_merges": true,
	  "vocab": {"a": 0, "\u0120": 1, "\"q\\": 2, "\ud83d\ude42": 3, "a\u0120": 4, "e\u0301": 5},
	  "merges": ["a \u0120", ["\"q\\", "a"]]}, "added_tokens": [], "extra": [1, {"x": "]}"}]}`)
	top, err := splitTopLevel(data)
	if err != nil {
		t.Fatal(err)
	}
	mf, merges, err := parseModelJSON(top["model"])
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{"a": 0, "Ġ": 1, `"q\`: 2, "🙂": 3, "aĠ": 4, "e\u0301": 5}
	if len(mf.Vocab) != len(want) {
		t.Fatalf("vocab %v", mf.Vocab)
	}
	for k, v := range want {
		if mf.Vocab[k] != v {
			t.Errorf("vocab[%q] = %d, want %d", k, mf.Vocab[k], v)
		}
	}
	if !slices.Equal(merges, [][2]string{{"a", "Ġ"}, {`"q\`, "a"}}) {
		t.Errorf("merges %q", merges)
	}
	if mf.Type != "BPE" || !mf.IgnoreMerges {
		t.Errorf("small fields: %+v", mf)
	}
	for _, bad := range []string{`{"model": {"vocab": {"a": x}}}`, `{"model": {"merges": ["ab"]}}`, `{"model": {"merges": [["a"]]}}`, `{"model": {"vocab": {"a": 1}`, `{"a": "unterminated}`} {
		top, err := splitTopLevel([]byte(bad))
		if err == nil {
			_, _, err = parseModelJSON(top["model"])
		}
		if err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestNormalizedAddedToken: a normalized added token is matched, after the
// normalizer, on its normalized form; a non-normalized one on the raw text.
func TestNormalizedAddedToken(t *testing.T) {
	added := []addedToken{{Content: "ﬁx", Normalized: true}, {Content: "ﬀ", Normalized: false}}
	tok := tinyTokenizer(t, nil, false, added, map[string]any{"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{map[string]any{"type": "NFKC"}}}})
	// Ids are assigned in order after the vocabulary, as Hugging Face does.
	if id, _ := tok.TokenID("ﬁx"); id != 256 {
		t.Fatalf("ﬁx has id %d, want 256", id)
	}
	if id, _ := tok.TokenID("ﬀ"); id != 257 {
		t.Fatalf("ﬀ has id %d, want 257", id)
	}
	// A normalized added token decodes as its normalized content.
	if got := tok.Decode([]int32{256, 257}); got != "fixﬀ" {
		t.Errorf("Decode = %q, want %q", got, "fixﬀ")
	}
	cases := []struct {
		in   string
		want []int32
	}{
		{"ﬁx", []int32{256}},          // NFKC("ﬁx") = "fix" matches the normalized pattern
		{"fix", []int32{256}},         // so does the plain text
		{"ﬀ", []int32{257}},           // matched raw, before NFKC
		{"ff", []int32{'f', 'f'}},     // the raw pattern does not match its normalized form
		{"aﬁx", append(bl("a"), 256)}, // added tokens need no word boundary
	}
	for _, c := range cases {
		if got := tok.Encode(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestAddedTokenIDs: ids follow Hugging Face's assignment on load; a file
// whose "id" fields disagree is refused rather than silently renumbered.
func TestAddedTokenIDs(t *testing.T) {
	vocab := map[string]int{"a": 0, "b": 1, "ab": 2}
	mk := func(added ...map[string]any) error {
		data, _ := json.Marshal(map[string]any{"added_tokens": added,
			"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{"a b"}}})
		_, err := Parse(data)
		return err
	}
	tokJSON := func(id int, content string) map[string]any {
		return map[string]any{"id": id, "content": content, "special": true}
	}
	if err := mk(tokJSON(3, "<s>"), tokJSON(2, "ab"), tokJSON(4, "</s>"), tokJSON(3, "<s>")); err != nil {
		t.Errorf("consistent ids: %v", err)
	}
	for _, bad := range [][]map[string]any{
		{tokJSON(0, "<s>")},                     // would be 3
		{tokJSON(3, "<s>"), tokJSON(5, "</s>")}, // would be 4
		{tokJSON(7, "ab")},                      // in the vocabulary as 2
	} {
		if err := mk(bad...); err == nil || !strings.Contains(err.Error(), "Hugging Face tokenizers gives it id") {
			t.Errorf("%v: err = %v", bad, err)
		}
	}
}

// TestNFCFastPath: the fast path returns exactly what the general path
// (Go's NFC less the characters Hugging Face does not know) does, on random
// text and on every BMP rune after each of a few starters.
func TestNFCFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for i := 0; i < 5000; i++ {
		s := randomText(r)
		if got, want := nfcString(s), hfNormalize(norm.NFC, s); got != want {
			t.Fatalf("nfcString(%q) = %q, want %q", s, got, want)
		}
	}
	for _, starter := range []string{"e", "가", "\u1100", "\u0300"} {
		for c := rune(0x80); c < 0x10000; c++ {
			if c >= 0xD800 && c < 0xE000 {
				continue
			}
			for _, s := range []string{starter + string(c), string(c) + starter} {
				if got, want := nfcString(s), hfNormalize(norm.NFC, s); got != want {
					t.Fatalf("nfcString(%q) = %q, want %q", s, got, want)
				}
			}
		}
	}
}
