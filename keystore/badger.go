package keystore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"go.uber.org/zap"
)

// Limits on admin input. They keep one record small (it is cached in memory
// and read on every cache miss) and bound what an admin API caller can store.
const (
	// MaxNameLen is the longest Key.Name, in runes.
	MaxNameLen = 200
	// MaxModels is the most entries Key.Models may have.
	MaxModels = 100
	// MaxModelPatternLen is the longest model pattern, in bytes.
	MaxModelPatternLen = 200
	// MaxMetadata is the most entries Key.Metadata may have.
	MaxMetadata = 50
	// MaxMetadataKeyLen is the longest metadata key, in bytes (empty keys
	// are rejected too).
	MaxMetadataKeyLen = 128
	// MaxMetadataValLen is the longest metadata value, in bytes.
	MaxMetadataValLen = 1024
)

// Storage layout. Prefixes keep each kind of record in its own key range so
// that one prefix scan lists one kind.
const (
	prefixKeyByID   = "k/id/" // + id → the key's hash and full record (keyrecord.go)
	prefixKeyByHash = "k/h/"  // + 32-byte SHA-256 → the key's authorization record
	prefixUsageRaw  = "u/r/"  // + unix-nano (8 bytes BE) + request id → JSON UsageRecord
	prefixUsageDay  = "u/d/"  // + YYYY-MM-DD/<escaped key id>/<model> → JSON rollup

	maxTxnRetries = 20
	gcInterval    = 10 * time.Minute
	gcRatio       = 0.5
)

// ErrLocked is matched (errors.Is) by the error OpenBadger returns when
// another process, or another open handle in this process, holds the store
// directory.
var ErrLocked = errors.New("keystore: store directory is locked")

// lockedError carries the directory and Badger's own error.
type lockedError struct {
	dir   string
	cause error
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("keystore: another process holds the store at %s: stop it or use `caddy reload` (%v)", e.dir, e.cause)
}
func (e *lockedError) Unwrap() []error { return []error{ErrLocked, e.cause} }

// BadgerOptions configures OpenBadger.
type BadgerOptions struct {
	// SyncWrites makes every commit fsync, so committed keys and usage
	// survive an OS crash or power loss, not only a process crash. It costs
	// one fsync per transaction (usage is batched, so that is per batch).
	SyncWrites bool
	// Logger receives Badger's warnings and errors. Nil discards them.
	Logger *zap.Logger
	// InMemory keeps everything in memory and ignores dir. Tests only: all
	// data is lost on Close.
	InMemory bool
	// KeyCacheSize bounds how many key records Authenticate keeps in
	// memory: 0 means DefaultKeyCacheSize, a negative value no cache. A
	// key not cached costs a store read (about 10 µs) on its next use.
	KeyCacheSize int
	// MinFreeBytes is the free space kept in reserve on the store's
	// filesystem (see space.go): writes that would eat into it fail with
	// ErrNoSpace, and opening needs it. 0 means DefaultMinFreeBytes.
	MinFreeBytes uint64
}

