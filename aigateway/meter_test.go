package aigateway

import (
	"bytes"
	"strings"
	"testing"
)

const (
	chunkRole  = `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}`
	chunkWord  = `data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}`
	chunkUsage = `data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`
	chunkDone  = `data: [DONE]`
)

func sse(events ...string) string { return strings.Join(events, "\n\n") + "\n\n" }

// TestSSEMeter feeds streams to the meter in every split of the bytes a
// network could produce and checks what is forwarded and metered.
func TestSSEMeter(t *testing.T) {
	tests := []struct {
		name       string
		stream     string
		drop       bool
		want       string
		wantUsage  usage
		wantOK     bool
		wantDeltas int64
	}{
		{"usage kept when the client asked", sse(chunkRole, chunkWord, chunkUsage, chunkDone), false,
			sse(chunkRole, chunkWord, chunkUsage, chunkDone), usage{PromptTokens: 11, CompletionTokens: 7}, true, 3},
		{"usage chunk dropped when the gateway asked", sse(chunkRole, chunkWord, chunkUsage, chunkDone), true,
			sse(chunkRole, chunkWord, chunkDone), usage{PromptTokens: 11, CompletionTokens: 7}, true, 3},
		{"CRLF line endings", strings.ReplaceAll(sse(chunkWord, chunkUsage, chunkDone), "\n", "\r\n"), true,
			strings.ReplaceAll(sse(chunkWord, chunkDone), "\n", "\r\n"), usage{PromptTokens: 11, CompletionTokens: 7}, true, 2},
		{"comments and event lines pass", sse(": keep-alive", "event: x\n"+chunkWord, chunkDone), false,
			sse(": keep-alive", "event: x\n"+chunkWord, chunkDone), usage{}, false, 1},
		{"no space after data:", sse(strings.Replace(chunkUsage, "data: ", "data:", 1)), false,
			sse(strings.Replace(chunkUsage, "data: ", "data:", 1)), usage{PromptTokens: 11, CompletionTokens: 7}, true, 1},
		{"usage with spaces", sse(`data: {"choices":[{"delta":{}}], "usage" : {"prompt_tokens": 2, "completion_tokens": 3}}`), true,
			sse(`data: {"choices":[{"delta":{}}], "usage" : {"prompt_tokens": 2, "completion_tokens": 3}}`), usage{PromptTokens: 2, CompletionTokens: 3}, true, 1},
		{"the word usage in content is not usage", sse(`data: {"choices":[{"delta":{"content":"\"usage\":{"}}]}`), true,
			sse(`data: {"choices":[{"delta":{"content":"\"usage\":{"}}]}`), usage{}, false, 1},
		{"stream without a final blank line", sse(chunkWord) + chunkDone, false, sse(chunkWord) + chunkDone, usage{}, false, 1},
	}
	for _, tt := range tests {
		for _, split := range []int{1, 2, 7, 64, 1 << 20} {
			var out bytes.Buffer
			flushes := 0
			m := &sseMeter{dst: &out, flush: func() error { flushes++; return nil }, dropUsageChunk: tt.drop}
			in := []byte(tt.stream)
			for len(in) > 0 {
				n := min(split, len(in))
				if _, err := m.Write(in[:n]); err != nil {
					t.Fatalf("%s/split %d: %v", tt.name, split, err)
				}
				in = in[n:]
			}
			u, ok, err := m.finish()
			if err != nil || out.String() != tt.want || u != tt.wantUsage || ok != tt.wantOK || m.deltas() != tt.wantDeltas {
				t.Fatalf("%s/split %d:\n got %q usage %+v ok %v deltas %d err %v\nwant %q usage %+v ok %v deltas %d",
					tt.name, split, out.String(), u, ok, m.deltas(), err, tt.want, tt.wantUsage, tt.wantOK, tt.wantDeltas)
			}
			if flushes == 0 {
				t.Fatalf("%s/split %d: never flushed", tt.name, split)
			}
		}
	}
}

// TestSSEMeterFlushesEachEvent checks that an event is passed on as soon as
// it is complete, before the next one starts.
func TestSSEMeterFlushesEachEvent(t *testing.T) {
	var out bytes.Buffer
	var seen []string
	m := &sseMeter{dst: &out, flush: func() error { seen = append(seen, out.String()); return nil }}
	_, _ = m.Write([]byte(chunkWord + "\n\n" + chunkRole[:10]))
	if len(seen) != 1 || seen[0] != chunkWord+"\n\n" {
		t.Fatalf("first event not flushed alone: %q", seen)
	}
	_, _ = m.Write([]byte(chunkRole[10:] + "\n"))
	if len(seen) != 1 {
		t.Fatalf("flushed a partial event: %q", seen)
	}
	_, _ = m.Write([]byte("\n"))
	if len(seen) != 2 || !strings.HasSuffix(seen[1], chunkRole+"\n\n") {
		t.Fatalf("second event not flushed when complete: %q", seen)
	}
}

