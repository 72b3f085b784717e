package keystore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// The key record, as stored at k/h/<hash>.
//
// Authentication reads one record per key it has not seen before, so the
// record is a compact binary form rather than JSON: a 1,000,000-key store
// then maps about a third of the table bytes per lookup, and a record decodes
// with one string allocation and no reflection. (JSON with the hex hash in it
// was about 250 bytes for a key without limits; this is about 60.)
//
//	version   byte  keyRecordV1; it also fixes the hash (SHA-256 of the key)
//	present   uvarint, the recXxx bits of the optional parts below
//	strings   uvarint total length, then each string as uvarint length
//	          and bytes, in this order: ID, Prefix, Last4, Status, then
//	          Name, RotatedFrom, RotatedTo, Team if present
//	CreatedAt, UpdatedAt, then ExpiresAt, RevokedAt if present: each
//	          varint Unix seconds, uvarint nanoseconds (UTC)
//	Models    if present: uvarint count, then strings as above
//	Metadata  if present: uvarint count, then key and value strings,
//	          in key order (so a record encodes one way)
//	Limits    if present: uvarint bits of the non-zero fields, then each
//	          non-zero field: the int64s as varints, BudgetUSD as 8 bytes
//	          (IEEE 754, big-endian), the periods as strings
//
// Every string is decoded as a substring of one copy of the record, so
// decoding allocates that copy, the Models slice and the Metadata map.
// A new Key field must be added here: TestKeyRecordCoversEveryField fails
// until it is.
const keyRecordV1 = 1

// Bits of the record's present field.
const (
	recName = 1 << iota
	recRotatedFrom
	recRotatedTo
	recTeam
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

// appendKeyRecord appends k's record to dst.
func appendKeyRecord(dst []byte, k *Key) []byte {
	var present uint64
	optional := []struct {
		bit uint64
		set bool
	}{
		{recName, k.Name != ""},
		{recRotatedFrom, k.RotatedFrom != ""},
		{recRotatedTo, k.RotatedTo != ""},
		{recTeam, k.Team != ""},
		{recExpiresAt, k.ExpiresAt != nil},
		{recRevokedAt, k.RevokedAt != nil},
		{recModels, len(k.Models) > 0},
		{recMetadata, len(k.Metadata) > 0},
		{recLimits, k.Limits != Limits{}},
	}
	for _, o := range optional {
		if o.set {
			present |= o.bit
		}
	}
	dst = append(dst, keyRecordV1)
	dst = binary.AppendUvarint(dst, present)

	strs := [...]string{k.ID, k.Prefix, k.Last4, k.Status, k.Name, k.RotatedFrom, k.RotatedTo, k.Team}
	total := 0
	for _, s := range strs {
		total += uvarintLen(uint64(len(s))) + len(s)
	}
	dst = binary.AppendUvarint(dst, uint64(total))
	for _, s := range strs {
		dst = appendRecString(dst, s)
	}

	dst = appendRecTime(dst, k.CreatedAt)
	dst = appendRecTime(dst, k.UpdatedAt)
	if k.ExpiresAt != nil {
		dst = appendRecTime(dst, *k.ExpiresAt)
	}
	if k.RevokedAt != nil {
		dst = appendRecTime(dst, *k.RevokedAt)
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
//
// The Name, RotatedFrom, RotatedTo and Team strings are always written, empty
// when absent, so that the string block has a fixed order; an empty string
// costs one byte.
func appendRecString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendRecTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
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

// decodeKeyRecord decodes a record written by appendKeyRecord. It never
// panics; anything truncated, trailing, out of range or of another version
// is an error wrapping errKeyRecord.
func decodeKeyRecord(b []byte) (Key, error) {
	var k Key
	if len(b) == 0 || b[0] != keyRecordV1 {
		if len(b) == 0 {
			return k, fmt.Errorf("%w: empty", errKeyRecord)
		}
		return k, fmt.Errorf("%w: version %d", errKeyRecord, b[0])
	}
	r := recReader{b: b[1:]}
	present := r.uvarint()
	if present&^recAll != 0 {
		return k, fmt.Errorf("%w: unknown fields %#x", errKeyRecord, present&^recAll)
	}
	// One copy of the string block; every short string is a substring of it.
	block := r.bytes(r.uvarint())
	if r.err != nil {
		return k, r.err
	}
	all := string(block)
	sr := recReader{b: block, s: all}
	k.ID = sr.str()
	k.Prefix = sr.str()
	k.Last4 = sr.str()
	k.Status = sr.str()
	k.Name = sr.str()
	k.RotatedFrom = sr.str()
	k.RotatedTo = sr.str()
	k.Team = sr.str()
	if sr.err == nil && len(sr.b) != 0 {
		sr.err = fmt.Errorf("%w: %d bytes after the strings", errKeyRecord, len(sr.b))
	}
	if sr.err != nil {
		return Key{}, sr.err
	}
	// Absent strings are stored empty; a present bit must not say otherwise.
	for _, f := range []struct {
		bit uint64
		v   string
	}{{recName, k.Name}, {recRotatedFrom, k.RotatedFrom}, {recRotatedTo, k.RotatedTo}, {recTeam, k.Team}} {
		if (present&f.bit != 0) != (f.v != "") {
			return Key{}, fmt.Errorf("%w: present bits disagree with the strings", errKeyRecord)
		}
	}
	// A Status is a constant in every record this code writes; sharing it
	// lets a cached key hold no pointer into its record for it.
	switch k.Status {
	case StatusActive:
		k.Status = StatusActive
	case StatusRevoked:
		k.Status = StatusRevoked
	}

	k.CreatedAt = r.time()
	k.UpdatedAt = r.time()
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
		if n > 0 {
			k.Models = make([]string, n)
			for i := range k.Models {
				k.Models[i] = string(r.bytes(r.uvarint()))
			}
		}
	}
	if present&recMetadata != 0 {
		n := r.count(MaxMetadata)
		if n > 0 {
			k.Metadata = make(map[string]string, n)
			for range n {
				name := string(r.bytes(r.uvarint()))
				k.Metadata[name] = string(r.bytes(r.uvarint()))
			}
			if r.err == nil && len(k.Metadata) != n {
				r.err = fmt.Errorf("%w: repeated metadata key", errKeyRecord)
			}
		}
	}
	if present&recLimits != 0 {
		k.Limits = r.limits()
		if r.err == nil && k.Limits == (Limits{}) {
			r.err = fmt.Errorf("%w: empty limits marked present", errKeyRecord)
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
// When s is set it is the string form of b, and str slices it instead of
// allocating.
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

// count reads a list length, refusing more than limit entries (records are
// written from validated keys, so more means corruption) and so bounding
// what a corrupt record can make the decoder allocate.
func (r *recReader) count(limit int) int {
	n := r.uvarint()
	if n > uint64(limit) {
		r.fail("count")
		return 0
	}
	return int(n)
}

func (r *recReader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.fail("time")
		return time.Time{}
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
		if l.TokenQuotaPeriod = string(r.bytes(r.uvarint())); l.TokenQuotaPeriod == "" {
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
		if l.BudgetPeriod = string(r.bytes(r.uvarint())); l.BudgetPeriod == "" {
			r.fail("limits")
		}
	}
	return l
}
