package keystore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as text: Go
// syntax ("2160h", "90m") or whole days ("90d"); a number is taken as
// nanoseconds, as Caddy does. Whole days are written as days.
type Duration time.Duration

// MarshalJSON writes d as "<n>d" when it is whole days, else in Go syntax.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// String is d as MarshalJSON writes it, without quotes.
func (d Duration) String() string {
	const day = Duration(24 * time.Hour)
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return time.Duration(d).String()
}

// UnmarshalJSON reads a string in Go syntax or whole days, or a number of
// nanoseconds. Negative durations are refused.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v time.Duration
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		var err error
		if v, err = ParseDuration(s); err != nil {
			return err
		}
	} else {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("duration %s: want a string such as \"90d\" or \"720h\"", b)
		}
		v = time.Duration(n)
	}
	if v < 0 {
		return fmt.Errorf("duration %s is negative", b)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads Go syntax ("720h") or whole days ("90d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days > int64((1<<63-1)/(24*time.Hour)) {
			return 0, fmt.Errorf("duration %q is too large", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want Go syntax such as 720h or whole days such as 90d", s)
	}
	return v, nil
}
