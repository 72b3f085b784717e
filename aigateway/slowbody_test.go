package aigateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRefusedKeyAnswersBeforeTheBodyEnds sends headers with a missing or
// wrong key and a body that never finishes, to both handlers: the 401 must
// arrive while the body is still open. Before, net/http drained up to
// 256 KiB of the unread body before writing the answer, so a slow body held
// the refusal (and the connection) for as long as the client liked.
func TestRefusedKeyAnswersBeforeTheBodyEnds(t *testing.T) {
	newEnv(t)
	cases := []struct {
		name, path string
		hdr        http.Header
		want       string // in the answer
	}{
		{"ai_gateway openai missing key", "/v1/chat/completions", http.Header{}, "missing API key"},
		{"ai_gateway openai wrong key", "/v1/chat/completions", http.Header{"Authorization": {"Bearer aigw_wrong"}}, "invalid API key"},
		{"ai_gateway anthropic wrong key", "/v1/messages", http.Header{"X-Api-Key": {"aigw_wrong"}}, "invalid API key"},
		{"ai_auth missing key", "/proxied/v1/chat/completions", http.Header{}, "missing API key"},
		{"ai_auth wrong key", "/proxied/v1/chat/completions", http.Header{"Authorization": {"Bearer aigw_wrong"}}, "invalid API key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			req, _ := http.NewRequest("POST", gatewayURL+c.path, pr)
			req.Header = c.hdr.Clone()
			req.Header.Set("Content-Type", "application/json")
			type answer struct {
				code int
				body string
				err  error
			}
			got := make(chan answer, 1)
			go func() {
				resp, err := (&http.Client{}).Do(req)
				if err != nil {
					got <- answer{err: err}
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				got <- answer{resp.StatusCode, string(b), err}
			}()
			// The start of a body, then nothing: the client keeps it open.
			if _, err := pw.Write([]byte(`{"model":"gpt-test","messages":[`)); err != nil {
				t.Fatalf("writing the start of the body: %v", err)
			}
			select {
			case a := <-got:
				if a.err != nil || a.code != http.StatusUnauthorized || !strings.Contains(a.body, c.want) {
					t.Fatalf("answer while the body was open: %d %q %v", a.code, a.body, a.err)
				}
			case <-time.After(20 * time.Second): // generous: the answer needs no more of the body
				t.Fatal("no answer while the request body stayed open: the refusal waited for the body")
			}
		})
	}
}
