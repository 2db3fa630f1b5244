package chat

import (
	"fmt"
	"strings"
	"unicode"
)

// Whitespace control is done here, as jinja2's lexer does it with
// transformers' trim_blocks and lstrip_blocks, rather than by the engine:
// github.com/ardanlabs/jinja v1.8.0 lets a "{%-" strip the text before an
// earlier "{{ }}" ("a: {{ x }}{%- endif %}" loses the space), which GLM's
// template trips on. prepare applies every whitespace rule to the text
// between tags, then hands the engine the text as string literals inside
// "{{ }}", so that the engine's own trimming has nothing left to act on.
// Newlines are kept in place (inside the literals and tags), so the
// engine's line numbers are the template's.

// pyIsSpace is Python's str.isspace for one character, which jinja2's
// rstrip and \s follow: Unicode White_Space plus U+001C..U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// tagKind is what a "{" opening starts.
type tagKind byte

const (
	tagBlock    tagKind = '%'
	tagVariable tagKind = '{'
	tagComment  tagKind = '#'
)

// closer is the two characters that end a tag of the kind.
func (k tagKind) closer() string {
	switch k {
	case tagBlock:
		return "%}"
	case tagComment:
		return "#}"
	}
	return "}}"
}

// prepare rewrites template source for the engine (see above).
func prepare(source string) (string, error) {
	// jinja2 normalises newlines and drops one trailing newline
	// (keep_trailing_newline=False).
	src := strings.ReplaceAll(strings.ReplaceAll(source, "\r\n", "\n"), "\r", "\n")
	src = strings.TrimSuffix(src, "\n")

	var out strings.Builder
	out.Grow(len(src) + len(src)/4)
	pos := 0
	var blocks blockStack
	lineStarting := true // the previous match ended with a newline (or none yet)
	stripNext := false   // the previous tag ended with "-": strip leading whitespace
	for pos <= len(src) {
		start := nextTag(src, pos)
		text := src[pos:]
		if start >= 0 {
			text = src[pos:start]
		}
		if stripNext {
			text = strings.TrimLeftFunc(text, pyIsSpace)
			stripNext = false
		}
		if start < 0 {
			emitText(&out, text)
			break
		}
		kind := tagKind(src[start+1])
		open := start + 2
		sign := byte(0)
		if open < len(src) && (src[open] == '-' || src[open] == '+') {
			sign = src[open]
			open++
		}
		switch {
		case sign == '-':
			text = strings.TrimRightFunc(text, pyIsSpace)
		case sign != '+' && kind != tagVariable:
			// lstrip_blocks: spaces and tabs between the line start
			// and a block or comment tag go.
			l := strings.LastIndexByte(text, '\n') + 1
			if (l > 0 || lineStarting) && l < len(text) && strings.TrimLeftFunc(text[l:], pyIsSpace) == "" {
				text = text[:l]
			}
		}
		emitText(&out, text)
		keepLines(&out, src[pos:start], text)

		inner, end, err := scanTag(src, open, kind)
		if err != nil {
			return "", err
		}
		closeAt := end - 2 // index of the closer
		rsign := byte(0)
		if kind == tagComment {
			if closeAt > open && src[closeAt-1] == '-' || closeAt > open && src[closeAt-1] == '+' {
				rsign = src[closeAt-1]
			}
		} else if n := len(inner); n > 0 && (inner[n-1] == '-' || inner[n-1] == '+') {
			rsign = inner[n-1]
			inner = inner[:n-1]
		}
		if kind == tagBlock && strings.TrimSpace(inner) == "raw" {
			// jinja2 applies no trim_blocks after {% raw %}.
			from := end
			if rsign == '-' {
				from = len(src) - len(strings.TrimLeftFunc(src[end:], pyIsSpace))
			}
			body, after, err := scanRaw(src, from, start)
			if err != nil {
				return "", err
			}
			emitText(&out, body.text)
			keepLines(&out, src[start:after], body.text)
			stripNext = body.stripAfter
			lineStarting = strings.HasSuffix(src[:after], "\n")
			pos = after
			continue
		}
		next := end
		switch {
		case rsign == '-':
			stripNext = true
		case rsign == '+':
		case kind != tagVariable && next < len(src) && src[next] == '\n':
			// trim_blocks: the first newline after a block or comment tag.
			next++
		}

		switch kind {
		case tagComment:
			// Dropped; its newlines stay, for line numbers.
			if n := strings.Count(src[start:next], "\n"); n > 0 {
				out.WriteString("{#" + strings.Repeat("\n", n) + "#}")
			}
		case tagBlock:
			out.WriteString(blocks.rewrite(inner))
			if next > end { // the newline trim_blocks ate
				out.WriteString("{#\n#}")
			}
		default:
			out.WriteString("{{" + inner + "}}")
		}
		lineStarting = next > 0 && src[next-1] == '\n'
		pos = next
		if pos == len(src) {
			break
		}
	}
	return out.String(), nil
}

