package aigateway

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchNetWrite is the size of the writes a streamed upstream body arrives
// in (a few TCP segments): events straddle writes.
const benchNetWrite = 4096

// benchSSEStream is an OpenAI-format stream of n events: a role chunk,
// n-3 content chunks (a realistic chunk carries id, model, created and
// "usage":null, as with stream_options.include_usage), the usage chunk and
// [DONE].
func benchSSEStream(n int) []byte {
	const head = `data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":`
	var sb strings.Builder
	sb.WriteString(head + `{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for i := range n - 3 {
		fmt.Fprintf(&sb, head+`{"content":" word%d"},"logprobs":null,"finish_reason":null}],"usage":null}`+"\n\n", i)
	}
	sb.WriteString(`data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_f9f4fb6dbf","choices":[],"usage":{"prompt_tokens":1117,"completion_tokens":9997,"total_tokens":11114,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}` + "\n\n")
	sb.WriteString("data: [DONE]\n\n")
	return []byte(sb.String())
}

// BenchmarkSSEMeter writes an OpenAI stream through sseMeter in
// network-sized writes, as the gateway relays an upstream stream, and
// reports allocations per event: they must not grow with the number of
// events (compare the events= sub-benchmarks' allocs/op).
func BenchmarkSSEMeter(b *testing.B) {
	for _, events := range []int{100, 1_000, 10_000} {
		for _, drop := range []bool{false, true} {
			stream := benchSSEStream(events)
			b.Run(fmt.Sprintf("events=%d/dropUsage=%v", events, drop), func(b *testing.B) {
				flush := func() error { return nil }
				b.ReportAllocs()
				b.SetBytes(int64(len(stream)))
				b.ResetTimer()
				for range b.N {
					m := &sseMeter{dst: io.Discard, flush: flush, dropUsageChunk: drop}
					for in := stream; len(in) > 0; {
						n := min(benchNetWrite, len(in))
						if _, err := m.Write(in[:n]); err != nil {
							b.Fatal(err)
						}
						in = in[n:]
					}
					u, ok, err := m.finish()
					if err != nil || !ok || u.CompletionTokens != 9997 || m.deltas() != int64(events-1) {
						b.Fatalf("usage %+v ok %v deltas %d err %v", u, ok, m.deltas(), err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
					m := &sseMeter{dst: io.Discard, flush: flush, dropUsageChunk: drop}
					for in := stream; len(in) > 0; {
						n := min(benchNetWrite, len(in))
						_, _ = m.Write(in[:n])
						in = in[n:]
					}
					_, _, _ = m.finish()
				}))/float64(events), "allocs/event")
			})
		}
	}
}

// benchChatResponse is a non-streamed chat completion of about 2 KB.
var benchChatResponse = []byte(`{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4o-2024-08-06",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "` + strings.Repeat("The quick brown fox jumps over the lazy dog. ", 36) + `",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 19,
    "completion_tokens": 360,
    "total_tokens": 379,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_fc9f1d7035"
}`)

// BenchmarkJSONMeter passes a 2 KB chat completion through jsonMeter in
// network-sized writes and reads its usage.
func BenchmarkJSONMeter(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchChatResponse)))
	for range b.N {
		m := &jsonMeter{dst: io.Discard}
		for in := benchChatResponse; len(in) > 0; {
			n := min(1024, len(in))
			if _, err := m.Write(in[:n]); err != nil {
				b.Fatal(err)
			}
			in = in[n:]
		}
		if u, ok, err := m.finish(); err != nil || !ok || u.CompletionTokens != 360 {
			b.Fatalf("usage %+v ok %v err %v", u, ok, err)
		}
	}
}

// benchChatRequest is an OpenAI chat request body of about 2 KB.
var benchChatRequest = []byte(`{"model":"gpt-4o","stream":true,"temperature":0.2,"max_tokens":1024,` +
	`"messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly."},` +
	`{"role":"user","content":"` + strings.Repeat("Summarize the following text in one sentence please. ", 32) + `"},` +
	`{"role":"assistant","content":"Sure."}],` +
	`"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`)

// BenchmarkRewriteBody rewrites the model of a 2 KB request, alone and with
// usage forced on (the gateway meters streams the client asked no usage
// for) and a token cap.
func BenchmarkRewriteBody(b *testing.B) {
	cases := []struct {
		name  string
		force bool
		cap   int64
	}{
		{"model", false, 0},
		{"model+usage+cap", true, 512},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchChatRequest)))
			for range b.N {
				out, err := rewriteBody(benchChatRequest, "gpt-4o", "gpt-4o-2024-08-06", c.force, c.cap, "max_tokens")
				if err != nil || len(out) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseInbound decodes the fields the gateway acts on from a 2 KB
// request.
func BenchmarkParseInbound(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchChatRequest)))
	for range b.N {
		in, perr := parseInbound(benchChatRequest)
		if perr != nil || in.Model != "gpt-4o" || !in.Stream {
			b.Fatal(perr)
		}
	}
}
