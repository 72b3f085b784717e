package aigateway_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysNeverReachTheLogs runs requests with keys in every accepted header,
// good and bad, through both handlers and through failures that log
// warnings and errors, with Caddy logging at DEBUG and an access log that
// redacts the key headers as the README says; no client or provider key may
// appear in any log line.
// redactKeyHeaders is the README's log filter. Caddy redacts Authorization
// itself; the others it would log as they came, in the access log and in
// DEBUG lines of handlers that run before ai_auth (such as handle_path's
// rewrite).
const redactKeyHeaders = `		format filter {
			wrap json
			request>headers>X-Api-Key replace REDACTED
			request>headers>Api-Key replace REDACTED
			request>headers>X-Goog-Api-Key replace REDACTED
		}
`

func TestKeysNeverReachTheLogs(t *testing.T) {
	e := newEnv(t)
	logDir := t.TempDir()
	cfg := strings.Replace(gatewayConfig, "\thttps_port 9443\n",
		"\thttps_port 9443\n\tlog {\n\t\toutput file "+filepath.Join(logDir, "caddy.log")+"\n\t\tlevel DEBUG\n"+redactKeyHeaders+"\t}\n", 1)
	cfg = strings.Replace(cfg, ":9080 {\n", `:9080 {
	log {
		output file `+filepath.Join(logDir, "access.log")+`
`+redactKeyHeaders+`	}
`, 1)
	// The provider key is given through the environment, as in the
	// examples, so the config itself holds only the placeholder.
	t.Setenv("TEST_PROVIDER_KEY", providerKey)
	cfg = strings.ReplaceAll(cfg, "api_key "+providerKey, "api_key {env.TEST_PROVIDER_KEY}")
	cfg = strings.ReplaceAll(cfg, `"Bearer `+providerKey+`"`, `"Bearer {env.TEST_PROVIDER_KEY}"`)
	e.tc.InitServer(strings.NewReplacer("%[1]s", e.storeDir, "%[2]s", strings.TrimPrefix(e.mockURL, "http://"), "%[3]s", "").Replace(cfg), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}

	k := e.createKey(map[string]any{"name": "logged"})
	revoked := e.createKey(map[string]any{"name": "revoked"})
	e.admin("DELETE", "/ai_gateway/keys/"+revoked.ID, nil, 200, nil)
	secrets := []string{k.Key, revoked.Key, providerKey}

	for _, key := range []string{k.Key, revoked.Key, k.Key[:len(k.Key)-1] + "x"} {
		for _, hdr := range []string{"Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key"} {
			val := key
			if hdr == "Authorization" {
				val = "Bearer " + key
			}
			for _, tc := range []struct{ path, model string }{
				{"/v1/chat/completions", "gpt-test"},
				{"/v1/chat/completions", "broken-model"},
				{"/v1/chat/completions", "badcreds-model"},
				{"/v1/chat/completions", "down-model"},
				{"/proxied/v1/chat/completions", "mock-gpt"},
			} {
				e.do("POST", tc.path, "", chatBody(tc.model, false), hdr, val)
			}
		}
	}
	// Make sure the usage writer and the access log have written.
	e.usageOf("", func(r usageReport) bool { return r.requests() >= 4*5 })

	for _, name := range []string{"caddy.log", "access.log"} {
		b, err := os.ReadFile(filepath.Join(logDir, name))
		if err != nil {
			t.Fatal(err)
		}
		logs := string(b)
		if !strings.Contains(logs, "/v1/chat/completions") {
			t.Fatalf("%s: the requests were not logged; the test would prove nothing:\n%.2000s", name, logs)
		}
		for _, s := range secrets {
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, s[:len(s)-4]) {
					t.Fatalf("%s: a secret reached the log: %s", name, line)
				}
			}
		}
	}
}

// TestKeyChangeLogsAreNamed checks that the admin API's lines about key and
// team changes carry a logger name, so they can be routed and filtered
// like every other module's: Caddy provisions admin routers outside any
// module, where the default logger has none.
func TestKeyChangeLogsAreNamed(t *testing.T) {
	e := newEnv(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	cfg := strings.Replace(e.config(""), "\thttps_port 9443\n",
		"\thttps_port 9443\n\tlog {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t}\n", 1)
	e.tc.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	k := e.createKey(map[string]any{"name": "named"})
	e.admin("DELETE", "/ai_gateway/keys/"+k.ID, nil, 200, nil)

	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		var entry struct {
			Logger string `json:"logger"`
			Msg    string `json:"msg"`
			KeyID  string `json:"key_id"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.KeyID != k.ID {
			continue
		}
		seen[entry.Msg] = true
		if entry.Logger != "admin.api.ai_gateway" {
			t.Errorf("%q logged by %q, want admin.api.ai_gateway: %s", entry.Msg, entry.Logger, line)
		}
	}
	if !seen["key created"] || !seen["key revoked"] {
		t.Fatalf("the key's lines were not logged (saw %v):\n%.3000s", seen, b)
	}
}
