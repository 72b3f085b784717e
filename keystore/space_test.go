package keystore

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of the given size on a fresh directory and
// unmounts it (lazily, as a store left open by a test may still map files)
// when the test ends. It skips the test, saying why, when it cannot mount.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for a full-disk test (needs root): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillDisk writes a file until the filesystem is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	for _, n := range []int{64 << 10, 4 << 10, 512, 1} { // the last partial blocks
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	if free, err := freeBytes(dir); err != nil || free > 0 {
		t.Fatalf("disk not full: %d bytes free (%v)", free, err)
	}
	return name
}

// TestFullDisk runs a real Badger store on a small tmpfs and fills it: writes
// must fail with ErrNoSpace (not kill the process with SIGBUS, as Badger's
// mmap writes do on a full disk), keys must still authenticate, writes must
// resume once space is freed, and opening a full or read-only directory
// must fail with one line naming the directory and the cause.
func TestFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, "80m") // above the 64 MiB reserve, with room for the store
	dir := filepath.Join(mnt, "store")
	ctx := context.Background()
	open := func() *BadgerStore {
		t.Helper()
		s, err := OpenBadger(dir, BadgerOptions{KeyCacheSize: -1}) // no cache: authentication reads the store
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}
	s := open()
	_, secret, err := s.CreateKey(ctx, KeySpec{Name: "before"})
	if err != nil {
		t.Fatal(err)
	}

	filler := fillDisk(t, mnt)
	_, _, err = s.CreateKey(ctx, KeySpec{Name: "on a full disk"})
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("CreateKey on a full disk: %v, want ErrNoSpace naming %s", err, dir)
	}
	if err := s.CheckSpace(); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("CheckSpace on a full disk: %v", err)
	}
	if _, err := s.Authenticate(ctx, secret, time.Now()); err != nil {
		t.Fatalf("authentication on a full disk: %v", err)
	}
	if err := s.RecordUsage(ctx, UsageRecord{RequestID: "r1", Time: time.Now(), KeyID: "k", Model: "m"}); err != nil {
		t.Fatalf("RecordUsage queues without writing: %v", err)
	}
	if err := s.FlushUsage(ctx); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("FlushUsage on a full disk: %v, want ErrNoSpace", err)
	}
	if err := s.Reserve(ctx, Reservation{ID: "resv_full", Allowances: []Allowance{{Scope: KeyScope("k"), BudgetMicros: 1000, BudgetPeriod: PeriodMonthly}}, CostMicros: 1, At: time.Now()}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Reserve on a full disk: %v, want ErrNoSpace", err)
	}

	// Space freed: writes resume without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateKey(ctx, KeySpec{Name: "after"}); err != nil {
		t.Fatalf("CreateKey after freeing space: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Opening on a full disk: one line naming the directory and the cause.
	filler = fillDisk(t, mnt)
	_, err = OpenBadger(dir, BadgerOptions{})
	if err == nil || !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("open on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	// A close on a disk too full to flush the memtable is skipped, not a
	// SIGBUS: the log is replayed at the next open.
	s = open()
	if _, _, err := s.CreateKey(ctx, KeySpec{Name: "unflushed"}); err != nil {
		t.Fatal(err)
	}
	filler = fillDisk(t, mnt)
	if err := s.Close(); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Close on a full disk: %v, want ErrNoSpace", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	// A read-only store directory: one line naming it and the cause.
	ro := mountTmpfs(t, "1m")
	if err := os.Mkdir(filepath.Join(ro, "store"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", ro).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v: %s", err, out)
	}
	_, err = OpenBadger(filepath.Join(ro, "store"), BadgerOptions{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(ro, "store")) || !strings.Contains(err.Error(), "read-only file system") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("open on a read-only directory: %v", err)
	}
}
