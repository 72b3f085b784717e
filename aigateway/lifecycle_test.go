package aigateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway"
)

func TestKeyLifecycleThroughCaddy(t *testing.T) {
	e := newEnv(t)

	// A key created over the admin API works at once.
	k := e.createKey(map[string]any{"name": "lifecycle"})
	if !strings.HasPrefix(k.Key, "aigw_") || k.Status != "active" {
		t.Fatalf("unexpected key: %+v", k)
	}
	if code, _, body := e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false)); code != 200 {
		t.Fatalf("new key: status %d: %s", code, body)
	}
	// The secret is shown once: never again in a listing or a show.
	var raw map[string]any
	e.admin("GET", "/ai_gateway/keys/"+k.ID, nil, 200, &raw)
	if _, ok := raw["key"]; ok {
		t.Fatalf("GET key returned the secret: %v", raw)
	}
	var list struct {
		Keys []map[string]any `json:"keys"`
	}
	e.admin("GET", "/ai_gateway/keys", nil, 200, &list)
	for _, item := range list.Keys {
		for _, v := range item {
			if s, ok := v.(string); ok && strings.Contains(s, k.Key[9:]) {
				t.Fatalf("listing leaks the secret: %v", item)
			}
		}
	}

	// Revoke: 401 at once, the record stays with status revoked.
	e.admin("DELETE", "/ai_gateway/keys/"+k.ID, nil, 200, nil)
	code, _, body := e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false))
	if code != 401 || errorCode(t, body) != "invalid_api_key" || !strings.Contains(string(body), "revoked") {
		t.Fatalf("revoked key: status %d: %s", code, body)
	}
	var shown issued
	e.admin("GET", "/ai_gateway/keys/"+k.ID, nil, 200, &shown)
	if shown.Status != "revoked" {
		t.Fatalf("revoked key shows status %q", shown.Status)
	}

	// Rotate with a grace period: both keys work during it, the old fails after.
	old := e.createKey(map[string]any{"name": "rotating", "models": []string{"gpt-*"}})
	var rot issued
	e.admin("POST", "/ai_gateway/keys/"+old.ID+"/rotate", map[string]any{"grace": "2s"}, http.StatusCreated, &rot)
	if rot.Key == "" || rot.ID == old.ID || rot.OldKey == nil || rot.OldKey.ExpiresAt == nil {
		t.Fatalf("rotate answer: %+v", rot)
	}
	// Expiry: a key that expires in about 2 s, checked in the same window.
	exp := e.createKey(map[string]any{"name": "expiring", "expires_at": time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)})
	for _, key := range []string{old.Key, rot.Key, exp.Key} {
		if code, _, body := e.do("POST", "/v1/chat/completions", key, chatBody("gpt-test", false)); code != 200 {
			t.Fatalf("during grace: status %d: %s", code, body)
		}
	}
	// The rotated key keeps the old one's model allow-list.
	if code, _, body := e.do("POST", "/v1/chat/completions", rot.Key, chatBody("embed-test", false)); code != 403 || errorCode(t, body) != "model_not_allowed" {
		t.Fatalf("rotated key lost its allow-list: status %d: %s", code, body)
	}
	time.Sleep(time.Until(rot.OldKey.ExpiresAt.Add(300 * time.Millisecond)))
	if exp.ExpiresAt != nil {
		time.Sleep(time.Until(exp.ExpiresAt.Add(300 * time.Millisecond)))
	}
	for _, key := range []string{old.Key, exp.Key} {
		code, _, body := e.do("POST", "/v1/chat/completions", key, chatBody("gpt-test", false))
		if code != 401 || errorCode(t, body) != "invalid_api_key" || !strings.Contains(string(body), "expired") {
			t.Fatalf("after expiry: status %d: %s", code, body)
		}
	}
	if code, _, body := e.do("POST", "/v1/chat/completions", rot.Key, chatBody("gpt-test", false)); code != 200 {
		t.Fatalf("new key after grace: status %d: %s", code, body)
	}
	e.admin("GET", "/ai_gateway/keys/"+exp.ID, nil, 200, &shown)
	if shown.Status != "expired" {
		t.Fatalf("expired key shows status %q", shown.Status)
	}
}

func TestReloadKeepsKeysAndOneStoreHandle(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "survivor"})
	if n := aigateway.StoreRefs(e.storeDir); n != 1 {
		t.Fatalf("before reload: %d references to the store, want 1", n)
	}
	// Two reloads through /load, each a changed config (an unchanged one is
	// not reloaded by Caddy).
	for i, extra := range []string{"\t\tmodel reload-a mock mock-gpt", "\t\tmodel reload-b mock mock-gpt"} {
		e.load(extra)
		if n := aigateway.StoreRefs(e.storeDir); n != 1 {
			t.Fatalf("after reload %d: %d references to the store, want 1", i+1, n)
		}
		if n := aigateway.StoresOpen(); n != 1 {
			t.Fatalf("after reload %d: %d stores open, want 1", i+1, n)
		}
		if code, _, body := e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false)); code != 200 {
			t.Fatalf("after reload %d: key rejected: %d %s", i+1, code, body)
		}
	}
	// The last config's model is served, the one before it is gone.
	if code, _, body := e.do("POST", "/v1/chat/completions", k.Key, chatBody("reload-b", false)); code != 200 {
		t.Fatalf("reloaded model: %d %s", code, body)
	}
	if code, _, _ := e.do("POST", "/v1/chat/completions", k.Key, chatBody("reload-a", false)); code != 404 {
		t.Fatalf("removed model: %d, want 404", code)
	}
	// A key created after the reloads is in the same store.
	k2 := e.createKey(map[string]any{"name": "after-reload"})
	if code, _, _ := e.do("POST", "/v1/chat/completions", k2.Key, chatBody("gpt-test", false)); code != 200 {
		t.Fatalf("key created after reload: %d", code)
	}
}
