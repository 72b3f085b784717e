package aigateway

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadJSONBody covers both ways a body arrives: with a Content-Length
// (read in one allocation, refused unread when over the limit) and
// without one (chunked, read up to the limit).
func TestReadJSONBody(t *testing.T) {
	body := `{"model":"m","messages":[]}`
	tests := []struct {
		name     string
		body     string
		length   bool // send a Content-Length
		limit    int64
		wantCode string
	}{
		{"length, under the limit", body, true, 100, ""},
		{"length, at the limit", body, true, int64(len(body)), ""},
		{"length, over the limit", body, true, int64(len(body)) - 1, "request_too_large"},
		{"chunked, under the limit", body, false, 100, ""},
		{"chunked, at the limit", body, false, int64(len(body)), ""},
		{"chunked, over the limit", body, false, int64(len(body)) - 1, "request_too_large"},
		{"chunked, default limit", body, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tt.body)
			if !tt.length {
				r = io.MultiReader(r) // hides the length
			}
			req := httptest.NewRequest("POST", "/v1/chat/completions", r)
			if !tt.length {
				req.ContentLength = -1
			}
			req.Header.Set("Content-Type", "application/json")
			got, perr := readJSONBody(httptest.NewRecorder(), req, tt.limit)
			switch {
			case tt.wantCode == "" && perr != nil:
				t.Fatalf("error %s: %s", perr.Code, perr.Message)
			case tt.wantCode != "" && (perr == nil || perr.Code != tt.wantCode):
				t.Fatalf("got %v, want %s", perr, tt.wantCode)
			case tt.wantCode == "" && string(got) != tt.body:
				t.Fatalf("read %q", got)
			}
		})
	}
	// A body shorter than its Content-Length is an error, not a short read.
	req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
	req.ContentLength = int64(len(body)) + 10
	if _, perr := readJSONBody(httptest.NewRecorder(), req, 1000); perr == nil || perr.Code != "invalid_body" {
		t.Fatalf("truncated body: %v", perr)
	}
}
