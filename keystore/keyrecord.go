package keystore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Key records.
//
// Layout 2 keeps two records per key, each read in one Badger get:
//
//	k/h/<hash>  the authorization record: AuthView of the key (ID, Status,
//	            ExpiresAt, Models, Team, Limits), all Authenticate needs
//	k/id/<id>   idEntryV1, the 32-byte hash, then the full record
//
// Authentication reads a key it has not seen before from the first, so that
// record is as small as a key's rules allow (about 25 bytes for a key
// without limits): with a million keys, lookups touch about 80 MB of
// Badger's mapped tables instead of the ~390 MB of layout 1's JSON read
// through an ID index. Both records are written together by every change.
//
// A record is a compact binary form, not JSON, so that it decodes with one
// string allocation and no reflection:
//
//	version   byte  keyRecordV1
//	present   uvarint, the rec* bits of the fields below that are set
//	strings   uvarint total length, then each present string as uvarint
//	          length and bytes, in the order ID, Name, Prefix, Last4,
//	          Status (unless recActive or recRevoked stands for it),
//	          RotatedFrom, RotatedTo, Team
//	times     each present one of CreatedAt, UpdatedAt, ExpiresAt,
//	          RevokedAt: varint Unix seconds, uvarint nanoseconds (UTC)
//	Models    uvarint count, then strings as above
//	Metadata  uvarint count, then key and value strings, in key order (so
//	          a record encodes one way)
//	Limits    uvarint bits of the non-zero fields, then each non-zero field:
//	          the int64s as varints, BudgetUSD as 8 bytes (IEEE 754,
//	          big-endian), the periods as strings
//
// Every string is decoded as a substring of one string copy of the record,
// so decoding allocates that copy, and a Models slice and Metadata map when
// the key has them.
// A new Key field must be added here: TestKeyRecordCoversEveryField fails
// until it is.
const (
	keyRecordV1 = 1
	// idEntryV1 starts a layout-2 k/id value; a layout-1 one is JSON and
	// starts with '{'.
	idEntryV1 = 2
)

// Bits of a record's present field.
const (
	recID = 1 << iota
	recName
	recPrefix
	recLast4
	recStatus  // Status as a string
	recActive  // Status is StatusActive
	recRevoked // Status is StatusRevoked
	recRotatedFrom
	recRotatedTo
	recTeam
	recCreatedAt
	recUpdatedAt
	recExpiresAt
	recRevokedAt
	recModels
	recMetadata
	recLimits
	recAll = 1<<iota - 1
)

// Bits of the limits' present field.
const (
	limRPM = 1 << iota
	limTPM
	limMaxParallel
	limMaxTokens
	limTokenQuota
	limTokenQuotaPeriod
	limBudgetUSD
	limBudgetPeriod
	limAll = 1<<iota - 1
)

// errKeyRecord is wrapped by every decoding error.
var errKeyRecord = errors.New("malformed key record")

// AuthView is the part of k that authorization uses, which is what
// Authenticate returns: ID, Status, ExpiresAt, Models, Team and Limits.
// The other fields (name, display prefix, timestamps, metadata, rotation
// links) are for admins, and GetKey returns them.
func AuthView(k *Key) Key {
	return Key{ID: k.ID, Status: k.Status, ExpiresAt: k.ExpiresAt, Models: k.Models, Team: k.Team, Limits: k.Limits}
}

// recStrings lists k's string fields in record order with their bits; the
// status is left out when a bit stands for it.
func recStrings(k *Key, present uint64) [8]struct {
	bit uint64
	v   *string
} {
	status := &k.Status
	if present&recStatus == 0 {
		status = nil
	}
	return [8]struct {
		bit uint64
		v   *string
	}{
		{recID, &k.ID}, {recName, &k.Name}, {recPrefix, &k.Prefix}, {recLast4, &k.Last4},
		{recStatus, status}, {recRotatedFrom, &k.RotatedFrom}, {recRotatedTo, &k.RotatedTo}, {recTeam, &k.Team},
	}
}

