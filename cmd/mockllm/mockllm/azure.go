package mockllm

import (
	"net/http"
	"strings"
)

// Azure OpenAI speaks OpenAI's format under other paths, with the key in
// an api-key header:
//
//	POST /openai/v1/chat/completions, /openai/v1/embeddings
//	POST /openai/deployments/{deployment}/chat/completions?api-version=...
//	POST /openai/deployments/{deployment}/embeddings?api-version=...
//
// Deployment URLs require api-version, as Azure does.
func init() {
	registerDialect(Dialect{
		Name:  "azure",
		Match: func(path string) bool { return strings.HasPrefix(path, "/openai/") },
		Authorized: func(r *http.Request, key string) bool {
			return headerKeyIs(r, "Api-Key", key)
		},
		WriteError: func(w http.ResponseWriter, status int, message string) {
			writeError(w, status, message, "", "")
		},
		Serve: serveAzure,
	})
}

func serveAzure(s *Server, w http.ResponseWriter, r *http.Request, body []byte, n uint64, k knobs) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	rest, ok := strings.CutPrefix(path, "/openai/v1")
	if !ok {
		deployment, op, found := strings.Cut(strings.TrimPrefix(path, "/openai/deployments/"), "/")
		if !found || deployment == "" || !strings.HasPrefix(path, "/openai/deployments/") {
			writeError(w, http.StatusNotFound, "Resource not found", "", "404")
			return
		}
		if r.URL.Query().Get("api-version") == "" {
			writeError(w, http.StatusBadRequest, "Missing required query parameter: api-version", "api-version", "")
			return
		}
		rest = "/" + op
	}
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	switch rest {
	case "/chat/completions":
		s.chatCompletions(w, r, body, n, k)
	case "/embeddings":
		s.embeddings(w, body, k)
	default:
		writeError(w, http.StatusNotFound, "Resource not found", "", "404")
	}
}
