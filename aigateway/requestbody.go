package aigateway

// A single-pass reader of a JSON object's top-level members. The gateway
// acts on a handful of fields of a request body and passes the rest on as
// the client sent it, so it validates the whole body (what it forwards must
// be JSON) but decodes only those fields, and edits the body by splicing
// bytes rather than by decoding and re-encoding it.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// maxNestingDepth is encoding/json's limit on nested arrays and objects,
// kept so that what the scanner accepts is what json.Valid accepts.
const maxNestingDepth = 10000

// jsonSyntaxError is where and why a document is not JSON. It reads like
// encoding/json's errors, with the byte offset of the offending byte.
type jsonSyntaxError struct {
	ctx       string // what was expected, in encoding/json's words
	char      byte   // the offending byte, unless eof
	eof       bool   // the document ended too soon
	notObject bool   // the document does not begin with an object
	offset    int
}

// Error describes the problem and its byte offset.
func (e *jsonSyntaxError) Error() string {
	switch {
	case e.eof:
		return "unexpected end of JSON input"
	case e.notObject:
		return "expected a JSON object, found " + quoteByte(e.char) + " at offset " + strconv.Itoa(e.offset)
	case e.ctx == ctxDepth:
		return "exceeded max depth at offset " + strconv.Itoa(e.offset)
	}
	return "invalid character " + quoteByte(e.char) + " " + e.ctx + " at offset " + strconv.Itoa(e.offset)
}

const ctxDepth = "exceeded max depth"

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

// member is one member of an object, as offsets into the scanned document.
type member struct {
	keyStart, keyEnd int  // the key, quotes included
	valStart, valEnd int  // the value
	keyEscaped       bool // the key holds a backslash escape
}

// objectScanner walks the members of one JSON object, validating as it
// goes, nested values included, without allocating (except for values
// nested more than 64 deep). The document is valid once next has returned
// false with err nil: exactly one object, surrounded by optional space.
type objectScanner struct {
	data  []byte
	pos   int
	state uint8
	err   *jsonSyntaxError
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

// newObjectScanner scans data[from:], which must hold one object and
// nothing else but space. Offsets are into data.
func newObjectScanner(data []byte, from int) objectScanner {
	return objectScanner{data: data, pos: from}
}

// Err is the syntax error that stopped the scan, nil for none.
func (s *objectScanner) Err() error {
	if s.err == nil {
		return nil
	}
	return s.err
}

// next returns the next member, or false at the end of the object or at
// the first syntax error (then in s.err).
func (s *objectScanner) next() (member, bool) {
	d := s.data
	switch s.state {
	case scanStart:
		s.skipSpace()
		if s.pos >= len(d) {
			return s.failEOF()
		}
		if d[s.pos] != '{' {
			s.state = scanFailed
			s.err = &jsonSyntaxError{char: d[s.pos], notObject: true, offset: s.pos}
			return member{}, false
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
		return member{}, false
	}
	if s.pos >= len(d) {
		return s.failEOF()
	}
	if d[s.pos] != '"' {
		return s.fail(s.pos, "looking for beginning of object key string")
	}
	var m member
	m.keyStart = s.pos
	esc, ok := s.skipString()
	if !ok {
		return member{}, false
	}
	m.keyEnd, m.keyEscaped = s.pos, esc
	s.skipSpace()
	if s.pos >= len(d) {
		return s.failEOF()
	}
	if d[s.pos] != ':' {
		return s.fail(s.pos, "after object key")
	}
	s.pos++
	s.skipSpace()
	m.valStart = s.pos
	if !s.skipValue() {
		return member{}, false
	}
	m.valEnd = s.pos
	s.state = scanMembers
	return m, true
}

// finish is at the closing brace: only space may follow.
func (s *objectScanner) finish() (member, bool) {
	s.end = s.pos
	s.pos++
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.fail(s.pos, "after top-level value")
	}
	s.state = scanDone
	return member{}, false
}

func (s *objectScanner) fail(at int, ctx string) (member, bool) {
	s.state = scanFailed
	s.err = &jsonSyntaxError{ctx: ctx, char: s.data[at], offset: at}
	return member{}, false
}

func (s *objectScanner) failEOF() (member, bool) {
	s.state = scanFailed
	s.err = &jsonSyntaxError{eof: true, offset: len(s.data)}
	return member{}, false
}

// bad and badEOF are fail and failEOF for the value skippers.
func (s *objectScanner) bad(at int, ctx string) bool {
	s.fail(at, ctx)
	return false
}

func (s *objectScanner) badEOF() bool {
	s.failEOF()
	return false
}

func (s *objectScanner) skipSpace() {
	d, i := s.data, s.pos
	for i < len(d) && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t') {
		i++
	}
	s.pos = i
}

