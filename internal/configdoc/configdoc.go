// Package configdoc documents the run config's keys from one source of
// truth: the doc comments of the config structs in train/config.go.
//
// Extract reads those comments with go/ast (a comment above a run of
// adjacent fields documents all of them), turns Go field names into YAML
// keys and takes each key's default from a default config. The generator
// (gen/, run by `go generate ./internal/configdoc`) writes the result as
// keys_gen.go (Keys, used by `sdzero train --print-config` through
// Commented) and as docs/config.md. A test regenerates both and fails when
// either has drifted from train/config.go.
//
// A doc comment may end with a line "Phases: a, b." naming the phases that
// use the key; a struct type's comment may carry one for all its fields.
// Without one a key is used by every phase.
package configdoc

import (
	"slices"
	"strings"
)

//go:generate go run ./gen

// Key documents one config key: a value ("train.batch_size") or a section
// ("train").
type Key struct {
	// Path is the dotted YAML path.
	Path string
	// Section reports a mapping (a struct of keys) rather than a value.
	Section bool
	// Type is the value's kind in words ("int", "float", "string", "bool",
	// "list of strings"); empty for a section.
	Type string
	// Doc is the doc comment as plain text: paragraphs separated by blank
	// lines, Go names of keys replaced by `key` in backquotes.
	Doc string
	// Group is the path of the key whose comment Doc comes from when the
	// comment documents a run of fields; empty when the key has its own.
	Group string
	// Phases are the phases that use the key; nil means every phase.
	Phases []string
	// Default is the default value as YAML flow text ("16", "\"\"",
	// "[a, b]"); empty for a section.
	Default string
}

// Summary is the first sentence of the key's doc, without backquotes.
func (k Key) Summary() string {
	return plain(firstSentence(k.Doc))
}

// PhaseText says which phases use the key: "all phases", "phases: a, b"
// or, when that is shorter, "all phases but c" (all lists the phases).
func (k Key) PhaseText(all []string) string {
	if len(k.Phases) == 0 {
		return "all phases"
	}
	var but []string
	for _, p := range all {
		if !slices.Contains(k.Phases, p) {
			but = append(but, p)
		}
	}
	if len(all) > 0 && len(but) < len(k.Phases) {
		return "all phases but " + strings.Join(but, ", ")
	}
	return "phases: " + strings.Join(k.Phases, ", ")
}

// Lookup returns the key of path in keys.
func Lookup(keys []Key, path string) (Key, bool) {
	for _, k := range keys {
		if k.Path == path {
			return k, true
		}
	}
	return Key{}, false
}
