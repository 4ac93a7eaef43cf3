//go:build chaos

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// rawAnswer is what the api sent back to a hand-written request.
type rawAnswer struct {
	status int
	ctype  string
	header http.Header
	body   []byte
	closed bool // the connection closed or reset before a full answer
	err    error
}

// rawRequest sends req byte for byte on a fresh connection (net/http would
// refuse to send most of these) and reads one response. The write runs
// concurrently with the read: the server may answer, and close, before it
// has read everything.
func rawRequest(addr string, req []byte, head bool) rawAnswer {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return rawAnswer{err: err}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	go func() { _, _ = c.Write(req) }()
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return rawAnswer{err: fmt.Errorf("no answer within 15s: %w", err)}
		}
		return rawAnswer{closed: true, err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawAnswer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), header: resp.Header, body: body, err: err}
}

// badHTTP is one hand-written request and what it may get.
type badHTTP struct {
	name string
	req  []byte
	// ok: the request still names a valid observation, so 201 is allowed
	// (and counted) as well as a 4xx.
	ok bool
	// mayClose: the request exceeds the server's read buffer; fasthttp
	// answers 431 and closes, and the unread rest of the request can reset
	// the connection before the answer is read.
	mayClose bool
	head     bool
}

func get(path string, extra ...string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: api\r\n" + strings.Join(extra, "") + "Connection: close\r\n\r\n")
}

