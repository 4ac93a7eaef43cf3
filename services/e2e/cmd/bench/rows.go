package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

const stream = events.DefaultStream

// benchAPI: requests/s of GET /update_model/w, every one stored in Redis,
// against a bare Fiber handler, alternating so drift hits both alike; and
// the CPU time each server process spends per request under that load.
func benchAPI(s settings) []row {
	r := startRedis()
	defer r.stop()
	var bareArgs, apiEnv []string
	var barePprof, apiPprof string
	if s.profileDir != "" {
		barePprof, apiPprof = fmt.Sprintf("127.0.0.1:%d", freePort()), fmt.Sprintf("127.0.0.1:%d", freePort())
		bareArgs, apiEnv = []string{"-bare-pprof", barePprof}, []string{"PPROF_ADDR=" + apiPprof}
	}
	bare := startBare(bareArgs...)
	defer bare.stop()
	api := start(s.apiBin, freePort(), append([]string{"REDIS_URL=" + r.url}, apiEnv...)...)
	defer api.stop()

	b, a := sideBySide(s, bare, api)
	stored := r.rdb.XLen(context.Background(), stream).Val()
	if s.profileDir != "" {
		// After the measured runs: a profile costs the process some CPU.
		profileUnderLoad(s, bare, barePprof, "bare.pprof")
		profileUnderLoad(s, api, apiPprof, "api.pprof")
	}
	ratio, cpuRatio := a.rps/b.rps, float64(a.cpu)/float64(b.cpu)
	return []row{{
		figure: fmt.Sprintf("api GET /update_model/w, req/s (%d non-201; %d stored)", a.bad, stored), reference: "bare Fiber handler, no I/O",
		value: fmt.Sprintf("%.0f", a.rps), refValue: fmt.Sprintf("%.0f", b.rps), ratio: fmt.Sprintf("%.2f", ratio),
		target: "≥ 0.75", ok: ratio >= 0.75 && a.bad == 0,
	}, {
		figure:    "api CPU µs per request (server process only, same load)",
		reference: "bare Fiber CPU µs per request",
		value:     us(a.cpu), refValue: us(b.cpu), ratio: fmt.Sprintf("%.2f", cpuRatio),
		target: "≤ 1.3", ok: cpuRatio <= 1.3 && a.bad == 0,
	}}
}

// sideBySide loads GET /update_model/w on two servers in turn, s.pairs
// times, so that drift on a noisy machine hits both alike. For each server
// it returns the median requests/s, the median CPU time its process spent
// per answered request, and its answers that were not 2xx.
func sideBySide(s settings, first, second *proc) (a, b sideResult) {
	var runs [2][]load
	var cpu [2][]time.Duration
	for range s.pairs {
		for i, p := range []*proc{first, second} {
			before := cpuTime(p.cmd.Process.Pid)
			l := wrk(fmt.Sprintf("http://127.0.0.1:%d/update_model/w", p.port), s.wrkThreads, s.conns, s.apiDur)
			used := cpuTime(p.cmd.Process.Pid) - before
			runs[i] = append(runs[i], l)
			cpu[i] = append(cpu[i], used/time.Duration(max(l.requests, 1)))
		}
	}
	res := [2]sideResult{}
	for i := range res {
		var rps []float64
		for _, l := range runs[i] {
			rps = append(rps, l.rps)
			res[i].bad += l.bad
		}
		res[i].rps, res[i].cpu = median(rps), pct(cpu[i], 50)
	}
	return res[0], res[1]
}

// profileUnderLoad records a CPU profile of p from its pprof listener at
// addr while wrk loads it as sideBySide does, and writes it to
// s.profileDir/name.
func profileUnderLoad(s settings, p *proc, addr, name string) {
	if err := os.MkdirAll(s.profileDir, 0o755); err != nil {
		log.Fatal(err)
	}
	secs := max(int(s.apiDur.Seconds()), 1)
	loaded := make(chan load, 1)
	go func() {
		loaded <- wrk(fmt.Sprintf("http://127.0.0.1:%d/update_model/w", p.port), s.wrkThreads, s.conns, time.Duration(secs+1)*time.Second)
	}()
	client := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		log.Fatalf("profiling %s: %v", name, err)
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(s.profileDir, name))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		log.Fatalf("profiling %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	l := <-loaded
	fmt.Printf("%s: %d s CPU profile under %.0f req/s (%d requests in %d s) → %s\n", name, secs, l.rps, l.requests, secs+1,
		filepath.Join(s.profileDir, name))
}

