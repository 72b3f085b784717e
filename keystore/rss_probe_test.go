package keystore

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssProbeEnv names the store directory TestRSSProbe opens; without it the
// test does nothing. The benchmark below starts it as a child process, so
// the memory it reads is a fresh process's, as a gateway restarted on the
// store would have, not the loader's (whose writes leave the new tables'
// pages mapped).
const (
	rssProbeEnv  = "AIGW_RSS_PROBE_DIR"
	rssProbeKeys = "AIGW_RSS_PROBE_KEYS"
)

// TestRSSProbe opens the store named by AIGW_RSS_PROBE_DIR, prints the
// process's memory, authenticates every key 0..AIGW_RSS_PROBE_KEYS-1 in a
// random order printing the memory after 10 % and after all of them. Lines
// read "rss <label> <total-MB> <anon-MB> <file-MB> <heap-MB>".
func TestRSSProbe(t *testing.T) {
	dir := os.Getenv(rssProbeEnv)
	if dir == "" {
		t.Skip("a child process of BenchmarkProcessMemory")
	}
	n, err := strconv.Atoi(os.Getenv(rssProbeKeys))
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	report := func(label string) {
		debug.FreeOSMemory()
		total, anon, file := rssMB()
		fmt.Printf("rss %s %.1f %.1f %.1f %.1f\n", label, total, anon, file, heapInuseMB())
	}
	time.Sleep(time.Second) // let the open's own work settle
	report("open")
	ctx, now := context.Background(), time.Now()
	for i, idx := range rand.Perm(n) {
		if _, err := s.Authenticate(ctx, benchKey(idx), now); err != nil {
			t.Fatal(err)
		}
		if i+1 == n/10 {
			report("tenth")
		}
	}
	report("all")
}

// BenchmarkProcessMemory measures a fresh process's resident memory over a
// store of 1,000,000 keys (100,000 with -short): just opened, after a tenth
// of the keys were used, after every key was used (the auth cache then
// holds its bound, DefaultKeyCacheSize). rss-MB is the whole; anon-MB the
// process's own memory (heap, stacks); file-MB the pages of Badger's
// memory-mapped tables it touched, which the kernel can drop under memory
// pressure and read again. One op is one child process, after an untimed
// one.
func BenchmarkProcessMemory(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	dir := b.TempDir()
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	loadBenchKeys(b, s, n)
	waitCompactions(b, s, time.Minute)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	probe := func() []byte {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSProbe$", "-test.v")
		cmd.Env = append(os.Environ(), rssProbeEnv+"="+dir, rssProbeKeys+"="+strconv.Itoa(n))
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("probe: %v\n%s", err, out)
		}
		return out
	}
	// The first open after a bulk load can find Badger compacting what the
	// loader's Close flushed (seen: 90 MB more heap and 120 MB more mapped
	// at open), which a gateway restarted on a settled store does not; an
	// untimed probe lets that finish.
	probe()
	var last map[string][4]float64
	b.ResetTimer()
	for range b.N {
		out := probe()
		last = map[string][4]float64{}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 6 || f[0] != "rss" {
				continue
			}
			var v [4]float64
			for i := range v {
				v[i], _ = strconv.ParseFloat(f[2+i], 64)
			}
			last[f[1]] = v
		}
	}
	b.StopTimer()
	if len(last) != 3 {
		b.Fatalf("probe printed %d of 3 memory lines", len(last))
	}
	for _, label := range []string{"open", "tenth", "all"} {
		v := last[label]
		b.ReportMetric(v[0], label+"-rss-MB")
		b.ReportMetric(v[1], label+"-anon-MB")
		b.ReportMetric(v[2], label+"-file-MB")
		b.ReportMetric(v[3], label+"-heap-MB")
	}
}
