// Command bench measures event-driven-bayes against references taken in the
// same run on the same machine, and prints each figure with its reference
// and their ratio: the machine is noisy, ratios measured side by side are
// what can be compared. It starts everything it needs on loopback
// (redis-server, a Redis Cluster made with redis-cli for the cluster rows,
// the api and bayes binaries, a bare Fiber server) and uses wrk and
// redis-benchmark from Debian's packages as load generators.
//
//	bench -api bin/api -bayes bin/bayes [-short] [-rows api,latency] [-profile dir] [-models n]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/profiling"
)

type settings struct {
	apiBin, bayesBin string
	apiDur           time.Duration
	drainEvents      int
	systemDur        time.Duration
	latencyRate      int
	latencyDur       time.Duration
	conns            int
	pairs            int // alternating runs of each server in sideBySide
	wrkThreads       int
	rows             map[string]bool // empty: every row
	profileDir       string          // where CPU profiles of the api and the bare server go; empty: none
	// The models row (models.go).
	models       int           // new models in the burst
	listRequests int           // GET /models?limit=100 requests timed at each size
	listBudget   time.Duration // the most time those requests may take at each size
	drawDeadline time.Duration // how long to wait for every burst model's latest.png
	rssAbortMiB  int           // bayes is stopped past this RSS during the burst; 0: never
}