// sideResult is one server's figures from sideBySide.
type sideResult struct {
	rps float64
	cpu time.Duration // per request
	bad int
}

var benchRPS = regexp.MustCompile(`([0-9.]+) requests per second`)

// benchDrain: events/s bayes applies while draining a backlog, against
// redis-benchmark's pipelined XADD on the same Redis; and bayes' resident
// memory after 10,000 and after all events.
func benchDrain(s settings) (row, row) {
	r := startRedis()
	defer r.stop()
	ctx := context.Background()

	out, err := exec.Command("redis-benchmark", "-p", strconv.Itoa(r.port), "-P", "16", "-c", "50",
		"-n", strconv.Itoa(s.drainEvents), "-q", "XADD", "benchref", "*", "trial", "w").CombinedOutput()
	if err != nil {
		log.Fatalf("redis-benchmark: %v %s", err, out)
	}
	m := benchRPS.FindAllSubmatch(out, -1)
	if m == nil {
		log.Fatalf("redis-benchmark printed no rate: %s", out)
	}
	ref, _ := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
	r.rdb.Del(ctx, "benchref")

	// The backlog, as the api writes it.
	now := time.Now().UnixMicro()
	for done := 0; done < s.drainEvents; {
		pipe := r.rdb.Pipeline()
		for i := 0; i < 10_000 && done < s.drainEvents; i++ {
			trial := "l"
			if done%10 < 7 {
				trial = "w"
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"trial", trial, "ts", strconv.FormatInt(now, 10), "source", "api"}})
			done++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			log.Fatal(err)
		}
	}

	graphs := tempDir()
	defer os.RemoveAll(graphs)
	bayes := start(s.bayesBin, freePort(), "REDIS_URL="+r.url, "GRAPHS_DIR="+graphs, "CONSUMER_NAME=bench")
	defer bayes.stop()
	var t0, t1 time.Time
	var rss10k, rssEnd int
	target := int64(s.drainEvents)
	for {
		n := stateN(ctx, r.rdb, stream)
		if n > 0 && t0.IsZero() {
			t0 = time.Now()
		}
		if n >= 10_000 && rss10k == 0 {
			rss10k = rssKiB(bayes.cmd.Process.Pid)
		}
		if n >= target {
			t1 = time.Now()
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Let the process settle (a plot may be drawing) before reading memory.
	time.Sleep(2 * time.Second)
	rssEnd = rssKiB(bayes.cmd.Process.Pid)
	rate := float64(target) / t1.Sub(t0).Seconds()
	ratio := rate / ref
	memRatio := float64(rssEnd) / float64(rss10k)
	return row{
			figure: fmt.Sprintf("bayes drain of a %d-event backlog, events/s", s.drainEvents), reference: "redis-benchmark -P 16 -c 50 XADD",
			value: fmt.Sprintf("%.0f", rate), refValue: fmt.Sprintf("%.0f", ref), ratio: fmt.Sprintf("%.2f", ratio),
			target: "≥ 0.6", ok: ratio >= 0.6,
		}, row{
			figure: fmt.Sprintf("bayes RSS after %d events", s.drainEvents), reference: "RSS after 10,000 events",
			value: fmt.Sprintf("%.1f MiB", float64(rssEnd)/1024), refValue: fmt.Sprintf("%.1f MiB", float64(rss10k)/1024),
			ratio: fmt.Sprintf("%.2f", memRatio), target: "≤ 1.1", ok: memRatio <= 1.1,
		}
}

// benchSystem: the api at its peak rate with bayes consuming; the lag is
// sampled every second and must not grow.
func benchSystem(s settings) row {
	r, api, _, stop := startSystem(s)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	var lags []int64
	var mu sync.Mutex
	done := every(ctx, time.Second, func() {
		if gs, err := r.rdb.XInfoGroups(ctx, stream).Result(); err == nil && len(gs) > 0 {
			mu.Lock()
			lags = append(lags, gs[0].Lag+gs[0].Pending)
			mu.Unlock()
		}
	})
	l := wrk(fmt.Sprintf("http://127.0.0.1:%d/update_model/w", api.port), s.wrkThreads, s.conns, s.systemDur)
	rps, bad := l.rps, l.bad
	cancel()
	<-done
	third := max(len(lags)/3, 1)
	first, last := maxOf(lags[:third]), maxOf(lags[len(lags)-third:])
	bounded := last <= max(2*first, 5_000)
	return row{
		figure:    fmt.Sprintf("whole system at the api's peak for %s: %.0f req/s, %d non-201", s.systemDur, rps, bad),
		reference: "consumer lag+pending, max of first third of samples", value: fmt.Sprintf("last third max %d", last),
		refValue: fmt.Sprintf("%d", first), ratio: fmt.Sprintf("%.2f", float64(last)/float64(max(first, 1))),
		target: "bounded, 0 non-201", ok: bounded && bad == 0,
	}
}

// benchLatency: at a steady request rate, the time from the api's 201 to the
// observation being part of the model (visible in GET /model), against a
// Redis PING round trip measured under the same load.
//
// A fresh stream with one bayes applies entries in stream order, so the
// entry with the k-th smallest id is visible once the stored n reaches k; a
// watcher samples n, and each request's latency is the first sample with n
// at or above its rank, minus the time its 201 arrived.
func benchLatency(s settings) row {
	r, api, _, stop := startSystem(s)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type sample struct {
		at time.Time
		n  int64
	}
	var samples []sample
	watcher := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer watcher.Close()
	// The watcher stops once it has seen every accepted observation applied
	// (target is set when the load ends), so the last sample is never cut off.
	var target atomic.Int64
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		last := int64(-1)
		deadline := time.Time{}
		for {
			n := stateN(ctx, watcher, stream)
			if n != last {
				samples = append(samples, sample{time.Now(), n})
				last = n
			}
			if t := target.Load(); t > 0 {
				if n >= t {
					return
				}
				if deadline.IsZero() {
					deadline = time.Now().Add(30 * time.Second)
				} else if time.Now().After(deadline) {
					return
				}
			}
			time.Sleep(200 * time.Microsecond) // sampling resolution; keeps the watcher from loading Redis
		}
	}()
	var pings []time.Duration
	pingDone := every(ctx, 5*time.Millisecond, func() {
		start := time.Now()
		if r.rdb.Ping(ctx).Err() == nil {
			pings = append(pings, time.Since(start))
		}
	})

	answers, failed := openLoop(fmt.Sprintf("http://127.0.0.1:%d/update_model/w", api.port), s.latencyRate, s.latencyDur)
	target.Store(max(int64(len(answers)), 1))
	<-watchDone
	cancel()
	<-pingDone

	slices.SortFunc(answers, func(a, b answer) int { return compareIDs(a.id, b.id) })
	var lat []time.Duration
	j := 0
	for k, a := range answers {
		rank := int64(k + 1)
		for j < len(samples) && samples[j].n < rank {
			j++
		}
		if j == len(samples) {
			break
		}
		lat = append(lat, max(samples[j].at.Sub(a.at), 0))
	}
	p50, p99 := pct(lat, 50), pct(lat, 99)
	ping50, ping99 := pct(pings, 50), pct(pings, 99)
	return row{
		figure: fmt.Sprintf("201 → visible in /model at %d req/s (%d measured, %d failed): p50 / p99",
			s.latencyRate, len(lat), failed),
		reference: "Redis PING round trip under the same load: p50 / p99",
		value:     fmt.Sprintf("%s / %s", ms(p50), ms(p99)), refValue: fmt.Sprintf("%s / %s", ms(ping50), ms(ping99)),
		ratio:  fmt.Sprintf("%.1f / %.1f", ratioD(p50, ping50), ratioD(p99, ping99)),
		target: "p99 ≤ 20 ms", ok: p99 <= 20*time.Millisecond && failed == 0 && len(lat) == len(answers),
	}
}

