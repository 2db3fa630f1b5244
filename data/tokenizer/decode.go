package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decode turns ids back into text as Hugging Face's decode with
// skip_special_tokens=false: added tokens appear as written, byte-level
// bytes are joined and invalid UTF-8 becomes U+FFFD (Rust's lossy
// conversion). Unknown ids are skipped.
func (t *Tokenizer) Decode(ids []int32) string {
	return t.decode(ids, false)
}

// DecodeSkipSpecial is Decode without the special added tokens (as
// skip_special_tokens=true).
func (t *Tokenizer) DecodeSkipSpecial(ids []int32) string {
	return t.decode(ids, true)
}

func (t *Tokenizer) decode(ids []int32, skipSpecial bool) string {
	switch t.decoder {
	case decoderByteLevel:
		buf := make([]byte, 0, 4*len(ids))
		for _, id := range ids {
			tok, ok := t.Token(id)
			if !ok || (skipSpecial && t.special[id]) {
				continue
			}
			buf = appendByteLevelDecoded(buf, tok)
		}
		return lossyUTF8(buf)
	default:
		toks := make([]string, 0, len(ids))
		for _, id := range ids {
			tok, ok := t.Token(id)
			if !ok || (skipSpecial && t.special[id]) {
				continue
			}
			toks = append(toks, tok)
		}
		return strings.Join(toks, " ")
	}
}

// StreamDecoder decodes ids one at a time for streaming generation. The
// concatenation of everything Next and Flush return equals Decode of all the
// ids; Next never returns a partial UTF-8 character (it holds back the
// bytes of an incomplete one until the next ids complete it).
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
	started bool
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
	if d.t.decoder != decoderByteLevel {
		if d.started {
			tok = " " + tok
		}
		d.started = true
		return tok
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

// Flush returns what is still held back (an incomplete character at the
// end of the stream, as U+FFFD) and resets the decoder.
func (d *StreamDecoder) Flush() string {
	s := lossyUTF8(d.pending)
	d.pending = d.pending[:0]
	d.started = false
	return s
}
