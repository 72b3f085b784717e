package providers

// MaxUsageTokens bounds every token count taken from an upstream's usage
// report: 2^30, about a billion, a hundred times the longest context window
// offered today. A larger count is a broken or hostile upstream; clamped,
// it still charges the most any request could, and the sums and costs
// built from it cannot overflow.
const MaxUsageTokens int64 = 1 << 30

// UsageCounts sanitizes the counts of one upstream usage report, at the
// decoder: each raw count goes through [UsageCounts.Of] before any are
// added up, and the canonical result through [UsageCounts.Usage]. An
// upstream's numbers are not trusted: a negative count would panic the
// metrics (Prometheus counters cannot decrease) and refund a budget, a
// huge one overflow the sums. Its zero value is ready to use.
type UsageCounts struct {
	adjusted bool
}

// Of returns n clamped into [0, MaxUsageTokens], remembering whether it had
// to clamp.
func (c *UsageCounts) Of(n int64) int64 {
	switch {
	case n < 0:
		c.adjusted = true
		return 0
	case n > MaxUsageTokens:
		c.adjusted = true
		return MaxUsageTokens
	}
	return n
}

// Adjusted reports whether a count given to c was out of range.
func (c *UsageCounts) Adjusted() bool { return c.adjusted }

// Usage returns u with every count clamped by [UsageCounts.Of] (a sum of
// clamped counts can still pass MaxUsageTokens) and Adjusted set when any
// count given to c was out of range.
func (c *UsageCounts) Usage(u Usage) Usage {
	for _, p := range [...]*int64{&u.PromptTokens, &u.CompletionTokens, &u.CachedTokens, &u.CacheWriteTokens, &u.ReasoningTokens} {
		*p = c.Of(*p)
	}
	u.Adjusted = u.Adjusted || c.adjusted
	return u
}

// SanitizeUsage returns u with every count clamped into [0, MaxUsageTokens]
// and Adjusted set if one was not, for decoders that read the canonical
// counts directly (no sums).
func SanitizeUsage(u Usage) Usage {
	var c UsageCounts
	return c.Usage(u)
}
