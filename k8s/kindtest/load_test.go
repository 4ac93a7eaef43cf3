package kindtest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// load posts one water observation per request from a few workers until
// stopped, counting what the api answered.
type load struct {
	url        string
	stopCh     chan struct{}
	wg         sync.WaitGroup
	ok         atomic.Int64
	answered   atomic.Int64 // answered with a status other than 201
	unanswered atomic.Int64 // transport errors: the request may have been stored
	mu         sync.Mutex
	failures   map[string]int
	started    time.Time
}

type loadResult struct {
	accepted, failed, unanswered int64
	failures                     map[string]int
	took                         time.Duration
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d requests in %s: %d answered 201, %d answered otherwise, %d without an answer %v",
		r.accepted+r.failed, r.took.Round(time.Millisecond), r.accepted, r.failed-r.unanswered, r.unanswered, r.failures)
}

// startLoad starts workers posting to url. Each worker waits for its answer
// before the next request, so the load is bounded by the workers' count.
func startLoad(url string, workers int) *load {
	l := &load{url: url, stopCh: make(chan struct{}), failures: map[string]int{}, started: time.Now()}
	// Its own transport: keep-alive connections per worker, as a client
	// library would, and a bound on every request.
	c := &http.Client{Timeout: 10 * time.Second, Transport: tokenTransport{next: &http.Transport{MaxIdleConnsPerHost: workers}}}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stopCh:
					return
				default:
				}
				l.one(c)
			}
		}()
	}
	return l
}

func (l *load) one(c *http.Client) {
	resp, err := c.Post(l.url, "application/json", strings.NewReader(`{"trial":"w"}`))
	if err != nil {
		l.unanswered.Add(1)
		l.note("no answer: " + shortErr(err))
		time.Sleep(50 * time.Millisecond) // a refused connection returns at once
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		l.ok.Add(1)
		return
	}
	l.answered.Add(1)
	l.note(resp.Status)
}

func (l *load) note(what string) {
	l.mu.Lock()
	l.failures[what]++
	l.mu.Unlock()
}

func (l *load) accepted() int64 { return l.ok.Load() }

// waitAccepted waits until n requests were answered 201.
func (l *load) waitAccepted(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for l.ok.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("load: %d accepted after 2 min, waiting for %d; failures %v", l.ok.Load(), n, l.snapshot())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (l *load) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.failures))
	for k, v := range l.failures {
		out[k] = v
	}
	return out
}

func (l *load) stop() loadResult {
	close(l.stopCh)
	l.wg.Wait()
	return loadResult{
		accepted:   l.ok.Load(),
		failed:     l.answered.Load() + l.unanswered.Load(),
		unanswered: l.unanswered.Load(),
		failures:   l.snapshot(),
		took:       time.Since(l.started),
	}
}

// shortErr keeps the part of a transport error that says what happened.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
