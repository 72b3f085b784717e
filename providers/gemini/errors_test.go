package gemini

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// errorStatuses is the HTTP status each error body in testdata/errors
// comes with (and a Retry-After header for some).
var errorStatuses = map[string]struct {
	status int
	retry  string
}{
	"resource_exhausted": {429, ""},
	"unavailable":        {503, "5"},
	"invalid_argument":   {400, ""},
	"api_key_invalid":    {400, ""},
	"permission_denied":  {403, ""},
	"not_found":          {404, ""},
	"internal":           {500, ""},
	"deadline":           {504, ""},
	"array_form":         {400, ""},
	"key_echo":           {400, ""},
	"not_google":         {502, ""},
}

func TestReadErrorGolden(t *testing.T) {
	files := inputs(t, "errors", ".json")
	if len(files) != len(errorStatuses) {
		t.Fatalf("%d error bodies, %d statuses", len(files), len(errorStatuses))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			st, ok := errorStatuses[name]
			if !ok {
				t.Fatalf("no status for %s", name)
			}
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			if st.retry != "" {
				h.Set("Retry-After", st.retry)
			}
			e := readError(fakeResp(st.status, h, body), "secret-key-123")
			if strings.Contains(e.Message, "secret-key-123") {
				t.Errorf("message leaks the key: %s", e.Message)
			}
			got, _ := json.Marshal(e)
			checkGolden(t, golden(f), got)
		})
	}
}
