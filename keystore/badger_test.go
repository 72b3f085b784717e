package keystore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func openAt(t testing.TB, dir string) *BadgerStore {
	t.Helper()
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openTemp(t testing.TB) *BadgerStore {
	t.Helper()
	return openAt(t, t.TempDir())
}

func mustCreate(t testing.TB, s *BadgerStore, spec KeySpec) (Key, string) {
	t.Helper()
	k, pt, err := s.CreateKey(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return k, pt
}

func ptr[T any](v T) *T { return &v }

// otherDigit returns a base62 digit different from c.
func otherDigit(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

func TestCreateAuthenticate(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	exp := time.Now().Add(24 * time.Hour)
	k, pt := mustCreate(t, s, KeySpec{
		Name:      "ci",
		Models:    []string{"gpt-4*", "claude-*"},
		ExpiresAt: &exp,
		Metadata:  map[string]string{"team": "a"},
	})
	if err := CheckFormat(pt); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.ID, KeyIDPrefix) || k.Prefix != pt[:9] || k.Last4 != pt[50:] || k.Status != StatusActive {
		t.Fatalf("bad record %+v", k)
	}
	if k.CreatedAt.IsZero() || !k.CreatedAt.Equal(k.UpdatedAt) || !k.ExpiresAt.Equal(exp) {
		t.Fatalf("bad times %+v", k)
	}
	for i := range 2 { // miss, then cache hit
		got, err := s.Authenticate(ctx, pt, time.Now())
		if err != nil {
			t.Fatalf("Authenticate #%d: %v", i, err)
		}
		if want := AuthView(&k); !reflect.DeepEqual(got, want) {
			t.Fatalf("Authenticate #%d = %+v, want %+v", i, got, want)
		}
	}
	got, err := s.GetKey(ctx, k.ID)
	if err != nil || !reflect.DeepEqual(got, k) {
		t.Fatalf("GetKey = %+v, %v", got, err)
	}

	other, _ := GenerateKey()
	for _, tc := range []struct {
		in   string
		want error
	}{
		{other, ErrNotFound},
		{"aigw_nope", ErrMalformedKey},
		// Another base62 digit at the end of the body (pt[47]^1 could leave the
		// alphabet, e.g. 'A' → '@', and fail as malformed instead).
		{pt[:47] + otherDigit(pt[47]) + pt[48:], ErrBadChecksum},
		{"", ErrMalformedKey},
	} {
		if _, err := s.Authenticate(ctx, tc.in, time.Now()); !errors.Is(err, tc.want) {
			t.Errorf("Authenticate(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
	// The error names the ID, so an admin sees which one was mistyped.
	if _, err := s.GetKey(ctx, "key_missing"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"key_missing"`) {
		t.Errorf("GetKey(missing) = %v, want ErrNotFound naming the ID", err)
	}
	if _, err := s.GetTeam(ctx, "team_missing"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"team_missing"`) {
		t.Errorf("GetTeam(missing) = %v, want ErrNotFound naming the ID", err)
	}
	if _, err := s.GetKey(ctx, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetKey(\"\") = %v", err)
	}
}

func TestKeyJSONHasNoHash(t *testing.T) {
	s := openTemp(t)
	k, _ := mustCreate(t, s, KeySpec{Name: "x"})
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("hash")) {
		t.Fatalf("exported JSON carries the hash: %s", b)
	}
}

func TestCreateValidation(t *testing.T) {
	s := openTemp(t)
	past := time.Now().Add(-time.Minute)
	bigMeta := map[string]string{}
	for i := range 51 {
		bigMeta[string(rune('A'+i))] = "v"
	}
	tests := []struct {
		name    string
		spec    KeySpec
		wantErr bool
		msg     string
	}{
		{"empty spec", KeySpec{}, false, ""},
		{"name 200 runes", KeySpec{Name: strings.Repeat("é", 200)}, false, ""},
		{"name 201 chars", KeySpec{Name: strings.Repeat("a", 201)}, true, "name"},
		{"bad glob", KeySpec{Models: []string{"gpt-4o", "gpt-[4"}}, true, `"gpt-[4"`},
		{"empty glob", KeySpec{Models: []string{""}}, true, "empty model pattern"},
		{"expiry in past", KeySpec{ExpiresAt: &past}, true, "expires_at"},
		{"51 metadata", KeySpec{Metadata: bigMeta}, true, "metadata"},
		{"empty metadata key", KeySpec{Metadata: map[string]string{"": "v"}}, true, "metadata key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.CreateKey(context.Background(), tt.spec)
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.msg)
			}
		})
	}
}

func TestCreateCopiesInput(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	models := []string{"a"}
	md := map[string]string{"k": "v"}
	k, pt := mustCreate(t, s, KeySpec{Models: models, Metadata: md})
	models[0] = "changed"
	md["k"] = "changed"
	got, err := s.Authenticate(ctx, pt, time.Now())
	if err != nil || got.Models[0] != "a" || k.Models[0] != "a" || k.Metadata["k"] != "v" {
		t.Fatalf("record aliases caller input: %+v %v", got, err)
	}
	if got, err = s.GetKey(ctx, k.ID); err != nil || got.Models[0] != "a" || got.Metadata["k"] != "v" {
		t.Fatalf("stored record aliases caller input: %+v %v", got, err)
	}
}

func TestRevokeImmediate(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	k, pt := mustCreate(t, s, KeySpec{Name: "r"})
	if _, err := s.Authenticate(ctx, pt, time.Now()); err != nil { // fills the cache
		t.Fatal(err)
	}
	rk, err := s.RevokeKey(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rk.Status != StatusRevoked || rk.RevokedAt == nil {
		t.Fatalf("revoked record %+v", rk)
	}
	got, err := s.Authenticate(ctx, pt, time.Now())
	if !errors.Is(err, ErrRevoked) || got.ID != k.ID {
		t.Fatalf("after revoke: %+v, %v", got, err)
	}
	again, err := s.RevokeKey(ctx, k.ID)
	if err != nil || !again.RevokedAt.Equal(*rk.RevokedAt) {
		t.Fatalf("second revoke: %+v, %v", again, err)
	}
	if _, err := s.RevokeKey(ctx, "key_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if g, _ := s.GetKey(ctx, k.ID); g.StatusAt(time.Now()) != StatusRevoked {
		t.Fatalf("GetKey after revoke: %+v", g)
	}
}

// TestRevokeUnderLoad checks the cache cannot hold a stale record after a
// revoke returns, even with many concurrent cache misses and fills.
func TestRevokeUnderLoad(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for round := range 20 {
		k, pt := mustCreate(t, s, KeySpec{})
		var revoked atomic.Bool
		var wg sync.WaitGroup
		stop := make(chan struct{})
		errc := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					wasRevoked := revoked.Load()
					_, err := s.Authenticate(ctx, pt, time.Now())
					if wasRevoked && !errors.Is(err, ErrRevoked) {
						errc <- err
						return
					}
					// Drop the entry now and then to force refills.
					if n%3 == 0 {
						h := HashKey(pt)
						s.invalidate(&h)
					}
				}
			})
		}
		time.Sleep(time.Millisecond)
		if _, err := s.RevokeKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		time.Sleep(2 * time.Millisecond)
		close(stop)
		wg.Wait()
		select {
		case err := <-errc:
			t.Fatalf("round %d: authenticated after revoke returned: %v", round, err)
		default:
		}
	}
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	now := time.Now()
	exp := now.Add(time.Hour)
	_, pt := mustCreate(t, s, KeySpec{ExpiresAt: &exp})
	for _, tc := range []struct {
		at   time.Time
		want error
	}{
		{now, nil},
		{exp.Add(-time.Nanosecond), nil},
		{exp, ErrExpired},
		{exp.Add(time.Hour), ErrExpired},
	} {
		if _, err := s.Authenticate(ctx, pt, tc.at); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("Authenticate at %v = %v, want %v", tc.at.Sub(now), err, tc.want)
		}
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		grace     time.Duration
		oldExpiry time.Duration // 0: none
		wantUntil time.Duration // old key's expiry relative to rotation time
	}{
		{"grace 1h", time.Hour, 0, time.Hour},
		{"grace 0", 0, 0, 0},
		{"existing expiry sooner", 24 * time.Hour, 2 * time.Hour, 2 * time.Hour},
		{"existing expiry later", time.Hour, 48 * time.Hour, time.Hour},
	}
	s := openTemp(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := KeySpec{Name: "svc", Models: []string{"gpt-*"}, Metadata: map[string]string{"o": "p"}}
			if tt.oldExpiry > 0 {
				spec.ExpiresAt = ptr(time.Now().Add(tt.oldExpiry))
			}
			old, oldPT := mustCreate(t, s, spec)
			if _, err := s.Authenticate(ctx, oldPT, time.Now()); err != nil { // cache it
				t.Fatal(err)
			}
			before := time.Now()
			nk, newPT, ok, err := s.RotateKey(ctx, old.ID, tt.grace)
			if err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			if nk.ID == old.ID || newPT == oldPT || nk.RotatedFrom != old.ID || ok.RotatedTo != nk.ID {
				t.Fatalf("links: new %+v old %+v", nk, ok)
			}
			if nk.Name != "svc" || !reflect.DeepEqual(nk.Models, spec.Models) || !reflect.DeepEqual(nk.Metadata, spec.Metadata) || nk.ExpiresAt != nil {
				t.Fatalf("new key settings %+v", nk)
			}
			until := *ok.ExpiresAt
			if tt.oldExpiry > 0 && tt.oldExpiry <= tt.grace {
				if !until.Equal(*spec.ExpiresAt) {
					t.Fatalf("old expiry %v, want unchanged %v", until, *spec.ExpiresAt)
				}
			} else if until.Before(before.Add(tt.wantUntil).Truncate(time.Microsecond)) || until.After(after.Add(tt.wantUntil)) {
				t.Fatalf("old expiry %v not in [%v, %v]", until, before.Add(tt.wantUntil), after.Add(tt.wantUntil))
			}

			// During grace (if any) both keys work; after it only the new one.
			if tt.grace > 0 {
				if _, err := s.Authenticate(ctx, oldPT, after); err != nil {
					t.Fatalf("old key during grace: %v", err)
				}
			} else if _, err := s.Authenticate(ctx, oldPT, after); !errors.Is(err, ErrExpired) {
				t.Fatalf("old key with grace 0: %v", err)
			}
			later := until.Add(time.Second)
			got, err := s.Authenticate(ctx, oldPT, later)
			if !errors.Is(err, ErrExpired) || got.ID != ok.ID {
				t.Fatalf("old key after grace: %+v %v", got, err)
			}
			for _, at := range []time.Time{after, later} {
				if got, err := s.Authenticate(ctx, newPT, at); err != nil || got.ID != nk.ID {
					t.Fatalf("new key at %v: %+v %v", at, got, err)
				}
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		k, _ := mustCreate(t, s, KeySpec{})
		if _, _, _, err := s.RotateKey(ctx, k.ID, -time.Second); !errors.Is(err, ErrInvalid) {
			t.Errorf("negative grace: %v", err)
		}
		if _, _, _, err := s.RotateKey(ctx, "key_missing", 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
		if _, err := s.RevokeKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.RotateKey(ctx, k.ID, time.Hour); !errors.Is(err, ErrRevoked) {
			t.Errorf("revoked: %v", err)
		}
	})

	// Only a live key never rotated can be rotated: a rotated key, in its
	// grace period or after it, would otherwise get a second live
	// successor. The error names the successor to rotate instead.
	t.Run("rotated or expired", func(t *testing.T) {
		for _, grace := range []time.Duration{0, time.Hour} {
			k, _ := mustCreate(t, s, KeySpec{Name: "twice"})
			nk, _, _, err := s.RotateKey(ctx, k.ID, grace)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := s.ListKeys(ctx)
			_, _, _, err = s.RotateKey(ctx, k.ID, grace)
			if !errors.Is(err, ErrRotated) || !strings.Contains(err.Error(), "rotate "+nk.ID+" instead") {
				t.Fatalf("grace %v: second rotation of %s: %v", grace, k.ID, err)
			}
			if after, _ := s.ListKeys(ctx); len(after) != len(before) {
				t.Fatalf("grace %v: a refused rotation made a key (%d keys, were %d)", grace, len(after), len(before))
			}
			if got, _ := s.GetKey(ctx, k.ID); got.RotatedTo != nk.ID {
				t.Fatalf("grace %v: the old key now points at %q, want %q", grace, got.RotatedTo, nk.ID)
			}
			// The successor rotates as usual.
			if _, _, _, err := s.RotateKey(ctx, nk.ID, grace); err != nil {
				t.Fatalf("grace %v: rotating the successor: %v", grace, err)
			}
		}
		exp, _ := mustCreate(t, s, KeySpec{Name: "expiring", ExpiresAt: ptr(time.Now().Add(50 * time.Millisecond))})
		time.Sleep(60 * time.Millisecond)
		if _, _, _, err := s.RotateKey(ctx, exp.ID, time.Hour); !errors.Is(err, ErrExpired) {
			t.Errorf("expired: %v", err)
		}
	})
}