// skipValue validates the value at s.pos and moves past it.
func (s *objectScanner) skipValue() bool {
	if s.pos < len(s.data) && (s.data[s.pos] == '{' || s.data[s.pos] == '[') {
		return s.skipContainer()
	}
	return s.skipScalar()
}

// skipScalar validates a string, number or literal at s.pos.
func (s *objectScanner) skipScalar() bool {
	d := s.data
	if s.pos >= len(d) {
		return s.badEOF()
	}
	switch c := d[s.pos]; {
	case c == '"':
		_, ok := s.skipString()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return s.skipNumber()
	case c == 't':
		return s.skipLiteral("true")
	case c == 'f':
		return s.skipLiteral("false")
	case c == 'n':
		return s.skipLiteral("null")
	}
	return s.bad(s.pos, "looking for beginning of value")
}

// Bit tricks to look at eight string bytes at once (see "Bit Twiddling
// Hacks", hasless and haszero): a string runs on until a quote, a
// backslash or a control byte.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func hasSpecialByte(x uint64) bool {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((q-ones)&^q|(b-ones)&^b|(x-ones*0x20)&^x)&highs != 0
}

// skipString validates the string at s.pos (at its opening quote) and
// moves past it, reporting whether it holds an escape.
func (s *objectScanner) skipString() (escaped, ok bool) {
	d := s.data
	i := s.pos + 1
	for {
		for i+8 <= len(d) && !hasSpecialByte(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
		}
		if i >= len(d) {
			return escaped, s.badEOF()
		}
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return escaped, s.badEOF()
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(d) {
						return escaped, s.badEOF()
					}
					if !isHex(d[k]) {
						return escaped, s.bad(k, `in \u hexadecimal character escape`)
					}
				}
				i += 6
			default:
				return escaped, s.bad(i+1, "in string escape code")
			}
		case c < 0x20:
			return escaped, s.bad(i, "in string literal")
		default:
			i++
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipNumber validates the number at s.pos against JSON's grammar: what
// may follow it is the container's business.
func (s *objectScanner) skipNumber() bool {
	d, i := s.data, s.pos
	if d[i] == '-' {
		i++
		if i >= len(d) {
			return s.badEOF()
		}
	}
	switch {
	case d[i] == '0':
		i++
	case isDigit(d[i]):
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	default:
		return s.bad(i, "in numeric literal")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) {
			return s.badEOF()
		}
		if !isDigit(d[i]) {
			return s.bad(i, "after decimal point in numeric literal")
		}
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) {
			return s.badEOF()
		}
		if !isDigit(d[i]) {
			return s.bad(i, "in exponent of numeric literal")
		}
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	s.pos = i
	return true
}

