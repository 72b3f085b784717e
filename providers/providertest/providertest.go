// Package providertest holds test helpers shared by the provider packages.
package providertest

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
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
