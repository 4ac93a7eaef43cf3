package kindtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// images are the references the chart is installed with.
type images struct {
	tag   string // api and bayes
	redis string // the chart's default redis image, here a stand-in
}

// buildImages builds api and bayes from the repository's Dockerfiles on the
// stand-in base images the compose test also uses (no registry here), tags
// the Redis stand-in (Debian's redis-server) as the chart's default Redis
// image, and loads all three into the cluster.
func (c *cluster) buildImages(t *testing.T) images {
	t.Helper()
	start := time.Now()
	compose := filepath.Join(c.repo, "services", "e2e", "compose")
	redis := chartRedisImage(t, c.repo)
	out := c.runIn(t, compose, 20*time.Minute, "go", "run", "./cmd/standins", "-tag-redis", redis)
	base := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			base[k] = v
		}
	}
	if base["GO_IMAGE"] == "" || base["RUNTIME_IMAGE"] == "" {
		t.Fatalf("cmd/standins printed no GO_IMAGE/RUNTIME_IMAGE:\n%s", out)
	}
	img := images{tag: "e2e-" + time.Now().UTC().Format("20060102150405"), redis: redis}
	c.untagAfter(t, img.tag)
	for _, svc := range []string{"api", "bayes"} {
		c.run(t, 20*time.Minute, "docker", "build", "--network", "host",
			"-f", "Dockerfile."+svc,
			"--build-arg", "GO_IMAGE="+base["GO_IMAGE"], "--build-arg", "RUNTIME_IMAGE="+base["RUNTIME_IMAGE"],
			"-t", "event-driven-bayes-"+svc+":"+img.tag, ".")
	}
	c.load(t, "event-driven-bayes-api:"+img.tag, "event-driven-bayes-bayes:"+img.tag, redis)
	t.Logf("images built and loaded in %s: event-driven-bayes-{api,bayes}:%s, %s", time.Since(start).Round(time.Second), img.tag, redis)
	return img
}

// retag gives api and bayes a new tag (the same image) and loads it, so a
// helm upgrade to it rolls every api and bayes pod.
func (c *cluster) retag(t *testing.T, img images, tag string) images {
	t.Helper()
	for _, svc := range []string{"api", "bayes"} {
		c.run(t, time.Minute, "docker", "tag", "event-driven-bayes-"+svc+":"+img.tag, "event-driven-bayes-"+svc+":"+tag)
	}
	c.untagAfter(t, tag)
	c.load(t, "event-driven-bayes-api:"+tag, "event-driven-bayes-bayes:"+tag)
	img.tag = tag
	return img
}

// untagAfter removes the api and bayes images of tag from the host's Docker
// when the test ends: the cluster's node keeps its own copy, and every run's
// tag is new, so without this each run would leave its images behind.
func (c *cluster) untagAfter(t *testing.T, tag string) {
	t.Cleanup(func() {
		if out, err := c.try(time.Minute, "docker", "image", "rm",
			"event-driven-bayes-api:"+tag, "event-driven-bayes-bayes:"+tag); err != nil {
			t.Logf("images of tag %s not removed: %v\n%s", tag, err, out)
		}
	})
}

func (c *cluster) load(t *testing.T, refs ...string) {
	t.Helper()
	c.run(t, 10*time.Minute, c.kindBin, append([]string{"load", "docker-image", "--name", c.name}, refs...)...)
}

var redisImageRe = regexp.MustCompile(`(?m)^redis:\n(?:[ #].*\n)*?  image:\n    repository: (\S+)\n    tag: (\S+)`)

// chartRedisImage is redis.image.repository:tag from the chart's values.
func chartRedisImage(t *testing.T, repo string) string {
	t.Helper()
	values, err := os.ReadFile(filepath.Join(repo, "charts", "event-driven-bayes", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := redisImageRe.FindSubmatch(values)
	if m == nil {
		t.Fatal("values.yaml: redis.image.repository and tag not found")
	}
	return string(m[1]) + ":" + strings.Trim(string(m[2]), `"`)
}