// BadgerStore is the Store backed by an embedded Badger v4 database.
//
// Only one BadgerStore may have a directory open at a time (Badger's
// directory lock), so a Caddy module must share one handle across config
// reloads rather than open one per provision.
//
// It runs three goroutines until Close: the batched usage writer, the
// last-use writer and the value-log GC ticker.
type BadgerStore struct {
	db       *badger.DB
	log      *zap.Logger
	inMemory bool
	sync     bool
	now      func() time.Time // time source for record timestamps; tests may replace it
	space    *spaceGuard      // nil in memory

	// closed is checked on the Authenticate hot path without a lock.
	closed atomic.Bool
	// lifeMu is read-held by every database operation and write-held by Close
	// around db.Close, so no read runs on an unmapped database.
	lifeMu sync.RWMutex

	// cache maps key hashes to immutable records, bounded (see authCache).
	cache *authCache

	// Usage writer state. sendMu is read-held by senders and write-held by
	// Close when it closes usageCh, so no send hits a closed channel.
	sendMu     sync.RWMutex
	sendClosed bool
	usageCh    chan usageMsg
	writerDone chan struct{}

	gcStop chan struct{}
	gcDone chan struct{}

	// Last use of keys (lastuse.go): noted in memory, written by
	// runLastUseWriter; lastUseMu serializes flushes.
	uses        *useTracker
	lastUseMu   sync.Mutex
	lastUseStop chan struct{}
	lastUseDone chan struct{}

	closeOnce sync.Once
	closeErr  error

	// auditMu serializes audit appends and every audited admin change;
	// auditHead is the newest entry, loaded at open and advanced only
	// after a commit.
	auditMu   sync.Mutex
	auditHead AuditHead

	// ledgerMu serializes every ledger mutation (see ledger.go). The row
	// cache is write-through: it is updated only after Badger committed.
	ledgerMu     sync.Mutex
	ledgerRows   map[rowRef]*ledgerRow
	reservations map[string]*storedReservation
	orphans      int // released at open; see OrphansReleased
}

var _ Store = (*BadgerStore)(nil)

// storedKey is a key record with the hash it is stored under, which the
// exported Key (and its JSON) never carries.
type storedKey struct {
	Key
	Hash [32]byte // SHA-256 of the full key string
}

// OpenBadger opens (creating if needed) the store in dir. It fails with an
// error matching ErrLocked when the directory is already open elsewhere.
// Badger is tuned for a small database: a few MB of memtables, no block
// cache, no compression.
//
// Opening also loads the audit chain's head and releases every reservation
// left open by a previous process (see OrphansReleased).
func OpenBadger(dir string, opts BadgerOptions) (*BadgerStore, error) {
	if !opts.InMemory {
		if dir == "" {
			return nil, fmt.Errorf("%w: empty store directory", ErrInvalid)
		}
		// Badger would create the directory world-readable; key hashes
		// and usage are nobody else's business.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("keystore: creating the store directory %s: %v", dir, unwrapPath(err))
		}
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var space *spaceGuard
	if !opts.InMemory {
		need := opts.MinFreeBytes
		if need == 0 {
			need = DefaultMinFreeBytes
		}
		// Before Badger: on a full disk its open writes a new memtable
		// through mmap and the process dies of SIGBUS.
		if err := checkOpen(dir, need); err != nil {
			return nil, err
		}
		space = &spaceGuard{dir: dir, need: need, log: log}
	}
	db, err := badger.Open(badgerOptions(dir, opts))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, &lockedError{dir: dir, cause: err}
		}
		return nil, fmt.Errorf("keystore: opening badger store at %s: %s", dir, oneLine(err.Error()))
	}
	s := &BadgerStore{
		db:           db,
		log:          log,
		inMemory:     opts.InMemory,
		sync:         opts.SyncWrites,
		now:          time.Now,
		space:        space,
		cache:        newAuthCache(opts.KeyCacheSize),
		usageCh:      make(chan usageMsg, usageQueueSize),
		writerDone:   make(chan struct{}),
		ledgerRows:   make(map[rowRef]*ledgerRow),
		reservations: make(map[string]*storedReservation),
		uses:         newUseTracker(),
		lastUseStop:  make(chan struct{}),
		lastUseDone:  make(chan struct{}),
	}
	if err := s.migrateKeyLayout(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.loadAuditHead(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("keystore: loading audit head: %w", err)
	}
	if s.orphans, err = s.releaseOrphans(); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.runUsageWriter()
	go s.runLastUseWriter(LastUseFlushInterval)
	if !opts.InMemory {
		s.gcStop = make(chan struct{})
		s.gcDone = make(chan struct{})
		go s.runGC(gcInterval)
	}
	return s, nil
}

// memTableSize is Badger's memtable size; its write-ahead log file is twice
// that, sparse until written.
const memTableSize = 8 << 20

