package governor

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock, safe for concurrent reads.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) limiter() (l *Limiter)   { return NewLimiter(c.Now) }
func allowed(rem int64, reset time.Duration) Decision {
	return Decision{Allowed: true, Remaining: rem, ResetAfter: reset}
}
func refused(rem int64, reset, retry time.Duration) Decision {
	return Decision{Remaining: rem, ResetAfter: reset, RetryAfter: retry}
}

// step is one action in a limiter scenario.
type step struct {
	advance time.Duration
	op      string // "allow" (default), "peek", "adjust"
	cost    int64  // cost for allow, delta for adjust
	repeat  int    // run the same allow this many times (default 1)
	want    Decision
}

func TestLimiterScenarios(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name  string
		limit int64
		steps []step
	}{
		{
			name: "burst of 60 then refuse at the window edge", limit: 60,
			steps: []step{
				{cost: 1, want: allowed(59, 1*s)},
				{cost: 1, repeat: 58, want: allowed(1, 59*s)},
				{cost: 1, want: allowed(0, 60*s)},
				{cost: 1, want: refused(0, 60*s, 1*s)},
				{advance: 999 * ms, cost: 1, want: refused(0, 59*s+1*ms, 1*ms)},
				{advance: 1 * ms, cost: 1, want: allowed(0, 60*s)},
				{cost: 1, want: refused(0, 60*s, 1*s)},
				{advance: 1 * s, cost: 1, want: allowed(0, 60*s)},
				{advance: 30 * s, op: "peek", want: allowed(30, 30*s)},
				{advance: 30 * s, op: "peek", want: allowed(60, 0)},
				{cost: 1, repeat: 60, want: allowed(0, 60*s)},
				{cost: 1, want: refused(0, 60*s, 1*s)},
			},
		},
		{
			name: "partial refill", limit: 60,
			steps: []step{
				{cost: 60, want: allowed(0, 60*s)},
				{advance: 10 * s, cost: 11, want: refused(10, 50*s, 1*s)},
				{cost: 10, want: allowed(0, 60*s)},
				{advance: 1500 * ms, op: "peek", want: allowed(1, 58*s+500*ms)},
			},
		},
		{
			name: "token costs", limit: 100, // T = 600ms
			steps: []step{
				{cost: 30, want: allowed(70, 18*s)},
				{cost: 80, want: refused(70, 18*s, 6*s)},
				{advance: 6 * s, cost: 80, want: allowed(0, 60*s)},
				{cost: 0, want: allowed(0, 60*s)},
				{cost: 1, want: refused(0, 60*s, 600*ms)},
			},
		},
		{
			name: "cost equal to the limit fits a fresh key", limit: 1000,
			steps: []step{
				{cost: 1000, want: allowed(0, 60*s)},
				{advance: 60 * s, cost: 1000, want: allowed(0, 60*s)},
			},
		},
		{
			name: "cost above the limit is never allowed and not charged", limit: 100,
			steps: []step{
				{cost: 101, want: refused(100, 0, RetryNever)},
				{cost: 10, want: allowed(90, 6*s)},
				{cost: 1 << 62, want: refused(90, 6*s, RetryNever)},
				{op: "peek", want: allowed(90, 6*s)},
			},
		},
		{
			name: "negative cost counts as zero", limit: 60,
			steps: []step{
				{cost: -5, want: allowed(60, 0)},
				{cost: 60, want: allowed(0, 60*s)},
				{cost: -5, want: allowed(0, 60*s)}, // zero fits a full bucket
				{op: "adjust", cost: 1},
				{cost: -5, want: refused(0, 61*s, 1*s)}, // but not a debt
			},
		},
		{
			name: "adjust refund lets more in", limit: 60,
			steps: []step{
				{cost: 60, want: allowed(0, 60*s)},
				{cost: 1, want: refused(0, 60*s, 1*s)},
				{op: "adjust", cost: -30},
				{op: "peek", want: allowed(30, 30*s)},
				{cost: 30, want: allowed(0, 60*s)},
				{cost: 1, want: refused(0, 60*s, 1*s)},
			},
		},
		{
			name: "adjust refund stops at a full bucket", limit: 60,
			steps: []step{
				{cost: 10, want: allowed(50, 10*s)},
				{op: "adjust", cost: -1000},
				{op: "peek", want: allowed(60, 0)},
				{cost: 60, want: allowed(0, 60*s)},
			},
		},
		{
			name: "adjust charge past the limit delays later requests", limit: 60,
			steps: []step{
				{cost: 10, want: allowed(50, 10*s)},
				{op: "adjust", cost: 110}, // settled at 120 tokens: 60 over
				{op: "peek", want: refused(0, 120*s, 61*s)},
				{cost: 1, want: refused(0, 120*s, 61*s)},
				{advance: 60 * s, cost: 1, want: refused(0, 60*s, 1*s)},
				{advance: 1 * s, cost: 1, want: allowed(0, 60*s)},
			},
		},
		{
			name: "adjust charge on an unknown key creates debt", limit: 60,
			steps: []step{
				{op: "adjust", cost: 90},
				{cost: 1, want: refused(0, 90*s, 31*s)},
				{advance: 31 * s, cost: 1, want: allowed(0, 60*s)},
			},
		},
		{
			name: "adjust saturates instead of overflowing", limit: 60,
			steps: []step{
				{op: "adjust", cost: 1 << 62},
				{op: "adjust", cost: 1 << 62},
				{cost: 1, want: refused(0, time.Duration(1<<63-1-newFakeClock().ns.Load()), time.Duration(1<<63-1-newFakeClock().ns.Load())-60*s)}, // the cost's 1s is lost to saturation
			},
		},
		{
			name: "zero limit admits nothing", limit: 0,
			steps: []step{
				{cost: 1, want: refused(0, 0, RetryNever)},
				{op: "peek", want: refused(0, 0, RetryNever)},
			},
		},
		{
			name: "limit not dividing a minute", limit: 7,
			steps: []step{
				{cost: 1, repeat: 7, want: allowed(0, 7*8571428571)},
				{cost: 1, want: refused(0, 7*8571428571, 8571428571)},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			l := clk.limiter()
			for i, st := range tc.steps {
				clk.Advance(st.advance)
				want := st.want
				want.Limit = tc.limit
				var got Decision
				switch st.op {
				case "adjust":
					l.Adjust("k", tc.limit, st.cost)
					continue
				case "peek":
					got = l.Peek("k", tc.limit)
				default:
					for range max(st.repeat, 1) {
						got = l.Allow("k", tc.limit, st.cost)
					}
				}
				if got != want {
					t.Fatalf("step %d (%+v):\n got  %+v\n want %+v", i, st, got, want)
				}
			}
		})
	}
}

