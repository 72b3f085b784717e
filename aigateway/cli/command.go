// Package cli implements the "caddy ai-gateway" command, which manages the
// AI gateway's API keys and teams, reports usage, reads the audit trail and
// takes backups through Caddy's admin API.
//
// Importing the package (usually for its side effects) registers the command
// with Caddy's command line.
package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "ai-gateway",
		Usage: "<keys|teams|usage|audit|backup> [--address <admin>] [--json]",
		Short: "Manages AI gateway API keys and teams, shows usage and audit",
		Long: `
Manages the AI gateway's API keys and teams, reports token usage and
cost, reads and verifies the audit trail and takes backups by talking
to the gateway's endpoints on Caddy's admin API.

  caddy ai-gateway keys create [--name <name>] [--model <glob>]... [--expires <time|duration>] [--meta <k=v>]... [--team <id>] [<limits>]
  caddy ai-gateway keys list [--unused-for <duration>]
  caddy ai-gateway keys check <key>|- [--model <name>]
  caddy ai-gateway keys show <id>
  caddy ai-gateway keys update <id> [--name <name>] [--model <glob>]... [--all-models] [--expires <time|duration> | --no-expiry] [--team <id> | --no-team] [<limits>]
  caddy ai-gateway keys revoke <id>
  caddy ai-gateway keys rotate <id> [--grace <duration>]
  caddy ai-gateway teams create --name <name> [<limits>] [--meta <k=v>]...
  caddy ai-gateway teams list
  caddy ai-gateway teams show <id>
  caddy ai-gateway teams update <id> [--name <name>] [<limits>]
  caddy ai-gateway teams delete <id>
  caddy ai-gateway usage [--key <id>] [--team <id>] [--from <YYYY-MM-DD>] [--to <YYYY-MM-DD>] [--group-by model|key|team|day]
  caddy ai-gateway audit list [--since <seq>] [--limit <n>]
  caddy ai-gateway audit verify
  caddy ai-gateway audit head
  caddy ai-gateway backup --output <file> [--force]

<limits> are any of --rpm, --tpm, --max-parallel, --max-tokens,
--token-quota with --quota-period, and --budget-usd with
--budget-period; 0 means unlimited, and periods are daily, weekly,
monthly or none (a lifetime allowance). A team's limits apply to all
its keys together, on top of each key's own. Updating a limit keeps the
limits not given.

--address is the admin API's address: host:port (default
` + caddy.DefaultAdminListen + `), a full http:// URL, or a unix socket such as
unix//run/caddy-admin.sock. --json prints the admin API's JSON
response instead of a table. Times are shown in local time.

--expires takes an RFC 3339 time (2026-01-31T00:00:00Z) or a duration
from now: Go syntax such as 720h or 90m, or whole days such as 30d.`,
		CobraFunc: func(cmd *cobra.Command) { setupCommand(cmd, defaultEnv()) },
	})
}

// env holds what the commands take from their surroundings, so tests can
// pin the clock and the display time zone.
type env struct {
	now func() time.Time
	loc *time.Location
}

// defaultEnv uses the real clock and the local time zone.
func defaultEnv() env { return env{now: time.Now, loc: time.Local} }

// setupCommand adds flags and subcommands to the "ai-gateway" command.
func setupCommand(cmd *cobra.Command, e env) {
	pf := cmd.PersistentFlags()
	pf.String("address", caddy.DefaultAdminListen, "Admin API address: host:port, http(s):// URL or unix//path")
	pf.Bool("json", false, "Print the admin API's JSON response instead of a table")

	keys := &cobra.Command{
		Use:   "keys",
		Short: "Manages API keys",
	}
	keys.AddCommand(
		keysCreateCommand(e),
		keysListCommand(e),
		keysShowCommand(e),
		keysUpdateCommand(e),
		keysRevokeCommand(e),
		keysRotateCommand(e),
		keysCheckCommand(e),
	)
	teams := &cobra.Command{
		Use:   "teams",
		Short: "Manages teams: groups of keys with shared limits",
	}
	teams.AddCommand(
		teamsCreateCommand(e),
		teamsListCommand(e),
		teamsShowCommand(e),
		teamsUpdateCommand(e),
		teamsDeleteCommand(e),
	)
	audit := &cobra.Command{
		Use:   "audit",
		Short: "Reads and verifies the tamper-evident audit trail",
	}
	audit.AddCommand(
		auditListCommand(e),
		auditVerifyCommand(e),
		auditHeadCommand(e),
	)
	cmd.AddCommand(keys, teams, usageCommand(e), audit, backupCommand(e), restoreCommand())
}

