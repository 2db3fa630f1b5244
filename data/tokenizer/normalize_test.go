package tokenizer

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// hfNormReference is testdata/hf_normalization.json.gz, written by
// hf_normalization.js with Hugging Face tokenizers.
type hfNormReference struct {
	Version string              `json:"tokenizers_version"`
	Frozen  []rune              `json:"frozen"`
	Corpus  []string            `json:"corpus"`
	Results map[string][]string `json:"results"`
}

func loadHFNormReference(t *testing.T, path string) hfNormReference {
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
	var ref hfNormReference
	if err := json.NewDecoder(zr).Decode(&ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Corpus) < 500 || len(ref.Frozen) < 300 || len(ref.Results) != 4 {
		t.Fatalf("%s too small: %d strings, %d characters, %d forms", path, len(ref.Corpus), len(ref.Frozen), len(ref.Results))
	}
	return ref
}

// TestHFNormalization compares the four normalizers with Hugging Face on
// text built from the characters its tables do not know (Dives Akuru and
// Todhri composites, marks added since Unicode 10, U+32FF, ...) among
// ordinary composing and reordering text, and checks that hfnorm.go is the
// reference's table.
func TestHFNormalization(t *testing.T) {
	checkHFNormalization(t, loadHFNormReference(t, filepath.Join("testdata", "hf_normalization.json.gz")))
}

func checkHFNormalization(t *testing.T, ref hfNormReference) {
	n := 0
	for _, r := range hfNormFrozen {
		n += int(r.hi-r.lo) + 1
	}
	if n != len(ref.Frozen) {
		t.Errorf("hfnorm.go has %d characters, the reference %d: run go generate", n, len(ref.Frozen))
	}
	for _, r := range ref.Frozen {
		if !inRanges(hfNormFrozen, r) {
			t.Errorf("U+%04X is missing from hfnorm.go: run go generate", r)
		}
	}
	forms := map[string]norm.Form{"NFC": norm.NFC, "NFD": norm.NFD, "NFKC": norm.NFKC, "NFKD": norm.NFKD}
	goDiffers := 0
	for name, f := range forms {
		nm, err := parseNormalizer(json.RawMessage(`{"type":"`+name+`"}`), &budget{part: "normalizer"}, 0, "normalizer")
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range ref.Corpus {
			want := ref.Results[name][i]
			if got, _ := nm(s); got != want {
				t.Errorf("%s(%+q) = %+q, Hugging Face %+q", name, s, got, want)
			}
			if f.String(s) != want {
				goDiffers++
			}
		}
	}
	// The corpus is built to need the table: plain Go normalization fails it.
	if goDiffers < 200 {
		t.Errorf("Go's own normalization differs from Hugging Face on only %d strings", goDiffers)
	}
}
