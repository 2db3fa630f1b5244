package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner is a minimal JSON reader for the large parts of
// tokenizer.json (the vocabulary and the merges), several times faster
// than encoding/json for them. Small components still go through
// encoding/json (via skipValue and the raw bytes).
type jsonScanner struct {
	data []byte
	pos  int
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	line := 1
	for _, c := range s.data[:min(s.pos, len(s.data))] {
		if c == '\n' {
			line++
		}
	}
	return fmt.Errorf("json line %d (byte %d): %s", line, s.pos, fmt.Sprintf(format, args...))
}

func (s *jsonScanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end).
func (s *jsonScanner) peek() byte {
	s.ws()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

func (s *jsonScanner) expect(c byte) error {
	if s.peek() != c {
		if s.pos >= len(s.data) {
			return s.errorf("unexpected end, want %q", c)
		}
		return s.errorf("got %q, want %q", s.data[s.pos], c)
	}
	s.pos++
	return nil
}

// str reads a JSON string.
func (s *jsonScanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if c == '"' {
			out := string(s.data[start:s.pos])
			s.pos++
			return out, nil
		}
		if c == '\\' {
			return s.strSlow(start)
		}
		if c < 0x20 {
			return "", s.errorf("control character in string")
		}
		s.pos++
	}
	return "", s.errorf("unterminated string")
}

func (s *jsonScanner) strSlow(start int) (string, error) {
	buf := append([]byte(nil), s.data[start:s.pos]...)
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			if !utf8.Valid(buf) {
				return "", s.errorf("invalid UTF-8 in string")
			}
			return string(buf), nil
		case c == '\\':
			if s.pos+1 >= len(s.data) {
				return "", s.errorf("unterminated escape")
			}
			e := s.data[s.pos+1]
			s.pos += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, err := s.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
						s.pos += 2
						if r2, err = s.hex4(); err != nil {
							return "", err
						}
					}
					r = utf16.DecodeRune(r, r2)
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", s.errorf("bad escape \\%c", e)
			}
		case c < 0x20:
			return "", s.errorf("control character in string")
		default:
			buf = append(buf, c)
			s.pos++
		}
	}
	return "", s.errorf("unterminated string")
}

func (s *jsonScanner) hex4() (rune, error) {
	if s.pos+4 > len(s.data) {
		return 0, s.errorf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(s.data[s.pos:s.pos+4]), 16, 32)
	if err != nil {
		return 0, s.errorf("bad \\u escape")
	}
	s.pos += 4
	return rune(v), nil
}

// int32 reads a non-negative or negative integer.
func (s *jsonScanner) int32() (int32, error) {
	s.ws()
	start := s.pos
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	v, err := strconv.ParseInt(string(s.data[start:s.pos]), 10, 32)
	if err != nil {
		return 0, s.errorf("want an int32 id, got %q", s.data[start:s.pos])
	}
	return int32(v), nil
}

// skipStr skips a string without decoding it.
func (s *jsonScanner) skipStr() error {
	s.pos++ // the opening quote
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case '"':
			s.pos++
			return nil
		case '\\':
			s.pos += 2
		default:
			s.pos++
		}
	}
	return s.errorf("unterminated string")
}

// skipValue skips any JSON value and returns its raw bytes.
func (s *jsonScanner) skipValue() (json.RawMessage, error) {
	s.ws()
	start := s.pos
	depth := 0
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch c {
		case '"':
			if err := s.skipStr(); err != nil {
				return nil, err
			}
		case '{', '[':
			depth++
			s.pos++
		case '}', ']':
			depth--
			s.pos++
		default:
			s.pos++
		}
		if depth == 0 {
			// A scalar ends at a delimiter; a container at its close.
			if c == '"' || c == '}' || c == ']' {
				return s.data[start:s.pos], nil
			}
			for s.pos < len(s.data) {
				switch s.data[s.pos] {
				case ',', '}', ']', ' ', '\t', '\n', '\r':
					return s.data[start:s.pos], nil
				}
				s.pos++
			}
			return s.data[start:s.pos], nil
		}
		if depth < 0 {
			return nil, s.errorf("unbalanced brackets")
		}
	}
	return nil, s.errorf("unexpected end of value")
}

// object calls field for each key of an object; field must consume the
// value.
func (s *jsonScanner) object(field func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		k, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(k); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("want ',' or '}' in object")
		}
	}
}

// array calls elem for each element; elem must consume it.
func (s *jsonScanner) array(elem func(i int) error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		if err := elem(i); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("want ',' or ']' in array")
		}
	}
}

// parseModelJSON reads tokenizer.json's "model" object: the vocabulary and
// merges with the scanner, the other (small) fields with encoding/json.
func parseModelJSON(data []byte) (modelFile, [][2]string, error) {
	var mf modelFile
	var merges [][2]string
	s := &jsonScanner{data: data}
	if s.peek() == 'n' {
		return mf, nil, fmt.Errorf("model is null")
	}
	rest := map[string]json.RawMessage{}
	err := s.object(func(key string) error {
		switch key {
		case "vocab":
			if s.peek() == 'n' {
				_, err := s.skipValue()
				return err
			}
			mf.Vocab = make(map[string]int32, 1<<16)
			return s.object(func(tok string) error {
				id, err := s.int32()
				if err != nil {
					return fmt.Errorf("vocab %q: %w", tok, err)
				}
				mf.Vocab[tok] = id
				return nil
			})
		case "merges":
			if s.peek() == 'n' {
				_, err := s.skipValue()
				return err
			}
			merges = make([][2]string, 0, 1<<16)
			return s.array(func(i int) error {
				switch s.peek() {
				case '"':
					line, err := s.str()
					if err != nil {
						return err
					}
					a, b, ok := cutSpace(line)
					if !ok {
						return fmt.Errorf("merges[%d] %q: want two tokens separated by one space", i, line)
					}
					merges = append(merges, [2]string{a, b})
					return nil
				case '[':
					var pair [2]string
					n := 0
					err := s.array(func(k int) error {
						if k >= 2 {
							return s.errorf("merges[%d]: more than two tokens", i)
						}
						v, err := s.str()
						pair[k] = v
						n++
						return err
					})
					if err != nil {
						return fmt.Errorf("merges[%d]: %w", i, err)
					}
					if n != 2 {
						return fmt.Errorf("merges[%d]: want two tokens, got %d", i, n)
					}
					merges = append(merges, pair)
					return nil
				}
				return s.errorf("merges[%d]: want \"a b\" or [\"a\", \"b\"]", i)
			})
		default:
			raw, err := s.skipValue()
			if err != nil {
				return err
			}
			rest[key] = raw
			return nil
		}
	})
	if err != nil {
		return mf, nil, err
	}
	vocab := mf.Vocab
	small, err := json.Marshal(rest)
	if err != nil {
		return mf, nil, err
	}
	if err := json.Unmarshal(small, &mf); err != nil {
		return mf, nil, err
	}
	mf.Vocab = vocab
	return mf, merges, nil
}

// splitTopLevel splits tokenizer.json into its top-level fields without
// validating the (large) values twice.
func splitTopLevel(data []byte) (map[string]json.RawMessage, error) {
	s := &jsonScanner{data: data}
	out := map[string]json.RawMessage{}
	err := s.object(func(key string) error {
		raw, err := s.skipValue()
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		out[key] = raw
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.peek() != 0 {
		return nil, s.errorf("data after the top-level object")
	}
	return out, nil
}
