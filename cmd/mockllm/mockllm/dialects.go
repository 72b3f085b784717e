package mockllm

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Dialect is a provider wire format the mock speaks besides OpenAI's. Each
// lives in its own file and registers itself in init, so adding one touches
// no other file.
type Dialect struct {
	// Name is the dialect's name, e.g. "anthropic".
	Name string
	// Match reports whether a request path (without a trailing slash)
	// belongs to the dialect.
	Match func(path string) bool
	// Authorized reports whether r carries key the way the dialect sends it.
	Authorized func(r *http.Request, key string) bool
	// WriteError writes an error in the dialect's shape.
	WriteError func(w http.ResponseWriter, status int, message string)
	// Serve answers an authorized request. body is the request body; n the
	// request's sequence number (for ids); k the X-Mock-* knobs (status is
	// already handled).
	Serve func(s *Server, w http.ResponseWriter, r *http.Request, body []byte, n uint64, k knobs)
}

var dialects []Dialect

// registerDialect adds a dialect; call it from init.
func registerDialect(d Dialect) { dialects = append(dialects, d) }

// headerKeyIs reports whether header name holds exactly key (an optional
// "Bearer " prefix is accepted), compared in constant time.
func headerKeyIs(r *http.Request, name, key string) bool {
	v := strings.TrimSpace(r.Header.Get(name))
	v = strings.TrimPrefix(v, "Bearer ")
	return v != "" && subtle.ConstantTimeCompare([]byte(v), []byte(key)) == 1
}
