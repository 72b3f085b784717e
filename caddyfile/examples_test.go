package caddyfile_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// exampleCaddyfiles returns ../examples/*/Caddyfile.
func exampleCaddyfiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "examples", "*", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples/*/Caddyfile found")
	}
	return files
}

// TestExamples adapts every examples/*/Caddyfile, failing on any error or
// adapter warning, and validates the result (provisioning every module
// without starting anything, as `caddy validate` does), so the examples
// cannot rot.
func TestExamples(t *testing.T) {
	for _, path := range exampleCaddyfiles(t) {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// A provider key the environment lacks stops a config from
			// loading; the quickstart's mock provider needs none.
			t.Setenv("OPENAI_API_KEY", "sk-test-example")
			tmp := isolateDataDir(t)
			if err := validate(t, string(data)); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			assertNotCreated(t, filepath.Join(tmp, "data", "caddy", "ai_gateway"))
		})
	}
}

// TestExampleLogFilterRedactsKeys builds the access-log encoder of each
// example with a log filter from its adapted JSON and checks that it
// redacts every header a gateway key may arrive in.
func TestExampleLogFilterRedactsKeys(t *testing.T) {
	for _, example := range []string{"ai-auth-reverse-proxy", "production"} {
		t.Run(example, func(t *testing.T) { testExampleLogFilter(t, example) })
	}
}

func testExampleLogFilter(t *testing.T, example string) {
	data, err := os.ReadFile(filepath.Join("..", "examples", example, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := adapt(t, string(data))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Logging struct {
			Logs map[string]struct {
				Encoder map[string]json.RawMessage `json:"encoder"`
			} `json:"logs"`
		} `json:"logging"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	var encRaw map[string]json.RawMessage
	for _, l := range cfg.Logging.Logs {
		if l.Encoder != nil {
			encRaw = l.Encoder
		}
	}
	if encRaw == nil {
		t.Fatalf("no log encoder in the adapted config:\n%s", out)
	}
	if got := string(encRaw["format"]); got != `"filter"` {
		t.Fatalf("encoder format = %s, want \"filter\"", got)
	}
	delete(encRaw, "format") // the module name, not a field of the module
	raw, err := json.Marshal(encRaw)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	mod, err := ctx.LoadModuleByID("caddy.logging.encoders.filter", raw)
	if err != nil {
		t.Fatalf("loading the filter encoder: %v", err)
	}
	enc, ok := mod.(zapcore.Encoder)
	if !ok {
		t.Fatalf("filter encoder is %T, not a zapcore.Encoder", mod)
	}

	const secret = "sk-gw-secret-value"
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	r.Header.Set("X-Api-Key", secret)
	r.Header.Set("Api-Key", secret)
	r.Header.Set("X-Goog-Api-Key", secret)
	r.Header.Set("User-Agent", "example-test")
	buf, err := enc.EncodeEntry(zapcore.Entry{Message: "handled request"},
		[]zapcore.Field{zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: r})})
	if err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if strings.Contains(line, secret) {
		t.Errorf("the access log line contains the key:\n%s", line)
	}
	for _, want := range []string{`"X-Api-Key":"REDACTED"`, `"Api-Key":"REDACTED"`, `"X-Goog-Api-Key":"REDACTED"`, `"User-Agent":["example-test"]`} {
		if !strings.Contains(line, want) {
			t.Errorf("the access log line lacks %s:\n%s", want, line)
		}
	}
}

// TestCaddyRedactsByDefault pins which request headers Caddy itself
// redacts in its logs, as the README's "Logs" section and the examples'
// comments say: Authorization, Proxy-Authorization, Cookie and Set-Cookie,
// and not the other headers a gateway key may arrive in, which is why the
// examples add a filter.
func TestCaddyRedactsByDefault(t *testing.T) {
	const secret = "sk-gw-secret-value"
	tests := []struct {
		header   string
		redacted bool
	}{
		{"Authorization", true},
		{"Proxy-Authorization", true},
		{"Cookie", true},
		{"Set-Cookie", true},
		{"X-Api-Key", false},
		{"Api-Key", false},
		{"X-Goog-Api-Key", false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
			r.Header.Set(tt.header, secret)
			enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
			buf, err := enc.EncodeEntry(zapcore.Entry{Message: "handled request"},
				[]zapcore.Field{zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: r})})
			if err != nil {
				t.Fatal(err)
			}
			line := buf.String()
			if got := !strings.Contains(line, secret); got != tt.redacted {
				t.Errorf("%s redacted = %v, want %v:\n%s", tt.header, got, tt.redacted, line)
			}
			if tt.redacted && !strings.Contains(line, `"`+tt.header+`":["REDACTED"]`) {
				t.Errorf("%s is not logged as [\"REDACTED\"]:\n%s", tt.header, line)
			}
		})
	}
}
