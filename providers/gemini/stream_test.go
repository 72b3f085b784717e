package gemini

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func TestStreamGolden(t *testing.T) {
	for _, f := range inputs(t, "stream", ".sse") {
		t.Run(f, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := newTestStream(raw)
			evs := drain(t, s, 1000)
			var lines [][]byte
			for _, ev := range evs {
				lines = append(lines, eventJSON(ev))
			}
			checkGoldenLines(t, strings.TrimSuffix(f, ".sse")+".golden.jsonl", lines)
			checkOrder(t, evs)
			if _, err := s.Next(); err != io.EOF {
				t.Errorf("Next after the end = %v, want io.EOF", err)
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			if err := s.Close(); err != nil {
				t.Error("second Close:", err)
			}
		})
	}
}

// checkOrder checks the contract's order: Start first (unless the stream
// failed at once), Finish per choice after its content, at most one Usage,
// an Error last.
func checkOrder(t *testing.T, evs []providers.Event) {
	t.Helper()
	finished := map[int]bool{}
	usage := 0
	for i, ev := range evs {
		if ev.Type == providers.EventStart && i != 0 {
			t.Errorf("event %d: start not first", i)
		}
		if i == 0 && ev.Type != providers.EventStart && ev.Type != providers.EventError {
			t.Errorf("first event is %v", ev.Type)
		}
		switch ev.Type {
		case providers.EventText, providers.EventToolCall, providers.EventToolArgs:
			if finished[ev.Choice] {
				t.Errorf("event %d: content after choice %d finished", i, ev.Choice)
			}
		case providers.EventFinish:
			if finished[ev.Choice] {
				t.Errorf("event %d: choice %d finished twice", i, ev.Choice)
			}
			finished[ev.Choice] = true
		case providers.EventUsage:
			usage++
		case providers.EventError:
			if i != len(evs)-1 {
				t.Errorf("event %d: error not last", i)
			}
			if ev.Err == nil {
				t.Errorf("event %d: error without Err", i)
			}
		}
	}
	if usage > 1 {
		t.Errorf("%d usage events", usage)
	}
}

// errReader fails after its data, like a reset connection.
type errReader struct{ data io.Reader }

func (r *errReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset by peer")
	}
	return n, err
}

func TestStreamReadErrorIsAnEvent(t *testing.T) {
	s := newStream(io.NopCloser(&errReader{strings.NewReader(`data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}]}` + "\n\n")}), "m", "")
	evs := drain(t, s, 10)
	if len(evs) != 3 || evs[0].Type != providers.EventStart || evs[1].Type != providers.EventText || evs[2].Type != providers.EventError {
		t.Fatalf("events = %+v", evs)
	}
	if evs[2].Err.Status != 502 {
		t.Errorf("error = %+v", evs[2].Err)
	}
}

// closeCounter counts closes of the upstream body.
type closeCounter struct {
	io.Reader
	n int
}

func (c *closeCounter) Close() error { c.n++; return nil }

func TestStreamCloseClosesBodyOnce(t *testing.T) {
	body := &closeCounter{Reader: strings.NewReader("")}
	s := newStream(body, "m", "")
	_ = s.Close()
	_ = s.Close()
	if body.n != 1 {
		t.Errorf("body closed %d times, want 1", body.n)
	}
}
