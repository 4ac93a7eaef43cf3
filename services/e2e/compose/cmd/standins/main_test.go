package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The images of the environment: with all three set, nothing is made and
// the tests need no Docker.
var given = map[string]string{
	"GO_IMAGE":      "golang:1.26-bookworm",
	"RUNTIME_IMAGE": "gcr.io/distroless/static-debian12:nonroot",
	"REDIS_IMAGE":   "redis:7.4-bookworm",
}

// fakeDocker makes PATH a folder whose only command is a docker script that
// appends its arguments to the returned log and succeeds.
func fakeDocker(t *testing.T) (calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls.log")
	script := "#!/bin/sh\necho \"docker $*\" >> '" + calls + "'\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return calls
}

func runWith(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestOutputIsThreeVariableLines: stdout is exactly the three KEY=VALUE
// lines, in a fixed order, ready for env, eval or make's include.
func TestOutputIsThreeVariableLines(t *testing.T) {
	fakeDocker(t)
	code, stdout, stderr := runWith(t, given)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "GO_IMAGE=golang:1.26-bookworm\n" +
		"RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot\n" +
		"REDIS_IMAGE=redis:7.4-bookworm\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

// TestTagRedis: -tag-redis tags the printed Redis image as NAME, and the
// output stays the same three lines.
func TestTagRedis(t *testing.T) {
	calls := fakeDocker(t)
	const name = "docker.io/library/redis:7.4.6-alpine"
	code, stdout, stderr := runWith(t, given, "-tag-redis", name)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), "docker tag redis:7.4-bookworm "+name; got != want {
		t.Errorf("docker calls %q, want %q", got, want)
	}
	if n := strings.Count(stdout, "\n"); n != 3 || !strings.HasPrefix(stdout, "GO_IMAGE=") {
		t.Errorf("stdout with -tag-redis:\n%s", stdout)
	}
}

// TestRejectsBadUsageAndValues: nothing goes to stdout when the command
// fails, so an eval of its output sets nothing.
func TestRejectsBadUsageAndValues(t *testing.T) {
	fakeDocker(t)
	unsafe := map[string]string{}
	for k, v := range given {
		unsafe[k] = v
	}
	unsafe["GO_IMAGE"] = "golang; rm -rf ~"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
	}{
		{"unknown flag", given, []string{"-push"}, 2},
		{"argument", given, []string{"redis"}, 2},
		{"empty tag name", given, []string{"-tag-redis", ""}, 2},
		{"value a shell would split", unsafe, nil, 1},
	} {
		code, stdout, stderr := runWith(t, tc.env, tc.args...)
		if code != tc.code || stdout != "" {
			t.Errorf("%s: exit %d, stdout %q; want exit %d and no output (stderr: %s)", tc.name, code, stdout, tc.code, stderr)
		}
		if tc.code == 1 && !strings.Contains(stderr, "GO_IMAGE=") {
			t.Errorf("%s: the error does not name the variable: %s", tc.name, stderr)
		}
	}
	if code, _, stderr := runWith(t, given, "-h"); code != 0 || !strings.Contains(stderr, "-tag-redis NAME") {
		t.Errorf("-h: exit %d, usage without -tag-redis NAME:\n%s", code, stderr)
	}
}
