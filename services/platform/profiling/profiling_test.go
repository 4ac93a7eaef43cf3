package profiling_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/profiling"
)

func TestCheckAddr(t *testing.T) {
	for _, ok := range []string{"", "127.0.0.1:6060", "127.1.2.3:0", "[::1]:6060", "localhost:6060"} {
		if err := profiling.CheckAddr(ok); err != nil {
			t.Errorf("CheckAddr(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "[::]:6060", "10.0.0.1:6060", "example.com:6060", "127.0.0.1", "127.0.0.1:"} {
		if err := profiling.CheckAddr(bad); err == nil {
			t.Errorf("CheckAddr(%q) = nil, want an error", bad)
		}
	}
}

func TestServeRefusesAnAddressOffLoopback(t *testing.T) {
	if _, err := profiling.Serve(context.Background(), "0.0.0.0:0", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Serve on 0.0.0.0 succeeded")
	}
}

func TestServeAnswersACPUProfileAndStops(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := profiling.Serve(ctx, addr, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + addr + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A profile is gzip-compressed protobuf.
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		t.Fatalf("CPU profile: %d, %d bytes starting %q", resp.StatusCode, len(body), body[:min(len(body), 16)])
	}
	cancel()
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not stop 10s after its context ended")
	}
	client.CloseIdleConnections()
	if _, err := client.Get("http://" + addr + "/debug/pprof/"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("after stop: %v, want connection refused", err)
	}
}
