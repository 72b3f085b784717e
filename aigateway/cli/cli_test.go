package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// recorded is what the fake admin API saw.
type recorded struct {
	Method, Path, RawQuery, ContentType, Origin string
	Body                                        []byte
}

// reply is a canned admin API response.
type reply struct {
	status int
	body   string
}

// fakeAdmin is an httptest.Server that mimics the admin API: it records
// every request and answers with a canned status and body, or with the
// reply routed to "METHOD /escaped/path" when there is one.
type fakeAdmin struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	status int
	body   string
	routes map[string]reply
}

func newFakeAdmin(t *testing.T, status int, body string) *fakeAdmin {
	t.Helper()
	f := &fakeAdmin{status: status, body: body}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{
		Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"), Origin: r.Header.Get("Origin"), Body: b,
	})
	status, body := f.status, f.body
	if rt, ok := f.routes[r.Method+" "+r.URL.EscapedPath()]; ok {
		status, body = rt.status, rt.body
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (f *fakeAdmin) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// runCLI executes the ai-gateway command tree with args against address.
func runCLI(address string, args ...string) (stdout, stderr string, err error) {
	root := &cobra.Command{Use: "ai-gateway", SilenceUsage: true}
	setupCommand(root, env{now: func() time.Time { return testNow }, loc: time.UTC})
	root.SetArgs(append(args, "--address", address))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// jsonEqual reports whether a and b hold equal JSON values.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("bad JSON %q: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("bad JSON %q: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

const (
	keyActive = `{"id":"k1","name":"ci-bot","prefix":"aigw_7Gq2","last4":"wxyz","models":["gpt-4o*","claude-*"],
		"metadata":{"team":"infra","env":"prod"},"status":"active","created_at":"2025-05-01T09:30:00Z",
		"updated_at":"2025-05-02T10:00:00Z","expires_at":"2025-07-01T00:00:00Z",
		"last_used_at":"2025-05-31T23:59:00Z","last_used_from":"203.0.113.0/24"}`
	keyRevoked = `{"id":"k2","prefix":"aigw_AbCd","last4":"1234","status":"revoked",
		"created_at":"2025-04-01T00:00:00Z","updated_at":"2025-05-20T08:00:00Z","revoked_at":"2025-05-20T08:00:00Z"}`
	createdResp = `{"id":"k3","name":"new","prefix":"aigw_Zz9y","last4":"q1w2","status":"active",
		"created_at":"2025-06-01T12:00:00Z","updated_at":"2025-06-01T12:00:00Z",
		"key":"aigw_Zz9yPLAINTEXTSECRETq1w2"}`
	rotatedResp = `{"id":"k4","name":"ci-bot","prefix":"aigw_NeW1","last4":"9876","status":"active",
		"created_at":"2025-06-01T12:00:00Z","updated_at":"2025-06-01T12:00:00Z","rotated_from":"k1",
		"key":"aigw_NeW1SECRET9876",
		"old_key":{"id":"k1","name":"ci-bot","prefix":"aigw_7Gq2","last4":"wxyz","status":"active",
			"created_at":"2025-05-01T09:30:00Z","updated_at":"2025-06-01T12:00:00Z",
			"expires_at":"2025-06-02T12:00:00Z","rotated_to":"k4"}}`
	usageResp = `{"group_by":"model","groups":[
		{"group":"gpt-4o","requests":1200,"errors":3,"prompt_tokens":1234567,"completion_tokens":89012,"total_tokens":1323579,"cost_usd":6.54321},
		{"group":"claude-3-5-sonnet","requests":7,"errors":0,"prompt_tokens":700,"completion_tokens":300,"total_tokens":1000,"cost_usd":0.00209}],
		"total":{"group":"total","requests":1207,"errors":3,"prompt_tokens":1235267,"completion_tokens":89312,"total_tokens":1324579,"cost_usd":6.5453}}`
)

const (
	keyGoverned = `{"id":"k5","name":"batch","prefix":"aigw_Bt5x","last4":"5555","status":"active","team":"team_ops",
		"limits":{"rpm":60,"tpm":100000,"max_parallel":4,"max_tokens":4096,"token_quota":1000000,
			"token_quota_period":"monthly","budget_usd":25,"budget_period":"weekly"},
		"spend":{"period_start":"2025-05-26T00:00:00Z","spent_usd":1.23456,"reserved_usd":0.01,"tokens":123456},
		"created_at":"2025-05-10T00:00:00Z","updated_at":"2025-05-11T00:00:00Z"}`
	teamOps = `{"id":"team_ops","name":"Ops","limits":{"rpm":600,"tpm":1000000,"budget_usd":10,"budget_period":"monthly"},
		"metadata":{"cc":"42"},"created_at":"2025-05-01T00:00:00Z","updated_at":"2025-05-02T00:00:00Z",
		"spend":{"period_start":"2025-06-01T00:00:00Z","spent_usd":2.5,"reserved_usd":0.125,"tokens":5000}}`
	teamBare = `{"id":"team_x","name":"Research","limits":{},"created_at":"2025-05-03T08:00:00Z","updated_at":"2025-05-03T08:00:00Z"}`

	hash1 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hash2 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

	auditResp = `{"entries":[
		{"seq":41,"time":"2025-06-01T10:00:00Z","action":"key.create","actor":"admin","target":"k5",
			"remote":"127.0.0.1","details":{"name":"batch"},"prev_hash":"","hash":"` + hash1 + `"},
		{"seq":42,"time":"2025-06-01T11:00:00Z","action":"auth.revoked_key","target":"k2",
			"remote":"203.0.113.9","prev_hash":"` + hash1 + `","hash":"` + hash2 + `"},
		{"seq":43,"time":"2025-06-01T11:30:00Z","action":"budget.exhausted","target":"team_ops",
			"prev_hash":"` + hash2 + `","hash":"` + hash1 + `"}],
		"head":{"seq":43,"hash":"` + hash1 + `","time":"2025-06-01T11:30:00Z"}}`
	verifyOK     = `{"ok":true,"entries":43,"head":{"seq":43,"hash":"` + hash1 + `","time":"2025-06-01T11:30:00Z"}}`
	verifyBroken = `{"ok":false,"entries":43,"broken_at":17,"reason":"hash mismatch: entry was edited",
		"head":{"seq":43,"hash":"` + hash1 + `","time":"2025-06-01T11:30:00Z"}}`
)

// limitsJSON is a complete limits object, as the CLI sends it, with the
// given fields (JSON object members) set on top of zero values.
func limitsJSON(fields string) string {
	m := map[string]any{}
	for _, obj := range []string{
		`{"rpm":0,"tpm":0,"max_parallel":0,"max_tokens":0,"token_quota":0,"token_quota_period":"","budget_usd":0,"budget_period":""}`,
		"{" + fields + "}",
	} {
		if err := json.Unmarshal([]byte(obj), &m); err != nil {
			panic(err)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		status int
		resp   string

		wantMethod, wantPath, wantQuery string
		wantBody                        string // JSON; empty means no body
		wantNoRequest                   bool

		wantOut     string   // exact stdout, if set
		wantContain []string // substrings of stdout
		wantErr     string   // exact stderr; non-empty means the command fails
	}{
		{
			name:   "create with all flags",
			args:   []string{"keys", "create", "--name", "new", "--model", "gpt-4o*", "--model", "claude-*", "--expires", "720h", "--meta", "team=infra", "--meta", "note=a=b"},
			status: http.StatusCreated, resp: createdResp,
			wantMethod: "POST", wantPath: "/ai_gateway/keys",
			wantBody: `{"name":"new","models":["gpt-4o*","claude-*"],"expires_at":"2025-07-01T12:00:00Z","metadata":{"team":"infra","note":"a=b"}}`,
			wantOut: "Created key k3.\n\n" +
				"    aigw_Zz9yPLAINTEXTSECRETq1w2\n\n" +
				"Copy this key now: it will not be shown again.\n\n" +
				"ID:      k3\n" +
				"Name:    new\n" +
				"Prefix:  aigw_Zz9y…q1w2\n" +
				"Status:  active\n" +
				"Models:  *\n" +
				"Limits:  none\n" +
				"Created: 2025-06-01T12:00:00Z\n" +
				"Updated: 2025-06-01T12:00:00Z\n" +
				"Expires: never\n" +
				"Used:    never\n",
		},
		{
			name:   "create minimal sends empty object",
			args:   []string{"keys", "create"},
			status: http.StatusCreated, resp: createdResp,
			wantMethod: "POST", wantPath: "/ai_gateway/keys", wantBody: `{}`,
			wantContain: []string{"aigw_Zz9yPLAINTEXTSECRETq1w2", "will not be shown again"},
		},
		{
			name:   "create with RFC 3339 expiry",
			args:   []string{"keys", "create", "--expires", "2025-12-31T23:59:59+02:00"},
			status: http.StatusCreated, resp: createdResp,
			wantMethod: "POST", wantPath: "/ai_gateway/keys",
			wantBody:    `{"expires_at":"2025-12-31T21:59:59Z"}`,
			wantContain: []string{"aigw_Zz9yPLAINTEXTSECRETq1w2"},
		},
		{
			name:   "create with days expiry",
			args:   []string{"keys", "create", "--expires", "30d"},
			status: http.StatusCreated, resp: createdResp,
			wantMethod: "POST", wantPath: "/ai_gateway/keys",
			wantBody: `{"expires_at":"2025-07-01T12:00:00Z"}`,
		},
		{
			name:          "create with bad expiry does not call the API",
			args:          []string{"keys", "create", "--expires", "tomorrow"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --expires \"tomorrow\": want an RFC 3339 time (2026-01-31T00:00:00Z) or a duration (720h, 30d)\n",
		},
		{
			name:          "create with past expiry",
			args:          []string{"keys", "create", "--expires", "2020-01-01T00:00:00Z"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --expires \"2020-01-01T00:00:00Z\": time is in the past\n",
		},
		{
			name:          "create with bad meta",
			args:          []string{"keys", "create", "--meta", "novalue"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --meta \"novalue\": want key=value\n",
		},
		{
			name:   "create --json prints the response",
			args:   []string{"keys", "create", "--json"},
			status: http.StatusCreated, resp: createdResp,
			wantMethod: "POST", wantPath: "/ai_gateway/keys", wantBody: `{}`,
			wantContain: []string{`"key": "aigw_Zz9yPLAINTEXTSECRETq1w2"`, `"id": "k3"`},
		},
		{
			name:   "list table",
			args:   []string{"keys", "list"},
			status: http.StatusOK, resp: `{"keys":[` + keyActive + `,` + keyRevoked + `,` + keyGoverned + `]}`,
			wantMethod: "GET", wantPath: "/ai_gateway/keys",
			wantOut: "" +
				"ID  NAME    TEAM      PREFIX          STATUS   MODELS            EXPIRES           CREATED           LAST USED\n" +
				"k1  ci-bot  -         aigw_7Gq2…wxyz  active   gpt-4o*,claude-*  2025-07-01 00:00  2025-05-01 09:30  2025-05-31 23:59 from 203.0.113.0/24\n" +
				"k2  -       -         aigw_AbCd…1234  revoked  *                 never             2025-04-01 00:00  never\n" +
				"k5  batch   team_ops  aigw_Bt5x…5555  active   *                 never             2025-05-10 00:00  never\n",
		},
		{
			name:   "list unused for 90 days",
			args:   []string{"keys", "list", "--unused-for", "90d"},
			status: http.StatusOK, resp: `{"keys":[]}`,
			wantMethod: "GET", wantPath: "/ai_gateway/keys", wantQuery: "unused_for=90d",
			wantOut: "No keys unused for 90d.\n",
		},
		{
			name:          "list bad unused-for",
			args:          []string{"keys", "list", "--unused-for", "soon"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --unused-for \"soon\": want a positive duration such as 720h or 90d\n",
		},
		{
			name:   "list empty",
			args:   []string{"keys", "ls"},
			status: http.StatusOK, resp: `{"keys":[]}`,
			wantMethod: "GET", wantPath: "/ai_gateway/keys",
			wantOut: "No keys.\n",
		},
		{
			name:   "list --json",
			args:   []string{"keys", "list", "--json"},
			status: http.StatusOK, resp: `{"keys":[` + keyRevoked + `]}`,
			wantMethod: "GET", wantPath: "/ai_gateway/keys",
			wantOut: "{\n  \"keys\": [\n    {\n      \"id\": \"k2\",\n      \"prefix\": \"aigw_AbCd\",\n      \"last4\": \"1234\",\n      \"status\": \"revoked\",\n" +
				"      \"created_at\": \"2025-04-01T00:00:00Z\",\n      \"updated_at\": \"2025-05-20T08:00:00Z\",\n      \"revoked_at\": \"2025-05-20T08:00:00Z\"\n    }\n  ]\n}\n",
		},
		{
			name:   "show",
			args:   []string{"keys", "show", "k1"},
			status: http.StatusOK, resp: keyActive,
			wantMethod: "GET", wantPath: "/ai_gateway/keys/k1",
			wantOut: "" +
				"ID:       k1\n" +
				"Name:     ci-bot\n" +
				"Prefix:   aigw_7Gq2…wxyz\n" +
				"Status:   active\n" +
				"Models:   gpt-4o*,claude-*\n" +
				"Metadata: env=prod, team=infra\n" +
				"Limits:   none\n" +
				"Created:  2025-05-01T09:30:00Z\n" +
				"Updated:  2025-05-02T10:00:00Z\n" +
				"Expires:  2025-07-01T00:00:00Z\n" +
				"Used:     2025-05-31T23:59:00Z from 203.0.113.0/24\n",
		},
		{
			name:   "show escapes the ID",
			args:   []string{"keys", "show", "a/b c"},
			status: http.StatusOK, resp: keyRevoked,
			wantMethod: "GET", wantPath: "/ai_gateway/keys/a%2Fb%20c",
			wantContain: []string{"Revoked: 2025-05-20T08:00:00Z"},
		},
		{
			name:   "show not found",
			args:   []string{"keys", "show", "nope"},
			status: http.StatusNotFound, resp: `{"error":"key not found"}`,
			wantMethod: "GET", wantPath: "/ai_gateway/keys/nope",
			wantErr: "Error: key not found (HTTP 404)\n",
		},
		{
			name:   "error with --json",
			args:   []string{"keys", "list", "--json"},
			status: http.StatusForbidden, resp: `{"error":"host not allowed"}`,
			wantMethod: "GET", wantPath: "/ai_gateway/keys",
			wantErr: "Error: host not allowed (HTTP 403)\n",
		},
		{
			name:   "error with non-JSON body",
			args:   []string{"keys", "list"},
			status: http.StatusInternalServerError, resp: "boom\n",
			wantMethod: "GET", wantPath: "/ai_gateway/keys",
			wantErr: "Error: boom (HTTP 500)\n",
		},
		{
			name:   "error with empty body",
			args:   []string{"keys", "list"},
			status: http.StatusBadGateway, resp: "",
			wantMethod: "GET", wantPath: "/ai_gateway/keys",
			wantErr: "Error: Bad Gateway (HTTP 502)\n",
		},
		{
			name:   "update sends only given fields",
			args:   []string{"keys", "update", "k1", "--name", "renamed", "--expires", "48h"},
			status: http.StatusOK, resp: keyActive,
			wantMethod: "PATCH", wantPath: "/ai_gateway/keys/k1",
			wantBody:    `{"name":"renamed","expires_at":"2025-06-03T12:00:00Z"}`,
			wantContain: []string{"Updated key k1.", "Name:     ci-bot"},
		},
		{
			name:   "update models and clear expiry",
			args:   []string{"keys", "update", "k1", "--model", "gpt-*", "--no-expiry"},
			status: http.StatusOK, resp: keyActive,
			wantMethod: "PATCH", wantPath: "/ai_gateway/keys/k1",
			wantBody: `{"models":["gpt-*"],"clear_expiry":true}`,
		},
		{
			name:   "update empty name and all models",
			args:   []string{"keys", "update", "k1", "--name", "", "--all-models"},
			status: http.StatusOK, resp: keyActive,
			wantMethod: "PATCH", wantPath: "/ai_gateway/keys/k1",
			wantBody: `{"name":"","models":[]}`,
		},
		{
			name:          "update without fields",
			args:          []string{"keys", "update", "k1"},
			wantNoRequest: true,
			wantErr:       "Error: " + errNothingToUpdate.Error() + "\n",
		},
		{
			name:   "update invalid input from server",
			args:   []string{"keys", "update", "k1", "--model", "["},
			status: http.StatusBadRequest, resp: `{"error":"invalid model pattern \"[\""}`,
			wantMethod: "PATCH", wantPath: "/ai_gateway/keys/k1", wantBody: `{"models":["["]}`,
			wantErr: "Error: invalid model pattern \"[\" (HTTP 400)\n",
		},
		{
			name:   "revoke",
			args:   []string{"keys", "revoke", "k2"},
			status: http.StatusOK, resp: keyRevoked,
			wantMethod: "DELETE", wantPath: "/ai_gateway/keys/k2",
			wantContain: []string{"Revoked key k2; it no longer works.", "Status:  revoked", "Revoked: 2025-05-20T08:00:00Z"},
		},
		{
			name:   "rotate with grace",
			args:   []string{"keys", "rotate", "k1", "--grace", "24h"},
			status: http.StatusCreated, resp: rotatedResp,
			wantMethod: "POST", wantPath: "/ai_gateway/keys/k1/rotate", wantBody: `{"grace":"24h"}`,
			wantOut: "Rotated key k1; the new key is k4.\n\n" +
				"    aigw_NeW1SECRET9876\n\n" +
				"Copy this key now: it will not be shown again.\n\n" +
				"The old key k1 (aigw_7Gq2…wxyz) keeps working until 2025-06-02T12:00:00Z (in 1d).\n\n" +
				"ID:           k4\n" +
				"Name:         ci-bot\n" +
				"Prefix:       aigw_NeW1…9876\n" +
				"Status:       active\n" +
				"Models:       *\n" +
				"Limits:       none\n" +
				"Created:      2025-06-01T12:00:00Z\n" +
				"Updated:      2025-06-01T12:00:00Z\n" +
				"Expires:      never\n" +
				"Used:         never\n" +
				"Rotated from: k1\n",
		},
		{
			name:   "rotate without grace, old key revoked",
			args:   []string{"keys", "rotate", "k1"},
			status: http.StatusCreated, resp: strings.Replace(rotatedResp, `"last4":"wxyz","status":"active"`, `"last4":"wxyz","status":"revoked"`, 1),
			wantMethod: "POST", wantPath: "/ai_gateway/keys/k1/rotate", wantBody: `{}`,
			wantContain: []string{"aigw_NeW1SECRET9876", "The old key k1 (aigw_7Gq2…wxyz) has stopped working."},
		},
		{
			name:          "rotate with bad grace",
			args:          []string{"keys", "rotate", "k1", "--grace", "soon"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --grace \"soon\": time: invalid duration \"soon\"\n",
		},
		{
			name:   "usage table",
			args:   []string{"usage", "--key", "k1", "--from", "2025-05-01", "--to", "2025-05-31", "--group-by", "model"},
			status: http.StatusOK, resp: usageResp,
			wantMethod: "GET", wantPath: "/ai_gateway/usage",
			wantQuery: "from=2025-05-01&group_by=model&key_id=k1&to=2025-05-31",
			wantOut: "" +
				"MODEL              REQUESTS  ERRORS  PROMPT TOKENS  COMPLETION TOKENS  TOTAL TOKENS     COST\n" +
				"gpt-4o                1,200       3      1,234,567             89,012     1,323,579  $6.5432\n" +
				"claude-3-5-sonnet         7       0            700                300         1,000  $0.0021\n" +
				"TOTAL                 1,207       3      1,235,267             89,312     1,324,579  $6.5453\n",
		},
		{
			name:   "usage without filters",
			args:   []string{"usage"},
			status: http.StatusOK, resp: `{"group_by":"day","groups":[],"total":{"group":"total"}}`,
			wantMethod: "GET", wantPath: "/ai_gateway/usage", wantQuery: "",
			wantOut: "No usage recorded.\n",
		},
		{
			name:   "usage --json",
			args:   []string{"usage", "--group-by", "day", "--json"},
			status: http.StatusOK, resp: `{"group_by":"day","groups":[],"total":{"group":"total","requests":0}}`,
			wantMethod: "GET", wantPath: "/ai_gateway/usage", wantQuery: "group_by=day",
			wantOut: "{\n  \"group_by\": \"day\",\n  \"groups\": [],\n  \"total\": {\n    \"group\": \"total\",\n    \"requests\": 0\n  }\n}\n",
		},
		{
			name:          "usage bad date",
			args:          []string{"usage", "--from", "05/01/2025"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --from \"05/01/2025\": want YYYY-MM-DD\n",
		},
		{
			name:          "usage bad group",
			args:          []string{"usage", "--group-by", "provider"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --group-by \"provider\": want model, key, team or day\n",
		},
		{
			name:          "usage reversed range",
			args:          []string{"usage", "--from", "2025-05-02", "--to", "2025-05-01"},
			wantNoRequest: true,
			wantErr:       "Error: --to 2025-05-01 is before --from 2025-05-02\n",
		},
		{
			name:   "create with team and limits",
			args:   []string{"keys", "create", "--team", "team_ops", "--rpm", "60", "--tpm", "100000", "--max-parallel", "4", "--max-tokens", "4096", "--token-quota", "1000000", "--quota-period", "Monthly", "--budget-usd", "25.5", "--budget-period", "weekly"},
			status: http.StatusCreated, resp: createdResp,
			wantMethod: "POST", wantPath: "/ai_gateway/keys",
			wantBody: `{"team":"team_ops","limits":` + limitsJSON(`"rpm":60,"tpm":100000,"max_parallel":4,"max_tokens":4096,
				"token_quota":1000000,"token_quota_period":"monthly","budget_usd":25.5,"budget_period":"weekly"`) + `}`,
			wantContain: []string{"Created key k3."},
		},
		{
			name:   "create with one limit sends zeros for the others",
			args:   []string{"keys", "create", "--budget-usd", "5", "--budget-period", "none"},
			status: http.StatusCreated, resp: createdResp,
			wantMethod: "POST", wantPath: "/ai_gateway/keys",
			wantBody: `{"limits":` + limitsJSON(`"budget_usd":5`) + `}`,
		},
		{
			name:          "create with negative rpm",
			args:          []string{"keys", "create", "--rpm=-5"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --rpm -5: must not be negative (0 means unlimited)\n",
		},
		{
			name:          "create with negative budget",
			args:          []string{"keys", "create", "--budget-usd=-0.5"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --budget-usd -0.5: must be a non-negative amount (0 means unlimited)\n",
		},
		{
			name:          "create with NaN budget",
			args:          []string{"keys", "create", "--budget-usd", "NaN"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --budget-usd NaN: must be a non-negative amount (0 means unlimited)\n",
		},
		{
			name:          "create with bad budget period",
			args:          []string{"keys", "create", "--budget-usd", "5", "--budget-period", "yearly"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --budget-period \"yearly\": want daily, weekly, monthly or none\n",
		},
		{
			name:          "create with bad quota period",
			args:          []string{"keys", "create", "--token-quota", "5", "--quota-period", "hourly"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --quota-period \"hourly\": want daily, weekly, monthly or none\n",
		},
		{
			name:          "create with empty team",
			args:          []string{"keys", "create", "--team", " "},
			wantNoRequest: true,
			wantErr:       "Error: invalid --team: empty team ID\n",
		},
		{
			name:   "show with team, limits and spend",
			args:   []string{"keys", "show", "k5"},
			status: http.StatusOK, resp: keyGoverned,
			wantMethod: "GET", wantPath: "/ai_gateway/keys/k5",
			wantOut: "" +
				"ID:      k5\n" +
				"Name:    batch\n" +
				"Prefix:  aigw_Bt5x…5555\n" +
				"Status:  active\n" +
				"Models:  *\n" +
				"Team:    team_ops\n" +
				"Limits:  rpm 60, tpm 100,000, max-parallel 4, max-tokens 4,096, token-quota 1,000,000/monthly, budget $25.00/weekly\n" +
				"Spend:   $1.2346 spent, $0.0100 reserved, 123,456 tokens since 2025-05-26T00:00:00Z\n" +
				"Created: 2025-05-10T00:00:00Z\n" +
				"Updated: 2025-05-11T00:00:00Z\n" +
				"Expires: never\n" +
				"Used:    never\n",
		},
		{
			name:   "update team without limits sends no GET",
			args:   []string{"keys", "update", "k1", "--team", "team_ops"},
			status: http.StatusOK, resp: keyGoverned,
			wantMethod: "PATCH", wantPath: "/ai_gateway/keys/k1",
			wantBody:    `{"team":"team_ops"}`,
			wantContain: []string{"Updated key k5.", "Team:    team_ops"},
		},
		{
			name:   "update --no-team removes the team",
			args:   []string{"keys", "update", "k5", "--no-team"},
			status: http.StatusOK, resp: keyActive,
			wantMethod: "PATCH", wantPath: "/ai_gateway/keys/k5",
			wantBody: `{"team":""}`,
		},
		{
			name:          "update with empty team",
			args:          []string{"keys", "update", "k5", "--team", ""},
			wantNoRequest: true,
			wantErr:       "Error: invalid --team: empty team ID (use --no-team to remove the key from its team)\n",
		},
		{
			name:          "update with bad limit sends nothing, not even the GET",
			args:          []string{"keys", "update", "k5", "--rpm", "10", "--budget-period", "yearly"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --budget-period \"yearly\": want daily, weekly, monthly or none\n",
		},
		{
			name:          "update with negative max-parallel",
			args:          []string{"keys", "update", "k5", "--max-parallel=-1"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --max-parallel -1: must not be negative (0 means unlimited)\n",
		},
		{
			name:   "teams create",
			args:   []string{"teams", "create", "--name", "Ops", "--rpm", "600", "--tpm", "1000000", "--budget-usd", "10", "--budget-period", "monthly", "--meta", "cc=42"},
			status: http.StatusCreated, resp: strings.Replace(teamOps, `"spend"`, `"unused"`, 1),
			wantMethod: "POST", wantPath: "/ai_gateway/teams",
			wantBody: `{"name":"Ops","limits":` + limitsJSON(`"rpm":600,"tpm":1000000,"budget_usd":10,"budget_period":"monthly"`) + `,"metadata":{"cc":"42"}}`,
			wantOut: "Created team team_ops.\n\n" +
				"ID:       team_ops\n" +
				"Name:     Ops\n" +
				"Limits:   rpm 600, tpm 1,000,000, budget $10.00/monthly\n" +
				"Metadata: cc=42\n" +
				"Created:  2025-05-01T00:00:00Z\n" +
				"Updated:  2025-05-02T00:00:00Z\n",
		},
		{
			name:   "teams create without limits",
			args:   []string{"teams", "create", "--name", "Research"},
			status: http.StatusCreated, resp: teamBare,
			wantMethod: "POST", wantPath: "/ai_gateway/teams",
			wantBody:    `{"name":"Research"}`,
			wantContain: []string{"Created team team_x.", "Limits:  none"},
		},
		{
			name:   "teams create --json",
			args:   []string{"teams", "create", "--name", "Research", "--json"},
			status: http.StatusCreated, resp: teamBare,
			wantMethod: "POST", wantPath: "/ai_gateway/teams",
			wantBody: `{"name":"Research"}`,
			wantOut: "{\n  \"id\": \"team_x\",\n  \"name\": \"Research\",\n  \"limits\": {},\n" +
				"  \"created_at\": \"2025-05-03T08:00:00Z\",\n  \"updated_at\": \"2025-05-03T08:00:00Z\"\n}\n",
		},
		{
			name:          "teams create without name",
			args:          []string{"teams", "create", "--rpm", "5"},
			wantNoRequest: true,
			wantErr:       "Error: --name is required\n",
		},
		{
			name:          "teams create with negative tpm",
			args:          []string{"teams", "create", "--name", "x", "--tpm=-1"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --tpm -1: must not be negative (0 means unlimited)\n",
		},
		{
			name:          "teams create with bad meta",
			args:          []string{"teams", "create", "--name", "x", "--meta", "=v"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --meta \"=v\": want key=value\n",
		},
		{
			name:   "teams list",
			args:   []string{"teams", "list"},
			status: http.StatusOK, resp: `{"teams":[` + teamOps + `,` + teamBare + `]}`,
			wantMethod: "GET", wantPath: "/ai_gateway/teams",
			wantOut: "" +
				"ID        NAME      BUDGET          SPENT    RPM  TPM        CREATED\n" +
				"team_ops  Ops       $10.00/monthly  $2.5000  600  1,000,000  2025-05-01 00:00\n" +
				"team_x    Research  -               -        -    -          2025-05-03 08:00\n",
		},
		{
			name:   "teams list empty",
			args:   []string{"teams", "ls"},
			status: http.StatusOK, resp: `{"teams":[]}`,
			wantMethod: "GET", wantPath: "/ai_gateway/teams",
			wantOut: "No teams.\n",
		},
		{
			name:   "teams list --json",
			args:   []string{"teams", "list", "--json"},
			status: http.StatusOK, resp: `{"teams":[]}`,
			wantMethod: "GET", wantPath: "/ai_gateway/teams",
			wantOut: "{\n  \"teams\": []\n}\n",
		},
		{
			name:   "teams show",
			args:   []string{"teams", "show", "team_ops"},
			status: http.StatusOK, resp: teamOps,
			wantMethod: "GET", wantPath: "/ai_gateway/teams/team_ops",
			wantOut: "" +
				"ID:       team_ops\n" +
				"Name:     Ops\n" +
				"Limits:   rpm 600, tpm 1,000,000, budget $10.00/monthly\n" +
				"Spend:    $2.5000 spent, $0.1250 reserved, 5,000 tokens since 2025-06-01T00:00:00Z\n" +
				"Metadata: cc=42\n" +
				"Created:  2025-05-01T00:00:00Z\n" +
				"Updated:  2025-05-02T00:00:00Z\n",
		},
		{
			name:   "teams show escapes the ID",
			args:   []string{"teams", "show", "a/b"},
			status: http.StatusNotFound, resp: `{"error":"team not found"}`,
			wantMethod: "GET", wantPath: "/ai_gateway/teams/a%2Fb",
			wantErr: "Error: team not found (HTTP 404)\n",
		},
		{
			name:   "teams update name only sends no GET",
			args:   []string{"teams", "update", "team_ops", "--name", "Operations"},
			status: http.StatusOK, resp: teamOps,
			wantMethod: "PATCH", wantPath: "/ai_gateway/teams/team_ops",
			wantBody:    `{"name":"Operations"}`,
			wantContain: []string{"Updated team team_ops.\n\nID:       team_ops\n"},
		},
		{
			name:          "teams update without fields",
			args:          []string{"teams", "update", "team_ops"},
			wantNoRequest: true,
			wantErr:       "Error: " + errNothingToUpdateTeam.Error() + "\n",
		},
		{
			name:          "teams update with empty name",
			args:          []string{"teams", "update", "team_ops", "--name", ""},
			wantNoRequest: true,
			wantErr:       "Error: invalid --name: a team needs a name\n",
		},
		{
			name:          "teams update with bad budget sends nothing",
			args:          []string{"teams", "update", "team_ops", "--budget-usd=-10"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --budget-usd -10: must be a non-negative amount (0 means unlimited)\n",
		},
		{
			name:   "teams delete",
			args:   []string{"teams", "delete", "team_x"},
			status: http.StatusOK, resp: `{"deleted":true}`,
			wantMethod: "DELETE", wantPath: "/ai_gateway/teams/team_x",
			wantOut: "Deleted team team_x.\n",
		},
		{
			name:   "teams delete while keys belong to it",
			args:   []string{"teams", "rm", "team_ops"},
			status: http.StatusBadRequest, resp: `{"error":"team team_ops still has 2 keys"}`,
			wantMethod: "DELETE", wantPath: "/ai_gateway/teams/team_ops",
			wantErr: "Error: team team_ops still has 2 keys (HTTP 400)\n",
		},
		{
			name:   "teams delete --json",
			args:   []string{"teams", "delete", "team_x", "--json"},
			status: http.StatusOK, resp: `{"deleted":true}`,
			wantMethod: "DELETE", wantPath: "/ai_gateway/teams/team_x",
			wantOut: "{\n  \"deleted\": true\n}\n",
		},
		{
			name:   "usage by team with cost",
			args:   []string{"usage", "--team", "team_ops", "--group-by", "team"},
			status: http.StatusOK, resp: `{"group_by":"team","groups":[
				{"group":"team_ops","requests":10,"errors":1,"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,"cost_usd":1234.56789},
				{"group":"","requests":2,"errors":0,"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"cost_usd":0.00004}],
				"total":{"group":"total","requests":12,"errors":1,"prompt_tokens":1010,"completion_tokens":505,"total_tokens":1515,"cost_usd":1234.56793}}`,
			wantMethod: "GET", wantPath: "/ai_gateway/usage", wantQuery: "group_by=team&team_id=team_ops",
			wantOut: "" +
				"TEAM      REQUESTS  ERRORS  PROMPT TOKENS  COMPLETION TOKENS  TOTAL TOKENS         COST\n" +
				"team_ops        10       1          1,000                500         1,500  $1,234.5679\n" +
				"-                2       0             10                  5            15     $0.00004\n" +
				"TOTAL           12       1          1,010                505         1,515  $1,234.5679\n",
		},
		{
			name:   "audit list",
			args:   []string{"audit", "list", "--since", "40", "--limit", "3"},
			status: http.StatusOK, resp: auditResp,
			wantMethod: "GET", wantPath: "/ai_gateway/audit", wantQuery: "limit=3&since=40",
			wantOut: "" +
				"SEQ  TIME                 ACTION            TARGET    ACTOR/REMOTE       HASH\n" +
				"41   2025-06-01 10:00:00  key.create        k5        admin (127.0.0.1)  0123456789ab\n" +
				"42   2025-06-01 11:00:00  auth.revoked_key  k2        203.0.113.9        fedcba987654\n" +
				"43   2025-06-01 11:30:00  budget.exhausted  team_ops  -                  0123456789ab\n",
		},
		{
			name:   "audit list with defaults",
			args:   []string{"audit", "ls", "--since", "0"},
			status: http.StatusOK, resp: `{"entries":[],"head":{"seq":0,"hash":"","time":"0001-01-01T00:00:00Z"}}`,
			wantMethod: "GET", wantPath: "/ai_gateway/audit", wantQuery: "since=0",
			wantOut: "No audit entries.\n",
		},
		{
			name:   "audit list --json",
			args:   []string{"audit", "list", "--json"},
			status: http.StatusOK, resp: `{"entries":[],"head":{"seq":0,"hash":""}}`,
			wantMethod: "GET", wantPath: "/ai_gateway/audit",
			wantOut: "{\n  \"entries\": [],\n  \"head\": {\n    \"seq\": 0,\n    \"hash\": \"\"\n  }\n}\n",
		},
		{
			name:          "audit list with zero limit",
			args:          []string{"audit", "list", "--limit", "0"},
			wantNoRequest: true,
			wantErr:       "Error: invalid --limit 0: must be positive\n",
		},
		{
			name:   "audit verify OK",
			args:   []string{"audit", "verify"},
			status: http.StatusOK, resp: verifyOK,
			wantMethod: "GET", wantPath: "/ai_gateway/audit/verify",
			wantOut: "audit chain OK: 43 entries, head 43 " + hash1 + "\n",
		},
		{
			name:   "audit verify broken exits with an error",
			args:   []string{"audit", "verify"},
			status: http.StatusOK, resp: verifyBroken,
			wantMethod: "GET", wantPath: "/ai_gateway/audit/verify",
			wantErr: "audit chain BROKEN at entry 17: hash mismatch: entry was edited\n",
		},
		{
			name:   "audit verify server error",
			args:   []string{"audit", "verify"},
			status: http.StatusNotImplemented, resp: `{"error":"this store has no governance support"}`,
			wantMethod: "GET", wantPath: "/ai_gateway/audit/verify",
			wantErr: "Error: this store has no governance support (HTTP 501)\n",
		},
		{
			name:   "audit verify --json OK",
			args:   []string{"audit", "verify", "--json"},
			status: http.StatusOK, resp: `{"ok":true,"entries":0,"head":{"seq":0,"hash":""}}`,
			wantMethod: "GET", wantPath: "/ai_gateway/audit/verify",
			wantOut: "{\n  \"ok\": true,\n  \"entries\": 0,\n  \"head\": {\n    \"seq\": 0,\n    \"hash\": \"\"\n  }\n}\n",
		},
		{
			name:   "audit head",
			args:   []string{"audit", "head"},
			status: http.StatusOK, resp: `{"seq":43,"hash":"` + hash1 + `","time":"2025-06-01T11:30:00Z"}`,
			wantMethod: "GET", wantPath: "/ai_gateway/audit/head",
			wantOut: "Seq:  43\nHash: " + hash1 + "\nTime: 2025-06-01T11:30:00Z\n",
		},
		{
			name:   "audit head --json",
			args:   []string{"audit", "head", "--json"},
			status: http.StatusOK, resp: `{"seq":43,"hash":"` + hash1 + `","time":"2025-06-01T11:30:00Z"}`,
			wantMethod: "GET", wantPath: "/ai_gateway/audit/head",
			wantOut: "{\n  \"seq\": 43,\n  \"hash\": \"" + hash1 + "\",\n  \"time\": \"2025-06-01T11:30:00Z\"\n}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeAdmin(t, tt.status, tt.resp)
			stdout, stderr, err := runCLI(srv.URL, tt.args...)

			if tt.wantErr != "" {
				if err == nil {
					t.Errorf("command succeeded, want failure")
				}
				if stderr != tt.wantErr {
					t.Errorf("stderr = %q, want %q", stderr, tt.wantErr)
				}
			} else if err != nil || stderr != "" {
				t.Errorf("command failed: %v; stderr %q", err, stderr)
			}

			reqs := srv.requests()
			if tt.wantNoRequest {
				if len(reqs) != 0 {
					t.Errorf("made %d requests, want none", len(reqs))
				}
			} else {
				if len(reqs) != 1 {
					t.Fatalf("made %d requests, want 1", len(reqs))
				}
				r := reqs[0]
				if r.Method != tt.wantMethod || r.Path != tt.wantPath || r.RawQuery != tt.wantQuery {
					t.Errorf("request = %s %s?%s, want %s %s?%s", r.Method, r.Path, r.RawQuery, tt.wantMethod, tt.wantPath, tt.wantQuery)
				}
				if r.Origin != srv.URL {
					t.Errorf("Origin = %q, want %q", r.Origin, srv.URL)
				}
				if tt.wantBody == "" {
					if len(r.Body) != 0 {
						t.Errorf("request body = %s, want none", r.Body)
					}
				} else {
					if !jsonEqual(t, r.Body, []byte(tt.wantBody)) {
						t.Errorf("request body = %s, want %s", r.Body, tt.wantBody)
					}
					if r.ContentType != "application/json" {
						t.Errorf("Content-Type = %q", r.ContentType)
					}
				}
			}

			if tt.wantErr != "" && stdout != "" {
				t.Errorf("stdout = %q, want nothing on failure", stdout)
			}
			if tt.wantOut != "" && stdout != tt.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.wantOut)
			}
			for _, s := range tt.wantContain {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout does not contain %q:\n%s", s, stdout)
				}
			}
		})
	}
}

func TestCobraArgErrors(t *testing.T) {
	srv := newFakeAdmin(t, http.StatusOK, `{}`)
	for _, args := range [][]string{
		{"keys", "show"},
		{"keys", "revoke", "a", "b"},
		{"keys", "update", "k1", "--expires", "1h", "--no-expiry"},
		{"keys", "create", "--bogus"},
		{"keys", "update", "k1", "--team", "t", "--no-team"},
		{"keys", "create", "--rpm", "many"},
		{"keys", "create", "--budget-usd", "ten"},
		{"teams", "show"},
		{"teams", "delete", "a", "b"},
		{"audit", "list", "--since", "-1"},
		{"audit", "verify", "extra"},
		{"backup", "extra"},
	} {
		if _, _, err := runCLI(srv.URL, args...); err == nil {
			t.Errorf("%v: succeeded, want error", args)
		}
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("made %d requests, want none", n)
	}
}

func TestConnectionError(t *testing.T) {
	srv := newFakeAdmin(t, http.StatusOK, `{}`)
	addr := srv.Listener.Addr().String()
	srv.Close()
	_, stderr, err := runCLI(addr, "keys", "list")
	if err == nil || !strings.HasPrefix(stderr, "Error: contacting admin API at "+addr+": ") {
		t.Errorf("err = %v, stderr = %q", err, stderr)
	}
	// Nothing listens: the likely cause and the address tried are named.
	if !strings.Contains(stderr, "is Caddy running? (admin address "+addr) {
		t.Errorf("stderr = %q, want the hint that Caddy may not be running at %s", stderr, addr)
	}
	// A unix socket that does not exist is a dial error too.
	sock := "unix/" + filepath.Join(t.TempDir(), "admin.sock")
	if _, stderr, err := runCLI(sock, "keys", "show", "key_x"); err == nil || !strings.Contains(stderr, "is Caddy running? (admin address "+sock) {
		t.Errorf("unix socket: err = %v, stderr = %q", err, stderr)
	}
}

func TestHostPortAddress(t *testing.T) {
	srv := newFakeAdmin(t, http.StatusOK, `{"keys":[]}`)
	addr := srv.Listener.Addr().String() // host:port, no scheme
	stdout, _, err := runCLI(addr, "keys", "list")
	if err != nil || stdout != "No keys.\n" {
		t.Fatalf("err = %v, stdout = %q", err, stdout)
	}
	if got := srv.requests()[0].Origin; got != "http://"+addr {
		t.Errorf("Origin = %q", got)
	}
}

func TestUnixSocketAddress(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("unix sockets unavailable: %v", err)
	}
	f := &fakeAdmin{status: http.StatusOK, body: `{"keys":[]}`}
	f.Server = httptest.NewUnstartedServer(f)
	f.Listener.Close()
	f.Listener = ln
	f.Start()
	t.Cleanup(f.Close)

	stdout, stderr, err := runCLI("unix/"+sock+"|0220", "keys", "list")
	if err != nil || stdout != "No keys.\n" {
		t.Fatalf("err = %v, stdout = %q, stderr = %q", err, stdout, stderr)
	}
	r := f.requests()[0]
	if r.Path != "/ai_gateway/keys" || r.Origin != "" {
		t.Errorf("request = %+v", r)
	}
}

func TestNewClientAddress(t *testing.T) {
	tests := []struct {
		addr, wantBase, wantOrigin, wantErr string
	}{
		{addr: "", wantBase: "http://localhost:2019", wantOrigin: "http://localhost:2019"},
		{addr: "localhost:2019", wantBase: "http://localhost:2019", wantOrigin: "http://localhost:2019"},
		{addr: "127.0.0.1", wantBase: "http://127.0.0.1:2019", wantOrigin: "http://127.0.0.1:2019"},
		{addr: "tcp/[::1]:2020", wantBase: "http://[::1]:2020", wantOrigin: "http://[::1]:2020"},
		{addr: "http://localhost:2019/", wantBase: "http://localhost:2019", wantOrigin: "http://localhost:2019"},
		{addr: "https://admin.example.com/caddy/", wantBase: "https://admin.example.com/caddy", wantOrigin: "https://admin.example.com"},
		{addr: "unix//run/caddy.sock", wantBase: "http://127.0.0.1"},
		{addr: "localhost:2019-2020", wantErr: "port ranges are not allowed"},
		{addr: "localhost:http", wantErr: "invalid admin address"},
		{addr: "fd/3", wantErr: "file descriptor"},
		{addr: "http://", wantErr: "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c, err := newClient(tt.addr, io.Discard, false, nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.base != tt.wantBase || c.origin != tt.wantOrigin {
				t.Errorf("base, origin = %q, %q; want %q, %q", c.base, c.origin, tt.wantBase, tt.wantOrigin)
			}
		})
	}
}

func TestParseExpires(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "720h", want: testNow.Add(720 * time.Hour)},
		{in: "90m", want: testNow.Add(90 * time.Minute)},
		{in: "1h30m", want: testNow.Add(90 * time.Minute)},
		{in: "30d", want: testNow.AddDate(0, 0, 30)},
		{in: " 7d ", want: testNow.AddDate(0, 0, 7)},
		{in: "2025-07-01T00:00:00Z", want: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2025-07-01T02:00:00+02:00", want: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2025-07-01T00:00:00.5Z", want: time.Date(2025, 7, 1, 0, 0, 0, 5e8, time.UTC)},
		{in: "", wantErr: "empty value"},
		{in: "0s", wantErr: "must be positive"},
		{in: "-1h", wantErr: "must be positive"},
		{in: "-3d", wantErr: "want an RFC 3339 time"},
		{in: "d", wantErr: "want an RFC 3339 time"},
		{in: "99999999999999d", wantErr: "want an RFC 3339 time"},
		{in: "2025-07-01", wantErr: "want an RFC 3339 time"},
		{in: "2025-05-31T00:00:00Z", wantErr: "in the past"},
		{in: "next week", wantErr: "want an RFC 3339 time"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseExpires(tt.in, testNow)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseExpires(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseExpires(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("parseExpires(%q) = %v, want %v in UTC", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	got, err := parseMetadata([]string{"a=1", "b=", " c =x=y", "a=2"})
	want := map[string]string{"a": "2", "b": "", "c": "x=y"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"=v", "novalue", " =v"} {
		if _, err := parseMetadata([]string{bad}); err == nil {
			t.Errorf("parseMetadata(%q) succeeded", bad)
		}
	}
	if got, err := parseMetadata(nil); got != nil || err != nil {
		t.Errorf("parseMetadata(nil) = %v, %v", got, err)
	}
}

func TestHelpers(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := commaInt(n); got != want {
			t.Errorf("commaInt(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		10 * time.Second:               "less than a minute",
		90 * time.Minute:               "1h 30m",
		24 * time.Hour:                 "1d",
		50*time.Hour + 29*time.Second:  "2d 2h",
		-time.Hour:                     "less than a minute",
		3*24*time.Hour + 5*time.Minute: "3d 5m",
		23*time.Hour + 59*time.Minute + 31*time.Second: "1d",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestRegistered(t *testing.T) {
	cmd, ok := caddycmd.Commands()["ai-gateway"]
	if !ok {
		t.Fatal("ai-gateway command not registered")
	}
	root := &cobra.Command{Use: "ai-gateway"}
	cmd.CobraFunc(root)
	for _, path := range [][]string{
		{"keys", "create"}, {"keys", "list"}, {"keys", "show"}, {"keys", "update"},
		{"keys", "revoke"}, {"keys", "rotate"}, {"usage"},
		{"teams", "create"}, {"teams", "list"}, {"teams", "show"}, {"teams", "update"}, {"teams", "delete"},
		{"audit", "list"}, {"audit", "verify"}, {"audit", "head"}, {"backup"},
	} {
		if c, _, err := root.Find(path); err != nil || c.Name() != path[len(path)-1] {
			t.Errorf("subcommand %v not found: %v", path, err)
		}
	}
}

// wantRequest is one request a command is expected to make.
type wantRequest struct {
	method, path string
	body         string // JSON; empty means no body
}

// checkRequests compares the requests the fake saw with want, in order.
func checkRequests(t *testing.T, srv *fakeAdmin, want []wantRequest) {
	t.Helper()
	reqs := srv.requests()
	if len(reqs) != len(want) {
		t.Fatalf("made %d requests %+v, want %d", len(reqs), reqs, len(want))
	}
	for i, w := range want {
		r := reqs[i]
		if r.Method != w.method || r.Path != w.path {
			t.Errorf("request %d = %s %s, want %s %s", i, r.Method, r.Path, w.method, w.path)
		}
		if w.body == "" {
			if len(r.Body) != 0 {
				t.Errorf("request %d body = %s, want none", i, r.Body)
			}
		} else if !jsonEqual(t, r.Body, []byte(w.body)) {
			t.Errorf("request %d body = %s\nwant %s", i, r.Body, w.body)
		}
	}
}

// TestUpdateMergesLimits checks that updating some limits reads the current
// ones first and sends the whole object with only the given ones changed.
func TestUpdateMergesLimits(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		routes  map[string]reply
		want    []wantRequest
		wantOut string
		wantErr string
	}{
		{
			name: "key limits keep the ones not given",
			args: []string{"keys", "update", "k5", "--rpm", "100", "--budget-period", "monthly", "--token-quota", "0"},
			routes: map[string]reply{
				"GET /ai_gateway/keys/k5":   {http.StatusOK, keyGoverned},
				"PATCH /ai_gateway/keys/k5": {http.StatusOK, keyGoverned},
			},
			want: []wantRequest{
				{method: "GET", path: "/ai_gateway/keys/k5"},
				{method: "PATCH", path: "/ai_gateway/keys/k5", body: `{"limits":` + limitsJSON(`"rpm":100,"tpm":100000,"max_parallel":4,
					"max_tokens":4096,"token_quota":0,"token_quota_period":"monthly","budget_usd":25,"budget_period":"monthly"`) + `}`},
			},
		},
		{
			name: "key limits with other fields",
			args: []string{"keys", "update", "k1", "--name", "n", "--no-team", "--max-tokens", "512"},
			routes: map[string]reply{
				"GET /ai_gateway/keys/k1":   {http.StatusOK, keyActive}, // no limits yet
				"PATCH /ai_gateway/keys/k1": {http.StatusOK, keyActive},
			},
			want: []wantRequest{
				{method: "GET", path: "/ai_gateway/keys/k1"},
				{method: "PATCH", path: "/ai_gateway/keys/k1", body: `{"name":"n","team":"","limits":` + limitsJSON(`"max_tokens":512`) + `}`},
			},
		},
		{
			name: "key limits --json prints only the PATCH response",
			args: []string{"keys", "update", "k2", "--rpm", "1", "--json"},
			routes: map[string]reply{
				"GET /ai_gateway/keys/k2":   {http.StatusOK, keyGoverned},
				"PATCH /ai_gateway/keys/k2": {http.StatusOK, `{"id":"k2","limits":{"rpm":1}}`},
			},
			want: []wantRequest{
				{method: "GET", path: "/ai_gateway/keys/k2"},
				{method: "PATCH", path: "/ai_gateway/keys/k2", body: `{"limits":` + limitsJSON(`"rpm":1,"tpm":100000,"max_parallel":4,
					"max_tokens":4096,"token_quota":1000000,"token_quota_period":"monthly","budget_usd":25,"budget_period":"weekly"`) + `}`},
			},
			wantOut: "{\n  \"id\": \"k2\",\n  \"limits\": {\n    \"rpm\": 1\n  }\n}\n",
		},
		{
			name: "key not found stops before the PATCH",
			args: []string{"keys", "update", "nope", "--rpm", "1"},
			routes: map[string]reply{
				"GET /ai_gateway/keys/nope": {http.StatusNotFound, `{"error":"key not found"}`},
			},
			want:    []wantRequest{{method: "GET", path: "/ai_gateway/keys/nope"}},
			wantErr: "Error: key not found (HTTP 404)\n",
		},
		{
			name: "team limits keep the ones not given",
			args: []string{"teams", "update", "team_ops", "--name", "Operations", "--budget-usd", "12.5", "--tpm", "0"},
			routes: map[string]reply{
				"GET /ai_gateway/teams/team_ops":   {http.StatusOK, teamOps},
				"PATCH /ai_gateway/teams/team_ops": {http.StatusOK, teamOps},
			},
			want: []wantRequest{
				{method: "GET", path: "/ai_gateway/teams/team_ops"},
				{method: "PATCH", path: "/ai_gateway/teams/team_ops", body: `{"name":"Operations","limits":` +
					limitsJSON(`"rpm":600,"budget_usd":12.5,"budget_period":"monthly"`) + `}`},
			},
			wantOut: "Updated team team_ops.\n\n" +
				"ID:       team_ops\n" +
				"Name:     Ops\n" +
				"Limits:   rpm 600, tpm 1,000,000, budget $10.00/monthly\n" +
				"Spend:    $2.5000 spent, $0.1250 reserved, 5,000 tokens since 2025-06-01T00:00:00Z\n" +
				"Metadata: cc=42\n" +
				"Created:  2025-05-01T00:00:00Z\n" +
				"Updated:  2025-05-02T00:00:00Z\n",
		},
		{
			name: "team PATCH refused",
			args: []string{"teams", "update", "team_x", "--quota-period", "daily"},
			routes: map[string]reply{
				"GET /ai_gateway/teams/team_x":   {http.StatusOK, teamBare},
				"PATCH /ai_gateway/teams/team_x": {http.StatusBadRequest, `{"error":"invalid limits"}`},
			},
			want: []wantRequest{
				{method: "GET", path: "/ai_gateway/teams/team_x"},
				{method: "PATCH", path: "/ai_gateway/teams/team_x", body: `{"limits":` + limitsJSON(`"token_quota_period":"daily"`) + `}`},
			},
			wantErr: "Error: invalid limits (HTTP 400)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeAdmin(t, http.StatusTeapot, `{"error":"unexpected request"}`)
			srv.routes = tt.routes
			stdout, stderr, err := runCLI(srv.URL, tt.args...)
			if tt.wantErr != "" {
				if err == nil || stderr != tt.wantErr || stdout != "" {
					t.Errorf("err = %v, stderr = %q, stdout = %q; want stderr %q", err, stderr, stdout, tt.wantErr)
				}
			} else if err != nil || stderr != "" {
				t.Errorf("command failed: %v; stderr %q", err, stderr)
			}
			if tt.wantOut != "" && stdout != tt.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.wantOut)
			}
			checkRequests(t, srv, tt.want)
		})
	}
}

func TestAuditVerifyBrokenJSON(t *testing.T) {
	srv := newFakeAdmin(t, http.StatusOK, `{"ok":false,"entries":3,"broken_at":2}`)
	stdout, stderr, err := runCLI(srv.URL, "audit", "verify", "--json")
	if err == nil {
		t.Error("command succeeded on a broken chain, want failure (exit status 1)")
	}
	if want := "{\n  \"ok\": false,\n  \"entries\": 3,\n  \"broken_at\": 2\n}\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if want := "audit chain BROKEN at entry 2: no reason given\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}

// backupBody stands in for Badger's binary backup format.
const backupBody = "\x00\x01BADGER\xff\xfe backup body \x00"

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "gw.bak")

	srv := newFakeAdmin(t, http.StatusOK, backupBody)
	stdout, stderr, err := runCLI(srv.URL, "backup", "--output", out)
	if err != nil || stderr != "" {
		t.Fatalf("backup failed: %v; stderr %q", err, stderr)
	}
	if want := "Wrote backup of 24 bytes to " + out + ".\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	checkRequests(t, srv, []wantRequest{{method: "GET", path: "/ai_gateway/backup"}})
	if got, _ := os.ReadFile(out); string(got) != backupBody {
		t.Errorf("file holds %q, want %q", got, backupBody)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, %v; want 0600", fi.Mode(), err)
	}

	// An existing file is kept, and nothing is requested.
	srv2 := newFakeAdmin(t, http.StatusOK, "other")
	stdout, stderr, err = runCLI(srv2.URL, "backup", "--output", out)
	if err == nil || stdout != "" || stderr != "Error: "+out+" already exists; use --force to overwrite it\n" {
		t.Errorf("overwrite without --force: err = %v, stdout = %q, stderr = %q", err, stdout, stderr)
	}
	checkRequests(t, srv2, nil)
	if got, _ := os.ReadFile(out); string(got) != backupBody {
		t.Errorf("file changed to %q", got)
	}

	// --force replaces it; --json reports the file and size.
	stdout, stderr, err = runCLI(srv2.URL, "backup", "-o", out, "--force", "--json")
	if err != nil || stderr != "" {
		t.Fatalf("backup --force failed: %v; stderr %q", err, stderr)
	}
	if !jsonEqual(t, []byte(stdout), []byte(`{"output":`+strconv.Quote(out)+`,"bytes":5}`)) {
		t.Errorf("stdout = %q", stdout)
	}
	if got, _ := os.ReadFile(out); string(got) != "other" {
		t.Errorf("file holds %q after --force, want %q", got, "other")
	}
	assertOnlyFiles(t, dir, "gw.bak")
}

func TestBackupFailureLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "gw.bak")
	srv := newFakeAdmin(t, http.StatusServiceUnavailable, `{"error":"the ai_gateway app is not running"}`)
	stdout, stderr, err := runCLI(srv.URL, "backup", "--output", out)
	if err == nil || stdout != "" || stderr != "Error: the ai_gateway app is not running (HTTP 503)\n" {
		t.Errorf("err = %v, stdout = %q, stderr = %q", err, stdout, stderr)
	}
	assertOnlyFiles(t, dir)

	// With --force, a failed backup keeps the file it would replace.
	if err := os.WriteFile(out, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(srv.URL, "backup", "--output", out, "--force"); err == nil {
		t.Error("backup succeeded, want failure")
	}
	if got, _ := os.ReadFile(out); string(got) != "old" {
		t.Errorf("file holds %q, want the old backup kept", got)
	}
	assertOnlyFiles(t, dir, "gw.bak")
}

func TestBackupCutShort(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "gw.bak")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "partial")
	}))
	t.Cleanup(srv.Close)
	_, stderr, err := runCLI(srv.URL, "backup", "--output", out)
	if err == nil || !strings.HasPrefix(stderr, "Error: ") {
		t.Errorf("err = %v, stderr = %q; want a failure", err, stderr)
	}
	assertOnlyFiles(t, dir)
}

func TestBackupValidation(t *testing.T) {
	srv := newFakeAdmin(t, http.StatusOK, backupBody)
	_, stderr, err := runCLI(srv.URL, "backup")
	if err == nil || stderr != "Error: --output is required\n" {
		t.Errorf("err = %v, stderr = %q", err, stderr)
	}
	_, _, err = runCLI(srv.URL, "backup", "--output", t.TempDir(), "--force")
	if err == nil {
		t.Error("backup over a directory succeeded")
	}
	checkRequests(t, srv, nil)
}

// assertOnlyFiles checks that dir holds exactly the named files (no
// leftover temporary files).
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names) || (len(names) > 0 && !reflect.DeepEqual(got, names)) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func TestLimitHelpers(t *testing.T) {
	for _, tt := range []struct {
		v        float64
		decimals int
		want     string
	}{
		{0, 4, "$0.0000"}, {1234.56789, 4, "$1,234.5679"}, {0.00004, 4, "$0.0000"},
		{10, 2, "$10.00"}, {-2.5, 2, "-$2.50"}, {1e6, 2, "$1,000,000.00"},
	} {
		if got := usdText(tt.v, tt.decimals); got != tt.want {
			t.Errorf("usdText(%v, %d) = %q, want %q", tt.v, tt.decimals, got, tt.want)
		}
	}
	// Costs below $0.0001 show their significant digits, not $0.0000.
	for v, want := range map[float64]string{
		0: "$0.0000", 0.000003: "$0.000003", 0.00004: "$0.00004", 0.0000123: "$0.000012", -0.000003: "-$0.000003",
		0.0001: "$0.0001", 6.54321: "$6.5432", 1234.56789: "$1,234.5679", 0.0000001: "$0.0000",
	} {
		if got := costText(v); got != want {
			t.Errorf("costText(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{
		10: "$10.00", 0.5: "$0.50", 0.005: "$0.005", 1234.123456789: "$1,234.123457", 0.1 + 0.2: "$0.30",
	} {
		if got := budgetUSDText(v); got != want {
			t.Errorf("budgetUSDText(%v) = %q, want %q", v, got, want)
		}
	}
	for l, want := range map[limits]string{
		{}:                            "none",
		{RPM: 5, TokenQuota: 1000}:    "rpm 5, token-quota 1,000/lifetime",
		{BudgetUSD: 1, MaxTokens: 10}: "max-tokens 10, budget $1.00/lifetime",
		{MaxParallel: 2, TPM: 3}:      "tpm 3, max-parallel 2",
	} {
		if got := limitsText(l); got != want {
			t.Errorf("limitsText(%+v) = %q, want %q", l, got, want)
		}
	}
	for in, want := range map[string]string{"daily": "daily", " Weekly ": "weekly", "MONTHLY": "monthly", "": "", "none": "", "lifetime": ""} {
		if got, err := parsePeriod("budget-period", in); err != nil || got != want {
			t.Errorf("parsePeriod(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parsePeriod("budget-period", "yearly"); err == nil {
		t.Error("parsePeriod(yearly) succeeded")
	}
	if got := actorText("", ""); got != "" {
		t.Errorf("actorText = %q", got)
	}
	if got := shortHash("abc"); got != "abc" {
		t.Errorf("shortHash = %q", got)
	}
}

// TestKeysCheck runs `keys check` against canned answers: it sends the key
// in the body only, prints the verdict without the key, and fails when
// the key would be refused.
func TestKeysCheck(t *testing.T) {
	const secret = "aigw_0000000000000000000000000000000000000000000abcdef"
	for _, tt := range []struct {
		name     string
		args     []string
		stdin    string
		resp     string
		wantBody string
		wantOut  string
		wantErr  string
	}{
		{
			name: "revoked", args: []string{"keys", "check", secret},
			resp:     `{"verdict":"revoked","message":"revoked at 2025-05-20T08:00:00Z by the change in audit entry 7","key_id":"k2","revoked_by":{"seq":7,"time":"2025-05-20T08:00:00Z"}}`,
			wantBody: `{"key":"` + secret + `"}`,
			wantOut:  "Verdict: revoked\nKey:     k2\nWhy:     revoked at 2025-05-20T08:00:00Z by the change in audit entry 7\n",
			wantErr:  "the gateway refuses this key: revoked\n",
		},
		{
			name: "ok with a model, key from stdin", args: []string{"keys", "check", "-", "--model", "gpt-4o"}, stdin: "  " + secret + "\n",
			resp:     `{"verdict":"ok","message":"the gateway accepts this key","key_id":"k1","name":"ci-bot","team":"team_ops"}`,
			wantBody: `{"key":"` + secret + `","model":"gpt-4o"}`,
			wantOut:  "Verdict: ok\nKey:     k1\nName:    ci-bot\nTeam:    team_ops\nWhy:     the gateway accepts this key\n",
		},
		{
			name: "bad checksum", args: []string{"keys", "check", secret},
			resp:     `{"verdict":"bad_checksum","message":"the key's checksum does not match"}`,
			wantBody: `{"key":"` + secret + `"}`,
			wantOut:  "Verdict: bad_checksum\nWhy:     the key's checksum does not match\n",
			wantErr:  "the gateway refuses this key: bad_checksum\n",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeAdmin(t, http.StatusOK, tt.resp)
			root := &cobra.Command{Use: "ai-gateway", SilenceUsage: true}
			setupCommand(root, env{now: func() time.Time { return testNow }, loc: time.UTC})
			root.SetArgs(append(tt.args, "--address", srv.URL))
			var out, errOut bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&errOut)
			root.SetIn(strings.NewReader(tt.stdin))
			err := root.Execute()
			if (err != nil) != (tt.wantErr != "") || errOut.String() != tt.wantErr {
				t.Errorf("err = %v, stderr = %q, want %q", err, errOut.String(), tt.wantErr)
			}
			if out.String() != tt.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), tt.wantOut)
			}
			if strings.Contains(out.String()+errOut.String(), secret[5:20]) {
				t.Errorf("the key was printed")
			}
			reqs := srv.requests()
			if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/ai_gateway/keys/check" || reqs[0].RawQuery != "" ||
				!jsonEqual(t, reqs[0].Body, []byte(tt.wantBody)) {
				t.Fatalf("requests = %+v", reqs)
			}
		})
	}
}
