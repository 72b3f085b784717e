package aigateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/bedrock"
)

// Credentials of the echo test, each long enough to be scrubbed, given
// through the environment so that the config itself holds none.
var echoSecrets = map[string]string{
	"ECHO_API_KEY":       "sk-echo-provider-key-4f1c2a9b7d",
	"ECHO_HEADER_SECRET": "hdr-secret-value-9a8b7c6d5e",
	"ECHO_AWS_KEY_ID":    "AKIAECHOTESTKEY00001",
	"ECHO_AWS_SECRET":    "aws/secret+Key0123456789abcdefEchoTest",
	"ECHO_AWS_SESSION":   "FwoGZXIvYXdzEchoSessionToken0123456789abcdef==",
}

// TestUpstreamTextIsScrubbed has an upstream that echoes every request
// header it got into its error messages, as some proxies do, and answers
// every status the gateway passes a message on for (and more), on the
// passthrough and translated paths, through providers that authenticate by
// api_key, by an extra header and by AWS keys, plus error events inside
// 200 streams. No credential may reach the client, the logs or the store;
// a short header value ("1") is no credential and stays.
func TestUpstreamTextIsScrubbed(t *testing.T) {
	for k, v := range echoSecrets {
		t.Setenv(k, v)
	}
	e := newEnv(t)
	// The status to answer; 0: 200 with an error event inside the stream.
	var status atomic.Int64
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		var names []string
		for name := range r.Header {
			names = append(names, name)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString("echo of your request:")
		for _, name := range names {
			fmt.Fprintf(&b, " %s: %s;", name, strings.Join(r.Header[name], ","))
		}
		msg, _ := json.Marshal(b.String())
		st := int(status.Load())
		if st == 0 {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			if strings.Contains(r.URL.Path, "/messages") {
				fmt.Fprintf(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":%s}}\n\n", msg)
			} else {
				fmt.Fprintf(w, "data: {\"error\":{\"message\":%s,\"type\":\"server_error\",\"code\":null,\"param\":null}}\n\n", msg)
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		fmt.Fprintf(w, `{"type":"error","error":{"type":"invalid_request_error","message":%s},"message":%s}`, msg, msg)
	}))
	t.Cleanup(echo.Close)
	host := strings.TrimPrefix(echo.URL, "http://")
	extra := "\t\t\theader X-Custom-Auth {env.ECHO_HEADER_SECRET}\n\t\t\theader X-Short 1\n"

	logDir := t.TempDir()
	cfg := strings.Replace(e.config(`		provider eopenai openai_compatible {
			base_url http://`+host+`/v1
			api_key {env.ECHO_API_KEY}
`+extra+`		}
		provider eanthropic anthropic {
			base_url http://`+host+`/v1
			api_key {env.ECHO_API_KEY}
`+extra+`		}
		provider ebedrock bedrock {
			base_url http://`+host+`
			region us-east-1
			access_key_id {env.ECHO_AWS_KEY_ID}
			secret_access_key {env.ECHO_AWS_SECRET}
			session_token {env.ECHO_AWS_SESSION}
`+extra+`		}
		model e-openai eopenai gpt-4o
		model e-claude eanthropic claude-sonnet-4-5
		model e-nova ebedrock us.amazon.nova-pro-v1:0`),
		"\thttps_port 9443\n", "\thttps_port 9443\n\tlog {\n\t\toutput file "+filepath.Join(logDir, "caddy.log")+"\n\t\tlevel DEBUG\n\t}\n", 1)
	e.tc.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	k := e.createKey(map[string]any{"name": "echo"})

	requests := []struct{ name, path, body string }{
		{"openai passthrough", "/v1/chat/completions", chatBody("e-openai", false)},
		{"openai passthrough stream", "/v1/chat/completions", chatBody("e-openai", true)},
		{"anthropic translated", "/v1/messages", `{"model":"e-claude","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`},
		{"anthropic translated stream", "/v1/messages", `{"model":"e-claude","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"anthropic from openai", "/v1/chat/completions", chatBody("e-claude", false)},
		{"bedrock", "/v1/chat/completions", chatBody("e-nova", false)},
	}
	checkNoSecret := func(t *testing.T, where string, b []byte) {
		t.Helper()
		for name, s := range echoSecrets {
			if strings.Contains(string(b), s) {
				t.Fatalf("%s holds %s: %s", where, name, b)
			}
		}
	}
	var sent int64
	echoed := false // a message with the echo reached the client
	for _, st := range []int{400, 401, 404, 409, 413, 422, 429, 500, 502, 503, 529, 0} {
		for _, rq := range requests {
			name := fmt.Sprintf("%d/%s", st, rq.name)
			if st == 0 {
				name = "in-stream/" + rq.name
				if !strings.Contains(rq.name, "stream") {
					continue
				}
			}
			t.Run(name, func(t *testing.T) {
				status.Store(int64(st))
				code, _, body := e.do("POST", rq.path, k.Key, rq.body)
				sent++
				checkNoSecret(t, "the client's answer", body)
				if strings.Contains(string(body), "echo of your request") {
					echoed = true
					if !strings.Contains(string(body), "X-Short: 1;") || !strings.Contains(string(body), "[redacted]") {
						t.Fatalf("the echo lost a short header value or was not redacted: %s", body)
					}
				}
				if code < 400 && st != 0 {
					t.Fatalf("status %d: %s", code, body)
				}
			})
		}
	}
	if !echoed {
		t.Fatal("no upstream message reached a client: the test proves nothing")
	}
	e.usageOf("key_id="+k.ID, func(r usageReport) bool { return r.requests() >= sent })

	logs, err := os.ReadFile(filepath.Join(logDir, "caddy.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logs), "upstream") {
		t.Fatalf("no upstream failure was logged; the log check would prove nothing:\n%.2000s", logs)
	}
	checkNoSecret(t, "the log", logs)

	// The store: a backup holds every usage record (and the audit trail).
	resp, err := e.client.Get(adminURL + "/ai_gateway/backup")
	if err != nil {
		t.Fatal(err)
	}
	backup, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(backup), "e-claude") {
		t.Fatalf("the backup holds no readable usage record (%d bytes); the store check would prove nothing", len(backup))
	}
	checkNoSecret(t, "the store", backup)
}
