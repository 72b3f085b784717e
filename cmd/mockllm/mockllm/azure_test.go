package mockllm

import (
	"net/http"
	"testing"
)

func TestAzureDialect(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "az"})
	chat := `{"model":"dep","messages":[{"role":"user","content":"hi"}]}`
	for _, tt := range []struct {
		path    string
		headers map[string]string
		status  int
	}{
		{"/openai/v1/chat/completions", map[string]string{"Api-Key": "az"}, 200},
		{"/openai/deployments/dep/chat/completions?api-version=2024-10-21", map[string]string{"Api-Key": "az"}, 200},
		{"/openai/deployments/dep/chat/completions", map[string]string{"Api-Key": "az"}, 400},
		{"/openai/v1/chat/completions", map[string]string{"Authorization": "Bearer az"}, 401},
		{"/openai/v1/embeddings", map[string]string{"Api-Key": "az"}, 400}, // no input
		{"/openai/v1/nothing", map[string]string{"Api-Key": "az"}, 404},
	} {
		resp := do(t, ts, http.MethodPost, tt.path, chat, tt.headers)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %v: status %d, want %d", tt.path, tt.headers, resp.StatusCode, tt.status)
		}
	}
}
