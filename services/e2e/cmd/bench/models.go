package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The models row: the figures of many models on one bayes (issue 12). One
// bayes process lives through the whole row, so every figure's reference is
// taken from the same process before the burst:
//
//  1. one model, a000, gets a short load (64 connections, 10 batches each);
//     once it is applied and drawn, bayes' VmHWM and goroutines are the
//     one-model references;
//  2. 99 more models (a001..a099) make 100 besides default; GET
//     /models?limit=100 is timed while they are idle;
//  3. the burst: n new models m0..m{n-1}, one batch each, from 64
//     connections; every 20th model's 201 starts a poll of bayes' GET
//     /models/{name} until it answers 200;
//  4. the wait for every burst model's latest.png;
//  5. with the models idle: goroutines, VmHWM (the peak of the whole run),
//     and GET /models?limit=100 again. Its first page is the same as in
//     step 2 (default and a000..a098 sort before the m's), so the two
//     timings differ only in how many models exist.
//
// MAX_MODELS=modelsCap on both services, so the cap (default 10,000) leaves
// the burst alone, and RATE_LIMIT=0 so the api does not throttle the load
// generator whatever the environment says.

const (
	modelsCap   = 20_000
	modelsConns = 64 // connections of the burst's load generator
	refModels   = 100
	coldEvery   = 20 // every coldEvery-th burst model is polled for visibility
	coldTimeout = 10 * time.Second
	// Between two polls of one cold model: a tenth of the time waited so
	// far, from 2 to 20 ms. Near the 50 ms target the figure is within
	// 5 ms, and a slow model does not load bayes with polls while it waits.
	minPollGap, maxPollGap = 2 * time.Millisecond, 20 * time.Millisecond
	goroutineWindow        = 2 * time.Second // readings of go_goroutines, median taken
)

// burstBody is one batch of observations.
var burstBody = []byte(`{"w":7,"l":3}`)

// modelsRun is everything the models row measures.
type modelsRun struct {
	n int // burst models

	refHWM, refGoroutines  int   // KiB, count: one model
	peakHWM, endRSS, after int   // KiB, KiB, goroutines after the burst
	sampledRSS             int   // the largest VmRSS the guard saw, KiB
	maxLag                 int64 // the largest consumer lag+pending the guard saw

	burstDur  time.Duration
	burstBad  int
	burstErr  string
	answers   []time.Duration // POST → 201 during the burst
	cold      []time.Duration // 201 → visible
	coldLost  int             // sampled models never visible within coldTimeout
	coldTotal int
	polls     atomic.Int64 // GET /models/{name} sent by the cold pollers

	list100, listN   listTiming
	drawn            int
	drawnAfter       time.Duration // from the burst's last 201 until every latest.png exists
	drawTimedOut     bool
	aborted          string // why bayes was stopped early, if it was
	limit            int64  // the chart's bayes memory limit, bytes; 0: not found
	limitSource      string
	refDrawn, refAll bool
}

// listTiming is a series of GET /models?limit=100.
type listTiming struct {
	lat  []time.Duration
	bad  int
	rows int // rows in the first answer
}

