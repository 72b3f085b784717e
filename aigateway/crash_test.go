package aigateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// gatewayBinary builds ./cmd/caddy into a temporary directory, for the
// tests that run the gateway as a child process (a link on a warm build
// cache, minutes on a cold one: cmd/testall gives go test a long timeout).
func gatewayBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "caddy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the gateway: %v\n%s", err, out)
	}
	return bin
}

// gatewayProcess is a Caddy binary with the plugin, run as a child process.
type gatewayProcess struct {
	t          *testing.T
	bin, cfg   string
	admin, api string
	cmd        *exec.Cmd
	log        *bytes.Buffer
}

func (g *gatewayProcess) start() {
	g.t.Helper()
	g.log = new(bytes.Buffer)
	g.cmd = exec.Command(g.bin, "run", "--config", g.cfg, "--adapter", "caddyfile")
	g.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Dir(g.cfg), "XDG_CONFIG_HOME="+filepath.Dir(g.cfg))
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(g.admin + "/ai_gateway/keys"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("the gateway did not start:\n%s", g.log)
}

func (g *gatewayProcess) call(method, path string, body any, out any) int {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.admin+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestCrashUnderLoad builds the gateway binary (minutes on a cold build
// cache: cmd/testall gives go test a long timeout), kills the process with
// SIGKILL while requests are in flight, restarts it on the same store, and
// checks that every
// acknowledged key, team, spend and audit entry is there, that the audit
// chain verifies, and that the reservations the crash left open were
// released.
func TestCrashUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a Caddy binary")
	}
	dir := t.TempDir()
	bin := gatewayBinary(t)
	mock := httptest.NewServer(mockllm.New(mockllm.Options{APIKey: providerKey, ChunkDelay: 100 * time.Millisecond}))
	defer mock.Close()

	adminPort, apiPort := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "Caddyfile")
	caddyfile := fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	ai_gateway {
		store badger %s
		provider mock openai_compatible {
			base_url %s/v1
			api_key %s
		}
		model priced mock mock-gpt {
			input_price 1000000
			output_price 1000000
		}
	}
}

:%d {
	ai_gateway
}
`, adminPort, apiPort, filepath.Join(dir, "store"), mock.URL, providerKey, apiPort)
	if err := os.WriteFile(cfg, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gatewayProcess{t: t, bin: bin, cfg: cfg, admin: fmt.Sprintf("http://localhost:%d", adminPort), api: fmt.Sprintf("http://localhost:%d", apiPort)}
	g.start()
	defer func() {
		if g.cmd.ProcessState == nil {
			_ = g.cmd.Process.Kill()
			_ = g.cmd.Wait()
		}
	}()

	// Acknowledged state: a team, keys in it, spend.
	var team struct{ ID string }
	g.call("POST", "/ai_gateway/teams", map[string]any{"name": "crash", "limits": map[string]any{"budget_usd": 100000}}, &team)
	var keys []issued
	for i := 0; i < 5; i++ {
		var k issued
		if code := g.call("POST", "/ai_gateway/keys", map[string]any{"name": fmt.Sprint("k", i), "team": team.ID,
			"limits": map[string]any{"budget_usd": 50000}}, &k); code != 201 {
			t.Fatalf("create key: %d", code)
		}
		keys = append(keys, k)
	}
	send := func(ctx context.Context, key string, stream bool) (int, error) {
		body := fmt.Sprintf(`{"model":"priced","max_tokens":10,"stream":%t,"messages":[{"role":"user","content":"crash test"}]}`, stream)
		req, _ := http.NewRequestWithContext(ctx, "POST", g.api+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	for _, k := range keys {
		if code, err := send(context.Background(), k.Key, false); code != 200 || err != nil {
			t.Fatalf("warm-up request: %d %v", code, err)
		}
	}
	var before struct {
		Spend struct {
			SpentUSD float64 `json:"spent_usd"`
		} `json:"spend"`
	}
	g.call("GET", "/ai_gateway/teams/"+team.ID, nil, &before)
	var headBefore struct{ Seq uint64 }
	g.call("GET", "/ai_gateway/audit/head", nil, &headBefore)
	if before.Spend.SpentUSD <= 0 || headBefore.Seq < 6 {
		t.Fatalf("before the crash: spent $%v, audit head %d", before.Spend.SpentUSD, headBefore.Seq)
	}

	// Load: slow streams hold reservations open; new keys are created while
	// the process dies.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(key string) {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := send(ctx, key, true); err != nil {
					return
				}
			}
		}(keys[i%len(keys)].Key)
	}
	var acked []issued
	var ackMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			var k issued
			b, _ := json.Marshal(map[string]any{"name": fmt.Sprint("during-", i)})
			resp, err := http.Post(g.admin+"/ai_gateway/keys", "application/json", bytes.NewReader(b))
			if err != nil {
				return
			}
			if resp.StatusCode == 201 && json.NewDecoder(resp.Body).Decode(&k) == nil {
				ackMu.Lock()
				acked = append(acked, k)
				ackMu.Unlock()
			}
			resp.Body.Close()
		}
	}()
	time.Sleep(400 * time.Millisecond)
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = g.cmd.Wait()
	cancel()
	wg.Wait()

	// Restart on the same store.
	g.start()
	defer func() { _ = g.cmd.Process.Kill(); _ = g.cmd.Wait() }()

	for _, k := range append(keys, acked...) {
		var got issued
		if code := g.call("GET", "/ai_gateway/keys/"+k.ID, nil, &got); code != 200 || got.ID != k.ID {
			t.Fatalf("acknowledged key %s lost after the crash: %d", k.ID, code)
		}
	}
	if code, _ := send(context.Background(), keys[0].Key, false); code != 200 {
		t.Fatalf("a key from before the crash does not work: %d", code)
	}
	var after struct {
		Spend struct {
			SpentUSD    float64 `json:"spent_usd"`
			ReservedUSD float64 `json:"reserved_usd"`
		} `json:"spend"`
	}
	g.call("GET", "/ai_gateway/teams/"+team.ID, nil, &after)
	if after.Spend.SpentUSD < before.Spend.SpentUSD {
		t.Fatalf("spend went back from $%v to $%v", before.Spend.SpentUSD, after.Spend.SpentUSD)
	}
	if after.Spend.ReservedUSD != 0 {
		t.Fatalf("reservations left by the crash were not released: $%v still reserved", after.Spend.ReservedUSD)
	}
	var verdict struct {
		OK      bool
		Entries uint64
		Reason  string
	}
	g.call("GET", "/ai_gateway/audit/verify", nil, &verdict)
	if !verdict.OK || verdict.Entries < headBefore.Seq+uint64(len(acked)) {
		t.Fatalf("audit after the crash: %+v (had %d entries, %d keys created during the load)", verdict, headBefore.Seq, len(acked))
	}
	var audit struct {
		Entries []struct{ Action string }
	}
	g.call("GET", fmt.Sprintf("/ai_gateway/audit?limit=1000&since=%d", max(verdict.Entries, 20)-20), nil, &audit)
	released := false
	for _, e := range audit.Entries {
		released = released || e.Action == "store.orphans_released"
	}
	if !released {
		t.Fatalf("no store.orphans_released entry after a crash with streams in flight:\n%s", g.log)
	}
	t.Logf("killed with %d keys created during the load; spend $%v → $%v; %d audit entries verify", len(acked), before.Spend.SpentUSD, after.Spend.SpentUSD, verdict.Entries)
}
