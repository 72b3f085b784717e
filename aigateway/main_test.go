package aigateway_test

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/caddyfile"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

// TestMain starts Caddy in this process before any test, the way caddytest
// would, but fails loudly if it cannot: caddytest would skip the tests
// instead, and a skipped integration suite must never pass for green.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		if err := startCaddy(); err != nil {
			fmt.Fprintln(os.Stderr, "starting Caddy for the integration tests:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
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
	os.Args = []string{"caddy", "run", "--config", f.Name(), "--adapter", "caddyfile"}
	go caddycmd.Main()
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(admin); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("caddy admin did not answer on port %d", caddytest.Default.AdminPort)
}
