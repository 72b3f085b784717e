package xcaddytest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
)

// providerKey is the upstream key the production test puts in the
// environment, as the unit's EnvironmentFile would.
const providerKey = "sk-production-test-provider-key"

// TestProductionExample runs examples/production with the xcaddy-built
// binary, moved to a temporary directory and loopback ports, with `tls
// internal` for its hostname and the mock as OpenAI: the CLI creates a key
// over the admin API's unix socket, HTTPS requests are answered, the access
// log holds no key, a stream outlives read_body while a stalled body is cut
// off, `caddy reload` (the unit's ExecReload) finds the admin API through
// the config, and the backup script writes a backup and the audit head.
func TestProductionExample(t *testing.T) {
	bin := xcaddyCaddy(t)

	// Five words streamed 400 ms apart outlast the 1 s read_body below.
	mock := httptest.NewServer(mockllm.New(mockllm.Options{APIKey: providerKey, ChunkDelay: 400 * time.Millisecond}))
	defer mock.Close()

	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	admin := "unix/" + sock // the form of unix//run/caddy/admin.sock
	httpsAddr := freeAddr(t)
	const readBody = time.Second
	cfg := adaptExample(t, "examples/production/Caddyfile", []edit{
		{"admin unix//run/caddy/admin.sock", "admin " + admin + "\n\thttps_port " + port(httpsAddr) +
			"\n\thttp_port " + port(freeAddr(t)) + "\n\tauto_https disable_redirects\n\tskip_install_trust"},
		{"read_body 30s", "read_body " + readBody.String()},
		{"store badger /var/lib/caddy/ai_gateway", "store badger " + filepath.Join(dir, "store")},
		{"provider openai openai {", "provider openai openai {\n\t\t\tbase_url " + mock.URL + "/v1"},
		{"\nai.example.com {", "\nlocalhost {\n\tbind 127.0.0.1\n\ttls internal"},
	})
	adminClient := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	p := startCaddy(t, bin, cfg, []string{"OPENAI_API_KEY=" + providerKey}, func() bool {
		resp, err := adminClient.Get("http://127.0.0.1/ai_gateway/keys")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// The CLI, as the README tells operators to run it.
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--address", admin)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("caddy %s --address %s: %v\n%s%s", strings.Join(args, " "), admin, err, out, stderr.String())
		}
		return string(out)
	}
	var created struct{ Key string }
	if out := cli("ai-gateway", "keys", "create", "--name", "production", "--json"); json.Unmarshal([]byte(out), &created) != nil || created.Key == "" {
		t.Fatalf("keys create --json printed no key:\n%s", out)
	}

	// HTTPS with Caddy's internal CA, trusted through its root.
	root, err := os.ReadFile(filepath.Join(p.dir, "data", "caddy", "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatal("the internal CA's root.crt holds no certificate")
	}
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	api := &http.Client{Transport: &http.Transport{
		TLSClientConfig: tlsConfig,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", httpsAddr)
		},
	}}
	url := "https://localhost:" + port(httpsAddr) + "/v1/chat/completions"
	send := func(header, value, body string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(header, value)
		return api.Do(req)
	}
	// The certificate is issued as the server starts: wait for it.
	var resp *http.Response
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err = send("X-Api-Key", created.Key, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello production"}]}`)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("HTTPS request: %v\n%s", err, p.log())
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "hello production") {
		t.Fatalf("chat over HTTPS: %d %s", resp.StatusCode, b)
	}

	// A stream that lasts longer than read_body is not cut.
	start := time.Now()
	resp, err = send("Authorization", "Bearer "+created.Key, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"one two three four five"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if elapsed := time.Since(start); elapsed <= readBody {
		t.Fatalf("the stream took %s, not longer than read_body (%s): the check proves nothing", elapsed, readBody)
	}
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "data: [DONE]") {
		t.Fatalf("a stream longer than read_body: %d, %v\n%s", resp.StatusCode, err, b)
	}

	// A body that stalls is cut off: the connection is answered or closed
	// well before the client would give up.
	conn, err := tls.DialWithDialer(dialer, "tcp", httpsAddr, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "+created.Key+
		"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":")
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * readBody))
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("a stalled request body held the connection for %s (read_body %s)", 30*readBody, readBody)
		}
	}

	// No key in the access log, whichever header carried it.
	logs := p.log()
	if strings.Contains(logs, created.Key) {
		t.Errorf("the log holds the gateway key:\n%s", logs)
	}
	for _, want := range []string{`"X-Api-Key":"REDACTED"`, `"Authorization":"REDACTED"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the access log lacks %s:\n%s", want, logs)
		}
	}

	// The unit's ExecReload: `caddy reload` reads the admin address (the
	// socket) from the config itself.
	reload := exec.Command(bin, "reload", "--config", filepath.Join(p.dir, "Caddyfile"), "--force")
	reload.Env = p.cmd.Env
	if out, err := reload.CombinedOutput(); err != nil {
		t.Fatalf("caddy reload: %v\n%s", err, out)
	}
	resp, err = send("Api-Key", created.Key, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"after reload"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after reload: %d", resp.StatusCode)
	}

	// The scheduled backup.
	backups := filepath.Join(dir, "backups")
	script := exec.Command("/bin/sh", filepath.Join("..", "..", "examples", "production", "backup.sh"))
	script.Env = append(os.Environ(), "CADDY="+bin, "CADDY_ADMIN="+admin, "BACKUP_DIR="+backups)
	if out, err := script.CombinedOutput(); err != nil {
		t.Fatalf("backup.sh: %v\n%s", err, out)
	}
	assertFile(t, backups, "gateway-*.backup", func(b []byte) bool { return len(b) > 0 })
	assertFile(t, backups, "audit-head-*.json", func(b []byte) bool {
		var head map[string]any
		return json.Unmarshal(b, &head) == nil && len(head) > 0
	})
}

// assertFile requires exactly one file matching pattern in dir, whose
// content ok accepts.
func assertFile(t *testing.T, dir, pattern string, ok func([]byte) bool) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(files) != 1 {
		t.Fatalf("%s: %d files match %s, want 1", dir, len(files), pattern)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !ok(b) {
		t.Errorf("%s: unexpected content:\n%.500s", files[0], b)
	}
}
