package keystore

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"path"
	"strings"
	"time"
)

// Key format
//
//	aigw_ <body: 43 base62 chars> <checksum: 6 base62 chars>
//
// The body is the 32 random bytes from crypto/rand read as one big-endian
// number, written in base62 and left-padded with '0' to a fixed 43 chars
// (62^43 > 2^256, so every 32-byte value fits). The checksum is CRC32 (IEEE)
// of prefix+body, written in base62 and left-padded to 6 chars (62^6 > 2^32).
// It lets the gateway and secret scanners reject typos and made-up keys
// without a store read; it is not an authenticator.
//
// The base62 alphabet is 0-9, A-Z, a-z: its ASCII order is its digit order,
// so comparing fixed-width encodings as strings compares their values.
const (
	// KeyPrefix starts every key this gateway issues. It makes leaked keys
	// easy to find for secret scanners; "_" lets a double-click select the
	// whole key.
	KeyPrefix = "aigw_"
	// KeyLength is the length of every well-formed key.
	KeyLength = len(KeyPrefix) + keyBodyLen + keyCRCLen
	// KeyIDPrefix starts every key ID. An ID is KeyIDPrefix followed by 16
	// random base62 chars (about 95 bits), so IDs are unguessable and never
	// contain '/'.
	KeyIDPrefix = "key_"
	// DisplayPrefixLen is how many leading chars of a key DisplayPrefix keeps:
	// the brand prefix and 4 body chars, enough to tell keys apart in a list.
	DisplayPrefixLen = len(KeyPrefix) + 4

	keyBodyLen   = 43
	keyCRCLen    = 6
	keyIDRandLen = 16
	base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// base62Val maps an ASCII byte to its base62 digit value, or -1.
var base62Val = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base62Digits); i++ {
		t[base62Digits[i]] = int8(i)
	}
	return t
}()

// maxKeyBody is the base62 encoding of 2^256-1: a body above it cannot come
// from 32 bytes, so it is malformed whatever its checksum.
var maxKeyBody = func() string {
	var b [32]byte
	for i := range b {
		b[i] = 0xff
	}
	var out [keyBodyLen]byte
	encodeBase62Bytes(out[:], b)
	return string(out[:])
}()

// encodeBase62Bytes writes num (big-endian) into dst in base62, left-padded
// with '0'. dst must be long enough; 43 chars always are for 32 bytes.
func encodeBase62Bytes(dst []byte, num [32]byte) {
	for i := len(dst) - 1; i >= 0; i-- {
		// Long division of num by 62; num is a copy, so it is safe to reuse.
		var rem uint32
		for j := range num {
			cur := rem<<8 | uint32(num[j])
			num[j] = byte(cur / 62)
			rem = cur % 62
		}
		dst[i] = base62Digits[rem]
	}
}

// encodeBase62Uint writes v into dst in base62, left-padded with '0'.
func encodeBase62Uint(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = base62Digits[v%62]
		v /= 62
	}
}

// crc32IEEEString is crc32.ChecksumIEEE over a string without converting it
// to a []byte, which would allocate on the per-request path.
func crc32IEEEString(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// GenerateKey returns a new random key in the KeyPrefix format. The caller
// shows it to the admin once and stores only HashKey of it.
func GenerateKey() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("keystore: reading random bytes: %w", err)
	}
	var buf [KeyLength]byte
	n := copy(buf[:], KeyPrefix)
	encodeBase62Bytes(buf[n:n+keyBodyLen], raw)
	n += keyBodyLen
	encodeBase62Uint(buf[n:], uint64(crc32IEEEString(string(buf[:n]))))
	return string(buf[:]), nil
}

