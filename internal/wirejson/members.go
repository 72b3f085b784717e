package wirejson

// Members reads the top-level members of a JSON object in a single pass,
// for a reader that acts on a handful of a document's members and passes
// the rest on as they are (the gateway with a request body): it validates
// the whole document, as json.Valid would, but decodes nothing, giving
// each member's key and value as offsets, so that the reader decodes only
// what it needs and can edit the document by splicing bytes rather than
// by decoding and re-encoding it.

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// maxValidDepth is encoding/json's limit on nested arrays and objects,
// kept so that what Members accepts is what json.Valid accepts.
const maxValidDepth = 10000

// SyntaxError is where and why a document is not JSON, or not the one
// object Members reads. Its message reads like encoding/json's, with the
// byte offset of the offending byte.
type SyntaxError struct {
	// Offset is that of the offending byte, or the document's length when
	// it ended too soon.
	Offset int
	// NotObject reports that the document does not begin with an object.
	NotObject bool

	why  string // what was expected, in encoding/json's words
	char byte   // the offending byte, unless eof
	eof  bool   // the document ended too soon
}

// Error describes the problem and its byte offset.
func (e *SyntaxError) Error() string {
	switch {
	case e.eof:
		return "unexpected end of JSON input"
	case e.NotObject:
		return "expected a JSON object, found " + quoteByte(e.char) + " at offset " + strconv.Itoa(e.Offset)
	case e.why == whyDepth:
		return "exceeded max depth at offset " + strconv.Itoa(e.Offset)
	}
	return "invalid character " + quoteByte(e.char) + " " + e.why + " at offset " + strconv.Itoa(e.Offset)
}

const whyDepth = "exceeded max depth"

// quoteByte quotes c for an error message as encoding/json does.
func quoteByte(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= utf8.RuneSelf:
		return `'\x` + strconv.FormatUint(uint64(c), 16) + `'`
	}
	q := strconv.Quote(string(rune(c)))
	return "'" + q[1:len(q)-1] + "'"
}

// Member is one member of an object, as offsets into the document that
// Members reads.
type Member struct {
	KeyStart, KeyEnd int  // the key, quotes included
	ValStart, ValEnd int  // the value
	KeyEscaped       bool // the key holds a backslash escape
}

// Value returns the member's value as it is in doc, the document read.
func (m Member) Value(doc []byte) []byte { return doc[m.ValStart:m.ValEnd] }

// Members walks the members of one JSON object, validating as it goes,
// nested values included, without allocating (except for values nested
// more than 64 deep). It accepts what json.Valid accepts, nesting as deep
// and no deeper. The document is valid once Next has returned false with
// Err nil: exactly one object, surrounded by optional space.
type Members struct {
	data  []byte
	pos   int
	state uint8
	err   *SyntaxError
	// end is the offset of the object's closing brace once done.
	end int
	// deep records which containers nested beyond 64 levels are objects;
	// the first 64 levels fit in a word.
	deep []bool
}

const (
	scanStart = iota
	scanMembers
	scanDone
	scanFailed
)

// NewMembers reads the object in doc[from:], which must hold that object
// and nothing else but space. The offsets of the members it returns, and
// of its errors, are into doc.
func NewMembers(doc []byte, from int) Members {
	return Members{data: doc, pos: from}
}

// Err is the syntax error that stopped the reading, a *SyntaxError; nil
// for none.
func (s *Members) Err() error {
	if s.err == nil {
		return nil
	}
	return s.err
}

// End is the offset of the object's closing brace, once Next has returned
// false with Err nil.
func (s *Members) End() int { return s.end }

// Next returns the next member, or false at the end of the object or at
// the first syntax error (then in Err).
func (s *Members) Next() (Member, bool) {
	d := s.data
	switch s.state {
	case scanStart:
		s.skipSpace()
		if s.pos >= len(d) {
			return s.failEOF()
		}
		if d[s.pos] != '{' {
			s.state = scanFailed
			s.err = &SyntaxError{char: d[s.pos], NotObject: true, Offset: s.pos}
			return Member{}, false
		}
		s.pos++
		s.skipSpace()
		if s.pos < len(d) && d[s.pos] == '}' {
			return s.finish()
		}
	case scanMembers:
		s.skipSpace()
		if s.pos >= len(d) {
			return s.failEOF()
		}
		switch d[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case '}':
			return s.finish()
		default:
			return s.fail(s.pos, "after object key:value pair")
		}
	default:
		return Member{}, false
	}
	var m Member
	m.KeyStart = s.pos
	keyEnd, esc, ok := s.skipKey()
	if !ok {
		return Member{}, false
	}
	m.KeyEnd, m.KeyEscaped = keyEnd, esc
	m.ValStart = s.pos
	if !s.skipValue() {
		return Member{}, false
	}
	m.ValEnd = s.pos
	s.state = scanMembers
	return m, true
}