// answer is one 201 of openLoop.
type answer struct {
	id       string
	sent, at time.Time // request sent, answer received
}

// openLoop sends GET url at rate requests a second for d, each on its own
// goroutine whatever the answers take (an open loop, as independent clients
// do), and returns the 201s and how many requests failed otherwise.
func openLoop(url string, rate int, d time.Duration) ([]answer, int) {
	var mu sync.Mutex
	var answers []answer
	var failed atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	end := time.Now().Add(d)
	for now := range tick.C {
		if now.After(end) {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				failed.Add(1)
				return
			}
			at := time.Now()
			var body struct{ ID string }
			err = jsonDecode(resp, &body)
			if err != nil || resp.StatusCode != http.StatusCreated {
				failed.Add(1)
				return
			}
			mu.Lock()
			answers = append(answers, answer{body.ID, sent, at})
			mu.Unlock()
		}()
	}
	tick.Stop()
	wg.Wait()
	return answers, int(failed.Load())
}

// benchAnswerLatency: the time from request to 201 at a steady rate (the
// latency row's), the api against the bare handler under the same load,
// alternating; p50 and p99 over all runs of each.
func benchAnswerLatency(s settings) row {
	r := startRedis()
	defer r.stop()
	bare := startBare()
	defer bare.stop()
	api := start(s.apiBin, freePort(), "REDIS_URL="+r.url)
	defer api.stop()
	var lat [2][]time.Duration
	failed := 0
	for range 2 {
		for i, p := range []*proc{bare, api} {
			answers, f := openLoop(fmt.Sprintf("http://127.0.0.1:%d/update_model/w", p.port), s.latencyRate, s.latencyDur)
			failed += f
			for _, a := range answers {
				lat[i] = append(lat[i], a.at.Sub(a.sent))
			}
		}
	}
	return row{
		figure:    fmt.Sprintf("api request → 201 at %d req/s (%d answers, %d failed): p50 / p99", s.latencyRate, len(lat[1]), failed),
		reference: "bare Fiber handler, same load: p50 / p99",
		value:     fmt.Sprintf("%s / %s", ms(pct(lat[1], 50)), ms(pct(lat[1], 99))),
		refValue:  fmt.Sprintf("%s / %s", ms(pct(lat[0], 50)), ms(pct(lat[0], 99))),
		ratio:     fmt.Sprintf("%.1f / %.1f", ratioD(pct(lat[1], 50), pct(lat[0], 50)), ratioD(pct(lat[1], 99), pct(lat[0], 99))),
		target:    "reported", ok: failed == 0,
	}
}

