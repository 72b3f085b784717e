package aigateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// TestImageFetchAddressRanges holds every special-purpose range of IANA's
// registries (and multicast, site-local) to refusal, at its edges, with the
// addresses just outside them allowed; allow_private_networks opens only
// the private-use, shared and unique-local ranges. The cases are written out
// here, independently of the tables, and every table entry must have one.
func TestImageFetchAddressRanges(t *testing.T) {
	const (
		refused = iota // always
		private        // refused unless allow_private_networks
		global         // always allowed
	)
	cases := []struct {
		addr string
		want int
	}{
		// IPv4 special-purpose registry.
		{"0.0.0.0", refused}, {"0.255.255.255", refused}, {"1.0.0.0", global},
		{"10.0.0.0", private}, {"10.255.255.255", private}, {"11.0.0.0", global}, {"9.255.255.255", global},
		{"100.64.0.0", private}, {"100.127.255.255", private}, {"100.63.255.255", global}, {"100.128.0.0", global},
		{"127.0.0.1", refused}, {"127.255.255.255", refused}, {"128.0.0.0", global},
		{"169.254.169.254", refused}, {"169.254.0.0", refused}, {"169.255.0.0", global},
		{"172.16.0.0", private}, {"172.31.255.255", private}, {"172.15.255.255", global}, {"172.32.0.0", global},
		{"192.0.0.0", refused}, {"192.0.0.9", refused}, {"192.0.0.170", refused}, {"192.0.0.255", refused}, {"192.0.1.0", global},
		{"192.0.2.1", refused},
		{"192.31.196.1", refused},
		{"192.52.193.1", refused},
		{"192.88.99.1", refused},
		{"192.168.0.1", private}, {"192.168.255.255", private}, {"192.169.0.0", global},
		{"192.175.48.1", refused},
		{"198.18.0.0", refused}, {"198.19.255.255", refused}, {"198.17.255.255", global}, {"198.20.0.0", global},
		{"198.51.100.7", refused},
		{"203.0.113.7", refused},
		{"224.0.0.1", refused}, {"239.255.255.255", refused}, {"223.255.255.255", global},
		{"240.0.0.1", refused}, {"255.255.255.254", refused},
		{"255.255.255.255", refused},
		{"8.8.8.8", global}, {"93.184.216.34", global},
		// IPv4 written as IPv4-mapped IPv6 is the IPv4 address.
		{"::ffff:127.0.0.1", refused}, {"::ffff:10.0.0.1", private}, {"::ffff:100.64.0.1", private}, {"::ffff:8.8.8.8", global},
		// IPv6 special-purpose registry.
		{"::", refused},
		{"::1", refused},
		{"::a00:1", refused}, // IPv4-compatible 10.0.0.1
		{"::808:808", refused},
		{"64:ff9b::a00:1", private}, {"64:ff9b::7f00:1", refused}, {"64:ff9b::a9fe:a9fe", refused},
		{"64:ff9b::6440:1", private}, {"64:ff9b::c612:1", refused}, {"64:ff9b::808:808", global},
		{"64:ff9b:1::808:808", refused},
		{"100::1", refused},
		{"100:0:0:1::1", refused},
		{"2001::1", refused}, {"2001:0:4136:e378:8000:63bf:3fff:fdd2", refused}, {"2001:2::1", refused}, {"2001:1ff:ffff::1", refused}, {"2001:200::1", global},
		{"2001:db8::1", refused}, {"2001:db7:ffff::1", global}, {"2001:db9::1", global},
		{"2002:a00:1::1", refused}, {"2002:c0a8:101::1", refused}, {"2002:808:808::1", refused}, {"2003::1", global},
		{"2620:4f:8000::1", refused}, {"2620:4f:8001::1", global},
		{"3fff::1", refused}, {"3fff:fff::1", refused}, {"3fff:1000::1", global},
		{"5f00::1", refused},
		{"fc00::1", private}, {"fdff:ffff::1", private},
		{"fe80::1", refused}, {"fe80::1%eth0", refused},
		{"fec0::1", refused},
		{"ff02::1", refused},
		{"4000::1", refused}, // not allocated: outside 2000::/3
		{"2606:4700:4700::1111", global}, {"2a00:1450:4001::1", global},
	}
	for _, c := range cases {
		addr := netip.MustParseAddr(c.addr)
		if got := allowedAddr(addr, false); got != (c.want == global) {
			t.Errorf("%s: allowed %t by default, want %t", c.addr, got, c.want == global)
		}
		if got := allowedAddr(addr, true); got != (c.want != refused) {
			t.Errorf("%s: allowed %t with allow_private_networks, want %t", c.addr, got, c.want != refused)
		}
	}
	// Every range has a refused (or private) case inside it.
	for _, table := range [][]specialRange{specialIPv4, specialIPv6} {
		for _, r := range table {
			covered := false
			for _, c := range cases {
				if c.want != global && r.prefix.Contains(netip.MustParseAddr(c.addr).WithZone("")) {
					covered = true
				}
			}
			if !covered {
				t.Errorf("range %s (%s) has no test case", r.prefix, r.name)
			}
		}
	}
}

