package xcaddytest

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
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	// Every module of ours, registered in this test binary so that the test
	// can list them (and check the xcaddy build has each).
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
)

// ourModules lists the Caddy module IDs registered by this repository's
// packages: every module whose Go type lives under our module path.
func ourModules(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, id := range caddy.Modules() {
		info, err := caddy.GetModule(id)
		if err != nil {
			t.Fatal(err)
		}
		typ := reflect.TypeOf(info.New())
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if p := typ.PkgPath(); p == modulePath || strings.HasPrefix(p, modulePath+"/") {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestOurModulesAreListed guards ourModules itself: if it found nothing (a
// type moved, the filter broke), the xcaddy test would check nothing.
func TestOurModulesAreListed(t *testing.T) {
	ids := ourModules(t)
	for _, want := range []string{"ai_gateway", "http.handlers.ai_gateway", "http.handlers.ai_auth", "admin.api.ai_gateway", "ai_gateway.providers.openai"} {
		if !slices.Contains(ids, want) {
			t.Errorf("ourModules() = %q lacks %s", ids, want)
		}
	}
	for _, id := range ids {
		if strings.HasPrefix(id, "http.handlers.reverse_proxy") || id == "http" {
			t.Errorf("ourModules() claims Caddy's %s", id)
		}
	}
}

// TestNoBuildTagDependence checks that xcaddy's build tags (nobadger,
// nomysql, nopgx: they drop smallstep's database drivers, which Caddy's ACME
// server can use) select exactly the same files of ours as a plain build, so
// that our Badger v4 store is in an xcaddy-built Caddy.
func TestNoBuildTagDependence(t *testing.T) {
	list := func(tags ...string) string {
		args := append([]string{"list"}, tags...)
		args = append(args, "-f", "{{.ImportPath}} {{.GoFiles}} {{.CgoFiles}} {{.IgnoredGoFiles}}", "./...")
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join("..", "..")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return string(out)
	}
	plain, tagged := list(), list("-tags", "nobadger,nomysql,nopgx")
	if plain != tagged {
		t.Errorf("xcaddy's build tags change which files of ours are built:\nplain:\n%s\nwith -tags nobadger,nomysql,nopgx:\n%s", plain, tagged)
	}
	if !strings.Contains(plain, modulePath+"/keystore ") {
		t.Errorf("go list did not list the keystore package:\n%s", plain)
	}
}

// requireXcaddyPhase skips the build tests outside `go run ./cmd/testall`'s
// xcaddy phase (see EnvRun).
func requireXcaddyPhase(t *testing.T) {
	t.Helper()
	if os.Getenv(EnvRun) != "1" {
		t.Skipf("builds Caddy with xcaddy (minutes): run by `go run ./cmd/testall` (%s=1)", EnvRun)
	}
}

// installXcaddy installs the pinned xcaddy into a directory of the user's
// cache named after its version, once: later runs reuse it.
func installXcaddy(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	gobin := filepath.Join(cache, "caddy-ai-gateway", "xcaddy-"+XcaddyVersion)
	bin := filepath.Join(gobin, "xcaddy")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	start := time.Now()
	cmd := exec.Command("go", "install", "github.com/caddyserver/xcaddy/cmd/xcaddy@"+XcaddyVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing xcaddy %s: %v\n%s", XcaddyVersion, err, out)
	}
	t.Logf("installed xcaddy %s in %s (%s)", XcaddyVersion, gobin, time.Since(start).Round(time.Second))
	return bin
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// xcaddyCaddy builds Caddy with the README's xcaddy command, run as written
// from the repository's root (with --output added), once per test binary.
func xcaddyCaddy(t *testing.T) string {
	t.Helper()
	requireXcaddyPhase(t)
	args := readmeXcaddyBuild(t)
	xcaddy := installXcaddy(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "xcaddytest-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "caddy")
		start := time.Now()
		cmd := exec.Command(xcaddy, append(args[1:], "--output", builtBin)...)
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		t.Logf("%s took %s", strings.Join(args, " "), time.Since(start).Round(time.Second))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// TestXcaddyBuild builds Caddy by the README's command (xcaddy, pinned, with
// the checkout as the module's replacement), checks that `caddy
// list-modules` shows every module of ours and that the `caddy ai-gateway`
// command is in it, then serves the quickstart with it: a key created
// through the admin API gets a chat answer. A Caddy built from the module
// root has no mock provider (it is in cmd/caddy only), so the quickstart's
// provider line becomes OpenAI's, pointed at the bundled mock upstream
// speaking OpenAI's wire format.
func TestXcaddyBuild(t *testing.T) {
	bin := xcaddyCaddy(t)

	out, err := exec.Command(bin, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy list-modules: %v\n%s", err, out)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		listed[strings.TrimSpace(line)] = true
	}
	ours := ourModules(t)
	for _, id := range ours {
		if !listed[id] {
			t.Errorf("caddy list-modules lacks %s", id)
		}
	}
	t.Logf("list-modules shows all %d modules of ours", len(ours))
	if out, err := exec.Command(bin, "ai-gateway", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "keys") {
		t.Errorf("caddy ai-gateway --help: %v\n%s", err, out)
	}

	// The quickstart on free loopback ports and a temporary data directory,
	// with the provider line its comment gives for OpenAI.
	mock := httptest.NewServer(mockllm.New(mockllm.Options{APIKey: providerKey}))
	defer mock.Close()
	adminAddr, apiAddr := freeAddr(t), freeAddr(t)
	cfg := adaptExample(t, "examples/quickstart/Caddyfile", []edit{
		{"admin localhost:2019", "admin " + adminAddr},
		{"provider openai mock", "provider openai openai {\n\t\t\tbase_url " + mock.URL + "/v1\n\t\t\tapi_key {env.OPENAI_API_KEY}\n\t\t}"},
		{"\n:8080 {", "\n:" + port(apiAddr) + " {\n\tbind 127.0.0.1"},
	})
	p := startCaddy(t, bin, cfg, []string{"OPENAI_API_KEY=" + providerKey}, func() bool {
		resp, err := http.Get("http://" + adminAddr + "/ai_gateway/keys")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	var created struct{ Key string }
	postJSON(t, http.DefaultClient, "http://"+adminAddr+"/ai_gateway/keys", "", `{"name":"xcaddy"}`, http.StatusCreated, &created)
	var answer struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	postJSON(t, http.DefaultClient, "http://"+apiAddr+"/v1/chat/completions", created.Key,
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from xcaddy"}]}`, http.StatusOK, &answer)
	if len(answer.Choices) != 1 || answer.Choices[0].Message.Content == "" {
		t.Fatalf("the quickstart's answer has no content: %+v\n%s", answer, p.log())
	}
}

// edit is one textual substitution of an example, which must apply.
type edit struct{ old, new string }

// adaptExample reads an example Caddyfile and applies edits, each exactly
// once; an edit that does not apply fails the test (the example changed
// shape, and the test must follow).
func adaptExample(t *testing.T, rel string, edits []edit) string {
	t.Helper()
	cfg := repoFile(t, rel)
	for _, e := range edits {
		if strings.Count(cfg, e.old) != 1 {
			t.Fatalf("%s changed shape: %q is not found exactly once", rel, e.old)
		}
		cfg = strings.Replace(cfg, e.old, e.new, 1)
	}
	return cfg
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// caddyProcess is a Caddy binary run as a child process of the test.
type caddyProcess struct {
	cmd  *exec.Cmd
	dir  string // its home, data and config directories
	mu   sync.Mutex
	logs bytes.Buffer
}

func (p *caddyProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

// log returns what the process wrote so far.
func (p *caddyProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startCaddy runs `bin run` on the Caddyfile cfg with HOME and the XDG
// directories in a temporary directory and env added, waits until ready
// reports true, and stops the process when the test ends.
func startCaddy(t *testing.T, bin, cfg string, env []string, ready func() bool) *caddyProcess {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &caddyProcess{dir: dir}
	p.cmd = exec.Command(bin, "run", "--config", path)
	p.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-exited
			t.Errorf("caddy did not stop within 30s of SIGINT\n%s", p.log())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case <-exited:
			t.Fatalf("caddy exited: %v\n%s", p.cmd.ProcessState, p.log())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy was not ready within 60s\n%s", p.log())
		}
	}
	return p
}

// postJSON posts body to url with the gateway key (if any) as a bearer
// token, requires the status want and decodes the answer into out.
func postJSON(t *testing.T, c *http.Client, url, key, body string, want int, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d: %s", url, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %v: %s", url, err, b)
		}
	}
}
