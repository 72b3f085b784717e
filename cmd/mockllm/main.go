// Command mockllm serves a deterministic mock of the OpenAI HTTP API, for the
// gateway's quickstart, tests and benchmarks.
//
// Usage:
//
//	mockllm [-listen 127.0.0.1:8081] [-api-key KEY] [-chunk-delay 0] [-models mock-gpt,mock-small]
//
// The API key may also be given in the MOCKLLM_API_KEY environment variable.
// See package github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm
// for the endpoints and the X-Mock-* test-control headers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("mockllm: %v", err)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	apiKey := flag.String("api-key", os.Getenv("MOCKLLM_API_KEY"), "if set, require \"Authorization: Bearer <key>\" (default $MOCKLLM_API_KEY)")
	chunkDelay := flag.Duration("chunk-delay", 0, "pause between streamed chunks, e.g. 20ms")
	models := flag.String("models", "", "comma-separated model IDs for /v1/models (default "+strings.Join(mockllm.DefaultModels, ",")+")")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}

	opts := mockllm.Options{
		APIKey:      *apiKey,
		ChunkDelay:  *chunkDelay,
		MaxRecorded: -1, // nobody can read the recording of a standalone server
	}
	for _, m := range strings.Split(*models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			opts.Models = append(opts.Models, m)
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mockllm.New(opts),
		ReadHeaderTimeout: 10 * time.Second,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	log.Printf("mockllm: serving OpenAI-compatible mock API on http://%s/v1 (auth required: %t, chunk delay: %s)",
		ln.Addr(), opts.APIKey != "", opts.ChunkDelay)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-drained
	return nil
}
