package tokenizer

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// spReference is testdata/sp_reference.json.gz, written by sp_reference.js
// with Hugging Face tokenizers: SentencePiece-style tokenizer.json files
// (Llama 2, Mistral, Gemma layouts and variants) and their encodings and
// decodings.
type spReference struct {
	Version     string                     `json:"tokenizers_version"`
	Corpus      []string                   `json:"corpus"`
	DecodeCases [][]int32                  `json:"decode_cases"`
	Tokenizers  map[string]json.RawMessage `json:"tokenizers"`
	Results     map[string]struct {
		IDs             []string `json:"ids"`
		SpecialIDs      []string `json:"special_ids"`
		Decoded         []string `json:"decoded"`
		DecodeCases     []string `json:"decode_cases"`
		DecodeCasesSkip []string `json:"decode_cases_skip"`
	} `json:"results"`
}

func loadSPReference(t *testing.T, path string) spReference {
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
	var ref spReference
	if err := json.NewDecoder(zr).Decode(&ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Tokenizers) < 7 || len(ref.Corpus) < 400 || len(ref.DecodeCases) < 20 {
		t.Fatalf("reference too small: %d tokenizers, %d strings, %d decode cases", len(ref.Tokenizers), len(ref.Corpus), len(ref.DecodeCases))
	}
	return ref
}

// TestSentencePieceReference compares Encode, EncodeSpecial, Decode and
// DecodeSkipSpecial with Hugging Face on the Llama 2, Mistral and Gemma
// layouts: leading, repeated and only spaces, newlines, unicode, emoji,
// characters outside the vocabulary (byte fallback, <unk>), added and
// special tokens, and decodes of byte-fallback runs that are not UTF-8.
func TestSentencePieceReference(t *testing.T) {
	checkSPReference(t, loadSPReference(t, filepath.Join("testdata", "sp_reference.json.gz")))
}

func checkSPReference(t *testing.T, ref spReference) {
	for name, raw := range ref.Tokenizers {
		t.Run(name, func(t *testing.T) {
			tok, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			res := ref.Results[name]
			bad := 0
			for i, s := range ref.Corpus {
				want := parseIDList(res.IDs[i])
				got, err := tok.EncodeChecked(s)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					bad++
					if bad <= 5 {
						t.Errorf("Encode(%q) (tokenizers %s)\n got %v\nwant %v", s, ref.Version, got, want)
					}
					continue
				}
				if sp, want := tok.EncodeSpecial(s), parseIDList(res.SpecialIDs[i]); !slices.Equal(sp, want) && !(len(sp) == 0 && len(want) == 0) {
					t.Errorf("EncodeSpecial(%q) = %v, want %v", s, sp, want)
				}
				if dec := tok.Decode(want); dec != res.Decoded[i] {
					t.Errorf("Decode(%v) = %q, want %q", want, dec, res.Decoded[i])
				}
				checkStream(t, tok, want)
			}
			if bad > 0 {
				t.Errorf("%d of %d encodings differ", bad, len(ref.Corpus))
			}
			for i, ids := range ref.DecodeCases {
				if got := tok.Decode(ids); got != res.DecodeCases[i] {
					t.Errorf("Decode(%v) = %q, want %q", ids, got, res.DecodeCases[i])
				}
				if got := tok.DecodeSkipSpecial(ids); got != res.DecodeCasesSkip[i] {
					t.Errorf("DecodeSkipSpecial(%v) = %q, want %q", ids, got, res.DecodeCasesSkip[i])
				}
				checkStream(t, tok, ids)
			}
		})
	}
}

// checkStream checks the StreamDecoder contract on ids: the pieces join to
// Decode, and none but the last ends inside a character or in U+FFFD held
// for a byte run still open.
func checkStream(t *testing.T, tok *Tokenizer, ids []int32) {
	t.Helper()
	d := tok.NewStreamDecoder()
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(d.Next(id))
	}
	b.WriteString(d.Flush())
	if want := tok.Decode(ids); b.String() != want {
		t.Errorf("stream decode of %v = %q, want %q", ids, b.String(), want)
	}
}

// TestDecoderEdgeCases pins what the Hugging Face references cannot show:
// Strip from the end (Hugging Face's Strip panics when it strips a whole
// token, so its reference runs use stop 0), cuts that would cross, and
// Rust's from_str_radix accepting "<0x+A>".
func TestDecoderEdgeCases(t *testing.T) {
	cases := []struct {
		step decodeStep
		in   []string
		want []string
	}{
		{stripDecoder{content: ' ', start: 0, stop: 2}, []string{"a   ", "b ", "c"}, []string{"a ", "b", "c"}},
		{stripDecoder{content: ' ', start: 1, stop: 1}, []string{" ", "  ", " x "}, []string{"", "", "x"}},
		{stripDecoder{content: '▁', start: 3, stop: 0}, []string{"▁▁a▁"}, []string{"a▁"}},
		{byteFallbackDecoder{}, []string{"<0x+A>", "<0x41>", "<0xzz>", "<0x4>"}, []string{"\nA", "<0xzz>", "<0x4>"}},
		{byteFallbackDecoder{}, []string{"<0xC3>", "<0xA9>", "x", "<0xC3>"}, []string{"é", "x", "\uFFFD"}},
		{metaspaceDecoder{rep: '▁', dropInFirst: true}, []string{"▁a▁b", "▁c"}, []string{"ab", " c"}},
		{metaspaceDecoder{rep: '▁', dropInFirst: false}, []string{"▁a"}, []string{" a"}},
	}
	for _, c := range cases {
		got, err := c.step.decodeChain(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%T%v on %q = %q, want %q", c.step, c.step, c.in, got, c.want)
		}
	}
}
