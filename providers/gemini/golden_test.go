package gemini

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func init() {
	// Pinned so that goldens are stable.
	now = func() int64 { return 1700000000 }
	newID = func() string { return "gemini-test-id" }
}

func ptr[T any](v T) *T { return &v }

// checkGolden compares got (JSON) with the golden file semantically, or
// rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		var buf bytes.Buffer
		if err := json.Indent(&buf, got, "", "  "); err != nil {
			buf.Reset()
			buf.Write(got)
		}
		buf.WriteByte('\n')
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("golden %s invalid: %v", path, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s differs:\ngot:  %s\nwant: %s", path, got, bytes.TrimSpace(want))
	}
}

// checkGoldenLines is checkGolden for JSON lines (one value per line).
func checkGoldenLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	wl := bytes.Split(bytes.TrimSpace(want), []byte("\n"))
	if len(wl) != len(lines) {
		t.Fatalf("%s: got %d events, want %d:\n%s", path, len(lines), len(wl), bytes.Join(lines, []byte("\n")))
	}
	for i := range lines {
		var g, w any
		_ = json.Unmarshal(lines[i], &g)
		_ = json.Unmarshal(wl[i], &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s event %d:\ngot:  %s\nwant: %s", path, i, lines[i], wl[i])
		}
	}
}

// inputs lists the files of a testdata folder with the given extension,
// without the golden ones.
func inputs(t testing.TB, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range m {
		if !strings.HasSuffix(f, ".golden.json") && !strings.HasSuffix(f, ".golden.jsonl") {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("no inputs in testdata/%s", dir)
	}
	return out
}

func golden(f string) string {
	return strings.TrimSuffix(f, filepath.Ext(f)) + ".golden.json"
}

// eventJSON renders an event for goldens, only the fields that matter for
// its type.
func eventJSON(ev providers.Event) []byte {
	m := map[string]any{}
	switch ev.Type {
	case providers.EventStart:
		m["type"], m["id"], m["model"], m["created"] = "start", ev.ID, ev.Model, ev.Created
	case providers.EventText:
		m["type"], m["choice"], m["text"] = "text", ev.Choice, ev.Text
	case providers.EventToolCall:
		m["type"], m["choice"], m["tool_index"], m["tool_id"], m["tool_name"] = "tool_call", ev.Choice, ev.ToolIndex, ev.ToolID, ev.ToolName
	case providers.EventToolArgs:
		m["type"], m["choice"], m["tool_index"], m["text"] = "tool_args", ev.Choice, ev.ToolIndex, ev.Text
	case providers.EventFinish:
		m["type"], m["choice"], m["finish_reason"] = "finish", ev.Choice, ev.FinishReason
	case providers.EventUsage:
		m["type"], m["usage"] = "usage", ev.Usage
	case providers.EventError:
		m["type"], m["error"] = "error", ev.Err
	}
	b, _ := json.Marshal(m)
	return b
}

// drain reads a stream to its end, failing on a hang (more events than the
// input could produce).
func drain(t testing.TB, s providers.Stream, limit int) []providers.Event {
	var evs []providers.Event
	for {
		ev, err := s.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatalf("Next: %v (streams report failures as EventError)", err)
		}
		evs = append(evs, ev)
		if len(evs) > limit {
			t.Fatalf("stream does not end: over %d events", limit)
		}
	}
}

func newTestStream(body []byte) *stream {
	return newStream(io.NopCloser(bytes.NewReader(body)), "gemini-2.5-flash", "secret-key-123")
}

// fakeResp builds an upstream answer for error tests.
func fakeResp(status int, h http.Header, body []byte) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body))}
}