// badgerOptions returns the Badger options for a store in dir, tuned for a
// small database: a few MB of memtables, no block cache, no compression.
func badgerOptions(dir string, opts BadgerOptions) badger.Options {
	var bo badger.Options
	if opts.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	} else {
		bo = badger.DefaultOptions(dir)
	}
	bo = bo.
		WithSyncWrites(opts.SyncWrites).
		WithMemTableSize(memTableSize).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).
		// Records are small JSON; compression would require a block cache,
		// and a cache without compression is pure overhead.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithMetricsEnabled(false)
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	// A no-op adapter rather than a nil Logger: not every Badger code path
	// checks for nil.
	return bo.WithLogger(badgerLogger{log.Named("badger").Sugar()})
}

// badgerLogger passes Badger's warnings and errors to zap and drops its
// chatty info and debug lines.
type badgerLogger struct{ l *zap.SugaredLogger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

// runGC reclaims value-log space on a ticker. With the default value
// threshold small records stay in the LSM tree, so this rarely finds work,
// but it keeps the log bounded if large values ever appear.
func (s *BadgerStore) runGC(every time.Duration) {
	defer close(s.gcDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.gcStop:
			return
		case <-t.C:
		}
		// GC rewrites live values through the write path.
		if s.space.check() != nil {
			continue
		}
		for {
			err := s.db.RunValueLogGC(gcRatio)
			if err != nil {
				if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
					s.log.Warn("badger value log GC failed", zap.Error(err))
				}
				break
			}
			select {
			case <-s.gcStop:
				return
			default:
			}
		}
	}
}

// begin marks the start of a database operation; the returned func ends it.
func (s *BadgerStore) begin() (func(), error) {
	s.lifeMu.RLock()
	if s.closed.Load() {
		s.lifeMu.RUnlock()
		return nil, ErrClosed
	}
	return s.lifeMu.RUnlock, nil
}

// update runs fn in a read-write transaction, retrying on ErrConflict. fn
// must be safe to run again: it must derive every write from its own reads.
func (s *BadgerStore) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	end, err := s.begin()
	if err != nil {
		return err
	}
	defer end()
	if err := s.space.check(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.db.Update(fn)
		if errors.Is(err, badger.ErrConflict) && attempt < maxTxnRetries {
			continue
		}
		return err
	}
}

// view runs fn in a read-only transaction.
func (s *BadgerStore) view(ctx context.Context, fn func(txn *badger.Txn) error) error {
	end, err := s.begin()
	if err != nil {
		return err
	}
	defer end()
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// invalidate drops a hash from the auth cache. Writers call it after their
// commit succeeded, so the next Authenticate reads the committed record.
func (s *BadgerStore) invalidate(h *[32]byte) {
	s.cache.invalidate(h)
}

func (s *BadgerStore) timeNow() time.Time {
	return s.now().UTC().Round(0) // Round(0) strips the monotonic reading
}

// notFound wraps ErrNotFound with what was looked for, so that an admin
// who mistyped an ID reads which one was not found. The ID is quoted: it
// comes from a request path.
func notFound(kind, id string) error {
	return fmt.Errorf("%s %q %w", kind, id, ErrNotFound)
}

func keyIDKey(id string) []byte { return []byte(prefixKeyByID + id) }

func keyHashKey(h [32]byte) []byte {
	b := make([]byte, 0, len(prefixKeyByHash)+len(h))
	return append(append(b, prefixKeyByHash...), h[:]...)
}

// getStored reads the key with the given ID from k/id/<id>, which holds its
// hash and full record. A missing ID is ErrNotFound, naming the ID.
func getStored(txn *badger.Txn, id string) (storedKey, error) {
	var sk storedKey
	if id == "" {
		return sk, ErrNotFound
	}
	item, err := txn.Get(keyIDKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return sk, notFound("key", id)
	}
	if err != nil {
		return sk, err
	}
	err = item.Value(func(v []byte) (err error) {
		sk.Hash, sk.Key, err = decodeIDEntry(v)
		return err
	})
	if err != nil {
		return sk, fmt.Errorf("keystore: decoding key %s: %w", id, err)
	}
	if sk.ID != id {
		return sk, fmt.Errorf("keystore: key record %s holds the ID %s", id, sk.ID)
	}
	return sk, nil
}

// getRecord reads and decodes the authorization record at k/h/<h>; a
// missing one is ErrNotFound.
func getRecord(txn *badger.Txn, h *[32]byte) (Key, error) {
	item, err := txn.Get(keyHashKey(*h))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, err
	}
	var k Key
	err = item.Value(func(v []byte) (err error) {
		k, err = decodeKeyRecord(v)
		return err
	})
	if err != nil {
		return Key{}, fmt.Errorf("keystore: decoding a key's authorization record: %w", err)
	}
	return k, nil
}

