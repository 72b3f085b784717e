// Package mock is the provider module "mock", for trying the gateway out
// and for tests only: an OpenAI-format provider answered by the bundled
// mock upstream (cmd/mockllm), in this process, with no key and no
// network. Its answers are canned ("mock reply to: ..."), never a model's.
//
// It is not part of the plugin: the module root does not import this
// package, so `xcaddy build --with github.com/caddy-ai-gateway/caddy-ai-gateway`
// leaves it out and a production config that names it fails to load.
// cmd/caddy (the quickstart's binary) links it.
package mock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

func init() {
	caddy.RegisterModule(Mock{})
}

// Mock is the "mock" provider: OpenAI's API as cmd/mockllm answers it.
// Of the options every provider has it takes header and timeout (the
// mock's X-Mock-* headers shape its answers); base_url and api_key are
// refused, as there is no upstream to reach.
type Mock struct {
	openai.OpenAI

	srv *lazyServer
}

// CaddyModule returns the Caddy module information.
func (Mock) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  providers.Namespace + ".mock",
		New: func() caddy.Module { return new(Mock) },
	}
}

// errUpstreamOptions says why base_url and api_key have no place here.
var errUpstreamOptions = errors.New("mock: base_url and api_key are not options of the mock provider, which answers in-process; " +
	"to reach a real upstream, use its provider type (openai, openai_compatible, ...)")

// Provision sets the provider up to reach the mock. Nothing is started
// here (`caddy validate` provisions too): the mock listens on a loopback
// port from the first request on, and stops at Cleanup.
func (m *Mock) Provision(ctx caddy.Context) error {
	if m.BaseURL != "" || m.APIKey != "" {
		return errUpstreamOptions
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	key := "mock-" + hex.EncodeToString(b[:])
	// The host is never resolved: the transport dials the mock.
	m.BaseURL, m.APIKey = "http://mock.invalid/v1", key
	err := m.OpenAI.Provision(ctx)
	m.BaseURL, m.APIKey = "", ""
	if err != nil {
		return err
	}
	m.srv = &lazyServer{handler: mockllm.New(mockllm.Options{APIKey: key, MaxRecorded: -1})}
	tr := m.Client.Transport.(*http.Transport).Clone()
	tr.Proxy = nil // a proxy from the environment must not see mock.invalid
	tr.DialContext = m.srv.dial
	m.Client = &http.Client{Transport: tr, CheckRedirect: m.Client.CheckRedirect}
	return nil
}

// KeyOptional reports true: the mock needs no key.
func (*Mock) KeyOptional() bool { return true }

// Cleanup stops the mock if a request started it.
func (m *Mock) Cleanup() error {
	if m.srv != nil {
		m.srv.close()
	}
	return m.OpenAI.Cleanup()
}

// UnmarshalCaddyfile sets up the provider from the block of a
// `provider <name> mock` line in the ai_gateway global option. Syntax:
//
//	provider <name> mock {
//		header  <name> <value>
//		timeout <duration>
//	}
//
// The dispenser's first token is the provider type.
func (m *Mock) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if err := m.UnmarshalBlock(d, nil); err != nil {
		return err
	}
	if m.BaseURL != "" || m.APIKey != "" {
		d.Reset() // name the provider's own line
		d.Next()
		return d.Err(errUpstreamOptions.Error())
	}
	return nil
}

// lazyServer is the mock upstream, served on a loopback port that is
// opened on the first dial.
type lazyServer struct {
	handler http.Handler

	mu     sync.Mutex
	srv    *http.Server
	addr   string
	closed bool
}

func (s *lazyServer) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	addr, err := s.start()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// start serves the mock unless it is serving already, and returns its
// address.
func (s *lazyServer) start() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("mock: the provider was cleaned up")
	}
	if s.srv == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
		s.addr = ln.Addr().String()
		go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
	}
	return s.addr, nil
}

// close stops the mock, if it was started, and keeps it from starting.
func (s *lazyServer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// running reports whether the mock was started, for the tests.
func (s *lazyServer) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil && !s.closed
}

// Interface guards.
var (
	_ providers.Provider    = (*Mock)(nil)
	_ providers.Passthrough = (*Mock)(nil)
	_ providers.Embedder    = (*Mock)(nil)
	_ providers.KeyOptional = (*Mock)(nil)
	_ caddy.Provisioner     = (*Mock)(nil)
	_ caddy.CleanerUpper    = (*Mock)(nil)
	_ caddyfile.Unmarshaler = (*Mock)(nil)
)
