package governor

import (
	"strings"
	"sync/atomic"
)

// Parallel limits the number of requests in flight per key (e.g. per API
// key or per user). Keys with nothing in flight are removed, so memory is
// bounded by the number of keys with requests currently running. It is safe
// for concurrent use.
type Parallel struct {
	shards shards
}

// NewParallel returns an empty Parallel limiter.
func NewParallel() *Parallel {
	p := &Parallel{}
	p.shards.init()
	return p
}

// noop is the release function returned when Acquire fails.
func noop() {}

// Acquire takes one slot for key if fewer than max are in flight. On
// success it returns ok == true and a release function that frees the slot;
// release is idempotent and safe to call from any goroutine, so it may be
// both deferred and called early. On failure it returns ok == false and a
// no-op release. A max of zero or less admits nothing.
func (p *Parallel) Acquire(key string, max int64) (release func(), ok bool) {
	if max <= 0 {
		return noop, false
	}
	sh := p.shards.get(key)
	sh.mu.Lock()
	n, exists := sh.m[key]
	if n >= max {
		sh.mu.Unlock()
		return noop, false
	}
	if !exists {
		key = strings.Clone(key) // own the key; see Limiter.Allow
	}
	sh.m[key] = n + 1
	sh.mu.Unlock()

	var done atomic.Bool
	return func() {
		if !done.CompareAndSwap(false, true) {
			return
		}
		sh.mu.Lock()
		if c := sh.m[key] - 1; c > 0 {
			sh.m[key] = c
		} else {
			delete(sh.m, key)
		}
		sh.mu.Unlock()
	}, true
}

// InFlight returns the number of slots currently held for key.
func (p *Parallel) InFlight(key string) int64 {
	sh := p.shards.get(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[key]
}

// Len returns the number of keys with at least one request in flight.
func (p *Parallel) Len() int { return p.shards.len() }
