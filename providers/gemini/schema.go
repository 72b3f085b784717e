package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Gemini's function parameters and responseSchema are an OpenAPI 3 subset
// (go-genai's Schema), not JSON Schema, and Gemini rejects keywords it does
// not know. normalizeSchema keeps what the subset has and rewrites what it
// can express another way:
//
//   - type: upper-cased (STRING, OBJECT, ...); a type list with "null"
//     becomes nullable; several other types become anyOf.
//   - $ref to #/$defs/X or #/definitions/X: inlined (sibling keywords
//     win); a recursive or non-local $ref is a 400, as the subset cannot
//     express it.
//   - allOf: merged (properties and required united); oneOf: as anyOf;
//     an anyOf member {"type":"null"} becomes nullable, and an anyOf left
//     with a single member is replaced by it.
//   - const: a one-value enum when it is a string.
//   - enum: kept when every value is a string (Gemini's enum is strings
//     only), else dropped, leaving the values' type; null values become
//     nullable.
//   - format: kept only where Gemini takes it (STRING: enum, date-time;
//     NUMBER: float, double; INTEGER: int32, int64).
//   - required: only names that are among the properties.
//   - properties: an empty map is omitted (Gemini rejects an OBJECT with
//     empty properties); top-level parameters without properties are
//     omitted altogether.
//
// Kept as they are: description, title, nullable, minItems, maxItems,
// minimum, maximum, minLength, maxLength, pattern, minProperties,
// maxProperties. Everything else is dropped, notably $schema, $id,
// $comment, additionalProperties, patternProperties, $defs/definitions
// (once inlined), default, examples, not, if/then/else,
// exclusiveMinimum/exclusiveMaximum, multipleOf, uniqueItems,
// readOnly/writeOnly, deprecated and strict.

// maxSchemaDepth bounds nesting (and $ref expansion), so that a hostile
// schema cannot make the gateway work without end.
const maxSchemaDepth = 64

var copiedKeywords = []string{
	"description", "title", "nullable", "minItems", "maxItems", "minimum", "maximum",
	"minLength", "maxLength", "pattern", "minProperties", "maxProperties",
}

var allowedFormats = map[string][]string{
	"STRING":  {"enum", "date-time"},
	"NUMBER":  {"float", "double"},
	"INTEGER": {"int32", "int64"},
}

// maxSchemaNodes bounds the size of a schema once its $refs are inlined
// (a definition used twice by one used twice by ... grows exponentially).
const maxSchemaNodes = 10000

type schemaNormalizer struct {
	root      map[string]any
	resolving map[string]bool
	nodes     int
}

// toolParameters normalises a function's parameter schema. It returns nil
// for a function without parameters.
func toolParameters(raw json.RawMessage) (json.RawMessage, error) {
	s, err := normalizeSchema(raw)
	if err != nil || s == nil {
		return nil, err
	}
	if t, ok := s["type"]; ok && t != "OBJECT" {
		return nil, fmt.Errorf("function parameters must be an object schema, not %v", t)
	}
	props, _ := s["properties"].(map[string]any)
	if len(props) == 0 {
		return nil, nil
	}
	s["type"] = "OBJECT"
	return marshal(s)
}

// responseSchema normalises a json_schema response format's schema.
func responseSchema(raw json.RawMessage) (json.RawMessage, error) {
	s, err := normalizeSchema(raw)
	if err != nil || len(s) == 0 {
		return nil, err
	}
	return marshal(s)
}

// normalizeSchema parses and normalises a JSON Schema; nil for none.
func normalizeSchema(raw json.RawMessage) (map[string]any, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber() // numbers re-encode exactly as the client wrote them
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON schema: %v", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("a JSON schema must be an object")
	}
	n := &schemaNormalizer{root: root, resolving: map[string]bool{}}
	return n.normalize(root, 0)
}

