package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"openai", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []Event{{Data: []byte(`{"a":1}`)}, {Data: []byte("[DONE]")}}},
		{"anthropic named events", "event: message_start\ndata: {}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n",
			[]Event{{Name: "message_start", Data: []byte("{}")}, {Name: "ping", Data: []byte(`{"type":"ping"}`)}}},
		{"CRLF and comments", ": OPENROUTER PROCESSING\r\n\r\ndata:x\r\n\r\n", []Event{{Data: []byte("x")}}},
		{"multi-line data", "data: a\ndata: b\n\n", []Event{{Data: []byte("a\nb")}}},
		{"no final blank line", "data: a\n\ndata: b", []Event{{Data: []byte("a")}, {Data: []byte("b")}}},
		{"extra blank lines", "\n\n\ndata: a\n\n\n\n", []Event{{Data: []byte("a")}}},
		{"unknown fields ignored", "id: 7\nretry: 100\ndata: a\n\n", []Event{{Data: []byte("a")}}},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			var src io.Reader = strings.NewReader(tt.in)
			if oneByte {
				src = iotest.OneByteReader(src)
			}
			r := NewReader(src)
			var got []Event
			for {
				ev, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				got = append(got, Event{Name: ev.Name, Data: append([]byte(nil), ev.Data...)})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%s: got %d events %q, want %d", tt.name, len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i].Name != tt.want[i].Name || string(got[i].Data) != string(tt.want[i].Data) {
					t.Fatalf("%s: event %d = %q/%q, want %q/%q", tt.name, i, got[i].Name, got[i].Data, tt.want[i].Name, tt.want[i].Data)
				}
			}
		}
	}
}

func TestReaderBoundsAnEvent(t *testing.T) {
	r := NewReader(strings.NewReader("data: " + strings.Repeat("x", MaxEventSize+1) + "\n\n"))
	if _, err := r.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func TestReaderPassesReadErrors(t *testing.T) {
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(io.ErrUnexpectedEOF)))
	if ev, err := r.Next(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("first: %q %v", ev.Data, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want the read error", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("data: a\n\nevent: x\ndata: b\r\n\r\n: c\n")
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader(in))
		for i := 0; i <= len(in); i++ {
			if _, err := r.Next(); err != nil {
				return
			}
		}
		t.Fatal("more events than bytes: the reader does not advance")
	})
}

// A name that repeats is not allocated again for every event.
func TestRepeatedNameDoesNotAllocate(t *testing.T) {
	stream := strings.Repeat("event: content_block_delta\ndata: {}\n\n", 200)
	r := NewReader(strings.NewReader(stream))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if ev, err := r.Next(); err != nil || ev.Name != "content_block_delta" {
			t.Fatalf("%+v %v", ev, err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per event", n)
	}
}
