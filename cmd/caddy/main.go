// Command caddy is Caddy with its standard modules and the AI gateway
// plugin built in: `go build -o caddy ./cmd/caddy && ./caddy run --config
// examples/quickstart/Caddyfile`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-ai-gateway/caddy-ai-gateway"
)

func main() { caddycmd.Main() }
