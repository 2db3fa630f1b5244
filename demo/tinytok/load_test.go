package tinytok

import (
	"testing"

	"sdzero/data/chat"
	"sdzero/data/tokenizer"
)

// TestLoadsWithDataPackages checks that the engine's own tokenizer and chat
// template packages read the files, that encoding is one id per byte in
// bytes_to_unicode order with whole special tokens, and that decoding
// round-trips.
func TestLoadsWithDataPackages(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != VocabSize {
		t.Errorf("vocab size %d, want %d", tok.VocabSize(), VocabSize)
	}
	for _, s := range []string{
		"What is 47+38?",
		"7+8=15, write 5 carry 1.\n4+3+1=8.\nSo \\boxed{85}",
		"  spaces\tand\ttabs\r\n",
		"unicode: é ü 数学 ∑",
		"",
	} {
		ids := tok.Encode(s)
		if len(ids) != len(s) {
			t.Errorf("%q: %d ids for %d bytes", s, len(ids), len(s))
		}
		for i := range len(s) {
			if i < len(ids) && ids[i] != ByteID(s[i]) {
				t.Errorf("%q: byte %d (%q) -> id %d, want %d", s, i, s[i], ids[i], ByteID(s[i]))
				break
			}
		}
		if got := tok.Decode(ids); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
	}
	for name, want := range map[string]int32{EndOfText: EndOfTextID, ImStart: ImStartID, ImEnd: ImEndID} {
		if id, ok := tok.TokenID(name); !ok || id != want {
			t.Errorf("TokenID(%s) = %d, %v; want %d", name, id, ok, want)
		}
	}
	ids := tok.Encode("a<|im_end|>b")
	if len(ids) != 3 || ids[1] != ImEndID {
		t.Errorf("special token not matched whole: %v", ids)
	}

	tmpl, err := chat.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render([]chat.Message{{Role: "user", Content: "What is 2+2?"}}, chat.Options{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Errorf("chat render %q, want %q", got, want)
	}
	if id, err := tmpl.EndOfTurnID(tok); err != nil || id != ImEndID {
		t.Errorf("end of turn id %d (%v), want %d", id, err, ImEndID)
	}
}