// benchModels runs the models row and returns its five figures.
func benchModels(s settings) []row {
	m := modelsRun{n: s.models}
	m.limit, m.limitSource = chartMemoryLimit("bayes")
	r := startRedis()
	defer r.stop()
	graphs := tempDir()
	defer os.RemoveAll(graphs)
	capEnv := "MAX_MODELS=" + strconv.Itoa(modelsCap)
	api := start(s.apiBin, freePort(), "REDIS_URL="+r.url, capEnv, "RATE_LIMIT=0")
	defer api.stop()
	bayes := start(s.bayesBin, freePort(), "REDIS_URL="+r.url, "GRAPHS_DIR="+graphs, "CONSUMER_NAME=bench", capEnv)
	defer bayes.stop()
	pid := bayes.cmd.Process.Pid
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", api.port)
	bayesURL := fmt.Sprintf("http://127.0.0.1:%d", bayes.port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	load := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: modelsConns, MaxConnsPerHost: modelsConns}}
	reads := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer load.CloseIdleConnections()
	defer reads.CloseIdleConnections()

	// 1. One model under a short load.
	const perConn = 10
	names := make([]string, modelsConns*perConn)
	for i := range names {
		names[i] = "a000"
	}
	if b := postAll(ctx, load, apiURL, names, modelsConns, nil); b.bad > 0 {
		log.Fatalf("models row: %d of the one-model load's requests failed: %s", b.bad, b.firstErr)
	}
	waitN(ctx, reads, bayesURL, "a000", int64(len(names))*10)
	m.refDrawn = waitDrawn(ctx, graphs, []string{"a000"}, time.Minute, nil) == 0
	reads.CloseIdleConnections()
	m.refGoroutines = goroutines(ctx, bayesURL)
	m.refHWM = procStatusKiB(pid, "VmHWM:")

	// 2. 100 models besides default; the list timed with them idle.
	ref := make([]string, 0, refModels-1)
	for i := 1; i < refModels; i++ {
		ref = append(ref, fmt.Sprintf("a%03d", i))
	}
	if b := postAll(ctx, load, apiURL, ref, modelsConns, nil); b.bad > 0 {
		log.Fatalf("models row: %d of the reference models' requests failed: %s", b.bad, b.firstErr)
	}
	for _, name := range ref {
		waitN(ctx, reads, bayesURL, name, 10)
	}
	m.refAll = waitDrawn(ctx, graphs, ref, time.Minute, nil) == 0
	m.list100 = timeList(ctx, reads, bayesURL, s.listRequests, s.listBudget)

	// A guard, from the burst on: bayes is stopped if it grows past
	// s.rssAbortMiB, so a tree without bounded plotting cannot take the
	// machine down with it; the row then says so.
	var aborted atomic.Bool
	var guardMu sync.Mutex
	guardCtx, stopGuard := context.WithCancel(ctx)
	guardDone := every(guardCtx, 50*time.Millisecond, func() {
		rss := procStatusKiB(pid, "VmRSS:")
		var lag int64
		if gs, err := r.rdb.XInfoGroups(guardCtx, stream).Result(); err == nil && len(gs) > 0 {
			lag = gs[0].Lag + gs[0].Pending
		}
		guardMu.Lock()
		defer guardMu.Unlock()
		m.sampledRSS, m.maxLag = max(m.sampledRSS, rss), max(m.maxLag, lag)
		if !aborted.Load() && s.rssAbortMiB > 0 && rss > s.rssAbortMiB*1024 {
			m.peakHWM = procStatusKiB(pid, "VmHWM:")
			m.aborted = fmt.Sprintf("bayes killed at %.0f MiB RSS (guard: -models-rss-abort %d MiB)", float64(rss)/1024, s.rssAbortMiB)
			aborted.Store(true)
			_ = bayes.cmd.Process.Kill()
		}
	})

	// 3. The burst, with every coldEvery-th model polled until visible.
	burst := make([]string, m.n)
	for i := range burst {
		burst[i] = "m" + strconv.Itoa(i)
	}
	var coldMu sync.Mutex
	var coldWG sync.WaitGroup
	pollers := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	onCreated := func(i int, at time.Time) {
		if i%coldEvery != 0 {
			return
		}
		coldWG.Add(1)
		go func() {
			defer coldWG.Done()
			d, ok := pollVisible(ctx, pollers, bayesURL, burst[i], at, &aborted, &m.polls)
			coldMu.Lock()
			defer coldMu.Unlock()
			m.coldTotal++
			if ok {
				m.cold = append(m.cold, d)
			} else {
				m.coldLost++
			}
		}()
	}
	b := postAll(ctx, load, apiURL, burst, modelsConns, onCreated)
	m.burstDur, m.burstBad, m.burstErr, m.answers = b.end.Sub(b.start), b.bad, b.firstErr, b.answers
	coldWG.Wait()
	pollers.CloseIdleConnections()

	// 4. Every burst model's latest.png.
	left := waitDrawn(ctx, graphs, burst, s.drawDeadline, &aborted)
	m.drawn, m.drawnAfter = m.n-left, time.Since(b.end)
	m.drawTimedOut = left > 0 && !aborted.Load()

	// 5. Idle: goroutines, the peak, the list again.
	if !aborted.Load() {
		reads.CloseIdleConnections()
		m.after = goroutines(ctx, bayesURL)
		m.listN = timeList(ctx, reads, bayesURL, s.listRequests, s.listBudget)
	}
	stopGuard()
	<-guardDone
	if !aborted.Load() {
		m.peakHWM, m.endRSS = procStatusKiB(pid, "VmHWM:"), procStatusKiB(pid, "VmRSS:")
	}
	return m.rows()
}