// CheckFormat reports whether s has the key format. It returns
// ErrMalformedKey when the prefix, length or alphabet is wrong, and
// ErrBadChecksum when only the checksum is wrong. It reads no store and does
// not allocate, so it can reject garbage before any lookup.
func CheckFormat(s string) error {
	if len(s) != KeyLength || s[:len(KeyPrefix)] != KeyPrefix {
		return ErrMalformedKey
	}
	for i := len(KeyPrefix); i < len(s); i++ {
		if base62Val[s[i]] < 0 {
			return ErrMalformedKey
		}
	}
	bodyEnd := len(KeyPrefix) + keyBodyLen
	if s[len(KeyPrefix):bodyEnd] > maxKeyBody {
		return ErrMalformedKey
	}
	var sum uint64
	for i := bodyEnd; i < len(s); i++ {
		sum = sum*62 + uint64(base62Val[s[i]])
	}
	if sum != uint64(crc32IEEEString(s[:bodyEnd])) {
		return ErrBadChecksum
	}
	return nil
}

// HashKey returns the SHA-256 of the whole key string: the only form of a
// key the store keeps. A fast hash is enough because keys carry 256 random
// bits; there is no dictionary to slow down.
func HashKey(s string) [32]byte {
	// Hashing through a fixed stack buffer avoids the heap copy that
	// []byte(s) would make for keys of normal length.
	var buf [KeyLength]byte
	if len(s) <= len(buf) {
		n := copy(buf[:], s)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(s))
}

// DisplayPrefix returns the first DisplayPrefixLen chars of a key (e.g.
// "aigw_7Gq2"), safe to show in lists and logs. Shorter input is returned
// whole.
func DisplayPrefix(s string) string {
	if len(s) <= DisplayPrefixLen {
		return s
	}
	return s[:DisplayPrefixLen]
}

// Last4 returns the last 4 chars of a key, safe to show next to
// DisplayPrefix. Shorter input is returned whole.
func Last4(s string) string {
	if len(s) <= 4 {
		return s
	}
	return s[len(s)-4:]
}

// newRandomID returns prefix followed by n random base62 chars.
func newRandomID(prefix string, n int) (string, error) {
	out := make([]byte, len(prefix), len(prefix)+n)
	copy(out, prefix)
	var buf [64]byte
	for len(out) < cap(out) {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("keystore: reading random bytes: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling: 248 = 4*62, so b%62 is uniform below it.
			if b >= 248 {
				continue
			}
			out = append(out, base62Digits[b%62])
			if len(out) == cap(out) {
				break
			}
		}
	}
	return string(out), nil
}

// NewKeyID returns a new random key ID: KeyIDPrefix and 16 base62 chars.
func NewKeyID() (string, error) {
	return newRandomID(KeyIDPrefix, keyIDRandLen)
}

// StatusAt returns the key's effective status at now: StatusRevoked wins over
// StatusExpired, which wins over StatusActive. A key whose ExpiresAt is at or
// before now is expired.
func (k Key) StatusAt(now time.Time) string {
	switch {
	case k.Status == StatusRevoked:
		return StatusRevoked
	case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
		return StatusExpired
	default:
		return StatusActive
	}
}

// AllowsModel reports whether the key may use model. Empty Models allows
// every model; otherwise any path.Match pattern must match. Note that with
// path.Match, '*' does not match '/', so "openai/*" is needed for
// "openai/gpt-4o". A malformed pattern (rejected at write time) matches
// nothing.
func (k Key) AllowsModel(model string) bool {
	if len(k.Models) == 0 {
		return true
	}
	for _, p := range k.Models {
		if MatchModel(p, model) {
			return true
		}
	}
	return false
}

// MatchModel reports whether model matches the glob pattern: path.Match
// syntax (*, ?, [a-z], \), except that * and ? also match '/', because
// model names such as "openai/gpt-4o" or "meta-llama/Llama-3-8B" hold
// slashes and an admin who writes "*" or "openai/*" means all of them.
func MatchModel(pattern, model string) bool {
	if pattern == "*" {
		return true
	}
	if strings.IndexByte(pattern, '/') >= 0 || strings.IndexByte(model, '/') >= 0 {
		// path.Match treats only '/' specially: hide it behind a byte that
		// cannot occur in a pattern's meta syntax.
		pattern, model = strings.ReplaceAll(pattern, "/", "\x00"), strings.ReplaceAll(model, "/", "\x00")
	}
	ok, err := path.Match(pattern, model)
	return ok && err == nil
}
