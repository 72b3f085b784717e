package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"
)

// auditEntry mirrors one link of the audit chain.
type auditEntry struct {
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`
	Action   string            `json:"action"`
	Actor    string            `json:"actor,omitempty"`
	Target   string            `json:"target,omitempty"`
	Remote   string            `json:"remote,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// auditHead mirrors the newest link of the audit chain.
type auditHead struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// auditVerdict mirrors the response of GET /ai_gateway/audit/verify.
type auditVerdict struct {
	OK       bool      `json:"ok"`
	Entries  uint64    `json:"entries"`
	BrokenAt uint64    `json:"broken_at"`
	Reason   string    `json:"reason"`
	Head     auditHead `json:"head"`
}

// auditQuery holds the parameters of GET /ai_gateway/audit; nil means the
// server's default.
type auditQuery struct {
	Since *uint64
	Limit *int
}

// values encodes the given parameters as query parameters.
func (q auditQuery) values() url.Values {
	v := url.Values{}
	if q.Since != nil {
		v.Set("since", strconv.FormatUint(*q.Since, 10))
	}
	if q.Limit != nil {
		v.Set("limit", strconv.Itoa(*q.Limit))
	}
	return v
}

// listAudit prints audit entries as a table.
func (c *client) listAudit(ctx context.Context, q auditQuery) error {
	var resp struct {
		Entries []auditEntry `json:"entries"`
		Head    auditHead    `json:"head"`
	}
	render, err := c.call(ctx, http.MethodGet, auditPath, q.values(), nil, &resp)
	if err != nil || !render {
		return err
	}
	if len(resp.Entries) == 0 {
		fmt.Fprintln(c.out, "No audit entries.")
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTION\tTARGET\tACTOR/REMOTE\tHASH")
	for _, e := range resp.Entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n",
			e.Seq, c.timeText(e.Time, "2006-01-02 15:04:05"), cell(e.Action), cell(e.Target),
			cell(actorText(e.Actor, e.Remote)), cell(shortHash(e.Hash)))
	}
	return tw.Flush()
}

// verifyAudit checks the audit chain. A broken chain is reported on the
// error output and fails the command, in JSON mode too, so scripts can rely
// on the exit status.
func (c *client) verifyAudit(ctx context.Context) error {
	data, err := c.do(ctx, http.MethodGet, auditVerifyPath, nil, nil)
	if err != nil {
		return err
	}
	var v auditVerdict
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("decoding admin API response: %v", err)
	}
	if c.jsonOut {
		if err := c.writeJSON(data); err != nil {
			return err
		}
	}
	if !v.OK {
		reason := v.Reason
		if reason == "" {
			reason = "no reason given"
		}
		return &plainError{fmt.Sprintf("audit chain BROKEN at entry %d: %s", v.BrokenAt, reason)}
	}
	if !c.jsonOut {
		fmt.Fprintf(c.out, "audit chain OK: %d entries, head %d %s\n", v.Entries, v.Head.Seq, cell(v.Head.Hash))
	}
	return nil
}

// auditHeadOf prints the chain head, the value to record outside the store.
func (c *client) auditHeadOf(ctx context.Context) error {
	var h auditHead
	render, err := c.call(ctx, http.MethodGet, auditHeadPath, nil, nil, &h)
	if err != nil || !render {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "Seq:\t%d\n", h.Seq)
	fmt.Fprintf(tw, "Hash:\t%s\n", cell(h.Hash))
	fmt.Fprintf(tw, "Time:\t%s\n", c.timeText(h.Time, time.RFC3339))
	return tw.Flush()
}

// actorText combines who made a change and from where.
func actorText(actor, remote string) string {
	switch {
	case actor != "" && remote != "":
		return actor + " (" + remote + ")"
	case actor != "":
		return actor
	}
	return remote
}

// shortHash abbreviates a hex hash to its first 12 characters.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// plainError is an error reported as its message alone, without the
// "Error: " prefix, e.g. a failed audit verification.
type plainError struct{ msg string }

func (e *plainError) Error() string { return e.msg }
