package cli

import (
	"context"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"
)

// apiTeam mirrors the team object returned by the admin API.
type apiTeam struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Limits    limits            `json:"limits"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	// Spend is the team's consumption in its current budget period.
	Spend *spend `json:"spend,omitempty"`
}

// createTeamRequest is the body of POST /ai_gateway/teams.
type createTeamRequest struct {
	Name     string            `json:"name"`
	Limits   *limits           `json:"limits,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// updateTeamRequest is the body of PATCH /ai_gateway/teams/ID; nil fields
// are left unchanged by the server.
type updateTeamRequest struct {
	Name *string `json:"name,omitempty"`
	// Limits replaces all of the team's limits.
	Limits *limits `json:"limits,omitempty"`
}

// createTeam creates a team and prints it.
func (c *client) createTeam(ctx context.Context, req createTeamRequest) error {
	var resp apiTeam
	render, err := c.call(ctx, http.MethodPost, teamsPath, nil, req, &resp)
	if err != nil || !render {
		return err
	}
	fmt.Fprintf(c.out, "Created team %s.\n\n", resp.ID)
	return c.printTeam(&resp)
}

// listTeams prints all teams as a table.
func (c *client) listTeams(ctx context.Context) error {
	var resp struct {
		Teams []apiTeam `json:"teams"`
	}
	render, err := c.call(ctx, http.MethodGet, teamsPath, nil, nil, &resp)
	if err != nil || !render {
		return err
	}
	if len(resp.Teams) == 0 {
		fmt.Fprintln(c.out, "No teams.")
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tBUDGET\tSPENT\tRPM\tTPM\tCREATED")
	for _, t := range resp.Teams {
		spent := "-"
		if t.Spend != nil {
			spent = costText(t.Spend.SpentUSD)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			cell(t.ID), cell(t.Name), budgetText(t.Limits), spent,
			limitCell(t.Limits.RPM), limitCell(t.Limits.TPM),
			c.timeText(t.CreatedAt, "2006-01-02 15:04"))
	}
	return tw.Flush()
}

// showTeam prints one team as "field: value" lines.
func (c *client) showTeam(ctx context.Context, id string) error {
	var resp apiTeam
	render, err := c.call(ctx, http.MethodGet, teamPath(id), nil, nil, &resp)
	if err != nil || !render {
		return err
	}
	return c.printTeam(&resp)
}

// updateTeam changes the given fields of a team and prints the result.
// When limit flags were given, it first reads the team's limits and sends
// them with the changes applied, since the server replaces all limits.
func (c *client) updateTeam(ctx context.Context, id string, req updateTeamRequest, lc limitChanges) error {
	if req.Name == nil && !lc.any() {
		return errNothingToUpdateTeam
	}
	if lc.any() {
		var cur apiTeam
		if err := c.fetch(ctx, teamPath(id), &cur); err != nil {
			return err
		}
		merged := lc.apply(cur.Limits)
		req.Limits = &merged
	}
	var resp apiTeam
	render, err := c.call(ctx, http.MethodPatch, teamPath(id), nil, req, &resp)
	if err != nil || !render {
		return err
	}
	fmt.Fprintf(c.out, "Updated team %s.\n\n", resp.ID)
	return c.printTeam(&resp)
}

// deleteTeam deletes a team; the server refuses while keys belong to it.
func (c *client) deleteTeam(ctx context.Context, id string) error {
	var resp struct {
		Deleted bool `json:"deleted"`
	}
	render, err := c.call(ctx, http.MethodDelete, teamPath(id), nil, nil, &resp)
	if err != nil || !render {
		return err
	}
	if !resp.Deleted {
		return fmt.Errorf("the admin API did not confirm deleting team %s", id)
	}
	fmt.Fprintf(c.out, "Deleted team %s.\n", id)
	return nil
}

// printTeam prints the fields of t as aligned "field: value" lines.
func (c *client) printTeam(t *apiTeam) error {
	const layout = time.RFC3339
	tw := tabwriter.NewWriter(c.out, 0, 0, 1, ' ', 0)
	line := func(field, value string) { fmt.Fprintf(tw, "%s:\t%s\n", field, value) }
	line("ID", cell(t.ID))
	line("Name", cell(t.Name))
	line("Limits", limitsText(t.Limits))
	if t.Spend != nil {
		line("Spend", c.spendText(*t.Spend))
	}
	if len(t.Metadata) > 0 {
		line("Metadata", metadataText(t.Metadata))
	}
	line("Created", c.timeText(t.CreatedAt, layout))
	line("Updated", c.timeText(t.UpdatedAt, layout))
	return tw.Flush()
}

// limitCell renders a numeric limit for a table; 0 (unlimited) is "-".
func limitCell(v int64) string {
	if v == 0 {
		return "-"
	}
	return commaInt(v)
}
