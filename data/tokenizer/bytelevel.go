package tokenizer

import "unicode/utf8"

// byteToRune is GPT-2's bytes_to_unicode table: every byte maps to a
// printable rune, so that byte-level vocabularies are plain strings.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := make(map[rune]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// byteLevelString maps every byte of s to its byte-level rune.
func byteLevelString(s string) string {
	buf := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteToRune[s[i]])
	}
	return string(buf)
}

// appendByteLevelDecoded appends the bytes that token stands for under the
// ByteLevel decoder: each rune mapped back to its byte, or, as Hugging Face
// does, the token's own UTF-8 bytes when any rune is outside the table.
func appendByteLevelDecoded(dst []byte, token string) []byte {
	start := len(dst)
	for _, r := range token {
		b, ok := runeToByte[r]
		if !ok {
			return append(dst[:start], token...)
		}
		dst = append(dst, b)
	}
	return dst
}

// utf8PrefixLen reports how many bytes, from the start of b, form a
// sequence that is either a complete valid UTF-8 character (complete=true)
// or the longest prefix of b that could still become one (complete=false,
// n = len(b)), or, for an invalid sequence, the length of its maximal
// subpart (complete=true, valid=false) as Rust's from_utf8_lossy and the
// Unicode standard define it. b must not be empty.
func utf8PrefixLen(b []byte) (n int, complete, valid bool) {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c < 0x80:
		return 1, true, true
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1, true, false
	}
	for k := 1; k <= need; k++ {
		if k >= len(b) {
			return len(b), false, false
		}
		x := b[k]
		if k == 1 {
			if x < lo || x > hi {
				return 1, true, false
			}
		} else if x < 0x80 || x > 0xBF {
			return k, true, false
		}
	}
	return need + 1, true, true
}

// lossyUTF8 converts b to a string like Rust's String::from_utf8_lossy: each
// maximal invalid subpart becomes one U+FFFD.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		n, _, valid := utf8PrefixLen(b)
		if valid {
			out = append(out, b[:n]...)
		} else {
			out = utf8.AppendRune(out, utf8.RuneError)
		}
		b = b[n:]
	}
	return string(out)
}

// sanitizeUTF8 replaces every byte that is not part of a valid UTF-8
// sequence by U+FFFD (one per byte, as Go's range loop decodes), so that the
// rest of the pipeline works on valid text as Hugging Face's Rust strings do.
func sanitizeUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for _, r := range s {
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}
