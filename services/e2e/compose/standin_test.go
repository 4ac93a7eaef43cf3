package compose_test

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Stand-ins for the three public base images, made on this machine with
// `docker import` from files the host already has, because no registry can
// be reached here. Each is tagged with what went into it, so a later run
// reuses it. A machine with registry access can skip them by setting
// GO_IMAGE, RUNTIME_IMAGE and REDIS_IMAGE to the real images.
//
//   - golang: the host's Go tree at /usr/local/go, busybox (for RUN's
//     /bin/sh) and the CA bundle, so `go mod download` verifies TLS.
//   - distroless static :nonroot: only its file layout (passwd and group
//     with nonroot 65532, /home/nonroot, /tmp, the CA bundle), user 65532.
//   - redis: Debian's redis-server and redis-cli with every library ldd
//     lists, busybox (the health check's sh and grep, graphs-init's chmod).

// standinVersion changes whenever the layout below changes, so old tags
// are not reused.
const standinVersion = "v1"

const caBundle = "/etc/ssl/certs/ca-certificates.crt"

type baseImages struct{ goImage, runtime, redis string }

// standinImages returns the base images to build with: the environment's
// GO_IMAGE, RUNTIME_IMAGE and REDIS_IMAGE where set, stand-ins otherwise.
func standinImages(ctx context.Context, t *testing.T) baseImages {
	t.Helper()
	imgs := baseImages{
		goImage: os.Getenv("GO_IMAGE"),
		runtime: os.Getenv("RUNTIME_IMAGE"),
		redis:   os.Getenv("REDIS_IMAGE"),
	}
	if imgs.goImage == "" {
		imgs.goImage = ensureImage(ctx, t, "edb-standin/golang:"+runtime.Version()+"-"+standinVersion, goRootfs,
			"ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/bin:/usr/bin:/bin", "ENV GOPATH=/go",
			"ENV GOTOOLCHAIN=local", "WORKDIR /go")
	}
	if imgs.runtime == "" {
		imgs.runtime = ensureImage(ctx, t, "edb-standin/distroless-static:nonroot-"+standinVersion, runtimeRootfs,
			"USER 65532:65532", "WORKDIR /home/nonroot")
	}
	if imgs.redis == "" {
		imgs.redis = ensureImage(ctx, t, "edb-standin/redis:"+redisVersion(ctx, t)+"-"+standinVersion, redisRootfs,
			"ENV PATH=/usr/local/bin:/usr/bin:/bin", "WORKDIR /data", `CMD ["redis-server"]`)
	}
	return imgs
}

// ensureImage imports the rootfs written by fill as tag, unless tag exists.
func ensureImage(ctx context.Context, t *testing.T, tag string, fill func(*rootfs) error, changes ...string) string {
	t.Helper()
	if exec.CommandContext(ctx, "docker", "image", "inspect", tag).Run() == nil {
		t.Logf("stand-in %s: present", tag)
		return tag
	}
	start := time.Now()
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", tag)
	cmd := exec.CommandContext(ctx, "docker", args...)
	pr, pw := io.Pipe()
	cmd.Stdin = pr
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("docker import %s: %v", tag, err)
	}
	root := newRootfs(pw)
	err := fill(root)
	if err == nil {
		err = root.close()
	}
	_ = pw.CloseWithError(err)
	werr := cmd.Wait()
	if err != nil || werr != nil {
		t.Fatalf("making stand-in %s: %v %v\n%s", tag, err, werr, out.String())
	}
	t.Logf("stand-in %s: imported in %s", tag, time.Since(start).Round(100*time.Millisecond))
	return tag
}

func goRootfs(root *rootfs) error {
	goroot := runtime.GOROOT()
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		goroot = strings.TrimSpace(string(out))
	}
	if err := root.tree("/usr/local/go", goroot); err != nil {
		return err
	}
	if err := busybox(root); err != nil {
		return err
	}
	for _, d := range []string{"/go", "/root"} {
		root.dir(d, 0o755, 0)
	}
	root.dir("/tmp", 0o1777, 0)
	root.content("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644)
	root.content("/etc/group", "root:x:0:\n", 0o644)
	return root.copyFile(caBundle, caBundle, 0o644)
}

func runtimeRootfs(root *rootfs) error {
	root.content("/etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n", 0o644)
	root.content("/etc/group", "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n", 0o644)
	root.dir("/root", 0o700, 0)
	root.dir("/home/nonroot", 0o700, 65532)
	root.dir("/tmp", 0o1777, 0)
	return root.copyFile(caBundle, caBundle, 0o644)
}

