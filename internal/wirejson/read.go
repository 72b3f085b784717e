// Package wirejson is the lean JSON reading and writing of the hot paths
// (a request body checked and edited by the gateway, an answer or stream
// event decoded, a request or chunk encoded by a codec, thousands of times
// a second), where encoding/json's reflection and allocations cost more
// than the work itself.
//
// All of it is held to encoding/json's behaviour, byte for byte:
//
//   - Reader decodes only what it can decode exactly as json.Unmarshal
//     would into the codec's wire structs. Anything else (a syntax error, a
//     value of an unexpected type, a duplicated key, a key that is escaped
//     or matches a field only case-insensitively, very deep nesting) makes
//     it fail, and the codec then decodes the same bytes with encoding/json:
//     the result, or the error, is encoding/json's by construction.
//   - Members validates a whole object as json.Valid does (its errors read
//     like encoding/json's) and hands out its top-level members as byte
//     offsets, for a reader that decodes only a few of them and passes the
//     document on, or splices it, as it is.
//   - The Append functions write what json.Marshal writes: HTML-safe string
//     escaping, invalid UTF-8 as \ufffd, floats in ES6 form, raw values
//     compacted, and the same errors (AppendStringNoHTMLEscape, what a
//     json.Encoder writes after SetEscapeHTML(false)).
package wirejson

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting a Reader follows. Deeper input is left to
// encoding/json, which has its own limit.
const maxDepth = 1000

// Reader reads JSON values from a byte slice, one call per value, in the
// order they appear. After a failure every read returns a zero value, and
// End reports false.
type Reader struct {
	data   []byte
	pos    int
	depth  int
	failed bool
	// buf holds the last unescaped string that needed unescaping.
	buf []byte
	// interned are the last strings Interned allocated.
	interned [4]string
	next     int
}

// Reset makes r read data from its start, keeping its scratch buffer and
// interned strings.
func (r *Reader) Reset(data []byte) {
	r.data, r.pos, r.depth, r.failed, r.buf = data, 0, 0, false, r.buf[:0]
}

// Fail marks the input as one the caller does not handle: the caller will
// decode it with encoding/json instead.
func (r *Reader) Fail() { r.failed = true }

// End reports whether everything was read successfully and only
// whitespace follows the last value.
func (r *Reader) End() bool {
	r.skipSpace()
	return !r.failed && r.pos == len(r.data)
}

func (r *Reader) skipSpace() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// consume skips whitespace and then c, reporting whether c was there.
func (r *Reader) consume(c byte) bool {
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == c {
		r.pos++
		return true
	}
	return false
}

// literal consumes lit (null, true or false) if it comes next.
func (r *Reader) literal(lit string) bool {
	r.skipSpace()
	if r.failed || !bytes.HasPrefix(r.data[r.pos:], []byte(lit)) {
		return false
	}
	r.pos += len(lit)
	return true
}

// Peek returns the first byte of the next value without reading it, 0 at
// the end of the input.
func (r *Reader) Peek() byte {
	r.skipSpace()
	if r.failed || r.pos >= len(r.data) {
		return 0
	}
	return r.data[r.pos]
}

// Null consumes a null if one comes next and reports whether it did.
// (encoding/json sets a pointer, slice or map to nil on null and leaves
// anything else as it is.)
func (r *Reader) Null() bool { return r.literal("null") }

// String reads a string value. A null reads as "" (a string field keeps
// its zero value).
func (r *Reader) String() string {
	if r.Null() {
		return ""
	}
	b := r.stringBytes()
	return string(b)
}

