package keystore

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files")

func TestKeyRecordRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 15, 4, 5, 123456789, time.UTC)
	exp := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	old := time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)
	tests := []struct {
		name string
		k    Key
	}{
		{"minimal", Key{ID: "key_a", Prefix: "aigw_abcd", Last4: "wxyz", Status: StatusActive, CreatedAt: t0, UpdatedAt: t0}},
		{"zero times", Key{ID: "key_a", Status: StatusActive}},
		{"every field", Key{
			ID: "key_0123456789abcdef", Name: "prod ✓ \x00 key", Prefix: "aigw_abcd", Last4: "wxyz",
			Models:   []string{"gpt-4o*", "claude-*", "m"},
			Metadata: map[string]string{"z": "last", "a": "", "owner": strings.Repeat("x", MaxMetadataValLen)},
			Status:   StatusRevoked, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour),
			ExpiresAt: &exp, RevokedAt: &old, RotatedFrom: "key_from", RotatedTo: "key_to", Team: "team_t",
			Limits: Limits{RPM: 1, TPM: math.MaxInt64, MaxParallel: 3, MaxTokens: 4, TokenQuota: 5,
				TokenQuotaPeriod: "monthly", BudgetUSD: 0.1, BudgetPeriod: "daily"},
		}},
		{"budget only", Key{ID: "key_b", Status: StatusActive, CreatedAt: t0, UpdatedAt: t0, Limits: Limits{BudgetUSD: 1e-6}}},
		{"a status this code never writes", Key{ID: "key_c", Status: "paused", CreatedAt: t0, UpdatedAt: t0}},
		{"before 1970", Key{ID: "key_d", Status: StatusActive, CreatedAt: time.Date(1900, 2, 3, 4, 5, 6, 7, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := appendKeyRecord(nil, &tt.k)
			got, err := decodeKeyRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.k) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.k)
			}
			// Appending to a buffer writes the same bytes after it.
			if again := appendKeyRecord([]byte("xy"), &tt.k); !bytes.Equal(again[2:], rec) {
				t.Fatal("appendKeyRecord depends on its buffer")
			}
		})
	}
}

// TestKeyRecordCoversEveryField fills every field of Key, and of the
// structs in it, with a value that is not its zero, and checks the record
// keeps it: a field added to Key but not to the record fails here.
func TestKeyRecordCoversEveryField(t *testing.T) {
	var k Key
	fill(t, reflect.ValueOf(&k).Elem(), "Key")
	got, err := decodeKeyRecord(appendKeyRecord(nil, &k))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, k) {
		t.Fatalf("lost in the record:\n got %+v\nwant %+v", got, k)
	}
	// And each field alone: the present bits must not depend on another.
	for i := range reflect.TypeFor[Key]().NumField() {
		var one Key
		fill(t, reflect.ValueOf(&one).Elem().Field(i), reflect.TypeFor[Key]().Field(i).Name)
		got, err := decodeKeyRecord(appendKeyRecord(nil, &one))
		if err != nil {
			t.Fatalf("%s alone: %v", reflect.TypeFor[Key]().Field(i).Name, err)
		}
		if !reflect.DeepEqual(got, one) {
			t.Fatalf("%s alone:\n got %+v\nwant %+v", reflect.TypeFor[Key]().Field(i).Name, got, one)
		}
	}
}

// fill sets v, and every field under it, to a non-zero value.
func fill(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(path + "-v")
	case reflect.Int64:
		v.SetInt(int64(len(path)) + 1)
	case reflect.Float64:
		v.SetFloat(float64(len(path)) + 0.25)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), path+"[i]")
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, path+"-key")
		fill(t, e, path+"-elem")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2000+len(path), 1, 2, 3, 4, 5, len(path), time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	default:
		t.Fatalf("%s: fill does not know %s; teach it and the key record", path, v.Kind())
	}
}

// TestKeyRecordGolden pins the bytes of a version-1 record: stores on disk
// hold them, so a change that alters them must add a version and a
// migration, not edit this file.
func TestKeyRecordGolden(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	exp := t0.Add(90 * 24 * time.Hour)
	k := Key{
		ID: "key_0123456789abcdef", Name: "ci", Prefix: "aigw_AbCd", Last4: "WxYz",
		Models: []string{"gpt-4o*"}, Metadata: map[string]string{"team": "infra", "env": "prod"},
		Status: StatusActive, CreatedAt: t0, UpdatedAt: t0, ExpiresAt: &exp, Team: "team_0123456789abcdef",
		Limits: Limits{RPM: 600, BudgetUSD: 25, BudgetPeriod: "monthly"},
	}
	got := hex.Dump(appendKeyRecord(nil, &k))
	path := filepath.Join("testdata", "keyrecord-v1.golden")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("record bytes changed:\n%s\nwant:\n%s", got, want)
	}
}