// errNotDialled stops a test dial before any packet leaves.
var errNotDialled = errors.New("test: not dialled")

// testFetcher is a fetcher whose names resolve from names and whose dials
// are recorded: only loopback ones go ahead, so no test connects outside
// 127.0.0.0/8 and ::1.
func testFetcher(t *testing.T, cfg *ImageFetch, loopback bool, names map[string][]string) (*imageFetcher, func() []string) {
	t.Helper()
	f := newImageFetcher(cfg)
	f.dialer.allowLoopback = loopback
	f.dialer.lookup = func(_ context.Context, _, host string) ([]netip.Addr, error) {
		var addrs []netip.Addr
		for _, a := range names[host] {
			addrs = append(addrs, netip.MustParseAddr(a))
		}
		if len(addrs) == 0 {
			return nil, errors.New("no such host")
		}
		return addrs, nil
	}
	var mu sync.Mutex
	var dialled []string
	f.dialer.hook = func(address string) error {
		mu.Lock()
		dialled = append(dialled, address)
		mu.Unlock()
		if ap := netip.MustParseAddrPort(address); ap.Addr().Unmap().IsLoopback() {
			return nil
		}
		return errNotDialled
	}
	return f, func() []string {
		mu.Lock()
		defer mu.Unlock()
		d := dialled
		dialled = nil
		return d
	}
}

