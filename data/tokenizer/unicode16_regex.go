package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Patterns without a hand-written scanner run on regexp2, whose \p{..},
// \d and \w use Go's Unicode 15.0 tables (and .NET's \w), while Hugging
// Face's Oniguruma has Unicode 16.0 (and its own \w). rewriteUnicode16
// rewrites those escapes into classes that regexp2 matches as Oniguruma
// does: the Go category plus the characters assigned to it since, or less
// those assigned elsewhere (so that regexp2 keeps its fast category test
// and scans only a few explicit ranges). \s is the same in both (White_Space
// has not changed); scripts (\p{Han}) and \b keep regexp2's meaning.

// classForm writes a Unicode 16.0 set for regexp2: the union of the Go
// categories cats, plus add, less sub (one of them empty).
type classForm struct {
	cats     []string
	add, sub []runeRange
	full     []runeRange // the set itself, for the forms that need it
}

// unicode16CategorySets maps each general category name (two letters,
// and the one-letter major classes) to its Unicode 16.0 ranges.
var unicode16CategorySets = sync.OnceValue(func() map[string][]runeRange {
	byCat := map[string][]runeRange{}
	var assigned []runeRange
	for _, c := range unicode16Categories {
		name := unicode16CategoryNames[c.cat]
		byCat[name] = appendRange(byCat[name], runeRange{c.lo, c.hi})
		byCat[name[:1]] = appendRange(byCat[name[:1]], runeRange{c.lo, c.hi})
		assigned = appendRange(assigned, runeRange{c.lo, c.hi})
	}
	for k := range byCat {
		byCat[k] = normalizeRanges(byCat[k])
	}
	byCat["Cn"] = complementRanges(normalizeRanges(assigned))
	byCat["C"] = normalizeRanges(append(append([]runeRange{}, byCat["C"]...), byCat["Cn"]...))
	byCat["LC"] = normalizeRanges(append(append(append([]runeRange{}, byCat["Lu"]...), byCat["Ll"]...), byCat["Lt"]...))
	return byCat
})

// unicode16Forms caches the classForm of each name rewriteUnicode16 has
// met (building one compares it with Go's tables: up to a few tens of
// milliseconds for Cn).
var unicode16Forms sync.Map

// unicode16Form returns the classForm of a category name, `\w` or `\d`, or
// nil for a name it does not know.
func unicode16Form(name string) *classForm {
	if f, ok := unicode16Forms.Load(name); ok {
		return f.(*classForm)
	}
	var f *classForm
	switch name {
	case `\w`:
		f = newClassForm([]string{"L", "M", "Nd", "Pc", "Nl"}, unicode16OnigWord)
	case `\d`:
		f = unicode16Form("Nd")
	case "LC":
		f = newClassForm([]string{"Lu", "Ll", "Lt"}, unicode16CategorySets()["LC"])
	default:
		rs, ok := unicode16CategorySets()[name]
		if !ok {
			return nil
		}
		f = newClassForm([]string{name}, rs)
	}
	unicode16Forms.Store(name, f)
	return f
}

// newClassForm compares the Unicode 16.0 set rs with the union of the Go
// categories cats.
func newClassForm(cats []string, rs []runeRange) *classForm {
	tables := make([]*unicode.RangeTable, len(cats))
	for i, c := range cats {
		if tables[i] = unicode.Categories[c]; tables[i] == nil {
			// Go has no such table (Cn): explicit ranges only.
			return &classForm{full: rs}
		}
	}
	inGo := func(r rune) bool {
		for _, t := range tables {
			if t != nil && unicode.Is(t, r) {
				return true
			}
		}
		return false
	}
	f := &classForm{cats: cats, full: rs}
	for _, x := range rs {
		for r := x.lo; r <= x.hi; r++ {
			if !inGo(r) {
				f.add = appendRange(f.add, runeRange{r, r})
			}
		}
	}
	// Go's side: only its assigned characters can be in its categories.
	for _, t := range tables {
		if t == nil {
			continue
		}
		for _, r16 := range t.R16 {
			for r := rune(r16.Lo); r <= rune(r16.Hi); r += rune(r16.Stride) {
				if !inRanges(rs, r) {
					f.sub = appendRange(f.sub, runeRange{r, r})
				}
			}
		}
		for _, r32 := range t.R32 {
			for r := rune(r32.Lo); r <= rune(r32.Hi); r += rune(r32.Stride) {
				if !inRanges(rs, r) {
					f.sub = appendRange(f.sub, runeRange{r, r})
				}
			}
		}
	}
	f.sub = normalizeRanges(f.sub)
	return f
}

// appendRange appends r, merging it with the last range when adjacent.
func appendRange(rs []runeRange, r runeRange) []runeRange {
	if n := len(rs); n > 0 && r.lo >= rs[n-1].lo && r.lo <= rs[n-1].hi+1 {
		rs[n-1].hi = max(rs[n-1].hi, r.hi)
		return rs
	}
	return append(rs, r)
}

