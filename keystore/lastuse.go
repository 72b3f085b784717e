package keystore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// Last use of keys.
//
// NoteUse records in memory, per key, the minute of its last use and the
// network it came from (the /24 of an IPv4 address, the /48 of an IPv6
// one). A background writer flushes the entries that changed to
// k/u/<id> every LastUseFlushInterval and when the store closes, so the
// authorization path never writes to the store and a key used all day
// costs one small write a minute at most. The record is separate from the
// key's two records, so authentication reads no more than before, and a
// store written before it existed simply has none (never used).
//
// A k/u value: lastUseV1, varint Unix minute, then the prefix length
// (byte) and the 4 or 16 address bytes, or nothing when the address was
// not known.
const (
	prefixKeyLastUse = "k/u/"
	lastUseV1        = 1

	// LastUseFlushInterval is how often noted uses are written.
	LastUseFlushInterval = time.Minute
	// lastUseShards spreads NoteUse's locks, like the auth cache's.
	lastUseShards = 16
	// lastUseBatch bounds the keys written in one transaction.
	lastUseBatch = 1000
)

// LastUse is when a key was last used, to the minute, and from which
// network.
type LastUse struct {
	At   time.Time    `json:"at"`
	From netip.Prefix `json:"from"` // invalid when the address was unknown
}

// useTracker holds the uses noted since they were last written.
type useTracker struct {
	shards [lastUseShards]useShard
}

type useShard struct {
	mu sync.RWMutex
	m  map[string]useEntry
}

type useEntry struct {
	minute int64 // Unix minute
	from   netip.Prefix
	// dirty means not written yet. A clean entry stays one flush interval
	// so that uses in the minute just written cost no second write, then
	// goes, which bounds the map by the keys in recent use.
	dirty bool
}

func newUseTracker() *useTracker {
	t := new(useTracker)
	for i := range t.shards {
		t.shards[i].m = make(map[string]useEntry)
	}
	return t
}

// UsePrefix returns the network NoteUse keeps for addr: its /24 for IPv4
// (and IPv4-mapped IPv6), its /48 for IPv6; an invalid Prefix for an
// invalid addr.
func UsePrefix(addr netip.Addr) netip.Prefix {
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	addr = addr.Unmap().WithZone("")
	bits := 48
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits)
	return p
}

// NoteUse records that key id was used at now from addr (which may be
// invalid when unknown). It does not write to the store and, once the key
// has an entry for the minute, neither locks exclusively nor allocates:
// it is meant for every authenticated request.
func (s *BadgerStore) NoteUse(id string, addr netip.Addr, now time.Time) {
	if id == "" {
		return
	}
	minute := now.Unix() / 60
	from := UsePrefix(addr)
	sh := &s.uses.shards[id[len(id)-1]%lastUseShards]
	sh.mu.RLock()
	e, ok := sh.m[id]
	sh.mu.RUnlock()
	if ok && e.minute >= minute && e.from == from {
		return
	}
	sh.mu.Lock()
	if e, ok := sh.m[id]; !ok || e.minute < minute || (e.minute == minute && e.from != from) {
		sh.m[id] = useEntry{minute: minute, from: from, dirty: true}
	}
	sh.mu.Unlock()
}

// takeDirty returns the entries not written yet, marks them written, and
// drops the entries that were already clean at the previous flush.
func (t *useTracker) takeDirty() map[string]useEntry {
	out := make(map[string]useEntry)
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for id, e := range sh.m {
			if !e.dirty {
				delete(sh.m, id)
				continue
			}
			out[id] = e
			e.dirty = false
			sh.m[id] = e
		}
		sh.mu.Unlock()
	}
	return out
}

// putBack marks entries dirty again after a failed write, unless a newer
// use replaced them meanwhile.
func (t *useTracker) putBack(entries map[string]useEntry) {
	for id, e := range entries {
		sh := &t.shards[id[len(id)-1]%lastUseShards]
		sh.mu.Lock()
		if cur, ok := sh.m[id]; !ok || cur.minute <= e.minute {
			sh.m[id] = e
		}
		sh.mu.Unlock()
	}
}

func lastUseKey(id string) []byte { return []byte(prefixKeyLastUse + id) }

func appendLastUse(dst []byte, e useEntry) []byte {
	dst = append(dst, lastUseV1)
	dst = binary.AppendVarint(dst, e.minute)
	if e.from.IsValid() {
		dst = append(dst, byte(e.from.Bits()))
		dst = append(dst, e.from.Addr().AsSlice()...)
	}
	return dst
}

