package aigateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
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
	// AllowPrivateNetworks lets image URLs point at loopback, private and
	// link-local addresses. Off by default: a client could otherwise make the
	// gateway reach internal services (SSRF).
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
	maxSize int64
}

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
	dialer := &net.Dialer{Timeout: timeout}
	if !cfg.AllowPrivateNetworks {
		// Checked on the address actually dialled, after DNS, so a name that
		// resolves to an internal address is refused too.
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
				ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
				return errPrivateAddress
			}
			return nil
		}
	}
	return &imageFetcher{
		maxSize: maxSize,
		client: &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DialContext:         dialer.DialContext,
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

var errPrivateAddress = errors.New("the address is in a private or local network")

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
