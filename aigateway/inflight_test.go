package aigateway

import (
	"net/http"
	"testing"
)

func TestInflightBudget(t *testing.T) {
	b := newInflightBudget(100)
	steps := []struct {
		acquire, release int64
		want             bool
	}{
		{acquire: 60, want: true},
		{acquire: 40, want: true},  // exactly full
		{acquire: 1, want: false},  // over, others in flight
		{release: 100},             // everything back
		{acquire: 500, want: true}, // alone: always fits
		{acquire: 1, want: false},
		{release: 500},
		{acquire: 1, want: true},
	}
	for i, s := range steps {
		if s.release > 0 {
			b.release(s.release)
			continue
		}
		if got := b.acquire(s.acquire); got != s.want {
			t.Fatalf("step %d: acquire(%d) = %v, want %v (used %d)", i, s.acquire, got, s.want, b.used.Load())
		}
	}
	if b.used.Load() != 1 {
		t.Fatalf("used %d after the steps, want 1", b.used.Load())
	}
	off := newInflightBudget(-1)
	if !off.acquire(1<<40) || !off.acquire(1<<40) {
		t.Fatal("-1 must not bound anything")
	}
	if newInflightBudget(0).max != DefaultMaxInflightBody {
		t.Fatal("0 is the default")
	}
	if e := errGatewayBusy(); e.Status != http.StatusServiceUnavailable || e.RetryAfter <= 0 {
		t.Fatalf("busy answer: %+v", e)
	}
}
