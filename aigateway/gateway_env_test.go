package aigateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
)

const (
	gatewayURL  = "http://localhost:9080"
	adminURL    = "http://localhost:2999"
	providerKey = "provider-secret-key-0123456789"
)

// env is one running gateway: Caddy in this process with a config that
// points at a mock upstream, and a Badger store in a temp dir.
type env struct {
	t        *testing.T
	tc       *caddytest.Tester
	mock     *mockllm.Server
	mockURL  string
	storeDir string
	client   *http.Client
}

// gatewayConfig is the Caddyfile every integration test runs. %[1]s is the
// store dir, %[2]s the mock's host:port, %[3]s extra lines for the
// ai_gateway block.
const gatewayConfig = `{
	admin localhost:2999
	http_port 9080
	https_port 9443
	ai_gateway {
		store badger %[1]s
		provider mock openai_compatible {
			base_url http://%[2]s/v1
			api_key ` + providerKey + `
		}
		provider down openai_compatible {
			base_url http://127.0.0.1:1/v1
		}
		provider slow openai_compatible {
			base_url http://%[2]s/v1
			api_key ` + providerKey + `
			header X-Mock-Delay 2s
			timeout 300ms
		}
		provider broken openai_compatible {
			base_url http://%[2]s/v1
			api_key ` + providerKey + `
			header X-Mock-Status 500
		}
		provider badcreds openai_compatible {
			base_url http://%[2]s/v1
			api_key wrong-provider-key
		}
		model gpt-test mock mock-gpt
		model gpt-other mock mock-small
		model embed-test mock mock-embedding
		model down-model down
		model slow-model slow
		model broken-model broken
		model badcreds-model badcreds
%[3]s
	}
}

:9080 {
	handle_path /proxied/* {
		ai_auth {
			max_request_body 64KB
		}
		reverse_proxy %[2]s {
			header_up Authorization "Bearer ` + providerKey + `"
		}
	}
	handle_path /small/* {
		ai_gateway {
			max_request_body 1KB
		}
	}
	handle {
		ai_gateway
	}
}
`

func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs Caddy")
	}
	requireCaddy(t)
	mock := mockllm.New(mockllm.Options{APIKey: providerKey})
	srv := httptest.NewServer(mock)
	t.Cleanup(srv.Close)
	e := &env{
		t:        t,
		tc:       caddytest.NewTester(t),
		mock:     mock,
		mockURL:  srv.URL,
		storeDir: t.TempDir(),
		client:   &http.Client{Timeout: 10 * time.Second},
	}
	e.load("")
	// The next test's config replaces this one; an empty config releases
	// the store so the temp dir can be removed.
	t.Cleanup(func() {
		resp, err := http.Post(adminURL+"/load", "text/caddyfile", strings.NewReader("{\n\tadmin localhost:2999\n}\n"))
		if err == nil {
			resp.Body.Close()
		}
	})
	return e
}

// config is the test Caddyfile with extra lines in the ai_gateway block.
func (e *env) config(extra string) string {
	return fmt.Sprintf(gatewayConfig, e.storeDir, strings.TrimPrefix(e.mockURL, "http://"), extra)
}

// replaceOnce replaces old in s, which must hold it.
func replaceOnce(t *testing.T, s, old, repl string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not found in the config", old)
	}
	return strings.Replace(s, old, repl, 1)
}

// load (re)loads the gateway config with extra lines in the ai_gateway block.
func (e *env) load(extra string) {
	e.t.Helper()
	e.tc.InitServer(e.config(extra), "caddyfile")
	if e.t.Failed() {
		e.t.FailNow()
	}
}

// admin calls the admin API and decodes the JSON answer into out.
func (e *env) admin(method, path string, body any, wantStatus int, out any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, adminURL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
}

type issued struct {
	ID        string     `json:"id"`
	Key       string     `json:"key"`
	Status    string     `json:"status"`
	Prefix    string     `json:"prefix"`
	ExpiresAt *time.Time `json:"expires_at"`
	OldKey    *struct {
		ID        string     `json:"id"`
		ExpiresAt *time.Time `json:"expires_at"`
	} `json:"old_key"`
}

func (e *env) createKey(spec map[string]any) issued {
	e.t.Helper()
	var k issued
	e.admin("POST", "/ai_gateway/keys", spec, http.StatusCreated, &k)
	if k.Key == "" || k.ID == "" {
		e.t.Fatalf("create returned no key: %+v", k)
	}
	return k
}

// do sends a request to the gateway with the key in the Authorization header.
func (e *env) do(method, path, key, body string, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, gatewayURL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func chatBody(model string, stream bool) string {
	return fmt.Sprintf(`{"model":%q,"stream":%t,"messages":[{"role":"user","content":"say hello to the test"}]}`, model, stream)
}

// errorCode returns error.code of an OpenAI error body.
func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error *struct {
			Code    *string `json:"code"`
			Message string  `json:"message"`
			Type    string  `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Fatalf("not an OpenAI error body: %s", body)
	}
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("error body lacks message or type: %s", body)
	}
	if e.Error.Code == nil {
		return ""
	}
	return *e.Error.Code
}

type usageReport struct {
	Groups []struct {
		Group            string `json:"group"`
		Requests         int64  `json:"requests"`
		Errors           int64  `json:"errors"`
		PromptTokens     int64  `json:"prompt_tokens"`
		CompletionTokens int64  `json:"completion_tokens"`
	} `json:"groups"`
}

// usageOf returns the report once ok accepts it, or the last one after a
// few seconds. The gateway records a request after its response is sent, so
// a client can ask for the report before the record is queued.
func (e *env) usageOf(query string, ok func(usageReport) bool) usageReport {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rep := e.usage(query)
		if ok(rep) || time.Now().After(deadline) {
			return rep
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requests counts the requests in a report.
func (r usageReport) requests() int64 {
	var n int64
	for _, g := range r.Groups {
		n += g.Requests
	}
	return n
}

func (e *env) usage(query string) usageReport {
	e.t.Helper()
	var rep usageReport
	e.admin("GET", "/ai_gateway/usage?"+query, nil, http.StatusOK, &rep)
	return rep
}