// Symbol reads a string value that is usually one of known, returning
// that constant rather than a new string when it is.
func (r *Reader) Symbol(known []string) string {
	if r.Null() {
		return ""
	}
	b := r.stringBytes()
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

// Interned reads a string value that repeats from one input to the next
// (a stream's id and model in each of its chunks): while it does, it is
// returned without an allocation.
func (r *Reader) Interned() string {
	if r.Null() {
		return ""
	}
	b := r.stringBytes()
	for _, s := range r.interned {
		if string(b) == s {
			return s
		}
	}
	s := string(b)
	r.interned[r.next] = s
	r.next = (r.next + 1) % len(r.interned)
	return s
}

// stringBytes reads a string value and returns its unescaped content: the
// input's own bytes when nothing needed unescaping, else r.buf (valid
// until the next read).
func (r *Reader) stringBytes() []byte {
	s, plain, ok := r.scanString()
	if !ok || plain {
		return s
	}
	r.buf = unquote(r.buf[:0], s)
	return r.buf
}

// scanString reads a string value and returns the bytes between its
// quotes, and whether they are its content as they are (no escapes, valid
// UTF-8).
func (r *Reader) scanString() (s []byte, plain, ok bool) {
	if !r.consume('"') {
		r.failed = true
		return nil, false, false
	}
	start := r.pos
	// Most strings are found whole by the word-wise skip (a call less
	// than scanString, which matters for a stream's many short strings).
	if i, high := skipPlainIn(r.data, start); i < len(r.data) && r.data[i] == '"' {
		r.pos = i + 1
		s = r.data[start:i]
		// Invalid UTF-8 becomes U+FFFD.
		return s, high&highs == 0 || utf8.Valid(s), true
	}
	end, flags, _, _ := scanString(r.data, start)
	if end < 0 {
		r.failed = true
		return nil, false, false
	}
	r.pos = end
	s = r.data[start : end-1]
	plain = flags&strEscaped == 0 && (flags&strNonASCII == 0 || utf8.Valid(s))
	return s, plain, true
}

// number reads a number value and returns its text.
func (r *Reader) number() []byte {
	r.skipSpace()
	start := r.pos
	end, _, _ := scanNumber(r.data, start)
	if end < 0 {
		r.failed = true
		return nil
	}
	r.pos = end
	return r.data[start:end]
}

// Int64 reads an integer. A null reads as 0; a fraction, an exponent or
// an overflow fails (encoding/json reports them as type errors).
func (r *Reader) Int64() int64 { return r.integer(64) }

// Int reads an integer that must fit in an int.
func (r *Reader) Int() int { return int(r.integer(strconv.IntSize)) }

func (r *Reader) integer(bits int) int64 {
	if r.Null() {
		return 0
	}
	b := r.number()
	if r.failed {
		return 0
	}
	n, ok := parseInt(b, bits)
	if !ok {
		r.failed = true
	}
	return n
}

// Float64 reads a number. A null reads as 0; a number out of range fails.
func (r *Reader) Float64() float64 {
	if r.Null() {
		return 0
	}
	b := r.number()
	if r.failed {
		return 0
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) {
		r.failed = true
		return 0
	}
	return f
}

// Bool reads true or false. A null reads as false.
func (r *Reader) Bool() bool {
	switch {
	case r.literal("true"):
		return true
	case r.literal("false"), r.Null():
		return false
	}
	r.failed = true
	return false
}

// Raw reads any value and returns its text as it is in the input (what
// encoding/json gives a json.RawMessage). The bytes are the input's: a
// caller that keeps them past the input's life copies them.
func (r *Reader) Raw() []byte {
	r.skipSpace()
	start := r.pos
	r.Skip()
	if r.failed {
		return nil
	}
	return r.data[start:r.pos]
}

// Skip reads any value and discards it.
func (r *Reader) Skip() {
	r.skipSpace()
	if r.failed || r.pos >= len(r.data) {
		r.failed = true
		return
	}
	switch c := r.data[r.pos]; c {
	case '{':
		o := r.Object(nil)
		for o.Next() {
			r.Skip()
		}
	case '[':
		a := r.Array()
		for a.Next() {
			r.Skip()
		}
	case '"':
		r.scanString()
	case 't':
		r.failed = !r.literal("true")
	case 'f':
		r.failed = !r.literal("false")
	case 'n':
		r.failed = !r.Null()
	default:
		r.number()
	}
}

// Object iterates over the members of an object value whose known keys
// are fields; see Reader.Object.
type Object struct {
	r           *Reader
	fields      []string
	seen        uint64
	state       uint8 // 0 before '{', 1 inside, 2 after '}'
	keepUnknown bool
	key         string
	unknown     []byte
}

// Object starts reading an object value whose known keys are fields (at
// most 64), as encoding/json decodes a struct with those field names: the
// values of other keys are skipped. It reads nothing until Next. fields nil
// means no key is known and every member is passed to the caller (Skip
// uses this).
func (r *Reader) Object(fields []string) Object {
	return Object{r: r, fields: fields}
}

// Next advances to the next member with a known key, which Key returns;
// the caller then reads its value, once. Next returns false at the end of
// the object, on a null (which leaves a struct as it is), and on failure.
// A duplicated key fails (encoding/json would merge the two values), and so
// does an unknown key that is escaped or not plain ASCII, or that equals a
// known key but for case (encoding/json matches keys case-insensitively).
func (o *Object) Next() bool {
	r := o.r
	if r.failed || o.state == 2 {
		return false
	}
	if o.state == 0 {
		if r.Null() {
			o.state = 2
			return false
		}
		if !r.consume('{') {
			r.failed = true
			return false
		}
		if r.depth++; r.depth > maxDepth {
			r.failed = true
			return false
		}
		o.state = 1
		if r.consume('}') {
			return o.end()
		}
	} else {
		if r.consume('}') {
			return o.end()
		}
		if !r.consume(',') {
			r.failed = true
			return false
		}
	}
	for {
		key, plain, ok := r.scanString()
		if !ok || !r.consume(':') {
			r.failed = true
			return false
		}
		if o.fields == nil {
			return true
		}
		for i, f := range o.fields {
			if string(key) == f {
				if o.seen&(1<<i) != 0 {
					r.failed = true
					return false
				}
				o.seen |= 1 << i
				o.key = f
				return true
			}
		}
		if !plain || o.foldsOrNonASCII(key) {
			r.failed = true
			return false
		}
		if o.keepUnknown {
			o.key, o.unknown = "", key
			return true
		}
		r.Skip()
		if r.consume('}') {
			return o.end()
		}
		if !r.consume(',') {
			r.failed = true
			return false
		}
	}
}

func (o *Object) end() bool {
	o.state = 2
	o.r.depth--
	return false
}

// foldsOrNonASCII reports whether an unknown key might still match a field
// for encoding/json, which compares keys with Unicode case folding.
func (o *Object) foldsOrNonASCII(key []byte) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for _, f := range o.fields {
		if len(f) == len(key) && bytes.EqualFold(key, []byte(f)) {
			return true
		}
	}
	return false
}

