package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// hfReference is testdata/hf_reference.json.gz, written by hf_reference.js
// with Hugging Face's own tokenizers (Node bindings, same version as the
// fixtures).
type hfReference struct {
	Version  string   `json:"tokenizers_version"`
	Corpus   []string `json:"corpus"`
	Variants map[string]struct {
		Overrides  map[string]json.RawMessage `json:"overrides"`
		IDs        []string                   `json:"ids"`
		SpecialIDs []*string                  `json:"special_ids"`
		Decoded    []*string                  `json:"decoded"`
	} `json:"variants"`
}

func parseIDList(s string) []int32 {
	f := strings.Fields(s)
	out := make([]int32, len(f))
	for i, x := range f {
		v, _ := strconv.Atoi(x)
		out[i] = int32(v)
	}
	return out
}

// variantTokenizer applies hf_reference.js's overrides to the Qwen3
// tokenizer.json. The JSON is assembled by hand: re-encoding the 11 MB
// model with encoding/json would dominate the test's time.
func variantTokenizer(t *testing.T, base map[string]json.RawMessage, ov map[string]json.RawMessage) *Tokenizer {
	t.Helper()
	j := make(map[string][]byte, len(base))
	for k, v := range base {
		j[k] = v
	}
	for k, v := range ov {
		switch k {
		case "model":
			// Later keys win: append the overrides to the model object.
			var extra map[string]json.RawMessage
			if err := json.Unmarshal(v, &extra); err != nil {
				t.Fatal(err)
			}
			m := bytes.TrimSpace(base["model"])
			out := append([]byte(nil), m[:len(m)-1]...)
			for mk, mv := range extra {
				key, _ := json.Marshal(mk)
				out = append(append(append(append(out, ','), key...), ':'), mv...)
			}
			j["model"] = append(out, '}')
		case "added_extra":
			var added []map[string]any
			var extra []map[string]any
			if err := json.Unmarshal(base["added_tokens"], &added); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(v, &extra); err != nil {
				t.Fatal(err)
			}
			for i, a := range extra {
				a["id"] = []int{151669, 151670, 3549, 151671, 151672}[i]
				added = append(added, a)
			}
			b, _ := json.Marshal(added)
			j["added_tokens"] = b
		default:
			j[k] = v
		}
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	for k, v := range j {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		key, _ := json.Marshal(k)
		buf.Write(key)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	tok, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestHFReference compares Encode, EncodeSpecial and Decode with Hugging
// Face on about 700 strings (random, adversarial, multilingual, long
// documents) under the Qwen3 tokenizer and seven variants: GPT-2 and Llama 3
// style pre-tokenizers, Split behaviours with invert, Digits, NFKC/NFD,
// added tokens with lstrip/rstrip/single_word/normalized, TemplateProcessing.
func TestHFReference(t *testing.T) {
	qwen3(t) // skips without the fixture
	path := filepath.Join("testdata", "hf_reference.json.gz")
	if p := os.Getenv("SDZERO_HF_REFERENCE"); p != "" {
		path = p // a larger corpus written by hf_reference.js, for local runs
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var ref hfReference
	if err := json.NewDecoder(zr).Decode(&ref); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(fixturesDir(t), "qwen3-tokenizer", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	base, err := splitTopLevel(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Variants) < 1 || len(ref.Corpus) < 500 {
		t.Fatalf("reference too small: %d variants, %d strings", len(ref.Variants), len(ref.Corpus))
	}
	for name, v := range ref.Variants {
		t.Run(name, func(t *testing.T) {
			tok := qwen3(t)
			if len(v.Overrides) > 0 {
				tok = variantTokenizer(t, base, v.Overrides)
			}
			bad := 0
			for i, s := range ref.Corpus {
				want := parseIDList(v.IDs[i])
				got := tok.Encode(s)
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					bad++
					if bad <= 5 {
						t.Errorf("Encode(%q)\n got %v\nwant %v", s, got, want)
					}
					continue
				}
				if v.SpecialIDs[i] != nil {
					if sp := tok.EncodeSpecial(s); !slices.Equal(sp, parseIDList(*v.SpecialIDs[i])) {
						t.Errorf("EncodeSpecial(%q) = %v, want %s", s, sp, *v.SpecialIDs[i])
					}
				} else if sp := tok.EncodeSpecial(s); !slices.Equal(sp, got) {
					t.Errorf("EncodeSpecial(%q) = %v, want %v", s, sp, got)
				}
				wantDec := s
				if v.Decoded[i] != nil {
					wantDec = *v.Decoded[i]
				}
				if dec := tok.Decode(want); dec != wantDec {
					t.Errorf("Decode(%v) = %q, want %q", want, dec, wantDec)
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d encodings differ", bad, len(ref.Corpus))
			}
		})
	}
}
