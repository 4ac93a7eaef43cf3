// Command capshim is an OCI runtime to register in place of runc (dockerd
// --add-runtime, or containerd's runc BinaryName) on machines that cannot
// grant a privileged container every capability. It rewrites the spec as
// package capshim describes, then replaces itself with the real runc, so
// every other runc behaviour, exit code and output is runc's own.
//
// `capshim --capshim-missing` prints the capabilities it would remove.
//
// The real runc is the first of CAPSHIM_RUNC, /usr/sbin/runc, /usr/bin/runc,
// /usr/local/sbin/runc that exists.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/event-driven-bayes/event-driven-bayes/k8s/node/capshim"
)

func main() {
	// Not a runc command: engine.sh asks what would be removed, to say so.
	if len(os.Args) == 2 && os.Args[1] == "--capshim-missing" {
		limits, err := capshim.ReadLimits()
		if err != nil {
			fail(err)
		}
		fmt.Println(strings.Join(limits.Missing(), " "))
		return
	}
	runc, err := realRunc()
	if err != nil {
		fail(err)
	}
	if err := fix(os.Args[1:]); err != nil {
		fail(err)
	}
	if err := syscall.Exec(runc, append([]string{"runc"}, os.Args[1:]...), os.Environ()); err != nil {
		fail(fmt.Errorf("exec %s: %w", runc, err))
	}
}

func fix(args []string) error {
	_, t := capshim.Parse(args)
	if t.Bundle == "" && t.Process == "" {
		return nil
	}
	limits, err := capshim.ReadLimits()
	if err != nil {
		return err
	}
	if t.Bundle != "" {
		_, err = capshim.FixBundleSpec(filepath.Join(t.Bundle, "config.json"), limits)
	} else {
		_, err = capshim.FixProcessFile(t.Process, limits)
	}
	return err
}

func realRunc() (string, error) {
	candidates := []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"}
	if env := os.Getenv("CAPSHIM_RUNC"); env != "" {
		candidates = []string{env}
	}
	self, _ := os.Executable()
	for _, c := range candidates {
		if info, err := os.Stat(c); err == nil && !info.IsDir() {
			if resolved, _ := filepath.EvalSymlinks(c); resolved != "" && resolved == self {
				continue // never exec ourselves
			}
			return c, nil
		}
	}
	return "", fmt.Errorf("no runc found at %v", candidates)
}

// fail reports on stderr, which dockerd and containerd show in the error of
// the container start, and exits as runc does on failure.
func fail(err error) {
	fmt.Fprintf(os.Stderr, "capshim: %v\n", err)
	os.Exit(1)
}
