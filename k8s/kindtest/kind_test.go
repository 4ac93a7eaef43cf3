package kindtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The ports the README tells people to forward, and the NodePorts of
// values-kind.yaml that kind maps to the host's loopback.
const (
	apiForwardPort   = 8000
	bayesForwardPort = 8001
	apiNodePort      = 30800
	bayesNodePort    = 30801
)

var client = &http.Client{Timeout: 10 * time.Second, Transport: tokenTransport{next: http.DefaultTransport}}

// TestKubernetes installs the chart and walks through what a user does and
// what an operator fears, in order: each step starts from the state the one
// before left.
func TestKubernetes(t *testing.T) {
	c := requireCluster(t)
	img := c.buildImages(t)

	start := time.Now()
	c.install(t, img)
	c.waitAllReady(t, 5*time.Minute)
	c.readAPIToken(t)
	t.Logf("helm install: every pod Ready in %s", time.Since(start).Round(time.Second))
	t.Log(c.kubectl(t, "get", "pods,pvc,svc", "-o", "wide"))

	t.Run("journey through port-forward", func(t *testing.T) { c.journey(t) })
	t.Run("Redis pod deleted keeps every count", func(t *testing.T) { c.redisPodDeleted(t) })
	t.Run("bayes pod deleted under load counts exactly", func(t *testing.T) { c.bayesPodDeleted(t) })
	t.Run("helm upgrade under load loses nothing", func(t *testing.T) { c.upgradeUnderLoad(t, img) })
	t.Run("helm test", func(t *testing.T) {
		out := c.helm(t, 5*time.Minute, "test", c.release, "--logs", "--timeout", "3m")
		t.Log(out)
	})
	t.Run("NetworkPolicy", func(t *testing.T) { c.networkPolicy(t) })
}

// install runs helm upgrade --install with the kind values and the images
// just built, and waits for it.
func (c *cluster) install(t *testing.T, img images, extra ...string) {
	t.Helper()
	args := []string{"upgrade", "--install", c.release, "charts/event-driven-bayes",
		"--create-namespace", "-f", "charts/event-driven-bayes/values-kind.yaml",
		"--set", "api.image.tag=" + img.tag, "--set", "bayes.image.tag=" + img.tag,
		"--wait", "--timeout", "6m"}
	args = c.helmArgs(append(args, extra...)...)
	if out, err := c.try(8*time.Minute, c.helmBin, args...); err != nil {
		t.Fatalf("helm %s: %v\n%s\n%s", strings.Join(args, " "), err, out, c.state())
	}
}

