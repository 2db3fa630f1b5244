package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sdzero/internal/fixtures"
	"slices"
	"sync"
	"testing"
)

// fixturesDir returns ../shared/fixtures beside the repository root.
func fixturesDir(t testing.TB) string { t.Helper(); return fixtures.Root(t) }

var (
	qwenOnce sync.Once
	qwenTok  *Tokenizer
	qwenErr  error
)

// qwen3 loads the Qwen3 tokenizer fixture once (11 MB, not copied into
// testdata), skipping when ../shared/fixtures is absent.
func qwen3(t testing.TB) *Tokenizer {
	t.Helper()
	dir := filepath.Join(fixturesDir(t), "qwen3-tokenizer")
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Skipf("Qwen3 tokenizer fixture absent (%v): skipping", err)
	}
	qwenOnce.Do(func() { qwenTok, qwenErr = LoadDir(dir) })
	if qwenErr != nil {
		t.Fatal(qwenErr)
	}
	return qwenTok
}

type golden struct {
	Encodings []struct {
		Text    string  `json:"text"`
		IDs     []int32 `json:"ids"`
		Decoded string  `json:"decoded"`
	} `json:"encodings"`
	ChatTemplate map[string]struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	} `json:"chat_template"`
}

func loadGolden(t testing.TB) golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "qwen3_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGoldenEncodings(t *testing.T) {
	tok := qwen3(t)
	g := loadGolden(t)
	if len(g.Encodings) == 0 {
		t.Fatal("no golden encodings")
	}
	for _, c := range g.Encodings {
		got := tok.Encode(c.Text)
		if !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
			t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
		}
		if dec := tok.Decode(c.IDs); dec != c.Decoded {
			t.Errorf("Decode(%v) = %q, want %q", c.IDs, dec, c.Decoded)
		}
	}
}

func TestGoldenChatIDs(t *testing.T) {
	tok := qwen3(t)
	g := loadGolden(t)
	for name, c := range g.ChatTemplate {
		if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) {
			t.Errorf("%s: Encode(%q)\n got %v\nwant %v", name, c.Text, got, c.IDs)
		}
	}
}
