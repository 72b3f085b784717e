package governor

import (
	"math"
	"strings"
	"time"
)

// RetryNever is the [Decision.RetryAfter] value for a request that can never
// be admitted however long the caller waits: its cost exceeds the whole
// per-minute limit, or the limit is zero or negative. Callers should answer
// such a request with a non-retryable error (e.g. HTTP 413 or 400 rather
// than 429 with a Retry-After header).
const RetryNever time.Duration = -1

// Decision is the outcome of a rate-limit check, with the values a caller
// needs for rate-limit response headers.
type Decision struct {
	// Allowed reports whether the request was admitted (and, for
	// [Limiter.Allow], charged).
	Allowed bool
	// Limit is the per-minute limit the check ran against.
	Limit int64
	// Remaining is how many units (requests or tokens) could be spent
	// right now after this decision, never negative.
	Remaining int64
	// ResetAfter is how long until the key's bucket is completely full
	// again (zero when it already is).
	ResetAfter time.Duration
	// RetryAfter is how long the caller must wait before the same request
	// would be admitted: zero when Allowed, [RetryNever] when it can never
	// be admitted.
	RetryAfter time.Duration
}

// Limiter is a GCRA (generic cell rate algorithm) rate limiter keyed by
// string, with limits expressed per minute.
//
// For a limit L per minute the emission interval is T = 1min/L and the burst
// is the whole limit: a fresh key may spend its entire minute at once and
// then regains one unit every T. Each key is stored as a single int64, its
// theoretical arrival time (TAT): the instant at which its bucket will be
// full again. A request of cost c is admitted when
// max(TAT, now) + c·T − now ≤ L·T, and then TAT advances by c·T. No
// background refill is needed; keys whose TAT has passed carry no
// information and are dropped by [Limiter.Sweep].
//
// The limit is passed on every call rather than stored, so configuration
// changes take effect immediately; the stored TAT is an absolute time and is
// reinterpreted under the new limit.
//
// Limits above 60e9 per minute are treated as one unit per nanosecond.
// The Clock must return times between the years 1678 and 2262 (the range of
// [time.Time.UnixNano]).
//
// A Limiter is safe for concurrent use. Its state is split into 64
// independently locked shards, and a check on an existing key does not
// allocate.
type Limiter struct {
	clock  Clock
	shards shards
}

// NewLimiter returns an empty Limiter that reads the time from clock (nil
// means [time.Now]).
func NewLimiter(clock Clock) *Limiter {
	l := &Limiter{clock: clock}
	l.shards.init()
	return l
}

// interval returns the emission interval in nanoseconds for a per-minute
// limit (> 0) and the burst capacity limit·T.
func interval(limit int64) (t, capacity int64) {
	t = int64(time.Minute) / limit
	if t < 1 {
		t = 1
	}
	return t, limit * t // limit·t ≤ 1min, or = limit when t was clamped
}

// remaining converts a backlog (TAT − now, in ns) into whole units left.
func remaining(backlog, t, capacity int64) int64 {
	if backlog < 0 {
		backlog = 0
	}
	if backlog >= capacity {
		return 0
	}
	return (capacity - backlog) / t
}

// Allow checks whether key may spend cost units (1 for a request, the
// estimated token count for TPM) under a limit of limitPerMinute, and if so
// charges them. A negative cost counts as zero; a zero cost charges nothing
// and is refused only while the key is in debt past its limit (see
// [Limiter.Adjust]).
//
// A cost larger than limitPerMinute can never fit in the bucket: it is
// refused with RetryAfter == [RetryNever] and nothing is charged. A
// limitPerMinute of zero or less admits nothing (also [RetryNever]); callers
// wanting "unlimited" should skip the check. A refused request is not
// charged.
func (l *Limiter) Allow(key string, limitPerMinute, cost int64) Decision {
	if limitPerMinute <= 0 {
		return Decision{Limit: limitPerMinute, RetryAfter: RetryNever}
	}
	if cost < 0 {
		cost = 0
	}
	now := l.clock.now().UnixNano()
	t, capacity := interval(limitPerMinute)

	sh := l.shards.get(key)
	sh.mu.Lock()
	tat, ok := sh.m[key]
	if tat < now {
		tat = now
	}
	backlog := tat - now
	if cost > limitPerMinute {
		sh.mu.Unlock()
		return Decision{
			Limit:      limitPerMinute,
			Remaining:  remaining(backlog, t, capacity),
			ResetAfter: time.Duration(backlog),
			RetryAfter: RetryNever,
		}
	}
	newTAT := satAdd(tat, cost*t) // cost ≤ limit, so cost·t ≤ capacity
	if over := newTAT - now - capacity; over > 0 {
		sh.mu.Unlock()
		return Decision{
			Limit:      limitPerMinute,
			Remaining:  remaining(backlog, t, capacity),
			ResetAfter: time.Duration(backlog),
			RetryAfter: time.Duration(over),
		}
	}
	if cost > 0 {
		if !ok {
			// Copy the key so the map never pins a larger buffer the
			// caller may have sliced it from.
			key = strings.Clone(key)
		}
		sh.m[key] = newTAT
	}
	sh.mu.Unlock()
	return Decision{
		Allowed:    true,
		Limit:      limitPerMinute,
		Remaining:  remaining(newTAT-now, t, capacity),
		ResetAfter: time.Duration(newTAT - now),
	}
}

