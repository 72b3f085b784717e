package aigateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
)

// keyCheckAnswer is the body of POST /ai_gateway/keys/check.
type keyCheckAnswer struct {
	Verdict   string     `json:"verdict"`
	Message   string     `json:"message"`
	KeyID     string     `json:"key_id"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	RevokedBy *struct {
		Seq    uint64 `json:"seq"`
		Action string `json:"action"`
		Target string `json:"target"`
	} `json:"revoked_by"`
	RotatedTo string `json:"rotated_to"`
	Model     string `json:"model"`
	Scope     string `json:"scope"`
}

// checkKeyRaw posts body to /ai_gateway/keys/check and returns the raw
// answer, so that a test can look for the key in the bytes.
func (e *env) checkKeyRaw(body map[string]any) []byte {
	e.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := e.client.Post(adminURL+"/ai_gateway/keys/check", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatalf("key check: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("key check: status %d: %s", resp.StatusCode, out)
	}
	return out
}

// flipBodyChar changes one character of a key's body, keeping the format,
// so that only the checksum is wrong.
func flipBodyChar(t *testing.T, key string) string {
	t.Helper()
	i := len(keystore.KeyPrefix) + 7
	c := byte('a')
	if key[i] == 'a' {
		c = 'b'
	}
	bad := key[:i] + string(c) + key[i+1:]
	if err := keystore.CheckFormat(bad); !errors.Is(err, keystore.ErrBadChecksum) {
		t.Fatalf("flipped key: CheckFormat = %v, want ErrBadChecksum", err)
	}
	return bad
}

// TestKeyCheckVerdicts: POST /ai_gateway/keys/check on a running gateway
// gives each verdict with the fields that explain it, and its answer never
// holds the key that was checked (nor any other key of the test).
func TestKeyCheckVerdicts(t *testing.T) {
	e := newEnv(t)
	e.load(strings.ReplaceAll(pricedModel, "MOCKURL", e.mockURL))

	good := e.createKey(map[string]any{"name": "good"})
	revoked := e.createKey(map[string]any{"name": "revoked"})
	e.admin("DELETE", "/ai_gateway/keys/"+revoked.ID, nil, 200, nil)
	expired := e.createKey(map[string]any{"name": "expired"})
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	e.admin("PATCH", "/ai_gateway/keys/"+expired.ID, map[string]any{"expires_at": past}, 200, nil)
	rotated := e.createKey(map[string]any{"name": "rotated"})
	var rot struct {
		ID string `json:"id"`
	}
	e.admin("POST", "/ai_gateway/keys/"+rotated.ID+"/rotate", map[string]any{"grace": "1h"}, 201, &rot)
	gone := e.createKey(map[string]any{"name": "rotated at once"})
	var rot0 struct {
		ID string `json:"id"`
	}
	e.admin("POST", "/ai_gateway/keys/"+gone.ID+"/rotate", map[string]any{"grace": "0s"}, 201, &rot0)
	limited := e.createKey(map[string]any{"name": "one model", "models": []string{"gpt-test"}})
	// A request costs dollars at this price; the budget is then cut below
	// what was spent.
	broke := e.createKey(map[string]any{"name": "tiny budget", "limits": map[string]any{"budget_usd": 10 * reservedMax}})
	if code, _, body := e.do("POST", "/v1/chat/completions", broke.Key, budgetBody); code != http.StatusOK {
		t.Fatalf("spending the budget: %d %s", code, body)
	}
	e.admin("PATCH", "/ai_gateway/keys/"+broke.ID, map[string]any{"limits": map[string]any{"budget_usd": 1}}, 200, nil)
	never, err := keystore.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{good.Key, revoked.Key, expired.Key, rotated.Key, gone.Key, limited.Key, broke.Key, never}

	cases := []struct {
		name, key, model, want string
		check                  func(t *testing.T, a keyCheckAnswer)
	}{
		{"missing", "", "", "missing", nil},
		{"blank", "   ", "", "missing", nil},
		{"malformed", "sk-not-ours", "", "malformed", nil},
		{"malformed truncated", good.Key[:len(good.Key)-1], "", "malformed", nil},
		{"bad checksum", flipBodyChar(t, good.Key), "", "bad_checksum", func(t *testing.T, a keyCheckAnswer) {
			if a.KeyID != "" {
				t.Errorf("a bad checksum names key %s", a.KeyID)
			}
		}},
		{"unknown", never, "", "unknown", func(t *testing.T, a keyCheckAnswer) {
			if a.KeyID != "" {
				t.Errorf("an unknown key names key %s", a.KeyID)
			}
		}},
		{"revoked", revoked.Key, "", "revoked", func(t *testing.T, a keyCheckAnswer) {
			if a.KeyID != revoked.ID || a.RevokedAt == nil {
				t.Errorf("revoked: key_id %q revoked_at %v", a.KeyID, a.RevokedAt)
			}
			if a.RevokedBy == nil || a.RevokedBy.Action != keystore.AuditKeyRevoke || a.RevokedBy.Target != revoked.ID || a.RevokedBy.Seq == 0 {
				t.Errorf("revoked_by: %+v", a.RevokedBy)
			}
		}},
		{"expired", expired.Key, "", "expired", func(t *testing.T, a keyCheckAnswer) {
			if a.KeyID != expired.ID || a.ExpiresAt == nil || a.ExpiresAt.After(time.Now()) {
				t.Errorf("expired: key_id %q expires_at %v", a.KeyID, a.ExpiresAt)
			}
		}},
		{"rotated, in its grace", rotated.Key, "", "ok", func(t *testing.T, a keyCheckAnswer) {
			if a.RotatedTo != rot.ID || a.ExpiresAt == nil || !strings.Contains(a.Message, rot.ID) {
				t.Errorf("rotated: rotated_to %q (want %q) expires_at %v message %q", a.RotatedTo, rot.ID, a.ExpiresAt, a.Message)
			}
		}},
		{"rotated, grace over", gone.Key, "", "expired", func(t *testing.T, a keyCheckAnswer) {
			if a.RotatedTo != rot0.ID || !strings.Contains(a.Message, rot0.ID) {
				t.Errorf("rotated at once: rotated_to %q (want %q) message %q", a.RotatedTo, rot0.ID, a.Message)
			}
		}},
		{"model not allowed", limited.Key, "gpt-other", "model_not_allowed", func(t *testing.T, a keyCheckAnswer) {
			if a.Model != "gpt-other" || !strings.Contains(a.Message, "gpt-test") {
				t.Errorf("model_not_allowed: model %q message %q", a.Model, a.Message)
			}
		}},
		{"model allowed", limited.Key, "gpt-test", "ok", nil},
		{"budget exhausted", broke.Key, "", "budget_exhausted", func(t *testing.T, a keyCheckAnswer) {
			if a.Scope != "key:"+broke.ID {
				t.Errorf("budget_exhausted: scope %q", a.Scope)
			}
		}},
		{"ok", good.Key, "", "ok", func(t *testing.T, a keyCheckAnswer) {
			if a.KeyID != good.ID || a.RotatedTo != "" {
				t.Errorf("ok: %+v", a)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"key": c.key}
			if c.model != "" {
				body["model"] = c.model
			}
			var raw []byte
			var a keyCheckAnswer
			// The spend of the budget request is settled after its
			// response; give it a moment.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				raw = e.checkKeyRaw(body)
				a = keyCheckAnswer{}
				if err := json.Unmarshal(raw, &a); err != nil {
					t.Fatalf("decoding %s: %v", raw, err)
				}
				if a.Verdict == c.want || time.Now().After(deadline) {
					break
				}
			}
			if a.Verdict != c.want || a.Message == "" {
				t.Fatalf("verdict %q (message %q), want %q", a.Verdict, a.Message, c.want)
			}
			for _, s := range secrets {
				// The body (past the prefix) is what makes a key secret.
				if bytes.Contains(raw, []byte(s[len(keystore.KeyPrefix):])) {
					t.Fatalf("the answer holds a key: %s", raw)
				}
			}
			if c.key != "" && strings.TrimSpace(c.key) != "" && bytes.Contains(raw, []byte(c.key)) {
				t.Fatalf("the answer echoes what was checked: %s", raw)
			}
			if c.check != nil {
				c.check(t, a)
			}
		})
	}
}

// TestListKeysUnusedFor: GET /ai_gateway/keys?unused_for= lists the keys
// not used for that long, a key never used counting from its creation; a
// bad or non-positive duration is refused.
func TestListKeysUnusedFor(t *testing.T) {
	e := newEnv(t)
	fresh := e.createKey(map[string]any{"name": "fresh"})
	used := e.createKey(map[string]any{"name": "used"})
	if code, _, body := e.do("POST", "/v1/chat/completions", used.Key, chatBody("gpt-test", false)); code != 200 {
		t.Fatalf("using the key: %d %s", code, body)
	}
	list := func(q string) map[string]bool {
		var out struct {
			Keys []struct {
				ID         string     `json:"id"`
				LastUsedAt *time.Time `json:"last_used_at"`
			} `json:"keys"`
		}
		e.admin("GET", "/ai_gateway/keys"+q, nil, 200, &out)
		ids := map[string]bool{}
		for _, k := range out.Keys {
			ids[k.ID] = true
			if k.ID == used.ID && k.LastUsedAt == nil {
				t.Errorf("%s: the used key has no last_used_at", q)
			}
			if k.ID == fresh.ID && k.LastUsedAt != nil {
				t.Errorf("%s: the fresh key has last_used_at %v", q, k.LastUsedAt)
			}
		}
		return ids
	}
	if ids := list(""); !ids[fresh.ID] || !ids[used.ID] {
		t.Fatalf("plain list lacks a key: %v", ids)
	}
	if ids := list("?unused_for=90d"); len(ids) != 0 {
		t.Fatalf("unused_for=90d lists fresh keys: %v", ids)
	}
	time.Sleep(1100 * time.Millisecond)
	// Both are over a second old; the used key was used under a minute ago
	// (last use is kept to the minute, so it may count from the minute's start).
	if ids := list("?unused_for=1s"); !ids[fresh.ID] {
		t.Fatalf("unused_for=1s: the never-used key is missing: %v", ids)
	}
	if ids := list("?unused_for=2m"); len(ids) != 0 {
		t.Fatalf("unused_for=2m lists keys made seconds ago: %v", ids)
	}
	for _, bad := range []string{"0s", "-1h", "soon"} {
		e.admin("GET", "/ai_gateway/keys?unused_for="+bad, nil, 400, nil)
	}
}
