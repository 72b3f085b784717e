package wirejson

import "math/bits"

// Strings are mostly plain ASCII text: scanString and unquote (reading)
// and AppendString (writing) skip it eight bytes at a time. The masks below have a byte's high bit set for the bytes of w that
// match, exactly up to the first match (a match may flag the bytes after
// it falsely, never those before), so the lowest flag is the first match.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// zeros flags the bytes of w that are 0.
func zeros(w uint64) uint64 { return (w - ones) &^ w & highs }

// below flags the bytes of w below n (n <= 128).
func below(w uint64, n byte) uint64 { return (w - ones*uint64(n)) &^ w & highs }

// equal flags the bytes of w that are c.
func equal(w uint64, c byte) uint64 { return zeros(w ^ ones*uint64(c)) }

// load reads eight bytes of s from i, little-endian (one load, once the
// compiler has combined the byte loads).
func load[S string | []byte](s S, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// skipPlainOut returns the index of the first byte of s from i that
// AppendString does not copy as it is (see plainASCII), or the start of the
// last few bytes when there are fewer than eight left to test.
func skipPlainOut(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		w := load(s, i)
		m := w&highs | below(w, ' ') | equal(w, '"') | equal(w, '\\') | equal(w, '<') | equal(w, '>') | equal(w, '&')
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	return i
}

// skipPlainIn returns the index of the first quote, backslash or control
// character of b from i, or the start of the last few bytes when there are
// fewer than eight left to test; and the bytes it skipped, ORed together
// (their high bit says whether any is from 0x80 up).
func skipPlainIn(b []byte, i int) (int, uint64) {
	var high uint64
	for ; i+8 <= len(b); i += 8 {
		w := load(b, i)
		if m := below(w, ' ') | equal(w, '"') | equal(w, '\\'); m != 0 {
			return i + bits.TrailingZeros64(m)/8, high | w&(m&-m-1)
		}
		high |= w
	}
	return i, high
}

// plainRun returns the index of the first backslash or non-ASCII byte of b
// from i, len(b) for none: the end of a run that unescaping copies as it
// is.
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		w := load(b, i)
		if m := w&highs | equal(w, '\\'); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(b) && b[i] != '\\' && b[i] < 0x80 {
		i++
	}
	return i
}
