package main

import (
	"bytes"
	"strings"
	"testing"

	"sdzero/internal/configdoc"
)

// TestPrintConfigCommented: `train --print-config` writes each key's
// generated comment (meaning, type, default, phases) right above it.
func TestPrintConfigCommented(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runTrain([]string{"--print-config", "--set", "train.batch_size=8"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	for _, path := range []string{"train.batch_size", "optim.schedule", "optim.warmup_steps", "srt.mode", "data.question_field"} {
		k, ok := configdoc.Lookup(configdoc.Keys, path)
		if !ok {
			t.Fatalf("no doc for %s", path)
		}
		indent := strings.Repeat(" ", 4*strings.Count(path, "."))
		leaf := path[strings.LastIndexByte(path, '.')+1:]
		want := k.Comment(len(indent), configdoc.AllPhases)
		found := false
		for i, l := range lines {
			if !strings.HasPrefix(l, indent+leaf+":") || i < len(want) {
				continue
			}
			found = true
			for j, w := range want {
				if got := lines[i-len(want)+j]; got != indent+"# "+w {
					t.Errorf("%s: comment line %d = %q, want %q", path, j, got, indent+"# "+w)
				}
			}
		}
		if !found {
			t.Errorf("%s not printed:\n%s", path, out.String())
		}
	}
	if !strings.Contains(out.String(), "batch_size: 8\n") {
		t.Error("--set is not applied under --print-config")
	}
}