// journey is the README's curl journey, through kubectl port-forward on the
// ports the README forwards.
func (c *cluster) journey(t *testing.T) {
	api := c.portForward(t, c.release+"-api", apiForwardPort, 8000)
	bayes := c.portForward(t, c.release+"-bayes", bayesForwardPort, 8001)

	before := getModel(t, bayes.url("/model"))
	var published struct{ ID, Trial, Stream string }
	mustJSON(t, "GET", api.url("/update_model/w"), "", nil, 201, &published)
	if published.ID == "" || published.Trial != "w" {
		t.Fatalf("GET /update_model/w answered %+v", published)
	}
	mustJSON(t, "POST", api.url("/update_model/l"), "", nil, 201, nil)
	m := waitModel(t, bayes.url("/model"), before.N+2)
	if m.W != before.W+1 {
		t.Fatalf("GET /model: w=%d after w and l on top of w=%d", m.W, before.W)
	}
	t.Logf("GET /model: n=%d w=%d mean=%.4f", m.N, m.W, m.Mean)

	name := fmt.Sprintf("kind-journey-%d", time.Now().Unix())
	mustJSON(t, "PUT", api.url("/models/"+name), `{"prior":"beta:2,2","grid_points":200}`, nil, 202, nil)
	mustJSON(t, "POST", api.url("/models/"+name+"/observations"), `{"w":30,"l":70}`, nil, 201, nil)
	mustJSON(t, "POST", api.url("/models/"+name+"/observations"), `{"trial":"w"}`, nil, 201, nil)
	nm := waitModel(t, bayes.url("/models/"+name), 101)
	if nm.W != 31 || nm.PriorSpec != "beta:2,2" || nm.GridPoints != 200 {
		t.Fatalf("GET /models/%s: %+v, want w=31 of 101 on beta:2,2 with 200 points", name, nm)
	}
	var list struct{ Models []modelView }
	mustJSON(t, "GET", bayes.url("/models"), "", nil, 200, &list)
	found := false
	for _, s := range list.Models {
		found = found || s.Name == name
	}
	if !found {
		t.Fatalf("GET /models does not list %s: %+v", name, list.Models)
	}
	var pred struct {
		Mean     float64
		Interval json.RawMessage
	}
	mustJSON(t, "GET", bayes.url("/models/"+name+"/predictive?trials=10"), "", nil, 200, &pred)
	if pred.Mean <= 0 || len(pred.Interval) == 0 {
		t.Fatalf("predictive: %+v", pred)
	}
	t.Logf("GET /models/%s: n=%d w=%d mean=%.4f; predictive of 10 tosses: mean %.3f interval %s", name, nm.N, nm.W, nm.Mean, pred.Mean, pred.Interval)

	// The plot, drawn into the graphs volume: kind mounts the repository's
	// ./graphs there, so it must appear on the host too.
	c.waitPlot(t, bayes, name)

	// The live page and its buttons: the page tells the browser where the
	// api is, and the api must allow the page's origin for the forwarded
	// ports, or every button fails in the browser.
	page := mustBody(t, "GET", bayes.url("/"), "", nil, 200)
	want := fmt.Sprintf(`content="http://localhost:%d"`, apiForwardPort)
	if !strings.Contains(page, `name="edb-api-url"`) || !strings.Contains(page, want) {
		t.Fatalf("the live page does not send its buttons to the forwarded api (%s):\n%s", want, head(page, 1200))
	}
	for _, origin := range []string{fmt.Sprintf("http://localhost:%d", bayesForwardPort), fmt.Sprintf("http://127.0.0.1:%d", bayesForwardPort)} {
		c.buttonPress(t, api, origin, name)
	}
	final := waitModel(t, bayes.url("/models/"+name), 103)
	t.Logf("live page buttons from both forwarded origins counted: n=%d w=%d", final.N, final.W)
}

// buttonPress does what the live page's "water" button does from origin:
// the CORS preflight, then the POST, checking the api allows the origin.
func (c *cluster) buttonPress(t *testing.T, api *forward, origin, model string) {
	t.Helper()
	path := api.url("/models/" + model + "/observations")
	req, _ := http.NewRequest(http.MethodOptions, path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin && got != "*" {
		t.Fatalf("preflight from the page at %s: %s, Access-Control-Allow-Origin %q (CORS_ALLOW_ORIGINS in values-kind.yaml)", origin, resp.Status, got)
	}
	hdr := http.Header{"Origin": {origin}, "Content-Type": {"application/json"}}
	resp2 := do(t, "POST", path, `{"trial":"w"}`, hdr)
	if resp2.status != 201 || (resp2.header.Get("Access-Control-Allow-Origin") != origin && resp2.header.Get("Access-Control-Allow-Origin") != "*") {
		t.Fatalf("button POST from %s: %d, Access-Control-Allow-Origin %q: %s", origin, resp2.status, resp2.header.Get("Access-Control-Allow-Origin"), resp2.body)
	}
}

// waitPlot waits for the model's plot over HTTP and in the host's ./graphs.
func (c *cluster) waitPlot(t *testing.T, bayes *forward, name string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := do(t, "GET", bayes.url("/models/"+name+"/plot.png"), "", nil)
		onHost, _ := filepath.Glob(filepath.Join(c.repo, "graphs", name, "*.png"))
		if r.status == 200 && strings.HasPrefix(r.body, "\x89PNG") && len(onHost) > 0 {
			t.Logf("plot: %d bytes over HTTP, %d files in graphs/%s on the host", len(r.body), len(onHost), name)
			return
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(filepath.Join(c.repo, "graphs"))
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("no plot of %s after 90 s: GET plot.png %d (%d bytes); host graphs/: %v", name, r.status, len(r.body), names)
		}
		time.Sleep(time.Second)
	}
}

