package keystore

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// layout1Fixture is testdata/layout1: a backup of a store written by the
// layout-1 code (commit 54912cf) with a team, a key with every field set, a
// revoked key and a rotated pair, and what that code listed and verified.
type layout1Fixture struct {
	Plaintexts map[string]string `json:"plaintexts"` // key id → plaintext
	Keys       []Key             `json:"keys"`
	Audit      AuditVerdict      `json:"audit"`
}

func TestMigrateLayout1Backup(t *testing.T) {
	ctx := context.Background()
	var fx layout1Fixture
	b, err := os.ReadFile(filepath.Join("testdata", "layout1", "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	backup, err := os.Open(filepath.Join("testdata", "layout1", "store.backup"))
	if err != nil {
		t.Fatal(err)
	}
	defer backup.Close()
	dir := filepath.Join(t.TempDir(), "restored")
	if err := Restore(dir, backup); err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // the second open finds layout 2 and changes nothing
		s := openAt(t, dir)
		keys, err := s.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(keys, fx.Keys) {
			t.Fatalf("round %d: keys after migration:\n%+v\nwant\n%+v", round, keys, fx.Keys)
		}
		for _, want := range fx.Keys {
			got, err := s.GetKey(ctx, want.ID)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("GetKey(%s) = %+v, %v; want %+v", want.ID, got, err, want)
			}
			got, err = s.Authenticate(ctx, fx.Plaintexts[want.ID], time.Now())
			if want.Status == StatusRevoked {
				if !errors.Is(err, ErrRevoked) {
					t.Fatalf("revoked key %s: Authenticate err = %v", want.ID, err)
				}
			} else if err != nil {
				t.Fatalf("key %s: Authenticate: %v", want.ID, err)
			}
			if view := AuthView(&want); !reflect.DeepEqual(got, view) {
				t.Fatalf("key %s authenticated as %+v, want %+v", want.ID, got, view)
			}
		}
		verdict, err := s.VerifyAudit(ctx)
		if err != nil || !verdict.OK || verdict.Head != fx.Audit.Head {
			t.Fatalf("audit after migration: %+v, %v; want head %+v", verdict, err, fx.Audit.Head)
		}
		// The migrated keys take every write: rotate a live key never
		// rotated (the key with every field set was rotated in layout 1,
		// and only live keys not yet rotated can be), revoke the new one,
		// and authenticate what should still pass.
		var full Key
		for _, k := range fx.Keys {
			if k.RotatedTo == "" && k.StatusAt(time.Now()) == StatusActive {
				full = k
				break
			}
		}
		if full.ID == "" {
			t.Fatal("the layout-1 fixture has no live key that was never rotated")
		}
		newKey, newPT, old, err := s.RotateKey(ctx, full.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if old.RotatedTo != newKey.ID || !reflect.DeepEqual(newKey.Limits, full.Limits) || !reflect.DeepEqual(newKey.Models, full.Models) {
			t.Fatalf("rotation of a migrated key: new %+v old %+v", newKey, old)
		}
		if _, err := s.Authenticate(ctx, fx.Plaintexts[full.ID], time.Now()); err != nil {
			t.Fatalf("old key within its grace: %v", err)
		}
		fx.Plaintexts[newKey.ID] = newPT
		if _, err := s.RevokeKey(ctx, newKey.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, newPT, time.Now()); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked successor: %v", err)
		}
		fx.Keys, err = s.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fx.Audit, err = s.VerifyAudit(ctx); err != nil || !fx.Audit.OK {
			t.Fatalf("audit after writes: %+v, %v", fx.Audit, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// toLayout1 rewrites every key in s as the layout-1 code stored it and
// removes the layout version, as if the store had been written before it.
// Keys listed in keep stay in layout 2, as after a migration that stopped
// half-way.
func toLayout1(t *testing.T, s *BadgerStore, keep map[string]bool) {
	t.Helper()
	keys, err := s.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		for _, k := range keys {
			if keep[k.ID] {
				continue
			}
			sk, err := getStored(txn, k.ID)
			if err != nil {
				return err
			}
			v, err := json.Marshal(legacyKeyRecord{Key: sk.Key, Hash: hex.EncodeToString(sk.Hash[:]), HashAlg: hashAlgSHA256})
			if err != nil {
				return err
			}
			if err := txn.Set(keyIDKey(k.ID), v); err != nil {
				return err
			}
			if err := txn.Set(keyHashKey(sk.Hash), []byte(k.ID)); err != nil {
				return err
			}
		}
		return txn.Delete([]byte(schemaKey))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateResumesAndDropsOrphans(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, dir)
	// More keys than one batch, so the migration takes several.
	n := migrateBatchSize*2 + 17
	plaintexts := make(map[string]string, n)
	keep := map[string]bool{}
	wb := s.db.NewWriteBatch()
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		pt := benchKey(i)
		h := HashKey(pt)
		k := Key{ID: benchKeyID(i), Name: "k", Prefix: DisplayPrefix(pt), Last4: Last4(pt), Status: StatusActive,
			CreatedAt: created, UpdatedAt: created}
		auth := AuthView(&k)
		if err := wb.Set(keyHashKey(h), appendKeyRecord(nil, &auth)); err != nil {
			t.Fatal(err)
		}
		if err := wb.Set(keyIDKey(k.ID), appendIDEntry(nil, &h, &k)); err != nil {
			t.Fatal(err)
		}
		plaintexts[k.ID] = pt
		if i%3 == 0 {
			keep[k.ID] = true // migrated before the "crash"
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	toLayout1(t, s, keep)
	// A layout-1 hash entry whose record is gone: layout 1 answered it with
	// an error; the migration drops it.
	orphan := HashKey(benchKey(n))
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(keyHashKey(orphan), []byte(benchKeyID(n)))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, dir)
	keys, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != n {
		t.Fatalf("%d keys after migration, want %d", len(keys), n)
	}
	for _, k := range keys {
		got, err := s.Authenticate(ctx, plaintexts[k.ID], time.Now())
		if err != nil || got.ID != k.ID {
			t.Fatalf("key %s after migration: %+v, %v", k.ID, got, err)
		}
	}
	if _, err := s.Authenticate(ctx, benchKey(n), time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("orphaned layout-1 entry: Authenticate err = %v, want ErrNotFound", err)
	}
	// Nothing of layout 1 is left.
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().Key()
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			switch {
			case bytes.HasPrefix(key, []byte(prefixKeyByID)):
				if _, _, err := decodeIDEntry(v); err != nil {
					t.Errorf("%q: %v", key, err)
				}
			case bytes.HasPrefix(key, []byte(prefixKeyByHash)):
				if _, err := decodeKeyRecord(v); err != nil {
					t.Errorf("%x: %v", key, err)
				}
			case string(key) == schemaKey && string(v) != keyLayoutVersion:
				t.Errorf("layout version %q", v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesNewerLayout(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(schemaKey), []byte("3"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := OpenBadger(dir, BadgerOptions{})
	if err == nil || !strings.Contains(err.Error(), `key layout "3"`) {
		t.Fatalf("OpenBadger on a newer layout: %v", err)
	}
	// The refusal released the directory: this build can open it again
	// once the version is one it knows.
	db, err := badger.Open(badgerOptions(dir, BadgerOptions{}))
	if err != nil {
		t.Fatalf("directory still locked after the refusal: %v", err)
	}
	_ = db.Close()
}

// BenchmarkMigrateLayout1 times the first open of a layout-1 store of
// 1,000,000 keys (100,000 with -short), written as the layout-1 code wrote
// them: what an upgrade costs once. One op is one open of a fresh copy.
func BenchmarkMigrateLayout1(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		db, err := badger.Open(badgerOptions(dir, BadgerOptions{}))
		if err != nil {
			b.Fatal(err)
		}
		wb := db.NewWriteBatch()
		for i := range n {
			pt := benchKey(i)
			h := HashKey(pt)
			rec := legacyKeyRecord{Key: Key{ID: benchKeyID(i), Name: fmt.Sprintf("bench key %d", i), Prefix: DisplayPrefix(pt),
				Last4: Last4(pt), Status: StatusActive, CreatedAt: created, UpdatedAt: created},
				Hash: hex.EncodeToString(h[:]), HashAlg: hashAlgSHA256}
			v, err := json.Marshal(&rec)
			if err != nil {
				b.Fatal(err)
			}
			if err := wb.Set(keyIDKey(rec.ID), v); err != nil {
				b.Fatal(err)
			}
			if err := wb.Set(keyHashKey(h), []byte(rec.ID)); err != nil {
				b.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s, err := OpenBadger(dir, BadgerOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := s.Authenticate(context.Background(), benchKey(n-1), time.Now()); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "keys")
}
