package aigateway

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Caddy binds its listeners with SO_REUSEPORT, so a second gateway process
// started on the same ports (with another store directory and admin
// address) starts happily and the kernel splits connections between the
// two: clients see their valid keys rejected by the store that does not
// have them. The app therefore claims each TCP port its config's HTTP
// servers listen on, for as long as any config of this process uses it
// (a reload runs the new config beside the old one, so the claim is
// shared through a pool), and refuses to start when another process holds
// a claim. See claimPort for the mechanism of each system.

// portClaims holds this process's claims, by port key.
var portClaims = caddy.NewUsagePool()

// listenPorts returns the TCP ports the config's HTTP servers listen on.
func (a *App) listenPorts() []uint {
	v, err := a.ctx.AppIfConfigured("http")
	if err != nil {
		return nil
	}
	httpApp, ok := v.(*caddyhttp.App)
	if !ok {
		return nil
	}
	repl := caddy.NewReplacer()
	seen := map[uint]bool{}
	var ports []uint
	for _, srv := range httpApp.Servers {
		for _, l := range srv.Listen {
			na, err := caddy.ParseNetworkAddress(repl.ReplaceKnown(l, ""))
			if err != nil || !strings.HasPrefix(na.Network, "tcp") || na.EndPort-na.StartPort > 1024 {
				continue
			}
			for p := na.StartPort; p <= na.EndPort; p++ {
				if !seen[p] {
					seen[p] = true
					ports = append(ports, p)
				}
			}
		}
	}
	return ports
}

// claimPorts claims every listen port for this app; on failure it releases
// what it took and returns an error saying which process holds the port.
func (a *App) claimPorts() error {
	for _, p := range a.listenPorts() {
		key := fmt.Sprintf("tcp/%d", p)
		_, _, err := portClaims.LoadOrNew(key, func() (caddy.Destructor, error) { return claimPort(p) })
		if err != nil {
			a.releasePorts()
			return err
		}
		a.claims = append(a.claims, key)
	}
	return nil
}

// releasePorts drops this app's claims; the last user of one closes it.
func (a *App) releasePorts() {
	for _, k := range a.claims {
		_, _ = portClaims.Delete(k)
	}
	a.claims = nil
}