func (s *objectScanner) skipLiteral(lit string) bool {
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
func (s *objectScanner) skipContainer() bool {
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
			if open+2 > maxNestingDepth {
				return s.bad(s.pos, ctxDepth)
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
			if s.pos >= len(d) {
				return s.badEOF()
			}
			if d[s.pos] != '"' {
				return s.bad(s.pos, "looking for beginning of object key string")
			}
			if _, ok := s.skipString(); !ok {
				return false
			}
			s.skipSpace()
			if s.pos >= len(d) {
				return s.badEOF()
			}
			if d[s.pos] != ':' {
				return s.bad(s.pos, "after object key")
			}
			s.pos++
			s.skipSpace()
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

// keyIs reports whether the key of m (in the scanned document d) is name,
// which must be ASCII, decoding the key's escapes on the way without
// allocating: "mod\u0065l" is model, as it is to any JSON decoder.
func keyIs(d []byte, m member, name string) bool {
	raw := d[m.keyStart+1 : m.keyEnd-1]
	if !m.keyEscaped {
		return string(raw) == name
	}
	var buf [maxFoldedKey]byte
	key, ok := unescapeKey(buf[:0], raw)
	return ok && string(key) == name
}

// maxFoldedKey bounds the keys compared by decoding them first. A key
// that case-folds to an ASCII name is at most three bytes per byte of it
// (the Kelvin sign folds to k), so none of the gateway's names is near it.
const maxFoldedKey = 96

// unescapeKey appends the decoded raw (a valid JSON string's bytes between
// its quotes) to dst, reporting false if it would not fit in dst's
// capacity: a key that long is not one the gateway looks for. Escaped
// surrogates are decoded as encoding/json does, U+FFFD for a lone one.
func unescapeKey(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		if cap(dst)-len(dst) < utf8.UTFMax {
			return dst, false
		}
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if r >= 0xd800 && r < 0xdc00 && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
				if lo := hex4(raw[i+2:]); lo >= 0xdc00 && lo < 0xe000 {
					r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
					i += 6
				}
			}
			if r >= 0xd800 && r < 0xe000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			c = raw[i+1]
		}
		dst = append(dst, c)
		i += 2
	}
	return dst, true
}

