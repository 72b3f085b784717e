package keystore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// testHash is a distinct hash per i that lands in shard i%authCacheShards
// only by chance, like real key hashes.
func testHash(i int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

// hashInShard returns n distinct hashes that all map to shard 0, so a test
// can fill one shard exactly.
func hashesInShard(n int) [][32]byte {
	var out [][32]byte
	for i := 0; len(out) < n; i++ {
		h := testHash(i)
		if binary.LittleEndian.Uint32(h[:4])%authCacheShards == 0 {
			out = append(out, h)
		}
	}
	return out
}

func TestAuthCacheBounded(t *testing.T) {
	for _, size := range []int{1, 16, 100, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := newAuthCache(size)
			per := max(1, (size+authCacheShards-1)/authCacheShards)
			for i := range 20 * size {
				h := testHash(i)
				_, gen := cached(c, &h)
				c.put(&h, &Key{ID: fmt.Sprint(i)}, gen)
			}
			if n := c.len(); n > per*authCacheShards {
				t.Fatalf("%d records cached, bound %d", n, per*authCacheShards)
			}
			// Whatever is indexed must be what was stored under that hash.
			for i := range 20 * size {
				h := testHash(i)
				if k, _ := cached(c, &h); k != nil && k.ID != fmt.Sprint(i) {
					t.Fatalf("hash %d returns key %s", i, k.ID)
				}
			}
		})
	}
}

// TestAuthCacheSecondChance checks CLOCK eviction: an entry hit since the
// hand last passed survives a fill of the full shard; one never hit again
// is evicted first.
func TestAuthCacheSecondChance(t *testing.T) {
	c := newAuthCache(4 * authCacheShards) // 4 slots per shard
	hs := hashesInShard(6)
	put := func(h [32]byte, id string) {
		_, gen := cached(c, &h)
		c.put(&h, &Key{ID: id}, gen)
	}
	for i := range 4 {
		put(hs[i], fmt.Sprint(i))
	}
	// Hit 0, 2 and 3: 1 is the only entry without a second chance.
	for _, i := range []int{0, 2, 3} {
		if k, _ := cached(c, &hs[i]); k == nil {
			t.Fatalf("entry %d missing before eviction", i)
		}
	}
	put(hs[4], "4")
	if k, _ := cached(c, &hs[1]); k != nil {
		t.Fatal("entry 1 (never hit) survived; expected it evicted")
	}
	for _, i := range []int{0, 2, 3, 4} {
		if k, _ := cached(c, &hs[i]); k == nil || k.ID != fmt.Sprint(i) {
			t.Fatalf("entry %d evicted or wrong: %v", i, k)
		}
	}
	// All four now hit: the hand clears every flag, then evicts where it
	// stands; the cache still holds exactly 4.
	put(hs[5], "5")
	if k, _ := cached(c, &hs[5]); k == nil {
		t.Fatal("new entry not cached")
	}
	if n := len(c.shards[0].index); n != 4 {
		t.Fatalf("shard holds %d entries, want 4", n)
	}
}

// TestAuthCacheInvalidate checks that an invalidated entry is gone, that a
// fill started before an invalidation is dropped (the stale-refill race),
// and that freed slots are reused before anything is evicted.
func TestAuthCacheInvalidate(t *testing.T) {
	c := newAuthCache(2 * authCacheShards)
	hs := hashesInShard(3)
	_, gen := cached(c, &hs[0])
	c.put(&hs[0], &Key{ID: "a"}, gen)
	_, gen1 := cached(c, &hs[1]) // a miss begins...
	c.invalidate(&hs[0])         // ...a write commits meanwhile...
	c.put(&hs[1], &Key{ID: "stale"}, gen1)
	if k, _ := cached(c, &hs[1]); k != nil {
		t.Fatal("a fill that raced an invalidation was kept")
	}
	if k, _ := cached(c, &hs[0]); k != nil {
		t.Fatal("invalidated entry still cached")
	}
	_, gen = cached(c, &hs[1])
	c.put(&hs[1], &Key{ID: "b"}, gen)
	_, gen = cached(c, &hs[2])
	c.put(&hs[2], &Key{ID: "c"}, gen)
	for i, id := range map[int]string{1: "b", 2: "c"} {
		if k, _ := cached(c, &hs[i]); k == nil || k.ID != id {
			t.Fatalf("entry %d = %v, want %s (a freed slot should have been reused)", i, k, id)
		}
	}
	c.clear()
	if c.len() != 0 {
		t.Fatal("clear left entries")
	}
	if _, g := cached(c, &hs[1]); g == gen {
		t.Fatal("clear did not move the generation")
	}
}

func TestAuthCacheDisabled(t *testing.T) {
	c := newAuthCache(-1)
	h := testHash(1)
	_, gen := cached(c, &h)
	c.put(&h, &Key{ID: "x"}, gen)
	if k, _ := cached(c, &h); k != nil {
		t.Fatal("a disabled cache kept a record")
	}
}

// TestAuthCacheConcurrent runs gets, puts and invalidations together for
// the race detector, and checks the bound holds throughout.
func TestAuthCacheConcurrent(t *testing.T) {
	c := newAuthCache(64)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				h := testHash((i * (w + 1)) % 500)
				k, gen := cached(c, &h)
				if k == nil {
					c.put(&h, &Key{ID: "k"}, gen)
				}
				if i%97 == 0 {
					c.invalidate(&h)
				}
			}
		}()
	}
	wg.Wait()
	if n := c.len(); n > 64 {
		t.Fatalf("%d cached, bound 64", n)
	}
}

// cached returns the key cached under h, or nil, and the shard's
// generation.
func cached(c *authCache, h *[32]byte) (*Key, uint64) {
	k, ok, gen := c.get(h)
	if !ok {
		return nil, gen
	}
	return &k, gen
}

// TestAuthCacheKeepsTheAuthView checks that a cached key comes back as the
// AuthView it was cached from, with every field of Key set: a field added
// to AuthView but not to authEntry fails here.
func TestAuthCacheKeepsTheAuthView(t *testing.T) {
	var k Key
	fill(t, reflect.ValueOf(&k).Elem(), "Key")
	view := AuthView(&k)
	c := newAuthCache(16)
	h := testHash(1)
	_, gen := cached(c, &h)
	c.put(&h, &view, gen)
	got, _ := cached(c, &h)
	if got == nil || !reflect.DeepEqual(*got, view) {
		t.Fatalf("cached %+v, want %+v", got, view)
	}
}