func TestSSEMeterRejectsEndlessEvent(t *testing.T) {
	m := &sseMeter{dst: &bytes.Buffer{}}
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	var err error
	for i := 0; i < 8 && err == nil; i++ {
		_, err = m.Write(chunk)
	}
	if err == nil {
		t.Fatal("an event without end was buffered without bound")
	}
}

func TestJSONMeter(t *testing.T) {
	var out bytes.Buffer
	m := &jsonMeter{dst: &out}
	body := `{"id":"x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}}`
	_, _ = m.Write([]byte(body[:10]))
	_, _ = m.Write([]byte(body[10:]))
	u, ok, err := m.finish()
	if out.String() != body || !ok || err != nil || u != (usage{PromptTokens: 5, CompletionTokens: 9}) {
		t.Fatalf("got %q %+v %v %v", out.String(), u, ok, err)
	}
	m = &jsonMeter{dst: &out}
	_, _ = m.Write([]byte(`{"error":{}}`))
	if _, ok, _ := m.finish(); ok {
		t.Fatal("usage found in a body without one")
	}
}

func TestRewriteBody(t *testing.T) {
	tests := []struct {
		name, body, current, model string
		force                      bool
		want                       string
	}{
		{"unchanged is the same bytes", `{"model":"a", "x":1}`, "a", "a", false, `{"model":"a", "x":1}`},
		{"model replaced", `{"model":"a","x":1}`, "a", "b", false, `{"model":"b","x":1}`},
		{"usage forced", `{"model":"a","stream":true}`, "a", "a", true, `{"model":"a","stream":true,"stream_options":{"include_usage":true}}`},
		{"stream_options kept", `{"model":"a","stream_options":{"include_obfuscation":false}}`, "a", "b", true,
			`{"model":"b","stream_options":{"include_obfuscation":false,"include_usage":true}}`},
		{"null stream_options", `{"model":"a","stream_options":null}`, "a", "a", true, `{"model":"a","stream_options":{"include_usage":true}}`},
	}
	for _, tt := range tests {
		got, err := rewriteBody([]byte(tt.body), tt.current, tt.model, tt.force, 0, "")
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: got %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}
	capped, err := rewriteBody([]byte(`{"model":"a","max_tokens":9000,"x":1}`), "a", "a", false, 100, "max_tokens")
	if err != nil || string(capped) != `{"model":"a","max_tokens":100,"x":1}` {
		t.Errorf("cap: got %s, %v", capped, err)
	}
	if _, err := rewriteBody([]byte(`{"model":"a","stream_options":5}`), "a", "a", true, 0, ""); err == nil {
		t.Error("a non-object stream_options was accepted")
	}
}

func TestPresentedKey(t *testing.T) {
	tests := []struct {
		hdr  map[string]string
		want string
	}{
		{map[string]string{"Authorization": "Bearer k1"}, "k1"},
		{map[string]string{"Authorization": "bearer  k1 "}, "k1"},
		{map[string]string{"Authorization": "Basic dXNlcg=="}, ""},
		{map[string]string{"X-Api-Key": "k2"}, "k2"},
		{map[string]string{"Api-Key": "k3"}, "k3"},
		{map[string]string{"X-Goog-Api-Key": "k4"}, "k4"},
		{map[string]string{}, ""},
	}
	for _, tt := range tests {
		h := make(map[string][]string)
		for k, v := range tt.hdr {
			h[k] = []string{v}
		}
		if got := presentedKey(h); got != tt.want {
			t.Errorf("%v: got %q want %q", tt.hdr, got, tt.want)
		}
		stripKeyHeaders(h)
		if len(h) != 0 {
			t.Errorf("%v: headers left after strip: %v", tt.hdr, h)
		}
	}
}

func FuzzSSEMeter(f *testing.F) {
	f.Add([]byte(sse(chunkRole, chunkWord, chunkUsage, chunkDone)), 3, true)
	f.Add([]byte("data:\n\n\r\n\n"), 1, false)
	f.Fuzz(func(t *testing.T, stream []byte, split int, drop bool) {
		if split <= 0 {
			split = 1
		}
		var out bytes.Buffer
		m := &sseMeter{dst: &out, dropUsageChunk: drop}
		for len(stream) > 0 {
			n := min(split, len(stream))
			if _, err := m.Write(stream[:n]); err != nil {
				return
			}
			stream = stream[n:]
		}
		_, _, _ = m.finish()
		if !drop && out.Len() == 0 && m.deltas() > 0 {
			t.Fatal("events seen but nothing forwarded")
		}
	})
}
