package charttest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// smokeTest returns the one helm test Pod of a render.
func smokeTest(t *testing.T, r *release) *corev1.Pod {
	t.Helper()
	if len(r.pods) != 1 {
		t.Fatalf("want one helm test Pod, got %d", len(r.pods))
	}
	return r.pods[0]
}

// The helm test hook: one Pod, a test hook replaced on the next run, that
// talks to the release's own api and bayes Services, from the Redis image,
// locked down like every other pod.
func TestHelmTestHook(t *testing.T) {
	sets := valueSets(t)
	for _, name := range []string{"defaults", "non-default", "kind"} {
		t.Run(name, func(t *testing.T) {
			r := render(t, sets[name])
			pod := smokeTest(t, r)
			if pod.Annotations["helm.sh/hook"] != "test" || pod.Annotations["helm.sh/hook-delete-policy"] != "before-hook-creation" {
				t.Errorf("Pod %s annotations %v, want a test hook deleted before the next one", pod.Name, pod.Annotations)
			}
			if errs := validation.IsDNS1123Label(pod.Name); len(errs) > 0 {
				t.Errorf("Pod name %q: %v", pod.Name, errs)
			}
			spec := pod.Spec
			if spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("restartPolicy %q: a failed test must stay failed", spec.RestartPolicy)
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Errorf("the test pod mounts a service account token")
			}
			if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
				t.Errorf("the test pod has service links")
			}
			// No Service may route to it: it carries the release's labels.
			for _, svc := range r.services {
				if selects(svc.Spec.Selector, pod.Labels) {
					t.Errorf("Service %s selects the test pod", svc.Name)
				}
			}
			for _, p := range r.pdbs {
				if selectsLS(p.Spec.Selector, pod.Labels) {
					t.Errorf("PDB %s selects the test pod", p.Name)
				}
			}

			// Security: as the other pods, as the redis user of its image.
			redis := container(t, r.component(t, "redis").template.Spec, "redis")
			psc := spec.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 999 ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("test pod securityContext %+v, want runAsNonRoot as uid 999 with seccomp RuntimeDefault", psc)
			}
			if len(spec.Containers) != 1 {
				t.Fatalf("want one container, got %d", len(spec.Containers))
			}
			c := spec.Containers[0]
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("test container securityContext %+v, want a read-only root, no escalation, drop ALL", sc)
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[res]; !ok {
					t.Errorf("test container has no %s request", res)
				}
				if _, ok := c.Resources.Limits[res]; !ok {
					t.Errorf("test container has no %s limit", res)
				}
			}
			// The image with busybox: the chart's Redis image, nothing new to pull.
			if c.Image != redis.Image || c.ImagePullPolicy != redis.ImagePullPolicy {
				t.Errorf("test image %s (%s), want the Redis image %s (%s)", c.Image, c.ImagePullPolicy, redis.Image, redis.ImagePullPolicy)
			}
			if !slices.Equal(c.Command, []string{"sh", "-c"}) || len(c.Args) != 1 {
				t.Fatalf("test command %q args %d, want sh -c <script>", c.Command, len(c.Args))
			}

			// The URLs: the release's Services on their ports.
			for env, comp := range map[string]string{"API": "api", "BAYES": "bayes"} {
				svc := r.service(fullname(r) + "-" + comp)
				if svc == nil {
					t.Fatalf("no Service for %s", comp)
				}
				want := "http://" + svc.Name + ":" + strconv.Itoa(int(svc.Spec.Ports[0].Port))
				if got := envValue(&c, env); got != want {
					t.Errorf("%s=%q, want the %s Service %q", env, got, comp, want)
				}
			}
			if got := envValue(&c, "MODEL"); got != "helm-test-1" {
				t.Errorf("MODEL=%q, want helm-test-<revision> (helm-test-1)", got)
			}
			// With API tokens on (the default), the api's tokens file,
			// read-only, from the Secret the api reads it from.
			if boolValue(t, r, "api.auth.enabled") {
				v := volumeOfMount(spec, &c, envValue(&c, "TOKENS_FILE"))
				if m := mountAt(&c, path.Dir(envValue(&c, "TOKENS_FILE"))); m == nil || !m.ReadOnly || v == nil || v.Secret == nil ||
					v.Secret.SecretName != tokensSecretName(r) || len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "tokens" ||
					path.Join(m.MountPath, v.Secret.Items[0].Path) != envValue(&c, "TOKENS_FILE") {
					t.Errorf("TOKENS_FILE=%q is not the key tokens of Secret %s mounted read-only: %+v %+v", envValue(&c, "TOKENS_FILE"), tokensSecretName(r), c.VolumeMounts, spec.Volumes)
				}
			}
			script := c.Args[0]
			for _, want := range []string{`post '{"w":1,"l":0}' "$API/models/$MODEL/observations"`, `--header 'Content-Type: application/json' --post-data "$1" "$2"`,
				`--header "$auth"`, `"$BAYES/models/$MODEL"`, "exit 1", "exit 0"} {
				if !strings.Contains(script, want) {
					t.Errorf("the test script lacks %q", want)
				}
			}
		})
	}
	off := render(t, renderOpts{values: valuesFrom(t, `tests: {enabled: false}`)})
	if len(off.pods) != 0 {
		t.Errorf("tests.enabled=false still renders %d Pods", len(off.pods))
	}
}

