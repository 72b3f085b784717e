package aigateway_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRequestsAtStartWaitForTheApp starts the gateway config again and
// again (from a config without it) and, from before the HTTP port opens,
// fires client requests in a tight loop; the moment one is answered it
// calls the admin API too. Caddy starts its apps in map order, so the HTTP
// server often accepts before the ai_gateway app has started: no answer
// may then be "not running" or any other failure.
func TestRequestsAtStartWaitForTheApp(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "early-bird"})
	const starts = 20
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(url, key string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), nil
	}
	failedStarts := 0
	for i := 0; i < starts; i++ {
		post(t, adminURL+"/load", "text/caddyfile", "{\n\tadmin localhost:2999\n}\n")
		if _, _, err := get(gatewayURL+"/v1/models", k.Key); err == nil {
			t.Fatal("the gateway port still answers after loading a config without it")
		}

		var failures []string
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var mu sync.Mutex
		fail := func(s string) { mu.Lock(); failures = append(failures, s); mu.Unlock() }
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						fail("the gateway port never opened")
						return
					default:
					}
					code, body, err := get(gatewayURL+"/v1/models", k.Key)
					if err != nil {
						continue // not listening yet
					}
					if code != http.StatusOK {
						fail("first client answer: " + http.StatusText(code) + ": " + body)
					}
					// The HTTP app is up: the admin API must serve the gateway now.
					if code, body, err := get(adminURL+"/ai_gateway/keys", ""); err != nil || code != http.StatusOK {
						fail("admin call as the port opened: " + http.StatusText(code) + ": " + body)
					}
					return
				}
			}()
		}
		time.Sleep(time.Millisecond) // let the loops start before the load
		post(t, adminURL+"/load", "text/caddyfile", e.config(""))
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			close(stop)
			<-done
		}
		if len(failures) > 0 {
			failedStarts++
			t.Errorf("start %d: %s", i+1, strings.Join(failures, "; "))
		}
	}
	if failedStarts > 0 {
		t.Errorf("%d of %d starts had a request fail while the app was starting", failedStarts, starts)
	}
}

// post sends body to url and fails the test unless it gets 200.
func post(t *testing.T, url, contentType, body string) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}
