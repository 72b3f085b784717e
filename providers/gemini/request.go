package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// Wire types of a generateContent request (camelCase, as go-genai sends).

type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
}

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

type part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FileData         *fileData         `json:"fileData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
}

type blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"` // base64
}

type fileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

type functionDeclaration struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type generationConfig struct {
	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"topP,omitempty"`
	MaxOutputTokens  *int64          `json:"maxOutputTokens,omitempty"`
	StopSequences    []string        `json:"stopSequences,omitempty"`
	CandidateCount   int             `json:"candidateCount,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	PresencePenalty  *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty *float64        `json:"frequencyPenalty,omitempty"`
	ResponseMimeType string          `json:"responseMimeType,omitempty"`
	ResponseSchema   json.RawMessage `json:"responseSchema,omitempty"`
	ThinkingConfig   *thinkingConfig `json:"thinkingConfig,omitempty"`
}

type thinkingConfig struct {
	ThinkingBudget *int64 `json:"thinkingBudget,omitempty"`
}

// thinkingBudgets maps OpenAI's reasoning_effort to a Gemini 2.5 thinking
// budget, the values Google's own OpenAI-compatible endpoint documents
// (newer models also take the budget). "none" turns thinking off where the
// model allows it.
var thinkingBudgets = map[string]int64{
	"none":    0,
	"minimal": 1024,
	"low":     1024,
	"medium":  8192,
	"high":    24576,
}

// encodeRequest translates a canonical chat request into a generateContent
// body. It returns a *providers.Error (400) for what Gemini cannot take.
//
// Dropped on purpose: User (Gemini has no such field), ParallelToolCalls
// (no equivalent: Gemini may always call several functions), IncludeUsage
// (usage is always sent), Stream (it is the endpoint), Extra (Gemini is
// strict about unknown fields), message names, image detail, and the name,
// description and strict flag of a json_schema response format.
func encodeRequest(req *providers.ChatRequest) ([]byte, error) {
	if req.N < 0 {
		return nil, providers.BadRequest("n", "n must be at least 1")
	}
	out := generateRequest{}
	var err error
	if out.SystemInstruction, out.Contents, err = encodeMessages(req.Messages); err != nil {
		return nil, err
	}
	if out.Tools, err = encodeTools(req.Tools); err != nil {
		return nil, err
	}
	if out.ToolConfig, err = encodeToolChoice(req.ToolChoice, req.Tools); err != nil {
		return nil, err
	}
	if out.GenerationConfig, err = encodeGenerationConfig(req); err != nil {
		return nil, err
	}
	b, err := marshal(out)
	if err != nil {
		return nil, providers.BadRequest("", "encoding the Gemini request: %v", err)
	}
	return b, nil
}

// encodeMessages returns the systemInstruction (every system message, in
// order, one text part each: Gemini has a single system field, so a
// mid-conversation system message loses its position) and the contents,
// with roles user/model and consecutive same-role turns merged, since
// Gemini requires them to alternate.
func encodeMessages(msgs []providers.Message) (*content, []content, error) {
	var sys *content
	var contents []content
	// names maps a tool call id to its function name: a tool message only
	// carries the id, but functionResponse needs the name. Later calls with
	// the same id (ids like call_0 repeat across turns) win, which is the
	// call the tool message answers.
	names := map[string]string{}
	add := func(role string, parts []part) {
		if len(parts) == 0 {
			return // Gemini rejects empty parts; an empty turn says nothing
		}
		if n := len(contents); n > 0 && contents[n-1].Role == role {
			contents[n-1].Parts = append(contents[n-1].Parts, parts...)
			return
		}
		contents = append(contents, content{Role: role, Parts: parts})
	}
	for i, m := range msgs {
		switch m.Role {
		case providers.RoleSystem:
			for _, p := range m.Parts {
				if p.Type != providers.PartText {
					return nil, nil, providers.BadRequest(msgParam(i), "Gemini takes only text in system messages")
				}
			}
			if t := m.Text(); t != "" {
				if sys == nil {
					sys = &content{}
				}
				sys.Parts = append(sys.Parts, part{Text: t})
			}
		case providers.RoleUser:
			parts, err := encodeParts(m.Parts, i)
			if err != nil {
				return nil, nil, err
			}
			add("user", parts)
		case providers.RoleAssistant:
			parts, err := encodeParts(m.Parts, i)
			if err != nil {
				return nil, nil, err
			}
			for j, tc := range m.ToolCalls {
				args, err := toolArgs(tc.Arguments)
				if err != nil {
					return nil, nil, providers.BadRequest(msgParam(i)+".tool_calls["+itoa(j)+"].function.arguments",
						"the arguments of tool call %q are not a JSON object: %v", tc.ID, err)
				}
				parts = append(parts, part{FunctionCall: &functionCall{Name: tc.Name, Args: args}})
				names[tc.ID] = tc.Name
			}
			add("model", parts)
		case providers.RoleTool:
			name, ok := names[m.ToolCallID]
			if !ok {
				return nil, nil, providers.BadRequest(msgParam(i)+".tool_call_id",
					"tool message answers tool call %q, which no earlier assistant message made", m.ToolCallID)
			}
			for _, p := range m.Parts {
				if p.Type != providers.PartText {
					return nil, nil, providers.BadRequest(msgParam(i), "Gemini takes only text in tool results")
				}
			}
			add("user", []part{{FunctionResponse: &functionResponse{Name: name, Response: toolResult(m.Text())}}})
		default:
			return nil, nil, providers.BadRequest(msgParam(i)+".role", "unknown role %q", m.Role)
		}
	}
	if len(contents) == 0 {
		return nil, nil, providers.BadRequest("messages", "Gemini needs at least one user or assistant message with content")
	}
	return sys, contents, nil
}

