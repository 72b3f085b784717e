package gemini

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func text(s string) []providers.Part { return []providers.Part{{Type: providers.PartText, Text: s}} }

var weatherTool = providers.Tool{
	Name:        "get_weather",
	Description: "Weather for a city",
	Parameters:  json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":["string","null"],"enum":["c","f",null]}},"required":["city","ghost"],"additionalProperties":false}`),
	Strict:      ptr(true),
}

var timeTool = providers.Tool{Name: "get_time", Description: "Current time", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)}

// requestCases are canonical requests whose Gemini bodies are golden in
// testdata/request/<name>.json.
var requestCases = map[string]providers.ChatRequest{
	// Every scalar parameter; user, parallel_tool_calls and Extra dropped.
	"params": {
		Model:             "gemini-2.5-flash",
		Messages:          []providers.Message{{Role: providers.RoleUser, Parts: text("Hi"), Name: "bob"}},
		MaxTokens:         ptr[int64](100),
		Temperature:       ptr(0.2),
		TopP:              ptr(0.9),
		FrequencyPenalty:  ptr(0.5),
		PresencePenalty:   ptr(-0.5),
		Stop:              []string{"END", "STOP"},
		Seed:              ptr[int64](7),
		User:              "user-123",
		N:                 2,
		ParallelToolCalls: ptr(false),
		ReasoningEffort:   "low",
		IncludeUsage:      true,
		Stream:            true,
		Extra:             map[string]json.RawMessage{"logit_bias": json.RawMessage(`{"1":2}`)},
	},
	// Several system messages, anywhere, into one systemInstruction in
	// order; consecutive user messages merged; empty text and an empty
	// assistant turn dropped.
	"system_and_merge": {
		Model: "gemini-2.5-flash",
		Messages: []providers.Message{
			{Role: providers.RoleSystem, Parts: text("You are terse.")},
			{Role: providers.RoleUser, Parts: text("One")},
			{Role: providers.RoleUser, Parts: []providers.Part{{Type: providers.PartText, Text: ""}, {Type: providers.PartText, Text: "Two"}}},
			{Role: providers.RoleAssistant, Parts: text("Ok")},
			{Role: providers.RoleAssistant},
			{Role: providers.RoleSystem, Parts: []providers.Part{{Type: providers.PartText, Text: "Answer in "}, {Type: providers.PartText, Text: "French."}}},
			{Role: providers.RoleAssistant, Parts: text("Still ok")},
			{Role: providers.RoleUser, Parts: text("Three")},
		},
	},
	// Parallel tool calls and their results: one model turn of two
	// functionCalls, one user turn of two functionResponses, each named by
	// its call; results wrapped when not objects; a user message after the
	// results joins that turn. The call ids repeat across turns (call_0),
	// the latest call wins.
	"tools_roundtrip": {
		Model: "gemini-2.5-flash",
		Messages: []providers.Message{
			{Role: providers.RoleUser, Parts: text("Time?")},
			{Role: providers.RoleAssistant, ToolCalls: []providers.ToolCall{{ID: "call_0", Name: "get_time", Arguments: ""}}},
			{Role: providers.RoleTool, ToolCallID: "call_0", Parts: text("12:00")},
			{Role: providers.RoleAssistant, Parts: text("Noon.")},
			{Role: providers.RoleUser, Parts: text("Weather in Paris and Rome?")},
			{Role: providers.RoleAssistant, Parts: text("Checking."), ToolCalls: []providers.ToolCall{
				{ID: "call_0", Name: "get_weather", Arguments: `{"city": "Paris"}`},
				{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Rome","unit":"c"}`},
			}},
			{Role: providers.RoleTool, ToolCallID: "call_0", Parts: text(`{"temp": 18}`)},
			{Role: providers.RoleTool, ToolCallID: "call_1", Parts: text(`[1, 2]`)},
			{Role: providers.RoleUser, Parts: text("Thanks")},
		},
		Tools:      []providers.Tool{weatherTool, timeTool},
		ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceAuto},
	},
	"tool_choice_none":     toolChoiceReq(providers.ToolChoice{Mode: providers.ToolChoiceNone}),
	"tool_choice_required": toolChoiceReq(providers.ToolChoice{Mode: providers.ToolChoiceRequired}),
	"tool_choice_named":    toolChoiceReq(providers.ToolChoice{Mode: providers.ToolChoiceFunction, Name: "get_weather"}),
	// Images: inline bytes, a data: URL, a gs:// URI, a Files API URI.
	"images": {
		Model: "gemini-2.5-flash",
		Messages: []providers.Message{{Role: providers.RoleUser, Parts: []providers.Part{
			{Type: providers.PartText, Text: "What is this?"},
			{Type: providers.PartImage, Image: &providers.Image{MediaType: "image/png", Data: []byte("\x89PNG\r\n\x1a\n"), Detail: "high"}},
			{Type: providers.PartImage, Image: &providers.Image{URL: "data:image/jpeg;base64,/9j/4AAQ"}},
			{Type: providers.PartImage, Image: &providers.Image{URL: "gs://bucket/cat.jpg", MediaType: "image/jpeg"}},
			{Type: providers.PartImage, Image: &providers.Image{URL: "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
		}}},
	},
	"json_object": {
		Model:          "gemini-2.5-flash",
		Messages:       []providers.Message{{Role: providers.RoleUser, Parts: text("JSON please")}},
		ResponseFormat: &providers.ResponseFormat{Type: providers.FormatJSONObject},
	},
	// A pydantic-style schema: $defs inlined, anyOf with null made
	// nullable, const as enum, unsupported keywords and formats dropped.
	"json_schema": {
		Model:    "gemini-2.5-flash",
		Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("A person")}},
		ResponseFormat: &providers.ResponseFormat{Type: providers.FormatJSONSchema, Name: "person", Strict: ptr(true), Schema: json.RawMessage(`{
			"$schema": "https://json-schema.org/draft/2020-12/schema",
			"$defs": {"Address": {"type": "object", "properties": {"street": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}, "required": ["street"], "additionalProperties": false}},
			"type": "object",
			"properties": {
				"name": {"type": "string", "minLength": 1, "format": "email"},
				"born": {"type": "string", "format": "date-time"},
				"age": {"type": "integer", "minimum": 0, "exclusiveMaximum": 200, "default": 30},
				"kind": {"const": "person"},
				"score": {"type": "number", "format": "double", "multipleOf": 0.5},
				"address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "description": "Home"},
				"tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true, "maxItems": 3},
				"level": {"enum": [1, 2, 3]},
				"meta": {"type": "object", "additionalProperties": {"type": "string"}},
				"both": {"type": ["string", "integer"]},
				"pick": {"oneOf": [{"type": "string"}, {"type": "boolean"}]},
				"all": {"allOf": [{"$ref": "#/$defs/Address"}], "description": "Via allOf"}
			},
			"required": ["name", "age"],
			"additionalProperties": false
		}`)},
	},
}