// The script reads bayes' compact JSON as "w":W,"n":N, and posts counts
// to the api's batch endpoint: both as the sources have them.
func TestHelmTestMatchesSources(t *testing.T) {
	bayes := readFile(t, filepath.Join(repoRoot, "services", "bayes", "ports", "httpapi", "responses.go"))
	view := regexp.MustCompile(`(?s)type ModelResponse struct \{(.*?)\n\}`).FindStringSubmatch(bayes)
	if view == nil {
		t.Fatal("services/bayes/ports/httpapi/responses.go has no ModelResponse struct")
	}
	tags := regexp.MustCompile("json:\"([a-z_]+)\"").FindAllStringSubmatch(view[1], -1)
	var order []string
	for _, m := range tags {
		order = append(order, m[1])
	}
	if i := slices.Index(order, "w"); i < 0 || i+1 >= len(order) || order[i+1] != "n" {
		t.Errorf(`ModelResponse's JSON fields are %v: the smoke test looks for "w":W,"n":N, adjacent and in that order`, order)
	}
	if !strings.Contains(readFile(t, filepath.Join(repoRoot, "services", "bayes", "ports", "httpapi", "server.go")), `"GET /models/{name}"`) {
		t.Errorf("bayes no longer serves GET /models/{name}")
	}
	api := goSources(t, "services/api/ports/httpapi")
	if !regexp.MustCompile(`methods: \[\]string\{fiber\.MethodPost\}, path: "/models/:name/observations"`).MatchString(api) || !strings.Contains(api, "fiber.StatusCreated") {
		t.Errorf("the api no longer serves POST /models/:name/observations with 201")
	}
}

// fakeServices plays api and bayes for the script: the api records the
// observations; bayes answers 404 for a model it has not applied yet, and
// applies a recorded observation only after lag more reads.
type fakeServices struct {
	mu      sync.Mutex
	apiCode int
	lag     int
	w, n    int64 // applied
	queued  int64 // recorded, not yet applied
	exists  bool
	reads   int
	badPost string
	// token, when set, is the token the api wants (401 otherwise).
	token string
}

