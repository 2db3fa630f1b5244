package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decodeStep is one of Hugging Face's decoders: its decode_chain, which
// rewrites the list of token strings (the final text is their
// concatenation).
type decodeStep interface {
	decodeChain(toks []string) ([]string, error)
}

// byteLevelDecoder is the ByteLevel decoder: every token's runes mapped
// back to bytes, joined into one string with invalid UTF-8 replaced.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(toks []string) ([]string, error) {
	var buf []byte
	for _, tok := range toks {
		buf = appendByteLevelDecoded(buf, tok)
	}
	return []string{lossyUTF8(buf)}, nil
}

// byteFallbackDecoder turns runs of <0xNN> tokens into the text of their
// bytes, or, when a run is not valid UTF-8, one U+FFFD per byte (as
// Hugging Face's ByteFallback does: it does not look for the valid parts).
type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, 0, len(toks))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, tok := range toks {
		if b, ok := byteToken(tok); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, tok)
	}
	flush()
	return out, nil
}

// byteToken parses a byte-fallback token "<0xNN>" as ByteFallback does:
// six bytes, and the two between "<0x" and ">" parsed by Rust's
// u8::from_str_radix(_, 16), which takes either case and a leading '+'.
func byteToken(tok string) (byte, bool) {
	if len(tok) != 6 || tok[:3] != "<0x" || tok[5] != '>' {
		return 0, false
	}
	hex := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	if tok[3] == '+' {
		v, ok := hex(tok[4])
		return v, ok
	}
	hi, ok1 := hex(tok[3])
	lo, ok2 := hex(tok[4])
	return hi<<4 | lo, ok1 && ok2
}

// fuseDecoder joins all tokens into one.
type fuseDecoder struct{}

func (fuseDecoder) decodeChain(toks []string) ([]string, error) {
	return []string{strings.Join(toks, "")}, nil
}

// stripDecoder removes up to start leading and stop trailing copies of
// content from every token.
type stripDecoder struct {
	content     rune
	start, stop int
}

func (d stripDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for k, tok := range toks {
		rs := []rune(tok)
		a := 0
		for i := 0; i < d.start && i < len(rs) && rs[i] == d.content; i++ {
			a = i + 1
		}
		b := len(rs)
		for i := 0; i < d.stop && len(rs)-i-1 >= 0 && rs[len(rs)-i-1] == d.content; i++ {
			b = len(rs) - i - 1
		}
		// Hugging Face indexes out of range (and fails) when the cuts
		// cross, which only a token made of content alone can do.
		if a > b {
			a = b
		}
		out[k] = string(rs[a:b])
	}
	return out, nil
}

// replaceDecoder is the Replace decoder, applied to every token.
type replaceDecoder struct{ r *replacer }

