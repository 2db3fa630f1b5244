package configdoc

import (
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// commentWidth bounds a --print-config comment line (indent and "# "
// included), so that the file reads in an 80-column terminal.
const commentWidth = 80

// summaryLines bounds a key's summary in --print-config; the third line
// is its type, default and phases.
const summaryLines = 2

// Header is the comment at the top of a --print-config file.
const Header = "sdzero run config: sdzero train --config FILE (YAML; TOML with a .toml name).\n" +
	"Every key is optional and overrides the default named in its comment.\n" +
	"Reference: docs/config.md. One key from the command line: --set key=value."

// firstSentence is the text up to the first sentence end: ". " (or ".\n")
// before a capital, a quote, a backquote or "(", not after "e.g" or "i.e".
func firstSentence(doc string) string {
	doc, _, _ = strings.Cut(doc, "\n\n")
	for i := 0; i+1 < len(doc); i++ {
		if doc[i] != '.' || (doc[i+1] != ' ' && doc[i+1] != '\n') {
			continue
		}
		if strings.HasSuffix(doc[:i], "e.g") || strings.HasSuffix(doc[:i], "i.e") || strings.HasSuffix(doc[:i], "vs") {
			continue
		}
		rest := strings.TrimLeft(doc[i+1:], " \n")
		if rest == "" || strings.IndexByte("`(\"", rest[0]) >= 0 || (rest[0] >= 'A' && rest[0] <= 'Z') {
			return doc[:i+1]
		}
	}
	return doc
}

// plain drops the backquotes around key names.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }

// wrap breaks s into lines of at most width bytes at spaces (a longer
// word stands alone).
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// SummaryLines is the key's summary as --print-config writes it at the
// given indent: at most summaryLines lines, a longer summary cut at a
// word and ended with "...". cut reports the cut.
func (k Key) SummaryLines(indent int) (lines []string, cut bool) {
	lines = wrap(k.Summary(), commentWidth-indent-2)
	if len(lines) <= summaryLines {
		return lines, false
	}
	lines = lines[:summaryLines]
	last := lines[summaryLines-1]
	for len(last)+4 > commentWidth-indent-2 {
		i := strings.LastIndexByte(last, ' ')
		if i < 0 {
			break
		}
		last = last[:i]
	}
	lines[summaryLines-1] = last + " ..."
	return lines, true
}

// Comment is the --print-config comment of the key (without "# "): its
// summary, then, for a value, its type, default and phases.
func (k Key) Comment(indent int, phases []string) []string {
	lines, _ := k.SummaryLines(indent)
	if k.Section {
		return lines
	}
	def := k.Default
	if len(def) > 32 {
		def = def[:29] + "..."
	}
	return append(lines, fmt.Sprintf("%s, default %s, %s", k.Type, def, k.PhaseText(phases)))
}

// Commented returns the config YAML y (as train.Config.YAML writes it)
// with each key's Comment above it and Header on top. Comments change
// nothing that a YAML reader sees, so the result loads back to the same
// config. Keys of y that keys lacks get no comment; phases lists every
// phase (AllPhases).
func Commented(y []byte, keys []Key, phases []string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, fmt.Errorf("configdoc: config YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("configdoc: config YAML is not one mapping")
	}
	byPath := make(map[string]Key, len(keys))
	for _, k := range keys {
		byPath[k.Path] = k
	}
	doc.HeadComment = comment(strings.Split(Header, "\n"))
	annotate(doc.Content[0], "", 0, byPath, phases)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(4)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("configdoc: write commented YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("configdoc: write commented YAML: %w", err)
	}
	return b.Bytes(), nil
}

// annotate sets the head comments of mapping m's keys (at path prefix,
// indent columns in).
func annotate(m *yaml.Node, prefix string, indent int, keys map[string]Key, phases []string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], m.Content[i+1]
		path := joinPath(prefix, kn.Value)
		if k, ok := keys[path]; ok {
			kn.HeadComment = comment(k.Comment(indent, phases))
		}
		if vn.Kind == yaml.MappingNode {
			annotate(vn, path, indent+4, keys, phases)
		}
	}
}

func comment(lines []string) string {
	for i, l := range lines {
		lines[i] = "# " + l
	}
	return strings.Join(lines, "\n")
}