// TestImageFetchChecksTheAddressDialled fetches through DNS answers and
// redirects: a refused address is never dialled, whether the URL names it,
// a name resolves to it, or a redirect leads to it; an allowed one is
// dialled directly (no proxy), as the hook sees.
func TestImageFetchChecksTheAddressDialled(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nimage")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	}))
	defer srv.Close()
	names := map[string][]string{
		"internal.example":  {"10.1.2.3"},
		"cgnat.example":     {"100.64.7.7"},
		"bench.example":     {"198.18.0.1"},
		"metadata.example":  {"169.254.169.254"},
		"nat64.example":     {"64:ff9b::c0a8:101"},
		"sixtofour.example": {"2002:c0a8:101::1"},
		"public.example":    {"93.184.216.34"},
		"mixed.example":     {"10.0.0.1", "93.184.216.34"},
		"public6.example":   {"2606:4700::6810:84e5"},
		"pub64.example":     {"64:ff9b::5db8:d822"},
	}
	const refusedMsg = "private or local network"
	cases := []struct {
		name, url string
		dialled   []string // what reaches the socket, in order
		err       string
	}{
		{"private literal", "http://10.0.0.1/a.png", nil, refusedMsg},
		{"cgnat literal", "http://100.100.100.100/a.png", nil, refusedMsg},
		{"bracketed nat64 literal", "http://[64:ff9b::7f00:1]/a.png", nil, refusedMsg},
		{"name to private", "http://internal.example/a.png", nil, refusedMsg},
		{"name to cgnat", "http://cgnat.example/a.png", nil, refusedMsg},
		{"name to benchmarking", "http://bench.example/a.png", nil, refusedMsg},
		{"name to metadata", "http://metadata.example/a.png", nil, refusedMsg},
		{"name to nat64 of private", "http://nat64.example/a.png", nil, refusedMsg},
		{"name to 6to4 of private", "http://sixtofour.example/a.png", nil, refusedMsg},
		{"name to public", "http://public.example/a.png", []string{"93.184.216.34:80"}, "could not be reached"},
		{"https to public", "https://public.example/a.png", []string{"93.184.216.34:443"}, "could not be reached"},
		{"name to public ipv6", "http://public6.example:8080/a.png", []string{"[2606:4700::6810:84e5]:8080"}, "could not be reached"},
		{"name to nat64 of public", "http://pub64.example/a.png", []string{"[64:ff9b::5db8:d822]:80"}, "could not be reached"},
		{"mixed answer dials only the public address", "http://mixed.example/a.png", []string{"93.184.216.34:80"}, "could not be reached"},
		{"redirect to private", srv.URL + "/?to=http://192.168.1.1/a.png", []string{hostOf(srv.URL)}, refusedMsg},
		{"redirect to metadata name", srv.URL + "/?to=http://metadata.example/latest", []string{hostOf(srv.URL)}, refusedMsg},
		{"redirect to public", srv.URL + "/?to=http://public.example/a.png", []string{hostOf(srv.URL), "93.184.216.34:80"}, "could not be reached"},
		{"loopback served", srv.URL + "/a.png", []string{hostOf(srv.URL)}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, dialled := testFetcher(t, nil, true, names)
			f.client.Transport.(*http.Transport).DisableKeepAlives = true
			data, _, err := f.fetch(context.Background(), c.url)
			switch {
			case c.err == "" && (err != nil || string(data) != string(png)):
				t.Fatalf("fetch: %v %q", err, data)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("fetch: error %v, want one with %q", err, c.err)
			}
			if got := dialled(); strings.Join(got, " ") != strings.Join(c.dialled, " ") {
				t.Fatalf("dialled %q, want %q", got, c.dialled)
			}
		})
	}

	// Loopback stays refused for a fetcher built outside tests' switch,
	// even with allow_private_networks.
	f, dialled := testFetcher(t, &ImageFetch{AllowPrivateNetworks: true}, false, names)
	if _, _, err := f.fetch(context.Background(), srv.URL+"/a.png"); err == nil || !strings.Contains(err.Error(), refusedMsg) {
		t.Fatalf("loopback with allow_private_networks: %v", err)
	}
	if _, _, err := f.fetch(context.Background(), "http://internal.example/a.png"); !errors.Is(err, errNotDialled) && (err == nil || !strings.Contains(err.Error(), "could not be reached")) {
		t.Fatalf("a private address with allow_private_networks: %v", err)
	}
	if got := dialled(); len(got) != 1 || got[0] != "10.1.2.3:80" {
		t.Fatalf("dialled with allow_private_networks: %q", got)
	}
}

// TestImageFetchIgnoresProxyEnvironment: through HTTP(S)_PROXY only the
// proxy's address would be checked, and the proxy would dial the rest.
func TestImageFetchIgnoresProxyEnvironment(t *testing.T) {
	f := newImageFetcher(nil)
	if f.client.Transport.(*http.Transport).Proxy != nil {
		t.Fatal("image fetches go through the proxy of the environment")
	}
}

// TestImageFetchErrorNamesNoAddress: the client learns that the address
// was refused, not which internal address a name resolved to.
func TestImageFetchErrorNamesNoAddress(t *testing.T) {
	f, _ := testFetcher(t, nil, false, map[string][]string{"internal.example": {"10.9.8.7"}})
	req := &providers.ChatRequest{Messages: []providers.Message{{Parts: []providers.Part{{Image: &providers.Image{URL: "http://internal.example/x.png"}}}}}}
	perr := f.inline(context.Background(), req)
	if perr == nil || perr.Code != "image_fetch_failed" || strings.Contains(perr.Message, "10.9.8.7") {
		t.Fatalf("inline: %+v", perr)
	}
}

func hostOf(url string) string {
	return strings.TrimPrefix(url, "http://")
}