func (d replaceDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, tok := range toks {
		s, err := d.r.apply(tok)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// metaspaceDecoder turns the replacement back into spaces, dropping it in
// the first token unless the prepend scheme is "never".
type metaspaceDecoder struct {
	rep         rune
	dropInFirst bool
}

func (d metaspaceDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, tok := range toks {
		var b strings.Builder
		for _, r := range tok {
			switch {
			case r != d.rep:
				b.WriteRune(r)
			case i == 0 && d.dropInFirst:
			default:
				b.WriteByte(' ')
			}
		}
		out[i] = b.String()
	}
	return out, nil
}

// parseDecoder flattens tokenizer.json's "decoder" into steps. Supported:
// ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace and Sequence.
func parseDecoder(raw json.RawMessage, b *budget, depth int, where string) ([]decodeStep, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h struct {
		Type           string            `json:"type"`
		Decoders       []json.RawMessage `json:"decoders"`
		Replacement    *string           `json:"replacement"`
		AddPrefixSpace *bool             `json:"add_prefix_space"`
		PrependScheme  *string           `json:"prepend_scheme"`
		Split          *bool             `json:"split"`
		Content        *string           `json:"content"`
		Start          int               `json:"start"`
		Stop           int               `json:"stop"`
		Pattern        json.RawMessage   `json:"pattern"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := b.enter(depth, where); err != nil {
		return nil, err
	}
	where += " " + h.Type
	switch h.Type {
	case "Sequence":
		var steps []decodeStep
		for i, r := range h.Decoders {
			s, err := parseDecoder(r, b, depth+1, fmt.Sprintf("%s[%d]", where, i))
			if err != nil {
				return nil, err
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "ByteLevel":
		return []decodeStep{byteLevelDecoder{}}, nil
	case "ByteFallback":
		return []decodeStep{byteFallbackDecoder{}}, nil
	case "Fuse":
		return []decodeStep{fuseDecoder{}}, nil
	case "Strip":
		if h.Content == nil || utf8.RuneCountInString(*h.Content) != 1 {
			return nil, fmt.Errorf("%s: content must be one character", where)
		}
		if h.Start < 0 || h.Stop < 0 {
			return nil, fmt.Errorf("%s: negative start %d or stop %d", where, h.Start, h.Stop)
		}
		r, _ := utf8.DecodeRuneInString(*h.Content)
		return []decodeStep{stripDecoder{content: r, start: h.Start, stop: h.Stop}}, nil
	case "Replace":
		r, err := parseReplace(h.Pattern, h.Content, where)
		if err != nil {
			return nil, err
		}
		// The only decoder that can lengthen text (the others drop or
		// shorten characters).
		if err := b.grow(where, r.growth()); err != nil {
			return nil, err
		}
		return []decodeStep{replaceDecoder{r}}, nil
	case "Metaspace":
		st, err := parseMetaspace(h.Replacement, h.AddPrefixSpace, h.PrependScheme, h.Split, where)
		if err != nil {
			return nil, err
		}
		r, _ := utf8.DecodeRuneInString(st.rep)
		return []decodeStep{metaspaceDecoder{rep: r, dropInFirst: st.prepend != prependNever}}, nil
	}
	return nil, fmt.Errorf("%s: type %q is not supported (supported: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence)", where, h.Type)
}

// Decode turns ids back into text as Hugging Face's decode with
// skip_special_tokens=false: the tokens (added tokens as written) through
// the decoder, or joined with spaces when there is none. Unknown ids are
// skipped. A decoder's Replace regex exceeding its match timeout (only a
// hostile file can ask for that) gives "".
func (t *Tokenizer) Decode(ids []int32) string {
	s, _ := t.decode(ids, false)
	return s
}

// DecodeSkipSpecial is Decode without the special added tokens (as
// skip_special_tokens=true).
func (t *Tokenizer) DecodeSkipSpecial(ids []int32) string {
	s, _ := t.decode(ids, true)
	return s
}

// DecodeChecked is Decode, with the error of a failing decoder.
func (t *Tokenizer) DecodeChecked(ids []int32) (string, error) {
	return t.decode(ids, false)
}

func (t *Tokenizer) decode(ids []int32, skipSpecial bool) (string, error) {
	if t.byteLevelOnly {
		buf := make([]byte, 0, 4*len(ids))
		for _, id := range ids {
			tok, ok := t.Token(id)
			if !ok || (skipSpecial && t.special[id]) {
				continue
			}
			buf = appendByteLevelDecoded(buf, tok)
		}
		return lossyUTF8(buf), nil
	}
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.Token(id)
		if !ok || (skipSpecial && t.special[id]) {
			continue
		}
		toks = append(toks, tok)
	}
	if len(t.decoders) == 0 {
		return strings.Join(toks, " "), nil
	}
	var err error
	for _, d := range t.decoders {
		if toks, err = d.decodeChain(toks); err != nil {
			return "", fmt.Errorf("decode: %w", err)
		}
	}
	return strings.Join(toks, ""), nil
}

// StreamDecoder decodes ids one at a time for streaming generation. The
// concatenation of everything Next and Flush return equals Decode of all the
// ids; Next never returns a partial UTF-8 character (it holds back the
// bytes of an incomplete one until the next ids complete it).
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
	// For decoders other than ByteLevel alone: the ids so far and how much
	// of their decoding was returned.
	ids     []int32
	emitted int
}

// NewStreamDecoder returns a decoder for one stream of ids.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// Next adds one id and returns the text that is now complete (possibly "").
func (d *StreamDecoder) Next(id int32) string {
	tok, ok := d.t.Token(id)
	if !ok {
		return ""
	}
	if !d.t.byteLevelOnly {
		return d.nextGeneral(id, tok)
	}
	d.pending = appendByteLevelDecoded(d.pending, tok)
	var out []byte
	b := d.pending
	for len(b) > 0 {
		n, complete, valid := utf8PrefixLen(b)
		if !complete {
			break // an incomplete character: wait for more bytes
		}
		if valid {
			out = append(out, b[:n]...)
		} else {
			out = utf8.AppendRune(out, utf8.RuneError)
		}
		b = b[n:]
	}
	d.pending = append(d.pending[:0], b...)
	return string(out)
}

// nextGeneral decodes all the ids again (the decoders' first-token rules
// and byte runs depend on what came before) and returns what is new. It
// holds back while the last token is a byte-fallback token (its run may
// still grow into a character, or turn into U+FFFDs) and while the text
// ends in U+FFFD.
func (d *StreamDecoder) nextGeneral(id int32, tok string) string {
	d.ids = append(d.ids, id)
	if _, isByte := byteToken(tok); isByte {
		return ""
	}
	full := d.t.Decode(d.ids)
	if len(full) <= d.emitted || strings.HasSuffix(full, "\uFFFD") {
		return ""
	}
	out := full[d.emitted:]
	d.emitted = len(full)
	return out
}

// Flush returns what is still held back (an incomplete character at the
// end of the stream, as U+FFFD) and resets the decoder.
func (d *StreamDecoder) Flush() string {
	var s string
	if d.t.byteLevelOnly {
		s = lossyUTF8(d.pending)
	} else if full := d.t.Decode(d.ids); len(full) > d.emitted {
		s = full[d.emitted:]
	}
	d.pending = d.pending[:0]
	d.ids, d.emitted = d.ids[:0], 0
	return s
}
