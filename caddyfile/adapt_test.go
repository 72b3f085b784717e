package caddyfile_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddy-ai-gateway/caddy-ai-gateway" // every provider
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/caddyfile"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/mock" // the quickstart's provider
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// update rewrites the expected JSON of every golden file from the adapter's
// current output: go test ./caddyfile/ -run TestCaddyfileAdapt -update
// (or AI_GATEWAY_UPDATE_GOLDEN=1). Read the diff before keeping it.
var update = flag.Bool("update", false, "rewrite the expected JSON in testdata/adapt/*.caddytest")

func updateGoldens() bool {
	return *update || os.Getenv("AI_GATEWAY_UPDATE_GOLDEN") == "1"
}

// separator splits a .caddytest file into its Caddyfile and expected JSON,
// as in Caddy's and caddy-l4's caddyfile_adapt tests.
const separator = "----------"

// TestCaddyfileAdapt adapts each testdata/adapt/*.caddytest Caddyfile and
// compares the JSON with the file's expected part. An adapter warning fails
// the test too.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "adapt", "*.caddytest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/adapt/*.caddytest files")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(data), "\r\n", "\n")
			caddyfileText, expected, ok := strings.Cut(text, separator)
			if !ok {
				t.Fatalf("%s: no %q line between the Caddyfile and the JSON", path, separator)
			}
			caddyfileText = strings.TrimSpace(caddyfileText) + "\n"
			expected = strings.TrimSpace(expected)

			_, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			for _, w := range warnings {
				t.Errorf("adapter warning: %s:%d: %s: %s", w.File, w.Line, w.Directive, w.Message)
			}

			if updateGoldens() {
				got := adaptPretty(t, caddyfileText)
				out := caddyfileText + "\n" + separator + "\n" + got + "\n"
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !caddytest.CompareAdapt(t, filepath.Base(path), caddyfileText, "caddyfile", expected) {
				t.Errorf("%s: adapted JSON differs from the golden (diff on stdout; rerun with -update to rewrite, then review)", path)
			}
		})
	}
}

// adaptPretty adapts a Caddyfile and indents the JSON the way
// caddytest.CompareAdapt does, so an updated golden compares equal.
func adaptPretty(t *testing.T, caddyfileText string) string {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