// rows turns the run into the report's lines.
func (m *modelsRun) rows() []row {
	n := fmt.Sprintf("%d", m.n)
	total := m.n + refModels // besides default
	rate := float64(m.n) / max(m.burstDur.Seconds(), 1e-9)
	mib := func(kib int) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
	abortNote := ""
	if m.aborted != "" {
		abortNote = "; " + m.aborted
	}

	// Peak RSS.
	limitText, underLimit := "chart limit not found", false
	if m.limit > 0 {
		limitText = fmt.Sprintf("< %s (%s)", quantity(m.limit), m.limitSource)
		underLimit = int64(m.peakHWM)*1024 < m.limit
	}
	rssRatio := float64(m.peakHWM) / float64(max(m.refHWM, 1))
	rss := row{
		figure: fmt.Sprintf("bayes peak RSS (VmHWM, the whole run) while %s new models arrive, one batch each from %d connections "+
			"(%.0f models/s, %d not 201; MAX_MODELS=%d on api and bayes; RSS %s once idle, guard max %s%s)",
			n, modelsConns, rate, m.burstBad, modelsCap, mib(m.endRSS), mib(m.sampledRSS), abortNote),
		reference: "VmHWM of the same bayes process with one model, after a short load on it (640 batches, 64 connections), before the burst",
		value:     mib(m.peakHWM), refValue: mib(m.refHWM), ratio: fmt.Sprintf("%.2f", rssRatio),
		target: "≤ 2 and " + limitText,
		ok:     m.aborted == "" && m.refDrawn && m.burstBad == 0 && rssRatio <= 2 && underLimit,
	}
	if m.burstErr != "" {
		rss.figure += "; first failure: " + m.burstErr
	}

	// Goroutines.
	gRatio := float64(m.after) / float64(max(m.refGoroutines, 1))
	gor := row{
		figure:    fmt.Sprintf("bayes goroutines after the burst, %d models idle (go_goroutines, median over %s)%s", total, goroutineWindow, abortNote),
		reference: "the same process with one model", value: strconv.Itoa(m.after), refValue: strconv.Itoa(m.refGoroutines),
		ratio: fmt.Sprintf("%.2f", gRatio), target: "≤ 2", ok: m.aborted == "" && m.after > 0 && gRatio <= 2,
	}

	// The list, one page.
	p99N, p99Ref := pct(m.listN.lat, 99), pct(m.list100.lat, 99)
	lRatio := ratioD(p99N, p99Ref)
	list := row{
		figure: fmt.Sprintf("GET /models?limit=100 with %d models besides default, one client, p50 / p99 (%d requests, %d rows per answer, %d failed)%s",
			total, len(m.listN.lat), m.listN.rows, m.listN.bad, abortNote),
		reference: fmt.Sprintf("the same with %d models, same process, before the burst (%d requests, %d rows per answer)",
			refModels, len(m.list100.lat), m.list100.rows),
		value:    fmt.Sprintf("%s / %s", ms(pct(m.listN.lat, 50)), ms(p99N)),
		refValue: fmt.Sprintf("%s / %s", ms(pct(m.list100.lat, 50)), ms(p99Ref)),
		ratio:    fmt.Sprintf("%.2f", lRatio), target: "p99 ≤ 20 ms and ratio ≤ 2",
		ok: m.aborted == "" && m.refAll && len(m.listN.lat) > 0 && m.listN.bad == 0 && m.list100.bad == 0 &&
			p99N <= 20*time.Millisecond && lRatio <= 2,
	}

	// 201 → visible, cold models.
	// A model never seen counts as coldTimeout, so losses raise the
	// percentiles instead of leaving them out.
	coldAll := slices.Clone(m.cold)
	for range m.coldLost {
		coldAll = append(coldAll, coldTimeout)
	}
	coldP99, ansP99 := pct(coldAll, 99), pct(m.answers, 99)
	cold := row{
		figure: fmt.Sprintf("a cold model's 201 → 200 from bayes GET /models/{name}, during the burst, p50 / p99 (every %dth model: %d sampled, %d not visible within %s, counted as %s; "+
			"%.0f polls/s; consumer lag+pending at most %d)%s",
			coldEvery, m.coldTotal, m.coldLost, coldTimeout, coldTimeout, float64(m.polls.Load())/max(m.burstDur.Seconds(), 1e-9), m.maxLag, abortNote),
		reference: "the burst's POST → 201 at the api: p50 / p99",
		value:     fmt.Sprintf("%s / %s", ms(pct(coldAll, 50)), ms(coldP99)),
		refValue:  fmt.Sprintf("%s / %s", ms(pct(m.answers, 50)), ms(ansP99)),
		ratio:     fmt.Sprintf("%.1f", ratioD(coldP99, ansP99)), target: "p99 ≤ 50 ms",
		ok: m.aborted == "" && len(m.cold) > 0 && m.coldLost == 0 && coldP99 <= 50*time.Millisecond,
	}

	// Every latest.png.
	drawnText := fmt.Sprintf("all %s in %.1f s", n, m.drawnAfter.Seconds())
	if m.drawn < m.n {
		drawnText = fmt.Sprintf("%d of %s after %.1f s", m.drawn, n, m.drawnAfter.Seconds())
		if m.drawTimedOut {
			drawnText += " (deadline)"
		}
	}
	drawn := row{
		figure:    fmt.Sprintf("every burst model's latest.png drawn, counted from the burst's last 201%s", abortNote),
		reference: "the burst itself (first request to last 201)",
		value:     drawnText, refValue: fmt.Sprintf("%.1f s", m.burstDur.Seconds()),
		ratio:  fmt.Sprintf("%.1f", m.drawnAfter.Seconds()/max(m.burstDur.Seconds(), 1e-9)),
		target: "all drawn, time reported", ok: m.aborted == "" && m.drawn == m.n,
	}
	return []row{rss, gor, list, cold, drawn}
}

