package configdoc

import (
	"fmt"
	"os"
	"path/filepath"

	"sdzero/train"
)

// Source is the file whose doc comments are the one source of the config
// reference, relative to the repository root.
const Source = "train/config.go"

// Generated files, relative to the repository root.
const (
	GoFile       = "internal/configdoc/keys_gen.go"
	MarkdownFile = "docs/config.md"
)

// File is one generated file.
type File struct {
	Path string // relative to the repository root
	Data []byte
}

// Generate extracts the keys of train.Config from root/train/config.go,
// with train.DefaultConfig's defaults, and returns the generated files and
// warnings (undocumented keys, summaries cut in --print-config).
func Generate(root string) ([]File, []string, error) {
	src, err := os.ReadFile(filepath.Join(root, Source))
	if err != nil {
		return nil, nil, fmt.Errorf("configdoc: %w", err)
	}
	keys, err := Extract(Source, src, "Config", train.DefaultConfig(), train.Phases)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	for _, k := range keys {
		if k.Doc == "" {
			warnings = append(warnings, fmt.Sprintf("%s: key %s has no doc comment", Source, k.Path))
			continue
		}
		if _, cut := k.SummaryLines(indentOf(k.Path)); cut {
			warnings = append(warnings, fmt.Sprintf("%s: key %s: the first sentence of its comment is longer than %d lines in --print-config and is cut", Source, k.Path, summaryLines))
		}
	}
	gosrc, err := GoSource(keys, train.Phases, Source)
	if err != nil {
		return nil, nil, err
	}
	return []File{{GoFile, gosrc}, {MarkdownFile, Markdown(keys, train.Phases, Source)}}, warnings, nil
}

// indentOf is the indent of path's key in --print-config.
func indentOf(path string) int {
	n := 0
	for _, c := range path {
		if c == '.' {
			n += 4
		}
	}
	return n
}
