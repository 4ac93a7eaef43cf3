// Command healthcheck is the container health check of the api and bayes
// images. Their runtime image (distroless static) has no shell, curl or
// wget, so this static binary is copied next to each service and run by the
// compose health check: it GETs one endpoint of the service in the same
// container and exits 0 on a 2xx answer, 1 otherwise.
//
// Usage: healthcheck PATH, e.g. `healthcheck /readyz`. The port is the
// container's PORT variable, the one the service itself listens on, so the
// check follows a changed PORT without being edited.
//
// It speaks just enough HTTP/1.0 over package net rather than using
// net/http: the binary is about 2 MB instead of 6 MB, in every image. It
// imports only the standard library and is built as a single file (`go
// build main.go`), so the Dockerfiles need nothing else of this module.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// timeout is below the compose file's health check timeout (3s), so the
// check reports its own error rather than being killed.
const timeout = 2 * time.Second

func main() {
	if len(os.Args) != 2 || !strings.HasPrefix(os.Args[1], "/") {
		fmt.Fprintln(os.Stderr, "usage: healthcheck /path (the port is $PORT)")
		os.Exit(2)
	}
	port := os.Getenv("PORT")
	if port == "" {
		fmt.Fprintln(os.Stderr, "healthcheck: PORT is not set")
		os.Exit(2)
	}
	if err := check(net.JoinHostPort("127.0.0.1", port), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// check sends GET path to addr and wants a 2xx status line back.
func check(addr, path string) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: healthcheck\r\n\r\n", path); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("GET %s: reading the status line: %w", path, err)
	}
	// "HTTP/1.1 200 OK"
	f := strings.Fields(status)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") || len(f[1]) != 3 || f[1][0] != '2' {
		return fmt.Errorf("GET %s: %s", path, strings.TrimSpace(status))
	}
	return nil
}