// putStored writes both of sk's records: the full one under its ID and the
// authorization view under its hash.
func putStored(txn *badger.Txn, sk *storedKey) error {
	if err := txn.Set(keyIDKey(sk.ID), appendIDEntry(nil, &sk.Hash, &sk.Key)); err != nil {
		return err
	}
	auth := AuthView(&sk.Key)
	return txn.Set(keyHashKey(sk.Hash), appendKeyRecord(nil, &auth))
}

// validateName checks a key name's length and encoding.
func validateName(name string) error {
	if utf8.RuneCountInString(name) > MaxNameLen {
		return fmt.Errorf("%w: name longer than %d characters", ErrInvalid, MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: name is not valid UTF-8", ErrInvalid)
	}
	return nil
}

func validateModels(models []string) error {
	if len(models) > MaxModels {
		return fmt.Errorf("%w: more than %d model patterns", ErrInvalid, MaxModels)
	}
	for _, p := range models {
		if p == "" {
			return fmt.Errorf("%w: empty model pattern", ErrInvalid)
		}
		if len(p) > MaxModelPatternLen {
			return fmt.Errorf("%w: model pattern %.40q... longer than %d bytes", ErrInvalid, p, MaxModelPatternLen)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%w: bad model pattern %q: %v", ErrInvalid, p, err)
		}
	}
	return nil
}

func validateMetadata(md map[string]string) error {
	if len(md) > MaxMetadata {
		return fmt.Errorf("%w: more than %d metadata entries", ErrInvalid, MaxMetadata)
	}
	for k, v := range md {
		if k == "" || len(k) > MaxMetadataKeyLen {
			return fmt.Errorf("%w: metadata key must be 1 to %d bytes", ErrInvalid, MaxMetadataKeyLen)
		}
		if len(v) > MaxMetadataValLen {
			return fmt.Errorf("%w: metadata value for %q longer than %d bytes", ErrInvalid, k, MaxMetadataValLen)
		}
	}
	return nil
}

// cloneModels copies a pattern list so the record never aliases caller
// memory; empty becomes nil so "all models" has one representation.
func cloneModels(m []string) []string {
	if len(m) == 0 {
		return nil
	}
	return slices.Clone(m)
}

func cloneMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Round(0)
	return &u
}

// newKeyMaterial makes a key, its hash and a fresh ID.
func newKeyMaterial() (plaintext string, hash [32]byte, id string, err error) {
	plaintext, err = GenerateKey()
	if err != nil {
		return "", hash, "", err
	}
	id, err = NewKeyID()
	if err != nil {
		return "", hash, "", err
	}
	return plaintext, HashKey(plaintext), id, nil
}

// keyDetails is what key.create records about a key: ids and the name,
// never key material.
func keyDetails(k *Key) map[string]string {
	d := map[string]string{"name": k.Name}
	if k.Team != "" {
		d["team"] = k.Team
	}
	return d
}

