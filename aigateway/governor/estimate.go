package governor

import (
	"bytes"
	"math"
	"strings"
)

// EstimatePromptTokens estimates a request's prompt tokens from the size of
// its body: about four bytes per token (the usual rule of thumb for English
// text with BPE tokenizers), rounded up, and at least 1. It is what a
// request is metered with when the upstream reports no usage (a stream cut
// short), the one such estimate in the gateway. It is not a bound: non-Latin
// scripts can make it short; admission reserves [PromptTokenBound].
func EstimatePromptTokens(bodyBytes int) int64 {
	if bodyBytes <= 0 {
		return 1
	}
	return (int64(bodyBytes) + 3) / 4
}

// ToolPromptOverhead is added to the bound of a request that declares
// tools: the tool-use instructions a provider puts in front of the prompt,
// which the body does not hold (Anthropic documents up to 530 tokens).
const ToolPromptOverhead = 600

// PromptTokenBound is an upper bound of the prompt tokens a provider can
// bill for a request body, for reservations. A byte-level tokenizer (BPE
// over bytes, or SentencePiece with byte fallback) makes every token of at
// least one byte of text, and JSON writes no character in fewer bytes than
// its UTF-8 encoding, so the text costs at most one token per body byte;
// the body's other bytes (its keys, quotes, model and max_tokens) cover the
// few tokens a chat template adds per message. What the body does not hold
// is added: imageMax per image part (an image given by URL is a few bytes
// but many tokens; the bytes of an image inlined as a data: URL are not
// counted, the image is), and ToolPromptOverhead when the body declares
// tools. The cost is headroom: a prompt is reserved about four times what
// English text usually bills, and given back when the request settles.
//
// Image parts are found by their JSON tokens: an OpenAI "image_url" key
// (also the Responses API's input_image) and an Anthropic "image" type
// value. Counting a key or value that is not an image part only overstates
// the bound. Documents (PDF pages) are not bounded: their pages are billed
// as images and text that the bytes do not limit.
func PromptTokenBound(body []byte, imageMax int64) int64 {
	n := int64(len(body))
	images := int64(0)
	var dataURLBytes int64
	for rest := body; ; {
		i := bytes.Index(rest, []byte(`"image`))
		if i < 0 {
			break
		}
		rest = rest[i+len(`"image`):]
		switch {
		case bytes.HasPrefix(rest, []byte(`_url"`)):
			rest = rest[len(`_url"`):]
			after := bytes.TrimLeft(rest, " \t\r\n")
			if len(after) == 0 || after[0] != ':' {
				continue // the "type":"image_url" value; its key is counted
			}
			images++
			dataURLBytes += dataURLLen(after[1:])
		case bytes.HasPrefix(rest, []byte(`"`)):
			after := bytes.TrimLeft(rest[1:], " \t\r\n")
			if len(after) > 0 && after[0] != ':' {
				images++ // "type":"image", not a key named image
			}
		}
	}
	n -= dataURLBytes
	if bytes.Contains(body, []byte(`"tools"`)) {
		n += ToolPromptOverhead
	}
	imageMax = max(imageMax, 0)
	if images > 0 && imageMax > (math.MaxInt64-n)/images {
		return math.MaxInt64
	}
	return max(n+images*imageMax, 1)
}

// dataURLLen returns the length of an image data: URL that v (the value
// after an "image_url" key) holds directly or as {"url": ...}, 0 when it
// holds none. Base64 has no quote or backslash, so the string ends at the
// next quote; an escape in it makes it count as text.
func dataURLLen(v []byte) int64 {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) > 0 && v[0] == '{' {
		i := bytes.Index(v, []byte(`"url"`))
		if i < 0 {
			return 0
		}
		v = bytes.TrimLeft(v[i+len(`"url"`):], " \t\r\n")
		if len(v) == 0 || v[0] != ':' {
			return 0
		}
		v = bytes.TrimLeft(v[1:], " \t\r\n")
	}
	if !bytes.HasPrefix(v, []byte(`"data:image/`)) {
		return 0
	}
	end := bytes.IndexByte(v[1:], '"')
	if end < 0 || bytes.IndexByte(v[1:1+end], '\\') >= 0 {
		return 0
	}
	return int64(end)
}

// imageTokenMax is the most tokens one image can bill, by model prefix
// (the longest match wins), from the providers' published image token
// formulas: OpenAI's tile models bill 85 + 170 per 512 px tile, at most 8
// tiles (1,445); gpt-4o-mini multiplies tiles 33-fold (2,833 + 5,667 per
// tile); the patch models bill up to 1,536 patches times a model factor;
// Claude resizes anything above about 1,600 tokens. Models not listed get
// DefaultImageTokenMax.
var imageTokenMax = []struct {
	prefix string
	max    int64
}{
	{"gpt-4o-mini", 48_200},
	{"gpt-4.1-nano", 3_800}, // 1,536 patches × 2.46
	{"gpt-5-nano", 3_800},   // 1,536 patches × 2.46
	{"gpt-4.1-mini", 2_500}, // 1,536 patches × 1.62
	{"gpt-5-mini", 2_500},   // 1,536 patches × 1.62
	{"o4-mini", 2_700},      // 1,536 patches × 1.72
	{"gpt-", 1_500},
	{"o1", 1_500},
	{"o3", 1_500},
	{"claude-", 2_000},
}

// DefaultImageTokenMax bounds an image's tokens for a model with no known
// maximum: the largest known one (gpt-4o-mini's), so the bound holds for
// any model as long as none bills more per image.
const DefaultImageTokenMax = 48_200

// ImageTokenMax returns the most prompt tokens one image can bill on model
// (an upstream model name; a provider prefix such as "openai/" is
// ignored).
func ImageTokenMax(model string) int64 {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	best, bestLen := int64(DefaultImageTokenMax), -1
	for _, e := range imageTokenMax {
		if strings.HasPrefix(model, e.prefix) && len(e.prefix) > bestLen {
			best, bestLen = e.max, len(e.prefix)
		}
	}
	return best
}

// ReserveTokens returns how many tokens to charge a TPM limit (and, priced,
// a budget) at admission: the prompt bound plus the completion bound,
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
