package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// apiKey mirrors the key object returned by the admin API.
type apiKey struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Prefix      string            `json:"prefix"`
	Last4       string            `json:"last4"`
	Models      []string          `json:"models,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Status      string            `json:"status"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ExpiresAt   *time.Time        `json:"expires_at,omitempty"`
	RevokedAt   *time.Time        `json:"revoked_at,omitempty"`
	RotatedFrom string            `json:"rotated_from,omitempty"`
	RotatedTo   string            `json:"rotated_to,omitempty"`
	Team        string            `json:"team,omitempty"`
	Limits      limits            `json:"limits"`
	// Spend is the key's consumption in its current budget period.
	Spend *spend `json:"spend,omitempty"`
	// LastUsedAt (to the minute) and LastUsedFrom (a /24 or /48) are
	// absent for a key never used.
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
	LastUsedFrom string     `json:"last_used_from,omitempty"`

	// Key is the plaintext secret; only present right after creation
	// or rotation.
	Key string `json:"key,omitempty"`
}

// createdKey is the response of POST /ai_gateway/keys and of
// POST /ai_gateway/keys/ID/rotate (which also includes old_key).
type createdKey struct {
	apiKey
	OldKey *apiKey `json:"old_key,omitempty"`
}

// createKeyRequest is the body of POST /ai_gateway/keys.
type createKeyRequest struct {
	Name      string            `json:"name,omitempty"`
	Models    []string          `json:"models,omitempty"`
	ExpiresAt *time.Time        `json:"expires_at,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Team      string            `json:"team,omitempty"`
	Limits    *limits           `json:"limits,omitempty"`
}

// updateKeyRequest is the body of PATCH /ai_gateway/keys/ID; nil fields
// are left unchanged by the server.
type updateKeyRequest struct {
	Name        *string    `json:"name,omitempty"`
	Models      *[]string  `json:"models,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	ClearExpiry bool       `json:"clear_expiry,omitempty"`
	// Team "" removes the key from its team.
	Team *string `json:"team,omitempty"`
	// Limits replaces all of the key's limits.
	Limits *limits `json:"limits,omitempty"`
}

// empty reports whether the request would change nothing.
func (r updateKeyRequest) empty() bool {
	return r.Name == nil && r.Models == nil && r.ExpiresAt == nil && !r.ClearExpiry &&
		r.Team == nil && r.Limits == nil
}

// rotateKeyRequest is the body of POST /ai_gateway/keys/ID/rotate.
type rotateKeyRequest struct {
	Grace string `json:"grace,omitempty"`
}

// createKey creates a key and prints its plaintext secret.
func (c *client) createKey(ctx context.Context, req createKeyRequest) error {
	var resp createdKey
	render, err := c.call(ctx, http.MethodPost, keysPath, nil, req, &resp)
	if err != nil || !render {
		return err
	}
	fmt.Fprintf(c.out, "Created key %s.\n", resp.ID)
	c.printSecret(resp.Key)
	return c.printKey(&resp.apiKey)
}

// listKeys prints the keys as a table: all of them, or with unusedFor
// (e.g. "90d") those not used for that long.
func (c *client) listKeys(ctx context.Context, unusedFor string) error {
	var resp struct {
		Keys []apiKey `json:"keys"`
	}
	var q url.Values
	if unusedFor != "" {
		q = url.Values{"unused_for": {unusedFor}}
	}
	render, err := c.call(ctx, http.MethodGet, keysPath, q, nil, &resp)
	if err != nil || !render {
		return err
	}
	if len(resp.Keys) == 0 {
		if unusedFor != "" {
			fmt.Fprintf(c.out, "No keys unused for %s.\n", unusedFor)
			return nil
		}
		fmt.Fprintln(c.out, "No keys.")
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTEAM\tPREFIX\tSTATUS\tMODELS\tEXPIRES\tCREATED\tLAST USED")
	for _, k := range resp.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			cell(k.ID), cell(k.Name), cell(k.Team), cell(maskedKey(&k)), cell(k.Status),
			modelsText(k.Models), c.expiresText(k.ExpiresAt, "2006-01-02 15:04"),
			c.timeText(k.CreatedAt, "2006-01-02 15:04"), c.lastUsedText(&k, "2006-01-02 15:04"))
	}
	return tw.Flush()
}