// blockStack tracks the open blocks to give each for loop jinja2's
// scoping: jinja2 runs every iteration of a loop body in a fresh scope (a
// variable set in one iteration is undefined in the next), the engine
// keeps one scope for all iterations. So each body runs inside a
// one-iteration inner loop, which the engine gives a new scope every
// time; the inner loop sees the outer loop object under the name loop,
// and a break in the body leaves both loops through a namespace flag
// (continue needs nothing: leaving the inner loop continues the outer).
type blockStack struct {
	open  []openBlock
	loops int // for loops seen, for unique names
}

type openBlock struct {
	keyword string
	loop    int  // for a for loop: its number
	inElse  bool // for a for loop: past its else
}

// rewrite returns the engine's text for the block tag with content inner.
func (b *blockStack) rewrite(inner string) string {
	tag := "{%" + inner + "%}"
	word := strings.TrimSpace(inner)
	if i := strings.IndexFunc(word, func(r rune) bool { return !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) }); i >= 0 {
		word = word[:i]
	}
	flag := func(n int) string { return fmt.Sprintf("__sdzero_ns%d.brk", n) }
	closeInner := func(n int) string {
		return fmt.Sprintf("{%% endfor %%}{%% if %s %%}{%% break %%}{%% endif %%}", flag(n))
	}
	switch word {
	case "for":
		b.loops++
		n := b.loops
		b.open = append(b.open, openBlock{keyword: "for", loop: n})
		return fmt.Sprintf("{%% set __sdzero_ns%d = namespace(brk=false) %%}%s{%% set __sdzero_loop%d = loop %%}{%% for __sdzero_it%d in [0] %%}{%% set loop = __sdzero_loop%d %%}",
			n, tag, n, n, n)
	case "else":
		if k := len(b.open) - 1; k >= 0 && b.open[k].keyword == "for" && !b.open[k].inElse {
			b.open[k].inElse = true
			return closeInner(b.open[k].loop) + tag
		}
	case "endfor":
		if k := len(b.open) - 1; k >= 0 && b.open[k].keyword == "for" {
			top := b.open[k]
			b.open = b.open[:k]
			if !top.inElse {
				return closeInner(top.loop) + tag
			}
		}
	case "break":
		for k := len(b.open) - 1; k >= 0; k-- {
			if b.open[k].keyword == "for" {
				if b.open[k].inElse {
					break
				}
				return fmt.Sprintf("{%% set %s = true %%}%s", flag(b.open[k].loop), tag)
			}
			if b.open[k].keyword == "macro" {
				break
			}
		}
	case "if", "macro", "call", "filter", "generation", "block", "with":
		b.open = append(b.open, openBlock{keyword: word})
	case "set":
		if !strings.Contains(inner, "=") { // {% set x %}...{% endset %}
			b.open = append(b.open, openBlock{keyword: word})
		}
	default:
		if strings.HasPrefix(word, "end") && len(b.open) > 0 {
			b.open = b.open[:len(b.open)-1]
		}
	}
	return tag
}

// nextTag is the index of the next "{%", "{{" or "{#" at or after pos, or
// -1.
func nextTag(src string, pos int) int {
	for i := pos; i+1 < len(src); i++ {
		if src[i] == '{' && (src[i+1] == '%' || src[i+1] == '{' || src[i+1] == '#') {
			return i
		}
	}
	return -1
}