// Key is the current member's key: one of the fields given to Object, or
// "" for an unknown key (see KeepUnknown).
func (o *Object) Key() string { return o.key }

// KeepUnknown makes Next stop at members with unknown keys too (with Key
// ""), instead of skipping them; such a key is plain ASCII and matches no
// field, even case-insensitively.
func (o *Object) KeepUnknown() { o.keepUnknown = true }

// UnknownKey is the current member's key when Key is "". The bytes are
// the input's.
func (o *Object) UnknownKey() []byte { return o.unknown }

// Array iterates over the elements of an array value.
type Array struct {
	r     *Reader
	state uint8 // 0 before '[', 1 inside, 2 after ']'
	n     int
}

// Array starts reading an array value. It reads nothing until Next.
func (r *Reader) Array() Array { return Array{r: r} }

// Next advances to the next element, which the caller then reads, once.
// It returns false at the end of the array, on a null, and on failure.
func (a *Array) Next() bool {
	r := a.r
	if r.failed || a.state == 2 {
		return false
	}
	if a.state == 0 {
		if r.Null() {
			a.state = 2
			return false
		}
		if !r.consume('[') {
			r.failed = true
			return false
		}
		if r.depth++; r.depth > maxDepth {
			r.failed = true
			return false
		}
		a.state = 1
		if r.consume(']') {
			return a.end()
		}
	} else {
		if r.consume(']') {
			return a.end()
		}
		if !r.consume(',') {
			r.failed = true
			return false
		}
	}
	a.n++
	return true
}

func (a *Array) end() bool {
	a.state = 2
	a.r.depth--
	return false
}

// Slice reads an array into *s as encoding/json decodes one into a nil
// slice: null leaves it nil, [] makes it empty but not nil, and each
// element is read by elem (typically a method expression such as
// (*wireBlock).readJSON) into a zero value. An empty *s with capacity
// lends its array.
func Slice[T any](r *Reader, s *[]T, elem func(*T, *Reader)) {
	if r.Null() {
		*s = nil
		return
	}
	a := r.Array()
	out := (*s)[:0]
	for a.Next() {
		if out == nil {
			out = make([]T, 0, 4) // arrays in answers are short: grow once
		}
		var zero T
		out = append(out, zero)
		elem(&out[len(out)-1], r)
	}
	if out == nil && !r.failed {
		out = []T{}
	}
	*s = out
}

// Unmarshal decodes data into *v, which must be zero (but for empty
// slices lending their arrays, see Slice), with read, using r; when read
// fails it decodes data with json.Unmarshal instead, into a zero value: the
// result, and the error if any, are json.Unmarshal's either way. read must
// decode as json.Unmarshal would, or fail.
func Unmarshal[T any](r *Reader, data []byte, v *T, read func(*T, *Reader)) error {
	r.Reset(data)
	read(v, r)
	if r.End() {
		return nil
	}
	// A value of its own, so that v need not live on the heap when the
	// fast path succeeds.
	slow := new(T)
	err := json.Unmarshal(data, slow)
	*v = *slow
	return err
}