func (f *fakeServices) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/models/helm-test-7/observations":
		body, _ := io.ReadAll(r.Body)
		if ct := r.Header.Get("Content-Type"); ct != "application/json" || string(body) != `{"w":1,"l":0}` {
			f.badPost = ct + " " + string(body)
		}
		if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
			w.Header().Set("WWW-Authenticate", `Bearer realm="event-driven-bayes"`)
			writeProblem(w, http.StatusUnauthorized, "this endpoint needs an API token")
			return
		}
		if f.apiCode != http.StatusCreated {
			writeProblem(w, f.apiCode, "unavailable")
			return
		}
		f.queued++
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"1-0","model":"helm-test-7","w":1,"l":0,"stream":"update_model"}`)
	case r.Method == http.MethodGet && r.URL.Path == "/models/helm-test-7":
		f.reads++
		if f.queued > 0 && f.reads > f.lag {
			f.w, f.n, f.queued, f.exists = f.w+f.queued, f.n+f.queued, 0, true
		}
		if !f.exists {
			writeProblem(w, http.StatusNotFound, "model helm-test-7 not found")
			return
		}
		// The field order of bayes' httpapi.ModelResponse (TestHelmTestMatchesSources).
		_ = json.NewEncoder(w).Encode(struct {
			Name       string    `json:"name"`
			W          int64     `json:"w"`
			N          int64     `json:"n"`
			PriorSpec  string    `json:"prior_spec"`
			GridPoints int       `json:"grid_points"`
			Grid       []float64 `json:"grid"`
		}{"helm-test-7", f.w, f.n, "step:0.1", 3, []float64{0, 0.5, 1}})
	default:
		writeProblem(w, http.StatusNotFound, "no route")
	}
}

// writeProblem answers as both services answer an error: a problem details
// object (RFC 9457) that keeps the original's "error" member.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
		Error  string `json:"error"`
	}{"about:blank", http.StatusText(status), status, detail, detail})
}

// The rendered script, run by busybox (the shell and wget of the Redis
// alpine image) against a fake api and bayes.
func TestHelmTestScriptRuns(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed: the script is not run")
	}
	// Only busybox's applets on PATH, as in the image.
	bin := t.TempDir()
	for _, applet := range []string{"sh", "wget", "timeout", "sed", "cut", "sleep", "awk"} {
		if err := os.Symlink(busybox, filepath.Join(bin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	pod := smokeTest(t, render(t, renderOpts{}))
	script := pod.Spec.Containers[0].Args[0]

	// tokensFile, when not empty, is the api's tokens file the script reads.
	run := func(t *testing.T, f *fakeServices, tokensFile ...string) (string, error) {
		srv := httptest.NewServer(f)
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, busybox, "sh", "-c", script)
		cmd.Env = []string{"PATH=" + bin, "API=" + srv.URL, "BAYES=" + srv.URL, "MODEL=helm-test-7"}
		if len(tokensFile) > 0 {
			p := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(p, []byte(tokensFile[0]), 0o444); err != nil {
				t.Fatal(err)
			}
			cmd.Env = append(cmd.Env, "TOKENS_FILE="+p)
		}
		out, err := cmd.CombinedOutput()
		t.Logf("script output:\n%s", out)
		if f.badPost != "" {
			t.Errorf("the script posted %q, want Content-Type application/json and {\"w\":1,\"l\":0}", f.badPost)
		}
		return string(out), err
	}
	t.Run("counted after a delay", func(t *testing.T) {
		out, err := run(t, &fakeServices{apiCode: http.StatusCreated, lag: 2})
		if err != nil || !strings.Contains(out, "PASS") || !strings.Contains(out, `"w":1,"n":1,`) {
			t.Errorf("err = %v, want PASS showing what bayes answered", err)
		}
	})
	t.Run("a rerun on the same revision", func(t *testing.T) {
		out, err := run(t, &fakeServices{apiCode: http.StatusCreated, exists: true, w: 1, n: 1})
		if err != nil || !strings.Contains(out, `"w":2,"n":2,`) {
			t.Errorf("err = %v, want PASS on one more of each", err)
		}
	})
	t.Run("with the first observe token of the api's file", func(t *testing.T) {
		const tok = "observe-token-0123456789"
		file := "# tokens\nreader define define-token-0123456789\n  # indented comment\nci observe,define " + tok + "\nadmin observe,define,admin admin-token-0123456789\n"
		out, err := run(t, &fakeServices{apiCode: http.StatusCreated, token: tok}, file)
		if err != nil || !strings.Contains(out, "PASS") {
			t.Errorf("err = %v, want PASS with the ci token", err)
		}
	})
	t.Run("with the chart's generated file", func(t *testing.T) {
		tok := strings.Repeat("Ab3", 13) + "x"
		out, err := run(t, &fakeServices{apiCode: http.StatusCreated, token: tok}, "admin observe,define,admin "+tok+"\n")
		if err != nil || !strings.Contains(out, "PASS") {
			t.Errorf("err = %v, want PASS with the admin token", err)
		}
	})
	t.Run("no observe token", func(t *testing.T) {
		out, err := run(t, &fakeServices{apiCode: http.StatusCreated, token: "x"}, "reader define define-token-0123456789\n")
		if err == nil || !strings.Contains(out, "FAIL: no token with the observe scope") {
			t.Errorf("err = %v, want a failed run saying no token has the observe scope", err)
		}
	})
	t.Run("the api refuses the token", func(t *testing.T) {
		out, err := run(t, &fakeServices{apiCode: http.StatusCreated, token: "another-token-0123456789"}, "ci observe some-token-0123456789\n")
		if err == nil || !strings.Contains(out, "FAIL") {
			t.Errorf("err = %v, want a failed run saying FAIL", err)
		}
	})
	t.Run("the api refuses", func(t *testing.T) {
		out, err := run(t, &fakeServices{apiCode: http.StatusServiceUnavailable})
		if err == nil || !strings.Contains(out, "FAIL") {
			t.Errorf("err = %v, want a failed run saying FAIL", err)
		}
	})
}
