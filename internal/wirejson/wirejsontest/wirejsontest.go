// Package wirejsontest holds test helpers for code built on wirejson,
// which is held to encoding/json: encoding/json's answers to compare with.
package wirejsontest

import (
	"bytes"
	"encoding/json"
)

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
