package keystore

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultKeyCacheSize is how many key records the auth cache holds when
// BadgerOptions.KeyCacheSize is 0. About 290 bytes each (more for keys with
// model lists), so the default bounds the cache near 30 MB however many keys
// the store holds.
const DefaultKeyCacheSize = 100_000

// authCacheShards splits the cache so concurrent requests rarely meet on a
// lock. A power of two: the shard is picked from the hash's low bits.
const authCacheShards = 16

// authCache maps key hashes to immutable key records, holding at most a
// fixed number of them. Eviction is CLOCK (second chance): a hit only sets
// a flag with an atomic store under the read lock, so hits never serialize,
// and a full shard evicts the first entry its hand finds unused since the
// hand last passed. Hashes are SHA-256 of 256-bit random keys: uniformly
// distributed, so indexing shards by their bytes spreads the load evenly.
type authCache struct {
	shards [authCacheShards]authShard
}

type authShard struct {
	mu sync.RWMutex
	// gen counts invalidations in this shard: a miss fills the cache only
	// if gen has not moved since the miss began, so a read that raced with
	// a revoke cannot put the revoked key's old record back.
	gen   uint64
	index map[[32]byte]int32 // hash → slot
	slots []authSlot
	free  []int32 // slots emptied by invalidation, reused first
	hand  int
	limit int // slots at most
}

// authSlot holds one cached key in place: a slot is one allocation-free
// part of the shard's slice, not a pointer to a Key, which would add a
// 320-byte object per key, most of it admin fields AuthView leaves empty.
type authSlot struct {
	hash  [32]byte
	entry authEntry
	// used is set by hits under the read lock, so it is accessed with
	// sync/atomic only (a plain field rather than atomic.Bool, which may
	// not be copied when the slot slice grows).
	used uint32
}

// authEntry is a key's AuthView, without the fields it leaves empty.
type authEntry struct {
	id, status, team string
	expiresAt        *time.Time
	models           []string
	limits           Limits
}

func newAuthEntry(k *Key) authEntry {
	return authEntry{id: k.ID, status: k.Status, team: k.Team, expiresAt: k.ExpiresAt, models: k.Models, limits: k.Limits}
}

// key returns the entry as the Key Authenticate returns; it shares the
// entry's ExpiresAt and Models, which are never modified.
func (e *authEntry) key() Key {
	return Key{ID: e.id, Status: e.status, Team: e.team, ExpiresAt: e.expiresAt, Models: e.models, Limits: e.limits}
}

// newAuthCache returns a cache for about size records; size < 0 disables
// caching (every Authenticate reads the store).
func newAuthCache(size int) *authCache {
	if size == 0 {
		size = DefaultKeyCacheSize
	}
	per := 0
	if size > 0 {
		per = max(1, (size+authCacheShards-1)/authCacheShards)
	}
	c := &authCache{}
	for i := range c.shards {
		c.shards[i].index = make(map[[32]byte]int32)
		c.shards[i].limit = per
	}
	return c
}

func (c *authCache) shard(h *[32]byte) *authShard {
	return &c.shards[binary.LittleEndian.Uint32(h[:4])%authCacheShards]
}

// get returns the cached record for h and true, or false and the shard's
// generation to pass to put after the store read.
func (c *authCache) get(h *[32]byte) (Key, bool, uint64) {
	s := c.shard(h)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i, ok := s.index[*h]; ok {
		sl := &s.slots[i]
		if atomic.LoadUint32(&sl.used) == 0 {
			atomic.StoreUint32(&sl.used, 1)
		}
		return sl.entry.key(), true, s.gen
	}
	return Key{}, false, s.gen
}

// put caches k under h unless the shard was invalidated since gen was read.
func (c *authCache) put(h *[32]byte, k *Key, gen uint64) {
	s := c.shard(h)
	if s.limit == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	if i, ok := s.index[*h]; ok {
		s.slots[i].entry = newAuthEntry(k)
		return
	}
	var i int32
	switch {
	case len(s.free) > 0:
		i = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
	case len(s.slots) < s.limit:
		s.slots = append(s.slots, authSlot{})
		i = int32(len(s.slots) - 1)
	default:
		i = s.evict()
	}
	sl := &s.slots[i]
	sl.hash, sl.entry = *h, newAuthEntry(k)
	atomic.StoreUint32(&sl.used, 0) // a first touch earns no second chance yet
	s.index[*h] = i
}

// evict frees and returns the slot of the first entry not used since the
// hand last passed it, clearing use flags on the way. It ends within two
// turns: the first clears every flag. Called with mu held and the shard full.
func (s *authShard) evict() int32 {
	for {
		sl := &s.slots[s.hand]
		i := int32(s.hand)
		s.hand = (s.hand + 1) % len(s.slots)
		if atomic.LoadUint32(&sl.used) != 0 {
			atomic.StoreUint32(&sl.used, 0)
			continue
		}
		delete(s.index, sl.hash)
		return i
	}
}

// invalidate drops h and bumps the shard's generation.
func (c *authCache) invalidate(h *[32]byte) {
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if i, ok := s.index[*h]; ok {
		delete(s.index, *h)
		s.slots[i] = authSlot{}
		s.free = append(s.free, i)
	}
}

// clear empties the cache (and invalidates racing fills).
func (c *authCache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.gen++
		clear(s.index)
		s.slots, s.free, s.hand = nil, nil, 0
		s.mu.Unlock()
	}
}

// len returns how many records are cached.
func (c *authCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.index)
		s.mu.RUnlock()
	}
	return n
}