// runner adapts fn to cobra's RunE: it builds a client from the --address
// and --json flags that writes to the command's output, and prints any error
// as "Error: ..." on the command's error output.
func (e env) runner(fn func(c *client, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := func() error {
			addr, err := cmd.Flags().GetString("address")
			if err != nil {
				return err
			}
			jsonOut, err := cmd.Flags().GetBool("json")
			if err != nil {
				return err
			}
			c, err := newClient(addr, cmd.OutOrStdout(), jsonOut, e.now, e.loc)
			if err != nil {
				return err
			}
			return fn(c, cmd, args)
		}()
		if err != nil {
			var plain *plainError
			if errors.As(err, &plain) {
				fmt.Fprintln(cmd.ErrOrStderr(), plain.msg)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n", err)
			}
			cmd.SilenceErrors = true // already reported
		}
		return err
	}
}

func keysCreateCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create [--name <name>] [--model <glob>]... [--expires <time|duration>] [--meta <k=v>]... [--team <id>] [<limits>]",
		Short: "Creates a key and prints its secret once",
		Args:  cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("name", "", "Human-readable name of the key")
	f.StringArray("model", nil, "Model name glob the key may use (repeatable; default: all models)")
	f.String("expires", "", "Expiry as an RFC 3339 time or a duration from now (720h, 30d)")
	f.StringArray("meta", nil, "Metadata as key=value (repeatable)")
	f.String("team", "", "ID of the team the key belongs to")
	addLimitFlags(cmd, "the key")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, _ []string) error {
		f := cmd.Flags()
		var req createKeyRequest
		req.Name, _ = f.GetString("name")
		if f.Changed("team") {
			team, err := teamFlag(cmd)
			if err != nil {
				return err
			}
			req.Team = team
		}
		lc, err := parseLimitFlags(cmd)
		if err != nil {
			return err
		}
		if lc.any() {
			l := lc.apply(limits{})
			req.Limits = &l
		}
		req.Models, _ = f.GetStringArray("model")
		if s, _ := f.GetString("expires"); f.Changed("expires") {
			t, err := parseExpires(s, c.now())
			if err != nil {
				return err
			}
			req.ExpiresAt = &t
		}
		metas, _ := f.GetStringArray("meta")
		md, err := parseMetadata(metas)
		if err != nil {
			return err
		}
		req.Metadata = md
		return c.createKey(cmd.Context(), req)
	})
	return cmd
}

func keysListCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Lists keys",
		Args:    cobra.NoArgs,
	}
	cmd.Flags().String("unused-for", "", "Only keys not used for this long (720h, 90d); a key never used counts from its creation")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, _ []string) error {
		unused, _ := cmd.Flags().GetString("unused-for")
		if cmd.Flags().Changed("unused-for") {
			d, err := parseDuration(unused)
			if err != nil || d <= 0 {
				return fmt.Errorf("invalid --unused-for %q: want a positive duration such as 720h or 90d", unused)
			}
		}
		return c.listKeys(cmd.Context(), unused)
	})
	return cmd
}

// keysCheckCommand tells why a key is refused, without ever printing it.
func keysCheckCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check <key>|- [--model <name>]",
		Short: "Tells why the gateway refuses a key (reads it from stdin with -)",
		Long: `Asks the gateway why it accepts or refuses a key a user pasted:
malformed, bad checksum (a typo), unknown, revoked (when, and by which
audit entry), expired (and into which key it was rotated), model not
allowed (with --model), budget or quota used up. The answer names the
key's ID, never the key. Give - to read the key from stdin and keep it
out of the shell's history. Exits 1 when the key would be refused.`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().String("model", "", "Also check that the key may use this model")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, args []string) error {
		key := args[0]
		if key == "-" {
			b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
			if err != nil {
				return fmt.Errorf("reading the key from stdin: %v", err)
			}
			key = string(b)
		}
		model, _ := cmd.Flags().GetString("model")
		return c.checkKey(cmd.Context(), strings.TrimSpace(key), model)
	})
	return cmd
}

func keysShowCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show <id>",
		Short: "Shows one key",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, args []string) error {
		return c.showKey(cmd.Context(), args[0])
	})
	return cmd
}

func keysUpdateCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update <id> [--name <name>] [--model <glob>]... [--all-models] [--expires <time|duration> | --no-expiry] [--team <id> | --no-team] [<limits>]",
		Short: "Changes a key's name, models, expiry, team or limits",
		Long: `Changes a key's name, models, expiry, team or limits; what is not
given stays as it is. The limit flags change only the limits given: the
key's other limits are read first and kept. 0 removes a limit.`,
		Args: cobra.ExactArgs(1),
	}
	f := cmd.Flags()
	f.String("name", "", "New name of the key")
	f.StringArray("model", nil, "Model name glob the key may use (repeatable; replaces the current list)")
	f.Bool("all-models", false, "Allow all models (clears the model list)")
	f.String("expires", "", "New expiry as an RFC 3339 time or a duration from now (720h, 30d)")
	f.Bool("no-expiry", false, "Remove the key's expiry")
	f.String("team", "", "Move the key to the team with this ID")
	f.Bool("no-team", false, "Remove the key from its team")
	addLimitFlags(cmd, "the key")
	cmd.MarkFlagsMutuallyExclusive("expires", "no-expiry")
	cmd.MarkFlagsMutuallyExclusive("model", "all-models")
	cmd.MarkFlagsMutuallyExclusive("team", "no-team")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		var req updateKeyRequest
		if f.Changed("name") {
			name, _ := f.GetString("name")
			req.Name = &name
		}
		if f.Changed("model") {
			models, _ := f.GetStringArray("model")
			req.Models = &models
		}
		if all, _ := f.GetBool("all-models"); all {
			req.Models = &[]string{}
		}
		if f.Changed("expires") {
			s, _ := f.GetString("expires")
			t, err := parseExpires(s, c.now())
			if err != nil {
				return err
			}
			req.ExpiresAt = &t
		}
		req.ClearExpiry, _ = f.GetBool("no-expiry")
		if f.Changed("team") {
			team, err := teamFlag(cmd)
			if err != nil {
				return err
			}
			req.Team = &team
		}
		if noTeam, _ := f.GetBool("no-team"); noTeam {
			req.Team = new(string)
		}
		lc, err := parseLimitFlags(cmd)
		if err != nil {
			return err
		}
		return c.updateKey(cmd.Context(), args[0], req, lc)
	})
	return cmd
}

func keysRevokeCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke <id>",
		Short: "Revokes a key immediately",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, args []string) error {
		return c.revokeKey(cmd.Context(), args[0])
	})
	return cmd
}

func keysRotateCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate <id> [--grace <duration>]",
		Short: "Replaces a key, keeping the old one valid for a grace period",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().String("grace", "", "How long the old key keeps working, e.g. 24h or 0s (default: the gateway's)")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, args []string) error {
		var req rotateKeyRequest
		if cmd.Flags().Changed("grace") {
			req.Grace, _ = cmd.Flags().GetString("grace")
			d, err := time.ParseDuration(req.Grace)
			if err != nil {
				return fmt.Errorf("invalid --grace %q: %v", req.Grace, err)
			}
			if d < 0 {
				return fmt.Errorf("invalid --grace %q: must not be negative", req.Grace)
			}
		}
		return c.rotateKey(cmd.Context(), args[0], req)
	})
	return cmd
}

func usageCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "usage [--key <id>] [--team <id>] [--from <YYYY-MM-DD>] [--to <YYYY-MM-DD>] [--group-by model|key|team|day]",
		Short: "Shows request, token and cost usage",
		Args:  cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("key", "", "Only count requests made with this key ID")
	f.String("team", "", "Only count requests made with keys of this team ID")
	f.String("from", "", "First day to include (YYYY-MM-DD)")
	f.String("to", "", "Last day to include (YYYY-MM-DD)")
	f.String("group-by", "", "Group rows by model, key, team or day (default: the gateway's)")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, _ []string) error {
		f := cmd.Flags()
		var q usageQuery
		q.KeyID, _ = f.GetString("key")
		q.TeamID, _ = f.GetString("team")
		q.From, _ = f.GetString("from")
		q.To, _ = f.GetString("to")
		q.GroupBy, _ = f.GetString("group-by")
		if err := q.validate(); err != nil {
			return err
		}
		return c.usage(cmd.Context(), q)
	})
	return cmd
}

// teamFlag returns the value of --team, which must not be empty.
func teamFlag(cmd *cobra.Command) (string, error) {
	team, _ := cmd.Flags().GetString("team")
	team = strings.TrimSpace(team)
	if team == "" {
		msg := "invalid --team: empty team ID"
		if cmd.Flags().Lookup("no-team") != nil {
			msg += " (use --no-team to remove the key from its team)"
		}
		return "", errors.New(msg)
	}
	return team, nil
}

func teamsCreateCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --name <name> [<limits>] [--meta <k=v>]...",
		Short: "Creates a team",
		Args:  cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("name", "", "Name of the team (required)")
	f.StringArray("meta", nil, "Metadata as key=value (repeatable)")
	addLimitFlags(cmd, "all the team's keys together")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, _ []string) error {
		f := cmd.Flags()
		var req createTeamRequest
		req.Name, _ = f.GetString("name")
		if strings.TrimSpace(req.Name) == "" {
			return errors.New("--name is required")
		}
		lc, err := parseLimitFlags(cmd)
		if err != nil {
			return err
		}
		if lc.any() {
			l := lc.apply(limits{})
			req.Limits = &l
		}
		metas, _ := f.GetStringArray("meta")
		if req.Metadata, err = parseMetadata(metas); err != nil {
			return err
		}
		return c.createTeam(cmd.Context(), req)
	})
	return cmd
}

func teamsListCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Lists teams with their budget and spend in the current period",
		Args:    cobra.NoArgs,
	}
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, _ []string) error {
		return c.listTeams(cmd.Context())
	})
	return cmd
}

func teamsShowCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show <id>",
		Short: "Shows one team",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, args []string) error {
		return c.showTeam(cmd.Context(), args[0])
	})
	return cmd
}

func teamsUpdateCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update <id> [--name <name>] [<limits>]",
		Short: "Changes a team's name or limits",
		Long: `Changes a team's name or limits; what is not given stays as it is.
The limit flags change only the limits given: the team's other limits
are read first and kept. 0 removes a limit.`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().String("name", "", "New name of the team")
	addLimitFlags(cmd, "all the team's keys together")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		var req updateTeamRequest
		if f.Changed("name") {
			name, _ := f.GetString("name")
			if strings.TrimSpace(name) == "" {
				return errors.New("invalid --name: a team needs a name")
			}
			req.Name = &name
		}
		lc, err := parseLimitFlags(cmd)
		if err != nil {
			return err
		}
		return c.updateTeam(cmd.Context(), args[0], req, lc)
	})
	return cmd
}

func teamsDeleteCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete <id>",
		Aliases: []string{"rm"},
		Short:   "Deletes a team that no key belongs to",
		Args:    cobra.ExactArgs(1),
	}
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, args []string) error {
		return c.deleteTeam(cmd.Context(), args[0])
	})
	return cmd
}

func auditListCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list [--since <seq>] [--limit <n>]",
		Aliases: []string{"ls"},
		Short:   "Lists audit entries",
		Args:    cobra.NoArgs,
	}
	f := cmd.Flags()
	f.Uint64("since", 0, "List entries after this sequence number (default: the gateway's)")
	f.Int("limit", 0, "List at most this many entries (default: the gateway's)")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, _ []string) error {
		f := cmd.Flags()
		var q auditQuery
		if f.Changed("since") {
			since, _ := f.GetUint64("since")
			q.Since = &since
		}
		if f.Changed("limit") {
			limit, _ := f.GetInt("limit")
			if limit <= 0 {
				return fmt.Errorf("invalid --limit %d: must be positive", limit)
			}
			q.Limit = &limit
		}
		return c.listAudit(cmd.Context(), q)
	})
	return cmd
}

func auditVerifyCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verifies the audit chain; exits 1 when it is broken",
		Long: `Verifies every link of the audit chain. Prints the number of entries
and the head when the chain holds; otherwise reports the first broken
entry on the error output and exits with status 1. Compare the head
with one recorded earlier (caddy ai-gateway audit head) to detect a
chain that was cut short or rewritten as a whole.`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, _ []string) error {
		return c.verifyAudit(cmd.Context())
	})
	return cmd
}

func auditHeadCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "head",
		Short: "Prints the audit chain's head, to record outside the store",
		Long: `Prints the sequence number and full hash of the newest audit entry.
Record them outside the gateway's store (a ticket, a log shipped
elsewhere): a later chain must still contain this entry with this hash.`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, _ []string) error {
		return c.auditHeadOf(cmd.Context())
	})
	return cmd
}

func backupCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup --output <file> [--force]",
		Short: "Writes an online backup of the gateway's store to a file",
		Long: `Writes an online backup of the gateway's store (keys, teams, usage,
spend and the audit chain) in Badger's backup format to --output, while
the gateway keeps serving. The file is written under a temporary name
and renamed when complete; an existing file is only replaced with
--force. With --json, prints {"output": ..., "bytes": ...}.

Keep backups private: they hold key hashes and metadata, never plaintext
keys.

Restore is offline: 'caddy ai-gateway restore --from <file> --dir <new
dir>', then point the gateway's store at that directory (or swap it in
while Caddy is stopped) and start Caddy. See the README's Backup section.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringP("output", "o", "", "File to write the backup to (required)")
	f.Bool("force", false, "Overwrite --output if it exists")
	cmd.RunE = e.runner(func(c *client, cmd *cobra.Command, _ []string) error {
		output, _ := cmd.Flags().GetString("output")
		force, _ := cmd.Flags().GetBool("force")
		return c.backup(cmd.Context(), output, force)
	})
	return cmd
}

// validate checks the date format and grouping before asking the server.
func (q usageQuery) validate() error {
	var from, to time.Time
	for _, d := range []struct {
		flag, val string
		t         *time.Time
	}{{"from", q.From, &from}, {"to", q.To, &to}} {
		if d.val == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.val)
		if err != nil {
			return fmt.Errorf("invalid --%s %q: want YYYY-MM-DD", d.flag, d.val)
		}
		*d.t = t
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return fmt.Errorf("--to %s is before --from %s", q.To, q.From)
	}
	switch q.GroupBy {
	case "", "model", "key", "team", "day":
	default:
		return fmt.Errorf("invalid --group-by %q: want model, key, team or day", q.GroupBy)
	}
	return nil
}

// parseExpires parses an --expires value: an RFC 3339 time, a Go duration
// ("720h", "90m") or a whole number of days ("30d"), the latter two counted
// from now. The result, in UTC, must lie in the future.
func parseExpires(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("invalid --expires: empty value")
	}
	var t time.Time
	if parsed, err := time.Parse(time.RFC3339, s); err == nil {
		t = parsed
	} else {
		d, derr := parseDuration(s)
		if derr != nil {
			return time.Time{}, fmt.Errorf("invalid --expires %q: want an RFC 3339 time (2026-01-31T00:00:00Z) or a duration (720h, 30d)", s)
		}
		if d <= 0 {
			return time.Time{}, fmt.Errorf("invalid --expires %q: duration must be positive", s)
		}
		t = now.Add(d)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("invalid --expires %q: time is in the past", s)
	}
	return t.UTC(), nil
}

// parseDuration is time.ParseDuration plus whole days written as "<n>d".
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days > int64(math.MaxInt64/int64(24*time.Hour)) {
			return 0, errors.New("duration too large")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// parseMetadata parses repeated --meta key=value flags.
func parseMetadata(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	md := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid --meta %q: want key=value", p)
		}
		md[k] = v
	}
	return md, nil
}
