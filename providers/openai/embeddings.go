package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// DecodeEmbeddingRequest decodes an OpenAI embeddings request for a
// provider that is not OpenAI-format. It returns the encoding format the
// client wants the vectors in ("float" or "base64").
func DecodeEmbeddingRequest(body []byte) (*providers.EmbeddingRequest, string, error) {
	var w wireEmbeddingRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, "", providers.BadRequest("", "the request body is not a valid embeddings request: %v", err)
	}
	if w.Model == "" {
		return nil, "", providers.BadRequest("model", "you must provide a model parameter")
	}
	format := w.EncodingFormat
	switch format {
	case "", "float":
		format = "float"
	case "base64":
	default:
		return nil, "", providers.BadRequest("encoding_format", "encoding_format must be float or base64")
	}
	req := &providers.EmbeddingRequest{Model: w.Model, Dimensions: w.Dimensions, User: w.User}
	var one string
	var many []string
	switch {
	case json.Unmarshal(w.Input, &one) == nil:
		req.Inputs = []string{one}
	case json.Unmarshal(w.Input, &many) == nil:
		req.Inputs = many
	default:
		return nil, "", providers.BadRequest("input", "input must be a string or an array of strings for this model (token arrays need an OpenAI-format provider)")
	}
	if len(req.Inputs) == 0 {
		return nil, "", providers.BadRequest("input", "input must not be empty")
	}
	for _, s := range req.Inputs {
		if s == "" {
			return nil, "", providers.BadRequest("input", "input strings must not be empty")
		}
	}
	return req, format, nil
}

// EncodeEmbeddingResponse renders vectors as an OpenAI embeddings list, as
// floats or as base64 little-endian float32s.
func EncodeEmbeddingResponse(resp *providers.EmbeddingResponse, format string) []byte {
	type datum struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	out := struct {
		Object string     `json:"object"`
		Data   []datum    `json:"data"`
		Model  string     `json:"model"`
		Usage  *wireUsage `json:"usage"`
	}{Object: "list", Model: resp.Model, Data: make([]datum, len(resp.Vectors)),
		Usage: &wireUsage{PromptTokens: resp.Usage.PromptTokens, TotalTokens: resp.Usage.PromptTokens}}
	for i, v := range resp.Vectors {
		d := datum{Object: "embedding", Index: i, Embedding: v}
		if format == "base64" {
			b := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(f))
			}
			d.Embedding = base64.StdEncoding.EncodeToString(b)
		}
		out.Data[i] = d
	}
	b, _ := json.Marshal(out)
	return b
}
