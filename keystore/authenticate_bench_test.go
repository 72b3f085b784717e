package keystore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchKey derives the i-th benchmark key deterministically, so a store of
// a million keys need not keep a million plaintexts in memory to pick one.
// It has the format GenerateKey produces (and passes CheckFormat).
func benchKey(i int) string {
	var seed [16]byte
	copy(seed[:8], "benchkey")
	binary.BigEndian.PutUint64(seed[8:], uint64(i))
	raw := sha256.Sum256(seed[:])
	var buf [KeyLength]byte
	n := copy(buf[:], KeyPrefix)
	encodeBase62Bytes(buf[n:n+keyBodyLen], raw)
	n += keyBodyLen
	encodeBase62Uint(buf[n:], uint64(crc32IEEEString(string(buf[:n]))))
	return string(buf[:])
}

// benchKeyID is the i-th benchmark key's ID: KeyIDPrefix and 16 base62
// digits, like NewKeyID's.
func benchKeyID(i int) string {
	var buf [len(KeyIDPrefix) + keyIDRandLen]byte
	n := copy(buf[:], KeyIDPrefix)
	encodeBase62Uint(buf[n:], uint64(i)*0x9E3779B97F4A7C15)
	return string(buf[:])
}

// loadBenchKeys writes keys 0..n-1 (record and hash index, as CreateKey
// does, without the audit entry) through one Badger WriteBatch: CreateKey
// one by one would take minutes for a million keys.
func loadBenchKeys(tb testing.TB, s *BadgerStore, n int) {
	tb.Helper()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		pt := benchKey(i)
		h := HashKey(pt)
		k := Key{
			ID:        benchKeyID(i),
			Name:      fmt.Sprintf("bench key %d", i),
			Prefix:    DisplayPrefix(pt),
			Last4:     Last4(pt),
			Status:    StatusActive,
			CreatedAt: created,
			UpdatedAt: created,
		}
		auth := AuthView(&k)
		if err := wb.Set(keyHashKey(h), appendKeyRecord(nil, &auth)); err != nil {
			tb.Fatal(err)
		}
		if err := wb.Set(keyIDKey(k.ID), appendIDEntry(nil, &h, &k)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		tb.Fatal(err)
	}
}

// clearAuthCache empties the auth cache, as if the process had restarted.
func clearAuthCache(s *BadgerStore) {
	s.cache.clear()
}

// waitCompactions waits until the store is at rest: no level needs
// compaction and the Go heap stopped moving for 5 s (Badger's level scores
// drop before the compactions they picked have finished, so the heap, which
// holds their table builders, is the better signal), or timeout passes.
func waitCompactions(tb testing.TB, s *BadgerStore, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	last := heapInuse()
	for quiet := 0; quiet < 10 && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		busy := false
		for _, l := range s.db.Levels() {
			busy = busy || l.Score >= 1 || l.Adjusted >= 1
		}
		cur := heapInuse()
		if busy || max(cur, last)-min(cur, last) > 1<<20 {
			quiet = 0
		} else {
			quiet++
		}
		last = cur
	}
	if time.Now().After(deadline) {
		tb.Logf("store not at rest after %v", timeout)
	}
}

func heapInuseMB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

// rssMB returns the process's resident memory from /proc/self/status:
// total, anonymous (heap, stacks) and file-backed (Badger's mmapped
// tables, which the kernel can drop under pressure), in MB; zeros where
// /proc is missing.
func rssMB() (total, anon, file float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			total = kb / 1024
		case "RssAnon:":
			anon = kb / 1024
		case "RssFile:":
			file = kb / 1024
		}
	}
	return total, anon, file
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// reportLatency reports the 50th and 99th percentile of the per-op samples.
func reportLatency(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	pct := func(p float64) float64 {
		return float64(samples[min(len(samples)-1, int(float64(len(samples))*p))].Nanoseconds())
	}
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
}

