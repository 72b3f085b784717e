package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
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

// fakeAdmin is an httptest.Server that mimics the admin API: it records
// every request and answers with a canned status and body.
type fakeAdmin struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	status int
	body   string
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
		"updated_at":"2025-05-02T10:00:00Z","expires_at":"2025-07-01T00:00:00Z"}`
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
		{"group":"gpt-4o","requests":1200,"errors":3,"prompt_tokens":1234567,"completion_tokens":89012,"total_tokens":1323579},
		{"group":"claude-3-5-sonnet","requests":7,"errors":0,"prompt_tokens":700,"completion_tokens":300,"total_tokens":1000}],
		"total":{"group":"total","requests":1207,"errors":3,"prompt_tokens":1235267,"completion_tokens":89312,"total_tokens":1324579}}`
)

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
				"Created: 2025-06-01T12:00:00Z\n" +
				"Updated: 2025-06-01T12:00:00Z\n" +
				"Expires: never\n",
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
			status: http.StatusOK, resp: `{"keys":[` + keyActive + `,` + keyRevoked + `]}`,
			wantMethod: "GET", wantPath: "/ai_gateway/keys",
			wantOut: "" +
				"ID  NAME    PREFIX          STATUS   MODELS            EXPIRES           CREATED\n" +
				"k1  ci-bot  aigw_7Gq2…wxyz  active   gpt-4o*,claude-*  2025-07-01 00:00  2025-05-01 09:30\n" +
				"k2  -       aigw_AbCd…1234  revoked  *                 never             2025-04-01 00:00\n",
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
				"Created:  2025-05-01T09:30:00Z\n" +
				"Updated:  2025-05-02T10:00:00Z\n" +
				"Expires:  2025-07-01T00:00:00Z\n",
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
				"Created:      2025-06-01T12:00:00Z\n" +
				"Updated:      2025-06-01T12:00:00Z\n" +
				"Expires:      never\n" +
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
				"MODEL              REQUESTS  ERRORS  PROMPT TOKENS  COMPLETION TOKENS  TOTAL TOKENS\n" +
				"gpt-4o                1,200       3      1,234,567             89,012     1,323,579\n" +
				"claude-3-5-sonnet         7       0            700                300         1,000\n" +
				"TOTAL                 1,207       3      1,235,267             89,312     1,324,579\n",
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
			wantErr:       "Error: invalid --group-by \"provider\": want model, key or day\n",
		},
		{
			name:          "usage reversed range",
			args:          []string{"usage", "--from", "2025-05-02", "--to", "2025-05-01"},
			wantNoRequest: true,
			wantErr:       "Error: --to 2025-05-01 is before --from 2025-05-02\n",
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
	} {
		if c, _, err := root.Find(path); err != nil || c.Name() != path[len(path)-1] {
			t.Errorf("subcommand %v not found: %v", path, err)
		}
	}
}