// lastUsedText renders a key's last use, "never" when it has none.
func (c *client) lastUsedText(k *apiKey, layout string) string {
	if k.LastUsedAt == nil || k.LastUsedAt.IsZero() {
		return "never"
	}
	s := c.timeText(*k.LastUsedAt, layout)
	if k.LastUsedFrom != "" {
		s += " from " + k.LastUsedFrom
	}
	return s
}

// keyCheck is the answer of POST /ai_gateway/keys/check.
type keyCheck struct {
	Verdict   string     `json:"verdict"`
	Message   string     `json:"message"`
	KeyID     string     `json:"key_id,omitempty"`
	Name      string     `json:"name,omitempty"`
	Team      string     `json:"team,omitempty"`
	RotatedTo string     `json:"rotated_to,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy *struct {
		Seq   uint64    `json:"seq"`
		Time  time.Time `json:"time"`
		Actor string    `json:"actor,omitempty"`
	} `json:"revoked_by,omitempty"`
	Scope    string     `json:"scope,omitempty"`
	ResetsAt *time.Time `json:"resets_at,omitempty"`
}

// checkKey asks why the gateway accepts or refuses key, and prints the
// answer; it fails (exit 1) when the key would be refused. The key is
// sent in the body, never in the URL, and never printed.
func (c *client) checkKey(ctx context.Context, key, model string) error {
	var resp keyCheck
	body := map[string]string{"key": key}
	if model != "" {
		body["model"] = model
	}
	data, err := c.do(ctx, http.MethodPost, keyPath("check"), nil, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return fmt.Errorf("decoding admin API response: %v", err)
	}
	if c.jsonOut {
		if err := c.writeJSON(data); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(c.out, 0, 0, 1, ' ', 0)
		line := func(field, value string) { fmt.Fprintf(tw, "%s:\t%s\n", field, value) }
		line("Verdict", cell(resp.Verdict))
		if resp.KeyID != "" {
			line("Key", resp.KeyID)
		}
		if resp.Name != "" {
			line("Name", resp.Name)
		}
		if resp.Team != "" {
			line("Team", resp.Team)
		}
		line("Why", cell(resp.Message))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if resp.Verdict != "ok" {
		return &plainError{"the gateway refuses this key: " + resp.Verdict}
	}
	return nil
}

// showKey prints one key as "field: value" lines.
func (c *client) showKey(ctx context.Context, id string) error {
	var resp apiKey
	render, err := c.call(ctx, http.MethodGet, keyPath(id), nil, nil, &resp)
	if err != nil || !render {
		return err
	}
	return c.printKey(&resp)
}

// updateKey changes the given fields of a key and prints the result. When
// limit flags were given, it first reads the key's limits and sends them
// with the changes applied, since the server replaces all limits at once.
func (c *client) updateKey(ctx context.Context, id string, req updateKeyRequest, lc limitChanges) error {
	if req.empty() && !lc.any() {
		return errNothingToUpdate
	}
	if lc.any() {
		var cur apiKey
		if err := c.fetch(ctx, keyPath(id), &cur); err != nil {
			return err
		}
		merged := lc.apply(cur.Limits)
		req.Limits = &merged
	}
	var resp apiKey
	render, err := c.call(ctx, http.MethodPatch, keyPath(id), nil, req, &resp)
	if err != nil || !render {
		return err
	}
	fmt.Fprintf(c.out, "Updated key %s.\n\n", resp.ID)
	return c.printKey(&resp)
}

// revokeKey revokes a key and prints the result.
func (c *client) revokeKey(ctx context.Context, id string) error {
	var resp apiKey
	render, err := c.call(ctx, http.MethodDelete, keyPath(id), nil, nil, &resp)
	if err != nil || !render {
		return err
	}
	fmt.Fprintf(c.out, "Revoked key %s; it no longer works.\n\n", resp.ID)
	return c.printKey(&resp)
}

// rotateKey replaces a key with a new one, printing the new secret and
// when the old key stops working.
func (c *client) rotateKey(ctx context.Context, id string, req rotateKeyRequest) error {
	var resp createdKey
	render, err := c.call(ctx, http.MethodPost, keyPath(id, "rotate"), nil, req, &resp)
	if err != nil || !render {
		return err
	}
	oldID := id
	if resp.OldKey != nil && resp.OldKey.ID != "" {
		oldID = resp.OldKey.ID
	}
	fmt.Fprintf(c.out, "Rotated key %s; the new key is %s.\n", oldID, resp.ID)
	c.printSecret(resp.Key)
	if old := resp.OldKey; old != nil {
		now := c.now()
		switch {
		case old.Status == "revoked" || old.Status == "expired" ||
			(old.ExpiresAt != nil && !old.ExpiresAt.After(now)):
			fmt.Fprintf(c.out, "The old key %s (%s) has stopped working.\n\n", old.ID, maskedKey(old))
		case old.ExpiresAt != nil:
			fmt.Fprintf(c.out, "The old key %s (%s) keeps working until %s (in %s).\n\n",
				old.ID, maskedKey(old), c.timeText(*old.ExpiresAt, time.RFC3339),
				humanDuration(old.ExpiresAt.Sub(now)))
		default:
			fmt.Fprintf(c.out, "The old key %s (%s) has no expiry and keeps working.\n\n", old.ID, maskedKey(old))
		}
	}
	return c.printKey(&resp.apiKey)
}

// printSecret prints a freshly issued plaintext key prominently.
func (c *client) printSecret(secret string) {
	if secret == "" {
		fmt.Fprintln(c.out, "\nWarning: the admin API returned no key secret.")
		fmt.Fprintln(c.out)
		return
	}
	fmt.Fprintf(c.out, "\n    %s\n\n", secret)
	fmt.Fprintln(c.out, "Copy this key now: it will not be shown again.")
	fmt.Fprintln(c.out)
}

// printKey prints the fields of k as aligned "field: value" lines.
func (c *client) printKey(k *apiKey) error {
	const layout = time.RFC3339
	tw := tabwriter.NewWriter(c.out, 0, 0, 1, ' ', 0)
	line := func(field, value string) { fmt.Fprintf(tw, "%s:\t%s\n", field, value) }
	line("ID", cell(k.ID))
	line("Name", cell(k.Name))
	line("Prefix", cell(maskedKey(k)))
	line("Status", cell(k.Status))
	line("Models", modelsText(k.Models))
	if len(k.Metadata) > 0 {
		line("Metadata", metadataText(k.Metadata))
	}
	if k.Team != "" {
		line("Team", k.Team)
	}
	line("Limits", limitsText(k.Limits))
	if k.Spend != nil {
		line("Spend", c.spendText(*k.Spend))
	}
	line("Created", c.timeText(k.CreatedAt, layout))
	line("Updated", c.timeText(k.UpdatedAt, layout))
	line("Expires", c.expiresText(k.ExpiresAt, layout))
	line("Used", c.lastUsedText(k, layout))
	if k.RevokedAt != nil {
		line("Revoked", c.timeText(*k.RevokedAt, layout))
	}
	if k.RotatedFrom != "" {
		line("Rotated from", k.RotatedFrom)
	}
	if k.RotatedTo != "" {
		line("Rotated to", k.RotatedTo)
	}
	return tw.Flush()
}

// maskedKey renders the identifying parts of a key as prefix…last4.
func maskedKey(k *apiKey) string {
	if k.Prefix == "" && k.Last4 == "" {
		return ""
	}
	return k.Prefix + "…" + k.Last4
}

// modelsText renders a key's model allow-list; empty means all models.
func modelsText(models []string) string {
	if len(models) == 0 {
		return "*"
	}
	return strings.Join(models, ",")
}

// metadataText renders metadata as sorted, comma-separated k=v pairs.
func metadataText(md map[string]string) string {
	parts := make([]string, 0, len(md))
	for _, k := range slices.Sorted(maps.Keys(md)) {
		parts = append(parts, k+"="+md[k])
	}
	return strings.Join(parts, ", ")
}

// timeText formats t in the client's location, or "-" when t is zero.
func (c *client) timeText(t time.Time, layout string) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(c.location).Format(layout)
}

// expiresText formats an optional expiry time; nil means "never".
func (c *client) expiresText(t *time.Time, layout string) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return c.timeText(*t, layout)
}

// cell substitutes "-" for empty table cells so columns stay readable.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanDuration renders d at minute precision, e.g. "1d 2h 5m".
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	const day = 24 * time.Hour
	var parts []string
	if days := d / day; days > 0 {
		parts = append(parts, fmt.Sprintf("%dd", days))
		d -= days * day
	}
	if h := d / time.Hour; h > 0 {
		parts = append(parts, fmt.Sprintf("%dh", h))
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		parts = append(parts, fmt.Sprintf("%dm", m))
	}
	return strings.Join(parts, " ")
}

// usageGroup is one row of a usage report.
type usageGroup struct {
	Group            string `json:"group"`
	Requests         int64  `json:"requests"`
	Errors           int64  `json:"errors"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	TotalTokens      int64  `json:"total_tokens"`
	// CostUSD is the estimated cost in USD.
	CostUSD float64 `json:"cost_usd"`
}

