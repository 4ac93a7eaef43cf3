// Package profiling serves Go's runtime profiles (net/http/pprof) on a
// listener of their own, opt in and on loopback only, so an operator can
// take a CPU profile of a running service without the profiles ever being
// reachable from its public port.
package profiling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// CheckAddr reports why addr cannot be the profiling listener's address:
// it must be host:port with a loopback host (127.0.0.1, ::1 or localhost).
// The empty address (profiling off) is valid.
func CheckAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return errors.New("host:port, e.g. 127.0.0.1:6060")
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("a loopback address (127.0.0.1:6060, [::1]:6060 or localhost:6060), not %q: profiles are for the operator, never for the network", host)
	}
	return nil
}

// Serve serves the pprof endpoints under /debug/pprof/ on addr until ctx
// ends, on a goroutine of its own; the returned func waits for that
// goroutine to stop. An empty addr serves nothing. A failure to listen is
// returned, so a taken port stops the service at start-up.
func Serve(ctx context.Context, addr string, logger *slog.Logger) (wait func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if err := CheckAddr(addr); err != nil {
		return nil, fmt.Errorf("profiling address: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s (PPROF_ADDR): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile or trace answers after the seconds
	// it was asked to record.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("profiling listener failed", slog.Any("err", err))
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = srv.Close()
		case <-done:
		}
	}()
	logger.Info("serving profiles", slog.String("addr", ln.Addr().String()), slog.String("path", "/debug/pprof/"))
	return func() { <-done }, nil
}