// BenchmarkAuthenticateWithManyKeys authenticates random existing keys in
// a real on-disk store of 1k, 100k and 1M keys with the default bounded
// key cache: "cold" is each key's first touch (a Badger read and JSON
// decode), "warm" a key already in the auth cache, "every-key" a random
// key after every key was used once (so past the cache size most lookups
// are misses), after which it reports the heap and the process's resident
// memory (rss-MB; rss-anon-MB is heap and stacks,
// rss-file-MB Badger's mmapped tables). heap-MB is the Go heap in use after
// loading (cold; rest-rss-MB is the process's resident memory then, the
// store open and idle) or after warming the working set (warm); cache-B/key is
// what one cached key adds to the heap. The 1M case is skipped with -short.
func BenchmarkAuthenticateWithManyKeys(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		if n >= 1_000_000 && testing.Short() {
			continue
		}
		dir, err := os.MkdirTemp(b.TempDir(), "keys")
		if err != nil {
			b.Fatal(err)
		}
		s, err := OpenBadger(dir, BadgerOptions{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		loadBenchKeys(b, s, n)
		loadTime := time.Since(start)
		loadHeap := heapInuseMB()
		// Restart, as a gateway serving this store would have, and let the
		// compactions the bulk load triggered finish: their table builders
		// hold a transient 100+ MB (compact-heap-MB) that a store at rest
		// does not.
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if s, err = OpenBadger(dir, BadgerOptions{}); err != nil {
			b.Fatal(err)
		}
		waitCompactions(b, s, time.Minute)
		loadedHeap := heapInuseMB()
		debug.FreeOSMemory()
		restRSS, _, _ := rssMB()
		b.Logf("n=%d: loaded in %v, settled after %v; heap in use %.1f MB during compaction, %.1f MB at rest",
			n, loadTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), loadHeap, loadedHeap)

		b.Run(fmt.Sprintf("keys=%d/cold", n), func(b *testing.B) {
			clearAuthCache(s)
			// Distinct keys in random order; when they run out (b.N > n),
			// the cache is emptied again with the timer stopped.
			m := min(b.N, n)
			order := rand.Perm(n)[:m]
			keys := make([]string, m)
			for i, idx := range order {
				keys[i] = benchKey(idx)
			}
			samples := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % m
				if j == 0 && i > 0 {
					b.StopTimer()
					clearAuthCache(s)
					b.StartTimer()
				}
				t0 := time.Now()
				k, err := s.Authenticate(ctx, keys[j], now)
				samples = append(samples, time.Since(t0))
				if err != nil || k.ID == "" {
					b.Fatalf("Authenticate: %v", err)
				}
			}
			b.StopTimer()
			reportLatency(b, samples)
			b.ReportMetric(loadedHeap, "heap-MB")
			b.ReportMetric(restRSS, "rest-rss-MB")
			b.ReportMetric(loadHeap, "compact-heap-MB")
		})

		// Warm a working set (all keys up to 100k) and measure what the
		// cache costs per key.
		clearAuthCache(s)
		before := heapInuse()
		ws := min(n, 100_000)
		warm := make([]int, ws)
		for i, idx := range rand.Perm(n)[:ws] {
			warm[i] = idx
			if _, err := s.Authenticate(ctx, benchKey(idx), now); err != nil {
				b.Fatal(err)
			}
		}
		after := heapInuse()
		perKey := float64(int64(after)-int64(before)) / float64(ws)
		warmHeap := float64(after) / (1 << 20)

		b.Run(fmt.Sprintf("keys=%d/warm", n), func(b *testing.B) {
			keys := make([]string, min(b.N, 1<<16))
			for i := range keys {
				keys[i] = benchKey(warm[rand.IntN(len(warm))])
			}
			samples := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				k, err := s.Authenticate(ctx, keys[i%len(keys)], now)
				samples = append(samples, time.Since(t0))
				if err != nil || k.ID == "" {
					b.Fatalf("Authenticate: %v", err)
				}
			}
			b.StopTimer()
			reportLatency(b, samples)
			b.ReportMetric(warmHeap, "heap-MB")
			b.ReportMetric(perKey, "cache-B/key")
		})
		b.Run(fmt.Sprintf("keys=%d/every-key", n), func(b *testing.B) {
			// One untimed pass over every key fills the cache to its bound;
			// the timed ops then go on in another random order, as a
			// gateway whose every key is in use would see them.
			clearAuthCache(s)
			for _, idx := range rand.Perm(n) {
				if _, err := s.Authenticate(ctx, benchKey(idx), now); err != nil {
					b.Fatal(err)
				}
			}
			order := rand.Perm(n)
			samples := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pt := benchKey(order[i%n]) // ~3 µs of base62: kept out of the samples
				t0 := time.Now()
				k, err := s.Authenticate(ctx, pt, now)
				samples = append(samples, time.Since(t0))
				if err != nil || k.ID == "" {
					b.Fatalf("Authenticate: %v", err)
				}
			}
			b.StopTimer()
			reportLatency(b, samples)
			// Hand freed heap back first: the bulk load and its compactions
			// left this test process far larger than a gateway serving the
			// same store would be.
			debug.FreeOSMemory()
			rss, anon, file := rssMB()
			b.ReportMetric(heapInuseMB(), "heap-MB")
			b.ReportMetric(rss, "rss-MB")
			b.ReportMetric(anon, "rss-anon-MB")
			b.ReportMetric(file, "rss-file-MB")
			b.ReportMetric(float64(s.cache.len()), "cached-keys")
		})
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		_ = os.RemoveAll(dir)
	}
}
