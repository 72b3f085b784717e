package keystore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"
)

// Audit chain storage and limits.
//
// Entries live at a/e/<seq as 8 bytes big-endian> (so key order is seq
// order) and the head at a/head; an append writes both in one transaction.
// Sequence numbers come from the in-memory head under auditMu, not from a
// Badger Sequence, whose leases leave gaps after a restart.
const (
	prefixAuditEntry = "a/e/"
	keyAuditHead     = "a/head"

	// DefaultAuditListLimit is the ListAudit page size when limit <= 0.
	DefaultAuditListLimit = 100
	// MaxAuditListLimit caps the ListAudit page size.
	MaxAuditListLimit = 1000
	// MaxAuditDetails is the most Details entries an AuditEntry may have.
	MaxAuditDetails = 64
	// MaxAuditFieldLen is the longest Action, Actor, Target, Remote,
	// details key or details value, in bytes.
	MaxAuditFieldLen = 1024

	auditCanonicalTag = "aigw-audit-v1"
)

// Audit actions appended by the store itself. The gateway may append its
// own actions (security events) through Audit.
const (
	AuditKeyCreate       = "key.create"
	AuditKeyUpdate       = "key.update"
	AuditKeyRevoke       = "key.revoke"
	AuditKeyRotate       = "key.rotate"
	AuditTeamCreate      = "team.create"
	AuditTeamUpdate      = "team.update"
	AuditTeamDelete      = "team.delete"
	AuditOrphansReleased = "store.orphans_released"
)

func auditKey(seq uint64) []byte {
	b := make([]byte, 0, len(prefixAuditEntry)+8)
	return binary.BigEndian.AppendUint64(append(b, prefixAuditEntry...), seq)
}

// auditCanonical returns the canonical encoding of an entry, the input of
// its Hash. Every field is written as a netstring without the trailing
// comma: its length in bytes in decimal ASCII, a ':' and the bytes, so no
// field content can move a boundary. The fields, in order:
//
//	"aigw-audit-v1"                       version tag
//	seq                                   decimal, no sign, no leading zeros
//	time                                  UTC, time.RFC3339Nano layout
//	                                      (e.g. 2026-03-01T12:00:00.5Z)
//	action, actor, target, remote         as stored ("" is "0:")
//	n                                     number of details, decimal
//	key_1, value_1, …, key_n, value_n     details sorted by key, byte order
//	prev_hash                             lower-case hex, "" for seq 1
//
// Hash = lower-case hex of SHA-256 over these bytes. All strings must be
// valid UTF-8 (Audit rejects others) so the JSON record round-trips to the
// same bytes.
func auditCanonical(e *AuditEntry) []byte {
	var b []byte
	field := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	field(auditCanonicalTag)
	field(strconv.FormatUint(e.Seq, 10))
	field(e.Time.UTC().Format(time.RFC3339Nano))
	field(e.Action)
	field(e.Actor)
	field(e.Target)
	field(e.Remote)
	field(strconv.Itoa(len(e.Details)))
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		field(k)
		field(e.Details[k])
	}
	field(e.PrevHash)
	return b
}

// AuditHash returns the hash an entry must carry: hex SHA-256 of its
// canonical form (see VerifyAudit), which covers Seq, Time, Action, Actor,
// Target, Remote, Details and PrevHash but not Hash itself. Anyone holding
// an export of the chain can re-check it with this function.
func AuditHash(e AuditEntry) string {
	sum := sha256.Sum256(auditCanonical(&e))
	return hex.EncodeToString(sum[:])
}

// ContainsGatewayKey reports whether s holds a well-formed gateway API key
// (one that passes CheckFormat) anywhere, not only as a whole
// whitespace-separated token: "key=aigw_…" is caught too.
func ContainsGatewayKey(s string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], KeyPrefix)
		if j < 0 {
			return false
		}
		i += j
		if i+KeyLength <= len(s) && CheckFormat(s[i:i+KeyLength]) == nil {
			return true
		}
		i += len(KeyPrefix)
	}
}

// normalizeAudit validates e and fills its time. Callers pass ids, never
// secrets; as a last line of defence any field holding something that
// passes CheckFormat is rejected, so a plaintext key cannot enter the chain.
func normalizeAudit(e *AuditEntry, now time.Time) error {
	if e.Action == "" {
		return fmt.Errorf("%w: audit entry without action", ErrInvalid)
	}
	if len(e.Details) > MaxAuditDetails {
		return fmt.Errorf("%w: more than %d audit details", ErrInvalid, MaxAuditDetails)
	}
	check := func(what, v string) error {
		if len(v) > MaxAuditFieldLen {
			return fmt.Errorf("%w: audit %s longer than %d bytes", ErrInvalid, what, MaxAuditFieldLen)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w: audit %s is not valid UTF-8", ErrInvalid, what)
		}
		if ContainsGatewayKey(v) {
			return fmt.Errorf("%w: audit %s holds an API key; pass key ids only", ErrInvalid, what)
		}
		return nil
	}
	for _, f := range []struct{ what, v string }{
		{"action", e.Action}, {"actor", e.Actor}, {"target", e.Target}, {"remote", e.Remote},
	} {
		if err := check(f.what, f.v); err != nil {
			return err
		}
	}
	for k, v := range e.Details {
		if k == "" {
			return fmt.Errorf("%w: empty audit details key", ErrInvalid)
		}
		if err := check("details key", k); err != nil {
			return err
		}
		if err := check(fmt.Sprintf("details value %q", k), v); err != nil {
			return err
		}
	}
	e.Details = cloneMetadata(e.Details)
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Round(0)
	if y := e.Time.Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: audit time out of range", ErrInvalid)
	}
	return nil
}