func TestKeyRecordRejects(t *testing.T) {
	good := appendKeyRecord(nil, &Key{ID: "key_a", Status: StatusActive, Models: []string{"m"},
		Limits: Limits{RPM: 1}, CreatedAt: time.Unix(1, 0).UTC()})
	tests := []struct {
		name string
		rec  []byte
	}{
		{"empty", nil},
		{"another version", append([]byte{2}, good[1:]...)},
		{"a layout-1 ID", []byte("key_0123456789abcdef")},
		{"JSON", []byte(`{"id":"key_a"}`)},
		{"unknown present bit", withPresent(good, func(p uint64) uint64 { return p | (recAll + 1) })},
		{"two statuses", withPresent(good, func(p uint64) uint64 { return p | recRevoked })},
		{"a present bit without its field", withPresent(good, func(p uint64) uint64 { return p | recUpdatedAt })},
		{"a status spelled out", appendKeyRecordStatusString(StatusActive)},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"string block longer than the record", []byte{keyRecordV1, 0, 0x7f, 1}},
		{"too many models", appendKeyRecordModels(MaxModels + 1)},
	}
	for i := 1; i < len(good); i++ {
		tests = append(tests, struct {
			name string
			rec  []byte
		}{"truncated to " + string(rune('0'+i%10)), good[:i]})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := decodeKeyRecord(tt.rec); !errors.Is(err, errKeyRecord) {
				t.Fatalf("decodeKeyRecord = %+v, %v; want an errKeyRecord", k, err)
			}
		})
	}
}

// withPresent returns rec with its present bits changed by f, the rest of
// the record as it was.
func withPresent(rec []byte, f func(uint64) uint64) []byte {
	p, n := binary.Uvarint(rec[1:])
	out := binary.AppendUvarint([]byte{rec[0]}, f(p))
	return append(out, rec[1+n:]...)
}

// appendKeyRecordStatusString writes a record whose status is a string,
// as the encoder does only for statuses without a bit of their own.
func appendKeyRecordStatusString(status string) []byte {
	rec := []byte{keyRecordV1}
	rec = binary.AppendUvarint(rec, recID|recStatus)
	block := appendRecString(appendRecString(nil, "key_a"), status)
	rec = binary.AppendUvarint(rec, uint64(len(block)))
	return append(rec, block...)
}

func appendKeyRecordModels(n int) []byte {
	models := make([]string, n)
	for i := range models {
		models[i] = "m"
	}
	return appendKeyRecord(nil, &Key{ID: "key_a", Models: models})
}

// FuzzKeyRecord holds the decoder to three things on any input: no panic;
// what it accepts re-encodes to a record that decodes the same; and what
// it decodes is what a Key built from the same parts encodes to.
func FuzzKeyRecord(f *testing.F) {
	f.Add(appendKeyRecord(nil, &Key{ID: "key_a", Status: StatusActive}), "n", "m", int64(5), 1.5, int64(3))
	f.Add(appendKeyRecord(nil, &Key{ID: "key_b", Name: "x", Models: []string{"a", "b"},
		Metadata: map[string]string{"k": "v"}, Limits: Limits{TPM: 9, TokenQuotaPeriod: "daily"}}), "", "", int64(-1), 0.0, int64(0))
	f.Fuzz(func(t *testing.T, rec []byte, name, model string, rpm int64, budget float64, sec int64) {
		_, _, _ = decodeIDEntry(rec)
		if k, err := decodeKeyRecord(rec); err == nil {
			again, err := decodeKeyRecord(appendKeyRecord(nil, &k))
			if err != nil {
				t.Fatalf("re-encoded record does not decode: %v", err)
			}
			if !reflect.DeepEqual(again, k) {
				t.Fatalf("re-encoded record decodes to\n%+v\nnot\n%+v", again, k)
			}
		}
		if math.IsNaN(budget) {
			return // NaN != NaN: DeepEqual cannot compare it
		}
		ts := time.Unix(sec, 0).UTC()
		k := Key{ID: "key_f", Name: name, Status: StatusActive, CreatedAt: ts, UpdatedAt: ts, ExpiresAt: &ts,
			Limits: Limits{RPM: rpm, BudgetUSD: budget}}
		if model != "" {
			k.Models = []string{model}
			k.Metadata = map[string]string{model: name}
		}
		if budget == 0 {
			k.Limits.BudgetUSD = 0 // -0 is stored as no budget
		}
		got, err := decodeKeyRecord(appendKeyRecord(nil, &k))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, k) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, k)
		}
	})
}

// BenchmarkKeyRecord decodes a typical key's authorization record, which
// Authenticate reads, and its full record.
func BenchmarkKeyRecord(b *testing.B) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	k := Key{ID: "key_0123456789abcdef", Name: "bench key 123456", Prefix: "aigw_AbCd", Last4: "WxYz",
		Status: StatusActive, CreatedAt: t0, UpdatedAt: t0}
	auth := AuthView(&k)
	for _, c := range []struct {
		name string
		k    *Key
	}{{"auth", &auth}, {"full", &k}} {
		rec := appendKeyRecord(nil, c.k)
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeKeyRecord(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rec)), "record-B")
		})
	}
}

// TestKeyRecordDecodeAllocations holds decoding to what the format's doc
// says: one string copy of the record, plus the Models slice.
func TestKeyRecordDecodeAllocations(t *testing.T) {
	k := Key{ID: "key_0123456789abcdef", Status: StatusActive, Team: "team_t",
		Models: []string{"gpt-4o*", "claude-*"}, Limits: Limits{TokenQuota: 5, TokenQuotaPeriod: "daily"}}
	rec := appendKeyRecord(nil, &k)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decodeKeyRecord(rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 2 {
		t.Fatalf("decoding allocates %v times, want 2", allocs)
	}
}
