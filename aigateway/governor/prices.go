package governor

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

// Price is a model's list price in USD per one million tokens.
type Price struct {
	// InputPerM is the price of uncached prompt tokens.
	InputPerM float64 `json:"input_price"`
	// OutputPerM is the price of completion tokens (reasoning included).
	OutputPerM float64 `json:"output_price"`
	// CachedInputPerM is the price of prompt tokens read from the
	// provider's prompt cache; zero means "same as InputPerM".
	CachedInputPerM float64 `json:"cached_input_price,omitempty"`
	// CacheWritePerM is the price of prompt tokens written to the prompt
	// cache (Anthropic's cache creation); zero means "same as InputPerM".
	CacheWritePerM float64 `json:"cache_write_price,omitempty"`
}

// valid reports whether every field is a finite, non-negative number.
func (p Price) valid() bool {
	for _, v := range [...]float64{p.InputPerM, p.OutputPerM, p.CachedInputPerM, p.CacheWritePerM} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// PriceTable maps model names to prices. Keys are exact model ids; a key
// ending in "*" matches any model that starts with the text before the "*"
// and the longest such prefix wins, but only when no exact key matches.
// A PriceTable is immutable once built and safe for concurrent use.
type PriceTable struct {
	updated  string
	source   string
	exact    map[string]Price
	prefixes []prefixPrice // longest prefix first
}

type prefixPrice struct {
	prefix string
	price  Price
}

// priceFile is the JSON layout of prices.json.
type priceFile struct {
	Updated string           `json:"updated"`
	Source  string           `json:"source"`
	Unit    string           `json:"unit"`
	Notes   []string         `json:"notes"`
	Models  map[string]Price `json:"models"`
}

//go:embed prices.json
var embeddedPrices []byte

var defaultPrices = sync.OnceValue(func() *PriceTable {
	t, err := ParsePrices(embeddedPrices)
	if err != nil {
		panic("governor: embedded prices.json: " + err.Error())
	}
	return t
})

// DefaultPrices returns the price table embedded in the binary
// (prices.json). Its date is [PriceTable.Updated]; configured prices
// override it through [PriceTable.With]. The same immutable table is
// returned on every call.
func DefaultPrices() *PriceTable { return defaultPrices() }

// ParsePrices parses a table in the prices.json layout:
//
//	{"updated": "YYYY-MM-DD", "source": "...", "unit": "...", "notes": [...],
//	 "models": {"gpt-4o": {"input_price": 2.5, "output_price": 10,
//	                       "cached_input_price": 1.25}}}
//
// Unknown fields, negative prices and empty model names are errors.
func ParsePrices(data []byte) (*PriceTable, error) {
	var f priceFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parsing price table: %w", err)
	}
	for name, p := range f.Models {
		if name == "" || name == "*" {
			return nil, fmt.Errorf("price table: invalid model name %q", name)
		}
		if !p.valid() {
			return nil, fmt.Errorf("price table: model %q: prices must be finite and non-negative", name)
		}
	}
	t := build(f.Models, nil)
	t.updated, t.source = f.Updated, f.Source
	return t, nil
}

// build makes a table from base with overrides applied on top.
func build(base, overrides map[string]Price) *PriceTable {
	t := &PriceTable{exact: make(map[string]Price, len(base)+len(overrides))}
	var pre map[string]Price
	for _, m := range [...]map[string]Price{base, overrides} {
		for name, p := range m {
			if prefix, ok := strings.CutSuffix(name, "*"); ok {
				if pre == nil {
					pre = make(map[string]Price)
				}
				pre[prefix] = p
				continue
			}
			t.exact[name] = p
		}
	}
	for prefix, p := range pre {
		t.prefixes = append(t.prefixes, prefixPrice{prefix, p})
	}
	sort.Slice(t.prefixes, func(i, j int) bool {
		a, b := t.prefixes[i].prefix, t.prefixes[j].prefix
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
	return t
}

// entries returns the table's keys and prices, prefix keys with their "*".
func (t *PriceTable) entries() map[string]Price {
	if t == nil {
		return nil
	}
	m := make(map[string]Price, len(t.exact)+len(t.prefixes))
	for k, v := range t.exact {
		m[k] = v
	}
	for _, p := range t.prefixes {
		m[p.prefix+"*"] = p.price
	}
	return m
}

// Lookup returns the price for model: an exact key first, then the longest
// "*" prefix key. Model names are matched case-sensitively and without any
// provider prefix.
func (t *PriceTable) Lookup(model string) (Price, bool) {
	if t == nil || model == "" {
		return Price{}, false
	}
	if p, ok := t.exact[model]; ok {
		return p, true
	}
	for _, e := range t.prefixes {
		if strings.HasPrefix(model, e.prefix) {
			return e.price, true
		}
	}
	return Price{}, false
}

// With returns a new table holding t's entries with overrides applied on
// top; t is unchanged. An override replaces the whole Price of its key (it
// does not merge fields) and may add models t does not know; keys ending in
// "*" are prefix entries. Overrides with negative, NaN or infinite prices
// are ignored, as is the empty model name. The new table keeps t's
// Updated and Source, which describe the built-in part only.
func (t *PriceTable) With(overrides map[string]Price) *PriceTable {
	base := t.entries()
	clean := make(map[string]Price, len(overrides))
	for name, p := range overrides {
		if name == "" || name == "*" || !p.valid() {
			continue
		}
		clean[name] = p
	}
	n := build(base, clean)
	if t != nil {
		n.updated, n.source = t.updated, t.source
	}
	return n
}

// Updated returns the date ("YYYY-MM-DD") for which the table's built-in
// prices were taken to be valid.
func (t *PriceTable) Updated() string {
	if t == nil {
		return ""
	}
	return t.updated
}

// Source returns the table's note on where its prices came from.
func (t *PriceTable) Source() string {
	if t == nil {
		return ""
	}
	return t.source
}

// Models returns the table's keys in sorted order, prefix keys with their
// trailing "*".
func (t *PriceTable) Models() []string {
	m := t.entries()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
