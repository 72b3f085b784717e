// Package xcaddytest holds no code, only tests of what a user does first
// and last: build Caddy with the plugin by the README's xcaddy command, check
// that every module of ours is in it, serve the quickstart, and run the
// production example (HTTPS with `tls internal`, the admin API on a unix
// socket, the CLI over it, body-read timeouts, log redaction, the backup
// script). Those tests build a binary, which takes minutes, so they run in
// their own phase of `go run ./cmd/testall` (it sets [EnvRun]); the
// consistency checks between the README, go.mod, the Dockerfile and the
// systemd unit run everywhere.
package xcaddytest

// EnvRun is the environment variable that `go run ./cmd/testall` sets to 1
// when it runs the xcaddy phase; without it the build tests skip, so that
// the `go test ./...` phase does not build Caddy a second time alongside the
// other packages' tests.
const EnvRun = "CADDY_AI_GATEWAY_XCADDY"

// XcaddyVersion is the xcaddy release the test installs, the README names
// and the Dockerfile builds with (`go list -m -versions
// github.com/caddyserver/xcaddy` lists the newer ones).
const XcaddyVersion = "v0.4.5"