// scanTag finds the end of a tag whose content starts at open: the closer
// outside string literals and brackets, as jinja2's lexer balances them
// ("{{ {'a': {'b': 1}} }}"). It returns the content and the index after
// the closer.
func scanTag(src string, open int, kind tagKind) (string, int, error) {
	closer := kind.closer()
	if kind == tagComment {
		i := strings.Index(src[open:], closer)
		if i < 0 {
			return "", 0, fmt.Errorf("line %d: unclosed comment", lineOf(src, open))
		}
		return src[open : open+i], open + i + 2, nil
	}
	depth := 0
	var b strings.Builder // the content, with "}}" inside brackets spaced apart for the engine
	from := open
	for i := open; i < len(src); i++ {
		switch c := src[i]; c {
		case '\'', '"':
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' {
					j++
				}
			}
			if j >= len(src) {
				return "", 0, fmt.Errorf("line %d: unterminated string in %s ... %s", lineOf(src, i), "{"+string(kind), closer)
			}
			i = j
		case '(', '[', '{':
			depth++
		case ')', ']':
			if depth > 0 {
				depth--
			}
		case '}':
			if depth == 0 && strings.HasPrefix(src[i:], closer) {
				b.WriteString(src[from:i])
				return b.String(), i + 2, nil
			}
			if depth > 0 {
				depth--
				if i+1 < len(src) && src[i+1] == '}' {
					// The engine would read "}}" as the tag's end.
					b.WriteString(src[from : i+1])
					b.WriteByte(' ')
					from = i + 1
				}
			}
		case '%':
			if depth == 0 && strings.HasPrefix(src[i:], closer) {
				b.WriteString(src[from:i])
				return b.String(), i + 2, nil
			}
		}
	}
	return "", 0, fmt.Errorf("line %d: %s opened here is never closed with %s", lineOf(src, open), "{"+string(kind), closer)
}

// rawBody is the text of a {% raw %} block.
type rawBody struct {
	text       string
	stripAfter bool // the endraw tag ends with "-"
}

// scanRaw reads a raw block's text from pos to its {% endraw %} and
// returns it with the index after the endraw tag.
func scanRaw(src string, pos, opened int) (rawBody, int, error) {
	for i := pos; ; {
		j := strings.Index(src[i:], "{%")
		if j < 0 {
			return rawBody{}, 0, fmt.Errorf("line %d: {%% raw %%} is never closed with {%% endraw %%}", lineOf(src, opened))
		}
		at := i + j
		k := at + 2
		sign := byte(0)
		if k < len(src) && (src[k] == '-' || src[k] == '+') {
			sign = src[k]
			k++
		}
		rest := strings.TrimLeftFunc(src[k:], pyIsSpace)
		if !strings.HasPrefix(rest, "endraw") {
			i = at + 2
			continue
		}
		inner, end, err := scanTag(src, k, tagBlock)
		if err != nil {
			return rawBody{}, 0, err
		}
		body := src[pos:at]
		if sign == '-' {
			body = strings.TrimRightFunc(body, pyIsSpace)
		}
		inner = strings.TrimSpace(inner)
		rb := rawBody{text: body}
		switch {
		case strings.HasSuffix(inner, "-"):
			rb.stripAfter = true
		case strings.HasSuffix(inner, "+"):
		case end < len(src) && src[end] == '\n':
			end++
		}
		return rb, end, nil
	}
}

// emitText writes text as a string literal the engine prints unchanged.
func emitText(out *strings.Builder, text string) {
	if text == "" {
		return
	}
	out.WriteString("{{ '")
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '\\', '\'':
			out.WriteByte('\\')
			out.WriteByte(c)
		default:
			out.WriteByte(c)
		}
	}
	out.WriteString("' }}")
}

// keepLines writes, as a comment, the newlines of the source span orig
// that its emitted text lacks, so that later lines keep their numbers.
func keepLines(out *strings.Builder, orig, emitted string) {
	if n := strings.Count(orig, "\n") - strings.Count(emitted, "\n"); n > 0 {
		out.WriteString("{#" + strings.Repeat("\n", n) + "#}")
	}
}

// lineOf is the 1-based line of byte offset i.
func lineOf(src string, i int) int {
	return strings.Count(src[:min(i, len(src))], "\n") + 1
}