// GoSource writes keys as the Go file keys_gen.go (package configdoc).
func GoSource(keys []Key, phases []string, from string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by `go generate ./internal/configdoc` from %s; DO NOT EDIT.\n\n", from)
	b.WriteString("package configdoc\n\n")
	fmt.Fprintf(&b, "// Keys documents every key of the run config, in the order the config\n// is written; generated from the doc comments of %s.\n", from)
	fmt.Fprintf(&b, "// AllPhases lists the phases, in the order of the method.\nvar AllPhases = %#v\n\n", phases)
	b.WriteString("var Keys = []Key{\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "{Path: %q", k.Path)
		if k.Section {
			b.WriteString(", Section: true")
		}
		if k.Type != "" {
			fmt.Fprintf(&b, ", Type: %q", k.Type)
		}
		fmt.Fprintf(&b, ",\nDoc: %s", strconv.Quote(k.Doc))
		if k.Group != "" {
			fmt.Fprintf(&b, ",\nGroup: %q", k.Group)
		}
		if k.Phases != nil {
			fmt.Fprintf(&b, ",\nPhases: %#v", k.Phases)
		}
		if !k.Section {
			fmt.Fprintf(&b, ",\nDefault: %q", k.Default)
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("configdoc: format generated Go: %w", err)
	}
	return src, nil
}

// Markdown writes keys as the reference page docs/config.md.
func Markdown(keys []Key, phases []string, from string) []byte {
	var b bytes.Buffer
	b.WriteString("# Configuration reference\n\n")
	fmt.Fprintf(&b, "<!-- Generated by `go generate ./internal/configdoc` from the doc comments in %s; DO NOT EDIT. -->\n\n", from)
	fmt.Fprintf(&b, "This page is generated from the doc comments of the config structs in `%s`, "+
		"the same text `sdzero train --print-config` prints above each key; edit those comments and run "+
		"`go generate ./internal/configdoc` (a test fails when this page, the printed comments and the source disagree).\n\n", from)
	b.WriteString("A run file is YAML (or TOML with a `.toml` name) given to `sdzero train --config FILE`. " +
		"Every key is optional: the file overrides the defaults listed here, `--set key=value` overrides one key " +
		"(`--set optim.lr=1e-5`), and `sdzero train --print-config` prints the resolved config with a short comment above each key. " +
		"A key is used by the phases named with it; the other phases ignore it. " +
		"The resolved config is saved as `RUN/config.yaml`, and a resumed run uses exactly that.\n\n")
	// Contents.
	b.WriteString("Sections: [top-level keys](#top-level-keys)")
	for _, k := range keys {
		if k.Section {
			fmt.Fprintf(&b, ", [`%s`](#%s)", k.Path, anchor(k.Path))
		}
	}
	b.WriteString(".\n\n## Top-level keys\n\n")
	for _, k := range keys {
		if k.Section {
			fmt.Fprintf(&b, "## `%s`\n\n", k.Path)
			if k.Doc != "" {
				b.WriteString(mdText(k.Doc) + "\n\n")
			}
			if k.Phases != nil {
				fmt.Fprintf(&b, "Used by %s.\n\n", strings.Join(k.Phases, ", "))
			}
			continue
		}
		fmt.Fprintf(&b, "### `%s`\n\n", k.Path)
		fmt.Fprintf(&b, "%s · default %s · %s\n\n", k.Type, codeSpan(k.Default), k.PhaseText(phases))
		switch {
		case k.Doc == "":
			b.WriteString("(undocumented)\n\n")
		case k.Group != "":
			fmt.Fprintf(&b, "Documented together with [`%s`](#%s): %s\n\n", k.Group, anchor(k.Group), mdText(k.Doc))
		default:
			b.WriteString(mdText(k.Doc) + "\n\n")
		}
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n')
}

// anchor is the GitHub heading anchor of a `path` heading.
func anchor(path string) string {
	return strings.NewReplacer(".", "", "_", "_").Replace(path)
}

// codeSpan writes s as a Markdown code span.
func codeSpan(s string) string {
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

// mdText escapes Markdown in doc text outside its `key` spans.
func mdText(s string) string {
	parts := strings.Split(s, "`")
	esc := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "<", "&lt;", ">", "&gt;", "[", `\[`, "|", `\|`)
	for i := 0; i < len(parts); i += 2 {
		parts[i] = esc.Replace(parts[i])
	}
	return strings.Join(parts, "`")
}