func redisRootfs(root *rootfs) error {
	for name, host := range map[string]string{"redis-server": "/usr/bin/redis-server", "redis-cli": "/usr/bin/redis-cli"} {
		// Debian's redis-server is a link to redis-check-rdb, which picks
		// its role from argv[0]: the real file under the server's name.
		if err := root.copyFile("/usr/local/bin/"+name, host, 0o755); err != nil {
			return err
		}
		libs, err := sharedLibs(host)
		if err != nil {
			return err
		}
		for _, lib := range libs {
			if err := root.copyFile(lib, lib, 0o755); err != nil {
				return err
			}
		}
	}
	if err := busybox(root); err != nil {
		return err
	}
	root.content("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nredis:x:999:999:redis:/data:/sbin/nologin\n", 0o644)
	root.content("/etc/group", "root:x:0:\nredis:x:999:\n", 0o644)
	root.dir("/data", 0o755, 0)
	root.dir("/tmp", 0o1777, 0)
	return nil
}

// busybox installs Debian's static busybox with a link per applet in /bin.
func busybox(root *rootfs) error {
	const bb = "/bin/busybox"
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w (apt-get install -y busybox-static)", bb, err)
	}
	// Copied without libraries, so it must be the static build.
	if ldd, err := exec.Command("ldd", bb).CombinedOutput(); err == nil && !strings.Contains(string(ldd), "not a dynamic") {
		return fmt.Errorf("%s is linked dynamically (apt-get install -y busybox-static):\n%s", bb, ldd)
	}
	if err := root.copyFile(bb, bb, 0o755); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			root.symlink("/bin/"+applet, "busybox")
		}
	}
	return nil
}

var lddPath = regexp.MustCompile(`(?m)(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibs are the libraries and the loader ldd lists for a binary.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s listed no libraries:\n%s", bin, out)
	}
	return libs, nil
}

func redisVersion(ctx context.Context, t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "redis-server", "--version").Output()
	if err != nil {
		t.Fatalf("redis-server --version: %v (apt-get install -y redis-server)", err)
	}
	m := regexp.MustCompile(`v=(\d+\.\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("redis-server --version: no version in %q", out)
	}
	return string(m[1])
}

// rootfs writes a root file system as a tar stream, creating each parent
// directory once, owned by root.
type rootfs struct {
	tw    *tar.Writer
	seen  map[string]bool
	err   error
	mtime time.Time
}

func newRootfs(w io.Writer) *rootfs {
	return &rootfs{tw: tar.NewWriter(w), seen: map[string]bool{}, mtime: time.Unix(0, 0)}
}

func (r *rootfs) write(h *tar.Header, body io.Reader) {
	if r.err != nil || r.seen[h.Name] {
		return
	}
	r.parents(h.Name)
	r.seen[h.Name] = true
	h.Name = strings.TrimPrefix(h.Name, "/")
	if h.Typeflag == tar.TypeDir {
		h.Name += "/"
	}
	h.ModTime = r.mtime
	h.Format = tar.FormatPAX
	if r.err = r.tw.WriteHeader(h); r.err == nil && body != nil {
		_, r.err = io.Copy(r.tw, body)
	}
}

func (r *rootfs) parents(name string) {
	for p := path.Dir(name); p != "/" && !r.seen[p]; p = path.Dir(p) {
		defer r.dir(p, 0o755, 0) // outermost first
	}
}

func (r *rootfs) dir(name string, mode int64, uid int) {
	r.write(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: uid, Gid: uid}, nil)
}

func (r *rootfs) symlink(name, target string) {
	r.write(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}, nil)
}

func (r *rootfs) content(name, body string, mode int64) {
	r.write(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))}, strings.NewReader(body))
}

// copyFile writes the host file at src (links followed) as name.
func (r *rootfs) copyFile(name, src string, mode int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	r.write(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: st.Size()}, f)
	return r.err
}

// tree copies the host directory src to name, keeping modes and links.
func (r *rootfs) tree(name, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := path.Join(name, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := int64(info.Mode().Perm())
		switch {
		case d.IsDir():
			r.dir(dst, mode, 0)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			r.symlink(dst, target)
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			r.write(&tar.Header{Typeflag: tar.TypeReg, Name: dst, Mode: mode, Size: info.Size()}, f)
			f.Close()
		}
		return r.err
	})
}

func (r *rootfs) close() error {
	if r.err != nil {
		return r.err
	}
	return r.tw.Close()
}
