package wirejson

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// plainASCII[c] is true for the ASCII bytes json.Marshal copies into a
// string as they are: not a control character, quote or backslash, nor one
// of the HTML-sensitive <, > and &.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// AppendString appends s as a JSON string, escaped as json.Marshal escapes
// it: \" \\ \b \f \n \r \t, other control characters and <, >, & as
// \u00XX, U+2028 and U+2029 as \u2028 and \u2029, and each byte of invalid
// UTF-8 as \ufffd.
func AppendString(dst []byte, s string) []byte { return appendString(dst, s, true) }

// AppendStringNoHTMLEscape appends s as AppendString does but for <, > and
// &, which it leaves as they are: what a json.Encoder writes after
// SetEscapeHTML(false), for JSON that no browser will take for HTML.
func AppendStringNoHTMLEscape(dst []byte, s string) []byte { return appendString(dst, s, false) }

// appendString is AppendString, and with escapeHTML false,
// AppendStringNoHTMLEscape.
func appendString(dst []byte, s string, escapeHTML bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Past the plain bytes to one that needs a look, then byte by
		// byte to the end of its word (more may follow there).
		i = skipPlainOut(s, i)
		for end := min(i+8, len(s)); i < end; {
			c := s[i]
			if c < utf8.RuneSelf {
				if plainASCII[c] || !escapeHTML && (c == '<' || c == '>' || c == '&') {
					i++
					continue
				}
				dst = append(dst, s[start:i]...)
				switch c {
				case '"', '\\':
					dst = append(dst, '\\', c)
				case '\b':
					dst = append(dst, '\\', 'b')
				case '\f':
					dst = append(dst, '\\', 'f')
				case '\n':
					dst = append(dst, '\\', 'n')
				case '\r':
					dst = append(dst, '\\', 'r')
				case '\t':
					dst = append(dst, '\\', 't')
				default:
					dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
				}
				i++
				start = i
				continue
			}
			rr, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case rr == utf8.RuneError && size == 1:
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
			case rr == '\u2028' || rr == '\u2029':
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[rr&0xF])
			default:
				i += size
				continue
			}
			i += size
			start = i
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendInt appends n as json.Marshal writes an integer.
func AppendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// AppendFloat appends f as json.Marshal writes a float64 (the shortest
// text that reads back as f, in exponent form below 1e-6 and from 1e21),
// with json.Marshal's error for NaN and infinities.
func AppendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, &json.UnsupportedValueError{Value: reflect.ValueOf(f), Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-07 is written e-7.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// AppendRaw appends a json.RawMessage as json.Marshal writes one: nil as
// null, otherwise compacted with <, >, &, U+2028 and U+2029 escaped, and an
// error (json.Marshal's) when it is not valid JSON.
func AppendRaw(dst []byte, raw []byte) ([]byte, error) {
	if raw == nil {
		return append(dst, "null"...), nil
	}
	if !readable(raw) {
		// Invalid, or beyond what Reader follows: encoding/json decides.
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return dst, &json.MarshalerError{Type: rawMessageType, Err: err}
		}
		var esc bytes.Buffer
		json.HTMLEscape(&esc, buf.Bytes())
		return append(dst, esc.Bytes()...), nil
	}
	return appendCompactValid(dst, raw, true), nil
}

// AppendCompact appends src without the whitespace between its tokens, as
// json.Compact does, with json.Compact's error when src is not valid JSON.
func AppendCompact(dst, src []byte) ([]byte, error) {
	if !readable(src) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, src); err != nil {
			return dst, err
		}
		return append(dst, buf.Bytes()...), nil
	}
	return appendCompactValid(dst, src, false), nil
}

// readable reports whether a Reader reads b as one value: b is valid JSON,
// nested no deeper than a Reader follows.
func readable(b []byte) bool {
	var r Reader
	r.Reset(b)
	r.Skip()
	return r.End()
}

// appendCompactValid appends valid JSON without the whitespace between
// tokens, and with escapeHTML, with <, >, &, U+2028 and U+2029 in strings
// escaped.
func appendCompactValid(dst, src []byte, escapeHTML bool) []byte {
	start := 0
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			switch {
			case c == '\\':
				i++ // the escaped byte cannot end the string
			case c == '"':
				inString = false
			case !escapeHTML:
			case c == '<' || c == '>' || c == '&':
				dst = append(dst, src[start:i]...)
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
				start = i + 1
			case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
				dst = append(dst, src[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
				i += 2
				start = i + 1
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}
