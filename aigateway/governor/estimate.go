package governor

import "math"

// EstimatePromptTokens estimates a request's prompt tokens from the size of
// its body: about four bytes per token (the usual rule of thumb for English
// text with BPE tokenizers), rounded up, and at least 1. JSON syntax makes
// it overestimate plain chat somewhat; non-Latin scripts can make it
// underestimate; base64 media is counted as text and overestimated
// heavily. It only sizes the reservation: the provider's reported usage
// settles the real count.
func EstimatePromptTokens(bodyBytes int) int64 {
	if bodyBytes <= 0 {
		return 1
	}
	return (int64(bodyBytes) + 3) / 4
}

// ReserveTokens returns how many tokens to charge a TPM limit (and, priced,
// a budget) at admission: the prompt estimate plus the completion bound,
// which is the request's maxTokens when positive and defaultMax otherwise.
//
// The true count is only known after the response, and admitting on the
// counter's current value alone lets N concurrent requests overshoot the
// limit by N responses. Reserving the worst case up front means concurrent
// admissions can never exceed the limit; once usage is reported the caller
// settles the difference with [Limiter.Adjust] (actual − reserved, usually a
// refund). Negative inputs count as zero and the sum saturates at
// math.MaxInt64.
func ReserveTokens(prompt int64, maxTokens int64, defaultMax int64) int64 {
	prompt = max(prompt, 0)
	completion := maxTokens
	if completion <= 0 {
		completion = max(defaultMax, 0)
	}
	if completion > math.MaxInt64-prompt {
		return math.MaxInt64
	}
	return prompt + completion
}
