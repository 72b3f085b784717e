package aigateway_test

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/caddyfile"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/mock" // the quickstart's provider
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

var (
	caddyOnce sync.Once
	caddyErr  error
)

// requireCaddy starts Caddy in this process once, the way caddytest would,
// but fails the test if it cannot: caddytest would skip instead, and a
// skipped integration suite must never pass for green.
func requireCaddy(t *testing.T) {
	t.Helper()
	caddyOnce.Do(func() { caddyErr = startCaddy() })
	if caddyErr != nil {
		t.Fatalf("starting Caddy for the integration tests: %v", caddyErr)
	}
}

func startCaddy() error {
	admin := fmt.Sprintf("http://localhost:%d/config/", caddytest.Default.AdminPort)
	if resp, err := http.Get(admin); err == nil {
		resp.Body.Close()
		return fmt.Errorf("something already listens on the caddytest admin port %d", caddytest.Default.AdminPort)
	}
	f, err := os.CreateTemp("", "caddyfile")
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "{\n\tadmin localhost:%d\n}\n", caddytest.Default.AdminPort)
	f.Close()
	args := os.Args
	os.Args = []string{"caddy", "run", "--config", f.Name(), "--adapter", "caddyfile"}
	go caddycmd.Main()
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(admin); err == nil {
			resp.Body.Close()
			os.Args = args // Caddy has read them; the test binary needs its own back
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("caddy admin did not answer on port %d", caddytest.Default.AdminPort)
}
