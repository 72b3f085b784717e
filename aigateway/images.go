package aigateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// ImageFetch configures how the gateway fetches images given by URL for
// providers that only take image bytes (Gemini, Bedrock).
type ImageFetch struct {
	// MaxSize bounds one image in bytes. Default 20 MiB.
	MaxSize int64 `json:"max_size,omitempty"`
	// Timeout bounds one fetch. Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// AllowPrivateNetworks lets image URLs point at private networks:
	// RFC 1918, shared address space (100.64.0.0/10) and unique-local IPv6.
	// Off by default: a client could otherwise make the gateway reach
	// internal services (SSRF). Loopback, link-local (cloud metadata) and
	// every other special-purpose address stay refused either way.
	AllowPrivateNetworks bool `json:"allow_private_networks,omitempty"`
}

// Defaults for ImageFetch.
const (
	DefaultImageMaxSize = 20 << 20
	defaultImageTimeout = 10 * time.Second
)

// imageFetcher fetches images for providers.InlineImages providers.
type imageFetcher struct {
	client  *http.Client
	dialer  *imageDialer
	maxSize int64
}

// imageDialer dials image hosts, refusing every address that is not global
// unicast. It checks what is actually dialled, after DNS and on every
// redirect, and dials the very address it checked, so a name that resolves
// to an internal address, or answers differently the second time (DNS
// rebinding), is refused too.
type imageDialer struct {
	net          net.Dialer
	allowPrivate bool
	// allowLoopback is for tests only: the fetch tests serve images from
	// httptest on 127.0.0.1. No config sets it; see testAllowLoopback.
	allowLoopback bool
	// lookup resolves a host name; net.DefaultResolver's outside tests.
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// hook, when set (tests only), sees every address about to be dialled,
	// after the checks; an error stops the dial before any packet is sent.
	hook func(address string) error
}

// testAllowLoopback lets fetchers created while it is set fetch from
// loopback addresses. Only tests set it (export_test.go), so that images can
// come from an httptest server; the Caddyfile and JSON config cannot.
var testAllowLoopback atomic.Bool

func newImageFetcher(cfg *ImageFetch) *imageFetcher {
	if cfg == nil {
		cfg = &ImageFetch{}
	}
	maxSize := cfg.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultImageMaxSize
	}
	timeout := time.Duration(cfg.Timeout)
	if timeout <= 0 {
		timeout = defaultImageTimeout
	}
	d := &imageDialer{
		net:           net.Dialer{Timeout: timeout},
		allowPrivate:  cfg.AllowPrivateNetworks,
		allowLoopback: testAllowLoopback.Load(),
		lookup:        net.DefaultResolver.LookupNetIP,
	}
	// The last word, on the socket's own address just before connect.
	d.net.Control = d.control
	return &imageFetcher{
		maxSize: maxSize,
		dialer:  d,
		client: &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				// No HTTP(S)_PROXY: through a proxy only the proxy's
				// address would be checked, and the proxy would reach
				// whatever the client named.
				Proxy:               nil,
				DialContext:         d.dial,
				TLSHandshakeTimeout: timeout,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     30 * time.Second,
			},
			CheckRedirect: func(_ *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				return nil
			},
		},
	}
}

var errPrivateAddress = errors.New("the address is in a private or local network, or otherwise not public")

// allowed reports whether the fetcher may dial addr.
func (d *imageDialer) allowed(addr netip.Addr) bool {
	if d.allowLoopback && addr.Unmap().IsLoopback() {
		return true
	}
	return allowedAddr(addr, d.allowPrivate)
}

// dial resolves address's host and dials the first of its addresses that
// is allowed and answers. A host none of whose addresses is allowed gets
// errPrivateAddress.
func (d *imageDialer) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, perr := netip.ParseAddr(host); perr == nil {
		addrs = []netip.Addr{ip}
	} else {
		ipNetwork := "ip"
		switch network {
		case "tcp4":
			ipNetwork = "ip4"
		case "tcp6":
			ipNetwork = "ip6"
		}
		if addrs, err = d.lookup(ctx, ipNetwork, host); err != nil {
			return nil, err
		}
	}
	err = errPrivateAddress
	for _, ip := range addrs {
		if !d.allowed(ip) {
			continue
		}
		conn, derr := d.net.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if derr == nil {
			return conn, nil
		}
		err = derr
	}
	return nil, err
}

// control checks the address the socket is about to connect to.
func (d *imageDialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	if !d.allowed(ap.Addr()) {
		return errPrivateAddress
	}
	if d.hook != nil {
		return d.hook(address)
	}
	return nil
}

// inline replaces every image URL in req with the image's bytes.
func (f *imageFetcher) inline(ctx context.Context, req *providers.ChatRequest) *providers.Error {
	for i := range req.Messages {
		for j := range req.Messages[i].Parts {
			img := req.Messages[i].Parts[j].Image
			if img == nil || img.URL == "" || len(img.Data) > 0 {
				continue
			}
			param := fmt.Sprintf("messages[%d].content[%d].image_url", i, j)
			data, mediaType, err := f.fetch(ctx, img.URL)
			if err != nil {
				return errBadRequest("image_fetch_failed", param, "the image could not be fetched for this model's provider, which needs image bytes: "+err.Error())
			}
			img.Data, img.MediaType, img.URL = data, mediaType, ""
		}
	}
	return nil
}

func (f *imageFetcher) fetch(ctx context.Context, url string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", errors.New("invalid URL")
	}
	req.Header.Set("Accept", "image/*")
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, errPrivateAddress) {
			return nil, "", errPrivateAddress
		}
		return nil, "", errors.New("the image host could not be reached")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("the image host answered HTTP %d", resp.StatusCode)
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mediaType {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
	default:
		return nil, "", fmt.Errorf("the URL is not a PNG, JPEG, GIF or WebP image (Content-Type %q)", strings.TrimSpace(mediaType))
	}
	if resp.ContentLength > f.maxSize {
		return nil, "", fmt.Errorf("the image is larger than %d bytes", f.maxSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, f.maxSize+1))
	if err != nil {
		return nil, "", errors.New("reading the image failed")
	}
	if int64(len(data)) > f.maxSize {
		return nil, "", fmt.Errorf("the image is larger than %d bytes", f.maxSize)
	}
	return data, mediaType, nil
}