// compareIDs orders stream ids "ms-seq" numerically.
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ai, _ := strconv.ParseUint(am, 10, 64)
	bi, _ := strconv.ParseUint(bm, 10, 64)
	if ai != bi {
		return cmpU(ai, bi)
	}
	aj, _ := strconv.ParseUint(as, 10, 64)
	bj, _ := strconv.ParseUint(bs, 10, 64)
	return cmpU(aj, bj)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// benchTracing: the api's requests/s with every request traced and exported
// (OTLP/HTTP to a sink in this process that discards what it gets), against
// the same api with tracing off, alternating.
func benchTracing(s settings) row {
	r := startRedis()
	defer r.stop()
	sink := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = sink.Serve(ln) }()
	defer sink.Close()
	off := start(s.apiBin, freePort(), "REDIS_URL="+r.url)
	defer off.stop()
	on := start(s.apiBin, freePort(), "REDIS_URL="+r.url, "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+ln.Addr().String(),
		"OTEL_TRACES_SAMPLER=always_on")
	defer on.stop()
	b, a := sideBySide(s, off, on)
	bad := a.bad + b.bad
	return row{
		figure: "api req/s with every request traced and exported (OTLP/HTTP)", reference: "the same api, tracing off (no endpoint)",
		value: fmt.Sprintf("%.0f", a.rps), refValue: fmt.Sprintf("%.0f", b.rps), ratio: fmt.Sprintf("%.2f", a.rps/b.rps),
		target: "reported", ok: bad == 0,
	}
}

// startSystem starts Redis, the api and one bayes; stop ends them all and
// removes what they wrote.
func startSystem(s settings) (r *redisServer, api, bayes *proc, stop func()) {
	r = startRedis()
	graphs := tempDir()
	api = start(s.apiBin, freePort(), "REDIS_URL="+r.url)
	bayes = start(s.bayesBin, freePort(), "REDIS_URL="+r.url, "GRAPHS_DIR="+graphs, "CONSUMER_NAME=bench")
	return r, api, bayes, func() {
		bayes.stop()
		api.stop()
		r.stop()
		_ = os.RemoveAll(graphs)
	}
}