// Peek reports key's state under limitPerMinute without charging anything,
// for rate-limit headers. Allowed and RetryAfter describe a hypothetical
// request of cost 1.
func (l *Limiter) Peek(key string, limitPerMinute int64) Decision {
	if limitPerMinute <= 0 {
		return Decision{Limit: limitPerMinute, RetryAfter: RetryNever}
	}
	now := l.clock.now().UnixNano()
	t, capacity := interval(limitPerMinute)
	sh := l.shards.get(key)
	sh.mu.Lock()
	tat := sh.m[key]
	sh.mu.Unlock()
	backlog := max(tat-now, 0)
	d := Decision{
		Allowed:    true,
		Limit:      limitPerMinute,
		Remaining:  remaining(backlog, t, capacity),
		ResetAfter: time.Duration(backlog),
	}
	if over := satAdd(backlog, t) - capacity; over > 0 {
		d.Allowed = false
		d.RetryAfter = time.Duration(over)
	}
	return d
}

// Adjust settles an earlier charge on key once the true cost is known:
// delta = actual − charged units. A negative delta refunds (the bucket can
// refill at most to full), a positive one charges without any admission
// check, so it may push the key past its limit: its TAT moves further into
// the future and later requests wait until the debt has drained at the
// normal rate. A zero delta or a limitPerMinute of zero or less does
// nothing. Arithmetic saturates instead of overflowing.
func (l *Limiter) Adjust(key string, limitPerMinute, delta int64) {
	if limitPerMinute <= 0 || delta == 0 {
		return
	}
	now := l.clock.now().UnixNano()
	t, _ := interval(limitPerMinute)
	sh := l.shards.get(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat, ok := sh.m[key]
	if tat < now {
		tat = now
	}
	if delta > 0 {
		if !ok {
			key = strings.Clone(key)
		}
		sh.m[key] = satAdd(tat, satMul(delta, t))
		return
	}
	if !ok {
		return // already full; nothing to refund
	}
	if delta == math.MinInt64 {
		delta++
	}
	refund := satMul(-delta, t)
	if tat-now <= refund {
		delete(sh.m, key) // full again: same as absent
		return
	}
	sh.m[key] = tat - refund
}

// Sweep drops every key whose bucket is full again (TAT not in the future);
// such keys behave exactly like absent ones, so this loses nothing. The
// caller should run it periodically (e.g. every minute) to keep memory
// bounded by the number of recently active keys. It returns the number of
// keys removed. Shards whose map shrank a lot are rebuilt so their memory is
// returned too.
func (l *Limiter) Sweep() int {
	now := l.clock.now().UnixNano()
	removed := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n := 0
		for k, tat := range sh.m {
			if tat <= now {
				delete(sh.m, k)
				n++
			}
		}
		// Go maps never shrink; rebuild one that lost most of its keys.
		if n >= 1024 && n > 3*len(sh.m) {
			m := make(map[string]int64, len(sh.m))
			for k, v := range sh.m {
				m[k] = v
			}
			sh.m = m
		}
		sh.mu.Unlock()
		removed += n
	}
	return removed
}

// Len returns the number of keys currently tracked.
func (l *Limiter) Len() int { return l.shards.len() }

// satAdd returns a+b clamped to the int64 range.
func satAdd(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

// satMul returns a·b for non-negative a and b, clamped to math.MaxInt64.
func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}
