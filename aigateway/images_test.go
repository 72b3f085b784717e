package aigateway_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway"
)

// TestImageURLsAreFetchedForProvidersThatNeedBytes sends an image by URL to
// a Gemini-format provider (which only takes bytes): the gateway fetches it,
// within its size limit, and refuses URLs that point into private or local
// networks; allow_private_networks does not open loopback.
func TestImageURLsAreFetchedForProvidersThatNeedBytes(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 3000)...)
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cat.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(png)
		case "/page.html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer images.Close()

	e := newEnv(t)
	gemini := func(fetch string) {
		e.load(fmt.Sprintf("\t\tprovider gem gemini {\n\t\t\tbase_url %s/v1beta\n\t\t\tapi_key %s\n\t\t}\n\t\tmodel gemini-test gem\n%s", e.mockURL, providerKey, fetch))
	}
	ask := func(key, url string) (int, string) {
		body := `{"model":"gemini-test","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"` + url + `"}}]}]}`
		code, _, resp := e.do("POST", "/v1/chat/completions", key, body)
		return code, string(resp)
	}

	gemini("")
	k := e.createKey(map[string]any{"name": "images"})
	e.mock.Reset()
	if code, body := ask(k.Key, images.URL+"/cat.png"); code != 400 || !strings.Contains(body, "image_fetch_failed") || !strings.Contains(body, "private or local network") {
		t.Fatalf("an image on a loopback address was fetched by default: %d %s", code, body)
	}
	if n := len(e.mock.Requests()); n != 0 {
		t.Fatalf("the upstream was called %d times for a refused image", n)
	}

	// allow_private_networks opens private networks, never loopback.
	gemini("\t\timage_fetch {\n\t\t\tallow_private_networks\n\t\t}")
	if code, body := ask(k.Key, images.URL+"/cat.png"); code != 400 || !strings.Contains(body, "private or local network") {
		t.Fatalf("an image on a loopback address was fetched with allow_private_networks: %d %s", code, body)
	}
	if n := len(e.mock.Requests()); n != 0 {
		t.Fatalf("the upstream was called %d times for a refused image", n)
	}

	// Loopback, where httptest serves, only by the tests' own switch.
	aigateway.AllowLoopbackImageFetch(t)
	gemini("\t\timage_fetch {\n\t\t\tmax_size 2KB\n\t\t}")
	if code, body := ask(k.Key, images.URL+"/cat.png"); code != 400 || !strings.Contains(body, "larger than 2000 bytes") {
		t.Fatalf("an image over max_size: %d %s", code, body)
	}
	gemini("")
	for path, want := range map[string]string{"/page.html": "not a PNG, JPEG, GIF or WebP", "/missing.png": "HTTP 404"} {
		if code, body := ask(k.Key, images.URL+path); code != 400 || !strings.Contains(body, want) {
			t.Fatalf("%s: %d %s", path, code, body)
		}
	}
	e.mock.Reset()
	if code, body := ask(k.Key, images.URL+"/cat.png"); code != 200 {
		t.Fatalf("fetched image: %d %s", code, body)
	}
	reqs := e.mock.Requests()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), base64.StdEncoding.EncodeToString(png)) || !strings.Contains(string(reqs[0].Body), `"image/png"`) {
		t.Fatalf("the upstream did not get the image bytes inline: %.300s", reqs[0].Body)
	}
}
