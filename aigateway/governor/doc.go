// Package governor holds the in-memory, per-process parts of the gateway's
// admission control and pricing: a GCRA rate limiter for requests and tokens
// per minute, a parallel-request limiter, the model price table and the cost
// formula, and the token estimates used to reserve capacity before a
// response's real usage is known.
//
// The package knows nothing of HTTP, Caddy or storage. Every type is safe
// for concurrent use, and every time-dependent type takes a [Clock] so tests
// can control time.
//
// The intended TPM flow is "reserve, then settle": at admission the caller
// charges [ReserveTokens] (the estimated prompt plus the completion bound)
// with [Limiter.Allow], and once the response reports its usage it calls
// [Limiter.Adjust] with actual − reserved. A refund lets waiting traffic in
// sooner; an under-estimate pushes the key's schedule into the future so
// later requests wait. Budgets follow the same pattern with [Cost].
package governor

import "time"

// Clock returns the current time. It is injected everywhere the package
// needs the time so that tests can drive it; a nil Clock means [time.Now].
type Clock func() time.Time

func (c Clock) now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}