// sealAudit numbers, links and hashes e after s.auditHead and writes it and
// the new head in txn. auditMu must be held; the caller installs the
// returned head only once txn has committed.
func (s *BadgerStore) sealAudit(txn *badger.Txn, e AuditEntry) (AuditEntry, AuditHead, error) {
	if err := normalizeAudit(&e, s.timeNow()); err != nil {
		return e, AuditHead{}, err
	}
	e.Seq = s.auditHead.Seq + 1
	e.PrevHash = s.auditHead.Hash
	e.Hash = AuditHash(e)
	k := auditKey(e.Seq)
	if _, err := txn.Get(k); err == nil {
		return e, AuditHead{}, fmt.Errorf("keystore: audit entry %d already exists", e.Seq)
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return e, AuditHead{}, err
	}
	v, err := json.Marshal(&e)
	if err != nil {
		return e, AuditHead{}, err
	}
	head := AuditHead{Seq: e.Seq, Hash: e.Hash, Time: e.Time}
	hv, err := json.Marshal(&head)
	if err != nil {
		return e, AuditHead{}, err
	}
	if err := txn.Set(k, v); err != nil {
		return e, AuditHead{}, err
	}
	return e, head, txn.Set([]byte(keyAuditHead), hv)
}

// auditedUpdate runs fn in a read-write transaction and appends the audit
// entry it returns (if not nil) in the same transaction, so a change and
// its audit entry commit together or not at all. It holds auditMu, which
// also serializes every audited admin change (this closes races such as a
// key joining a team that is being deleted).
func (s *BadgerStore) auditedUpdate(ctx context.Context, fn func(txn *badger.Txn) (*AuditEntry, error)) (AuditEntry, error) {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	var sealed AuditEntry
	var head AuditHead
	var wrote bool
	err := s.update(ctx, func(txn *badger.Txn) error {
		wrote = false
		e, err := fn(txn)
		if err != nil || e == nil {
			return err
		}
		sealed, head, err = s.sealAudit(txn, *e)
		wrote = err == nil
		return err
	})
	if err != nil {
		return AuditEntry{}, err
	}
	if wrote {
		s.auditHead = head
	}
	return sealed, nil
}

// Audit appends e to the chain and returns it with Seq, PrevHash and Hash
// set. A zero Time becomes now; times are kept in UTC. Callers must pass
// ids (key id, team id), never key material or request content: a field
// holding a well-formed API key is rejected with ErrInvalid, as are empty
// actions, invalid UTF-8 and fields over MaxAuditFieldLen.
func (s *BadgerStore) Audit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	return s.auditedUpdate(ctx, func(*badger.Txn) (*AuditEntry, error) { return &e, nil })
}

// ListAudit returns up to limit entries with Seq > since in ascending
// order. limit <= 0 means DefaultAuditListLimit; it is capped at
// MaxAuditListLimit. Page with since = the last Seq returned.
func (s *BadgerStore) ListAudit(ctx context.Context, since uint64, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = DefaultAuditListLimit
	}
	limit = min(limit, MaxAuditListLimit)
	out := []AuditEntry{}
	if since == ^uint64(0) {
		return out, nil
	}
	err := s.view(ctx, func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixAuditEntry)
		opts.PrefetchSize = min(limit, 100)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(auditKey(since + 1)); it.Valid() && len(out) < limit; it.Next() {
			var e AuditEntry
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
				return fmt.Errorf("keystore: decoding audit entry %x: %w", it.Item().Key(), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FindAudit returns the newest entry with the given action and target, or
// ErrNotFound. It reads the chain backwards from its head, so it is quick
// for recent changes and reads every entry when there is no match: it is
// for admin questions such as "which change revoked this key", not for a
// request path.
func (s *BadgerStore) FindAudit(ctx context.Context, action, target string) (AuditEntry, error) {
	var found AuditEntry
	ok := false
	// An entry is JSON; a target of plain characters appears in it as it
	// is, so entries without it need not be decoded.
	plain := strings.IndexFunc(target, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '_' || r == '-' || r == ':')
	}) < 0
	err := s.view(ctx, func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixAuditEntry)
		opts.Reverse = true
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(auditKey(^uint64(0))); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var e AuditEntry
			err := it.Item().Value(func(v []byte) error {
				if plain && !bytes.Contains(v, []byte(target)) {
					return nil // cannot match: skip decoding it
				}
				return json.Unmarshal(v, &e)
			})
			if err != nil {
				return fmt.Errorf("keystore: decoding audit entry %x: %w", it.Item().Key(), err)
			}
			if e.Action == action && e.Target == target {
				found, ok = e, true
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return AuditEntry{}, err
	}
	if !ok {
		return AuditEntry{}, fmt.Errorf("audit entry %s of %q %w", action, target, ErrNotFound)
	}
	return found, nil
}

