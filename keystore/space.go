package keystore

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"go.uber.org/zap"
)

// Disk space. Badger v4 writes everything through mmap: the memtable's
// write-ahead log (a sparse file of twice MemTableSize made by ftruncate),
// the value log and every new table. On a full filesystem a store into a
// page that has no block yet is a SIGBUS, which kills the process (the Go
// runtime cannot turn a fault in Badger's goroutines into an error), and
// the next start crashes again: opening writes a fresh memtable. Badger v4
// has no file-I/O loading modes any more (v2's TableLoadingMode and
// ValueLogLoadingMode are gone) and no preallocation option, so the store
// guards from outside: it keeps a reserve of free space that every write of
// its own must leave untouched, refuses to open without it, and skips the
// memtable flush on Close when even that would not fit.

// DefaultMinFreeBytes is the free space a store keeps in reserve. It covers
// what Badger may still write on its own once the store stops writing: the
// rest of the active memtable log and the next one (2×8 MB each), flushing
// the memtables to level-0 tables, a compaction and the manifest.
const DefaultMinFreeBytes = 64 << 20

// closeFlushBytes is the free space Close needs to flush the memtable (a
// level-0 table at most the memtable's size) and append to the manifest.
const closeFlushBytes = 3 * memTableSize

// spaceCheckEvery is how long a free-space reading is trusted while the
// filesystem has more than twice the reserve free: filling the reserve in
// that time would take this store writing at hundreds of MB/s. Closer to
// the reserve, every write checks.
const spaceCheckEvery = time.Second

// ErrNoSpace is matched (errors.Is) by the error of a write refused because
// the store's filesystem has less free space than the store keeps in
// reserve, and by OpenBadger's error when it has too little to open. The
// error also matches syscall.ENOSPC.
var ErrNoSpace = errors.New("keystore: not enough free disk space")

// noSpaceError names the directory and the figures.
type noSpaceError struct {
	dir        string
	free, need uint64
	opening    bool
}

func (e *noSpaceError) Error() string {
	if e.opening {
		return fmt.Sprintf("keystore: the store directory %s has %s free on its filesystem; the store needs %s free to open (no space left on device): free disk space and start again",
			e.dir, humanize.IBytes(e.free), humanize.IBytes(e.need))
	}
	return fmt.Sprintf("keystore: the store at %s has %s free, less than the %s it keeps in reserve: writes are refused until disk space is freed (no space left on device)",
		e.dir, humanize.IBytes(e.free), humanize.IBytes(e.need))
}
func (e *noSpaceError) Unwrap() []error { return []error{ErrNoSpace, syscall.ENOSPC} }

// spaceGuard tracks the free space of a store's filesystem.
type spaceGuard struct {
	dir       string
	need      uint64
	log       *zap.Logger
	checkedAt atomic.Int64  // unix nanoseconds of the last reading
	free      atomic.Uint64 // the last reading
	low       atomic.Bool   // below the reserve at the last reading (for logging the change)
}

// check returns a *noSpaceError when the filesystem has less than the
// reserve free. A reading older than spaceCheckEvery, or one close to the
// reserve, is refreshed with statfs; otherwise it costs two atomic loads.
func (g *spaceGuard) check() error {
	if g == nil {
		return nil
	}
	now := time.Now().UnixNano()
	if free := g.free.Load(); free >= 2*g.need && now-g.checkedAt.Load() < int64(spaceCheckEvery) {
		return nil
	}
	free, err := freeBytes(g.dir)
	if err != nil {
		// Unknown (an unsupported system, or statfs failed): do not block
		// writes on a guess; Badger's own errors still apply.
		return nil
	}
	g.free.Store(free)
	g.checkedAt.Store(now)
	if free < g.need {
		if !g.low.Swap(true) {
			g.log.Error("key store disk is full: writes are refused until space is freed; authentication goes on from the stored keys",
				zap.String("dir", g.dir), zap.Uint64("free_bytes", free), zap.Uint64("reserve_bytes", g.need))
		}
		return &noSpaceError{dir: g.dir, free: free, need: g.need}
	}
	if g.low.Swap(false) {
		g.log.Warn("key store disk has space again: writes resume", zap.String("dir", g.dir), zap.Uint64("free_bytes", free))
	}
	return nil
}

// checkOpen refuses a directory Badger could not open safely: one not
// writable (a read-only mount, permissions) or one whose filesystem has
// less than need free. Errors are one line naming the directory.
func checkOpen(dir string, need uint64) error {
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return &noSpaceError{dir: dir, need: need, opening: true}
		}
		return fmt.Errorf("keystore: the store directory %s is not writable: %v", dir, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	if free, err := freeBytes(dir); err == nil && free < need {
		return &noSpaceError{dir: dir, free: free, need: need, opening: true}
	}
	return nil
}

// unwrapPath drops the *PathError's path (the probe file's random name),
// leaving the cause.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// oneLine joins a multi-line error (Badger joins causes with newlines) so
// that a start failure reads as one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// freeForClose returns an error when the filesystem has too little space
// for Close to flush the memtable.
func (s *BadgerStore) freeForClose() (uint64, error) {
	if s.space == nil {
		return 0, nil
	}
	free, err := freeBytes(s.space.dir)
	if err != nil || free >= closeFlushBytes {
		return free, nil
	}
	return free, &noSpaceError{dir: s.space.dir, free: free, need: closeFlushBytes}
}

// CheckSpace returns an error matching ErrNoSpace when the store's
// filesystem has less free space than the store keeps in reserve, so that
// a caller can refuse work it could not record. It reads a cached figure
// most of the time (see spaceCheckEvery).
func (s *BadgerStore) CheckSpace() error {
	return s.space.check()
}