// redisPodDeleted deletes the Redis pod: the StatefulSet brings it back on
// the same claim, AOF replays, and every count is as it was.
func (c *cluster) redisPodDeleted(t *testing.T) {
	bayes := c.nodePort(bayesNodePort)
	api := c.nodePort(apiNodePort)
	name := fmt.Sprintf("kind-redis-%d", time.Now().Unix())
	mustJSON(t, "POST", api.url("/models/"+name+"/observations"), `{"w":7,"l":3}`, nil, 201, nil)
	beforeNamed := waitModel(t, bayes.url("/models/"+name), 10)
	beforeDefault := getModel(t, bayes.url("/model"))
	uid := c.kubectl(t, "get", "pod", c.release+"-redis-0", "-o", "jsonpath={.metadata.uid}")

	start := time.Now()
	c.kubectl(t, "delete", "pod", c.release+"-redis-0", "--wait=true")
	c.waitNewPod(t, c.release+"-redis-0", uid)
	c.waitAllReady(t, 3*time.Minute)
	t.Logf("Redis pod replaced and every pod Ready again in %s", time.Since(start).Round(time.Second))

	afterNamed := waitModel(t, bayes.url("/models/"+name), beforeNamed.N)
	afterDefault := waitModel(t, bayes.url("/model"), beforeDefault.N)
	if afterNamed.N != beforeNamed.N || afterNamed.W != beforeNamed.W || afterDefault.N != beforeDefault.N || afterDefault.W != beforeDefault.W {
		t.Fatalf("counts changed across the Redis pod: %s n=%d w=%d -> n=%d w=%d; default n=%d w=%d -> n=%d w=%d",
			name, beforeNamed.N, beforeNamed.W, afterNamed.N, afterNamed.W, beforeDefault.N, beforeDefault.W, afterDefault.N, afterDefault.W)
	}
	// And the system works on: the api and bayes reconnected.
	mustJSON(t, "POST", api.url("/models/"+name+"/observations"), `{"trial":"w"}`, nil, 201, nil)
	waitModel(t, bayes.url("/models/"+name), beforeNamed.N+1)
	t.Logf("after the Redis pod came back on its volume: %s n=%d w=%d, default n=%d w=%d, and a new observation counted",
		name, afterNamed.N, afterNamed.W, afterDefault.N, afterDefault.W)
}

// bayesPodDeleted deletes a bayes pod while observations stream in: the
// survivor and the replacement share the consumer group, and the count is
// exactly the number of 201s.
func (c *cluster) bayesPodDeleted(t *testing.T) {
	api := c.nodePort(apiNodePort)
	bayes := c.nodePort(bayesNodePort)
	name := fmt.Sprintf("kind-bayes-%d", time.Now().Unix())
	mustJSON(t, "PUT", api.url("/models/"+name), `{"prior":"uniform","grid_points":101}`, nil, 202, nil)

	pod := c.release + "-bayes-0"
	uid := c.kubectl(t, "get", "pod", pod, "-o", "jsonpath={.metadata.uid}")
	l := startLoad(api.url("/models/"+name+"/observations"), 4)
	l.waitAccepted(t, 200)
	c.kubectl(t, "delete", "pod", pod, "--wait=false")
	c.waitNewPod(t, pod, uid)
	c.waitAllReady(t, 3*time.Minute)
	l.waitAccepted(t, l.accepted()+200) // the replacement consumes under load too
	res := l.stop()
	t.Logf("load while %s was deleted: %s", pod, res)
	c.checkExact(t, bayes, name, res)
}

