package aigateway_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway/cli"
)

// cli runs `caddy ai-gateway <args>` in this process against the test
// Caddy's admin API, the way the registered command runs in a real binary.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("caddy ai-gateway %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// runCLI runs the command and returns what it printed and its error.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmdDef, ok := caddycmd.Commands()["ai-gateway"]
	if !ok {
		t.Fatal("the ai-gateway command is not registered")
	}
	root := &cobra.Command{Use: "ai-gateway", SilenceUsage: true}
	cmdDef.CobraFunc(root)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	if args[0] != "restore" {
		args = append(args, "--address", "localhost:2999")
	}
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// TestCLIAgainstTheRealAdminAPI drives the CLI against the gateway's admin
// routes (its own tests use a stand-in server): a key created with the CLI
// works, shows up in the listing, rotates, revokes, and its usage is
// reported.
func TestCLIAgainstTheRealAdminAPI(t *testing.T) {
	e := newEnv(t)
	out := cli(t, "keys", "create", "--name", "from-cli", "--model", "gpt-*", "--meta", "team=search", "--json")
	var created issued
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Key == "" {
		t.Fatalf("keys create --json: %v\n%s", err, out)
	}
	if code, _, body := e.do("POST", "/v1/chat/completions", created.Key, chatBody("gpt-test", false)); code != 200 {
		t.Fatalf("CLI-created key: %d %s", code, body)
	}
	if code, _, _ := e.do("POST", "/v1/chat/completions", created.Key, chatBody("embed-test", false)); code != 403 {
		t.Fatalf("CLI --model not applied: %d", code)
	}

	// The table names the key, masked, and never prints the secret.
	out = cli(t, "keys", "list")
	if !strings.Contains(out, created.ID) || !strings.Contains(out, "from-cli") || strings.Contains(out, created.Key) {
		t.Fatalf("keys list:\n%s", out)
	}
	out = cli(t, "keys", "show", created.ID)
	if !strings.Contains(out, "team") || !strings.Contains(out, "gpt-*") || strings.Contains(out, created.Key) {
		t.Fatalf("keys show:\n%s", out)
	}

	// Rotate prints the new key once; it works at once.
	out = cli(t, "keys", "rotate", created.ID, "--grace", "1h")
	newKey := regexp.MustCompile(`aigw_[0-9A-Za-z]{49}`).FindString(out)
	if newKey == "" || newKey == created.Key {
		t.Fatalf("keys rotate printed no new key:\n%s", out)
	}
	if code, _, _ := e.do("POST", "/v1/chat/completions", newKey, chatBody("gpt-test", false)); code != 200 {
		t.Fatalf("rotated key: %d", code)
	}

	// Revoke stops the old key at once, grace or not.
	cli(t, "keys", "revoke", created.ID)
	if code, _, _ := e.do("POST", "/v1/chat/completions", created.Key, chatBody("gpt-test", false)); code != 401 {
		t.Fatalf("revoked through the CLI: %d", code)
	}

	e.usageOf("", func(r usageReport) bool { return r.requests() >= 3 }) // records land after responses
	out = cli(t, "usage", "--group-by", "model")
	if !regexp.MustCompile(`gpt-test\s+2\s+0\s`).MatchString(out) || !strings.Contains(out, "TOTAL") {
		t.Fatalf("usage:\n%s", out)
	}
}

// TestRotateOnlyLiveUnrotatedKeys: a key already rotated (grace 0s or not)
// cannot be rotated again, which would make a second live successor: the
// admin API answers 409 naming the successor, the CLI prints that, and no
// key is made.
func TestRotateOnlyLiveUnrotatedKeys(t *testing.T) {
	e := newEnv(t)
	old := e.createKey(map[string]any{"name": "rotate-once"})
	var rot issued
	e.admin("POST", "/ai_gateway/keys/"+old.ID+"/rotate", map[string]any{"grace": "0s"}, 201, &rot)
	var before, after struct {
		Keys []json.RawMessage `json:"keys"`
	}
	e.admin("GET", "/ai_gateway/keys", nil, 200, &before)

	var refusal struct {
		Error string `json:"error"`
	}
	e.admin("POST", "/ai_gateway/keys/"+old.ID+"/rotate", map[string]any{"grace": "0s"}, 409, &refusal)
	if !strings.Contains(refusal.Error, "rotate "+rot.ID+" instead") {
		t.Fatalf("409 body does not name the successor %s: %q", rot.ID, refusal.Error)
	}
	_, errOut, err := runCLI(t, "keys", "rotate", old.ID)
	if err == nil || !strings.Contains(errOut+err.Error(), "rotate "+rot.ID+" instead") {
		t.Fatalf("CLI rotate of a rotated key: err %v, stderr %q", err, errOut)
	}
	e.admin("GET", "/ai_gateway/keys", nil, 200, &after)
	if len(after.Keys) != len(before.Keys) {
		t.Fatalf("refused rotations made keys: %d, were %d", len(after.Keys), len(before.Keys))
	}
	// The successor is live and rotates.
	e.admin("POST", "/ai_gateway/keys/"+rot.ID+"/rotate", map[string]any{"grace": "1h"}, 201, nil)
}
