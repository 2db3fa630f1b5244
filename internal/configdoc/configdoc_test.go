package configdoc_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"sdzero/internal/configdoc"
	"sdzero/train"
)

// TestGeneratedUpToDate regenerates keys_gen.go and docs/config.md from
// train/config.go and fails when either differs from the file on disk: a
// key added, removed or re-documented without `go generate`.
func TestGeneratedUpToDate(t *testing.T) {
	files, warnings, err := configdoc.Generate("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		t.Log("warning:", w)
	}
	for _, f := range files {
		old, err := os.ReadFile(filepath.Join("../..", f.Path))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./internal/configdoc)", f.Path, err)
			continue
		}
		if !bytes.Equal(old, f.Data) {
			t.Errorf("%s differs from what %s documents: run go generate ./internal/configdoc\n%s", f.Path, configdoc.Source, firstDiff(old, f.Data))
		}
	}
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + itoa(i+1) + ":\n  on disk:   " + x + "\n  generated: " + y
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

// configPaths lists every YAML path of v's type (sections and values).
func configPaths(t reflect.Type, prefix string, out *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		*out = append(*out, name)
		if f.Type.Kind() == reflect.Struct {
			configPaths(f.Type, name, out)
		}
	}
}

// TestEveryKeyDocumented: every key of train.Config, and nothing else, is
// in the table, each with a doc.
func TestEveryKeyDocumented(t *testing.T) {
	var paths []string
	configPaths(reflect.TypeOf(train.Config{}), "", &paths)
	var got []string
	for _, k := range configdoc.Keys {
		got = append(got, k.Path)
		if strings.TrimSpace(k.Doc) == "" {
			t.Errorf("key %s has no doc: write a doc comment on its field in %s", k.Path, configdoc.Source)
		}
		if !k.Section && (k.Type == "" || k.Default == "") {
			t.Errorf("key %s: type %q, default %q", k.Path, k.Type, k.Default)
		}
	}
	if !reflect.DeepEqual(got, paths) {
		t.Errorf("table keys differ from train.Config's (run go generate ./internal/configdoc):\n table:  %v\n config: %v", got, paths)
	}
}

// TestPrintedConfigReadsBack: the commented config loads back to exactly
// the config it was written from, and every key has one to three comment
// lines right above it.
func TestPrintedConfigReadsBack(t *testing.T) {
	odd := train.DefaultConfig()
	odd.Phase = train.PhaseSFT
	odd.Prompt.System = "# not a comment\n\nsecond line"
	odd.Prompt.Suffix = "\n\tindented # hash"
	odd.Prompt.StopTokens = []string{"<|im_end|>", "#", "- dash"}
	odd.Optim.LR = 1.25e-7
	odd.Train.BatchSize = 3
	for name, c := range map[string]*train.Config{"defaults": train.DefaultConfig(), "odd": odd} {
		t.Run(name, func(t *testing.T) {
			y, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			out, err := configdoc.Commented(y, configdoc.Keys, configdoc.AllPhases)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "printed.yaml")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			back, err := train.LoadConfig(path)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, c) {
				t.Errorf("read back %+v, want %+v", back, c)
			}
			checkComments(t, string(out))
		})
	}
}

// checkComments checks that every key line of a printed config has one to
// three comment lines directly above it, none wider than 80 columns.
func checkComments(t *testing.T, s string) {
	t.Helper()
	lines := strings.Split(s, "\n")
	keys := 0
	for i, l := range lines {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "#") {
			if len(l) > 80 {
				t.Errorf("line %d is %d columns: %q", i+1, len(l), l)
			}
			continue
		}
		k, _, ok := strings.Cut(tl, ":")
		if !ok || strings.HasPrefix(tl, "-") || strings.ContainsAny(k, " \"") {
			continue // list items and string continuations
		}
		keys++
		n := 0
		for j := i - 1; j >= 0 && strings.HasPrefix(strings.TrimSpace(lines[j]), "#"); j-- {
			n++
		}
		if i == n+1 && n > 3 {
			n = 0 // the file header, then a blank line, sits above the first key
		}
		if n < 1 || n > 3 {
			t.Errorf("key line %d %q has %d comment lines above it, want 1 to 3", i+1, tl, n)
		}
	}
	if keys < 50 {
		t.Errorf("only %d key lines found in:\n%s", keys, s)
	}
}
