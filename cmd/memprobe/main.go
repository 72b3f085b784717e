// Command memprobe measures the gateway's peak memory under a burst of large
// translated requests: it runs a Caddy binary with the plugin against the
// bundled mock (in this process, on loopback), sends n concurrent chat
// requests of the given size from an OpenAI client to an Anthropic-format
// provider, and prints the answers' statuses and the gateway process's
// peak RSS (VmHWM).
//
//	go build -o /tmp/aigw-caddy ./cmd/caddy
//	go run ./cmd/memprobe -caddy /tmp/aigw-caddy -n 50 -size 3900000 [-inflight 256MiB|off]
//
// It is a measuring tool, not a test: it asserts nothing.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
)

func main() {
	caddyBin := flag.String("caddy", "", "a caddy binary with the plugin (go build ./cmd/caddy)")
	n := flag.Int("n", 50, "concurrent requests")
	size := flag.Int("size", 3_900_000, "request body size in bytes")
	inflight := flag.String("inflight", "", "max_inflight_body option value (empty: the default)")
	port := flag.Int("port", 9380, "gateway HTTP port (admin on port+1)")
	flag.Parse()
	if *caddyBin == "" {
		log.Fatal("memprobe: -caddy is required")
	}
	if err := run(*caddyBin, *n, *size, *inflight, *port); err != nil {
		log.Fatalf("memprobe: %v", err)
	}
}

func run(caddyBin string, n, size int, inflight string, port int) error {
	const providerKey = "memprobe-provider-key-0123456789"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mock := &http.Server{Handler: mockllm.New(mockllm.Options{APIKey: providerKey, MaxRecorded: -1})}
	go func() { _ = mock.Serve(ln) }()
	defer mock.Close()

	dir, err := os.MkdirTemp("", "memprobe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opt := ""
	if inflight != "" {
		opt = "\t\tmax_inflight_body " + inflight + "\n"
	}
	admin := fmt.Sprintf("localhost:%d", port+1)
	cfg := fmt.Sprintf(`{
	admin %s
	http_port %d
	auto_https off
	ai_gateway {
		store badger %s
%s		provider ant anthropic {
			base_url http://%s/v1
			api_key %s
		}
		model claude-probe ant claude-sonnet-4-5
	}
}
:%d {
	ai_gateway
}
`, admin, port, filepath.Join(dir, "store"), opt, ln.Addr(), providerKey, port)
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(caddyBin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	key, err := createKey("http://" + admin)
	if err != nil {
		return err
	}
	before, _ := procStatus(cmd.Process.Pid)

	text := strings.Repeat("All work and no play makes Jack a dull boy. ", size/44+1)
	body, _ := json.Marshal(map[string]any{"model": "claude-probe", "max_tokens": 16,
		"messages": []map[string]string{{"role": "user", "content": text[:size-100]}}})
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}}
	statuses := make(map[int]int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", port), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			code := -1
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	after, err := procStatus(cmd.Process.Pid)
	if err != nil {
		return err
	}
	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	fmt.Printf("requests: %d concurrent × %d bytes (translated, OpenAI → Anthropic), %s\n", n, len(body), elapsed.Round(time.Millisecond))
	for _, c := range codes {
		fmt.Printf("  status %d: %d\n", c, statuses[c])
	}
	fmt.Printf("gateway RSS before: %s; peak (VmHWM) after the burst: %s; RSS after: %s\n", before["VmRSS"], after["VmHWM"], after["VmRSS"])
	return nil
}

// createKey waits for the admin API and creates a gateway key.
func createKey(admin string) (string, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Post(admin+"/ai_gateway/keys", "application/json", strings.NewReader(`{"name":"memprobe"}`))
		if err == nil {
			var k struct {
				Key string `json:"key"`
			}
			err = json.NewDecoder(resp.Body).Decode(&k)
			resp.Body.Close()
			if err == nil && k.Key != "" {
				return k.Key, nil
			}
		}
		if time.Now().After(deadline) {
			return "", errors.New("the gateway's admin API did not answer")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// procStatus reads the memory lines of /proc/<pid>/status.
func procStatus(pid int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := make(map[string]string)
	for _, line := range strings.Split(string(b), "\n") {
		if name, val, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(name, "Vm") {
			out[name] = strings.Join(strings.Fields(val), " ")
		}
	}
	return out, nil
}
