package mockllm

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// EmbeddingDimensions is the length of every embedding vector returned.
const EmbeddingDimensions = 8

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
}

type embeddingData struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string
}

type embeddingResponse struct {
	Object string          `json:"object"`
	Data   []embeddingData `json:"data"`
	Model  string          `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// embeddingInput is one item to embed: its hash key and its token count.
type embeddingInput struct {
	key    []byte
	tokens int
}

// parseEmbeddingInput accepts a string, an array of strings, an array of
// token IDs or an array of token-ID arrays.
func parseEmbeddingInput(raw json.RawMessage) ([]embeddingInput, error) {
	errInvalid := errors.New("'input' must be a non-empty string, array of strings, array of tokens or array of token arrays")
	fromString := func(s string) (embeddingInput, error) {
		if s == "" {
			return embeddingInput{}, errInvalid
		}
		return embeddingInput{key: []byte("s:" + s), tokens: max(len(strings.Fields(s)), 1)}, nil
	}
	fromTokens := func(t []int64) (embeddingInput, error) {
		if len(t) == 0 {
			return embeddingInput{}, errInvalid
		}
		var b strings.Builder
		b.WriteString("t:")
		for i, v := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(v, 10))
		}
		return embeddingInput{key: []byte(b.String()), tokens: len(t)}, nil
	}

	var str string
	if json.Unmarshal(raw, &str) == nil {
		in, err := fromString(str)
		return []embeddingInput{in}, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		return nil, errInvalid
	}
	var tokens []int64
	if json.Unmarshal(raw, &tokens) == nil {
		in, err := fromTokens(tokens)
		return []embeddingInput{in}, err
	}
	out := make([]embeddingInput, 0, len(items))
	for _, item := range items {
		var (
			in  embeddingInput
			err error
		)
		if json.Unmarshal(item, &str) == nil {
			in, err = fromString(str)
		} else if json.Unmarshal(item, &tokens) == nil {
			in, err = fromTokens(tokens)
		} else {
			err = errInvalid
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// Embed returns the deterministic unit-length vector the server reports for
// a string input.
func Embed(input string) []float32 { return embed([]byte("s:" + input)) }

func embed(key []byte) []float32 {
	sum := sha256.Sum256(key)
	var v [EmbeddingDimensions]float64
	var norm float64
	for i := range v {
		u := binary.LittleEndian.Uint32(sum[4*i:])
		v[i] = float64(u)/math.MaxUint32*2 - 1
		norm += v[i] * v[i]
	}
	norm = math.Sqrt(norm)
	out := make([]float32, EmbeddingDimensions)
	for i := range v {
		out[i] = float32(v[i] / norm)
	}
	return out
}

// EncodeBase64 encodes v as OpenAI's encoding_format "base64" does: the
// little-endian IEEE 754 float32 bytes, base64 (standard, padded) encoded.
func EncodeBase64(v []float32) string {
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (s *Server) embeddings(w http.ResponseWriter, body []byte, k knobs) {
	var req embeddingRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request. ("+err.Error()+")", "", "")
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "you must provide a model parameter", "model", "")
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		writeError(w, http.StatusBadRequest, "encoding_format must be 'float' or 'base64'", "encoding_format", "")
		return
	}
	inputs, err := parseEmbeddingInput(req.Input)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "input", "")
		return
	}
	if k.failAfter >= 0 {
		abort()
	}

	resp := embeddingResponse{Object: "list", Model: req.Model, Data: make([]embeddingData, len(inputs))}
	for i, in := range inputs {
		var e any = embed(in.key)
		if req.EncodingFormat == "base64" {
			e = EncodeBase64(e.([]float32))
		}
		resp.Data[i] = embeddingData{Object: "embedding", Index: i, Embedding: e}
		resp.Usage.PromptTokens += in.tokens
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	writeJSON(w, http.StatusOK, resp)
}
