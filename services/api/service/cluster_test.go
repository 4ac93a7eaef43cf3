package service_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// logBuffer keeps what the service logs, for the test to read while it runs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The whole api on a Redis Cluster of 3 masters with a replica each, 3
// shards, REDIS_WAIT_REPLICAS=1: each model's events go to its shard's
// stream, which the 201 names; while a shard's replica is dead its models
// get a 503 that says the event may still be counted, the other shards'
// models a 201; the metrics count it; nothing is ever CROSSSLOT.
func TestServiceOnAClusterWithShardsAndWait(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	var logs logBuffer
	api := startEnv(t, map[string]string{
		"REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs(), ","),
		"STREAM_SHARDS":       "3",
		"REDIS_WAIT_REPLICAS": "1",
		// Generous: a loaded test machine may take a while to schedule
		// the replicas; WAIT gets the most of it a connection's read
		// timeout (3 s) leaves.
		"PUBLISH_TIMEOUT": "3s",
	}, io.MultiWriter(t.Output(), &logs))
	shards, err := events.NewShards("update_model", 3, true)
	if err != nil {
		t.Fatal(err)
	}
	admin := c.Client()
	ctx := context.Background()

	if code, body := api.call(t, http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %v with every master up", code, body)
	}
	want := map[string]int{} // stream → events
	models := []string{"ab", "cd", "ef", "gh", "ij", "kl", "mn", "op"}
	for _, m := range models {
		code, body := callWithBody(t, api, http.MethodPost, "/models/"+m+"/observations", `{"w":2,"l":1}`)
		stream := shards.Stream(shards.Of(m))
		if code != http.StatusCreated || body["stream"] != stream {
			t.Fatalf("POST /models/%s/observations = %d %v, want 201 naming %s", m, code, body, stream)
		}
		want[stream]++
	}
	code, body := api.call(t, http.MethodPost, "/update_model/w")
	if code != http.StatusCreated || body["stream"] != "update_model" {
		t.Fatalf("POST /update_model/w = %d %v, want 201 on update_model", code, body)
	}
	want["update_model"]++
	for i := range shards.Count() {
		stream := shards.Stream(i)
		entries, err := admin.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != want[stream] || want[stream] == 0 {
			t.Errorf("%s has %d entries, want %d (and every shard some)", stream, len(entries), want[stream])
		}
		for _, e := range entries {
			if ev, err := events.Decode(e.Values); err != nil || shards.Of(ev.ModelName()) != i {
				t.Errorf("entry %v on %s: %v", e.Values, stream, err)
			}
		}
	}

	// Kill the replica of the master of one model's shard.
	const model = "ab"
	master := c.MasterOf(shards.Stream(shards.Of(model)))
	var other string // a model whose shard's master is another node
	for _, m := range models {
		if c.MasterOf(shards.Stream(shards.Of(m))) != master {
			other = m
			break
		}
	}
	c.ReplicaOf(master).Kill()
	req, err := http.NewRequest(http.MethodPost, api.base+"/models/"+model+"/observations", strings.NewReader(`{"trial":"w"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := api.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(string(raw), "stored on the Redis master but not confirmed by 1 replica within the timeout") ||
		!strings.Contains(string(raw), "may still be counted") {
		t.Fatalf("with %s's replica dead: %d Retry-After %q %s; want a 503 saying it may still be counted",
			master.Addr(), resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
	if other != "" {
		if code, body := callWithBody(t, api, http.MethodPost, "/models/"+other+"/observations", `{"trial":"w"}`); code != http.StatusCreated {
			t.Errorf("model %s, whose shard's replica is up: %d %v", other, code, body)
		}
	}
	// The masters all answer: the api stays ready.
	if code, body := api.call(t, http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %v with every master up", code, body)
	}

	resp, err = api.client.Get(api.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{"edb_api_publish_not_replicated_total 1", "edb_api_stream_shards 3"} {
		if !strings.Contains(string(metrics), "\n"+line+"\n") {
			t.Errorf("/metrics has no line %q", line)
		}
	}
	api.shutdown(t)
	out := logs.String()
	if strings.Contains(out, "CROSSSLOT") {
		t.Errorf("CROSSSLOT in the api's log:\n%s", out)
	}
	for _, s := range []string{`"stream_shards":3`, `"wait_replicas":1`, `"redis":"redis-cluster://` + c.Addrs()[0]} {
		if !strings.Contains(out, s) {
			t.Errorf("start-up log without %s:\n%s", s, out)
		}
	}
}