// hex4 is the value of the four hex digits at the start of b.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// keyFoldsTo reports whether the key of m equals name under the Unicode
// case folding encoding/json matches field names with (bytes.EqualFold),
// so "MODEL" and "ſtream" (a long s) fold to model and stream.
func keyFoldsTo(d []byte, m member, name string) bool {
	raw := d[m.keyStart+1 : m.keyEnd-1]
	if m.keyEscaped {
		var buf [maxFoldedKey]byte
		key, ok := unescapeKey(buf[:0], raw)
		if !ok {
			return false
		}
		raw = key
	}
	if len(raw) < len(name) || len(raw) > 3*len(name) {
		return false
	}
	return bytes.EqualFold(raw, []byte(name))
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, byte by byte, as encoding/json encodes it.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// The top-level fields of a request the gateway acts on, by index.
const (
	fieldModel = iota
	fieldStream
	fieldStreamOptions
	fieldMaxTokens
	fieldMaxCompletionTokens
	numFields
)

var fieldNames = [numFields]string{"model", "stream", "stream_options", "max_tokens", "max_completion_tokens"}

// bodyScan is what one scan of a request body finds: where the fields the
// gateway acts on are, and what is needed to splice members in and out.
type bodyScan struct {
	field [numFields]member
	has   [numFields]bool
	// next is the key offset of the member after each field, -1 for none.
	next [numFields]int
	// n members in all, the first and the last of them.
	n           int
	first, last member
	// lastOther is the last member that is not a completion bound, the
	// last one kept when the bounds are taken out.
	lastOther member
	hasOther  bool
	// end is the offset of the object's closing brace.
	end int
	// amb is the first member that parsers read differently, a field
	// found twice or a case variant of one, with the field it is (-1 for
	// none) and whether it is a repeat.
	amb      member
	ambField int
	ambDup   bool
	err      *jsonSyntaxError
}

// scanBody scans a request body once, validating all of it.
func scanBody(body []byte) bodyScan {
	sc := bodyScan{ambField: -1}
	s := newObjectScanner(body, 0)
	prev := -1 // the field the previous member was, -1 for another member
	for m, ok := s.next(); ok; m, ok = s.next() {
		if prev >= 0 {
			sc.next[prev] = m.keyStart
		}
		if sc.n == 0 {
			sc.first = m
		}
		sc.n++
		sc.last = m
		prev = -1
		f, exact := fieldOf(body, m, fieldNames[:])
		switch {
		case f < 0:
		case !exact || sc.has[f]:
			if sc.ambField < 0 {
				sc.amb, sc.ambField, sc.ambDup = m, f, exact
			}
			f = -1
		default:
			sc.field[f], sc.has[f], sc.next[f] = m, true, -1
			prev = f
		}
		if f != fieldMaxTokens && f != fieldMaxCompletionTokens {
			sc.lastOther, sc.hasOther = m, true
		}
	}
	sc.err, sc.end = s.err, s.end
	return sc
}

// fieldOf is which of names (ASCII) the key of m is, -1 for none, and
// whether exactly or only under case folding: "MODEL" is not model to an
// upstream that matches names exactly, but it is to one decoding with
// encoding/json, which takes the last of "model" and "MODEL".
func fieldOf(d []byte, m member, names []string) (int, bool) {
	// Keys are mostly unescaped: their length rules most names out.
	n := m.keyEnd - m.keyStart - 2
	for f, name := range names {
		if (m.keyEscaped || n == len(name)) && keyIs(d, m, name) {
			return f, true
		}
	}
	for f, name := range names {
		if (m.keyEscaped || n >= len(name) && n <= 3*len(name)) && keyFoldsTo(d, m, name) {
			return f, false
		}
	}
	return -1, false
}

// errAmbiguous is the error for a body parsers read differently: a field
// the gateway acts on sent twice, or under a name that differs from it
// only in case. The gateway would act on one occurrence while the
// upstream, whose parser may keep another, acts on that.
// The field's name is under parent ("" or "stream_options.").
func errAmbiguous(body []byte, m member, parent, name string, dup bool) *providers.Error {
	name = parent + name
	if dup {
		return errBadRequest("invalid_json", name, "duplicate field '"+name+"'")
	}
	var key string
	_ = json.Unmarshal(body[m.keyStart:m.keyEnd], &key)
	return errBadRequest("invalid_json", name, "field '"+parent+key+"' differs from '"+name+"' only in case; field names are case-sensitive")
}

func errFieldType(name, want string) *providers.Error {
	return errBadRequest("invalid_type", name, "invalid type for '"+name+"': expected "+want)
}

// parseInbound decodes the fields the gateway needs. It rejects bodies that
// are not one JSON object, a field it acts on sent twice, a field of the
// wrong type, and a missing model. Field names match exactly, as upstream
// providers match them; null is taken for absent, as encoding/json does.
func parseInbound(body []byte) (inboundRequest, *providers.Error) {
	var in inboundRequest
	if len(body) == 0 {
		return in, errBadRequest("invalid_json", "", "the request body is empty; expected a JSON object")
	}
	sc := scanBody(body)
	if sc.err != nil {
		if sc.err.notObject {
			return in, errBadRequest("invalid_json", "", "the request body must be a JSON object")
		}
		return in, errBadRequest("invalid_json", "", "the request body is not valid JSON: "+sc.err.Error())
	}
	if sc.ambField >= 0 {
		return in, errAmbiguous(body, sc.amb, "", fieldNames[sc.ambField], sc.ambDup)
	}
	var usage member
	var hasUsage bool
	if sc.has[fieldStreamOptions] {
		var perr *providers.Error
		if usage, hasUsage, perr = includeUsageOf(body, sc.field[fieldStreamOptions]); perr != nil {
			return in, perr
		}
	}
	// Type errors are reported for the first field in the body, as
	// encoding/json reports them.
	var perr *providers.Error
	at := len(body)
	fail := func(m member, e *providers.Error) {
		if m.valStart < at {
			at, perr = m.valStart, e
		}
	}
	for f := range numFields {
		if !sc.has[f] {
			continue
		}
		m := sc.field[f]
		v := body[m.valStart:m.valEnd]
		if string(v) == "null" {
			continue
		}
		var ok bool
		switch f {
		case fieldModel:
			if in.Model, ok = decodeString(v); !ok {
				fail(m, errFieldType("model", "string"))
			}
		case fieldStream:
			if in.Stream, ok = decodeBool(v); !ok {
				fail(m, errFieldType("stream", "bool"))
			}
		case fieldStreamOptions:
			if v[0] != '{' {
				fail(m, errFieldType("stream_options", "object"))
			} else if hasUsage && string(body[usage.valStart:usage.valEnd]) != "null" {
				if in.IncludeUsage, ok = decodeBool(body[usage.valStart:usage.valEnd]); !ok {
					fail(m, errFieldType("stream_options.include_usage", "bool"))
				}
			}
		case fieldMaxTokens:
			if in.MaxTokens, ok = decodeInt(v); !ok {
				fail(m, errFieldType("max_tokens", "int64"))
			}
			in.HasMaxTokens = ok
		case fieldMaxCompletionTokens:
			if in.MaxCompletionTokens, ok = decodeInt(v); !ok {
				fail(m, errFieldType("max_completion_tokens", "int64"))
			}
			in.HasMaxCompletionTokens = ok
		}
	}
	if perr != nil {
		// What was decoded still goes in the usage record.
		return in, perr
	}
	if in.Model == "" {
		return in, errBadRequest("missing_model", "model", "you must provide a model parameter")
	}
	return in, nil
}

// includeUsageOf finds include_usage in the stream_options member when
// that is an object. It too must be unambiguous: it decides whether the
// gateway asks the upstream for the usage it meters.
func includeUsageOf(body []byte, so member) (usage member, found bool, perr *providers.Error) {
	if body[so.valStart] != '{' {
		return usage, false, nil
	}
	s := newObjectScanner(body[:so.valEnd], so.valStart)
	for m, ok := s.next(); ok; m, ok = s.next() {
		f, exact := fieldOf(body, m, includeUsageName[:])
		switch {
		case f < 0:
		case !exact || found:
			return usage, false, errAmbiguous(body, m, "stream_options.", "include_usage", exact)
		default:
			usage, found = m, true
		}
	}
	return usage, found, nil
}

var includeUsageName = [1]string{"include_usage"}

// decodeString decodes a JSON string value; v is valid JSON.
func decodeString(v []byte) (string, bool) {
	if v[0] != '"' {
		return "", false
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	// Escapes and invalid UTF-8 (made U+FFFD) as encoding/json has them.
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}

func decodeBool(v []byte) (bool, bool) {
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// decodeInt decodes a JSON number that is an int64, as encoding/json does
// into an int64: no fraction, no exponent, no overflow.
func decodeInt(v []byte) (int64, bool) {
	neg := v[0] == '-'
	if neg {
		v = v[1:]
	}
	var u uint64
	for _, c := range v {
		if !isDigit(c) || u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u <= 1<<63:
		return -int64(u), true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// splice is one edit of a body: bytes [start, end) replaced by what op
// writes.
type splice struct {
	start, end int
	op         uint8
	comma      bool // the inserted text begins with a comma
}

const (
	opDelete      = iota
	opModel       // the new model, as a JSON string
	opCap         // the completion cap
	opTrue        // true
	opUsageObject // {"include_usage":true}
	opUsageMember // "include_usage":true
	opAppend      // the members to add at the end of the object
)

// rewriteBody returns body with the model (now current) replaced by model,
// the completion bound set to capTokens under capField when capTokens > 0,
// and, when forceUsage is set, stream_options.include_usage turned on, so
// the gateway can meter a stream the client did not ask usage for. It
// splices the body: the other members keep their bytes and their order.
// It returns body itself when nothing changes.
func rewriteBody(body []byte, current, model string, forceUsage bool, capTokens int64, capField string) ([]byte, error) {
	if !forceUsage && current == model && capTokens <= 0 {
		return body, nil
	}
	capAt := -1
	if capTokens > 0 {
		switch capField {
		case "max_tokens":
			capAt = fieldMaxTokens
		case "max_completion_tokens":
			capAt = fieldMaxCompletionTokens
		default:
			return nil, errors.New("aigateway: " + capField + " is not a completion bound")
		}
	}
	sc := scanBody(body)
	if sc.err != nil {
		return nil, sc.err
	}
	if sc.ambField >= 0 {
		return nil, errors.New(errAmbiguous(body, sc.amb, "", fieldNames[sc.ambField], sc.ambDup).Message)
	}
	var ed splices
	var appendModel, appendCap, appendUsage bool

	if !sc.has[fieldModel] {
		appendModel = true
	} else if current != model {
		m := sc.field[fieldModel]
		ed.add(m.valStart, m.valEnd, opModel, false)
	}

	// All members are kept but the completion bounds the cap replaces.
	// Members are added after the last one kept, and a run of removed
	// members at the end is cut from there.
	lastKept, hasKept := sc.last, sc.n > 0
	if capAt >= 0 {
		lastKept, hasKept = sc.lastOther, sc.hasOther
		if m := sc.field[capAt]; sc.has[capAt] && (!hasKept || m.keyStart > lastKept.keyStart) {
			lastKept, hasKept = m, true
		}
		var num [20]byte
		capText := strconv.AppendInt(num[:0], capTokens, 10)
		cut := false
		for _, f := range [2]int{fieldMaxTokens, fieldMaxCompletionTokens} {
			m := sc.field[f]
			switch {
			case !sc.has[f]:
			case f == capAt:
				if !bytes.Equal(body[m.valStart:m.valEnd], capText) {
					ed.add(m.valStart, m.valEnd, opCap, false)
				}
			case hasKept && m.keyStart < lastKept.keyStart:
				// Up to the next member's key: its comma goes with it.
				ed.add(m.keyStart, sc.next[f], opDelete, false)
			default:
				cut = true
			}
		}
		appendCap = !sc.has[capAt]
		if cut {
			// From the end of the last member kept, taking the comma
			// after it, or all the members when none is kept.
			start := sc.first.keyStart
			if hasKept {
				start = lastKept.valEnd
			}
			ed.add(start, sc.last.valEnd, opDelete, false)
		}
	}

	if forceUsage {
		m := sc.field[fieldStreamOptions]
		switch {
		case !sc.has[fieldStreamOptions]:
			appendUsage = true
		case body[m.valStart] == 'n':
			ed.add(m.valStart, m.valEnd, opUsageObject, false)
		case body[m.valStart] == '{':
			usage, found, perr := includeUsageOf(body, m)
			if perr != nil {
				return nil, errors.New(perr.Message)
			}
			if found {
				if string(body[usage.valStart:usage.valEnd]) != "true" {
					ed.add(usage.valStart, usage.valEnd, opTrue, false)
				}
				break
			}
			s := newObjectScanner(body[:m.valEnd], m.valStart)
			var last member
			some := false
			for nm, ok := s.next(); ok; nm, ok = s.next() {
				last, some = nm, true
			}
			if some {
				ed.add(last.valEnd, last.valEnd, opUsageMember, true)
			} else {
				ed.add(s.end, s.end, opUsageMember, false)
			}
		default:
			return nil, errors.New("stream_options is not an object")
		}
	}

	if appendModel || appendCap || appendUsage {
		at := sc.end
		switch {
		case hasKept:
			at = lastKept.valEnd
		case sc.n > 0:
			at = sc.first.keyStart
		}
		ed.add(at, at, opAppend, hasKept)
	}
	if ed.n == 0 {
		return body, nil
	}
	ed.sort()

	out := make([]byte, 0, len(body)+len(model)+len(capField)+96)
	pos := 0
	for _, e := range ed.list[:ed.n] {
		out = append(out, body[pos:e.start]...)
		pos = e.end
		if e.comma {
			out = append(out, ',')
		}
		switch e.op {
		case opModel:
			out = appendJSONString(out, model)
		case opCap:
			out = strconv.AppendInt(out, capTokens, 10)
		case opTrue:
			out = append(out, "true"...)
		case opUsageObject:
			out = append(out, `{"include_usage":true}`...)
		case opUsageMember:
			out = append(out, `"include_usage":true`...)
		case opAppend:
			sep := false
			if appendModel {
				out = append(out, `"model":`...)
				out = appendJSONString(out, model)
				sep = true
			}
			if appendCap {
				if sep {
					out = append(out, ',')
				}
				out = appendJSONString(out, capField)
				out = append(out, ':')
				out = strconv.AppendInt(out, capTokens, 10)
				sep = true
			}
			if appendUsage {
				if sep {
					out = append(out, ',')
				}
				out = append(out, `"stream_options":{"include_usage":true}`...)
			}
		}
	}
	return append(out, body[pos:]...), nil
}

// splices are the few edits rewriteBody makes, kept off the heap.
type splices struct {
	list [8]splice
	n    int
}

func (s *splices) add(start, end int, op uint8, comma bool) {
	s.list[s.n] = splice{start: start, end: end, op: op, comma: comma}
	s.n++
}

// sort orders the edits by position; an insertion goes before a removal
// starting where it is.
func (s *splices) sort() {
	l := s.list[:s.n]
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && (l[j].start < l[j-1].start || l[j].start == l[j-1].start && l[j].end == l[j].start); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}
