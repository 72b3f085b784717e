package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// limits mirrors the limits object of keys and teams. Zero means unlimited.
// The fields have no omitempty: the CLI always sends a complete object, so
// that a PATCH (which replaces the whole object) states every limit.
type limits struct {
	RPM              int64   `json:"rpm"`
	TPM              int64   `json:"tpm"`
	MaxParallel      int64   `json:"max_parallel"`
	MaxTokens        int64   `json:"max_tokens"`
	TokenQuota       int64   `json:"token_quota"`
	TokenQuotaPeriod string  `json:"token_quota_period"`
	BudgetUSD        float64 `json:"budget_usd"`
	BudgetPeriod     string  `json:"budget_period"`
}

// spend mirrors a key's or team's consumption in its current budget period.
type spend struct {
	// PeriodStart is absent for a lifetime budget.
	PeriodStart *time.Time `json:"period_start,omitempty"`
	SpentUSD    float64    `json:"spent_usd"`
	ReservedUSD float64    `json:"reserved_usd"`
	Tokens      int64      `json:"tokens"`
}

// addLimitFlags adds the limit flags shared by keys and teams. what names
// the limited thing in the help texts, e.g. "the key".
func addLimitFlags(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.Int64("rpm", 0, "Requests per minute for "+what+" (0: unlimited)")
	f.Int64("tpm", 0, "Tokens per minute for "+what+" (0: unlimited)")
	f.Int64("max-parallel", 0, "Concurrent requests for "+what+" (0: unlimited)")
	f.Int64("max-tokens", 0, "Completion tokens per request (0: no cap)")
	f.Int64("token-quota", 0, "Tokens per --quota-period for "+what+" (0: unlimited)")
	f.String("quota-period", "", "Token quota period: daily, weekly, monthly or none (lifetime)")
	f.Float64("budget-usd", 0, "Spend in USD per --budget-period for "+what+" (0: unlimited)")
	f.String("budget-period", "", "Budget period: daily, weekly, monthly or none (lifetime)")
}

// limitChanges holds the limit flags that were given; nil fields were not.
type limitChanges struct {
	rpm, tpm, maxParallel, maxTokens, tokenQuota *int64
	quotaPeriod, budgetPeriod                    *string
	budgetUSD                                    *float64
}

// parseLimitFlags reads and validates the limit flags that were given.
func parseLimitFlags(cmd *cobra.Command) (limitChanges, error) {
	f := cmd.Flags()
	var lc limitChanges
	for _, n := range []struct {
		flag string
		dst  **int64
	}{
		{"rpm", &lc.rpm}, {"tpm", &lc.tpm}, {"max-parallel", &lc.maxParallel},
		{"max-tokens", &lc.maxTokens}, {"token-quota", &lc.tokenQuota},
	} {
		if !f.Changed(n.flag) {
			continue
		}
		v, err := f.GetInt64(n.flag)
		if err != nil {
			return limitChanges{}, err
		}
		if v < 0 {
			return limitChanges{}, fmt.Errorf("invalid --%s %d: must not be negative (0 means unlimited)", n.flag, v)
		}
		*n.dst = &v
	}
	if f.Changed("budget-usd") {
		v, err := f.GetFloat64("budget-usd")
		if err != nil {
			return limitChanges{}, err
		}
		if !(v >= 0) || math.IsInf(v, 0) {
			return limitChanges{}, fmt.Errorf("invalid --budget-usd %v: must be a non-negative amount (0 means unlimited)", v)
		}
		lc.budgetUSD = &v
	}
	for _, p := range []struct {
		flag string
		dst  **string
	}{{"quota-period", &lc.quotaPeriod}, {"budget-period", &lc.budgetPeriod}} {
		if !f.Changed(p.flag) {
			continue
		}
		s, _ := f.GetString(p.flag)
		period, err := parsePeriod(p.flag, s)
		if err != nil {
			return limitChanges{}, err
		}
		*p.dst = &period
	}
	return lc, nil
}

// parsePeriod validates a --quota-period or --budget-period value; "none",
// "lifetime" and "" all mean a lifetime allowance (the empty period).
func parsePeriod(flag, s string) (string, error) {
	switch p := strings.ToLower(strings.TrimSpace(s)); p {
	case "daily", "weekly", "monthly":
		return p, nil
	case "", "none", "lifetime":
		return "", nil
	}
	return "", fmt.Errorf("invalid --%s %q: want daily, weekly, monthly or none", flag, s)
}

