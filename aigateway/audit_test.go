package aigateway_test

import (
	"fmt"
	"strings"
	"testing"
)

type auditList struct {
	Entries []struct {
		Seq     uint64
		Action  string
		Target  string
		Remote  string
		Details map[string]string
	}
}

// TestSecurityEventsAreAudited: the use of a revoked key, repeated
// authentication failures from one address, an exhausted budget and the
// admin changes all land in the audit chain, which verifies, and which holds
// no key material.
func TestSecurityEventsAreAudited(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "audited"})
	e.admin("DELETE", "/ai_gateway/keys/"+k.ID, nil, 200, nil)
	e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false))
	for i := 0; i < 12; i++ {
		e.do("POST", "/v1/chat/completions", fmt.Sprintf("aigw_guess%d", i), chatBody("gpt-test", false))
	}
	e.load(strings.ReplaceAll(pricedModel, "MOCKURL", e.mockURL))
	b := e.createKey(map[string]any{"name": "tiny budget", "limits": map[string]any{"budget_usd": 1}})
	e.do("POST", "/v1/chat/completions", b.Key, budgetBody)
	// ai_auth applies limits too.
	r := e.createKey(map[string]any{"name": "proxied rpm", "limits": map[string]any{"rpm": 1}})
	codes := []int{}
	for i := 0; i < 2; i++ {
		code, _, _ := e.do("POST", "/proxied/v1/chat/completions", r.Key, chatBody("mock-gpt", false))
		codes = append(codes, code)
	}
	if codes[0] != 200 || codes[1] != 429 {
		t.Fatalf("ai_auth with rpm 1: %v", codes)
	}

	var list auditList
	e.admin("GET", "/ai_gateway/audit?limit=1000", nil, 200, &list)
	seen := map[string]string{}
	for _, en := range list.Entries {
		seen[en.Action] = en.Target
		for _, v := range en.Details {
			if strings.Contains(v, k.Key) || strings.Contains(v, b.Key) {
				t.Fatalf("an audit entry holds a key: %+v", en)
			}
		}
	}
	for action, target := range map[string]string{
		"key.create": "", "key.revoke": k.ID, "auth.revoked_key": k.ID, "auth.repeated_failures": "",
		"budget.exhausted": "key:" + b.ID, "config.load": "",
	} {
		got, ok := seen[action]
		if !ok || (target != "" && got != target) {
			t.Errorf("audit has no %s entry for %q (actions seen: %v)", action, target, seen)
		}
	}
	var v struct {
		OK      bool
		Entries uint64
	}
	e.admin("GET", "/ai_gateway/audit/verify", nil, 200, &v)
	if !v.OK || v.Entries != uint64(len(list.Entries)) {
		t.Fatalf("verify: %+v, listed %d", v, len(list.Entries))
	}
}