// burstResult is what postAll measured.
type burstResult struct {
	start, end time.Time
	answers    []time.Duration
	bad        int
	firstErr   string
}

// postAll sends one batch of observations to each of names through the
// api's POST /models/{name}/observations from conns workers, a closed loop;
// onCreated, when not nil, is told of each 201 (its index in names and when
// it arrived).
func postAll(ctx context.Context, client *http.Client, apiURL string, names []string, conns int, onCreated func(i int, at time.Time)) burstResult {
	var (
		res  burstResult
		mu   sync.Mutex
		wg   sync.WaitGroup
		next atomic.Int64
	)
	res.start = time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) || ctx.Err() != nil {
					return
				}
				sent := time.Now()
				err := post(ctx, client, apiURL+"/models/"+names[i]+"/observations", burstBody)
				at := time.Now()
				mu.Lock()
				if err != nil {
					res.bad++
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
				} else {
					res.answers = append(res.answers, at.Sub(sent))
				}
				mu.Unlock()
				if err == nil && onCreated != nil {
					onCreated(i, at)
				}
			}
		}()
	}
	wg.Wait()
	res.end = time.Now()
	return res
}

// post sends body to url and wants a 201.
func post(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// pollVisible polls bayes' GET /models/{name} until it answers 200 and
// returns the time since created; false if it did not within coldTimeout
// or bayes was stopped.
func pollVisible(ctx context.Context, client *http.Client, bayesURL, name string, created time.Time, aborted *atomic.Bool, polls *atomic.Int64) (time.Duration, bool) {
	deadline := created.Add(coldTimeout)
	for !aborted.Load() && time.Now().Before(deadline) {
		polls.Add(1)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, bayesURL+"/models/"+name, nil)
		if err != nil {
			return 0, false
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(created), true
			}
		}
		// The poll's resolution; the deadline bounds the loop.
		time.Sleep(min(max(time.Since(created)/10, minPollGap), maxPollGap))
	}
	return 0, false
}

// waitN polls bayes until model name has n observations, for a minute at
// most.
func waitN(ctx context.Context, client *http.Client, bayesURL, name string, n int64) {
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, bayesURL+"/models/"+name, nil)
		if err != nil {
			log.Fatal(err)
		}
		var got struct{ N int64 }
		if resp, err := client.Do(req); err == nil {
			if resp.StatusCode == http.StatusOK && jsonDecode(resp, &got) == nil && got.N >= n {
				return
			}
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			log.Fatalf("models row: model %s did not reach n=%d within a minute (n=%d)", name, n, got.N)
		}
		time.Sleep(5 * time.Millisecond) // poll interval; the deadline bounds it
	}
}

