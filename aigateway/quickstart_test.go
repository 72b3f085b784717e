package aigateway_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstartAnswersWithoutAProviderKey runs the README's quickstart
// Caddyfile (on the test ports) with no OPENAI_API_KEY: its mock provider
// must answer a real request end to end.
func TestQuickstartAnswersWithoutAProviderKey(t *testing.T) {
	e := newEnv(t)
	raw, err := os.ReadFile(filepath.Join("..", "examples", "quickstart", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	for old, repl := range map[string]string{
		"admin localhost:2019": "admin localhost:2999\n\thttp_port 9080\n\thttps_port 9443",
		"\n:8080 {":            "\n:9080 {",
		"\tai_gateway {\n":     "\tai_gateway {\n\t\tstore badger " + e.storeDir + "\n",
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("the quickstart changed shape: %q not found", old)
		}
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	t.Setenv("OPENAI_API_KEY", "")
	e.tc.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	k := e.createKey(map[string]any{"name": "newcomer"})
	code, _, body := e.do("POST", "/v1/chat/completions", k.Key, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello quickstart"}]}`)
	if code != 200 {
		t.Fatalf("quickstart chat: %d %s", code, body)
	}
	var resp struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "mock reply to: hello quickstart" {
		t.Fatalf("quickstart answer: %s", body)
	}
}