func TestLimiterKeysIndependent(t *testing.T) {
	l := newFakeClock().limiter()
	for i := range 5 {
		if d := l.Allow(fmt.Sprint("key", i), 1, 1); !d.Allowed {
			t.Fatalf("key%d refused: %+v", i, d)
		}
	}
	if d := l.Allow("key0", 1, 1); d.Allowed {
		t.Fatal("key0 allowed twice with limit 1")
	}
}

func TestLimiterConcurrentExact(t *testing.T) {
	clk := newFakeClock()
	l := clk.limiter()
	for _, tc := range []struct {
		key         string
		limit, cost int64
		want        int64
	}{
		{"requests", 100, 1, 100},
		{"tokens", 1000, 7, 142},
	} {
		var ok atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 1000 {
			wg.Go(func() {
				<-start
				if l.Allow(tc.key, tc.limit, tc.cost).Allowed {
					ok.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := ok.Load(); got != tc.want {
			t.Errorf("%s: %d allowed, want exactly %d", tc.key, got, tc.want)
		}
	}
}

func TestLimiterConcurrentManyKeys(t *testing.T) {
	l := newFakeClock().limiter()
	var wg sync.WaitGroup
	counts := make([]atomic.Int64, 50)
	for g := range 200 {
		wg.Go(func() {
			for i := range 500 {
				k := (g + i) % len(counts)
				if l.Allow(fmt.Sprint("k", k), 30, 1).Allowed {
					counts[k].Add(1)
				}
				l.Peek(fmt.Sprint("k", k), 30)
			}
		})
	}
	wg.Wait()
	for k := range counts {
		if got := counts[k].Load(); got != 30 {
			t.Errorf("key k%d: %d allowed, want 30", k, got)
		}
	}
}

func TestLimiterSweep(t *testing.T) {
	clk := newFakeClock()
	l := clk.limiter()
	l.Allow("long", 60, 30) // full again after 30s
	for i := range 5000 {
		l.Allow(fmt.Sprint("short", i), 60, 1) // full again after 1s
	}
	if n := l.Len(); n != 5001 {
		t.Fatalf("Len = %d, want 5001", n)
	}
	if n := l.Sweep(); n != 0 {
		t.Fatalf("early Sweep removed %d keys", n)
	}
	clk.Advance(time.Second)
	if n := l.Sweep(); n != 5000 {
		t.Fatalf("Sweep removed %d, want 5000", n)
	}
	if n := l.Len(); n != 1 {
		t.Fatalf("Len after sweep = %d, want 1", n)
	}
	// The surviving key keeps its state; a swept key starts fresh.
	if d := l.Peek("long", 60); d.Remaining != 31 {
		t.Fatalf("long: %+v", d)
	}
	if d := l.Allow("short7", 60, 60); !d.Allowed {
		t.Fatalf("swept key not fresh: %+v", d)
	}
	clk.Advance(time.Minute)
	if n := l.Sweep(); n != 2 || l.Len() != 0 {
		t.Fatalf("final Sweep removed %d, Len %d", n, l.Len())
	}
	// Keys refunded back to full are removed at once.
	l.Allow("r", 60, 5)
	l.Adjust("r", 60, -5)
	if l.Len() != 0 {
		t.Fatal("refund to full left the key behind")
	}
}

func TestLimiterNoAllocs(t *testing.T) {
	l := NewLimiter(nil)
	key := "tenant-42/user-7"
	l.Allow(key, 1<<40, 1)
	for name, f := range map[string]func(){
		"Allow":  func() { l.Allow(key, 1<<40, 1) },
		"Peek":   func() { l.Peek(key, 1<<40) },
		"Adjust": func() { l.Adjust(key, 1<<40, 1) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times per call on an existing key", name, n)
		}
	}
}

func TestLimiterNilClockUsesNow(t *testing.T) {
	l := NewLimiter(nil)
	if d := l.Allow("k", 1, 1); !d.Allowed || d.ResetAfter <= 0 || d.ResetAfter > time.Minute {
		t.Fatalf("%+v", d)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := NewLimiter(nil)
	l.Allow("bench-key", 1<<40, 1)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow("bench-key", 1<<40, 1)
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := NewLimiter(nil)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
		l.Allow(keys[i], 1<<40, 1)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i&1023], 1<<40, 1)
			i++
		}
	})
}
