package tinytok

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"testing"
)

// TestEmbeddedUpToDate fails when the committed files differ from what Build
// produces: run `go generate ./demo/tinytok`.
func TestEmbeddedUpToDate(t *testing.T) {
	tok, cfg, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{tok, cfg} {
		got, err := fs.ReadFile(Files, FileNames[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./demo/tinytok", FileNames[i])
		}
	}
}

func TestVocabIsByteBijection(t *testing.T) {
	raw, err := fs.ReadFile(Files, "tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		PreTokenizer struct {
			Type     string `json:"type"`
			UseRegex bool   `json:"use_regex"`
		} `json:"pre_tokenizer"`
		Model struct {
			Type   string         `json:"type"`
			Vocab  map[string]int `json:"vocab"`
			Merges []string       `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if f.Model.Type != "BPE" || f.PreTokenizer.Type != "ByteLevel" || len(f.Model.Merges) != 0 {
		t.Fatalf("model %q pre-tokenizer %q merges %d", f.Model.Type, f.PreTokenizer.Type, len(f.Model.Merges))
	}
	if len(f.Model.Vocab) != 256 {
		t.Fatalf("vocab has %d entries, want 256", len(f.Model.Vocab))
	}
	m, order := ByteToUnicode()
	seen := map[int]bool{}
	for b := 0; b < 256; b++ {
		id, ok := f.Model.Vocab[string(m[b])]
		if !ok {
			t.Fatalf("byte %#x (%q) missing from vocab", b, m[b])
		}
		if seen[id] {
			t.Fatalf("id %d used twice", id)
		}
		seen[id] = true
		if order[id] != byte(b) || ByteID(byte(b)) != int32(id) {
			t.Fatalf("byte %#x has id %d, order says %#x", b, id, order[id])
		}
	}
	// GPT-2's vocabulary starts with '!' and puts the space byte at 220.
	if f.Model.Vocab["!"] != 0 || f.Model.Vocab["Ġ"] != 220 {
		t.Errorf("'!' -> %d, 'Ġ' -> %d; want 0 and 220 as in GPT-2", f.Model.Vocab["!"], f.Model.Vocab["Ġ"])
	}
	want := []string{EndOfText, ImStart, ImEnd}
	if len(f.AddedTokens) != len(want) {
		t.Fatalf("%d added tokens", len(f.AddedTokens))
	}
	for i, a := range f.AddedTokens {
		if a.Content != want[i] || a.ID != 256+i || !a.Special {
			t.Errorf("added token %d = %+v", i, a)
		}
	}
}

func TestConfig(t *testing.T) {
	raw, err := fs.ReadFile(Files, "tokenizer_config.json")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ChatTemplate string `json:"chat_template"`
		EOSToken     string `json:"eos_token"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.ChatTemplate != ChatTemplate || c.EOSToken != ImEnd {
		t.Errorf("chat_template %q eos %q", c.ChatTemplate, c.EOSToken)
	}
}
