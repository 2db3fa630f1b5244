package train

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parseTOML parses the TOML subset run files need: comments, [table] and
// [a.b] headers, bare or quoted (dotted) keys, and values that are basic or
// literal strings, integers, floats, booleans and (possibly multi-line)
// arrays of those. Anything else (inline tables, dates, multi-line strings)
// is an error naming the line, as are duplicate keys.
func parseTOML(data []byte) (map[string]any, error) {
	m, _, err := parseTOMLLines(data)
	return m, err
}

// tomlPathSep joins key paths in parseTOMLLines' line map (a byte no
// bare key holds; a quoted key holding it only shares a line number).
const tomlPathSep = "\x00"

// parseTOMLLines is parseTOML that also returns the line of every key and
// table, by path (the keys joined with tomlPathSep), for errors that name
// the line of a bad value.
func parseTOMLLines(data []byte) (map[string]any, map[string]int, error) {
	if !utf8.Valid(data) {
		return nil, nil, fmt.Errorf("toml: not valid UTF-8")
	}
	root := map[string]any{}
	lineOf := map[string]int{}
	cur := root
	var curPath []string
	record := func(path []string, line int) {
		for i := 1; i <= len(path); i++ {
			k := strings.Join(path[:i], tomlPathSep)
			if _, ok := lineOf[k]; !ok {
				lineOf[k] = line
			}
		}
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			if strings.HasPrefix(line, "[[") {
				return nil, nil, fmt.Errorf("toml line %d: arrays of tables are not supported", lineNo)
			}
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, nil, fmt.Errorf("toml line %d: unterminated table header", lineNo)
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != '#' {
				return nil, nil, fmt.Errorf("toml line %d: unexpected %q after table header", lineNo, rest)
			}
			keys, err := splitKey(line[1:end])
			if err != nil {
				return nil, nil, fmt.Errorf("toml line %d: %w", lineNo, err)
			}
			t, err := descend(root, keys)
			if err != nil {
				return nil, nil, fmt.Errorf("toml line %d: %w", lineNo, err)
			}
			cur, curPath = t, keys
			record(keys, lineNo)
			continue
		}
		eq := indexOutsideQuotes(line, '=')
		if eq < 0 {
			return nil, nil, fmt.Errorf("toml line %d: want key = value, got %q", lineNo, line)
		}
		keys, err := splitKey(line[:eq])
		if err != nil {
			return nil, nil, fmt.Errorf("toml line %d: %w", lineNo, err)
		}
		valText := strings.TrimSpace(line[eq+1:])
		// Multi-line arrays: gather lines until the brackets balance.
		if strings.HasPrefix(valText, "[") {
			for bracketDepth(valText) > 0 && i+1 < len(lines) {
				i++
				valText += "\n" + lines[i]
			}
		}
		p := &tomlParser{s: valText}
		v, err := p.value()
		if err != nil {
			return nil, nil, fmt.Errorf("toml line %d: %w", lineNo, err)
		}
		p.skipSpaceComments()
		if p.i < len(p.s) {
			return nil, nil, fmt.Errorf("toml line %d: unexpected %q after value", lineNo, p.s[p.i:])
		}
		t, err := descend(cur, keys[:len(keys)-1])
		if err != nil {
			return nil, nil, fmt.Errorf("toml line %d: %w", lineNo, err)
		}
		k := keys[len(keys)-1]
		if _, dup := t[k]; dup {
			return nil, nil, fmt.Errorf("toml line %d: duplicate key %q", lineNo, k)
		}
		t[k] = v
		record(append(append([]string{}, curPath...), keys...), lineNo)
	}
	return root, lineOf, nil
}

func descend(t map[string]any, keys []string) (map[string]any, error) {
	for _, k := range keys {
		next, ok := t[k]
		if !ok {
			m := map[string]any{}
			t[k] = m
			t = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("key %q is a value, not a table", k)
		}
		t = m
	}
	return t, nil
}