func method(m, path string) []byte {
	return []byte(m + " " + path + " HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
}

func withBody(m, path, headers, body string) []byte {
	return []byte(m + " " + path + " HTTP/1.1\r\nHost: api\r\n" + headers + "Connection: close\r\n\r\n" + body)
}

func badHTTPBattery() []badHTTP {
	long := strings.Repeat("a", 10_000)
	var many strings.Builder
	for i := range 500 {
		fmt.Fprintf(&many, "X-Header-%d: v\r\n", i)
	}
	big := strings.Repeat("b", 5<<20)
	// sized is a request with a body and its exact Content-Length.
	sized := func(m, path, body string) []byte {
		return withBody(m, path, fmt.Sprintf("Content-Length: %d\r\n", len(body)), body)
	}
	cases := []badHTTP{
		// Wrong trials.
		{name: "trial x", req: get("/update_model/x")},
		{name: "trial W", req: get("/update_model/W")},
		{name: "trial water", req: get("/update_model/water")},
		{name: "trial ww", req: get("/update_model/ww")},
		{name: "trial wl", req: get("/update_model/wl")},
		{name: "trial 0", req: get("/update_model/0")},
		{name: "trial -1", req: get("/update_model/-1")},
		{name: "trial null", req: get("/update_model/null")},
		{name: "POST trial x", req: method("POST", "/update_model/x")},
		// Odd encodings.
		{name: "%77 (w encoded)", req: get("/update_model/%77"), ok: true},
		{name: "%6C (l encoded)", req: get("/update_model/%6C"), ok: true},
		{name: "%00", req: get("/update_model/%00")},
		{name: "w%00", req: get("/update_model/w%00")},
		{name: "raw NUL", req: get("/update_model/w\x00")},
		{name: "%C3%A9", req: get("/update_model/%C3%A9")},
		{name: "raw é", req: get("/update_model/é")},
		{name: "fullwidth w", req: get("/update_model/ｗ")},
		{name: "invalid UTF-8", req: get("/update_model/\xff\xfe")},
		{name: "lone %", req: get("/update_model/%")},
		{name: "%zz", req: get("/update_model/%zz")},
		{name: "w%2F", req: get("/update_model/w%2F")},
		{name: "w;x", req: get("/update_model/w;x")},
		{name: "%20w", req: get("/update_model/%20w")},
		{name: "CRLF injection", req: get("/update_model/w%0d%0aX-Evil:%201")},
		{name: "%2e%2e traversal", req: get("/update_model/%2e%2e/w")},
		{name: "../ traversal", req: get("/update_model/../update_model/w"), ok: true},
		// Slashes and case.
		{name: "double slash inside", req: get("/update_model//w")},
		{name: "double slash in front", req: get("//update_model/w"), ok: true},
		{name: "double slash after", req: get("/update_model/w//"), ok: true},
		{name: "trailing slash", req: get("/update_model/w/"), ok: true},
		{name: "no trial", req: get("/update_model/")},
		{name: "no trial, no slash", req: get("/update_model")},
		{name: "extra segment", req: get("/update_model/w/extra")},
		{name: "upper-case path", req: get("/UPDATE_MODEL/w"), ok: true},
		{name: "query string", req: get("/update_model/w?trial=l&n=1000000"), ok: true},
		{name: "absolute form", req: get("http://elsewhere.example/update_model/w"), ok: true},
		{name: "asterisk form", req: get("*")},
		{name: "relative path", req: get("update_model/w")},
		// Long paths and headers.
		{name: "path 3k", req: get("/update_model/" + long[:3000])},
		{name: "path 10k", req: get("/update_model/" + long), mayClose: true},
		{name: "header 8k", req: get("/update_model/w", "X-Big: "+long[:8000]+"\r\n"), mayClose: true},
		{name: "header 100k", req: get("/update_model/w", "X-Big: "+strings.Repeat("h", 100_000)+"\r\n"), mayClose: true},
		{name: "500 headers", req: get("/update_model/w", many.String()), mayClose: true},
		{name: "header without colon", req: get("/update_model/w", "NoColonHere\r\n"), ok: true},
		// Credentials where the api has no tokens (compose's default): any
		// Authorization is ignored, but one past the read buffer is a 431.
		{name: "Authorization empty, tokens off", req: get("/update_model/w", "Authorization: \r\n"), ok: true},
		{name: "Authorization wrong, tokens off", req: get("/update_model/l", "Authorization: Bearer not-a-token-of-this-api\r\n"), ok: true},
		{name: "Authorization 8k, tokens off", req: get("/update_model/w", "Authorization: Bearer "+long[:8000]+"\r\n"), mayClose: true},
		{name: "obs-fold header", req: get("/update_model/w", "X-A: a\r\n b\r\n"), ok: true},
		// Wrong methods.
		{name: "PUT", req: method("PUT", "/update_model/w")},
		{name: "DELETE", req: method("DELETE", "/update_model/w")},
		{name: "PATCH", req: method("PATCH", "/update_model/l")},
		{name: "OPTIONS", req: method("OPTIONS", "/update_model/w")},
		{name: "HEAD", req: method("HEAD", "/update_model/w"), head: true},
		{name: "TRACE", req: method("TRACE", "/update_model/w")},
		{name: "CONNECT", req: method("CONNECT", "/update_model/w")},
		{name: "unknown method", req: method("BREW", "/update_model/w")},
		{name: "lower-case get", req: method("get", "/update_model/w")},
		{name: "DELETE /healthz", req: method("DELETE", "/healthz")},
		{name: "POST /readyz", req: method("POST", "/readyz")},
		{name: "PUT /metrics", req: method("PUT", "/metrics")},
		// Bodies where none belong.
		{name: "GET with body", req: withBody("GET", "/update_model/w", "Content-Length: 5\r\n", "hello"), ok: true},
		{name: "POST JSON body", req: withBody("POST", "/update_model/l", "Content-Type: application/json\r\nContent-Length: 13\r\n", `{"trial":"w"}`), ok: true},
		{name: "POST 64 KiB body", req: withBody("POST", "/update_model/w", "Content-Length: 65536\r\n", big[:65536]), mayClose: true},
		{name: "POST 5 MiB body", req: withBody("POST", "/update_model/w", fmt.Sprintf("Content-Length: %d\r\n", len(big)), big), mayClose: true},
		{name: "DELETE with body", req: withBody("DELETE", "/update_model/w", "Content-Length: 3\r\n", "abc")},
		{name: "chunked body", req: withBody("POST", "/update_model/w", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), ok: true},
		{name: "chunked, bad size", req: withBody("POST", "/update_model/w", "Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n")},
		{name: "chunked, 5 MiB", req: withBody("POST", "/update_model/w", "Transfer-Encoding: chunked\r\n", fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big)), mayClose: true},
		{name: "chunked GET", req: withBody("GET", "/update_model/l", "Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"), ok: true},
		{name: "Content-Length abc", req: withBody("POST", "/update_model/w", "Content-Length: abc\r\n", "")},
		{name: "Content-Length -1", req: withBody("POST", "/update_model/w", "Content-Length: -1\r\n", "")},
		{name: "two Content-Lengths", req: withBody("POST", "/update_model/w", "Content-Length: 1\r\nContent-Length: 2\r\n", "ab"), ok: true},
		{name: "Content-Length and chunked", req: withBody("POST", "/update_model/w", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), ok: true},
		// Named models: bad names, bodies and specs.
		{name: "model name with dot", req: sized("POST", "/models/a.b/observations", `{"trial":"w"}`)},
		{name: "model name %2e%2e", req: sized("POST", "/models/%2e%2e/observations", `{"trial":"w"}`)},
		{name: "model name 65 chars", req: sized("POST", "/models/"+long[:65]+"/observations", `{"trial":"w"}`)},
		{name: "model name é", req: sized("POST", "/models/%C3%A9/observations", `{"trial":"w"}`)},
		{name: "observations, no body", req: sized("POST", "/models/ab/observations", "")},
		{name: "observations, nested JSON", req: sized("POST", "/models/ab/observations", strings.Repeat("[", 1000)+strings.Repeat("]", 1000))},
		{name: "observations, w 1e309", req: sized("POST", "/models/ab/observations", `{"w":1e309}`)},
		{name: "observations, w 2^63", req: sized("POST", "/models/ab/observations", `{"w":9223372036854775808}`)},
		{name: "observations, w null", req: sized("POST", "/models/ab/observations", `{"w":null,"l":null}`)},
		{name: "observations, bad UTF-8", req: sized("POST", "/models/ab/observations", "{\"trial\":\"\xff\"}")},
		{name: "observations, 64 KiB", req: sized("POST", "/models/ab/observations", big[:65536]), mayClose: true},
		{name: "PUT spec, beta 1e400", req: sized("PUT", "/models/ab", `{"prior":"beta:1e400,1","grid_points":10}`)},
		{name: "PUT spec, step NaN", req: sized("PUT", "/models/ab", `{"prior":"step:NaN","grid_points":10}`)},
		{name: "PUT spec, 10^12 points", req: sized("PUT", "/models/ab", `{"prior":"uniform","grid_points":1000000000000}`)},
		{name: "PUT spec, no body", req: sized("PUT", "/models/ab", "")},
		{name: "DELETE a model", req: method("DELETE", "/models/ab")},
		{name: "GET a model on the api", req: get("/models/ab")},
		// Protocol oddities.
		{name: "HTTP/1.0", req: []byte("GET /update_model/w HTTP/1.0\r\n\r\n"), ok: true},
		{name: "no Host", req: []byte("GET /update_model/l HTTP/1.1\r\nConnection: close\r\n\r\n"), ok: true},
		{name: "HTTP/9.9", req: []byte("GET /update_model/w HTTP/9.9\r\nHost: api\r\nConnection: close\r\n\r\n"), ok: true},
		{name: "not HTTP", req: []byte("HELLO\r\n\r\n")},
		{name: "binary garbage", req: append(bytes.Repeat([]byte{0, 0xff, 0x13, 0x37}, 256), "\r\n\r\n"...)},
		{name: "TLS hello", req: []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")},
	}
	return cases
}

// TestChaosBadHTTPInput sends the battery to the real api under load, each
// bad request followed by a good one: every answer is a 4xx (or, for a
// request that still names a valid observation, a 201 that is counted),
// with a JSON body, never a 5xx; the api stays up and nothing is lost or
// counted twice.
func TestChaosBadHTTPInput(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "a", "LOG_LEVEL=info")
	stop := make(chan struct{})
	o, wait := startLoad(t, s.api, loadSpec{workers: 4, stop: stop})
	addr := strings.TrimPrefix(s.api.url(""), "http://")

	var w, n int64 // counted from the raw requests' 201s
	count := func(name string, a rawAnswer) {
		var b struct{ ID, Trial string }
		if err := json.Unmarshal(a.body, &b); err != nil || b.ID == "" || (b.Trial != "w" && b.Trial != "l") {
			t.Fatalf("%s: 201 with body %q", name, a.body)
		}
		n++
		if b.Trial == "w" {
			w++
		}
	}
	summary := map[string][]string{}
	start := time.Now()
	for _, c := range badHTTPBattery() {
		a := rawRequest(addr, c.req, c.head)
		label := fmt.Sprint(a.status)
		switch {
		case a.closed && c.mayClose:
			label = "closed"
		case a.err != nil:
			t.Errorf("%s: %v (status %d)", c.name, a.err, a.status)
			continue
		case a.status >= 500:
			t.Errorf("%s: %d %s", c.name, a.status, a.body)
		case a.status == http.StatusCreated && c.ok:
			count(c.name, a)
		case a.status < 400 || a.status >= 500:
			t.Errorf("%s: %d %s; want a 4xx", c.name, a.status, a.body)
		case c.head:
			if len(a.body) != 0 {
				t.Errorf("%s: %d with a body %q", c.name, a.status, a.body)
			}
		default:
			if msg := notAProblem(a.status, a.ctype, a.body); msg != "" {
				t.Errorf("%s: %d: %s", c.name, a.status, msg)
			}
		}
		summary[label] = append(summary[label], c.name)
		// A good observation right behind each bad request.
		g := rawRequest(addr, get("/update_model/l"), false)
		if g.err != nil || g.status != http.StatusCreated {
			t.Fatalf("good request after %q: %d %s %v", c.name, g.status, g.body, g.err)
		}
		count("good", g)
	}
	for k, v := range summary {
		t.Logf("%s: %s", k, strings.Join(v, ", "))
	}
	close(stop)
	wait()
	if st := status(s.api, "/healthz"); st != 200 {
		t.Fatalf("api /healthz %d after the battery\n%s", st, s.api.logs())
	}
	select {
	case <-s.api.exited:
		t.Fatalf("api exited: %v", s.api.err)
	default:
	}
	s.settled(t, bayes, w+o.w.Load(), n+o.n.Load())
	t.Logf("%d bad requests in %s, model exact at n=%d (%d from the battery's 201s, %d from the load)",
		len(badHTTPBattery()), time.Since(start).Round(time.Millisecond), n+o.n.Load(), n, o.n.Load())
}

