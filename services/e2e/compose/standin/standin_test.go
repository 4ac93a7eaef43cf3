package standin_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/e2e/compose/standin"
)

// These tests put small shell scripts named docker and redis-server first
// on PATH instead of the real ones, so they need no Docker engine and
// import nothing; TestComposeStack makes the stand-ins for real.

// fakeTools makes PATH a folder holding the given scripts (name to body of
// a /bin/sh script), each appending its name and arguments to the returned
// log file.
func fakeTools(t *testing.T, scripts map[string]string) (calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls.log")
	for name, body := range scripts {
		script := "#!/bin/sh\necho \"" + name + " $*\" >> '" + calls + "'\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	return calls
}

// readCalls is the commands the scripts ran, one a line.
func readCalls(t *testing.T, calls string) []string {
	t.Helper()
	b, err := os.ReadFile(calls)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestEnsureReusesPresentStandins: with every stand-in already in Docker,
// Ensure only asks for them, by names that say what went into them.
func TestEnsureReusesPresentStandins(t *testing.T) {
	calls := fakeTools(t, map[string]string{
		"docker":       "exit 0",
		"redis-server": "echo 'Redis server v=7.4.6 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64'",
	})
	var logs bytes.Buffer
	got, err := standin.Ensure(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)), standin.Images{})
	if err != nil {
		t.Fatal(err)
	}
	want := standin.Images{
		Go:      "edb-standin/golang:" + runtime.Version() + "-v1",
		Runtime: "edb-standin/distroless-static:nonroot-v1",
		Redis:   "edb-standin/redis:7.4.6-v1",
	}
	if got != want {
		t.Errorf("Ensure = %+v, want %+v", got, want)
	}
	wantCalls := []string{
		"docker image inspect " + want.Go,
		"docker image inspect " + want.Runtime,
		"redis-server --version",
		"docker image inspect " + want.Redis,
	}
	if c := readCalls(t, calls); !slices.Equal(c, wantCalls) {
		t.Errorf("commands run:\n%s\nwant:\n%s", strings.Join(c, "\n"), strings.Join(wantCalls, "\n"))
	}
	if n := strings.Count(logs.String(), "stand-in present"); n != 3 {
		t.Errorf("logged %d × stand-in present, want 3:\n%s", n, &logs)
	}
}

// TestEnsureKeepsImagesGiven: images named in the environment are used as
// they are, without a single docker command (PATH holds none).
func TestEnsureKeepsImagesGiven(t *testing.T) {
	calls := fakeTools(t, nil)
	env := map[string]string{
		"GO_IMAGE":      "golang:1.26-bookworm",
		"RUNTIME_IMAGE": "gcr.io/distroless/static-debian12:nonroot",
		"REDIS_IMAGE":   "redis:7.4-bookworm",
	}
	have := standin.FromEnv(func(k string) string { return env[k] })
	got, err := standin.Ensure(context.Background(), nil, have)
	if err != nil {
		t.Fatal(err)
	}
	if got != have || got.Go != env["GO_IMAGE"] || got.Runtime != env["RUNTIME_IMAGE"] || got.Redis != env["REDIS_IMAGE"] {
		t.Errorf("Ensure(%+v) = %+v", have, got)
	}
	if c := readCalls(t, calls); len(c) != 0 {
		t.Errorf("commands run: %q, want none", c)
	}
	wantEnv := "GO_IMAGE=golang:1.26-bookworm RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot REDIS_IMAGE=redis:7.4-bookworm"
	if e := strings.Join(got.Env(), " "); e != wantEnv {
		t.Errorf("Env() = %s, want %s", e, wantEnv)
	}
}

// TestEnsureReportsFailedImport: when docker import gives up before reading
// its input (no engine), Ensure returns its message instead of blocking on
// the tar stream it was writing.
func TestEnsureReportsFailedImport(t *testing.T) {
	fakeTools(t, map[string]string{
		"docker": `case "$1" in import) echo 'Cannot connect to the Docker daemon' >&2; exit 1;; esac; exit 1`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := standin.Ensure(ctx, nil, standin.Images{Runtime: "r", Redis: "r"})
	if err == nil {
		t.Fatal("Ensure succeeded with a failing docker import")
	}
	for _, want := range []string{"making stand-in edb-standin/golang:", "docker import: exit status 1", "Cannot connect to the Docker daemon"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if ctx.Err() != nil {
		t.Errorf("Ensure returned only when its context ended: %v", err)
	}
}