// readAuditHead reads a/head; ok is false when there is none.
func readAuditHead(txn *badger.Txn) (head AuditHead, ok bool, err error) {
	item, err := txn.Get([]byte(keyAuditHead))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return head, false, nil
	}
	if err != nil {
		return head, false, err
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &head) })
	if err != nil {
		return head, false, fmt.Errorf("keystore: decoding audit head: %w", err)
	}
	return head, true, nil
}

// AuditHeadOf returns the stored head of the chain: the newest entry's seq,
// hash and time (all zero for an empty chain). Export it periodically to a
// place outside the store; a chain rebuilt after tampering cannot reproduce
// an exported head.
func (s *BadgerStore) AuditHeadOf(ctx context.Context) (AuditHead, error) {
	var head AuditHead
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		head, _, err = readAuditHead(txn)
		return err
	})
	return head, err
}

// VerifyAudit walks the whole chain in one consistent snapshot. For every
// entry it checks that seqs run 1, 2, 3, … without gaps, that the stored
// key matches the entry's Seq, that PrevHash equals the previous entry's
// Hash ("" for seq 1) and that Hash equals AuditHash of the entry (the
// canonical form is documented on auditCanonical: netstrings of the tag
// "aigw-audit-v1", seq, RFC 3339 UTC time, action, actor, target, remote,
// the details count, the sorted details and prev_hash). Finally the last
// entry must equal the stored head, so deleting the newest entries is
// detected too. The verdict names the first broken seq and why; an error is
// returned only when the store cannot be read.
func (s *BadgerStore) VerifyAudit(ctx context.Context) (AuditVerdict, error) {
	var v AuditVerdict
	err := s.view(ctx, func(txn *badger.Txn) error {
		head, haveHead, err := readAuditHead(txn)
		if err != nil {
			return err
		}
		v.Head = head
		broken := func(seq uint64, format string, a ...any) error {
			v.OK, v.BrokenAt, v.Reason = false, seq, fmt.Sprintf(format, a...)
			return nil
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixAuditEntry)
		it := txn.NewIterator(opts)
		defer it.Close()
		var last AuditEntry
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			want := last.Seq + 1
			k := it.Item().Key()
			if len(k) != len(prefixAuditEntry)+8 {
				return broken(want, "malformed audit key %x", k)
			}
			keySeq := binary.BigEndian.Uint64(k[len(prefixAuditEntry):])
			if keySeq != want {
				return broken(want, "entry %d is missing (next stored entry is %d)", want, keySeq)
			}
			var e AuditEntry
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &e) }); err != nil {
				return broken(want, "entry %d cannot be decoded: %v", want, err)
			}
			if e.Seq != keySeq {
				return broken(want, "entry stored under seq %d claims seq %d", keySeq, e.Seq)
			}
			if e.PrevHash != last.Hash {
				return broken(want, "entry %d prev_hash does not match the hash of entry %d", want, last.Seq)
			}
			if AuditHash(e) != e.Hash {
				return broken(want, "entry %d hash does not match its contents", want)
			}
			last = e
			v.Entries++
		}
		switch {
		case !haveHead && last.Seq == 0:
		case !haveHead:
			return broken(last.Seq, "audit head is missing but the chain has %d entries", last.Seq)
		case head.Seq > last.Seq:
			return broken(last.Seq+1, "head names entry %d but the chain ends at %d (newest entries deleted)", head.Seq, last.Seq)
		case head.Seq < last.Seq:
			return broken(head.Seq+1, "chain has entries after the head's seq %d", head.Seq)
		case head.Hash != last.Hash:
			return broken(last.Seq, "head hash does not match entry %d", last.Seq)
		}
		v.OK = true
		return nil
	})
	if err != nil {
		return AuditVerdict{}, err
	}
	return v, nil
}

// loadAuditHead sets s.auditHead at open. It continues after the newest
// stored entry even if the head record is behind or missing, so an append
// never overwrites an entry; VerifyAudit still reports the mismatch.
func (s *BadgerStore) loadAuditHead() error {
	return s.db.View(func(txn *badger.Txn) error {
		head, _, err := readAuditHead(txn)
		if err != nil {
			return err
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixAuditEntry)
		opts.Reverse = true
		it := txn.NewIterator(opts)
		defer it.Close()
		it.Seek(auditKey(^uint64(0)))
		if it.Valid() {
			var e AuditEntry
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &e) }); err != nil {
				return fmt.Errorf("keystore: decoding newest audit entry: %w", err)
			}
			if k := it.Item().Key(); len(k) == len(prefixAuditEntry)+8 {
				if seq := binary.BigEndian.Uint64(k[len(prefixAuditEntry):]); seq > head.Seq {
					head = AuditHead{Seq: seq, Hash: e.Hash, Time: e.Time}
				}
			}
		}
		s.auditHead = head
		return nil
	})
}