func main() {
	var s settings
	short := flag.Bool("short", false, "a quick run (CI): shorter durations, a smaller backlog")
	bare := flag.String("bare-server", "", "internal: serve the bare Fiber reference handler on this address")
	barePprof := flag.String("bare-pprof", "", "internal: serve the bare server's profiles on this loopback address")
	flag.StringVar(&s.profileDir, "profile", "", "write CPU profiles of the api and the bare server under the api row's load to this directory")
	flag.StringVar(&s.apiBin, "api", "bin/api", "api binary")
	flag.StringVar(&s.bayesBin, "bayes", "bin/bayes", "bayes binary")
	flag.IntVar(&s.conns, "connections", 64, "HTTP connections of the load generator")
	flag.IntVar(&s.wrkThreads, "wrk-threads", 1, "threads of the load generator (one leaves the other core to the server and Redis)")
	flag.IntVar(&s.models, "models", 0, "new models in the models row's burst (default 10000, 1000 with -short)")
	flag.IntVar(&s.rssAbortMiB, "models-rss-abort", 4096, "stop bayes if its RSS passes this many MiB during the models row (0: never)")
	only := flag.String("rows", "", "comma-separated rows to run (api, drain, system, latency, tracing, models, shards, wait; cluster for both of the last two); empty: all")
	flag.Parse()
	if *only != "" {
		s.rows = map[string]bool{}
		for _, r := range strings.Split(*only, ",") {
			s.rows[strings.TrimSpace(r)] = true
		}
		if s.rows["cluster"] {
			s.rows["shards"], s.rows["wait"] = true, true
		}
	}
	if *bare != "" {
		serveBare(*bare, *barePprof)
		return
	}
	s.apiDur, s.pairs, s.drainEvents, s.systemDur, s.latencyRate, s.latencyDur = 10*time.Second, 5, 1_000_000, 30*time.Second, 1000, 10*time.Second
	models := 10_000
	s.listRequests, s.listBudget, s.drawDeadline = 500, 30*time.Second, 15*time.Minute
	if *short {
		s.apiDur, s.pairs, s.drainEvents, s.systemDur, s.latencyDur = 3*time.Second, 3, 100_000, 6*time.Second, 3*time.Second
		models, s.listRequests, s.listBudget, s.drawDeadline = 1_000, 200, 10*time.Second, 5*time.Minute
	}
	if s.models <= 0 {
		s.models = models
	}
	tools := []string{"redis-server", "redis-benchmark", "wrk"}
	if s.want("shards") || s.want("wait") {
		tools = append(tools, "redis-cli") // redis-cli --cluster create
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			log.Fatalf("%s not found: apt-get install -y redis-server redis-tools wrk", tool)
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("event-driven-bayes bench, %s, %s, %d CPUs, %s, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		host, runtime.NumCPU(), cpuModel(), redisVersion())

	var rows []row
	if s.want("api") {
		rows = append(rows, benchAPI(s)...)
	}
	var mem []row
	if s.want("drain") {
		drain, m := benchDrain(s)
		rows, mem = append(rows, drain), []row{m}
	}
	if s.want("system") {
		rows = append(rows, benchSystem(s))
	}
	if s.want("latency") {
		rows = append(rows, benchLatency(s), benchAnswerLatency(s))
	}
	rows = append(rows, mem...)
	if s.want("tracing") {
		rows = append(rows, benchTracing(s))
	}
	if s.want("models") {
		rows = append(rows, benchModels(s)...)
	}
	if s.want("shards") {
		rows = append(rows, benchShards(s))
	}
	if s.want("wait") {
		rows = append(rows, benchWait(s))
	}
	printTable(rows)
	for _, r := range rows {
		if !r.ok {
			fmt.Println("\nsome targets were missed (see the verdict column); bench reports, it does not fail")
			break
		}
	}
}

// want reports whether the row named name is to run.
func (s settings) want(name string) bool { return len(s.rows) == 0 || s.rows[name] }

// row is one line of the report.
type row struct {
	figure, reference, value, refValue, ratio, target string
	ok                                                bool
}

func printTable(rows []row) {
	fmt.Println("| figure | reference (same run) | figure value | reference value | ratio | target | met |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		met := "yes"
		if !r.ok {
			met = "NO"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.figure, r.reference, r.value, r.refValue, r.ratio, r.target, met)
	}
}

// --- processes --------------------------------------------------------------

type proc struct {
	cmd  *exec.Cmd
	port int
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(bin string, port int, env ...string) *proc {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append([]string{"PORT=" + strconv.Itoa(port), "LOG_LEVEL=warn"}, env...)...)
	cmd.Stderr, cmd.Stdout = os.Stderr, nil
	if err := cmd.Start(); err != nil {
		log.Fatalf("starting %s: %v", bin, err)
	}
	p := &proc{cmd: cmd, port: port}
	waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	return p
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// waitHTTP polls url until it answers 2xx, for 20 s at most.
func waitHTTP(url string) {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return
			}
		}
		if time.Now().After(deadline) {
			log.Fatalf("%s did not answer 2xx within 20s (last error: %v)", url, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval; the deadline bounds it
	}
}

type redisServer struct {
	*proc
	rdb *redis.Client
	url string
	dir string
}

// startRedis runs redis-server as the docker compose setup does: AOF with
// fsync every second.
func startRedis() *redisServer {
	dir, err := os.MkdirTemp("", "edb-bench-redis")
	if err != nil {
		log.Fatal(err)
	}
	port := freePort()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	r := &redisServer{proc: &proc{cmd: cmd, port: port}, url: fmt.Sprintf("redis://127.0.0.1:%d/0", port), dir: dir}
	r.rdb = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), PoolSize: 64})
	deadline := time.Now().Add(10 * time.Second)
	for r.rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			log.Fatal("redis-server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

func (r *redisServer) stop() {
	_ = r.rdb.Close()
	r.proc.stop()
	_ = os.RemoveAll(r.dir)
}

// --- load generators -----------------------------------------------------------

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(\d+) requests in `)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkErrors   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// load is what one wrk run measured.
type load struct {
	rps      float64
	requests int // answered, whatever the status
	bad      int // answers that were not 2xx, plus socket errors
}

// wrk runs wrk against url with the given threads and connections, and
// extra arguments (a script: -s file).
func wrk(url string, threads, conns int, d time.Duration, extra ...string) load {
	args := append([]string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency"}, extra...)
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		log.Fatalf("wrk: %v\n%s", err, out)
	}
	m := wrkRPS.FindSubmatch(out)
	n := wrkRequests.FindSubmatch(out)
	if m == nil || n == nil {
		log.Fatalf("wrk printed no rate:\n%s", out)
	}
	var l load
	l.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	l.requests, _ = strconv.Atoi(string(n[1]))
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		n, _ := strconv.Atoi(string(m[1]))
		l.bad += n
	}
	if m := wrkErrors.FindSubmatch(out); m != nil {
		for _, g := range m[1:] {
			n, _ := strconv.Atoi(string(g))
			l.bad += n
		}
	}
	return l
}

// --- the bare reference ------------------------------------------------------

// serveBare is the reference for the api: the same route and JSON answer
// from a Fiber handler that does no I/O.
func serveBare(addr, pprofAddr string) {
	if pprofAddr != "" {
		if _, err := profiling.Serve(context.Background(), pprofAddr, slog.New(slog.DiscardHandler)); err != nil {
			log.Fatal(err)
		}
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/update_model/:trial", func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": "0-0", "trial": c.Params("trial"), "stream": stream})
	})
	log.Fatal(app.Listen(addr))
}

func startBare(extra ...string) *proc {
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	port := freePort()
	cmd := exec.Command(self, append([]string{"-bare-server", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	return &proc{cmd: cmd, port: port}
}

// --- helpers -----------------------------------------------------------------

// cpuTime is the CPU time (user and system, every thread) process pid has
// used so far, from /proc/<pid>/stat; its resolution is one clock tick.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		log.Fatalf("reading CPU time of %d: %v", pid, err)
	}
	// The command name (field 2) may hold spaces; the fields after it
	// start at the state (field 3), so utime (14) and stime (15) are the
	// 12th and 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / time.Duration(clockTicks())
}

// clockTicks is the kernel's clock ticks per second (CLK_TCK), the unit of
// /proc/<pid>/stat's times.
var clockTicks = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, perr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && perr == nil && n > 0 {
		return n
	}
	return 100 // USER_HZ on every Linux architecture Go supports but alpha and ia64
})

func rssKiB(pid int) int { return procStatusKiB(pid, "VmRSS:") }

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			return strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
		}
	}
	return "unknown CPU"
}

func redisVersion() string {
	out, _ := exec.Command("redis-server", "--version").Output()
	f := strings.Fields(string(out))
	for _, x := range f {
		if strings.HasPrefix(x, "v=") {
			return "Redis " + strings.TrimPrefix(x, "v=")
		}
	}
	return strings.TrimSpace(string(out))
}

func stateN(ctx context.Context, rdb *redis.Client, stream string) int64 {
	n, _ := rdb.HGet(ctx, stream+":model:default", "n").Int64()
	return n
}
