package aigateway_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSecondInstanceIsRefused runs two gateway processes with different
// store directories and admin addresses on the same HTTP port. Caddy binds
// with SO_REUSEPORT, so without the port claim both start and the kernel
// splits clients between two key stores; with it, the second exits with a
// message saying another gateway process serves the port, and the first
// keeps serving.
func TestSecondInstanceIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a Caddy binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the port claim is implemented on Linux only (instance_other.go)")
	}
	bin := gatewayBinary(t)
	apiPort := freePort(t)
	config := func(name string) (cfg, admin string) {
		dir := t.TempDir()
		adminPort := freePort(t)
		cfg = filepath.Join(dir, "Caddyfile")
		text := fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	ai_gateway {
		store badger %s
		provider up openai_compatible {
			base_url http://127.0.0.1:1/v1
		}
		model m up
	}
}

:%d {
	bind 127.0.0.1
	ai_gateway
}
`, adminPort, apiPort, filepath.Join(dir, name), apiPort)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg, fmt.Sprintf("http://localhost:%d", adminPort)
	}

	cfg1, admin1 := config("store-a")
	first := &gatewayProcess{t: t, bin: bin, cfg: cfg1, admin: admin1}
	first.start()
	defer func() {
		_ = first.cmd.Process.Kill()
		_ = first.cmd.Wait()
	}()

	cfg2, _ := config("store-b")
	second := exec.Command(bin, "run", "--config", cfg2, "--adapter", "caddyfile")
	second.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Dir(cfg2), "XDG_CONFIG_HOME="+filepath.Dir(cfg2))
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = second.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = second.Process.Kill()
		<-done
		t.Fatalf("the second gateway process on port %d did not exit: it started beside the first\n%s", apiPort, out)
	}
	if err == nil {
		t.Fatalf("the second gateway process exited 0\n%s", out)
	}
	want := fmt.Sprintf("another gateway process (pid %d) already serves port %d", first.cmd.Process.Pid, apiPort)
	if !strings.Contains(string(out), want) {
		t.Fatalf("the second process's output does not say %q:\n%s", want, out)
	}
	// The first one still serves its store.
	if code := first.call("GET", "/ai_gateway/keys", nil, nil); code != 200 {
		t.Fatalf("the first gateway's admin API answers %d after the second was refused", code)
	}
}
