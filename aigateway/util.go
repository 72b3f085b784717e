package aigateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
)

// record queues a usage record. It does not wait for the write, and it
// survives the client going away (the record matters most then).
func (a *App) record(ctx context.Context, rec keystore.UsageRecord) {
	store, err := a.keyStore()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := store.RecordUsage(ctx, rec); err != nil {
		a.logger.Error("usage record not written", zap.String("request_id", rec.RequestID), zap.String("key_id", rec.KeyID), zap.Error(err))
	}
}

// requestID returns the client's X-Request-Id if sane, else a random one.
func requestID(r *http.Request) string {
	if v := r.Header.Get("X-Request-Id"); v != "" && len(v) <= 128 {
		return v
	}
	var b [12]byte
	var out [24]byte
	_, _ = rand.Read(b[:])
	hex.Encode(out[:], b[:])
	return string(out[:])
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func itoa(i int) string { return strconv.Itoa(i) }

// parseSize reads one size argument such as "4MB" or "1048576".
func parseSize(d *caddyfile.Dispenser) (int64, error) {
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<34 {
		return 0, d.Errf("invalid size %q", s)
	}
	return int64(n), nil
}

// copyBufPool holds the buffers responses are copied through.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writerOnly and readerOnly hide ReadFrom/WriteTo so io.CopyBuffer uses the
// pooled buffer and every write goes through the meter.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

// appOf returns the ai_gateway app of a config; an empty one is created
// when the config has none, so a bare directive works with defaults.
func appOf(ctx caddy.Context) (*App, error) {
	app, err := ctx.App(AppName)
	if err != nil {
		return nil, err
	}
	return app.(*App), nil
}

// unmarshalHandler parses the block both site directives take:
//
//	<directive> {
//		max_request_body <size>
//	}
func unmarshalHandler(d *caddyfile.Dispenser, maxRequestBody *int64) error {
	d.Next() // the directive name
	name := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "max_request_body":
			size, err := parseSize(d)
			if err != nil {
				return err
			}
			*maxRequestBody = size
		default:
			return d.Errf("unknown %s option %q", name, d.Val())
		}
	}
	return nil
}