func TestUpdateInvalidatesCache(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	k, pt := mustCreate(t, s, KeySpec{Name: "u", Models: []string{"gpt-4o"}})
	auth := func() (Key, error) { return s.Authenticate(ctx, pt, time.Now()) }
	if got, err := auth(); err != nil || got.AllowsModel("claude-3") {
		t.Fatalf("initial: %+v %v", got, err)
	}

	steps := []struct {
		name  string
		patch KeyPatch
		check func(Key, error) bool
	}{
		{"widen models", KeyPatch{Models: &[]string{"gpt-4o", "claude-*"}},
			func(k Key, err error) bool { return err == nil && k.AllowsModel("claude-3") }},
		{"clear models", KeyPatch{Models: &[]string{}},
			func(k Key, err error) bool { return err == nil && k.Models == nil && k.AllowsModel("x") }},
		// Not in the AuthView: GetKey is checked for these below.
		{"rename and metadata", KeyPatch{Name: ptr("v"), Metadata: &map[string]string{"a": "b"}},
			func(k Key, err error) bool { return err == nil && k.Name == "" && k.Metadata == nil }},
		{"expire now", KeyPatch{ExpiresAt: ptr(time.Now().Add(-time.Second))},
			func(_ Key, err error) bool { return errors.Is(err, ErrExpired) }},
		{"clear expiry", KeyPatch{ClearExpiry: true},
			func(k Key, err error) bool { return err == nil && k.ExpiresAt == nil }},
	}
	for _, st := range steps {
		upd, err := s.UpdateKey(ctx, k.ID, st.patch)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !upd.UpdatedAt.After(k.CreatedAt) && !upd.UpdatedAt.Equal(k.CreatedAt) {
			t.Fatalf("%s: UpdatedAt %v", st.name, upd.UpdatedAt)
		}
		if got, err := auth(); !st.check(got, err) {
			t.Fatalf("%s: Authenticate = %+v, %v", st.name, got, err)
		}
		if got, err := s.GetKey(ctx, k.ID); err != nil || !reflect.DeepEqual(got, upd) {
			t.Fatalf("%s: GetKey = %+v, %v; UpdateKey returned %+v", st.name, got, err, upd)
		}
	}

	for _, bad := range []KeyPatch{
		{Models: &[]string{"[x"}},
		{Name: ptr(strings.Repeat("n", 201))},
		{ExpiresAt: ptr(time.Now()), ClearExpiry: true},
	} {
		if _, err := s.UpdateKey(ctx, k.ID, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("patch %+v: %v", bad, err)
		}
	}
	if _, err := s.UpdateKey(ctx, "key_missing", KeyPatch{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}

func TestListKeys(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if ks, err := s.ListKeys(ctx); err != nil || len(ks) != 0 {
		t.Fatalf("empty store: %v %v", ks, err)
	}
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	s.now = func() time.Time { return base.Add(time.Duration(clock.Load())) }
	var want []string
	for i := range 5 {
		clock.Store(int64(5-i) * int64(time.Second)) // created in reverse time order
		k, _ := mustCreate(t, s, KeySpec{Name: string(rune('a' + i))})
		want = append([]string{k.ID}, want...)
	}
	// Two keys with the same CreatedAt are ordered by ID.
	clock.Store(0)
	a, _ := mustCreate(t, s, KeySpec{})
	b, _ := mustCreate(t, s, KeySpec{})
	first, second := a.ID, b.ID
	if second < first {
		first, second = second, first
	}
	want = append([]string{first, second}, want...)

	ks, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range ks {
		got = append(got, k.ID)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenBadger(dir, BadgerOptions{SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	k, pt := mustCreate(t, s, KeySpec{Name: "p", Models: []string{"m*"}})
	rk, rpt := mustCreate(t, s, KeySpec{Name: "revoked"})
	if _, err := s.RevokeKey(ctx, rk.ID); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		rec := UsageRecord{RequestID: "r" + string(rune('0'+i)), Time: day, KeyID: k.ID, Model: "m1", Status: 200, PromptTokens: 3, CompletionTokens: 4}
		if err := s.RecordUsage(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // Close drains the queue: no FlushUsage needed
		t.Fatal(err)
	}

	s2 := openAt(t, dir)
	got, err := s2.Authenticate(ctx, pt, time.Now())
	if want := AuthView(&k); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen: %+v %v, want %+v", got, err, want)
	}
	if got, err := s2.GetKey(ctx, k.ID); err != nil || !reflect.DeepEqual(got, k) {
		t.Fatalf("GetKey after reopen: %+v %v, want %+v", got, err, k)
	}
	if _, err := s2.Authenticate(ctx, rpt, time.Now()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked after reopen: %v", err)
	}
	rows, err := s2.QueryUsage(ctx, UsageQuery{})
	want := []UsageGroup{{Group: "m1", Requests: 10, PromptTokens: 30, CompletionTokens: 40, TotalTokens: 70}}
	if err != nil || !reflect.DeepEqual(rows, want) {
		t.Fatalf("usage after reopen: %+v %v", rows, err)
	}
}

func TestSecondOpenFailsWithLockMessage(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	s2, err := OpenBadger(dir, BadgerOptions{})
	if err == nil {
		s2.Close()
		t.Fatal("second open succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("error %v does not match ErrLocked", err)
	}
	for _, want := range []string{"another process holds the store at " + dir, "caddy reload"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Once the first handle is closed the directory opens again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openAt(t, dir)
}

func TestNoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, dir)
	var plaintexts []string
	for i := range 5 {
		k, pt := mustCreate(t, s, KeySpec{Name: "n"})
		plaintexts = append(plaintexts, pt)
		switch i {
		case 1:
			s.RevokeKey(ctx, k.ID)
		case 2:
			_, npt, _, err := s.RotateKey(ctx, k.ID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			plaintexts = append(plaintexts, npt)
		case 3:
			s.UpdateKey(ctx, k.ID, KeyPatch{Name: ptr("m")})
		}
		s.Authenticate(ctx, pt, time.Now())
		s.RecordUsage(ctx, UsageRecord{KeyID: k.ID, Model: "x", Status: 200})
	}
	if err := s.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(where string, b []byte) {
		for _, pt := range plaintexts {
			// The body alone (without the brand prefix) must not appear either.
			if bytes.Contains(b, []byte(pt[len(KeyPrefix):len(KeyPrefix)+keyBodyLen])) {
				t.Fatalf("plaintext key found in %s", where)
			}
		}
	}
	var pairs int
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.AllVersions = true
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			check("key "+string(it.Item().Key()), it.Item().Key())
			check("value of "+string(it.Item().Key()), v)
			pairs++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pairs < 12 {
		t.Fatalf("only %d pairs iterated", pairs)
	}
	// The raw files too (compression is off, so a plain scan is meaningful).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		check("file "+p, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCloseSemantics(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	_, pt := mustCreate(t, s, KeySpec{})
	if _, err := s.Authenticate(ctx, pt, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.RecordUsage(ctx, UsageRecord{KeyID: "k"}); !errors.Is(err, ErrClosed) {
		t.Errorf("RecordUsage after Close: %v", err)
	}
	if err := s.FlushUsage(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("FlushUsage after Close: %v", err)
	}
	if _, err := s.Authenticate(ctx, pt, time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("Authenticate after Close: %v", err)
	}
	if _, _, err := s.CreateKey(ctx, KeySpec{}); !errors.Is(err, ErrClosed) {
		t.Errorf("CreateKey after Close: %v", err)
	}
	if _, err := s.ListKeys(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("ListKeys after Close: %v", err)
	}
	if _, err := s.QueryUsage(ctx, UsageQuery{}); !errors.Is(err, ErrClosed) {
		t.Errorf("QueryUsage after Close: %v", err)
	}
}

func TestCloseConcurrentWithRecordUsage(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				err := s.RecordUsage(ctx, UsageRecord{KeyID: "k", Model: "m", Status: 200})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				ok.Add(1)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok.Load() == 0 {
		t.Fatal("no record was accepted")
	}
}

func TestInMemory(t *testing.T) {
	ctx := context.Background()
	s, err := OpenBadger("", BadgerOptions{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, pt := mustCreate(t, s, KeySpec{})
	if _, err := s.Authenticate(ctx, pt, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordUsage(ctx, UsageRecord{KeyID: "k", Model: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := s.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBadger("", BadgerOptions{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty dir on disk: %v", err)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	_, pt := mustCreate(b, s, KeySpec{Models: []string{"gpt-*"}, Metadata: map[string]string{"a": "b"}})
	now := time.Now()
	if _, err := s.Authenticate(ctx, pt, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Authenticate(ctx, pt, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestBadgerLoggerAdapter(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := badgerLogger{zap.New(core).Sugar()}
	l.Infof("chatty %d\n", 1)
	l.Debugf("chatty %d\n", 2)
	l.Warningf("slow %s\n", "compaction")
	l.Errorf("broken %d\n", 3)
	got := logs.All()
	if len(got) != 2 || got[0].Message != "slow compaction" || got[0].Level != zapcore.WarnLevel ||
		got[1].Message != "broken 3" || got[1].Level != zapcore.ErrorLevel {
		t.Fatalf("logged %+v", got)
	}
	// A store opened with a logger works like one without.
	s, err := OpenBadger(t.TempDir(), BadgerOptions{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
