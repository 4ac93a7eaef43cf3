//go:build chaos

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// replyDropper is a TCP proxy in front of Redis that can lose one reply: the
// request reaches Redis and is executed, then the connection breaks before
// the answer gets back, as a network blip, a proxy restart or a
// CLIENT KILL would do it. The client cannot tell whether its command ran.
type replyDropper struct {
	t       *testing.T
	ln      net.Listener
	target  string
	armed   atomic.Pointer[[]byte] // drop the reply to the next request containing these bytes
	dropped atomic.Int64
	wg      sync.WaitGroup
}

func startReplyDropper(t *testing.T, target string) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &replyDropper{t: t, ln: ln, target: target}
	d.wg.Add(1)
	go d.accept()
	t.Cleanup(func() { _ = ln.Close(); d.wg.Wait() })
	return d
}

// url is a REDIS_URL through the proxy.
func (d *replyDropper) url() string { return "redis://" + d.ln.Addr().String() + "/0" }

// arm makes the proxy lose the reply to the next request that contains
// marker (a RESP fragment such as "$4\r\nxadd\r\n").
func (d *replyDropper) arm(marker string) { b := []byte(marker); d.armed.Store(&b) }

func (d *replyDropper) accept() {
	defer d.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		conns.Add(1)
		go func() { defer conns.Done(); d.serve(c) }()
	}
}

func (d *replyDropper) serve(client net.Conn) {
	server, err := net.Dial("tcp", d.target)
	if err != nil {
		_ = client.Close()
		return
	}
	var drop atomic.Bool // this connection's next reply is to be lost
	closeBoth := func() { _ = client.Close(); _ = server.Close() }
	done := make(chan struct{})
	go func() { // client to server
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if m := d.armed.Load(); m != nil && bytes.Contains(bytes.ToLower(buf[:n]), bytes.ToLower(*m)) && d.armed.CompareAndSwap(m, nil) {
					drop.Store(true)
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					closeBoth()
					return
				}
			}
			if err != nil {
				closeBoth()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 && drop.Load() {
			d.dropped.Add(1)
			closeBoth()
			break
		}
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				closeBoth()
				break
			}
		}
		if err != nil {
			closeBoth()
			break
		}
	}
	<-done
}

// TestChaosLostXADDReplyIsNotStoredTwice loses the reply to the api's XADD
// on the way back from Redis (the command ran). The api may answer 201 or
// 503, but one request must never become two entries: the model would
// count an observation twice that the client sent once.
func TestChaosLostXADDReplyIsNotStoredTwice(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	rdb := srv.Client()
	proxy := startReplyDropper(t, srv.Addr())
	api := startProc(t, "api", "api", "REDIS_URL="+proxy.url())
	ctx := context.Background()

	const rounds = 5
	accepted := 0
	for i := range rounds {
		proxy.arm("$4\r\nxadd\r\n")
		st, id, err := record(api, http.MethodGet, "w")
		if err != nil || (st != http.StatusCreated && st != http.StatusServiceUnavailable) {
			t.Fatalf("round %d: status %d err %v; want 201 or 503", i, st, err)
		}
		if st == http.StatusCreated {
			accepted++
		}
		if proxy.dropped.Load() != int64(i+1) {
			t.Fatalf("round %d: the proxy lost %d replies, want %d", i, proxy.dropped.Load(), i+1)
		}
		n, err := rdb.XLen(ctx, "update_model").Result()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: reply to the XADD lost; api answered %d (id %q); stream now holds %d entries for %d requests", i, st, id, n, i+1)
		if n > int64(i+1) {
			t.Fatalf("%d requests, %d of them answered 201, became %d entries: a lost reply made the api's Redis client "+
				"send the XADD again (go-redis retries on a broken connection), so bayes counts one observation twice",
				i+1, accepted, n)
		}
	}
}