func msgParam(i int) string { return "messages[" + itoa(i) + "]" }

func itoa(i int) string { return strconv.Itoa(i) }

// encodeParts translates text and image parts, dropping empty text (Gemini
// rejects a part with nothing in it).
func encodeParts(ps []providers.Part, i int) ([]part, error) {
	var out []part
	for _, p := range ps {
		switch p.Type {
		case providers.PartText:
			if p.Text != "" {
				out = append(out, part{Text: p.Text})
			}
		case providers.PartImage:
			ip, err := encodeImage(p.Image, i)
			if err != nil {
				return nil, err
			}
			out = append(out, ip)
		default:
			return nil, providers.BadRequest(msgParam(i)+".content", "Gemini cannot take content of type %q here", p.Type)
		}
	}
	return out, nil
}

// encodeImage sends inline bytes as inlineData, and gs:// or Files API URIs
// as fileData. Gemini does not fetch arbitrary http(s) URLs reliably, and
// the gateway does not fetch them yet: those are a 400.
func encodeImage(img *providers.Image, i int) (part, error) {
	param := msgParam(i) + ".content"
	if img == nil {
		return part{}, providers.BadRequest(param, "image part without an image")
	}
	if len(img.Data) == 0 && strings.HasPrefix(img.URL, "data:") {
		mt, data, err := decodeDataURL(img.URL)
		if err != nil {
			return part{}, providers.BadRequest(param, "invalid image data URL: %v", err)
		}
		img = &providers.Image{MediaType: mt, Data: data}
	}
	if len(img.Data) > 0 {
		mt := img.MediaType
		if mt == "" {
			mt = http.DetectContentType(img.Data)
		}
		return part{InlineData: &blob{MimeType: mt, Data: base64.StdEncoding.EncodeToString(img.Data)}}, nil
	}
	if isFileURI(img.URL) {
		return part{FileData: &fileData{MimeType: img.MediaType, FileURI: img.URL}}, nil
	}
	if img.URL == "" {
		return part{}, providers.BadRequest(param, "image part without data or URL")
	}
	return part{}, providers.BadRequest(param,
		"Gemini needs images inline (as a base64 data: URL) or as a gs:// or Gemini Files API URI; it cannot fetch %q", redactURL(img.URL))
}

// isFileURI reports whether u is one Gemini resolves itself: Cloud Storage
// or a file uploaded with the Files API.
func isFileURI(u string) bool {
	return strings.HasPrefix(u, "gs://") ||
		strings.HasPrefix(u, "https://generativelanguage.googleapis.com/") && strings.Contains(u, "/files/")
}

// redactURL shortens a URL for an error message: the query may hold a
// signature the client would rather not see echoed.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if len(u) > 200 {
		u = u[:200] + "..."
	}
	return u
}

// decodeDataURL decodes data:<mediatype>;base64,<data>.
func decodeDataURL(u string) (string, []byte, error) {
	meta, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return "", nil, errNotBase64
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", nil, err
	}
	return strings.TrimSuffix(meta, ";base64"), b, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const (
	errNotBase64 constError = "not a base64 data URL"
	errNotObject constError = "not a JSON object"
)