// TestChaosBadStreamInput adds malformed entries straight to the stream
// (and malformed messages to the pub/sub channel) between good ones, under
// load: each bad one ends in update_model:dead with a reason, none blocks the
// good ones, and the count is exact.
func TestChaosBadStreamInput(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "a", "LOG_LEVEL=info")
	ctx := context.Background()
	stop := make(chan struct{})
	o, wait := startLoad(t, s.api, loadSpec{workers: 4, stop: stop})

	mb := strings.Repeat("w", 1<<20)
	manyNoTrial := make([]any, 0, 2000)
	manyWithTrial := []any{"trial", "w"}
	for i := range 1000 {
		manyNoTrial = append(manyNoTrial, fmt.Sprintf("f%d", i), "v")
		manyWithTrial = append(manyWithTrial, fmt.Sprintf("f%d", i), "v")
	}
	type entry struct {
		name   string
		fields []any
		good   string // "w" or "l" for an entry that is a valid observation
	}
	battery := []entry{
		{name: "garbage field only", fields: []any{"foo", "bar"}},
		{name: "empty trial", fields: []any{"trial", ""}},
		{name: "trial x", fields: []any{"trial", "x"}},
		{name: "trial W", fields: []any{"trial", "W"}},
		{name: "trial ' w'", fields: []any{"trial", " w"}},
		{name: "trial 'w\\n'", fields: []any{"trial", "w\n"}},
		{name: "trial wl", fields: []any{"trial", "wl"}},
		{name: "trial integer", fields: []any{"trial", 1}},
		{name: "trial float", fields: []any{"trial", 0.5}},
		{name: "trial bool", fields: []any{"trial", true}},
		{name: "trial NUL w", fields: []any{"trial", "\x00w"}},
		{name: "trial w NUL", fields: []any{"trial", "w\x00"}},
		{name: "trial binary", fields: []any{"trial", "\xff\xfe\x00\x01"}},
		{name: "binary field name", fields: []any{"\x00\xff", "w"}},
		{name: "empty field name", fields: []any{"", "w"}},
		{name: "Trial capitalised name", fields: []any{"Trial", "w"}},
		{name: "trial 1 MiB", fields: []any{"trial", mb}},
		{name: "ts 1 MiB", fields: []any{"trial", "w", "ts", mb}},
		{name: "1 MiB field, no trial", fields: []any{"payload", mb}},
		{name: "1 MiB field name", fields: []any{mb, "w"}},
		{name: "ts soon", fields: []any{"trial", "l", "ts", "soon"}},
		{name: "ts negative", fields: []any{"trial", "w", "ts", "-5"}},
		{name: "ts zero", fields: []any{"trial", "w", "ts", "0"}},
		{name: "ts float", fields: []any{"trial", "w", "ts", "1.7e15"}},
		{name: "ts overflow", fields: []any{"trial", "w", "ts", "99999999999999999999"}},
		{name: "ts empty", fields: []any{"trial", "w", "ts", ""}},
		{name: "1000 fields, no trial", fields: manyNoTrial},
		{name: "model ../x", fields: []any{"model", "../x", "trial", "w"}},
		{name: "model 1 MiB", fields: []any{"model", mb, "trial", "w"}},
		{name: "trial and counts", fields: []any{"model", "ab", "trial", "w", "w", "3"}},
		{name: "counts 1e9999", fields: []any{"model", "ab", "w", "1e9999"}},
		{name: "counts negative", fields: []any{"model", "ab", "w", "-3", "l", "5"}},
		{name: "counts both zero", fields: []any{"model", "ab", "w", "0", "l", "0"}},
		{name: "counts over the cap", fields: []any{"model", "ab", "l", "1000000001"}},
		{name: "kind delete of default", fields: []any{"kind", "delete", "model", "default"}},
		{name: "kind delete, no model", fields: []any{"kind", "delete"}},
		{name: "kind unknown", fields: []any{"kind", "frobnicate", "model", "ab"}},
		{name: "define, no grid", fields: []any{"kind", "define", "model", "ab", "prior", "uniform"}},
		{name: "define, bad prior", fields: []any{"kind", "define", "model", "ab", "prior", "normal:0,1", "grid_points", "10"}},
		{name: "define, no interior weight", fields: []any{"kind", "define", "model", "ab", "prior", "step:0.9", "grid_points", "4"}},
		// Valid observations in odd clothes: counted, not dead-lettered.
		{name: "1000 fields with trial", fields: manyWithTrial, good: "w"},
		{name: "1 MiB unknown field with trial", fields: []any{"trial", "l", "payload", mb}, good: "l"},
		{name: "garbage traceparent", fields: []any{"trial", "w", "traceparent", "00-zz-zz-01", "tracestate", mb[:5000]}, good: "w"},
		{name: "binary source", fields: []any{"trial", "l", "source", "\xff\x00"}, good: "l"},
		{name: "valid ts", fields: []any{"trial", "w", "ts", "1700000000000000"}, good: "w"},
	}
	bad := map[string]string{} // entry id -> case name
	var w, n int64
	for _, e := range battery {
		id, err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "update_model", Values: e.fields}).Result()
		if err != nil {
			t.Fatalf("%s: XADD: %v", e.name, err)
		}
		if e.good == "" {
			bad[id] = e.name
		} else {
			n++
			if e.good == "w" {
				w++
			}
		}
		// A good entry right behind each one, both by XADD and by the api.
		if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "update_model", Values: []any{"trial", "l"}}).Err(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	// The manual PUBLISH path forwards whatever it gets; bad payloads end up
	// dead-lettered like the rest.
	eventually(t, 20*time.Second, "a bridge subscribed", func() (bool, string) {
		m, err := s.rdb.PubSubNumSub(ctx, "update_model").Result()
		return err == nil && m["update_model"] == 1, fmt.Sprint(m, err)
	})
	badPublished := []string{"", "x", "W", "\x00", mb}
	for _, p := range badPublished {
		if got, err := s.rdb.Publish(ctx, "update_model", p).Result(); err != nil || got != 1 {
			t.Fatalf("PUBLISH reached %d (%v)", got, err)
		}
	}
	close(stop)
	wait()
	s.settled(t, bayes, w+o.w.Load(), n+o.n.Load())

	wantDead := len(bad) + len(badPublished)
	var dead []redis.XMessage
	eventually(t, 20*time.Second, "every bad entry dead-lettered", func() (bool, string) {
		var err error
		dead, err = s.rdb.XRange(ctx, "update_model:dead", "-", "+").Result()
		return err == nil && len(dead) >= wantDead, fmt.Sprint(len(dead), err)
	})
	if len(dead) != wantDead {
		t.Fatalf("%d dead letters, want %d", len(dead), wantDead)
	}
	for _, d := range dead {
		src, _ := d.Values["source_id"].(string)
		reason, _ := d.Values["reason"].(string)
		fields, _ := d.Values["fields"].(string)
		if reason == "" || fields == "" || !json.Valid([]byte(fields)) {
			t.Errorf("dead letter %s (of %s) has reason %q and fields %.80q", d.ID, src, reason, fields)
		}
		if len(reason) > 512 {
			t.Errorf("dead letter of %s: reason is %d bytes; it should quote the entry briefly", src, len(reason))
		}
		if name, ok := bad[src]; ok {
			delete(bad, src)
			t.Logf("%-24s -> %.100s", name, reason)
		}
	}
	for id, name := range bad {
		t.Errorf("bad entry %q (%s) is not in the dead-letter stream", name, id)
	}
	if st := status(bayes, "/healthz"); st != 200 {
		t.Fatalf("bayes /healthz %d", st)
	}
	t.Logf("%d bad entries and %d bad PUBLISHes dead-lettered, model exact at n=%d (%d good entries by XADD, %d from the api)",
		wantDead-len(badPublished), len(badPublished), n+o.n.Load(), n, o.n.Load())
}

