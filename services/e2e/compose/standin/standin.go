// Package standin makes local stand-ins for the three public base images
// the project's images build from, for a machine that cannot reach a
// container registry: the compose stack test, and any other test or script
// that must build or run the images there (cmd/standins prints their names).
//
// Each stand-in is made with `docker import` from files the host already
// has, and tagged with what went into it, so a later run reuses it:
//
//   - golang (edb-standin/golang:<go version>-v1): the host's Go tree at
//     /usr/local/go, busybox (for RUN's /bin/sh) and the CA bundle, so
//     `go mod download` verifies TLS.
//   - distroless static :nonroot (edb-standin/distroless-static:nonroot-v1):
//     only its file layout (passwd and group with nonroot 65532,
//     /home/nonroot, /tmp, the CA bundle), user 65532.
//   - redis (edb-standin/redis:<redis version>-v1): Debian's redis-server and
//     redis-cli with every library ldd lists, busybox (the health check's sh
//     and grep, graphs-init's chmod).
//
// The host needs Docker, Go, busybox-static and redis-server. A machine with
// registry access skips the stand-ins by setting GO_IMAGE, RUNTIME_IMAGE and
// REDIS_IMAGE to the real images (see FromEnv).
package standin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// version changes whenever a layout in this package changes, so old tags
// are not reused.
const version = "v1"

// Images are the base images docker-compose.yml and the Dockerfiles take as
// build arguments and service images.
type Images struct {
	Go      string // GO_IMAGE: the build stage, a Go toolchain with a shell
	Runtime string // RUNTIME_IMAGE: the final stage, distroless static :nonroot
	Redis   string // REDIS_IMAGE: Redis, with a shell for its health check
}

// FromEnv is the images the environment names in GO_IMAGE, RUNTIME_IMAGE and
// REDIS_IMAGE; each unset one is empty, for Ensure to fill with a stand-in.
func FromEnv(getenv func(string) string) Images {
	return Images{Go: getenv("GO_IMAGE"), Runtime: getenv("RUNTIME_IMAGE"), Redis: getenv("REDIS_IMAGE")}
}

// Env is the images as the variables docker-compose.yml reads, in the order
// GO_IMAGE, RUNTIME_IMAGE, REDIS_IMAGE.
func (i Images) Env() []string {
	return []string{"GO_IMAGE=" + i.Go, "RUNTIME_IMAGE=" + i.Runtime, "REDIS_IMAGE=" + i.Redis}
}

// Ensure returns have with each empty image replaced by its stand-in,
// imported first unless Docker already has it; the images have names of
// their own are used as they are. The usual call is
//
//	imgs, err := standin.Ensure(ctx, log, standin.FromEnv(os.Getenv))
//
// Progress (present, importing, imported) goes to log; a nil log discards
// it. A first import of the Go stand-in streams the host's whole Go tree
// and takes a minute or so.
func Ensure(ctx context.Context, log *slog.Logger, have Images) (Images, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	imgs := have
	var err error
	if imgs.Go == "" {
		imgs.Go, err = ensureImage(ctx, log, "edb-standin/golang:"+runtime.Version()+"-"+version, goRootfs,
			"ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/bin:/usr/bin:/bin", "ENV GOPATH=/go",
			"ENV GOTOOLCHAIN=local", "WORKDIR /go")
		if err != nil {
			return Images{}, err
		}
	}
	if imgs.Runtime == "" {
		imgs.Runtime, err = ensureImage(ctx, log, "edb-standin/distroless-static:nonroot-"+version, runtimeRootfs,
			"USER 65532:65532", "WORKDIR /home/nonroot")
		if err != nil {
			return Images{}, err
		}
	}
	if imgs.Redis == "" {
		var v string
		if v, err = redisVersion(ctx); err != nil {
			return Images{}, err
		}
		imgs.Redis, err = ensureImage(ctx, log, "edb-standin/redis:"+v+"-"+version, redisRootfs,
			"ENV PATH=/usr/local/bin:/usr/bin:/bin", "WORKDIR /data", `CMD ["redis-server"]`)
		if err != nil {
			return Images{}, err
		}
	}
	return imgs, nil
}

// Tag gives image a second name with `docker tag`, for a consumer that asks
// for a fixed public name (a chart's redis image, say) that cannot be pulled
// here.
func Tag(ctx context.Context, image, name string) error {
	out, err := exec.CommandContext(ctx, "docker", "tag", image, name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker tag %s %s: %w: %s", image, name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ensureImage imports the rootfs written by fill as tag, unless tag exists.
func ensureImage(ctx context.Context, log *slog.Logger, tag string, fill func(context.Context, *rootfs) error, changes ...string) (string, error) {
	if exec.CommandContext(ctx, "docker", "image", "inspect", tag).Run() == nil {
		log.Info("stand-in present", "image", tag)
		return tag, nil
	}
	log.Info("stand-in missing, importing it", "image", tag)
	start := time.Now()
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", tag)
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	// The OS pipe itself, not an io.Pipe: when docker exits early (no
	// engine, a full disk) the next write fails instead of blocking forever.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", fmt.Errorf("docker import %s: %w", tag, err)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("docker import %s: %w", tag, err)
	}
	pipe := &recordingWriter{w: stdin}
	root := newRootfs(pipe)
	ferr := fill(ctx, root)
	if ferr == nil {
		ferr = root.close()
	}
	if ferr != nil && pipe.err == nil {
		// This side failed (a host file missing, say): docker is killed
		// before it sees the end of its input, so a half-written tree is
		// never imported under a tag a later run would reuse.
		_ = cmd.Process.Kill()
	}
	_ = stdin.Close()
	werr := cmd.Wait()
	if werr != nil {
		werr = fmt.Errorf("docker import: %w", werr)
		if pipe.err != nil {
			// docker stopped reading (no engine, a full disk): its own
			// failure and message say why, the broken pipe nothing more.
			ferr = nil
		}
	}
	if err := errors.Join(ferr, werr); err != nil {
		return "", fmt.Errorf("making stand-in %s: %w\n%s", tag, err, strings.TrimSpace(out.String()))
	}
	log.Info("stand-in imported", "image", tag, "took", time.Since(start).Round(100*time.Millisecond).String())
	return tag, nil
}

// recordingWriter keeps the first error of writing to docker, which tells
// a failure of docker's apart from one of the files being written.
type recordingWriter struct {
	w   io.Writer
	err error
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}
