package keystore

import (
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"
)

func TestGenerateKeyFormat(t *testing.T) {
	seen := make(map[string]bool)
	for range 2000 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if KeyLength != 54 || len(k) != KeyLength || !strings.HasPrefix(k, KeyPrefix) {
			t.Fatalf("bad shape %q (len %d)", k, len(k))
		}
		if err := CheckFormat(k); err != nil {
			t.Fatalf("CheckFormat(%q) = %v", k, err)
		}
		// The hand-rolled CRC must agree with the standard library.
		var sum uint64
		for _, c := range k[48:] {
			sum = sum*62 + uint64(strings.IndexRune(base62Digits, c))
		}
		if want := crc32.ChecksumIEEE([]byte(k[:48])); sum != uint64(want) {
			t.Fatalf("checksum of %q = %d, want %d", k, sum, want)
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
		if p := DisplayPrefix(k); p != k[:9] || !strings.HasPrefix(p, "aigw_") {
			t.Fatalf("DisplayPrefix = %q", p)
		}
		if l := Last4(k); l != k[50:] {
			t.Fatalf("Last4 = %q", l)
		}
	}
}

// withChecksum returns prefix+body with a correct checksum appended.
func withChecksum(prefixBody string) string {
	var c [keyCRCLen]byte
	encodeBase62Uint(c[:], uint64(crc32.ChecksumIEEE([]byte(prefixBody))))
	return prefixBody + string(c[:])
}

func TestCheckFormatErrors(t *testing.T) {
	good, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"valid", good, nil},
		{"flipped first body char", flip(good, 5), ErrBadChecksum},
		{"flipped middle body char", flip(good, 30), ErrBadChecksum},
		{"flipped last body char", flip(good, 47), ErrBadChecksum},
		{"flipped checksum char", flip(good, 52), ErrBadChecksum},
		{"empty", "", ErrMalformedKey},
		{"prefix only", KeyPrefix, ErrMalformedKey},
		{"wrong prefix", "sk-xx" + good[5:], ErrMalformedKey},
		{"upper prefix", "AIGW_" + good[5:], ErrMalformedKey},
		{"too short", good[:53], ErrMalformedKey},
		{"too long", good + "0", ErrMalformedKey},
		{"dash in body", good[:10] + "-" + good[11:], ErrMalformedKey},
		{"underscore in body", good[:10] + "_" + good[11:], ErrMalformedKey},
		{"space in checksum", good[:50] + " " + good[51:], ErrMalformedKey},
		{"non-ASCII", good[:10] + "é" + good[12:], ErrMalformedKey},
		{"body above 2^256-1", withChecksum(KeyPrefix + strings.Repeat("z", keyBodyLen)), ErrMalformedKey},
		{"max body is valid", withChecksum(KeyPrefix + maxKeyBody), nil},
		{"zero body is valid", withChecksum(KeyPrefix + strings.Repeat("0", keyBodyLen)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckFormat(tt.in); !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
				t.Fatalf("CheckFormat(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestHotPathNoAlloc(t *testing.T) {
	k, _ := GenerateKey()
	if n := testing.AllocsPerRun(100, func() { _ = CheckFormat(k) }); n != 0 {
		t.Errorf("CheckFormat allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = HashKey(k) }); n != 0 {
		t.Errorf("HashKey allocates %v times", n)
	}
}

func TestHashKeyLongInput(t *testing.T) {
	// Input longer than a key takes the fallback path; both must agree with
	// a plain SHA-256.
	long := strings.Repeat("x", 100)
	if HashKey(long) == HashKey(long[:99]) {
		t.Fatal("different inputs hashed equal")
	}
	if HashKey(long) != HashKey(strings.Clone(long)) {
		t.Fatal("hash not deterministic")
	}
}

func TestNewKeyID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, err := NewKeyID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != len(KeyIDPrefix)+16 || !strings.HasPrefix(id, KeyIDPrefix) {
			t.Fatalf("bad id %q", id)
		}
		for _, c := range id[len(KeyIDPrefix):] {
			if !strings.ContainsRune(base62Digits, c) {
				t.Fatalf("bad char in id %q", id)
			}
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestKeyStatusAt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Second)
	tests := []struct {
		name string
		key  Key
		want string
	}{
		{"active no expiry", Key{Status: StatusActive}, StatusActive},
		{"active future expiry", Key{Status: StatusActive, ExpiresAt: &future}, StatusActive},
		{"expiry exactly now", Key{Status: StatusActive, ExpiresAt: &now}, StatusExpired},
		{"expired", Key{Status: StatusActive, ExpiresAt: &past}, StatusExpired},
		{"revoked beats expired", Key{Status: StatusRevoked, ExpiresAt: &past}, StatusRevoked},
		{"revoked", Key{Status: StatusRevoked}, StatusRevoked},
	}
	for _, tt := range tests {
		if got := tt.key.StatusAt(now); got != tt.want {
			t.Errorf("%s: StatusAt = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAllowsModel(t *testing.T) {
	tests := []struct {
		models []string
		model  string
		want   bool
	}{
		{nil, "anything", true},
		{[]string{}, "gpt-4o", true},
		{[]string{"gpt-4o"}, "gpt-4o", true},
		{[]string{"gpt-4o"}, "gpt-4o-mini", false},
		{[]string{"gpt-4*"}, "gpt-4o-mini", true},
		{[]string{"claude-*", "gpt-4?"}, "gpt-4o", true},
		{[]string{"claude-*"}, "gpt-4o", false},
		{[]string{"*"}, "openai/gpt-4o", true}, // '*' crosses '/' (see MatchModel)
		{[]string{"gpt-*"}, "openai/gpt-4o", false},
		{[]string{"openai/*"}, "openai/gpt-4o", true},
		{[]string{"["}, "[", false}, // malformed pattern matches nothing
	}
	for _, tt := range tests {
		if got := (Key{Models: tt.models}).AllowsModel(tt.model); got != tt.want {
			t.Errorf("Models %q AllowsModel(%q) = %v, want %v", tt.models, tt.model, got, tt.want)
		}
	}
}

func FuzzCheckFormat(f *testing.F) {
	good, _ := GenerateKey()
	for _, s := range []string{
		good, "", KeyPrefix, "aigw_" + strings.Repeat("z", 49), good[:53] + "\xff",
		strings.Repeat("\x00", KeyLength), "aigw_" + strings.Repeat("é", 24) + "0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckFormat(s)
		if err != nil && !errors.Is(err, ErrMalformedKey) && !errors.Is(err, ErrBadChecksum) {
			t.Fatalf("unexpected error %v", err)
		}
		if err == nil {
			if len(s) != KeyLength || !strings.HasPrefix(s, KeyPrefix) {
				t.Fatalf("accepted %q", s)
			}
			if withChecksum(s[:48]) != s {
				t.Fatalf("accepted %q with wrong checksum", s)
			}
		}
		_ = DisplayPrefix(s)
		_ = Last4(s)
		_ = HashKey(s)
	})
}
