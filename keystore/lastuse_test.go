package keystore

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// dirtyUses counts the noted uses not written yet.
func dirtyUses(s *BadgerStore) int {
	n := 0
	for i := range s.uses.shards {
		sh := &s.uses.shards[i]
		sh.mu.RLock()
		for _, e := range sh.m {
			if e.dirty {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	return n
}

func TestLastUse(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, dir)
	a, _ := mustCreate(t, s, KeySpec{Name: "a"})
	b, _ := mustCreate(t, s, KeySpec{Name: "b"})
	never, _ := mustCreate(t, s, KeySpec{Name: "never"})
	at := time.Date(2026, 3, 1, 12, 34, 10, 789, time.UTC)

	s.NoteUse(a.ID, netip.MustParseAddr("203.0.113.77"), at)
	s.NoteUse(b.ID, netip.MustParseAddr("2001:db8:1234:5678::1"), at)
	if _, ok, err := s.LastUseOf(ctx, a.ID); err != nil || ok {
		t.Fatalf("a use reached the store before a flush: %v %v", ok, err)
	}
	if err := s.FlushLastUse(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   string
		want LastUse
	}{
		{a.ID, LastUse{At: time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC), From: netip.MustParsePrefix("203.0.113.0/24")}},
		{b.ID, LastUse{At: time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC), From: netip.MustParsePrefix("2001:db8:1234::/48")}},
	} {
		got, ok, err := s.LastUseOf(ctx, tc.id)
		if err != nil || !ok || got != tc.want {
			t.Errorf("LastUseOf(%s) = %+v %v %v, want %+v", tc.id, got, ok, err, tc.want)
		}
	}

	// More uses in the same minute from the same network write nothing;
	// a new minute or another network does.
	s.NoteUse(a.ID, netip.MustParseAddr("203.0.113.5"), at.Add(3*time.Second))
	if n := dirtyUses(s); n != 0 {
		t.Fatalf("%d uses to write after a use in a minute already written", n)
	}
	s.NoteUse(a.ID, netip.MustParseAddr("::ffff:198.51.100.9"), at.Add(4*time.Second))
	s.NoteUse(b.ID, netip.Addr{}, at.Add(2*time.Minute))
	if n := dirtyUses(s); n != 2 {
		t.Fatalf("%d uses to write, want 2", n)
	}
	// An older use noted late never moves a record back.
	s.NoteUse(b.ID, netip.MustParseAddr("192.0.2.1"), at)

	// Close writes what is noted; the records survive a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, dir)
	all, err := s.ListLastUse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]LastUse{
		a.ID: {At: time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC), From: netip.MustParsePrefix("198.51.100.0/24")},
		b.ID: {At: time.Date(2026, 3, 1, 12, 36, 0, 0, time.UTC)},
	}
	if len(all) != len(want) || all[a.ID] != want[a.ID] || all[b.ID] != want[b.ID] {
		t.Fatalf("ListLastUse after reopen = %+v, want %+v", all, want)
	}
	if _, ok, err := s.LastUseOf(ctx, never.ID); err != nil || ok {
		t.Fatalf("LastUseOf(never used) = %v %v", ok, err)
	}
}

// TestLastUseRecordDecoding checks that decoding refuses what the writer
// cannot produce, without panicking.
func TestLastUseRecordDecoding(t *testing.T) {
	good := appendLastUse(nil, useEntry{minute: 29_000_000, from: netip.MustParsePrefix("203.0.113.0/24")})
	if u, err := decodeLastUse(good); err != nil || u.From.String() != "203.0.113.0/24" || u.At.Unix() != 29_000_000*60 {
		t.Fatalf("round trip = %+v %v", u, err)
	}
	for name, b := range map[string][]byte{
		"empty":         {},
		"version":       {9, 2},
		"no minute":     {lastUseV1},
		"short address": good[:len(good)-1],
		"bad bits":      append(append([]byte(nil), good[:len(good)-5]...), 99, 1, 2, 3, 4),
	} {
		if _, err := decodeLastUse(b); err == nil {
			t.Errorf("%s: decoded %x", name, b)
		}
	}
}

// TestNoteUseDoesNotAllocate holds the per-request path to no allocation
// once a key has its entry for the minute, like cached authentication.
func TestNoteUseDoesNotAllocate(t *testing.T) {
	s := openTemp(t)
	_, pt := mustCreate(t, s, KeySpec{Name: "hot"})
	ctx := context.Background()
	now := time.Now()
	addr := netip.MustParseAddr("203.0.113.7")
	k, err := s.Authenticate(ctx, pt, now)
	if err != nil {
		t.Fatal(err)
	}
	s.NoteUse(k.ID, addr, now)
	allocs := testing.AllocsPerRun(1000, func() {
		k, err := s.Authenticate(ctx, pt, now)
		if err != nil {
			t.Fatal(err)
		}
		s.NoteUse(k.ID, addr, now)
	})
	if allocs != 0 {
		t.Fatalf("Authenticate and NoteUse allocate %v times a call, want 0", allocs)
	}
}

// BenchmarkAuthenticateNoteUse is BenchmarkAuthenticate with the last use
// noted, as the gateway does on every authenticated request.
func BenchmarkAuthenticateNoteUse(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	_, pt := mustCreate(b, s, KeySpec{Models: []string{"gpt-*"}, Metadata: map[string]string{"a": "b"}})
	now := time.Now()
	addr := netip.MustParseAddr("203.0.113.7")
	if _, err := s.Authenticate(ctx, pt, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k, err := s.Authenticate(ctx, pt, now)
			if err != nil {
				b.Fatal(err)
			}
			s.NoteUse(k.ID, addr, now)
		}
	})
}