// any reports whether any limit flag was given.
func (lc limitChanges) any() bool {
	return lc.rpm != nil || lc.tpm != nil || lc.maxParallel != nil || lc.maxTokens != nil ||
		lc.tokenQuota != nil || lc.quotaPeriod != nil || lc.budgetUSD != nil || lc.budgetPeriod != nil
}

// apply returns base with the given limits changed.
func (lc limitChanges) apply(base limits) limits {
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&base.RPM, lc.rpm)
	set(&base.TPM, lc.tpm)
	set(&base.MaxParallel, lc.maxParallel)
	set(&base.MaxTokens, lc.maxTokens)
	set(&base.TokenQuota, lc.tokenQuota)
	if lc.quotaPeriod != nil {
		base.TokenQuotaPeriod = *lc.quotaPeriod
	}
	if lc.budgetUSD != nil {
		base.BudgetUSD = *lc.budgetUSD
	}
	if lc.budgetPeriod != nil {
		base.BudgetPeriod = *lc.budgetPeriod
	}
	return base
}

// limitsText renders the set limits on one line, e.g. "rpm 60, budget
// $10.00/monthly"; "none" when nothing is limited.
func limitsText(l limits) string {
	var parts []string
	num := func(name string, v int64) {
		if v != 0 {
			parts = append(parts, name+" "+commaInt(v))
		}
	}
	num("rpm", l.RPM)
	num("tpm", l.TPM)
	num("max-parallel", l.MaxParallel)
	num("max-tokens", l.MaxTokens)
	if l.TokenQuota != 0 {
		parts = append(parts, "token-quota "+commaInt(l.TokenQuota)+"/"+periodText(l.TokenQuotaPeriod))
	}
	if l.BudgetUSD != 0 {
		parts = append(parts, "budget "+budgetText(l))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// budgetText renders a budget as "$10.00/monthly", or "-" when there is none.
func budgetText(l limits) string {
	if l.BudgetUSD == 0 {
		return "-"
	}
	return budgetUSDText(l.BudgetUSD) + "/" + periodText(l.BudgetPeriod)
}

// periodText names a period; the empty period is a lifetime allowance.
func periodText(p string) string {
	if p == "" {
		return "lifetime"
	}
	return p
}

// spendText renders spend as "$1.2345 spent, $0.0100 reserved, 1,234
// tokens since <period start>".
func (c *client) spendText(s spend) string {
	text := fmt.Sprintf("%s spent, %s reserved, %s tokens",
		costText(s.SpentUSD), costText(s.ReservedUSD), commaInt(s.Tokens))
	if s.PeriodStart != nil && !s.PeriodStart.IsZero() {
		return text + " since " + c.timeText(*s.PeriodStart, time.RFC3339)
	}
	return text + " (lifetime)"
}

// usdText formats a USD amount with the given number of decimals and
// thousands separators, e.g. usdText(1234.5, 2) = "$1,234.50".
func usdText(v float64, decimals int) string {
	return moneyText(strconv.FormatFloat(math.Abs(v), 'f', decimals, 64), v < 0)
}

// costText formats a spent amount with 4 decimals, or, below $0.0001,
// with its first two significant digits (at most 6 decimals: costs are
// whole micro-dollars), so that a request that cost $0.000003 does not
// read as free: "$0.000003", "$0.000012". Zero is "$0.0000".
func costText(v float64) string {
	a := math.Abs(v)
	if a == 0 || a >= 0.0001 {
		return usdText(v, 4)
	}
	decimals := min(6, 1-int(math.Floor(math.Log10(a))))
	s := strconv.FormatFloat(a, 'f', decimals, 64)
	if strings.TrimRight(s, "0.") == "" {
		return usdText(v, 4) // below half a micro-dollar: nothing to show
	}
	return moneyText(strings.TrimRight(s, "0"), v < 0)
}

// budgetUSDText formats a configured amount, such as a budget, with two
// decimals or as many more (to the micro-dollar) as it needs: a budget of
// $0.005 must not read as $0.01.
func budgetUSDText(v float64) string {
	s := strconv.FormatFloat(math.Round(math.Abs(v)*1e6)/1e6, 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) < 2 {
		frac += "0"
	}
	return moneyText(whole+"."+frac, v < 0)
}

// moneyText adds the dollar sign, a minus sign when neg, and thousands
// separators to a non-negative decimal number.
func moneyText(s string, neg bool) string {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if n, err := strconv.ParseInt(whole, 10, 64); err == nil {
		whole = commaInt(n)
	}
	if hasFrac {
		whole += "." + frac
	}
	if neg {
		return "-$" + whole
	}
	return "$" + whole
}