// normalizeRanges sorts and merges ranges.
func normalizeRanges(rs []runeRange) []runeRange {
	s := append([]runeRange(nil), rs...)
	for i := 1; i < len(s); i++ { // insertion sort: inputs are nearly sorted
		for j := i; j > 0 && s[j].lo < s[j-1].lo; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	var out []runeRange
	for _, r := range s {
		out = appendRange(out, r)
	}
	return out
}

func complementRanges(rs []runeRange) []runeRange {
	var out []runeRange
	next := rune(0)
	for _, r := range rs {
		if r.lo > next {
			out = append(out, runeRange{next, r.lo - 1})
		}
		next = r.hi + 1
	}
	if next <= unicode.MaxRune {
		out = append(out, runeRange{next, unicode.MaxRune})
	}
	return out
}

// writeRanges writes ranges as class members: \uXXXX for the BMP (so that
// no character is a class metacharacter), the character itself beyond.
func writeRanges(b *strings.Builder, rs []runeRange) {
	w := func(r rune) {
		if r < 0x10000 {
			fmt.Fprintf(b, `\u%04X`, r)
		} else {
			b.WriteRune(r)
		}
	}
	for _, r := range rs {
		w(r.lo)
		if r.hi > r.lo {
			b.WriteByte('-')
			w(r.hi)
		}
	}
}

func writeCats(b *strings.Builder, cats []string, neg bool) {
	for _, c := range cats {
		if neg {
			fmt.Fprintf(b, `\P{%s}`, c)
		} else {
			fmt.Fprintf(b, `\p{%s}`, c)
		}
	}
}

// write writes the set (or its complement, neg) standalone (inClass false)
// or as members of an enclosing class.
func (f *classForm) write(b *strings.Builder, neg, inClass bool) {
	single := len(f.cats) == 1
	switch {
	case len(f.cats) == 0:
		f.writeFull(b, neg, inClass)
	case !inClass && !neg && len(f.sub) == 0:
		b.WriteByte('[')
		writeCats(b, f.cats, false)
		writeRanges(b, f.add)
		b.WriteByte(']')
	case !inClass && !neg && len(f.add) == 0 && single:
		b.WriteByte('[')
		writeCats(b, f.cats, false)
		b.WriteString("-[")
		writeRanges(b, f.sub)
		b.WriteString("]]")
	case !inClass && neg && len(f.sub) == 0:
		b.WriteString("[^")
		writeCats(b, f.cats, false)
		writeRanges(b, f.add)
		b.WriteByte(']')
	case neg && len(f.add) == 0 && single:
		if !inClass {
			b.WriteByte('[')
		}
		writeCats(b, f.cats, true)
		writeRanges(b, f.sub)
		if !inClass {
			b.WriteByte(']')
		}
	case inClass && !neg && len(f.sub) == 0:
		writeCats(b, f.cats, false)
		writeRanges(b, f.add)
	default:
		f.writeFull(b, neg, inClass)
	}
}

// writeFull writes the set as explicit ranges: exact, but regexp2 scans
// them one by one.
func (f *classForm) writeFull(b *strings.Builder, neg, inClass bool) {
	rs := f.full
	if neg {
		rs = complementRanges(rs)
	}
	if !inClass {
		b.WriteByte('[')
	}
	writeRanges(b, rs)
	if !inClass {
		b.WriteByte(']')
	}
}

// rewriteUnicode16 rewrites the \p{..}, \P{..} (and \p{^..}), \d, \D, \w
// and \W of an Oniguruma pattern for regexp2 (see above). Escapes it does
// not know are left as they are.
func rewriteUnicode16(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	depth := 0 // nesting of character classes
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			d := p[i+1]
			var f *classForm
			neg := false
			n := 2 // bytes of the escape
			switch d {
			case 'd', 'D':
				f, neg = unicode16Form(`\d`), d == 'D'
			case 'w', 'W':
				f, neg = unicode16Form(`\w`), d == 'W'
			case 'p', 'P':
				if i+2 < len(p) && p[i+2] == '{' {
					if end := strings.IndexByte(p[i+3:], '}'); end >= 0 {
						name := p[i+3 : i+3+end]
						neg = d == 'P'
						if strings.HasPrefix(name, "^") {
							neg, name = !neg, name[1:]
						}
						f = unicode16Form(name)
						n = 3 + end + 1
					}
				}
			}
			if f == nil {
				_, w := utf8.DecodeRuneInString(p[i+1:])
				b.WriteString(p[i : i+1+w])
				i += 1 + w
				continue
			}
			f.write(&b, neg, depth > 0)
			i += n
		case c == '[':
			if depth > 0 && strings.HasPrefix(p[i:], "[:") {
				// A POSIX bracket such as [:alpha:] inside a class.
				if end := strings.Index(p[i:], ":]"); end >= 0 {
					b.WriteString(p[i : i+end+2])
					i += end + 2
					continue
				}
			}
			depth++
			b.WriteByte('[')
			i++
			if i < len(p) && p[i] == '^' {
				b.WriteByte('^')
				i++
			}
			if i < len(p) && p[i] == ']' { // a first ']' is a member
				b.WriteByte(']')
				i++
			}
		case c == ']' && depth > 0:
			depth--
			b.WriteByte(']')
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}
