package train

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseTOML parses the TOML subset run files need: comments, [table] and
// [a.b] headers, bare or quoted (dotted) keys, and values that are basic or
// literal strings, integers, floats, booleans and (possibly multi-line)
// arrays of those. Anything else (inline tables, dates, multi-line strings)
// is an error naming the line, as are duplicate keys.
func parseTOML(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("toml: not valid UTF-8")
	}
	root := map[string]any{}
	cur := root
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			if strings.HasPrefix(line, "[[") {
				return nil, fmt.Errorf("toml line %d: arrays of tables are not supported", lineNo)
			}
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, fmt.Errorf("toml line %d: unterminated table header", lineNo)
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != '#' {
				return nil, fmt.Errorf("toml line %d: unexpected %q after table header", lineNo, rest)
			}
			keys, err := splitKey(line[1:end])
			if err != nil {
				return nil, fmt.Errorf("toml line %d: %w", lineNo, err)
			}
			t, err := descend(root, keys)
			if err != nil {
				return nil, fmt.Errorf("toml line %d: %w", lineNo, err)
			}
			cur = t
			continue
		}
		eq := indexOutsideQuotes(line, '=')
		if eq < 0 {
			return nil, fmt.Errorf("toml line %d: want key = value, got %q", lineNo, line)
		}
		keys, err := splitKey(line[:eq])
		if err != nil {
			return nil, fmt.Errorf("toml line %d: %w", lineNo, err)
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
			return nil, fmt.Errorf("toml line %d: %w", lineNo, err)
		}
		p.skipSpaceComments()
		if p.i < len(p.s) {
			return nil, fmt.Errorf("toml line %d: unexpected %q after value", lineNo, p.s[p.i:])
		}
		t, err := descend(cur, keys[:len(keys)-1])
		if err != nil {
			return nil, fmt.Errorf("toml line %d: %w", lineNo, err)
		}
		k := keys[len(keys)-1]
		if _, dup := t[k]; dup {
			return nil, fmt.Errorf("toml line %d: duplicate key %q", lineNo, k)
		}
		t[k] = v
	}
	return root, nil
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
		if n, err := strconv.ParseInt(clean, 0, 64); err == nil && !strings.ContainsAny(clean, ".eE") {
			return n, nil
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
