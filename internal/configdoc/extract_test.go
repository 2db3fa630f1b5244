package configdoc

import (
	"reflect"
	"strings"
	"testing"
)

const testSrc = `package x

// Root is the root.
type Root struct {
	// Name names the run; see Sub.Depth and sub.width, not sub.nope.
	Name string ` + "`yaml:\"name\"`" + `
	// Sub is a section.
	Sub SubConfig ` + "`yaml:\"sub\"`" + `

	Bare int ` + "`yaml:\"bare\"`" + `
}

// SubConfig holds the sub knobs, for Root's Name.
// Phases: b.
type SubConfig struct {
	// Depth and Width size it (MaxDepth is not a key).
	Depth int ` + "`yaml:\"depth\"`" + `
	Width float64 ` + "`yaml:\"width\"`" + `

	// Only is used by a; e.g. Depth 3. Not Width.
	// Phases: a.
	Only []string ` + "`yaml:\"only\"`" + `
	Lone bool ` + "`yaml:\"lone\"`" + `
}
`

type Root struct {
	Name string
	Sub  SubConfig
	Bare int
}

type SubConfig struct {
	Depth int
	Width float64
	Only  []string
	Lone  bool
}

// TestExtract: group comments, Phases lines (on a field and a section's
// type), Go names written as keys, and an undocumented key.
func TestExtract(t *testing.T) {
	def := &Root{Name: "r", Sub: SubConfig{Depth: 2, Width: 0.5, Only: []string{"x", "y"}}}
	keys, err := Extract("x.go", []byte(testSrc), "Root", def, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Key{
		{Path: "name", Type: "string", Doc: "`name` names the run; see `sub.depth` and `sub.width`, not sub.nope.", Default: `"r"`},
		{Path: "sub", Section: true, Doc: "`sub` holds the sub knobs, for Root's Name.", Phases: []string{"b"}},
		{Path: "sub.depth", Type: "int", Doc: "`depth` and `width` size it (MaxDepth is not a key).", Phases: []string{"b"}, Default: "2"},
		{Path: "sub.width", Type: "float", Doc: "`depth` and `width` size it (MaxDepth is not a key).", Group: "sub.depth", Phases: []string{"b"}, Default: "0.5"},
		{Path: "sub.only", Type: "list of strings", Doc: "`only` is used by a; e.g. `depth` 3. Not `width`.", Phases: []string{"a"}, Default: `["x", "y"]`},
		{Path: "sub.lone", Type: "bool", Doc: "`only` is used by a; e.g. `depth` 3. Not `width`.", Group: "sub.only", Phases: []string{"a"}, Default: "false"},
		{Path: "bare", Type: "int", Default: "0"},
	}
	if len(keys) != len(want) {
		t.Fatalf("got %d keys, want %d: %+v", len(keys), len(want), keys)
	}
	for i := range want {
		if !reflect.DeepEqual(keys[i], want[i]) {
			t.Errorf("key %d:\n got  %+v\n want %+v", i, keys[i], want[i])
		}
	}
	if got := keys[5].Summary(); got != "only is used by a; e.g. depth 3." {
		t.Errorf("summary %q", got)
	}
	if _, err := Extract("x.go", []byte(testSrc), "Root", def, []string{"a"}); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("unknown phase: err = %v", err)
	}
	if _, err := Extract("x.go", []byte(testSrc), "Nope", def, nil); err == nil {
		t.Error("no error for a missing root type")
	}
}

func TestFirstSentence(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"One. Two.", "One."},
		{"Uses e.g. this. Then.", "Uses e.g. this."},
		{"a (0 = off). `b` next.", "a (0 = off)."},
		{"ends at 0.5 steps. More", "ends at 0.5 steps."},
		{"lower. case follows", "lower. case follows"},
		{"Para one\n\nPara two.", "Para one"},
	} {
		if got := firstSentence(tc.in); got != tc.want {
			t.Errorf("firstSentence(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSummaryCut(t *testing.T) {
	k := Key{Doc: strings.Repeat("word ", 60) + "end."}
	lines, cut := k.SummaryLines(4)
	if !cut || len(lines) != summaryLines || !strings.HasSuffix(lines[1], " ...") {
		t.Errorf("lines %q, cut %v", lines, cut)
	}
	for _, l := range lines {
		if len(l)+4+2 > commentWidth {
			t.Errorf("line %q too wide", l)
		}
	}
}