// upgradeUnderLoad rolls every api and bayes pod with helm upgrade to a new
// image tag while observations stream in through the api's Service.
func (c *cluster) upgradeUnderLoad(t *testing.T, img images) {
	api := c.nodePort(apiNodePort)
	bayes := c.nodePort(bayesNodePort)
	name := fmt.Sprintf("kind-roll-%d", time.Now().Unix())
	mustJSON(t, "PUT", api.url("/models/"+name), `{"prior":"uniform","grid_points":101}`, nil, 202, nil)
	before := c.podUIDs(t)

	next := c.retag(t, img, img.tag+"-roll")
	l := startLoad(api.url("/models/"+name+"/observations"), 4)
	l.waitAccepted(t, 200)
	start := time.Now()
	// KIND_UPGRADE_SET (e.g. api.shutdownDrain=0s,api.preStopSleepSeconds=0)
	// adds --set values to this upgrade: to see what the roll does to
	// clients without one of the tools that make it clean.
	var extra []string
	if set := os.Getenv("KIND_UPGRADE_SET"); set != "" {
		extra = []string{"--set", set}
		t.Logf("upgrade with --set %s", set)
	}
	c.install(t, next, extra...)
	c.waitAllReady(t, 5*time.Minute)
	rolled := time.Since(start)
	l.waitAccepted(t, l.accepted()+200)
	res := l.stop()

	after := c.podUIDs(t)
	for pod, uid := range before {
		if after[pod] == uid {
			t.Errorf("pod %s was not replaced by the upgrade", pod)
		}
	}
	t.Logf("helm upgrade rolled api and bayes in %s under load: %s", rolled.Round(time.Second), res)
	if res.failed > 0 {
		t.Errorf("%d requests were not answered 201 during the roll (target zero): %v", res.failed, res.failures)
	}
	c.checkExact(t, bayes, name, res)
}

// checkExact waits until bayes has consumed everything, then compares the
// model's count with what the api acknowledged. A request that failed
// without an answer may or may not have been stored, so it widens the
// accepted range; an answered error (4xx/5xx) never stores.
func (c *cluster) checkExact(t *testing.T, bayes *forward, name string, res loadResult) {
	t.Helper()
	m := waitModel(t, bayes.url("/models/"+name), res.accepted)
	c.waitDrained(t)
	m = getModel(t, bayes.url("/models/"+name))
	if m.N < res.accepted || m.N > res.accepted+res.unanswered {
		t.Fatalf("model %s counts n=%d; the api acknowledged %d (and %d requests had no answer): lost or doubled events", name, m.N, res.accepted, res.unanswered)
	}
	if m.W != m.N {
		t.Fatalf("model %s: w=%d of n=%d, but every observation was water", name, m.W, m.N)
	}
	t.Logf("model %s counts n=%d = %d acknowledged (+%d unanswered): exact", name, m.N, res.accepted, m.N-res.accepted)
}

// waitDrained waits until the consumer group has read the stream's last
// entry and acknowledged everything it read, as redis-cli in the Redis pod
// (admin user) reports it.
func (c *cluster) waitDrained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := c.try(time.Minute, c.kubectlBin, "-n", c.namespace, "exec", c.release+"-redis-0", "-c", "redis", "--",
			"sh", "-c", "redis-cli --user edb-admin --no-auth-warning XINFO STREAM update_model && echo --- && "+
				"redis-cli --user edb-admin --no-auth-warning XINFO GROUPS update_model")
		if err == nil {
			stream, groups, _ := strings.Cut(out, "---")
			if drained(stream, groups) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer group did not drain in 2 min: %v\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// drained reads redis-cli's XINFO STREAM and XINFO GROUPS answers (one
// name or value per line): every group has delivered the stream's last
// generated id and has nothing pending. (XINFO's lag can be nil after a
// trim, so it is not used.)
func drained(stream, groups string) bool {
	last := field(strings.Fields(stream), "last-generated-id")
	f := strings.Fields(groups)
	n := 0
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "name":
			n++
		case "pending":
			if f[i+1] != "0" {
				return false
			}
		case "last-delivered-id":
			if f[i+1] != last {
				return false
			}
		}
	}
	return last != "" && n > 0
}

func field(f []string, name string) string {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == name {
			return f[i+1]
		}
	}
	return ""
}

