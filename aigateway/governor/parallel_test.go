package governor

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestParallelAcquireRelease(t *testing.T) {
	p := NewParallel()
	r1, ok1 := p.Acquire("k", 2)
	r2, ok2 := p.Acquire("k", 2)
	r3, ok3 := p.Acquire("k", 2)
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("ok = %v %v %v, want true true false", ok1, ok2, ok3)
	}
	if r3 == nil {
		t.Fatal("failed Acquire returned a nil release")
	}
	r3() // no-op
	if n := p.InFlight("k"); n != 2 {
		t.Fatalf("InFlight = %d, want 2", n)
	}
	if _, ok := p.Acquire("other", 1); !ok {
		t.Fatal("other key refused")
	}
	r1()
	r1() // idempotent
	if n := p.InFlight("k"); n != 1 {
		t.Fatalf("InFlight after double release = %d, want 1", n)
	}
	r4, ok := p.Acquire("k", 2)
	if !ok {
		t.Fatal("slot not freed")
	}
	r2()
	r4()
	if n := p.InFlight("k"); n != 0 {
		t.Fatalf("InFlight = %d, want 0", n)
	}
	if n := p.Len(); n != 1 { // "other" still held
		t.Fatalf("Len = %d, want 1 (zero entries must be removed)", n)
	}
	for _, max := range []int64{0, -1} {
		if r, ok := p.Acquire("z", max); ok || r == nil {
			t.Fatalf("max %d: ok=%v release nil=%v", max, ok, r == nil)
		}
	}
}

func TestParallelConcurrent(t *testing.T) {
	p := NewParallel()
	const max = 5
	var cur, peak, admitted atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for range 200 {
				release, ok := p.Acquire("shared", max)
				if !ok {
					continue
				}
				admitted.Add(1)
				n := cur.Add(1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				cur.Add(-1)
				// Release twice from two goroutines: must count once.
				var rw sync.WaitGroup
				rw.Go(release)
				release()
				rw.Wait()
			}
		})
	}
	wg.Wait()
	if peak.Load() > max {
		t.Fatalf("peak in flight %d > max %d", peak.Load(), max)
	}
	if admitted.Load() == 0 {
		t.Fatal("nothing admitted")
	}
	if n := p.InFlight("shared"); n != 0 {
		t.Fatalf("InFlight = %d after all released", n)
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}