// appendKeyRecord appends k's record to dst.
func appendKeyRecord(dst []byte, k *Key) []byte {
	var present uint64
	set := func(bit uint64, ok bool) {
		if ok {
			present |= bit
		}
	}
	set(recID, k.ID != "")
	set(recName, k.Name != "")
	set(recPrefix, k.Prefix != "")
	set(recLast4, k.Last4 != "")
	switch k.Status {
	case StatusActive:
		present |= recActive
	case StatusRevoked:
		present |= recRevoked
	default:
		set(recStatus, k.Status != "")
	}
	set(recRotatedFrom, k.RotatedFrom != "")
	set(recRotatedTo, k.RotatedTo != "")
	set(recTeam, k.Team != "")
	set(recCreatedAt, !k.CreatedAt.IsZero())
	set(recUpdatedAt, !k.UpdatedAt.IsZero())
	set(recExpiresAt, k.ExpiresAt != nil)
	set(recRevokedAt, k.RevokedAt != nil)
	set(recModels, len(k.Models) > 0)
	set(recMetadata, len(k.Metadata) > 0)
	set(recLimits, k.Limits != Limits{})

	dst = append(dst, keyRecordV1)
	dst = binary.AppendUvarint(dst, present)
	strs := recStrings(k, present)
	total := 0
	for _, s := range strs {
		if present&s.bit != 0 {
			total += uvarintLen(uint64(len(*s.v))) + len(*s.v)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(total))
	for _, s := range strs {
		if present&s.bit != 0 {
			dst = appendRecString(dst, *s.v)
		}
	}
	for _, t := range []struct {
		bit uint64
		t   *time.Time
	}{{recCreatedAt, &k.CreatedAt}, {recUpdatedAt, &k.UpdatedAt}, {recExpiresAt, k.ExpiresAt}, {recRevokedAt, k.RevokedAt}} {
		if present&t.bit != 0 {
			dst = binary.AppendVarint(dst, t.t.Unix())
			dst = binary.AppendUvarint(dst, uint64(t.t.Nanosecond()))
		}
	}
	if present&recModels != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(k.Models)))
		for _, m := range k.Models {
			dst = appendRecString(dst, m)
		}
	}
	if present&recMetadata != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(k.Metadata)))
		names := make([]string, 0, len(k.Metadata))
		for name := range k.Metadata {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			dst = appendRecString(dst, name)
			dst = appendRecString(dst, k.Metadata[name])
		}
	}
	if present&recLimits != 0 {
		dst = appendRecLimits(dst, &k.Limits)
	}
	return dst
}

// appendRecString appends s with its uvarint length.
func appendRecString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendRecLimits(dst []byte, l *Limits) []byte {
	ints := [...]struct {
		bit uint64
		v   int64
	}{
		{limRPM, l.RPM}, {limTPM, l.TPM}, {limMaxParallel, l.MaxParallel},
		{limMaxTokens, l.MaxTokens}, {limTokenQuota, l.TokenQuota},
	}
	var present uint64
	for _, f := range ints {
		if f.v != 0 {
			present |= f.bit
		}
	}
	if l.TokenQuotaPeriod != "" {
		present |= limTokenQuotaPeriod
	}
	if l.BudgetUSD != 0 {
		present |= limBudgetUSD
	}
	if l.BudgetPeriod != "" {
		present |= limBudgetPeriod
	}
	dst = binary.AppendUvarint(dst, present)
	for _, f := range ints {
		if f.v != 0 {
			dst = binary.AppendVarint(dst, f.v)
		}
	}
	if l.TokenQuotaPeriod != "" {
		dst = appendRecString(dst, l.TokenQuotaPeriod)
	}
	if l.BudgetUSD != 0 {
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(l.BudgetUSD))
	}
	if l.BudgetPeriod != "" {
		dst = appendRecString(dst, l.BudgetPeriod)
	}
	return dst
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendIDEntry appends the k/id value of a key: idEntryV1, its hash, its
// full record.
func appendIDEntry(dst []byte, h *[32]byte, k *Key) []byte {
	dst = append(dst, idEntryV1)
	dst = append(dst, h[:]...)
	return appendKeyRecord(dst, k)
}

// decodeIDEntry decodes a k/id value written by appendIDEntry.
func decodeIDEntry(b []byte) (h [32]byte, k Key, err error) {
	if len(b) < 1+len(h) || b[0] != idEntryV1 {
		return h, k, fmt.Errorf("%w: not an ID entry", errKeyRecord)
	}
	copy(h[:], b[1:])
	k, err = decodeKeyRecord(b[1+len(h):])
	return h, k, err
}