// insertNew writes a new key's records, refusing to
// overwrite either (an ID or hash collision would be a generator bug).
func insertNew(txn *badger.Txn, sk *storedKey) error {
	for _, k := range [][]byte{keyIDKey(sk.ID), keyHashKey(sk.Hash)} {
		if _, err := txn.Get(k); err == nil {
			return fmt.Errorf("keystore: generated key or ID collides with an existing one")
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
	}
	return putStored(txn, sk)
}

// CreateKey stores a new key from spec and returns its record and the
// plaintext, which is never available again. spec.Team must name an
// existing team (else ErrInvalid) and spec.Limits must pass ValidateLimits.
// A key.create audit entry (target: the key id; details: name, team) is
// committed in the same transaction.
func (s *BadgerStore) CreateKey(ctx context.Context, spec KeySpec) (Key, string, error) {
	now := s.timeNow()
	if err := validateName(spec.Name); err != nil {
		return Key{}, "", err
	}
	if err := validateModels(spec.Models); err != nil {
		return Key{}, "", err
	}
	if err := validateMetadata(spec.Metadata); err != nil {
		return Key{}, "", err
	}
	if spec.ExpiresAt != nil && !spec.ExpiresAt.After(now) {
		return Key{}, "", fmt.Errorf("%w: expires_at is not in the future", ErrInvalid)
	}
	if err := ValidateLimits(spec.Limits); err != nil {
		return Key{}, "", err
	}
	plaintext, h, id, err := newKeyMaterial()
	if err != nil {
		return Key{}, "", err
	}
	sk := storedKey{
		Key: Key{
			ID:        id,
			Name:      spec.Name,
			Prefix:    DisplayPrefix(plaintext),
			Last4:     Last4(plaintext),
			Models:    cloneModels(spec.Models),
			Metadata:  cloneMetadata(spec.Metadata),
			Status:    StatusActive,
			CreatedAt: now,
			UpdatedAt: now,
			ExpiresAt: utcPtr(spec.ExpiresAt),
			Team:      spec.Team,
			Limits:    spec.Limits,
		},
		Hash: h,
	}
	_, err = s.auditedUpdate(ctx, func(txn *badger.Txn) (*AuditEntry, error) {
		if err := requireTeam(txn, sk.Team); err != nil {
			return nil, err
		}
		if err := insertNew(txn, &sk); err != nil {
			return nil, err
		}
		if err := setKeyTeam(txn, sk.ID, "", sk.Team); err != nil {
			return nil, err
		}
		return &AuditEntry{Action: AuditKeyCreate, Target: sk.ID, Time: now, Details: keyDetails(&sk.Key)}, nil
	})
	if err != nil {
		return Key{}, "", err
	}
	return sk.Key, plaintext, nil
}

// GetKey returns the record with the given ID, or ErrNotFound.
func (s *BadgerStore) GetKey(ctx context.Context, id string) (Key, error) {
	var sk storedKey
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		sk, err = getStored(txn, id)
		return err
	})
	if err != nil {
		return Key{}, err
	}
	return sk.Key, nil
}