// TestChaosLostForwardReplyIsNotForwardedTwice does the same to bayes'
// pub/sub bridge: the reply to its fenced forward script is lost, and the
// message must still reach the stream at most once, as documented.
func TestChaosLostForwardReplyIsNotForwardedTwice(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	rdb := srv.Client()
	proxy := startReplyDropper(t, srv.Addr())
	s := &system{redis: srv, rdb: rdb, graphs: t.TempDir()}
	p := startProc(t, "bayes-a", "bayes", "REDIS_URL="+proxy.url(), "GRAPHS_DIR="+s.graphs, "CONSUMER_NAME=a",
		"CLAIM_MIN_IDLE=500ms", "CLAIM_INTERVAL=200ms", "TRIM_INTERVAL=0s", "PRIOR=uniform", "LOG_LEVEL=debug")
	ctx := context.Background()
	eventually(t, 20*time.Second, "the bridge subscribed", func() (bool, string) {
		m, err := rdb.PubSubNumSub(ctx, "update_model").Result()
		return err == nil && m["update_model"] == 1, fmt.Sprint(m, err)
	})
	publish := func() {
		t.Helper()
		if got, err := rdb.Publish(ctx, "update_model", "w").Result(); err != nil || got != 1 {
			t.Fatalf("PUBLISH reached %d subscribers (%v)", got, err)
		}
	}
	// The first forward loads the script (EVALSHA, NOSCRIPT, EVAL); the
	// second is the one whose reply is lost after it ran.
	publish()
	waitForN(t, p, 1)
	proxy.arm("$6\r\npubsub\r\n") // the forward script carries the entry's source field
	publish()
	eventually(t, 20*time.Second, "the second forward finished, its reply lost on the way", func() (bool, string) {
		b, _ := os.ReadFile(p.log)
		fwd := strings.Count(string(b), `"msg":"pubsub bridge: forwarded"`)
		stopped := strings.Count(string(b), `"msg":"pubsub bridge: stopped forwarding"`)
		return proxy.dropped.Load() == 1 && (fwd == 2 || stopped > 0), fmt.Sprintf("dropped %d forwarded %d stopped %d", proxy.dropped.Load(), fwd, stopped)
	})
	entries, err := rdb.XRange(ctx, "update_model", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 2 {
		t.Fatalf("two PUBLISHes became %d stream entries %v: the lost reply made the bridge's Redis client run the "+
			"forward script again (go-redis retries on a broken connection), so a message is counted twice",
			len(entries), entryIDs(entries))
	}
	s.settled(t, p, int64(len(entries)), int64(len(entries)))
	t.Logf("two PUBLISHes, the reply to the second forward lost: %d entries, model exact", len(entries))
}

// TestChaosLostCommitReplyCountsOnce loses the reply to bayes' commit
// script (ack and apply, which ran): the retry or the redelivery finds the
// entries acknowledged and changes nothing.
func TestChaosLostCommitReplyCountsOnce(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	s := &system{redis: srv, rdb: srv.Client(), graphs: t.TempDir()}
	s.api = startProc(t, "api", "api", "REDIS_URL="+srv.URL())
	proxy := startReplyDropper(t, srv.Addr())
	p := startProc(t, "bayes-a", "bayes", "REDIS_URL="+proxy.url(), "GRAPHS_DIR="+s.graphs, "CONSUMER_NAME=a",
		"CLAIM_MIN_IDLE=500ms", "CLAIM_INTERVAL=200ms", "PRIOR=uniform")
	var w, n int64
	send := func(k int) {
		for i := range k {
			trial := []string{"w", "l"}[i%2]
			if st, _, err := record(s.api, http.MethodPost, trial); err != nil || st != http.StatusCreated {
				t.Fatalf("record: %d %v", st, err)
			}
			n++
			if trial == "w" {
				w++
			}
		}
	}
	send(10)
	waitForN(t, p, n)
	for round := 1; round <= 3; round++ {
		// Only the commit script names the dead-letter stream among its keys
		// (no metrics scrape runs here), so its request carries this.
		proxy.arm("$17\r\nupdate_model:dead\r\n")
		send(10)
		eventually(t, 20*time.Second, "the commit's reply lost", func() (bool, string) {
			return proxy.dropped.Load() == int64(round), fmt.Sprint(proxy.dropped.Load())
		})
		s.settled(t, p, w, n)
	}
	t.Logf("3 commit replies lost; model exact at w=%d n=%d", w, n)
}

func entryIDs(es []redis.XMessage) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}
