package governor

import "math"

// Usage is the token usage of one request, in OpenAI's convention:
// PromptTokens includes CachedTokens and CacheWriteTokens. Anthropic reports
// input_tokens excluding cache reads and writes, so a caller translating
// Anthropic usage sets PromptTokens = input_tokens +
// cache_read_input_tokens + cache_creation_input_tokens.
type Usage struct {
	// PromptTokens is the total number of input tokens.
	PromptTokens int64
	// CompletionTokens is the number of output tokens, reasoning included.
	CompletionTokens int64
	// CachedTokens is the part of PromptTokens read from the prompt cache.
	CachedTokens int64
	// CacheWriteTokens is the part of PromptTokens written to the cache.
	CacheWriteTokens int64
}

// Cost returns the price of u at p in micro-dollars (millionths of a USD),
// rounded up to the next whole micro-dollar:
//
//	(prompt − cached − cacheWrite)·input + cached·cachedInput
//	  + cacheWrite·cacheWrite + completion·output
//
// all per million tokens. A zero CachedInputPerM or CacheWritePerM falls
// back to InputPerM. Negative token counts and negative or NaN prices count
// as zero; an infinite price saturates. If cached + cacheWrite exceed prompt the report is inconsistent;
// every reported token is still charged (the uncached part counts as zero)
// so that a mistranslated usage never lowers the bill. The result saturates
// at math.MaxInt64 instead of overflowing.
func Cost(p Price, u Usage) int64 {
	prompt := max(u.PromptTokens, 0)
	completion := max(u.CompletionTokens, 0)
	cached := max(u.CachedTokens, 0)
	write := max(u.CacheWriteTokens, 0)

	input := clampPrice(p.InputPerM)
	output := clampPrice(p.OutputPerM)
	cachedPrice := clampPrice(p.CachedInputPerM)
	if cachedPrice == 0 {
		cachedPrice = input
	}
	writePrice := clampPrice(p.CacheWritePerM)
	if writePrice == 0 {
		writePrice = input
	}

	// Uncached tokens in float64: prompt − cached − write could overflow
	// int64 for absurd inputs.
	uncached := math.Max(float64(prompt)-float64(cached)-float64(write), 0)
	// tokens × USD/1M tokens = micro-dollars.
	total := uncached*input + float64(cached)*cachedPrice +
		float64(write)*writePrice + float64(completion)*output
	if math.IsNaN(total) || total <= 0 {
		return 0
	}
	if total >= math.MaxInt64 { // float64(MaxInt64) is 2^63
		return math.MaxInt64
	}
	// Round up, but do not let float noise (e.g. 1000 × 0.15 =
	// 150.00000000000003) add a micro-dollar.
	if r := math.Round(total); math.Abs(total-r) <= math.Max(1e-6, total*1e-12) {
		return int64(r)
	}
	return int64(math.Ceil(total))
}

// clampPrice maps negative and NaN prices to zero and +Inf to the largest
// finite float64 (so that zero tokens at an infinite price cost nothing
// rather than NaN).
func clampPrice(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	return math.Min(v, math.MaxFloat64)
}