func decodeLastUse(b []byte) (LastUse, error) {
	if len(b) < 2 || b[0] != lastUseV1 {
		return LastUse{}, fmt.Errorf("%w: last-use record", errKeyRecord)
	}
	minute, n := binary.Varint(b[1:])
	if n <= 0 {
		return LastUse{}, fmt.Errorf("%w: last-use minute", errKeyRecord)
	}
	u := LastUse{At: time.Unix(minute*60, 0).UTC()}
	rest := b[1+n:]
	if len(rest) == 0 {
		return u, nil
	}
	addr, ok := netip.AddrFromSlice(rest[1:])
	if !ok || (len(rest) != 5 && len(rest) != 17) {
		return LastUse{}, fmt.Errorf("%w: last-use address", errKeyRecord)
	}
	p, err := addr.Prefix(int(rest[0]))
	if err != nil {
		return LastUse{}, fmt.Errorf("%w: last-use prefix", errKeyRecord)
	}
	u.From = p
	return u, nil
}

// FlushLastUse writes every use noted so far. The store also does it
// every LastUseFlushInterval and on Close; callers need it only to read
// their own uses back at once (tests, an admin list asked for stale keys).
func (s *BadgerStore) FlushLastUse(ctx context.Context) error {
	s.lastUseMu.Lock()
	defer s.lastUseMu.Unlock()
	dirty := s.uses.takeDirty()
	if len(dirty) == 0 {
		return nil
	}
	err := s.writeLastUse(ctx, dirty)
	if err != nil {
		s.uses.putBack(dirty)
	}
	return err
}

// writeLastUse stores entries, lastUseBatch keys per transaction. A
// record is only moved forward: a write that lost a race with a newer one
// (or met a clock step back) leaves the newer minute.
func (s *BadgerStore) writeLastUse(ctx context.Context, entries map[string]useEntry) error {
	ids := make([]string, 0, len(entries))
	for id := range entries {
		ids = append(ids, id)
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), lastUseBatch)]
		ids = ids[len(batch):]
		err := s.update(ctx, func(txn *badger.Txn) error {
			for _, id := range batch {
				e := entries[id]
				item, err := txn.Get(lastUseKey(id))
				switch {
				case err == nil:
					var old LastUse
					if verr := item.Value(func(v []byte) (err error) { old, err = decodeLastUse(v); return err }); verr == nil &&
						old.At.Unix()/60 > e.minute {
						continue
					}
				case !errors.Is(err, badger.ErrKeyNotFound):
					return err
				}
				if err := txn.Set(lastUseKey(id), appendLastUse(nil, e)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("keystore: writing last use of keys: %w", err)
		}
	}
	return nil
}

// runLastUseWriter flushes noted uses on a ticker until Close.
func (s *BadgerStore) runLastUseWriter(every time.Duration) {
	defer close(s.lastUseDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.lastUseStop:
			return
		case <-t.C:
			if err := s.FlushLastUse(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Warn("writing the last use of keys failed; retrying at the next flush", zap.Error(err))
			}
		}
	}
}

// LastUseOf returns when key id was last used, as last written; ok is
// false for a key never used (or used before last use was recorded).
func (s *BadgerStore) LastUseOf(ctx context.Context, id string) (u LastUse, ok bool, err error) {
	err = s.view(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(lastUseKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		return item.Value(func(v []byte) (err error) { u, err = decodeLastUse(v); return err })
	})
	return u, ok, err
}

// ListLastUse returns the last use of every key that has one, by key ID.
func (s *BadgerStore) ListLastUse(ctx context.Context) (map[string]LastUse, error) {
	out := make(map[string]LastUse)
	err := s.view(ctx, func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixKeyLastUse)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(it.Item().Key()[len(prefixKeyLastUse):])
			var u LastUse
			if err := it.Item().Value(func(v []byte) (err error) { u, err = decodeLastUse(v); return err }); err != nil {
				return fmt.Errorf("keystore: decoding last use of %s: %w", id, err)
			}
			out[id] = u
		}
		return nil
	})
	return out, err
}

// LastUsed is the part of a store that tracks when keys were last used
// (the Badger store has it): the gateway notes every authenticated
// request, the admin API reads it back.
type LastUsed interface {
	NoteUse(id string, addr netip.Addr, now time.Time)
	FlushLastUse(ctx context.Context) error
	LastUseOf(ctx context.Context, id string) (LastUse, bool, error)
	ListLastUse(ctx context.Context) (map[string]LastUse, error)
}

var _ LastUsed = (*BadgerStore)(nil)