// finish is at the closing brace: only space may follow.
func (s *Members) finish() (Member, bool) {
	s.end = s.pos
	s.pos++
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.fail(s.pos, "after top-level value")
	}
	s.state = scanDone
	return Member{}, false
}

func (s *Members) fail(at int, why string) (Member, bool) {
	s.state = scanFailed
	s.err = &SyntaxError{why: why, char: s.data[at], Offset: at}
	return Member{}, false
}

func (s *Members) failEOF() (Member, bool) {
	s.state = scanFailed
	s.err = &SyntaxError{eof: true, Offset: len(s.data)}
	return Member{}, false
}

// bad and badEOF are fail and failEOF for the value skippers.
func (s *Members) bad(at int, why string) bool {
	s.fail(at, why)
	return false
}

func (s *Members) badEOF() bool {
	s.failEOF()
	return false
}

// badAt fails at the offset a token scanner reported (len(s.data) for an
// early end).
func (s *Members) badAt(at int, why string) bool {
	if at >= len(s.data) {
		return s.badEOF()
	}
	return s.bad(at, why)
}

func (s *Members) skipSpace() {
	d, i := s.data, s.pos
	for i < len(d) && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t') {
		i++
	}
	s.pos = i
}

// skipValue validates the value at s.pos and moves past it.
func (s *Members) skipValue() bool {
	if s.pos < len(s.data) && (s.data[s.pos] == '{' || s.data[s.pos] == '[') {
		return s.skipContainer()
	}
	return s.skipScalar()
}

// skipScalar validates a string, number or literal at s.pos.
func (s *Members) skipScalar() bool {
	d := s.data
	if s.pos >= len(d) {
		return s.badEOF()
	}
	switch c := d[s.pos]; {
	case c == '"':
		_, ok := s.skipString()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		end, bad, why := scanNumber(d, s.pos)
		if end < 0 {
			return s.badAt(bad, why)
		}
		s.pos = end
		return true
	case c == 't':
		return s.skipLiteral("true")
	case c == 'f':
		return s.skipLiteral("false")
	case c == 'n':
		return s.skipLiteral("null")
	}
	return s.bad(s.pos, "looking for beginning of value")
}

// skipString validates the string at s.pos (at its opening quote) and
// moves past it, reporting whether it holds an escape.
func (s *Members) skipString() (escaped, ok bool) {
	end, flags, bad, why := scanString(s.data, s.pos+1)
	escaped = flags&strEscaped != 0
	if end < 0 {
		return escaped, s.badAt(bad, why)
	}
	s.pos = end
	return escaped, true
}

// skipKey validates an object key at s.pos and the colon after it, and
// moves to the value, returning where the key ends and whether it holds
// an escape.
func (s *Members) skipKey() (keyEnd int, escaped, ok bool) {
	d := s.data
	if s.pos >= len(d) {
		return 0, false, s.badEOF()
	}
	if d[s.pos] != '"' {
		return 0, false, s.bad(s.pos, "looking for beginning of object key string")
	}
	if escaped, ok = s.skipString(); !ok {
		return 0, escaped, false
	}
	keyEnd = s.pos
	s.skipSpace()
	if s.pos >= len(d) {
		return keyEnd, escaped, s.badEOF()
	}
	if d[s.pos] != ':' {
		return keyEnd, escaped, s.bad(s.pos, "after object key")
	}
	s.pos++
	s.skipSpace()
	return keyEnd, escaped, true
}

func (s *Members) skipLiteral(lit string) bool {
	d := s.data
	for k := 1; k < len(lit); k++ {
		i := s.pos + k
		if i >= len(d) {
			return s.badEOF()
		}
		if d[i] != lit[k] {
			return s.bad(i, "in literal "+lit+" (expecting "+quoteByte(lit[k])+")")
		}
	}
	s.pos += len(lit)
	return true
}

