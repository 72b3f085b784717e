// Package ssetest holds test helpers for code that reads server-sent
// events.
package ssetest

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/sse"
)

// Data returns the data of each event of stream, in order, each a copy of
// its own; a stream the reader refuses fails tb.
func Data(tb testing.TB, stream []byte) [][]byte {
	tb.Helper()
	var out [][]byte
	r := sse.NewReader(bytes.NewReader(stream))
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, bytes.Clone(ev.Data))
	}
}