// ListKeys returns every key, revoked and expired ones included, sorted by
// CreatedAt then ID.
func (s *BadgerStore) ListKeys(ctx context.Context) ([]Key, error) {
	var keys []Key
	err := s.view(ctx, func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixKeyByID)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var k Key
			err := it.Item().Value(func(v []byte) (err error) {
				_, k, err = decodeIDEntry(v)
				return err
			})
			if err != nil {
				return fmt.Errorf("keystore: decoding key record %q: %w", it.Item().Key(), err)
			}
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(keys, func(a, b Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return keys, nil
}

// UpdateKey applies patch to the key. An expiry in the past is accepted here
// (it is a way to stop a key now); setting ExpiresAt together with
// ClearExpiry is ErrInvalid. A new Team must exist ("" leaves any team);
// Limits must pass ValidateLimits. A key.update audit entry (details: the
// changed fields, and the old and new team when it changed) is committed in
// the same transaction. The auth cache is updated before it returns.
func (s *BadgerStore) UpdateKey(ctx context.Context, id string, patch KeyPatch) (Key, error) {
	if patch.ClearExpiry && patch.ExpiresAt != nil {
		return Key{}, fmt.Errorf("%w: expires_at and clear_expiry both set", ErrInvalid)
	}
	if patch.Name != nil {
		if err := validateName(*patch.Name); err != nil {
			return Key{}, err
		}
	}
	if patch.Models != nil {
		if err := validateModels(*patch.Models); err != nil {
			return Key{}, err
		}
	}
	if patch.Metadata != nil {
		if err := validateMetadata(*patch.Metadata); err != nil {
			return Key{}, err
		}
	}
	if patch.Limits != nil {
		if err := ValidateLimits(*patch.Limits); err != nil {
			return Key{}, err
		}
	}
	now := s.timeNow()
	var sk storedKey
	_, err := s.auditedUpdate(ctx, func(txn *badger.Txn) (*AuditEntry, error) {
		var err error
		if sk, err = getStored(txn, id); err != nil {
			return nil, err
		}
		var fields []string
		details := map[string]string{}
		if patch.Name != nil {
			sk.Name = *patch.Name
			fields = append(fields, "name")
		}
		if patch.Models != nil {
			sk.Models = cloneModels(*patch.Models)
			fields = append(fields, "models")
		}
		if patch.Metadata != nil {
			sk.Metadata = cloneMetadata(*patch.Metadata)
			fields = append(fields, "metadata")
		}
		if patch.ClearExpiry {
			sk.ExpiresAt = nil
			fields = append(fields, "expires_at")
		} else if patch.ExpiresAt != nil {
			sk.ExpiresAt = utcPtr(patch.ExpiresAt)
			fields = append(fields, "expires_at")
			details["expires_at"] = sk.ExpiresAt.Format(time.RFC3339)
		}
		if patch.Team != nil {
			if err := requireTeam(txn, *patch.Team); err != nil {
				return nil, err
			}
			if err := setKeyTeam(txn, sk.ID, sk.Team, *patch.Team); err != nil {
				return nil, err
			}
			if sk.Team != *patch.Team {
				details["old_team"], details["team"] = sk.Team, *patch.Team
			}
			sk.Team = *patch.Team
			fields = append(fields, "team")
		}
		if patch.Limits != nil {
			sk.Limits = *patch.Limits
			fields = append(fields, "limits")
		}
		sk.UpdatedAt = now
		if err := putStored(txn, &sk); err != nil {
			return nil, err
		}
		details["fields"] = strings.Join(fields, ",")
		return &AuditEntry{Action: AuditKeyUpdate, Target: sk.ID, Time: now, Details: details}, nil
	})
	if err != nil {
		return Key{}, err
	}
	s.invalidate(&sk.Hash)
	return sk.Key, nil
}

// RevokeKey marks the key revoked, effective on the very next Authenticate,
// and commits a key.revoke audit entry with it. Revoking a revoked key
// changes nothing (and appends no entry) and returns its record.
func (s *BadgerStore) RevokeKey(ctx context.Context, id string) (Key, error) {
	now := s.timeNow()
	var sk storedKey
	_, err := s.auditedUpdate(ctx, func(txn *badger.Txn) (*AuditEntry, error) {
		var err error
		if sk, err = getStored(txn, id); err != nil {
			return nil, err
		}
		if sk.Status == StatusRevoked {
			return nil, nil
		}
		sk.Status = StatusRevoked
		sk.RevokedAt = &now
		sk.UpdatedAt = now
		if err := putStored(txn, &sk); err != nil {
			return nil, err
		}
		return &AuditEntry{Action: AuditKeyRevoke, Target: sk.ID, Time: now}, nil
	})
	if err != nil {
		return Key{}, err
	}
	s.invalidate(&sk.Hash)
	return sk.Key, nil
}

// RotateKey creates a key with the old key's name, models, metadata, team
// and limits (no expiry: set one with UpdateKey if needed) and makes the old
// key expire at the earlier of its current expiry and now+grace. A
// key.rotate audit entry (target: the old id; details: new_id, grace) is
// committed in the same transaction. Only a live key that was never
// rotated can be: a revoked key is ErrRevoked, an expired one ErrExpired,
// and a key already rotated ErrRotated (rotating it again would make a
// second live successor; rotate the one RotatedTo names). A negative grace
// is ErrInvalid.
func (s *BadgerStore) RotateKey(ctx context.Context, id string, grace time.Duration) (Key, string, Key, error) {
	if grace < 0 {
		return Key{}, "", Key{}, fmt.Errorf("%w: negative grace period", ErrInvalid)
	}
	now := s.timeNow()
	plaintext, h, newID, err := newKeyMaterial()
	if err != nil {
		return Key{}, "", Key{}, err
	}
	var oldSK, newSK storedKey
	_, err = s.auditedUpdate(ctx, func(txn *badger.Txn) (*AuditEntry, error) {
		var err error
		if oldSK, err = getStored(txn, id); err != nil {
			return nil, err
		}
		switch {
		case oldSK.Status == StatusRevoked:
			return nil, fmt.Errorf("%w: key %s is revoked; only a live key can be rotated", ErrRevoked, oldSK.ID)
		case oldSK.RotatedTo != "":
			return nil, fmt.Errorf("%w: key %s was rotated to %s; rotate %s instead", ErrRotated, oldSK.ID, oldSK.RotatedTo, oldSK.RotatedTo)
		case oldSK.StatusAt(now) == StatusExpired:
			return nil, fmt.Errorf("%w: key %s has expired; only a live key can be rotated", ErrExpired, oldSK.ID)
		}
		newSK = storedKey{
			Key: Key{
				ID:          newID,
				Name:        oldSK.Name,
				Prefix:      DisplayPrefix(plaintext),
				Last4:       Last4(plaintext),
				Models:      cloneModels(oldSK.Models),
				Metadata:    cloneMetadata(oldSK.Metadata),
				Status:      StatusActive,
				CreatedAt:   now,
				UpdatedAt:   now,
				RotatedFrom: oldSK.ID,
				Team:        oldSK.Team,
				Limits:      oldSK.Limits,
			},
			Hash: h,
		}
		until := now.Add(grace)
		if oldSK.ExpiresAt == nil || until.Before(*oldSK.ExpiresAt) {
			oldSK.ExpiresAt = &until
		}
		oldSK.RotatedTo = newID
		oldSK.UpdatedAt = now
		if err := putStored(txn, &oldSK); err != nil {
			return nil, err
		}
		if err := insertNew(txn, &newSK); err != nil {
			return nil, err
		}
		if err := setKeyTeam(txn, newSK.ID, "", newSK.Team); err != nil {
			return nil, err
		}
		return &AuditEntry{Action: AuditKeyRotate, Target: oldSK.ID, Time: now, Details: map[string]string{
			"new_id": newID,
			"grace":  grace.String(),
		}}, nil
	})
	if err != nil {
		return Key{}, "", Key{}, err
	}
	s.invalidate(&oldSK.Hash)
	return newSK.Key, plaintext, oldSK.Key, nil
}

// Authenticate checks a presented key at now. It returns ErrMalformedKey or
// ErrBadChecksum without any read, ErrNotFound for an unknown key, and
// ErrRevoked or ErrExpired together with the key's AuthView (so the caller
// can log its ID). On success it returns the key's AuthView: ID, Status,
// ExpiresAt, Models, Team and Limits; GetKey has the other fields.
//
// Records are cached in process after the first lookup, up to
// KeyCacheSize of them (the least recently used make room); every write
// through this store invalidates its entry before returning, so changes are
// seen by the next call. Unknown keys are not cached, so random keys cannot
// fill the cache. The returned Key shares its Models slice with the cache:
// callers must not modify it.
func (s *BadgerStore) Authenticate(ctx context.Context, presented string, now time.Time) (Key, error) {
	if err := CheckFormat(presented); err != nil {
		return Key{}, err
	}
	if s.closed.Load() {
		return Key{}, ErrClosed
	}
	h := HashKey(presented)
	k, ok, gen := s.cache.get(&h)
	if !ok {
		var err error
		if k, err = s.loadByHash(ctx, h); err != nil {
			return Key{}, err
		}
		s.cache.put(&h, &k, gen)
	}
	switch k.StatusAt(now) {
	case StatusRevoked:
		return k, ErrRevoked
	case StatusExpired:
		return k, ErrExpired
	}
	return k, nil
}

// loadByHash reads the authorization record for a key hash from Badger:
// one read of a small record.
func (s *BadgerStore) loadByHash(ctx context.Context, h [32]byte) (Key, error) {
	var k Key
	err := s.view(ctx, func(txn *badger.Txn) (err error) {
		k, err = getRecord(txn, &h)
		return err
	})
	return k, err
}

// Close flushes queued usage, stops the background goroutines and closes
// Badger. It is safe to call more than once; later calls return the first
// call's result. After Close every method returns ErrClosed.
func (s *BadgerStore) Close() error {
	s.closeOnce.Do(func() {
		// Write the uses noted so far while the store still takes writes.
		close(s.lastUseStop)
		<-s.lastUseDone
		if err := s.FlushLastUse(context.Background()); err != nil {
			s.log.Warn("writing the last use of keys at close failed", zap.Error(err))
		}
		s.closed.Store(true)
		s.sendMu.Lock()
		s.sendClosed = true
		close(s.usageCh)
		s.sendMu.Unlock()
		<-s.writerDone
		if s.gcStop != nil {
			close(s.gcStop)
			<-s.gcDone
		}
		s.lifeMu.Lock()
		if free, err := s.freeForClose(); err != nil {
			// Closing flushes the memtable into a new table through mmap:
			// on a full disk that is a SIGBUS. Its write-ahead log is
			// already on disk and is replayed at the next open; the
			// directory lock goes with the process.
			s.log.Error("key store not closed: too little disk space to flush it; it recovers from its log at the next start",
				zap.String("dir", s.space.dir), zap.Uint64("free_bytes", free))
			s.closeErr = err
		} else {
			s.closeErr = s.db.Close()
		}
		s.lifeMu.Unlock()
		s.cache.clear()
	})
	return s.closeErr
}

// ExpireKeyAt brings the key's expiry forward to at, unless it is revoked
// or already expires at or before at, and commits an audit entry with
// action, the given details and expires_at in the same transaction. It
// reports whether it changed the key. It is how the gateway enforces a
// maximum key age: the record's expiry is what Authenticate checks, so
// authorization reads nothing more. The auth cache is updated before it
// returns.
func (s *BadgerStore) ExpireKeyAt(ctx context.Context, id string, at time.Time, action string, details map[string]string) (Key, bool, error) {
	at = at.UTC().Round(0)
	now := s.timeNow()
	var sk storedKey
	changed := false
	_, err := s.auditedUpdate(ctx, func(txn *badger.Txn) (*AuditEntry, error) {
		var err error
		changed = false
		if sk, err = getStored(txn, id); err != nil {
			return nil, err
		}
		if sk.Status == StatusRevoked || (sk.ExpiresAt != nil && !sk.ExpiresAt.After(at)) {
			return nil, nil
		}
		sk.ExpiresAt = &at
		sk.UpdatedAt = now
		if err := putStored(txn, &sk); err != nil {
			return nil, err
		}
		changed = true
		d := maps.Clone(details)
		if d == nil {
			d = map[string]string{}
		}
		d["expires_at"] = at.Format(time.RFC3339)
		return &AuditEntry{Action: action, Target: sk.ID, Time: now, Details: d}, nil
	})
	if err != nil {
		return Key{}, false, err
	}
	if changed {
		s.invalidate(&sk.Hash)
	}
	return sk.Key, changed, nil
}
