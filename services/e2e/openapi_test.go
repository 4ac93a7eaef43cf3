package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs/openapicheck"
)

// Every HTTP exchange the suites have with api or bayes is checked against
// the service's OpenAPI document (openapicheck: a documented request gets
// a documented answer, a request the document refuses is refused, every
// error is a problem; an event stream by its status and content type only).
// TestMain puts openAPITransport in front of http.DefaultTransport, which
// every client of the suites uses, and startProcAt registers each process's
// address with the document of its binary, so a failure is reported to the
// test that started the process. Requests through a transport of their own
// (the chaos suite's, the browser's, Prometheus' scrapes) are not seen.

// openAPIDocs are the documents of the binaries, read from the sources the
// binaries embed them from.
var openAPIDocs = sync.OnceValues(func() (map[string]*openapicheck.Doc, error) {
	docs := map[string]*openapicheck.Doc{}
	for _, bin := range []string{"api", "bayes"} {
		path := filepath.Join("..", bin, "ports", "httpapi", "openapi.json")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if docs[bin], err = openapicheck.Load(path, b); err != nil {
			return nil, err
		}
	}
	return docs, nil
})

// watched is one service process whose exchanges are checked.
type watched struct {
	doc *openapicheck.Doc

	mu     sync.Mutex
	fail   func(problem string) // fails the test that started the process
	closed bool                 // the test is ending: it may no longer be failed
}

func (w *watched) report(problems []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	for _, p := range problems {
		w.fail(p)
	}
}

// watchedHosts maps "127.0.0.1:port" to the service listening there.
var watchedHosts sync.Map

// watchOpenAPI checks every exchange with p against the document of its
// binary until the test ends.
func watchOpenAPI(p *proc) {
	p.t.Helper()
	docs, err := openAPIDocs()
	if err != nil {
		p.t.Fatalf("loading the OpenAPI documents: %v", err)
	}
	doc, ok := docs[p.bin]
	if !ok {
		return
	}
	host := strings.TrimPrefix(p.url(""), "http://")
	t := p.t
	w := &watched{doc: doc, fail: func(problem string) { t.Errorf("OpenAPI: %s", problem) }}
	watchedHosts.Store(host, w)
	p.t.Cleanup(func() {
		watchedHosts.CompareAndDelete(host, w)
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
	})
}

// openAPITransport checks the exchanges with watched hosts.
type openAPITransport struct{ next http.RoundTripper }

func (o openAPITransport) RoundTrip(req *http.Request) (*http.Response, error) {
	v, ok := watchedHosts.Load(req.URL.Host)
	if !ok {
		return o.next.RoundTrip(req)
	}
	w := v.(*watched)
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapi check: reading the request body: %w", err)
		}
		body = b
		req = req.Clone(req.Context()) // a RoundTripper must not change the caller's request
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := o.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// Exchange does not read a stream: the caller gets it as it is.
		w.report(w.doc.Exchange(req, body, resp))
		return resp, nil
	}
	// The answer is read here, so it can be checked whole; an answer cut
	// short (a fault a test provokes) is not the document's business, and
	// the caller sees the same bytes and the same error.
	b, readErr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if readErr != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), errReader{readErr}), io.NopCloser(nil)}
		return resp, nil
	}
	w.report(w.doc.Exchange(req, body, resp))
	resp.Body = io.NopCloser(bytes.NewReader(b)) // Exchange read its copy
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestOpenAPITransportReports checks the check: an answer the document
// does not describe, and a request the document refuses but a service
// accepts, fail the test that started the service; the caller gets the
// answer as it was.
func TestOpenAPITransportReports(t *testing.T) {
	docs, err := openAPIDocs()
	if err != nil {
		t.Fatal(err)
	}
	const host = "127.0.0.1:1"
	var got []string
	watchedHosts.Store(host, &watched{doc: docs["bayes"], fail: func(p string) { got = append(got, p) }})
	defer watchedHosts.Delete(host)

	tr := openAPITransport{next: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"status":"fine"}`)), Request: req}, nil
	})}
	for _, path := range []string{"/healthz", "/nope"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != `{"status":"fine"}` {
			t.Errorf("GET %s: the caller got %q", path, b)
		}
	}
	if len(got) != 2 || !strings.Contains(got[0], "not what the document says") || !strings.Contains(got[1], "the document refuses this request") {
		t.Errorf("reported %q", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