func (n *schemaNormalizer) normalize(v any, depth int) (map[string]any, error) {
	n.nodes++
	if depth > maxSchemaDepth || n.nodes > maxSchemaNodes {
		return nil, errors.New("the JSON schema is nested too deeply or too large once its $refs are inlined")
	}
	in, ok := v.(map[string]any)
	if !ok {
		if b, isBool := v.(bool); isBool && b {
			return map[string]any{}, nil // true: anything
		}
		return nil, fmt.Errorf("unsupported JSON schema %v", v)
	}

	// $ref: inline the definition, sibling keywords over it.
	if ref, ok := in["$ref"].(string); ok {
		def, err := n.resolve(ref)
		if err != nil {
			return nil, err
		}
		n.resolving[ref] = true
		resolved, err := n.normalize(def, depth+1)
		delete(n.resolving, ref)
		if err != nil {
			return nil, err
		}
		rest := without(in, "$ref")
		if len(rest) == 0 {
			return resolved, nil
		}
		own, err := n.normalize(rest, depth+1)
		if err != nil {
			return nil, err
		}
		return merge(resolved, own), nil
	}

	// allOf: merge every member into the rest.
	if all, ok := in["allOf"].([]any); ok {
		acc := map[string]any{}
		for _, m := range all {
			s, err := n.normalize(m, depth+1)
			if err != nil {
				return nil, err
			}
			acc = merge(acc, s)
		}
		own, err := n.normalize(without(in, "allOf"), depth+1)
		if err != nil {
			return nil, err
		}
		return merge(acc, own), nil
	}

	out := map[string]any{}
	for _, k := range copiedKeywords {
		if v, ok := in[k]; ok {
			out[k] = v
		}
	}

	// anyOf (and oneOf, which the subset lacks: the model sees the same
	// alternatives either way).
	alts, _ := in["anyOf"].([]any)
	if alts == nil {
		alts, _ = in["oneOf"].([]any)
	}
	if alts != nil {
		var kept []any
		for _, a := range alts {
			s, err := n.normalize(a, depth+1)
			if err != nil {
				return nil, err
			}
			if s["type"] == "NULL" && len(s) == 1 {
				out["nullable"] = true
				continue
			}
			kept = append(kept, s)
		}
		if len(kept) == 1 {
			out = merge(kept[0].(map[string]any), out)
		} else if len(kept) > 1 {
			out["anyOf"] = kept
		}
	}

	switch t := in["type"].(type) {
	case string:
		out["type"] = strings.ToUpper(t)
	case []any:
		var types []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				if s == "null" {
					out["nullable"] = true
				} else {
					types = append(types, strings.ToUpper(s))
				}
			}
		}
		switch len(types) {
		case 0:
		case 1:
			out["type"] = types[0]
		default:
			var anyOf []any
			for _, s := range types {
				anyOf = append(anyOf, map[string]any{"type": s})
			}
			out["anyOf"] = anyOf
		}
	}

	if c, ok := in["const"].(string); ok {
		out["enum"] = []any{c}
	}
	if e, ok := in["enum"].([]any); ok {
		var vals []any
		kind := ""
		for _, x := range e {
			k := "STRING"
			switch x := x.(type) {
			case string:
				vals = append(vals, x)
			case nil:
				out["nullable"] = true
				continue
			case json.Number:
				k = "INTEGER"
				if _, err := x.Int64(); err != nil {
					k = "NUMBER"
				}
			case bool:
				k = "BOOLEAN"
			default:
				k = "?"
			}
			if kind == "" || kind == k || kind == "INTEGER" && k == "NUMBER" {
				kind = k
			} else if !(kind == "NUMBER" && k == "INTEGER") {
				kind = "?"
			}
		}
		if kind == "STRING" && len(vals) > 0 {
			out["enum"] = vals
		} else if _, typed := out["type"]; !typed && kind != "?" && kind != "" {
			// Gemini's enum holds strings only: the values' type is what is
			// left of the constraint.
			out["type"] = kind
		}
	}
	if _, ok := out["enum"]; ok {
		if _, typed := out["type"]; !typed {
			out["type"] = "STRING"
		}
	}

	if props, ok := in["properties"].(map[string]any); ok && len(props) > 0 {
		np := make(map[string]any, len(props))
		for name, p := range props {
			s, err := n.normalize(p, depth+1)
			if err != nil {
				return nil, err
			}
			np[name] = s
		}
		out["properties"] = np
		if req, ok := in["required"].([]any); ok {
			var kept []any
			for _, r := range req {
				if s, ok := r.(string); ok && np[s] != nil {
					kept = append(kept, s)
				}
			}
			if len(kept) > 0 {
				out["required"] = kept
			}
		}
		if _, ok := out["type"]; !ok {
			out["type"] = "OBJECT"
		}
	}

	if items, ok := in["items"].(map[string]any); ok {
		s, err := n.normalize(items, depth+1)
		if err != nil {
			return nil, err
		}
		out["items"] = s
		if _, ok := out["type"]; !ok {
			out["type"] = "ARRAY"
		}
	}

	if f, ok := in["format"].(string); ok {
		t, _ := out["type"].(string)
		for _, a := range allowedFormats[t] {
			if f == a {
				out["format"] = f
			}
		}
	}
	return out, nil
}

// resolve finds a local $ref's target.
func (n *schemaNormalizer) resolve(ref string) (any, error) {
	if n.resolving[ref] {
		return nil, fmt.Errorf("recursive $ref %q: Gemini's schema subset cannot express it", ref)
	}
	var coll, name string
	switch {
	case strings.HasPrefix(ref, "#/$defs/"):
		coll, name = "$defs", strings.TrimPrefix(ref, "#/$defs/")
	case strings.HasPrefix(ref, "#/definitions/"):
		coll, name = "definitions", strings.TrimPrefix(ref, "#/definitions/")
	default:
		return nil, fmt.Errorf("unsupported $ref %q: only #/$defs/... and #/definitions/... can be inlined for Gemini", ref)
	}
	defs, _ := n.root[coll].(map[string]any)
	def, ok := defs[strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")]
	if !ok {
		return nil, fmt.Errorf("$ref %q names no definition", ref)
	}
	return def, nil
}

// without returns a copy of m without key k.
func without(m map[string]any, k string) map[string]any {
	out := make(map[string]any, len(m))
	for key, v := range m {
		if key != k {
			out[key] = v
		}
	}
	return out
}

// merge combines two normalised schemas: properties and required are
// united, and for other keywords over wins.
func merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		switch k {
		case "properties":
			bp, _ := out[k].(map[string]any)
			np := make(map[string]any, len(bp))
			for name, s := range bp {
				np[name] = s
			}
			for name, s := range v.(map[string]any) {
				np[name] = s
			}
			out[k] = np
		case "required":
			br, _ := out[k].([]any)
			seen := map[any]bool{}
			var req []any
			for _, r := range append(append([]any(nil), br...), v.([]any)...) {
				if !seen[r] {
					seen[r] = true
					req = append(req, r)
				}
			}
			out[k] = req
		default:
			out[k] = v
		}
	}
	return out
}
