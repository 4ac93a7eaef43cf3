package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
)

// serve runs f on a loopback port for the test: the body limit is
// enforced while fasthttp reads the request, a path app.Test reports as an
// error instead of returning the response.
func serve(t *testing.T, f *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = f.Listener(ln); close(done) }()
	t.Cleanup(func() { _ = f.Shutdown(); <-done })
	return ln.Addr().String()
}

// post sends a POST announcing a body of size bytes and decodes the JSON
// (or problem) answer. A body over the limit is announced but not sent: the server
// answers from the headers, and a client still writing would have its
// connection reset under it, losing the answer.
func post(t *testing.T, addr, path string, size, limit int) response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: api\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", path, size)
	if size <= limit {
		req += strings.Repeat("x", size)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s with %d bytes: %v", path, size, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantContentType(resp.StatusCode)) {
		t.Errorf("POST %s: Content-Type %q, want %s; body %q", path, ct, wantContentType(resp.StatusCode), raw)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("POST %s: body %q is not JSON: %v", path, raw, err)
	}
	return r
}

func TestBodyLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		size   int
		status int
	}{
		{"default limit, small body", 0, 100, http.StatusCreated},
		{"default limit, body of exactly 4 KiB", 0, httpapi.DefaultMaxBodyBytes, http.StatusCreated},
		{"default limit, one byte over", 0, httpapi.DefaultMaxBodyBytes + 1, http.StatusRequestEntityTooLarge},
		{"default limit, 1 MiB", 0, 1 << 20, http.StatusRequestEntityTooLarge},
		{"configured limit", 16, 17, http.StatusRequestEntityTooLarge},
		{"configured limit, under", 16, 16, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			f := newServerWith(t, pub, fakePinger{}, httpapi.Options{Stream: "update_model", Limits: httpapi.Limits{MaxBodyBytes: tc.limit}})
			limit := tc.limit
			if limit == 0 {
				limit = httpapi.DefaultMaxBodyBytes
			}
			r := post(t, serve(t, f), "/update_model/w", tc.size, limit)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.raw)
			}
			wantPublished := 0
			if tc.status == http.StatusCreated {
				wantPublished = 1
			} else {
				checkProblem(t, r)
			}
			if n := len(pub.published()); n != wantPublished {
				t.Errorf("%d events published, want %d", n, wantPublished)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	pub := &fakePublisher{}
	f := newServerWith(t, pub, fakePinger{}, httpapi.Options{
		Stream: "update_model", Limits: httpapi.Limits{RatePerSecond: 1, Burst: 3},
		Metrics: httpapi.NewHTTPMetrics(reg), MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	})
	// The bucket starts full: the burst goes through at once.
	for i := range 3 {
		if r := do(t, f, http.MethodGet, "/update_model/w"); r.status != http.StatusCreated {
			t.Fatalf("request %d of the burst: status %d %s", i+1, r.status, r.raw)
		}
	}
	// Then one a second: within a few more requests (a slow machine may
	// refill a token or two meanwhile) the client is turned away.
	var limited response
	for range 10 {
		if limited = do(t, f, http.MethodGet, "/update_model/l"); limited.status != http.StatusCreated {
			break
		}
	}
	if limited.status != http.StatusTooManyRequests {
		t.Fatalf("status %d %s, want 429", limited.status, limited.raw)
	}
	if msg := checkProblem(t, limited); !strings.Contains(msg, "too many requests") {
		t.Errorf("429 detail %q, want \"too many requests ...\"", msg)
	}
	if ra := limited.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1 (a token a second)", ra)
	}
	accepted := len(pub.published())

	// Unknown routes count against the budget too: no free scanning.
	if r := do(t, f, http.MethodGet, "/nope"); r.status != http.StatusTooManyRequests {
		t.Errorf("GET /nope while limited: %d, want 429", r.status)
	}
	// Probes and scrapes are never limited.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		for range 5 {
			resp, err := f.Test(httptest.NewRequest(http.MethodGet, path, nil), 5000)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s while limited: %d, want 200", path, resp.StatusCode)
			}
		}
	}
	if n := len(pub.published()); n != accepted {
		t.Errorf("a refused request was published: %d events, %d before", n, accepted)
	}
	// The 429s are counted like any other answer.
	resp, err := f.Test(httptest.NewRequest(http.MethodGet, "/metrics", nil), 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(metrics), `code="429"`) {
		t.Errorf("no 429 in the request metrics:\n%s", metrics)
	}
}

func TestRateLimitOffByDefault(t *testing.T) {
	f := newServer(t, &fakePublisher{}, fakePinger{})
	for i := range 200 {
		if r := do(t, f, http.MethodGet, "/update_model/w"); r.status != http.StatusCreated {
			t.Fatalf("request %d: status %d, want 201 (no rate limit by default)", i+1, r.status)
		}
	}
}
