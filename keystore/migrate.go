package keystore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// Layout versions of the key records, kept at schemaKey.
//
//   - 1 (no schemaKey): k/id/<id> → JSON record with the hex hash in it,
//     k/h/<hash> → id. Authentication read both.
//   - 2: k/h/<hash> → the key's authorization record, k/id/<id> → its
//     hash and full record (keyrecord.go). Authentication reads one small
//     record.
//
// A store opened by this version is migrated to 2 in OpenBadger and can no
// longer be opened by a version that knows only 1: take a Backup first if a
// downgrade may be needed.
const (
	schemaKey         = "m/schema"
	keyLayoutVersion  = "2"
	migrateBatchSize  = 1000
	hashAlgSHA256     = "sha256"
	legacyIndexPrefix = KeyIDPrefix // a layout-1 k/h value is a key ID
)

// legacyKeyRecord is a layout-1 record: the JSON at k/id/<id>.
type legacyKeyRecord struct {
	Key
	Hash    string `json:"hash"`     // hex SHA-256 of the full key string
	HashAlg string `json:"hash_alg"` // always "sha256"
}

// migrateKeyLayout brings the key records to keyLayoutVersion. It runs in
// OpenBadger before anything else reads a key. Each batch of keys moves in
// one transaction (record and ID entry together), so a crash leaves every
// key either old or new, and the next open carries on where this one
// stopped: a layout-1 ID entry is a JSON record, starting with '{'; a
// layout-2 one starts with idEntryV1.
func (s *BadgerStore) migrateKeyLayout() error {
	var version string
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(schemaKey))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		version = string(v)
		return err
	})
	if err != nil {
		return fmt.Errorf("keystore: reading the store's layout version: %w", err)
	}
	switch version {
	case keyLayoutVersion:
		return nil
	case "":
	default:
		return fmt.Errorf("keystore: the store has key layout %q, newer than this build knows (%s); run the version that wrote it", version, keyLayoutVersion)
	}
	moved := 0
	for after := []byte(prefixKeyByID); ; {
		if err := s.space.check(); err != nil {
			return err
		}
		n, next, err := s.migrateKeyBatch(after)
		if err != nil {
			return fmt.Errorf("keystore: moving key records to layout %s: %w", keyLayoutVersion, err)
		}
		moved += n
		if next == nil {
			break
		}
		after = next
	}
	dropped, err := s.dropLegacyIndex()
	if err != nil {
		return fmt.Errorf("keystore: moving key records to layout %s: %w", keyLayoutVersion, err)
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(schemaKey), []byte(keyLayoutVersion))
	})
	if err != nil {
		return fmt.Errorf("keystore: writing the store's layout version: %w", err)
	}
	if moved > 0 || dropped > 0 {
		s.log.Info("key records moved to the new layout",
			zap.String("layout", keyLayoutVersion), zap.Int("keys", moved), zap.Int("orphaned_index_entries_dropped", dropped))
	}
	return s.db.Sync()
}

// migrateKeyBatch moves up to migrateBatchSize layout-1 keys found at or
// after the ID-entry key from, in one transaction. next is where the next
// batch starts, nil when the scan is done.
func (s *BadgerStore) migrateKeyBatch(from []byte) (moved int, next []byte, err error) {
	err = s.db.Update(func(txn *badger.Txn) error {
		moved, next = 0, nil
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixKeyByID)
		it := txn.NewIterator(opts)
		defer it.Close()
		var recs []legacyKeyRecord
		for it.Seek(from); it.Valid(); it.Next() {
			if len(recs) == migrateBatchSize {
				next = it.Item().KeyCopy(nil)
				break
			}
			item := it.Item()
			var rec legacyKeyRecord
			legacy := false
			err := item.Value(func(v []byte) error {
				if legacy = len(v) > 0 && v[0] == '{'; !legacy {
					return nil // already layout 2
				}
				return json.Unmarshal(v, &rec)
			})
			if err != nil {
				return fmt.Errorf("decoding key record %q: %w", item.Key(), err)
			}
			if legacy {
				recs = append(recs, rec)
			}
		}
		it.Close()
		for i := range recs {
			rec := &recs[i]
			var h [32]byte
			if n, err := hex.Decode(h[:], []byte(rec.Hash)); err != nil || n != len(h) {
				return fmt.Errorf("key %s has no valid hash", rec.ID)
			}
			if rec.HashAlg != hashAlgSHA256 {
				return fmt.Errorf("key %s has hash algorithm %q", rec.ID, rec.HashAlg)
			}
			rec.Key.CreatedAt = rec.Key.CreatedAt.UTC()
			rec.Key.UpdatedAt = rec.Key.UpdatedAt.UTC()
			rec.Key.ExpiresAt = utcPtr(rec.Key.ExpiresAt)
			rec.Key.RevokedAt = utcPtr(rec.Key.RevokedAt)
			if err := putStored(txn, &storedKey{Key: rec.Key, Hash: h}); err != nil {
				return err
			}
		}
		moved = len(recs)
		return nil
	})
	return moved, next, err
}

// dropLegacyIndex deletes layout-1 hash entries (a key ID where a record
// should be) left without a record: layout 1 answered them with an error,
// and no record can be made for them.
func (s *BadgerStore) dropLegacyIndex() (int, error) {
	var stale [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixKeyByHash)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				if bytes.HasPrefix(v, []byte(legacyIndexPrefix)) {
					stale = append(stale, it.Item().KeyCopy(nil))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(stale) == 0 {
		return 0, err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range stale {
		if err := wb.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(stale), wb.Flush()
}