func splitKey(s string) ([]string, error) {
	var keys []string
	p := &tomlParser{s: strings.TrimSpace(s)}
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("empty key in %q", s)
		}
		var k string
		switch p.s[p.i] {
		case '"', '\'':
			v, err := p.str()
			if err != nil {
				return nil, err
			}
			k = v
		default:
			j := p.i
			for p.i < len(p.s) && isBareKey(p.s[p.i]) {
				p.i++
			}
			if j == p.i {
				return nil, fmt.Errorf("bad key %q", s)
			}
			k = p.s[j:p.i]
		}
		keys = append(keys, k)
		p.skipSpace()
		if p.i >= len(p.s) {
			return keys, nil
		}
		if p.s[p.i] != '.' {
			return nil, fmt.Errorf("bad key %q", s)
		}
		p.i++
	}
}

func isBareKey(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func indexOutsideQuotes(s string, c byte) int {
	var q byte
	for i := 0; i < len(s); i++ {
		switch {
		case q != 0:
			if s[i] == '\\' && q == '"' {
				i++
			} else if s[i] == q {
				q = 0
			}
		case s[i] == '"' || s[i] == '\'':
			q = s[i]
		case s[i] == c:
			return i
		}
	}
	return -1
}

// bracketDepth counts unclosed '[' outside strings and comments.
func bracketDepth(s string) int {
	depth := 0
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' && q == '"' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[':
			depth++
		case c == ']':
			depth--
		}
	}
	return depth
}

type tomlParser struct {
	s string
	i int
}

func (p *tomlParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *tomlParser) skipSpaceComments() {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.i++
		case c == '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

func (p *tomlParser) value() (any, error) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("missing value")
	}
	switch c := p.s[p.i]; {
	case c == '"' || c == '\'':
		if strings.HasPrefix(p.s[p.i:], `"""`) || strings.HasPrefix(p.s[p.i:], "'''") {
			return nil, fmt.Errorf("multi-line strings are not supported")
		}
		return p.str()
	case c == '[':
		p.i++
		arr := []any{}
		for {
			p.skipSpaceComments()
			if p.i >= len(p.s) {
				return nil, fmt.Errorf("unterminated array")
			}
			if p.s[p.i] == ']' {
				p.i++
				return arr, nil
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
			p.skipSpaceComments()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			p.skipSpaceComments()
			if p.i >= len(p.s) || p.s[p.i] != ']' {
				return nil, fmt.Errorf("want , or ] in array")
			}
		}
	case c == '{':
		return nil, fmt.Errorf("inline tables are not supported")
	default:
		j := p.i
		for p.i < len(p.s) && !strings.ContainsRune(" \t\n,]#", rune(p.s[p.i])) {
			p.i++
		}
		tok := p.s[j:p.i]
		switch tok {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "inf", "+inf", "-inf", "nan", "+nan", "-nan":
			return nil, fmt.Errorf("non-finite number %q", tok)
		}
		clean := strings.ReplaceAll(tok, "_", "")
		if !strings.ContainsAny(clean, ".eE") || strings.HasPrefix(clean, "0x") {
			n, err := strconv.ParseInt(clean, 0, 64)
			if err == nil {
				return n, nil
			}
			// Beyond int64 (TOML's range) only the uint64 seed is exact;
			// anything larger is an error, never a rounded float.
			if u, uerr := strconv.ParseUint(strings.TrimPrefix(clean, "+"), 0, 64); uerr == nil {
				return u, nil
			}
			if errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("integer %s is out of range", tok)
			}
		}
		if f, err := strconv.ParseFloat(clean, 64); err == nil {
			return f, nil
		}
		return nil, fmt.Errorf("bad value %q (strings need quotes)", tok)
	}
}

