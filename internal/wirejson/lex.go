package wirejson

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The tokens of JSON's grammar that Reader and Members both read: strings
// (scanned eight bytes at a time, see swar.go, and unescaped) and numbers.
// Both readers accept exactly what encoding/json accepts; Members also
// says where and why, in encoding/json's words, so these return the
// offending offset and the words rather than just failing.

// What scanString found in a string.
const (
	strEscaped  = 1 << iota // a backslash escape
	strNonASCII             // a byte from 0x80 up (maybe invalid UTF-8)
)

// scanString scans a string whose content begins at d[i], just past its
// opening quote, as encoding/json scans one (invalid UTF-8 is taken). It
// returns the index just past the closing quote and what the content holds
// (strEscaped, strNonASCII); or, for an invalid string, end -1, the offset
// of the byte that makes it invalid (len(d) if the string is cut short, and
// then why is "") and why, in encoding/json's words.
func scanString(d []byte, i int) (end int, flags uint8, bad int, why string) {
	var high uint64 // the high bits of the bytes skipped word by word
	for {
		// Past the plain bytes, eight at a time, to one that needs a look
		// (or to the last few).
		var h uint64
		i, h = skipPlainIn(d, i)
		high |= h
		if i >= len(d) {
			return -1, flags, len(d), ""
		}
		switch c := d[i]; {
		case c == '"':
			if high&highs != 0 {
				flags |= strNonASCII
			}
			return i + 1, flags, 0, ""
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(d) {
				return -1, flags, len(d), ""
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(d) {
						return -1, flags, len(d), ""
					}
					if !isHex(d[k]) {
						return -1, flags, k, `in \u hexadecimal character escape`
					}
				}
				i += 6
			default:
				return -1, flags, i + 1, "in string escape code"
			}
		case c < ' ':
			return -1, flags, i, "in string literal" // control characters must be escaped
		default:
			high |= uint64(c & 0x80)
			i++
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// hex4 decodes four hex digits, -1 if they are not.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote appends the content of a scanned string (valid escapes) to dst
// as encoding/json unescapes it: a surrogate that is not half of a valid
// pair, and any invalid UTF-8 byte, become U+FFFD.
func unquote(dst, s []byte) []byte {
	dst, _ = appendUnquoted(dst, s, false)
	return dst
}

// appendUnquoted is unquote, and when bounded, it stops short, reporting
// false, rather than grow dst: it may when dst has less than utf8.UTFMax
// bytes of capacity to spare, and does when the result would not fit. A
// caller that unescapes into a buffer of its own (on the stack) never has
// it grown.
func appendUnquoted(dst, s []byte, bounded bool) ([]byte, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' && c < utf8.RuneSelf {
			j := plainRun(s, i+1)
			if bounded && j-i > cap(dst)-len(dst) {
				return dst, false
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		if bounded && cap(dst)-len(dst) < utf8.UTFMax {
			return dst, false
		}
		if c != '\\' {
			rr, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, rr)
			i += size
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			rr := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(rr) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if pair := utf16.DecodeRune(rr, hex4(s[i+2:])); pair != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, pair)
						i += 6
						continue
					}
				}
				rr = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, rr)
			continue
		default: // " \ /
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst, true
}

// scanNumber scans a number that begins at d[i] against JSON's grammar
// (what may follow it is the enclosing value's business). It returns the
// index just past it; or, when there is no valid number there, end -1,
// the offset of the offending byte (len(d) if the number is cut short, and
// then why is "") and why, in encoding/json's words.
func scanNumber(d []byte, i int) (end, bad int, why string) {
	if i < len(d) && d[i] == '-' {
		i++
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else if i, bad, why = digits(d, i, "in numeric literal"); i < 0 {
		return -1, bad, why
	}
	if i < len(d) && d[i] == '.' {
		if i, bad, why = digits(d, i+1, "after decimal point in numeric literal"); i < 0 {
			return -1, bad, why
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i, bad, why = digits(d, i, "in exponent of numeric literal"); i < 0 {
			return -1, bad, why
		}
	}
	return i, 0, ""
}

// digits scans the one or more digits that must begin at d[i], as
// scanNumber does, with why for a byte that is not one.
func digits(d []byte, i int, notDigit string) (end, bad int, why string) {
	if i >= len(d) {
		return -1, len(d), ""
	}
	if !isDigit(d[i]) {
		return -1, i, notDigit
	}
	for i++; i < len(d) && isDigit(d[i]); i++ {
	}
	return i, 0, ""
}

// ParseInt decodes v, the text of one valid JSON value (a Member's value,
// say), as encoding/json decodes it into an int64: it reports false for a
// fraction, an exponent, a number out of range and a value that is not a
// number.
func ParseInt(v []byte) (int64, bool) { return parseInt(v, 64) }

// parseInt is ParseInt for an integer of bits bits.
func parseInt(b []byte, bits int) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	// 19 digits cannot overflow a uint64, and more make too large a
	// number (JSON has no leading zeros).
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	limit := uint64(1) << (bits - 1)
	if neg {
		if n > limit {
			return 0, false
		}
		return int64(-n), true
	}
	if n >= limit {
		return 0, false
	}
	return int64(n), true
}
