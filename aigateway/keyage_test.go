package aigateway_test

import (
	"net/http"
	"testing"
	"time"
)

// TestMaxKeyAge: a running gateway with max_key_age gives a team key
// older than its team's (stricter) age an expiry at start, with one audit
// entry and one event however often the limit is applied; a key outside
// the team, younger than the gateway's age, is untouched; and the team key
// is refused once its expiry passes, by the usual expiry check.
func TestMaxKeyAge(t *testing.T) {
	e := newEnv(t)
	recorded.Lock()
	recorded.events = nil
	recorded.Unlock()
	var team struct {
		ID string `json:"id"`
	}
	e.admin("POST", "/ai_gateway/teams", map[string]any{"name": "short-lived", "max_key_age": "2s"}, http.StatusCreated, &team)
	member := e.createKey(map[string]any{"name": "member", "team": team.ID})
	loner := e.createKey(map[string]any{"name": "loner"})
	for _, k := range []issued{member, loner} {
		if code, _, body := e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false)); code != http.StatusOK {
			t.Fatalf("before max_key_age: %d %s", code, body)
		}
	}

	withAge := func(grace string) string {
		return replaceOnce(t, e.config("\t\tmax_key_age 1h grace "+grace), "\tai_gateway {\n",
			"\tevents {\n\t\ton ai_gateway_key_max_age aigw_test_recorder\n\t}\n\tai_gateway {\n")
	}
	// The limit is applied soon after each start: the team key gets its
	// expiry once; a second config (it differs, so Caddy does not skip it)
	// applies it again and changes nothing.
	e.tc.InitServer(withAge("2s"), "caddyfile")
	type keyRecord struct {
		ExpiresAt *time.Time `json:"expires_at"`
	}
	var m, l keyRecord
	for deadline := time.Now().Add(10 * time.Second); m.ExpiresAt == nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		e.admin("GET", "/ai_gateway/keys/"+member.ID, nil, http.StatusOK, &m)
	}
	if m.ExpiresAt == nil || m.ExpiresAt.After(time.Now().Add(5*time.Second)) {
		t.Fatalf("the team key's expiry: %v, want within seconds", m.ExpiresAt)
	}
	first := *m.ExpiresAt
	e.tc.InitServer(withAge("3s"), "caddyfile")
	time.Sleep(2500 * time.Millisecond) // past the second config's first sweep
	e.admin("GET", "/ai_gateway/keys/"+member.ID, nil, http.StatusOK, &m)
	e.admin("GET", "/ai_gateway/keys/"+loner.ID, nil, http.StatusOK, &l)
	if m.ExpiresAt == nil || !m.ExpiresAt.Equal(first) {
		t.Fatalf("the second sweep moved the expiry from %v to %v", first, m.ExpiresAt)
	}
	if l.ExpiresAt != nil {
		t.Fatalf("the key outside the team got expiry %v", l.ExpiresAt)
	}

	var list auditList
	e.admin("GET", "/ai_gateway/audit?limit=1000", nil, http.StatusOK, &list)
	n := 0
	for _, en := range list.Entries {
		if en.Action == "key.max_age_expiry" {
			n++
			if en.Target != member.ID || en.Details["source"] != "team" || en.Details["max_key_age"] != "2s" || en.Details["expires_at"] == "" {
				t.Errorf("audit entry: %+v", en)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d key.max_age_expiry audit entries, want 1", n)
	}
	recorded.Lock()
	events := 0
	for _, ev := range recorded.events {
		if ev.Name() == "ai_gateway_key_max_age" {
			events++
			if ev.Data["key_id"] != member.ID || ev.Data["team_id"] != team.ID {
				t.Errorf("event data: %v", ev.Data)
			}
		}
	}
	recorded.Unlock()
	if events != 1 {
		t.Fatalf("%d ai_gateway_key_max_age events, want 1", events)
	}

	time.Sleep(time.Until(*m.ExpiresAt) + 100*time.Millisecond)
	if code, _, body := e.do("POST", "/v1/chat/completions", member.Key, chatBody("gpt-test", false)); code != http.StatusUnauthorized {
		t.Fatalf("the team key after its expiry: %d %s", code, body)
	}
	if code, _, body := e.do("POST", "/v1/chat/completions", loner.Key, chatBody("gpt-test", false)); code != http.StatusOK {
		t.Fatalf("the other key: %d %s", code, body)
	}
}
