// Package providertest holds test helpers shared by the provider packages.
package providertest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

// FuzzEncodeRequest fuzzes a provider's request encoder with any OpenAI
// request a client could send (seeded with the openai package's request
// fixtures): it must never panic, and a request it cannot translate must be
// a clear 400, never anything else.
func FuzzEncodeRequest(f *testing.F, encode func(*providers.ChatRequest) (any, error)) {
	_, here, _, _ := runtime.Caller(0)
	seeds, _ := filepath.Glob(filepath.Join(filepath.Dir(here), "..", "openai", "testdata", "requests", "*.json"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := openai.DecodeChatRequest(body)
		if err != nil {
			return
		}
		out, err := encode(req)
		if err != nil {
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest || pe.Message == "" {
				t.Fatalf("untranslatable request: got %v, want a 400 saying why", err)
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("the translation does not encode: %v", err)
		}
	})
}

// benchRequest is a realistic OpenAI chat request for benchmarks: a system
// prompt, a user turn, an assistant turn and one tool.
const benchRequest = `{"model":"MODEL","stream":true,"temperature":0.2,"max_tokens":1024,
"messages":[
 {"role":"system","content":"You are a helpful assistant. Answer briefly and call tools when they help."},
 {"role":"user","content":"What is the weather in Paris today, and should I take an umbrella for a walk this afternoon?"},
 {"role":"assistant","content":"Let me check the forecast for Paris."}],
"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the current weather for a city",
 "parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}}]}`

// BenchRequest returns benchRequest for model, decoded to canonical form.
func BenchRequest(tb testing.TB, model string) *providers.ChatRequest {
	tb.Helper()
	req, err := openai.DecodeChatRequest([]byte(strings.Replace(benchRequest, "MODEL", model, 1)))
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

// Drain reads s to its end, closes it and returns the number of events; an
// error or an EventError fails tb.
func Drain(tb testing.TB, s providers.Stream) int {
	tb.Helper()
	defer s.Close()
	n := 0
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil || ev.Type == providers.EventError {
			tb.Fatalf("event %d: %v %+v", n, err, ev.Err)
		}
		n++
	}
}
