package gemini

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

type embedRequest struct {
	Model                string  `json:"model,omitempty"`
	Content              content `json:"content"`
	OutputDimensionality *int64  `json:"outputDimensionality,omitempty"`
}

type batchEmbedRequest struct {
	Requests []embedRequest `json:"requests"`
}

type embedding struct {
	Values []float32 `json:"values"`
}

// Embed computes embeddings: embedContent for one input, batchEmbedContents
// for several (one call, vectors in input order). User and Extra are
// dropped: Gemini has no such fields.
func (p *Gemini) Embed(ctx context.Context, req *providers.EmbeddingRequest) (*providers.EmbeddingResponse, error) {
	if len(req.Inputs) == 0 {
		return nil, providers.BadRequest("input", "input must not be empty")
	}
	mp, err := modelPath(req.Model)
	if err != nil {
		return nil, err
	}
	reqs := make([]embedRequest, len(req.Inputs))
	for i, in := range req.Inputs {
		if in == "" {
			return nil, providers.BadRequest("input", "Gemini cannot embed an empty string (input %d)", i)
		}
		reqs[i] = embedRequest{Model: mp, Content: content{Parts: []part{{Text: in}}}, OutputDimensionality: req.Dimensions}
	}
	var body []byte
	method := "batchEmbedContents"
	if len(reqs) == 1 {
		method = "embedContent"
		body, err = marshal(reqs[0])
	} else {
		body, err = marshal(batchEmbedRequest{Requests: reqs})
	}
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, req.Model, method, "", body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return nil, err
	}
	var wire struct {
		Embedding  *embedding  `json:"embedding"`
		Embeddings []embedding `json:"embeddings"`
	}
	if json.Unmarshal(raw, &wire) != nil {
		return nil, errMalformed("embedding response")
	}
	if wire.Embedding != nil {
		wire.Embeddings = append(wire.Embeddings, *wire.Embedding)
	}
	if len(wire.Embeddings) != len(req.Inputs) {
		return nil, errMalformed("embedding response (wrong number of vectors)")
	}
	out := &providers.EmbeddingResponse{Model: req.Model, Vectors: make([][]float32, len(wire.Embeddings))}
	for i, e := range wire.Embeddings {
		out.Vectors[i] = e.Values
	}
	out.Usage.PromptTokens = estimateTokens(req.Inputs)
	return out, nil
}

// estimateTokens estimates the tokens of the inputs as ceil(characters/4)
// each: Gemini's embedding endpoints report no usage, and a count is needed
// for metering. Roughly right for English with Gemini's tokenizer; an
// estimate, not a bill.
func estimateTokens(inputs []string) int64 {
	var n int64
	for _, s := range inputs {
		n += int64((utf8.RuneCountInString(s) + 3) / 4)
	}
	return n
}
