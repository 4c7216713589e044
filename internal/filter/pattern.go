package filter

import (
	"strings"
	"unicode/utf8"
)

// Pattern is one compiled filter value, in EC2's wildcard syntax: `*`
// matches any run of characters (including none), `?` matches exactly one
// character, and a backslash makes the next character literal (`\*` is a
// star, `\\` a backslash; a backslash at the very end stands for itself).
// Matching is case-sensitive and covers the whole string. A character is a
// UTF-8 encoded rune; a byte that is not valid UTF-8 counts as one
// character, as in package regexp.
//
// The zero Pattern matches only the empty string.
type Pattern struct {
	src  string
	lit  string    // the unescaped text, when wild is false
	wild bool      // the pattern has an unescaped * or ?
	segs []segment // the pattern split at each unescaped *
}

// segment is a run of the pattern between stars: literal text and `?`s.
// Its match at a given position is unique, which is what makes matching a
// whole pattern a greedy left-to-right scan rather than a backtracking
// search.
type segment []atom

// atom is literal text, or (when lit is "") one `?`. utf8 records whether
// lit is valid UTF-8: only then does an occurrence of lit in a subject
// necessarily start on a character boundary, which the fast paths rely on.
type atom struct {
	lit  string
	utf8 bool
}

// NewPattern compiles s. Every string is a valid pattern, so it cannot fail.
func NewPattern(s string) Pattern {
	p := Pattern{src: s}
	var (
		lit  strings.Builder // all unescaped text, for Literal
		cur  strings.Builder // literal text of the current atom
		seg  segment
		segs []segment
	)
	flush := func() {
		if cur.Len() > 0 {
			l := cur.String()
			seg = append(seg, atom{lit: l, utf8: utf8.ValidString(l)})
			cur.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			lit.WriteByte(s[i])
		case c == '*':
			p.wild = true
			flush()
			segs = append(segs, seg)
			seg = nil
		case c == '?':
			p.wild = true
			flush()
			seg = append(seg, atom{})
		default:
			cur.WriteByte(c)
			lit.WriteByte(c)
		}
	}
	flush()
	segs = append(segs, seg)
	if p.wild {
		p.segs = segs
	} else {
		p.lit = lit.String()
	}
	return p
}

// String returns the pattern's source text.
func (p Pattern) String() string { return p.src }

// Literal returns the string p matches when p has no wildcards, with its
// escapes removed, and true; or "" and false when p has wildcards.
func (p Pattern) Literal() (string, bool) {
	if p.wild {
		return "", false
	}
	return p.lit, true
}

// SQLLike returns the SQL LIKE pattern equivalent to p, for use with
// ESCAPE '\': `*` becomes `%`, `?` becomes `_`, and literal `%`, `_` and
// `\` are escaped with a backslash. LIKE is case-insensitive for ASCII in
// SQLite unless case_sensitive_like is on, so a store must arrange for
// case-sensitive comparison (or re-check with Match) to keep EC2's
// semantics.
func (p Pattern) SQLLike() string {
	var b strings.Builder
	b.Grow(len(p.src) + 4)
	s := p.src
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			writeSQLLiteral(&b, s[i])
		case c == '*':
			b.WriteByte('%')
		case c == '?':
			b.WriteByte('_')
		default:
			writeSQLLiteral(&b, c)
		}
	}
	return b.String()
}

func writeSQLLiteral(b *strings.Builder, c byte) {
	if c == '%' || c == '_' || c == '\\' {
		b.WriteByte('\\')
	}
	b.WriteByte(c)
}

// Match reports whether p matches the whole of s. It does not allocate,
// and takes O(len(s) × len(pattern)) time at worst: each segment between
// stars is placed at its leftmost possible position and never revisited,
// which is correct because a segment matches a fixed sequence of
// characters, so an earlier placement never leaves less room for the
// segments after it.
func (p Pattern) Match(s string) bool {
	if !p.wild {
		return s == p.lit
	}
	segs := p.segs
	if len(segs) == 1 { // only '?'s, no star
		end, ok := segs[0].matchAt(s, 0)
		return ok && end == len(s)
	}
	// The first segment is anchored at the start.
	pos, ok := segs[0].matchAt(s, 0)
	if !ok {
		return false
	}
	// Middle segments float: take the leftmost placement of each.
	for _, seg := range segs[1 : len(segs)-1] {
		pos, ok = seg.find(s, pos)
		if !ok {
			return false
		}
	}
	// The last segment is anchored at the end.
	return segs[len(segs)-1].matchSuffix(s, pos)
}

// matchAt matches seg at s[i:], returning where the match ends.
func (seg segment) matchAt(s string, i int) (int, bool) {
	for _, a := range seg {
		if a.lit != "" {
			if !strings.HasPrefix(s[i:], a.lit) {
				return 0, false
			}
			i += len(a.lit)
			continue
		}
		if i >= len(s) {
			return 0, false
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return i, true
}

// find returns the end of seg's leftmost match starting at or after i, on a
// character boundary.
func (seg segment) find(s string, i int) (int, bool) {
	if len(seg) == 0 {
		return i, true
	}
	for i <= len(s) {
		if a := seg[0]; a.lit != "" && a.utf8 {
			// Skip straight to the next place the leading literal occurs;
			// for other literals the rune-by-rune scan below keeps to
			// character boundaries.
			k := strings.Index(s[i:], a.lit)
			if k < 0 {
				return 0, false
			}
			i += k
		}
		if end, ok := seg.matchAt(s, i); ok {
			return end, true
		}
		if i == len(s) {
			break
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return 0, false
}

// matchSuffix reports whether seg matches s from some character boundary
// at or after i through to the end of s.
func (seg segment) matchSuffix(s string, i int) bool {
	if len(seg) == 0 {
		return true
	}
	if len(seg) == 1 && seg[0].lit != "" && seg[0].utf8 {
		// A plain literal can only be at one place; a valid UTF-8 literal
		// that occurs starts on a character boundary.
		return len(s)-i >= len(seg[0].lit) && strings.HasSuffix(s, seg[0].lit)
	}
	for {
		if end, ok := seg.matchAt(s, i); ok && end == len(s) {
			return true
		}
		if i >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
}
