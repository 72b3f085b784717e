package keystore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	badger "github.com/dgraph-io/badger/v4"
)

// ctxWriter fails writes once ctx is done, which aborts db.Backup.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Backup writes a full online backup of the store (keys, teams, ledger,
// open reservations, audit chain and usage) to w in Badger's backup format
// (db.Backup with since 0). It reads one consistent snapshot while the
// gateway keeps serving; cancelling ctx aborts it. The backup holds key
// hashes, never plaintext keys, but it is still sensitive: store it like
// the store directory. Restore it with Restore.
func (s *BadgerStore) Backup(ctx context.Context, w io.Writer) error {
	end, err := s.begin()
	if err != nil {
		return err
	}
	defer end()
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.db.Backup(ctxWriter{ctx, w}, 0); err != nil {
		return fmt.Errorf("keystore: backup: %w", err)
	}
	return nil
}

// Restore loads a backup written by Backup into dir, which must not exist
// yet or be an empty directory; a directory that already holds a Badger
// database (or anything else) is refused with ErrInvalid, so a restore can
// never merge into or overwrite a live store. On failure whatever Restore
// wrote into dir is removed again.
//
// Restore procedure: stop Caddy (or at least the gateway using the store,
// since one process owns a store directory); run Restore into a fresh
// directory; then either point `store badger <dir>` at it or move the old
// directory aside and the restored one into its place; start Caddy. On
// open, reservations that were open when the backup was taken are released
// (see OrphansReleased), and VerifyAudit should report OK with the head of
// the backup.
func Restore(dir string, r io.Reader) (err error) {
	if dir == "" {
		return fmt.Errorf("%w: empty restore directory", ErrInvalid)
	}
	entries, statErr := os.ReadDir(dir)
	switch {
	case errors.Is(statErr, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("keystore: creating %s: %w", dir, err)
		}
	case statErr != nil:
		return fmt.Errorf("keystore: reading %s: %w", dir, statErr)
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, badger.ManifestFilename)); err == nil {
			return fmt.Errorf("%w: %s already holds a Badger database; restore into a new, empty directory", ErrInvalid, dir)
		}
		return fmt.Errorf("%w: %s is not empty; restore into a new, empty directory", ErrInvalid, dir)
	}
	defer func() {
		if err != nil {
			// Everything in dir is ours: it was missing or empty above.
			if ents, rerr := os.ReadDir(dir); rerr == nil {
				for _, e := range ents {
					_ = os.RemoveAll(filepath.Join(dir, e.Name()))
				}
			}
		}
	}()
	db, err := badger.Open(badgerOptions(dir, BadgerOptions{SyncWrites: true}))
	if err != nil {
		return fmt.Errorf("keystore: opening restore target %s: %w", dir, err)
	}
	if err := loadBackup(db, r); err != nil {
		_ = db.Close()
		return fmt.Errorf("keystore: loading backup into %s: %w", dir, err)
	}
	if err := db.Sync(); err != nil {
		_ = db.Close()
		return fmt.Errorf("keystore: syncing %s: %w", dir, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("keystore: closing %s: %w", dir, err)
	}
	return nil
}

// loadBackup runs db.Load, turning a panic into an error: Badger trusts the
// length prefixes of the stream and panics on a corrupt or foreign file.
func loadBackup(db *badger.DB, r io.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt or foreign backup stream: %v", p)
		}
	}()
	return db.Load(r, 256)
}
