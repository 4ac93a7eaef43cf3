package kindtest

import (
	"encoding/base64"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// apiToken is the token the chart generated for the release (api.auth is
// on by default), read after the install; every request of the suite
// carries it, as a client of a real deployment would.
var apiToken atomic.Pointer[string]

// readAPIToken reads the admin token from the chart's tokens Secret, the
// way NOTES.txt tells a user to.
func (c *cluster) readAPIToken(t *testing.T) {
	t.Helper()
	enc := c.kubectl(t, "get", "secret", c.release+"-api-tokens", "-o", "jsonpath={.data.tokens}")
	file, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		t.Fatalf("Secret %s-api-tokens: %v", c.release, err)
	}
	for line := range strings.SplitSeq(string(file), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "admin" {
			apiToken.Store(&f[2])
			return
		}
	}
	t.Fatalf("Secret %s-api-tokens has no admin token", c.release)
}

// tokenTransport adds Authorization: Bearer <apiToken> to every request
// that has none, once the token is known.
type tokenTransport struct{ next http.RoundTripper }

func (tt tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if tok := apiToken.Load(); tok != nil && req.Header.Get("Authorization") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+*tok)
	}
	return tt.next.RoundTrip(req)
}