// networkPolicy reports whether the Redis NetworkPolicy is enforced: a pod
// outside the release tries to open the Redis port.
func (c *cluster) networkPolicy(t *testing.T) {
	svc := fmt.Sprintf("%s-redis.%s.svc.cluster.local", c.release, c.namespace)
	// Any answer from Redis (it refuses the disabled default user) means
	// the connection was let through.
	probe := `out=$(timeout 5 redis-cli -h ` + svc + ` -p 6379 ping 2>&1); case "$out" in *NOAUTH*|*PONG*|*NOPERM*|*WRONGPASS*|*ERR*) echo OPEN;; *) echo "BLOCKED: $out";; esac`
	// Started detached and read from its log once it has ended: attaching
	// with `kubectl run -i` loses the output of a pod that ends first.
	const pod = "edb-netpol-probe"
	c.kubectl(t, "delete", "pod", pod, "--ignore-not-found", "--wait=true")
	c.kubectl(t, "run", pod, "--restart=Never",
		"--image="+chartRedisImage(t, c.repo), "--image-pull-policy=IfNotPresent",
		`--overrides={"spec":{"automountServiceAccountToken":false,"securityContext":{"runAsNonRoot":true,"runAsUser":999,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"`+pod+`","image":"`+chartRedisImage(t, c.repo)+`","command":["sh","-c",`+strconv.Quote(probe)+`],"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}`,
		"--command", "--", "true")
	defer c.kubectl(t, "delete", "pod", pod, "--ignore-not-found", "--wait=false")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		phase := c.kubectl(t, "get", "pod", pod, "-o", "jsonpath={.status.phase}")
		if phase == "Succeeded" || phase == "Failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe pod did not end in 2 min (phase %q)", phase)
		}
		time.Sleep(500 * time.Millisecond)
	}
	out := c.kubectl(t, "logs", pod)
	policy := c.kubectl(t, "get", "networkpolicy", "-o", "name")
	switch {
	case strings.Contains(out, "BLOCKED"):
		t.Logf("NetworkPolicy %s is enforced: a pod outside the release cannot reach Redis", strings.TrimSpace(policy))
	case strings.Contains(out, "OPEN"):
		t.Logf("NetworkPolicy %s is admitted but NOT enforced: the static ptp CNI of this node image does not implement NetworkPolicy (a pod outside the release reached Redis). Calico or Cilium enforce it; see docs/kubernetes.md", strings.TrimSpace(policy))
	default:
		t.Fatalf("the probe pod printed neither OPEN nor BLOCKED:\n%s", out)
	}
}

func (c *cluster) nodePort(port int) *forward { return &forward{Port: port} }

// waitNewPod waits until a pod of that name exists with another uid.
func (c *cluster) waitNewPod(t *testing.T, pod, oldUID string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		uid, err := c.try(time.Minute, c.kubectlBin, "-n", c.namespace, "get", "pod", pod, "-o", "jsonpath={.metadata.uid}")
		if err == nil && uid != "" && uid != oldUID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s was not replaced in 3 min", pod)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// podUIDs are the api and bayes pods by name (what an upgrade rolls).
func (c *cluster) podUIDs(t *testing.T) map[string]string {
	t.Helper()
	out := c.kubectl(t, "get", "pods", "-l", "app.kubernetes.io/instance="+c.release+",app.kubernetes.io/component in (api,bayes)",
		"-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.uid}{"\n"}{end}`)
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// modelView is the part of bayes' model answer the test reads.
type modelView struct {
	Name       string  `json:"name"`
	N          int64   `json:"n"`
	W          int64   `json:"w"`
	Mean       float64 `json:"mean"`
	PriorSpec  string  `json:"prior_spec"`
	GridPoints int     `json:"grid_points"`
}

func getModel(t *testing.T, url string) modelView {
	t.Helper()
	var m modelView
	mustJSON(t, "GET", url, "", nil, 200, &m)
	return m
}

// waitModel polls until the model has counted at least n observations.
func waitModel(t *testing.T, url string, n int64) modelView {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := do(t, "GET", url, "", nil)
		var m modelView
		if r.status == 200 && json.Unmarshal([]byte(r.body), &m) == nil && m.N >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: n did not reach %d in 2 min; last answer %d %s", url, n, r.status, head(r.body, 300))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

type answer struct {
	status int
	header http.Header
	body   string
}

// do sends one request; a transport error is status 0 with the error as
// body (the caller decides whether that fails the test).
func do(t *testing.T, method, url, body string, header http.Header) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func mustBody(t *testing.T, method, url, body string, header http.Header, want int) string {
	t.Helper()
	r := do(t, method, url, body, header)
	if r.status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, r.status, want, head(r.body, 500))
	}
	return r.body
}

func mustJSON(t *testing.T, method, url, body string, header http.Header, want int, into any) {
	t.Helper()
	b := mustBody(t, method, url, body, header, want)
	if into == nil {
		return
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(b)))
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s %s: %v in %s", method, url, err, head(b, 500))
	}
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
