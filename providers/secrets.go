package providers

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// SecretHolder is implemented by providers that hold credentials: every
// provider embedding Upstream (its api_key and extra header values), and
// providers with credentials of their own (Bedrock's AWS keys), which add
// them to Upstream's.
type SecretHolder interface {
	// Secrets returns the credentials the provider sends upstream, as
	// resolved at provisioning. Empty strings may be included.
	Secrets() []string
}

// Secrets returns the api_key and the extra header values, except those of
// the headers in publicHeaders.
func (u *Upstream) Secrets() []string {
	out := []string{u.Key}
	for name, vals := range u.HeaderVals {
		if !publicHeaders[strings.ToLower(name)] {
			out = append(out, vals...)
		}
	}
	return out
}

// publicHeaders are extra headers whose values are versions, feature flags,
// content types or an application's public identity, never credentials:
// their values are not scrubbed (a header value is otherwise treated as a
// credential, since a custom header is how many hosts take their key).
var publicHeaders = map[string]bool{
	"accept": true, "content-type": true, "user-agent": true, "cache-control": true,
	"anthropic-version": true, "anthropic-beta": true, "openai-beta": true,
	"openai-organization": true, "openai-project": true,
	"http-referer": true, "x-title": true, "api-version": true,
}

// MinSecretLen is the shortest credential a Scrubber redacts. Shorter
// values are left alone: an extra header such as `X-Priority 1` or
// `X-Retries 3` is a setting, not a credential, and replacing every "1" in
// a message would destroy the message while protecting nothing (a
// credential of a few characters can be guessed anyway). Real keys and
// tokens are far longer.
const MinSecretLen = 8

// Redacted replaces a credential in upstream text.
const Redacted = "[redacted]"

// Scrubber removes credentials from upstream text before it reaches a
// client, a log or a record. A nil *Scrubber removes nothing. It is safe for
// concurrent use.
type Scrubber struct {
	needles [][]byte
	r       *strings.Replacer
}

// NewScrubber returns a scrubber for the given credentials: each as it is
// and as it appears inside a JSON string (where quotes, backslashes and
// HTML characters are escaped), ignoring those shorter than MinSecretLen.
// It returns nil when nothing is left to scrub.
func NewScrubber(secrets []string) *Scrubber {
	seen := make(map[string]bool)
	var list []string
	add := func(s string) {
		if len(s) >= MinSecretLen && !seen[s] {
			seen[s] = true
			list = append(list, s)
		}
	}
	for _, s := range secrets {
		add(s)
		if q, err := json.Marshal(s); err == nil {
			add(string(q[1 : len(q)-1]))
		}
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if enc.Encode(s) == nil {
			q := strings.TrimSuffix(b.String(), "\n")
			add(q[1 : len(q)-1])
		}
	}
	if len(list) == 0 {
		return nil
	}
	// Longest first: a credential that contains another is replaced whole.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	needles := make([][]byte, len(list))
	for i, s := range list {
		pairs = append(pairs, s, Redacted)
		needles[i] = []byte(s)
	}
	return &Scrubber{needles: needles, r: strings.NewReplacer(pairs...)}
}

// String returns s with every credential replaced by Redacted.
func (s *Scrubber) String(str string) string {
	if s == nil || str == "" {
		return str
	}
	return s.r.Replace(str)
}

// Bytes returns b with every credential replaced; b itself when it holds
// none, so the common case costs a search per credential and no copy.
func (s *Scrubber) Bytes(b []byte) []byte {
	if s == nil {
		return b
	}
	for _, n := range s.needles {
		if bytes.Contains(b, n) {
			return []byte(s.r.Replace(string(b)))
		}
	}
	return b
}

// Error scrubs the text fields of e in place and returns it.
func (s *Scrubber) Error(e *Error) *Error {
	if s == nil || e == nil {
		return e
	}
	e.Message = s.String(e.Message)
	e.Type = s.String(e.Type)
	e.Code = s.String(e.Code)
	e.Param = s.String(e.Param)
	return e
}