func toolChoiceReq(tc providers.ToolChoice) providers.ChatRequest {
	return providers.ChatRequest{
		Model:      "gemini-2.5-flash",
		Messages:   []providers.Message{{Role: providers.RoleUser, Parts: text("Weather in Paris?")}},
		Tools:      []providers.Tool{weatherTool, timeTool, {Name: "no_params"}},
		ToolChoice: &tc,
	}
}

func TestEncodeRequestGolden(t *testing.T) {
	for name, req := range requestCases {
		t.Run(name, func(t *testing.T) {
			body, err := encodeRequest(&req)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "request", name+".json"), body)
		})
	}
}

func TestEncodeRequestRejects(t *testing.T) {
	user := providers.Message{Role: providers.RoleUser, Parts: text("hi")}
	cases := []struct {
		name  string
		req   providers.ChatRequest
		param string
		msg   string
	}{
		{"orphan tool result", providers.ChatRequest{Messages: []providers.Message{user,
			{Role: providers.RoleTool, ToolCallID: "call_9", Parts: text("x")}}}, "messages[1].tool_call_id", "call_9"},
		{"http image URL", providers.ChatRequest{Messages: []providers.Message{{Role: providers.RoleUser, Parts: []providers.Part{
			{Type: providers.PartImage, Image: &providers.Image{URL: "https://example.com/cat.png?sig=secret"}}}}}},
			"messages[0].content", "Gemini needs images inline"},
		{"bad data URL", providers.ChatRequest{Messages: []providers.Message{{Role: providers.RoleUser, Parts: []providers.Part{
			{Type: providers.PartImage, Image: &providers.Image{URL: "data:image/png,abc"}}}}}},
			"messages[0].content", "data URL"},
		{"args not an object", providers.ChatRequest{Messages: []providers.Message{user,
			{Role: providers.RoleAssistant, ToolCalls: []providers.ToolCall{{ID: "c", Name: "f", Arguments: "[1]"}}}}},
			"messages[1].tool_calls[0].function.arguments", "not a JSON object"},
		{"args invalid JSON", providers.ChatRequest{Messages: []providers.Message{user,
			{Role: providers.RoleAssistant, ToolCalls: []providers.ToolCall{{ID: "c", Name: "f", Arguments: "{"}}}}},
			"messages[1].tool_calls[0].function.arguments", "not a JSON object"},
		{"only system", providers.ChatRequest{Messages: []providers.Message{{Role: providers.RoleSystem, Parts: text("s")}}},
			"messages", "at least one"},
		{"no messages", providers.ChatRequest{}, "messages", "at least one"},
		{"image in system", providers.ChatRequest{Messages: []providers.Message{{Role: providers.RoleSystem, Parts: []providers.Part{
			{Type: providers.PartImage, Image: &providers.Image{Data: []byte("x")}}}}, user}}, "messages[0]", "only text"},
		{"named tool missing", providers.ChatRequest{Messages: []providers.Message{user}, Tools: []providers.Tool{timeTool},
			ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceFunction, Name: "nope"}}, "tool_choice", "nope"},
		{"recursive schema", providers.ChatRequest{Messages: []providers.Message{user}, Tools: []providers.Tool{{Name: "tree",
			Parameters: json.RawMessage(`{"type":"object","properties":{"node":{"$ref":"#/$defs/Node"}},"$defs":{"Node":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}}}}}}`)}}},
			"tools[0].function.parameters", "recursive"},
		{"remote ref", providers.ChatRequest{Messages: []providers.Message{user}, Tools: []providers.Tool{{Name: "r",
			Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"$ref":"https://x/s.json"}}}`)}}},
			"tools[0].function.parameters", "unsupported $ref"},
		{"non-object params", providers.ChatRequest{Messages: []providers.Message{user}, Tools: []providers.Tool{{Name: "s",
			Parameters: json.RawMessage(`{"type":"string"}`)}}}, "tools[0].function.parameters", "object schema"},
		{"unknown effort", providers.ChatRequest{Messages: []providers.Message{user}, ReasoningEffort: "max"}, "reasoning_effort", "max"},
		{"unknown format", providers.ChatRequest{Messages: []providers.Message{user}, ResponseFormat: &providers.ResponseFormat{Type: "xml"}},
			"response_format.type", "xml"},
		{"invalid schema JSON", providers.ChatRequest{Messages: []providers.Message{user}, ResponseFormat: &providers.ResponseFormat{
			Type: providers.FormatJSONSchema, Schema: json.RawMessage(`{`)}}, "response_format.json_schema.schema", "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Model = "gemini-2.5-flash"
			_, err := encodeRequest(&c.req)
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *providers.Error", err)
			}
			if pe.Status != 400 || pe.Type != "invalid_request_error" || pe.Param != c.param || !strings.Contains(pe.Message, c.msg) {
				t.Errorf("got %+v, want 400 param %q message containing %q", pe, c.param, c.msg)
			}
			if strings.Contains(pe.Message, "secret") {
				t.Errorf("message leaks the URL's query: %s", pe.Message)
			}
		})
	}
}

func TestSchemaBombIsBounded(t *testing.T) {
	// Each definition uses the next twice: 2^40 nodes once inlined.
	var defs []string
	for i := range 40 {
		defs = append(defs, `"D`+itoa(i)+`":{"type":"object","properties":{"a":{"$ref":"#/$defs/D`+itoa(i+1)+`"},"b":{"$ref":"#/$defs/D`+itoa(i+1)+`"}}}`)
	}
	defs = append(defs, `"D40":{"type":"string"}`)
	schema := `{"type":"object","properties":{"x":{"$ref":"#/$defs/D0"}},"$defs":{` + strings.Join(defs, ",") + `}}`
	_, err := toolParameters(json.RawMessage(schema))
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err = %v, want a size error", err)
	}
}

func TestModelPath(t *testing.T) {
	for in, want := range map[string]string{
		"gemini-2.5-flash":        "models/gemini-2.5-flash",
		"models/gemini-2.5-flash": "models/gemini-2.5-flash",
		"tunedModels/my-model":    "tunedModels/my-model",
		"a/b?c#d":                 "models/a%2Fb%3Fc%23d",
	} {
		got, err := modelPath(in)
		if err != nil || got != want {
			t.Errorf("modelPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "..", "models/", "models/.."} {
		if _, err := modelPath(bad); err == nil {
			t.Errorf("modelPath(%q): no error", bad)
		}
	}
}

func TestNormalizeSchema(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// allOf of several members: properties and required united.
		{`{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"integer"}},"required":["b","a"]}]}`,
			`{"type":"OBJECT","properties":{"a":{"type":"STRING"},"b":{"type":"INTEGER"}},"required":["a","b"]}`},
		// $ref with sibling keywords: the siblings win and extend.
		{`{"$ref":"#/definitions/P","description":"own","properties":{"y":{"type":"boolean"}},"definitions":{"P":{"type":"object","description":"def","properties":{"x":{"type":"number"}}}}}`,
			`{"type":"OBJECT","description":"own","properties":{"x":{"type":"NUMBER"},"y":{"type":"BOOLEAN"}}}`},
		// Mixed enums keep their type; numbers with a fraction are NUMBER.
		{`{"enum":[1,2.5]}`, `{"type":"NUMBER"}`},
		{`{"enum":[true,false]}`, `{"type":"BOOLEAN"}`},
		{`{"enum":["a",1]}`, `{}`},
		{`{"type":"integer","format":"int64"}`, `{"type":"INTEGER","format":"int64"}`},
		{`{"type":"string","format":"uri"}`, `{"type":"STRING"}`},
		{`{"type":"null"}`, `{"type":"NULL"}`},
		{`{"anyOf":[{"type":"null"},{"type":"integer"}]}`, `{"type":"INTEGER","nullable":true}`},
		{`{"type":"array","items":true}`, `{"type":"ARRAY"}`},
		{`{"type":"array","items":{}}`, `{"type":"ARRAY","items":{}}`},
	} {
		got, err := normalizeSchema(json.RawMessage(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		b, _ := json.Marshal(got)
		var g, w any
		_ = json.Unmarshal(b, &g)
		_ = json.Unmarshal([]byte(c.want), &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\ngot  %s\nwant %s", c.in, b, c.want)
		}
	}
}