// decodeKeyRecord decodes a record written by appendKeyRecord. It never
// panics; anything truncated, trailing, out of range or of another version
// is an error wrapping errKeyRecord.
func decodeKeyRecord(b []byte) (Key, error) {
	var k Key
	if len(b) == 0 {
		return k, fmt.Errorf("%w: empty", errKeyRecord)
	}
	if b[0] != keyRecordV1 {
		return k, fmt.Errorf("%w: version %d", errKeyRecord, b[0])
	}
	r := recReader{b: b[1:], s: string(b[1:])}
	present := r.uvarint()
	if present&^recAll != 0 {
		return k, fmt.Errorf("%w: unknown fields %#x", errKeyRecord, present&^recAll)
	}
	if n := present & (recStatus | recActive | recRevoked); n&(n-1) != 0 {
		return k, fmt.Errorf("%w: two statuses", errKeyRecord)
	}
	n := r.uvarint()
	start := r.off
	block := r.bytes(n)
	if r.err != nil {
		return k, r.err
	}
	sr := recReader{b: block, s: r.s[start:r.off]}
	for _, s := range recStrings(&k, present) {
		if present&s.bit != 0 {
			if *s.v = sr.str(); *s.v == "" && sr.err == nil {
				sr.fail("empty string")
			}
		}
	}
	if sr.err == nil && len(sr.b) != 0 {
		sr.err = fmt.Errorf("%w: %d bytes after the strings", errKeyRecord, len(sr.b))
	}
	if sr.err != nil {
		return Key{}, sr.err
	}
	switch {
	case present&recActive != 0:
		k.Status = StatusActive
	case present&recRevoked != 0:
		k.Status = StatusRevoked
	case k.Status == StatusActive || k.Status == StatusRevoked:
		return Key{}, fmt.Errorf("%w: status spelled out", errKeyRecord)
	}
	for _, t := range []struct {
		bit uint64
		t   *time.Time
	}{{recCreatedAt, &k.CreatedAt}, {recUpdatedAt, &k.UpdatedAt}} {
		if present&t.bit != 0 {
			if *t.t = r.time(); t.t.IsZero() {
				r.fail("time")
			}
		}
	}
	if present&recExpiresAt != 0 {
		t := r.time()
		k.ExpiresAt = &t
	}
	if present&recRevokedAt != 0 {
		t := r.time()
		k.RevokedAt = &t
	}
	if present&recModels != 0 {
		n := r.count(MaxModels)
		k.Models = make([]string, n)
		for i := range k.Models {
			k.Models[i] = r.str()
		}
	}
	if present&recMetadata != 0 {
		n := r.count(MaxMetadata)
		k.Metadata = make(map[string]string, n)
		for range n {
			name := r.str()
			k.Metadata[name] = r.str()
		}
		if r.err == nil && len(k.Metadata) != n {
			r.fail("metadata: repeated key")
		}
	}
	if present&recLimits != 0 {
		k.Limits = r.limits()
		if r.err == nil && k.Limits == (Limits{}) {
			r.fail("limits: none set")
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", errKeyRecord, len(r.b))
	}
	if r.err != nil {
		return Key{}, r.err
	}
	return k, nil
}

// recReader reads a record's parts; after the first error it reads zeros.
// s is the string form of b, which str slices instead of allocating.
type recReader struct {
	b   []byte
	s   string
	off int // bytes of s already consumed
	err error
}

func (r *recReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s", errKeyRecord, what)
	}
	r.b = nil
}

func (r *recReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("length")
		return 0
	}
	r.b = r.b[n:]
	r.off += n
	return v
}

func (r *recReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("number")
		return 0
	}
	r.b = r.b[n:]
	r.off += n
	return v
}

func (r *recReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("length")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	r.off += int(n)
	return out
}

// str reads a length-prefixed string as a substring of r.s.
func (r *recReader) str() string {
	n := r.uvarint()
	start := r.off
	if r.bytes(n); r.err != nil {
		return ""
	}
	return r.s[start:r.off]
}

// count reads a list length of 1 to limit (records are written from
// validated keys, so more means corruption; an empty list is not written),
// which also bounds what a corrupt record can make the decoder allocate.
func (r *recReader) count(limit int) int {
	n := r.uvarint()
	if r.err == nil && (n == 0 || n > uint64(limit)) {
		r.fail("count")
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *recReader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if r.err == nil && nsec >= 1e9 {
		r.fail("time")
	}
	if r.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (r *recReader) limits() Limits {
	var l Limits
	present := r.uvarint()
	if present&^limAll != 0 {
		r.fail("limits")
		return l
	}
	for _, f := range []struct {
		bit uint64
		v   *int64
	}{
		{limRPM, &l.RPM}, {limTPM, &l.TPM}, {limMaxParallel, &l.MaxParallel},
		{limMaxTokens, &l.MaxTokens}, {limTokenQuota, &l.TokenQuota},
	} {
		if present&f.bit != 0 {
			if *f.v = r.varint(); *f.v == 0 {
				r.fail("limits")
			}
		}
	}
	if present&limTokenQuotaPeriod != 0 {
		if l.TokenQuotaPeriod = r.str(); l.TokenQuotaPeriod == "" {
			r.fail("limits")
		}
	}
	if present&limBudgetUSD != 0 {
		if b := r.bytes(8); b != nil {
			if l.BudgetUSD = math.Float64frombits(binary.BigEndian.Uint64(b)); l.BudgetUSD == 0 {
				r.fail("limits")
			}
		}
	}
	if present&limBudgetPeriod != 0 {
		if l.BudgetPeriod = r.str(); l.BudgetPeriod == "" {
			r.fail("limits")
		}
	}
	return l
}