func (p *tomlParser) str() (string, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\n':
			return "", fmt.Errorf("newline in string")
		case c == '\\' && q == '"':
			if p.i >= len(p.s) {
				return "", fmt.Errorf("unterminated escape")
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '"', '\\':
				b.WriteByte(e)
			case 'u', 'U':
				n := 4
				if e == 'U' {
					n = 8
				}
				if p.i+n > len(p.s) {
					return "", fmt.Errorf("short \\%c escape", e)
				}
				r, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
				if err != nil || !utf8.ValidRune(rune(r)) {
					return "", fmt.Errorf("bad \\%c escape %q", e, p.s[p.i:p.i+n])
				}
				b.WriteRune(rune(r))
				p.i += n
			default:
				return "", fmt.Errorf("unknown escape \\%c", e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("unterminated string")
}

// tomlNode turns a parsed TOML tree into the YAML node tree decodeNode
// reads, keys in file order with their lines. Values keep their exact text
// (strings are never re-encoded), so nothing is lost between the file and
// the config.
func tomlNode(m map[string]any, lineOf map[string]int, path []string) *yaml.Node {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	line := func(k string) int {
		return lineOf[strings.Join(append(append([]string{}, path...), k), tomlPathSep)]
	}
	sort.Slice(keys, func(i, j int) bool {
		if li, lj := line(keys[i]), line(keys[j]); li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if len(path) > 0 {
		n.Line = lineOf[strings.Join(path, tomlPathSep)]
	}
	for _, k := range keys {
		l := line(k)
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, Line: l},
			tomlValueNode(m[k], lineOf, append(append([]string{}, path...), k), l))
	}
	return n
}

func tomlValueNode(v any, lineOf map[string]int, path []string, line int) *yaml.Node {
	scalar := func(tag, text string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: text, Line: line}
	}
	switch x := v.(type) {
	case map[string]any:
		return tomlNode(x, lineOf, path)
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line}
		for _, e := range x {
			n.Content = append(n.Content, tomlValueNode(e, lineOf, path, line))
		}
		return n
	case string:
		return scalar("!!str", x)
	case bool:
		return scalar("!!bool", strconv.FormatBool(x))
	case int64:
		return scalar("!!int", strconv.FormatInt(x, 10))
	case uint64:
		return scalar("!!int", strconv.FormatUint(x, 10))
	case float64:
		return scalar("!!float", strconv.FormatFloat(x, 'g', -1, 64))
	}
	panic(fmt.Sprintf("toml: parser produced a %T", v)) // parseTOMLLines makes only the types above
}

// TOML returns the config as a TOML run file that LoadConfig reads back to
// exactly this config: every string escaped (newlines, tabs, quotes,
// backslashes), floats in shortest exact form. NaN and infinite values,
// which the TOML reader refuses, and strings that are not UTF-8 are errors
// naming the key.
func (c *Config) TOML() ([]byte, error) {
	var b strings.Builder
	b.WriteString("# sdzero run file (TOML)\n")
	if err := writeTOMLTable(&b, reflect.ValueOf(c).Elem(), ""); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// writeTOMLTable writes v's knobs (key = value) and then its sections
// ([key] headers), as TOML requires.
func writeTOMLTable(b *strings.Builder, v reflect.Value, key string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := yamlName(t.Field(i))
		if name == "" || v.Field(i).Kind() == reflect.Struct {
			continue
		}
		text, err := tomlValueText(v.Field(i), joinKey(key, name))
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "%s = %s\n", name, text)
	}
	for i := 0; i < t.NumField(); i++ {
		name := yamlName(t.Field(i))
		if name == "" || v.Field(i).Kind() != reflect.Struct {
			continue
		}
		fmt.Fprintf(b, "\n[%s]\n", joinKey(key, name))
		if err := writeTOMLTable(b, v.Field(i), joinKey(key, name)); err != nil {
			return err
		}
	}
	return nil
}

func tomlValueText(v reflect.Value, key string) (string, error) {
	switch v.Kind() {
	case reflect.String:
		return tomlQuote(v.String(), key)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), nil
	case reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", fmt.Errorf("config: %s: %g cannot be written to a TOML run file", key, f)
		}
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s, nil
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			s, err := tomlValueText(v.Index(i), fmt.Sprintf("%s[%d]", key, i))
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("config: %s: no TOML form for Go type %s", key, v.Type())
}

// tomlQuote writes s as a TOML basic string.
func tomlQuote(s, key string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("config: %s: %q is not UTF-8 and cannot be written to a TOML run file", key, s)
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}
