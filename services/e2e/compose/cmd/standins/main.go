// Command standins prints the three base images to build and run the
// project's images from, making local stand-ins (package standin) for those
// the environment does not name, on a machine that cannot reach a registry:
//
//	$ go run ./cmd/standins
//	GO_IMAGE=edb-standin/golang:go1.26.8-v1
//	RUNTIME_IMAGE=edb-standin/distroless-static:nonroot-v1
//	REDIS_IMAGE=edb-standin/redis:7.0.15-v1
//
// Those three lines are all that goes to stdout, unquoted (each value is
// checked to be an image reference, which needs no quoting), so a shell or
// make can take them as they are:
//
//	env $(go run ./cmd/standins) docker compose build
//	set -a; eval "$(go run ./cmd/standins)"; set +a
//
// Progress goes to stderr. GO_IMAGE, RUNTIME_IMAGE or REDIS_IMAGE, when set,
// is printed as it is and nothing is made for it.
//
// -tag-redis NAME also tags the Redis image as NAME, for a consumer that
// asks for a fixed public name: the kind test's chart wants
// docker.io/library/redis:7.4.6-alpine, which cannot be pulled here.
//
// Exit status: 0 done, 1 an image could not be made or tagged, 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/event-driven-bayes/event-driven-bayes/services/e2e/compose/standin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command with its surroundings as arguments, for the tests; it
// returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("standins", flag.ContinueOnError)
	fl.SetOutput(stderr)
	tagRedis := fl.String("tag-redis", "", "also tag the Redis image as `NAME` (docker tag)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: standins [-tag-redis NAME]\n\n"+
			"Prints GO_IMAGE=, RUNTIME_IMAGE= and REDIS_IMAGE= lines on stdout: the environment's\n"+
			"images where set, local stand-ins (made with docker import if missing) otherwise.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 || isFlagSetEmpty(fl, "tag-redis", *tagRedis) {
		fl.Usage()
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := standins(ctx, log, getenv, *tagRedis, stdout); err != nil {
		log.Error("standins failed", "err", err)
		return 1
	}
	return 0
}

// standins makes the images, tags Redis when asked, and prints the lines.
func standins(ctx context.Context, log *slog.Logger, getenv func(string) string, tagRedis string, stdout io.Writer) error {
	have := standin.FromEnv(getenv)
	// Checked first too, so a bad variable stops the command before a
	// minute of importing.
	if err := checkPrintable(have); err != nil {
		return err
	}
	imgs, err := standin.Ensure(ctx, log, have)
	if err != nil {
		return err
	}
	if err := checkPrintable(imgs); err != nil {
		return err
	}
	if tagRedis != "" {
		if err := standin.Tag(ctx, imgs.Redis, tagRedis); err != nil {
			return err
		}
		log.Info("redis tagged", "image", imgs.Redis, "as", tagRedis)
	}
	for _, line := range imgs.Env() {
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			return fmt.Errorf("writing the images: %w", err)
		}
	}
	return nil
}

// imageRef is what a printed value may hold: the characters of an image
// reference, none of which a shell or make would treat specially.
var imageRef = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@-]*$`)

// checkPrintable rejects a value that the KEY=VALUE lines would carry into
// an eval as something other than one word; empty values are not checked.
func checkPrintable(imgs standin.Images) error {
	for _, kv := range imgs.Env() {
		name, v, _ := strings.Cut(kv, "=")
		if v != "" && !imageRef.MatchString(v) {
			return fmt.Errorf("%s=%q is not an image reference (letters, digits and . _ / : @ - only)", name, v)
		}
	}
	return nil
}

// isFlagSetEmpty reports whether the flag name was given with an empty
// value, which would silently tag nothing.
func isFlagSetEmpty(fl *flag.FlagSet, name, value string) bool {
	set := false
	fl.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set && value == ""
}
