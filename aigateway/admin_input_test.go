package aigateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAdminRefusesTrailingDataAndUnknownFields sends the admin API bodies
// with something after the JSON value, and fields it does not know: each is
// a 400 that says what is wrong (naming the unknown field), and nothing
// changes. Before, `{"name":"x"} {"name":"y"}` created key x.
func TestAdminRefusesTrailingDataAndUnknownFields(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "existing"})
	var team struct {
		ID string `json:"id"`
	}
	e.admin("POST", "/ai_gateway/teams", map[string]any{"name": "existing-team"}, http.StatusCreated, &team)

	raw := func(t *testing.T, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, adminURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const trailing = "unexpected data after the JSON value"
	cases := []struct {
		name, method, path, body string
		want                     string
	}{
		{"second object", "POST", "/ai_gateway/keys", `{"name":"x"} {"name":"y"}`, trailing},
		{"second object, no space", "POST", "/ai_gateway/keys", `{"name":"x"}{"name":"y"}`, trailing},
		{"garbage", "POST", "/ai_gateway/keys", `{"name":"x"} garbage`, trailing},
		{"array after", "POST", "/ai_gateway/keys", `{"name":"x"}[]`, trailing},
		{"unknown field", "POST", "/ai_gateway/keys", `{"name":"x","modles":["gpt-test"]}`, `unknown field \"modles\"`},
		{"patch key", "PATCH", "/ai_gateway/keys/" + k.ID, `{"name":"renamed"} {}`, trailing},
		{"patch key unknown field", "PATCH", "/ai_gateway/keys/" + k.ID, `{"nmae":"renamed"}`, `unknown field \"nmae\"`},
		{"rotate", "POST", "/ai_gateway/keys/" + k.ID + "/rotate", `{"grace":"1h"} {"grace":"0s"}`, trailing},
		{"rotate unknown field", "POST", "/ai_gateway/keys/" + k.ID + "/rotate", `{"grace_period":"1h"}`, `unknown field \"grace_period\"`},
		{"team", "POST", "/ai_gateway/teams", `{"name":"t"} 1`, trailing},
		{"patch team", "PATCH", "/ai_gateway/teams/" + team.ID, `{"name":"t2"}{"name":"t3"}`, trailing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := raw(t, c.method, c.path, c.body)
			if code != http.StatusBadRequest || !strings.Contains(body, c.want) {
				t.Fatalf("%s %s %s: %d %s", c.method, c.path, c.body, code, body)
			}
		})
	}

	// Nothing was created, renamed or rotated.
	var list struct {
		Keys []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"keys"`
	}
	e.admin("GET", "/ai_gateway/keys", nil, http.StatusOK, &list)
	if len(list.Keys) != 1 || list.Keys[0].Name != "existing" || list.Keys[0].Status != "active" {
		t.Fatalf("keys after refused requests: %+v", list.Keys)
	}
	var teams struct {
		Teams []struct {
			Name string `json:"name"`
		} `json:"teams"`
	}
	e.admin("GET", "/ai_gateway/teams", nil, http.StatusOK, &teams)
	if b, _ := json.Marshal(teams); len(teams.Teams) != 1 || teams.Teams[0].Name != "existing-team" {
		t.Fatalf("teams after refused requests: %s", b)
	}

	// Whitespace after the value is no trailing data.
	if code, body := raw(t, "POST", "/ai_gateway/keys", "{\"name\":\"spaced\"}\n\t \n"); code != http.StatusCreated {
		t.Fatalf("a body with trailing whitespace: %d %s", code, body)
	}
}