// tokenCase is one hand-written request to an api with tokens on and the
// statuses it may get.
type tokenCase struct {
	name     string
	req      []byte
	want     []int
	mayClose bool // past the read buffer: 431, or a reset before it is read
}

// TestChaosBadTokenInput sends bad credentials to a real api with tokens
// on, under load on the legacy endpoint (open with LEGACY_OPEN=1): empty,
// malformed, wrong, too long and huge Authorization headers, tokens of
// another scope, each followed by a good request. Every refusal is a 401
// with the Bearer challenge (a 403 for a known token without the scope, a
// 431 past the read buffer), with a problem body; nothing refused is
// stored, nothing accepted is lost, and no token reaches the api's log or
// its metrics.
func TestChaosBadTokenInput(t *testing.T) {
	k := writeTokens(t)
	srv := redistest.Start(t, redistest.WithAOF())
	s := &system{redis: srv, rdb: srv.Client(), graphs: t.TempDir()}
	s.api = startProc(t, "api", "api", "REDIS_URL="+srv.URL(), "API_TOKENS_FILE="+k.file, "LEGACY_OPEN=1", "LOG_LEVEL=debug")
	bayes := s.bayes(t, "a", "LOG_LEVEL=info")
	stop := make(chan struct{})
	o, wait := startLoad(t, s.api, loadSpec{workers: 4, stop: stop})
	addr := strings.TrimPrefix(s.api.url(""), "http://")

	const body = `{"trial":"w"}`
	obs := func(headers string) []byte {
		return withBody("POST", "/models/tb/observations", headers+fmt.Sprintf("Content-Length: %d\r\n", len(body)), body)
	}
	authz := func(v string) []byte { return obs("Authorization: " + v + "\r\n") }
	long := strings.Repeat("t", 100_000)
	unauthorized, forbidden, created := []int{401}, []int{403}, []int{201}
	cases := []tokenCase{
		{name: "no Authorization", req: obs(""), want: unauthorized},
		{name: "Authorization empty", req: authz(""), want: unauthorized},
		{name: "Authorization spaces", req: authz("   "), want: unauthorized},
		{name: "Bearer alone", req: authz("Bearer"), want: unauthorized},
		{name: "Bearer and a space", req: authz("Bearer "), want: unauthorized},
		{name: "Bearer, tab, token", req: authz("Bearer\t" + k.observe), want: unauthorized},
		{name: "Bearer glued to the token", req: authz("Bearer" + k.observe), want: unauthorized},
		{name: "token without a scheme", req: authz(k.observe), want: unauthorized},
		{name: "wrong token", req: authz("Bearer " + randomToken(t)), want: unauthorized},
		{name: "token one byte short", req: authz("Bearer " + k.observe[:len(k.observe)-1]), want: unauthorized},
		{name: "token one byte long", req: authz("Bearer " + k.observe + "x"), want: unauthorized},
		{name: "token twice", req: authz("Bearer " + k.observe + " " + k.observe), want: unauthorized},
		{name: "token upper-cased", req: authz("Bearer " + strings.ToUpper(k.observe)), want: unauthorized},
		{name: "Basic with the token", req: authz("Basic " + base64.StdEncoding.EncodeToString([]byte(k.observe+":"))), want: unauthorized},
		{name: "Token scheme", req: authz("Token " + k.observe), want: unauthorized},
		{name: "NUL in the token", req: authz("Bearer " + k.observe[:10] + "\x00" + k.observe[10:]), want: []int{400, 401}},
		{name: "non-ASCII token", req: authz("Bearer " + k.observe + "é"), want: unauthorized},
		{name: "token of 257", req: authz("Bearer " + long[:257]), want: unauthorized},
		{name: "token of 3000", req: authz("Bearer " + long[:3000]), want: unauthorized},
		{name: "Authorization 8k", req: authz("Bearer " + long[:8000]), want: []int{431}, mayClose: true},
		{name: "Authorization 100k", req: authz("Bearer " + long), want: []int{431}, mayClose: true},
		// Of two headers the first counts (fasthttp's Peek), never both.
		{name: "wrong, then right", req: obs("Authorization: Bearer " + randomToken(t) + "\r\nAuthorization: Bearer " + k.observe + "\r\n"), want: unauthorized},
		{name: "right, then wrong", req: obs("Authorization: Bearer " + k.observe + "\r\nAuthorization: Bearer " + randomToken(t) + "\r\n"), want: created},
		{name: "scheme in lower case", req: authz("bearer " + k.observe), want: created},
		{name: "header name in lower case", req: obs("authorization: Bearer " + k.observe + "\r\n"), want: created},
		{name: "two spaces", req: authz("Bearer  " + k.observe), want: created},
		{name: "observations, admin token", req: authz("Bearer " + k.admin), want: forbidden},
		{name: "define, observe token", req: withBody("PUT", "/models/tb2", "Authorization: Bearer "+k.observe+"\r\nContent-Length: 39\r\n", `{"prior":"uniform","grid_points":20}   `), want: forbidden},
		{name: "delete, define token", req: []byte("DELETE /models/tb HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + k.define + "\r\nConnection: close\r\n\r\n"), want: forbidden},
		{name: "reset, observe token", req: []byte("POST /models/tb/reset HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + k.observe + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), want: forbidden},
		{name: "reset, no token", req: []byte("POST /models/default/reset HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), want: unauthorized},
	}
	good := authz("Bearer " + k.observe)
	var n int64 // observations of tb accepted
	summary := map[string][]string{}
	for _, c := range cases {
		a := rawRequest(addr, c.req, false)
		label := fmt.Sprint(a.status)
		switch {
		case a.closed && c.mayClose:
			label = "closed"
		case a.err != nil:
			t.Errorf("%s: %v (status %d)", c.name, a.err, a.status)
			continue
		case !slices.Contains(c.want, a.status):
			t.Errorf("%s: %d %s; want %v", c.name, a.status, a.body, c.want)
		case a.status == http.StatusCreated:
			n++
		default:
			if msg := notAProblem(a.status, a.ctype, a.body); msg != "" {
				t.Errorf("%s: %d: %s", c.name, a.status, msg)
			}
			if ch := a.header.Get("WWW-Authenticate"); (a.status == 401 || a.status == 403) && !strings.HasPrefix(ch, `Bearer realm="event-driven-bayes"`) {
				t.Errorf("%s: %d with WWW-Authenticate %q", c.name, a.status, ch)
			}
		}
		summary[label] = append(summary[label], c.name)
		g := rawRequest(addr, good, false)
		if g.err != nil || g.status != http.StatusCreated {
			t.Fatalf("good request after %q: %d %s %v", c.name, g.status, g.body, g.err)
		}
		n++
	}
	for label, names := range summary {
		t.Logf("%s: %s", label, strings.Join(names, ", "))
	}
	close(stop)
	wait()
	if st := status(s.api, "/healthz"); st != 200 {
		t.Fatalf("api /healthz %d after the battery\n%s", st, s.api.logs())
	}
	s.settled(t, bayes, o.w.Load(), o.n.Load())
	waitModel(t, bayes, "tb", n)
	if st := status(bayes, "/models/tb2"); st != http.StatusNotFound {
		t.Errorf("GET /models/tb2 on bayes: %d; a refused definition created it", st)
	}
	metrics, err := http.Get(s.api.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	noTokens(t, k, map[string]string{"api log": s.api.logs(), "/metrics": string(text)})
	t.Logf("%d bad credentials, tb exact at n=%d, the default model at n=%d from the legacy load", len(cases), n, o.n.Load())
}

// TestChaosBadPagingInput sends bad paging parameters to bayes' GET /models
// under load: each is a 400 problem naming what is wrong, the good ones
// between them answer 200 with a page, and bayes stays up and exact.
func TestChaosBadPagingInput(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "a", "LOG_LEVEL=info")
	for _, m := range []string{"pa", "pb", "pc"} {
		if st := call(t, "POST", s.api.url("/models/"+m+"/observations"), `{"w":1,"l":1}`, nil); st != 201 {
			t.Fatalf("POST /models/%s/observations: %d", m, st)
		}
		waitModel(t, bayes, m, 2)
	}
	stop := make(chan struct{})
	o, wait := startLoad(t, s.api, loadSpec{workers: 2, stop: stop})
	addr := strings.TrimPrefix(bayes.url(""), "http://")

	name65 := strings.Repeat("a", 65)
	bad := []string{
		"limit=0", "limit=-1", "limit=1001", "limit=x", "limit=1.5", "limit=1e3", "limit=99999999999999999999", "limit=%00", "limit=%20",
		"after=a/b", "after=a%2Fb", "after=" + name65, "after=..", "after=%00", "after=%C3%A9", "after=a%20b", "after=*",
		"prefix=a/b", "prefix=" + name65, "prefix=.", "prefix=%C3%A9", "prefix=a%20b", "prefix=%25",
		"limit=0&after=pa", "limit=10&after=a/b", "limit=10&prefix=" + name65,
	}
	goodQueries := []string{"", "limit=1", "limit=1000", "limit=", "after=pa", "after=zzz", "prefix=p", "prefix=nothing-here", "limit=2&after=default&prefix=p", "after=" + name65[:64]}
	for _, q := range bad {
		a := rawRequest(addr, get("/models?"+q), false)
		switch {
		case a.err != nil:
			t.Errorf("GET /models?%s: %v", q, a.err)
		case a.status != http.StatusBadRequest:
			t.Errorf("GET /models?%s: %d %.200s, want 400", q, a.status, a.body)
		default:
			if msg := notAProblem(a.status, a.ctype, a.body); msg != "" {
				t.Errorf("GET /models?%s: %s", q, msg)
			}
		}
		g := rawRequest(addr, get("/models?limit=2"), false)
		if g.err != nil || g.status != 200 {
			t.Fatalf("good request after %q: %d %s %v", q, g.status, g.body, g.err)
		}
	}
	for _, q := range goodQueries {
		a := rawRequest(addr, get("/models?"+q), false)
		var page struct {
			Models []json.RawMessage `json:"models"`
			Next   *string           `json:"next"`
		}
		if a.err != nil || a.status != 200 || json.Unmarshal(a.body, &page) != nil || page.Models == nil {
			t.Errorf("GET /models?%s: %d %.200s %v, want 200 with a page", q, a.status, a.body, a.err)
		}
	}
	close(stop)
	wait()
	if st := status(bayes, "/healthz"); st != 200 {
		t.Fatalf("bayes /healthz %d after the battery", st)
	}
	s.settled(t, bayes, o.w.Load(), o.n.Load())
	t.Logf("%d bad and %d good paging requests, the default model exact at n=%d", len(bad), len(goodQueries), o.n.Load())
}
