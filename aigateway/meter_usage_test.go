package aigateway

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// usageByDecoding is what scanUsage replaced: a json.Unmarshal of the
// whole body, its counts then clamped as every decoder clamps them. It is
// the reference the scan is held to.
func usageByDecoding(body []byte) (usage, bool, bool) {
	var chunk struct {
		Choices []json.RawMessage `json:"choices"`
		Usage   *usage            `json:"usage"`
	}
	if json.Unmarshal(body, &chunk) != nil || chunk.Usage == nil {
		return usage{}, false, false
	}
	u := *chunk.Usage
	var c providers.UsageCounts
	u.PromptTokens, u.CompletionTokens = c.Of(u.PromptTokens), c.Of(u.CompletionTokens)
	u.adjusted = c.Adjusted()
	return u, true, len(chunk.Choices) == 0
}

var scanUsageSeeds = []string{
	`{"id":"x","choices":[{"index":0,"message":{"content":"hi"}}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`,
	`{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}`,
	`{"choices":null,"usage":{"prompt_tokens":1}}`,
	`{"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}`,
	`{"usage":null}`,
	`{"choices":[],"usage":{"prompt_tokens":-1000000,"completion_tokens":3}}`,
	`{"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":-1}}`,
	`{"usage":{"prompt_tokens":1.5}}`,
	`{"usage":{"prompt_tokens":"1"}}`,
	`{"usage":{"prompt_tokens":null,"completion_tokens":4}}`,
	`{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}`,
	`{"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":-1}}`,
	`{"usage":{"prompt_tokens":9223372036854775808}}`,
	`{"choices":[ ],"usage":{ "prompt_tokens" : 5 }}`,
	`  {"usage":{"completion_tokens":2}}  `,
	`{"usage":{"prompt_tokens":1}`,
	`{"usage":{"prompt_tokens":1}} x`,
	`[{"usage":{"prompt_tokens":1}}]`,
	`{"text":"\"usage\":{\"prompt_tokens\":5}"}`,
	`{"choices":[{"delta":{"usage":{"prompt_tokens":5}}}]}`,
	``,
}

// TestScanUsageSanitizes: the passthrough and ai_auth meter clamps counts
// out of range as the decoders do, and says so.
func TestScanUsageSanitizes(t *testing.T) {
	tests := []struct {
		body string
		want usage
	}{
		{`{"usage":{"prompt_tokens":7,"completion_tokens":3}}`, usage{PromptTokens: 7, CompletionTokens: 3}},
		{`{"usage":{"prompt_tokens":-1000000,"completion_tokens":3}}`, usage{CompletionTokens: 3, adjusted: true}},
		{`{"usage":{"prompt_tokens":5,"completion_tokens":-3}}`, usage{PromptTokens: 5, adjusted: true}},
		{`{"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":1}}`, usage{PromptTokens: providers.MaxUsageTokens, CompletionTokens: 1, adjusted: true}},
	}
	for _, tt := range tests {
		if u, ok, _ := scanUsage([]byte(tt.body)); !ok || u != tt.want {
			t.Errorf("%s: %+v %v, want %+v", tt.body, u, ok, tt.want)
		}
	}
}

func TestScanUsageMatchesDecoding(t *testing.T) {
	for _, in := range scanUsageSeeds {
		gu, gok, gno := scanUsage([]byte(in))
		wu, wok, wno := usageByDecoding([]byte(in))
		if gu != wu || gok != wok || gno != wno {
			t.Errorf("%s:\n scan   %+v %v %v\n decode %+v %v %v", in, gu, gok, gno, wu, wok, wno)
		}
	}
}

// FuzzScanUsage holds scanUsage to json.Unmarshal on every input whose
// member names could only match exactly (encoding/json also takes "Usage";
// the upstreams, and the scan, do not).
func FuzzScanUsage(f *testing.F) {
	for _, s := range scanUsageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		gu, gok, gno := scanUsage(in)
		if bytes.IndexByte(in, '\\') >= 0 || hasCaseVariant(in) {
			return
		}
		wu, wok, wno := usageByDecoding(in)
		if gu != wu || gok != wok || (gok && gno != wno) {
			t.Fatalf("%q:\n scan   %+v %v %v\n decode %+v %v %v", in, gu, gok, gno, wu, wok, wno)
		}
	})
}

// hasCaseVariant reports whether in holds one of the names scanUsage reads
// in a case other than its own, or non-ASCII bytes (which encoding/json
// may fold onto ASCII letters).
func hasCaseVariant(in []byte) bool {
	for _, c := range in {
		if c >= 0x80 {
			return true
		}
	}
	lower := bytes.ToLower(in)
	for _, name := range []string{"usage", "choices", "prompt_tokens", "completion_tokens"} {
		if bytes.Count(lower, []byte(name)) != bytes.Count(in, []byte(name)) {
			return true
		}
	}
	return false
}
