package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Env is the running set of servers.
type Env struct {
	Root, Out                   string // repository root; bench/out
	MockPort, CaddyPort         int
	GatewayPort, AuthPort       int
	AdminPort, PortkeyPort      int
	GatewayKey                  string
	CaddyBin, MockBin           string
	CaddyVersion                string
	PortkeyVersion, HonoVersion string
	PortkeyErr                  string // why Portkey is absent, if it is
}

// BuildBinaries builds Caddy with the plugin and the mock into out.
func BuildBinaries(ctx context.Context, root, out string) (caddyBin, mockBin string, err error) {
	caddyBin, mockBin = filepath.Join(out, "caddy"), filepath.Join(out, "mockllm")
	for _, b := range []struct{ bin, pkg string }{{caddyBin, "./cmd/caddy"}, {mockBin, "./cmd/mockllm"}} {
		t := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.bin, b.pkg)
		cmd.Dir = root
		if o, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s: %v\n%s", b.pkg, err, o)
		}
		logf("built %s in %s", rel(root, b.bin), time.Since(t).Round(time.Millisecond))
	}
	return caddyBin, mockBin, nil
}

// StartServers starts the mock, plain Caddy and the gateway, waits for them
// and creates a gateway key.
func StartServers(ctx context.Context, p *Procs, e *Env) error {
	var err error
	for _, port := range []*int{&e.MockPort, &e.CaddyPort, &e.GatewayPort, &e.AuthPort, &e.AdminPort} {
		if *port, err = FreePort(); err != nil {
			return err
		}
	}
	if v, err := exec.Command(e.CaddyBin, "version").Output(); err == nil {
		e.CaddyVersion = strings.TrimSpace(string(v))
	}

	if _, err := p.Start("mockllm", e.Out, nil, e.MockBin, "-listen", fmt.Sprintf("127.0.0.1:%d", e.MockPort), "-chunk-delay", "0"); err != nil {
		return err
	}
	if err := WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", e.MockPort), 10*time.Second); err != nil {
		return fmt.Errorf("mock: %w (see %s)", err, rel(e.Root, filepath.Join(e.Out, "mockllm.log")))
	}

	// Caddy's data and config dirs stay inside bench/out.
	caddyEnv := []string{"XDG_DATA_HOME=" + filepath.Join(e.Out, "xdg", "data"), "XDG_CONFIG_HOME=" + filepath.Join(e.Out, "xdg", "config")}
	plain := filepath.Join(e.Out, "caddy-plain.Caddyfile")
	if err := os.WriteFile(plain, []byte(PlainCaddyfile(e.CaddyPort, e.MockPort)), 0o644); err != nil {
		return err
	}
	if _, err := p.Start("caddy-plain", e.Out, caddyEnv, e.CaddyBin, "run", "--config", plain, "--adapter", "caddyfile"); err != nil {
		return err
	}

	store := filepath.Join(e.Out, "gateway-store")
	if err := os.RemoveAll(store); err != nil {
		return err
	}
	gw := filepath.Join(e.Out, "caddy-gateway.Caddyfile")
	if err := os.WriteFile(gw, []byte(GatewayCaddyfile(e.GatewayPort, e.AuthPort, e.AdminPort, e.MockPort, store)), 0o644); err != nil {
		return err
	}
	if _, err := p.Start("caddy-gateway", e.Out, caddyEnv, e.CaddyBin, "run", "--config", gw, "--adapter", "caddyfile"); err != nil {
		return err
	}
	for name, port := range map[string]int{"caddy-plain": e.CaddyPort, "caddy-gateway": e.GatewayPort} {
		if err := WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port), 20*time.Second); err != nil {
			return fmt.Errorf("%s: %w (see %s)", name, err, rel(e.Root, filepath.Join(e.Out, name+".log")))
		}
	}
	e.GatewayKey, err = CreateKey(ctx, e.AdminPort)
	return err
}

// CreateKey creates a gateway key over the admin API.
func CreateKey(ctx context.Context, adminPort int) (string, error) {
	url := fmt.Sprintf("http://127.0.0.1:%d/ai_gateway/keys", adminPort)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"name":"bench"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Key string `json:"key"`
	}
	if resp.StatusCode/100 != 2 || json.Unmarshal(b, &out) != nil || out.Key == "" {
		return "", fmt.Errorf("create key: POST %s: %d %s", url, resp.StatusCode, snippet(b))
	}
	return out.Key, nil
}

// InstallPortkey writes bench/out/portkey/package.json and runs npm install
// there unless the pinned versions are already installed.
func InstallPortkey(ctx context.Context, dir, portkeyVersion, honoVersion string, timeout time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pkg := PortkeyPackageJSON(portkeyVersion, honoVersion)
	old, _ := os.ReadFile(filepath.Join(dir, "package.json"))
	if bytes.Equal(old, []byte(pkg)) &&
		installedVersion(dir, "@portkey-ai/gateway") == portkeyVersion &&
		installedVersion(dir, "@hono/node-server") == honoVersion {
		logf("Portkey %s (@hono/node-server %s) already installed in %s", portkeyVersion, honoVersion, dir)
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.Now()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm install in %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
	if v := installedVersion(dir, "@hono/node-server"); v != honoVersion {
		return fmt.Errorf("npm install: @hono/node-server is %q, want %s (overrides not applied)", v, honoVersion)
	}
	logf("npm install Portkey %s took %s", portkeyVersion, time.Since(t).Round(100*time.Millisecond))
	return nil
}

// installedVersion is the version in node_modules/<name>/package.json.
func installedVersion(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
	if err != nil {
		return ""
	}
	var v struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal(b, &v)
	return v.Version
}

// StartPortkey runs Portkey headless on a free port (it listens on all
// interfaces; only 127.0.0.1 is used).
func StartPortkey(ctx context.Context, p *Procs, e *Env, dir string) error {
	var err error
	if e.PortkeyPort, err = FreePort(); err != nil {
		return err
	}
	e.PortkeyVersion = installedVersion(dir, "@portkey-ai/gateway")
	e.HonoVersion = installedVersion(dir, "@hono/node-server")
	script := filepath.Join("node_modules", "@portkey-ai", "gateway", "build", "start-server.js")
	if _, err := p.Start("portkey", dir, []string{"NODE_ENV=production"}, "node", script, fmt.Sprintf("--port=%d", e.PortkeyPort), "--headless"); err != nil {
		return err
	}
	if err := WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/", e.PortkeyPort), 30*time.Second); err != nil {
		return fmt.Errorf("portkey: %w (see %s)", err, rel(e.Root, filepath.Join(e.Out, "portkey.log")))
	}
	return nil
}