// waitDrawn waits until graphs/<name>/latest.png exists for every name, or
// d has passed, or aborted is set; it returns how many are still missing.
func waitDrawn(ctx context.Context, graphs string, names []string, d time.Duration, aborted *atomic.Bool) int {
	left := names
	deadline := time.Now().Add(d)
	for {
		rest := left[:0:0]
		for _, name := range left {
			if _, err := os.Stat(filepath.Join(graphs, name, "latest.png")); err != nil {
				rest = append(rest, name)
			}
		}
		left = rest
		if len(left) == 0 || time.Now().After(deadline) || ctx.Err() != nil || (aborted != nil && aborted.Load()) {
			return len(left)
		}
		time.Sleep(50 * time.Millisecond) // poll interval; the deadline bounds it
	}
}

// timeList times GET /models?limit=100 requests one after another, up to n
// of them or budget in all, whichever comes first.
func timeList(ctx context.Context, client *http.Client, bayesURL string, n int, budget time.Duration) listTiming {
	var t listTiming
	end := time.Now().Add(budget)
	for i := 0; i < n && time.Now().Before(end); i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, bayesURL+"/models?limit=100", nil)
		if err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.bad++
			continue
		}
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.bad++
			continue
		}
		t.lat = append(t.lat, d)
		if i == 0 {
			var page struct{ Models []json.RawMessage }
			if json.Unmarshal(body, &page) == nil {
				t.rows = len(page.Models)
			}
		}
	}
	return t
}

// goroutines is the median of bayes' go_goroutines read every 200 ms over
// goroutineWindow. Each scrape closes its connection, so no idle keep-alive
// connection of the bench is counted.
func goroutines(ctx context.Context, bayesURL string) int {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var xs []float64
	for end := time.Now().Add(goroutineWindow); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if g, err := scrapeGauge(ctx, client, bayesURL+"/metrics", "go_goroutines"); err == nil {
			xs = append(xs, g)
		}
	}
	if len(xs) == 0 {
		return 0
	}
	return int(median(xs))
}

// scrapeGauge reads one unlabelled sample from a Prometheus text page.
func scrapeGauge(ctx context.Context, client *http.Client, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("scraping %s: no %s", url, name)
}

// procStatusKiB reads a "Name:  N kB" line of /proc/<pid>/status; 0 if
// there is none (the process is gone).
func procStatusKiB(pid int, field string) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			if f := strings.Fields(v); len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// chartMemoryLimit reads <component>.resources.limits.memory from the
// chart's values.yaml (charts/*/values.yaml, from the working directory:
// make runs the bench from the repository's root), in bytes, and says where
// it found it.
func chartMemoryLimit(component string) (int64, string) {
	files, _ := filepath.Glob("charts/*/values.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v, ok := yamlScalar(b, component, "resources", "limits", "memory")
		if !ok {
			continue
		}
		n, err := parseQuantity(v)
		if err != nil {
			continue
		}
		return n, fmt.Sprintf("%s %s.resources.limits.memory", f, component)
	}
	return 0, ""
}

// yamlScalar finds the scalar at path in a block-style YAML document, by
// indentation: enough for the chart's values.yaml, which uses no flow
// collections or anchors on that path.
func yamlScalar(doc []byte, path ...string) (string, bool) {
	type level struct {
		indent int
		key    string
	}
	var stack []level
	for _, line := range strings.Split(string(doc), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "-") {
			continue
		}
		indent := len(line) - len(trimmed)
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		if i := strings.Index(value, " #"); i >= 0 {
			value = value[:i]
		}
		value = strings.Trim(strings.TrimSpace(value), `"'`)
		stack = append(stack, level{indent, strings.TrimSpace(key)})
		if len(stack) != len(path) {
			continue
		}
		match := true
		for i, l := range stack {
			match = match && l.key == path[i]
		}
		if match && value != "" {
			return value, true
		}
	}
	return "", false
}

// parseQuantity reads a Kubernetes memory quantity: bytes, or a number with
// one of Ki Mi Gi Ti (powers of 1024) or k M G T (powers of 1000).
func parseQuantity(q string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(q, u.suffix); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("memory quantity %q: %w", q, err)
			}
			return int64(n * float64(u.mult)), nil
		}
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory quantity %q: %w", q, err)
	}
	if n <= 0 {
		return 0, errors.New("memory quantity must be positive")
	}
	return n, nil
}

// quantity prints bytes as the chart writes them.
func quantity(b int64) string {
	if b%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", b>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
