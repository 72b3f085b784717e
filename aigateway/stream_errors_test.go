package aigateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestStreamCutOffUpstream has the upstream drop the connection after a few
// events: the client, already sent a 200, must get the in-stream error of
// its dialect (not a silent end), and the request is recorded as failed.
func TestStreamCutOffUpstream(t *testing.T) {
	e := newEnv(t)
	host := strings.TrimPrefix(e.mockURL, "http://")
	e.load(`		provider cut openai_compatible {
			base_url http://` + host + `/v1
			api_key ` + providerKey + `
			header X-Mock-Fail-After 3
		}
		provider gcut gemini {
			base_url http://` + host + `/v1beta
			api_key ` + providerKey + `
			header X-Mock-Fail-After 1
		}
		model cut-openai cut
		model cut-gemini gcut`)
	k := e.createKey(map[string]any{"name": "cut"})

	for _, tt := range []struct {
		name, path, body, want string
	}{
		{"passthrough", "/v1/chat/completions", chatBody("cut-openai", true), `data: {"error":`},
		{"translated", "/v1/chat/completions", chatBody("cut-gemini", true), `data: {"error":`},
		{"anthropic client", "/v1/messages", `{"model":"cut-openai","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"cut me off please"}]}`, "event: error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", gatewayURL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Api-Key", k.Key)
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("the client's stream broke instead of ending with an error event: %v\n%s", err, b)
			}
			if resp.StatusCode != 200 || !strings.Contains(string(b), tt.want) || strings.Contains(string(b), "[DONE]") || strings.Contains(string(b), "message_stop") {
				t.Fatalf("status %d, body:\n%s", resp.StatusCode, b)
			}
		})
	}
	rep := e.usageOf("key_id="+k.ID+"&group_by=key", func(r usageReport) bool { return r.requests() >= 3 })
	if rep.Groups[0].Errors != 3 {
		t.Fatalf("cut-off streams recorded as successes: %+v", rep)
	}
}
