package governor

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultPrices(t *testing.T) {
	tbl := DefaultPrices()
	if _, err := time.Parse("2006-01-02", tbl.Updated()); err != nil {
		t.Fatalf("updated %q is not YYYY-MM-DD: %v", tbl.Updated(), err)
	}
	if tbl.Source() == "" {
		t.Fatal("no source note")
	}
	if !strings.Contains(string(embeddedPrices), "Caddyfile") {
		t.Fatal("prices.json does not say the Caddyfile overrides it")
	}
	models := tbl.Models()
	if len(models) < 30 {
		t.Fatalf("only %d models", len(models))
	}
	for _, m := range models {
		p, ok := tbl.Lookup(m)
		if !ok {
			t.Fatalf("%s listed but not found", m)
		}
		if !(p.InputPerM > 0) {
			t.Errorf("%s: input price %v", m, p.InputPerM)
		}
		// Embedding models produce no output tokens; their output
		// price is 0 by design (see the file's notes).
		if !(p.OutputPerM > 0) && !strings.Contains(m, "embedding") {
			t.Errorf("%s: output price %v", m, p.OutputPerM)
		}
		if p.CachedInputPerM > p.InputPerM {
			t.Errorf("%s: cache read %v dearer than input %v", m, p.CachedInputPerM, p.InputPerM)
		}
		if p.CacheWritePerM != 0 && p.CacheWritePerM < p.InputPerM {
			t.Errorf("%s: cache write %v cheaper than input %v", m, p.CacheWritePerM, p.InputPerM)
		}
	}
	for _, m := range []string{
		"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini",
		"text-embedding-3-small", "text-embedding-3-large",
		"claude-3-5-haiku-20241022", "claude-sonnet-4-20250514", "claude-sonnet-4-5",
		"claude-opus-4-20250514", "gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro",
		"mistral-large-latest", "mistral-small-latest", "command-r", "command-r-plus",
	} {
		if _, ok := tbl.Lookup(m); !ok {
			t.Errorf("%s missing", m)
		}
	}
	if p, _ := tbl.Lookup("gpt-4o"); p != (Price{InputPerM: 2.5, OutputPerM: 10, CachedInputPerM: 1.25}) {
		t.Errorf("gpt-4o = %+v", p)
	}
	if p, _ := tbl.Lookup("claude-sonnet-4-5"); p.CacheWritePerM != 3.75 || p.CachedInputPerM != 0.3 {
		t.Errorf("claude-sonnet-4-5 = %+v", p)
	}
	if DefaultPrices() != tbl {
		t.Error("DefaultPrices not cached")
	}
}

func TestPriceLookupAndWith(t *testing.T) {
	base := DefaultPrices()
	orig, _ := base.Lookup("gpt-4o")
	custom := Price{InputPerM: 9, OutputPerM: 99}
	tbl := base.With(map[string]Price{
		"gpt-4o":         custom,                              // replace
		"my-local-model": {InputPerM: 0.01, OutputPerM: 0.02}, // add
		"acme-*":         {InputPerM: 1, OutputPerM: 1},       // prefix
		"acme-large-*":   {InputPerM: 5, OutputPerM: 5},       // longer prefix
		"acme-large-v2":  {InputPerM: 7, OutputPerM: 7},       // exact beats prefix
		"bad-negative":   {InputPerM: -1, OutputPerM: 1},      // ignored
		"":               {InputPerM: 1, OutputPerM: 1},       // ignored
	})
	tests := []struct {
		model  string
		want   float64
		wantOK bool
	}{
		{"gpt-4o", 9, true},
		{"gpt-4o-mini", 0.15, true},
		{"my-local-model", 0.01, true},
		{"acme-small", 1, true},
		{"acme-large-v1", 5, true},
		{"acme-large-v2", 7, true},
		{"acme", 0, false},
		{"bad-negative", 0, false},
		{"unknown-model", 0, false},
		{"", 0, false},
		{"GPT-4O", 0, false},
	}
	for _, tc := range tests {
		p, ok := tbl.Lookup(tc.model)
		if ok != tc.wantOK || p.InputPerM != tc.want {
			t.Errorf("Lookup(%q) = %+v, %v; want input %v, %v", tc.model, p, ok, tc.want, tc.wantOK)
		}
	}
	if p, _ := base.Lookup("gpt-4o"); p != orig {
		t.Errorf("With modified the base table: %+v", p)
	}
	if _, ok := base.Lookup("acme-small"); ok {
		t.Error("With modified the base table's prefixes")
	}
	if tbl.Updated() != base.Updated() {
		t.Error("With lost the date")
	}
	// Prefix entries survive a second With.
	tbl2 := tbl.With(map[string]Price{"x": {InputPerM: 1, OutputPerM: 1}})
	if p, ok := tbl2.Lookup("acme-large-v9"); !ok || p.InputPerM != 5 {
		t.Errorf("chained With lost prefix: %+v %v", p, ok)
	}
	var nilTbl *PriceTable
	if _, ok := nilTbl.Lookup("gpt-4o"); ok {
		t.Error("nil table found a price")
	}
	if p, ok := nilTbl.With(map[string]Price{"m": custom}).Lookup("m"); !ok || p != custom {
		t.Error("With on a nil table")
	}
}

func TestParsePrices(t *testing.T) {
	good := `{"updated":"2025-01-01","source":"test","models":{"m":{"input_price":1,"output_price":2,"cached_input_price":0.5,"cache_write_price":1.25}}}`
	tbl, err := ParsePrices([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := tbl.Lookup("m"); p != (Price{1, 2, 0.5, 1.25}) {
		t.Fatalf("m = %+v", p)
	}
	for name, bad := range map[string]string{
		"syntax":        `{`,
		"unknown field": `{"models":{"m":{"input":1}}}`,
		"negative":      `{"models":{"m":{"input_price":-1,"output_price":1}}}`,
		"empty name":    `{"models":{"":{"input_price":1,"output_price":1}}}`,
	} {
		if _, err := ParsePrices([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