// skipContainer validates the array or object at s.pos and moves past it,
// iteratively: a stack of the open containers' kinds, not recursion,
// carries the nesting.
func (s *Members) skipContainer() bool {
	const (
		atOpen  = iota // at '{' or '['
		atKey          // where an object key must begin
		atValue        // where a value must begin
		atAfter        // just past a value
	)
	d := s.data
	// open counts the containers open within this value; the enclosing
	// top-level object is one more level.
	open := 0
	var kinds uint64 // bit i set: the i-th open container is an object
	isObject := func(i int) bool {
		if i < 64 {
			return kinds>>i&1 != 0
		}
		return s.deep[i-64]
	}
	st := atOpen
	for {
		switch st {
		case atOpen:
			if open+2 > maxValidDepth {
				return s.bad(s.pos, whyDepth)
			}
			obj := d[s.pos] == '{'
			if open < 64 {
				if obj {
					kinds |= 1 << open
				} else {
					kinds &^= 1 << open
				}
			} else {
				s.deep = append(s.deep[:open-64], obj)
			}
			open++
			s.pos++
			s.skipSpace()
			if s.pos >= len(d) {
				return s.badEOF()
			}
			switch c := d[s.pos]; {
			case obj && c == '}', !obj && c == ']':
				s.pos++
				open--
				st = atAfter
			case obj:
				st = atKey
			default:
				st = atValue
			}
		case atKey:
			if _, _, ok := s.skipKey(); !ok {
				return false
			}
			st = atValue
		case atValue:
			if s.pos < len(d) && (d[s.pos] == '{' || d[s.pos] == '[') {
				st = atOpen
				continue
			}
			if !s.skipScalar() {
				return false
			}
			st = atAfter
		case atAfter:
			if open == 0 {
				return true
			}
			s.skipSpace()
			if s.pos >= len(d) {
				return s.badEOF()
			}
			obj := isObject(open - 1)
			switch c := d[s.pos]; {
			case c == ',':
				s.pos++
				s.skipSpace()
				if obj {
					st = atKey
				} else {
					st = atValue
				}
			case obj && c == '}', !obj && c == ']':
				s.pos++
				open--
			case obj:
				return s.bad(s.pos, "after object key:value pair")
			default:
				return s.bad(s.pos, "after array element")
			}
		}
	}
}

// KeyIs reports whether the key of m, in doc, is name, decoding the key's
// escapes on the way: "mod\u0065l" is model, as it is to any JSON decoder.
// It does not allocate for a name of up to 30 bytes.
func (m Member) KeyIs(doc []byte, name string) bool {
	raw := doc[m.KeyStart+1 : m.KeyEnd-1]
	if !m.KeyEscaped {
		return string(raw) == name
	}
	var buf [maxStackKey]byte
	key, ok := unescapeKey(buf[:0], raw, len(name))
	return ok && string(key) == name
}

// KeyFoldsTo reports whether the key of m, in doc, equals name under the
// Unicode case folding encoding/json matches field names with
// (bytes.EqualFold), so "MODEL" and "ſtream" (a long s) fold to model and
// stream. It does not allocate for a name of up to 30 bytes.
func (m Member) KeyFoldsTo(doc []byte, name string) bool {
	raw := doc[m.KeyStart+1 : m.KeyEnd-1]
	if m.KeyEscaped {
		var buf [maxStackKey]byte
		key, ok := unescapeKey(buf[:0], raw, 3*len(name))
		if !ok {
			return false
		}
		raw = key
	}
	// A rune folds onto one of no more bytes and of at most three times
	// fewer (the Kelvin sign, three bytes, folds to k).
	if len(raw) < len(name) || len(raw) > 3*len(name) {
		return false
	}
	return bytes.EqualFold(raw, []byte(name))
}

// Match reports which of names the key of m, in doc, is (-1 for none),
// and whether exactly or only under case folding: "MODEL" is not model to
// a reader that matches names exactly, as upstream APIs do, but it is to
// encoding/json, which takes the last of "model" and "MODEL". Exact
// matches come first: a key that is one name and folds to another is the
// one it is.
func (m Member) Match(doc []byte, names []string) (index int, exact bool) {
	// Keys are mostly unescaped: their length rules most names out.
	n := m.KeyEnd - m.KeyStart - 2
	for f, name := range names {
		if (m.KeyEscaped || n == len(name)) && m.KeyIs(doc, name) {
			return f, true
		}
	}
	for f, name := range names {
		if (m.KeyEscaped || n >= len(name) && n <= 3*len(name)) && m.KeyFoldsTo(doc, name) {
			return f, false
		}
	}
	return -1, false
}

// maxStackKey is the size of the buffer on the stack that keys are
// unescaped into to be compared: a name that could match a longer key (a
// name of more than 30 bytes: it case-folds onto keys of up to three times
// its length) has keys unescaped on the heap.
const maxStackKey = 96

// unescapeKey appends raw, a valid JSON string's bytes between its quotes,
// unescaped as encoding/json unescapes it, to dst, when the result may
// match a name of limit bytes: ok is false for a key that turns out too
// long to. It grows dst only when dst's capacity could not hold limit
// bytes.
func unescapeKey(dst, raw []byte, limit int) (key []byte, ok bool) {
	if limit+utf8.UTFMax > cap(dst)-len(dst) {
		return unquote(dst, raw), true
	}
	return appendUnquoted(dst, raw, true)
}
