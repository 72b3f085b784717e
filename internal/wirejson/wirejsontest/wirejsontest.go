// Package wirejsontest holds test helpers for code built on wirejson,
// which is held to encoding/json: encoding/json's answers to compare with,
// and a source of generated values for the encoders' fuzz tests.
package wirejsontest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
)

// SameAsUnmarshal checks that read, a fast decoder, when it succeeds on
// data, decodes what json.Unmarshal decodes into a T, and reports whether
// it succeeded.
func SameAsUnmarshal[T any](t *testing.T, data []byte, read func(*T, *wirejson.Reader)) bool {
	t.Helper()
	var r wirejson.Reader
	r.Reset(data)
	var got, want T
	read(&got, &r)
	err := json.Unmarshal(data, &want)
	if !r.End() {
		return false
	}
	if err != nil {
		t.Fatalf("the fast decoder accepted %q, which json.Unmarshal rejects: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nfast decoder: %#v\njson.Unmarshal: %#v", data, got, want)
	}
	return true
}

// TopLevelKeys lists an object's top-level keys, decoded, with
// encoding/json's tokenizer: the reference wirejson.Members and its users
// are checked against.
func TopLevelKeys(doc []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Source hands out a fuzz input's bytes one at a time, as the choices of
// a generator of values to encode; past its end, every byte is 0.
type Source struct{ b []byte }

// NewSource reads the fuzz input in.
func NewSource(in []byte) Source { return Source{in} }

// Byte returns the next byte.
func (s *Source) Byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

// Bytes returns the next bytes, as many as the next byte says modulo n
// (fewer if the input ends first).
func (s *Source) Bytes(n int) []byte {
	k := min(int(s.Byte())%n, len(s.b))
	b := s.b[:k]
	s.b = s.b[k:]
	return b
}

// Uint64 returns the next eight bytes, little-endian (0 for those past
// the end).
func (s *Source) Uint64() uint64 {
	var x [8]byte
	k := copy(x[:], s.b)
	s.b = s.b[k:]
	return binary.LittleEndian.Uint64(x[:])
}

// Len is the number of bytes left.
func (s *Source) Len() int { return len(s.b) }