// usageQuery holds the filters of GET /ai_gateway/usage.
type usageQuery struct {
	KeyID   string
	TeamID  string
	From    string // YYYY-MM-DD
	To      string // YYYY-MM-DD
	GroupBy string // model, key, team or day
}

// values encodes the non-empty filters as query parameters.
func (q usageQuery) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("key_id", q.KeyID)
	set("team_id", q.TeamID)
	set("from", q.From)
	set("to", q.To)
	set("group_by", q.GroupBy)
	return v
}

// usage prints aggregated usage as a table with a TOTAL row.
func (c *client) usage(ctx context.Context, q usageQuery) error {
	var resp struct {
		GroupBy string       `json:"group_by"`
		Groups  []usageGroup `json:"groups"`
		Total   usageGroup   `json:"total"`
	}
	render, err := c.call(ctx, http.MethodGet, usagePath, q.values(), nil, &resp)
	if err != nil || !render {
		return err
	}
	if len(resp.Groups) == 0 && resp.Total.Requests == 0 {
		fmt.Fprintln(c.out, "No usage recorded.")
		return nil
	}
	header := strings.ToUpper(resp.GroupBy)
	if header == "" {
		header = "GROUP"
	}
	// Numbers read best right-aligned; tabwriter aligns all columns the
	// same way, so the first column is padded by hand to stay left-aligned.
	width := max(utf8.RuneCountInString(header), len("TOTAL"))
	for _, g := range resp.Groups {
		width = max(width, utf8.RuneCountInString(cell(g.Group)))
	}
	// AlignRight pads on the left, so the column gap is part of each
	// numeric cell rather than tabwriter padding.
	tw := tabwriter.NewWriter(c.out, 0, 0, 0, ' ', tabwriter.AlignRight)
	row := func(name string, cols ...string) {
		name += strings.Repeat(" ", width-utf8.RuneCountInString(name))
		fmt.Fprintf(tw, "%s\t  %s\t\n", name, strings.Join(cols, "\t  "))
	}
	num := func(g usageGroup) []string {
		return []string{commaInt(g.Requests), commaInt(g.Errors), commaInt(g.PromptTokens),
			commaInt(g.CompletionTokens), commaInt(g.TotalTokens), costText(g.CostUSD)}
	}
	row(header, "REQUESTS", "ERRORS", "PROMPT TOKENS", "COMPLETION TOKENS", "TOTAL TOKENS", "COST")
	for _, g := range resp.Groups {
		row(cell(g.Group), num(g)...)
	}
	row("TOTAL", num(resp.Total)...)
	return tw.Flush()
}

// commaInt formats n with thousands separators, e.g. 1234567 → "1,234,567".
func commaInt(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