// toolArgs turns an OpenAI arguments string into Gemini's args object.
// Empty or null arguments are {} (a call without arguments).
func toolArgs(s string) (json.RawMessage, error) {
	t := bytes.TrimSpace([]byte(s))
	if len(t) == 0 || string(t) == "null" {
		return json.RawMessage("{}"), nil
	}
	if t[0] != '{' {
		return nil, errNotObject
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, t); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// toolResult makes a tool message's text into functionResponse.response,
// which must be an object: a JSON object is sent as it is; anything else is
// wrapped as {"result": <value>}, the value parsed when it is JSON and the
// text as it is otherwise.
func toolResult(text string) json.RawMessage {
	t := bytes.TrimSpace([]byte(text))
	if len(t) > 0 && json.Valid(t) {
		if t[0] == '{' {
			var buf bytes.Buffer
			_ = json.Compact(&buf, t)
			return buf.Bytes()
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, t)
		return wrapResult(buf.Bytes())
	}
	s, _ := marshal(text)
	return wrapResult(s)
}

func wrapResult(v []byte) json.RawMessage {
	return json.RawMessage(`{"result":` + string(v) + `}`)
}

// encodeTools translates function tools into one Gemini tool holding every
// function declaration, their schemas normalised (see schema.go).
func encodeTools(tools []providers.Tool) ([]tool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	decls := make([]functionDeclaration, 0, len(tools))
	for i, t := range tools {
		if t.Name == "" {
			return nil, providers.BadRequest("tools["+itoa(i)+"].function.name", "a tool needs a name")
		}
		params, err := toolParameters(t.Parameters)
		if err != nil {
			return nil, providers.BadRequest("tools["+itoa(i)+"].function.parameters", "%v", err)
		}
		decls = append(decls, functionDeclaration{Name: t.Name, Description: t.Description, Parameters: params})
	}
	return []tool{{FunctionDeclarations: decls}}, nil
}

// encodeToolChoice maps tool_choice to functionCallingConfig: auto → AUTO,
// none → NONE, required → ANY, a named function → ANY restricted to it.
// Without tools there is nothing to configure.
func encodeToolChoice(tc *providers.ToolChoice, tools []providers.Tool) (*toolConfig, error) {
	if tc == nil || len(tools) == 0 {
		return nil, nil
	}
	var c functionCallingConfig
	switch tc.Mode {
	case providers.ToolChoiceAuto, "":
		c.Mode = "AUTO"
	case providers.ToolChoiceNone:
		c.Mode = "NONE"
	case providers.ToolChoiceRequired:
		c.Mode = "ANY"
	case providers.ToolChoiceFunction:
		found := false
		for _, t := range tools {
			found = found || t.Name == tc.Name
		}
		if !found {
			return nil, providers.BadRequest("tool_choice", "tool_choice names function %q, which is not among the tools", tc.Name)
		}
		c.Mode, c.AllowedFunctionNames = "ANY", []string{tc.Name}
	default:
		return nil, providers.BadRequest("tool_choice", "unknown tool_choice %q", tc.Mode)
	}
	return &toolConfig{FunctionCallingConfig: c}, nil
}

// encodeGenerationConfig gathers the sampling parameters; nil when none is
// set, so that Gemini's defaults apply.
func encodeGenerationConfig(req *providers.ChatRequest) (*generationConfig, error) {
	g := generationConfig{
		Temperature:      req.Temperature,
		TopP:             req.TopP,
		MaxOutputTokens:  req.MaxTokens,
		StopSequences:    req.Stop,
		Seed:             req.Seed,
		PresencePenalty:  req.PresencePenalty,
		FrequencyPenalty: req.FrequencyPenalty,
	}
	if req.N > 1 {
		g.CandidateCount = req.N
	}
	if req.ReasoningEffort != "" {
		b, ok := thinkingBudgets[req.ReasoningEffort]
		if !ok {
			return nil, providers.BadRequest("reasoning_effort", "unknown reasoning_effort %q", req.ReasoningEffort)
		}
		g.ThinkingConfig = &thinkingConfig{ThinkingBudget: &b}
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case providers.FormatText, "":
		case providers.FormatJSONObject:
			g.ResponseMimeType = "application/json"
		case providers.FormatJSONSchema:
			g.ResponseMimeType = "application/json"
			if len(rf.Schema) > 0 {
				s, err := responseSchema(rf.Schema)
				if err != nil {
					return nil, providers.BadRequest("response_format.json_schema.schema", "%v", err)
				}
				g.ResponseSchema = s
			}
		default:
			return nil, providers.BadRequest("response_format.type", "unknown response_format type %q", rf.Type)
		}
	}
	if g.Temperature == nil && g.TopP == nil && g.MaxOutputTokens == nil && g.StopSequences == nil &&
		g.CandidateCount == 0 && g.Seed == nil && g.PresencePenalty == nil && g.FrequencyPenalty == nil &&
		g.ResponseMimeType == "" && g.ThinkingConfig == nil {
		return nil, nil
	}
	return &g, nil
}
