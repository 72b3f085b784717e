package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Request is what one target is sent, again and again.
type Request struct {
	URL    string
	Header http.Header
	Body   []byte
	// Stream marks an SSE request: the first body byte's time is recorded
	// (TTFB) and the body must end with the OpenAI "data: [DONE]" event.
	Stream bool
	// Want is a substring every successful non-stream body must contain.
	Want string
}

// RunResult is what one closed-loop run measured.
type RunResult struct {
	Latencies   []time.Duration // successful requests: start to last body byte
	TTFB        []time.Duration // successful streams: start to first body byte
	Errors      int
	ErrorCounts map[string]int
	ErrorOrder  []string // distinct errors in the order first seen
	Elapsed     time.Duration
}

// maxErrorKinds bounds the distinct error messages kept per run.
const maxErrorKinds = 8

// newTransport returns a keep-alive HTTP/1.1 transport for conc workers.
func newTransport(conc int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// RunLoad drives req with conc workers in a closed loop (each sends its next
// request when the previous answer has been read in full) for dur, over
// keep-alive connections, and records every latency. Requests in flight at
// the deadline finish and count; each has reqTimeout.
func RunLoad(ctx context.Context, tr *http.Transport, req Request, conc int, dur, reqTimeout time.Duration) RunResult {
	client := &http.Client{Transport: tr, Timeout: reqTimeout}
	start := time.Now()
	deadline := start.Add(dur)
	parts := make([]RunResult, conc)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(out *RunResult) {
			defer wg.Done()
			out.ErrorCounts = map[string]int{}
			buf := make([]byte, 32<<10)
			var body bytes.Buffer
			for ctx.Err() == nil && time.Now().Before(deadline) {
				lat, ttfb, err := doOne(ctx, client, req, buf, &body)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					out.Errors++
					msg := err.Error()
					if _, seen := out.ErrorCounts[msg]; !seen && len(out.ErrorOrder) < maxErrorKinds {
						out.ErrorOrder = append(out.ErrorOrder, msg)
					}
					out.ErrorCounts[msg]++
					continue
				}
				out.Latencies = append(out.Latencies, lat)
				if req.Stream {
					out.TTFB = append(out.TTFB, ttfb)
				}
			}
		}(&parts[w])
	}
	wg.Wait()
	res := RunResult{Elapsed: time.Since(start), ErrorCounts: map[string]int{}}
	for _, p := range parts {
		res.Latencies = append(res.Latencies, p.Latencies...)
		res.TTFB = append(res.TTFB, p.TTFB...)
		res.Errors += p.Errors
		for _, e := range p.ErrorOrder {
			if _, seen := res.ErrorCounts[e]; !seen {
				res.ErrorOrder = append(res.ErrorOrder, e)
			}
			res.ErrorCounts[e] += p.ErrorCounts[e]
		}
	}
	return res
}

// doOne sends req once and reads the whole answer, checking it.
func doOne(ctx context.Context, client *http.Client, req Request, buf []byte, body *bytes.Buffer) (lat, ttfb time.Duration, err error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return 0, 0, err
	}
	hr.Header = req.Header
	t0 := time.Now()
	resp, err := client.Do(hr)
	if err != nil {
		return 0, 0, shortErr(err)
	}
	defer resp.Body.Close()
	body.Reset()
	first := true
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if first {
				ttfb, first = time.Since(t0), false
			}
			body.Write(buf[:n])
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, 0, fmt.Errorf("reading body: %w", shortErr(rerr))
		}
	}
	lat = time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("status %d: %s", resp.StatusCode, snippet(body.Bytes()))
	}
	if err := CheckBody(req, body.Bytes()); err != nil {
		return 0, 0, err
	}
	return lat, ttfb, nil
}

// CheckBody reports whether a 200 answer's body is complete: a stream must
// end with "data: [DONE]", a JSON body must contain req.Want.
func CheckBody(req Request, b []byte) error {
	if req.Stream {
		t := bytes.TrimRight(b, "\r\n ")
		if !bytes.HasSuffix(t, []byte("data: [DONE]")) {
			return fmt.Errorf("stream did not end with data: [DONE]: …%s", snippet(tail(t, 160)))
		}
		return nil
	}
	if req.Want != "" && !bytes.Contains(b, []byte(req.Want)) {
		return fmt.Errorf("body lacks %q: %s", req.Want, snippet(b))
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// snippet is a one-line, bounded excerpt of a body for error messages.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// shortErr drops the URL from *url.Error so equal failures group together.
func shortErr(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil && strings.HasPrefix(err.Error(), "Post ") {
			return inner
		}
	}
	return err
}
