package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// TestMain lets a test re-run this binary as the real program, so signal
// handling and exit codes are tested on an actual process.
func TestMain(m *testing.M) {
	if os.Getenv("API_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func command(env ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// A clean environment: only what the test sets, so a developer's own
	// REDIS_URL or PORT cannot leak in.
	cmd.Env = append([]string{"API_TEST_RUN_MAIN=1", "PATH=" + os.Getenv("PATH")}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

func TestSIGTERMExitsZero(t *testing.T) {
	srv := redistest.Start(t)
	port := strconv.Itoa(redistest.FreePort(t))
	cmd, out := command("REDIS_URL="+srv.URL(), "PORT="+port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get("http://127.0.0.1:" + port + "/update_model/w")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d, want 201", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("api did not answer within 10s: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond) // poll interval; the deadline bounds it
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("api still running 10s after SIGTERM\n%s", out)
	}
	logs := out.String()
	for _, want := range []string{`"msg":"listening"`, `"redis":"redis://127.0.0.1:`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

func TestInvalidConfigExitsNonZeroNamingTheVariable(t *testing.T) {
	cmd, out := command("PORT=abc", "REDIS_URL=redis://:hunter2@127.0.0.1:1/0")
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() == 0 {
		t.Fatalf("run with PORT=abc: %v, want a non-zero exit\n%s", err, out)
	}
	if !strings.Contains(out.String(), "PORT") {
		t.Errorf("output does not name PORT:\n%s", out)
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("output shows the Redis password:\n%s", out)
	}
}
