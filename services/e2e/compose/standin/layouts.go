package standin

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
)

const caBundle = "/etc/ssl/certs/ca-certificates.crt"

// goRootfs is the golang stand-in: the host's Go tree, busybox and the CA
// bundle.
func goRootfs(ctx context.Context, root *rootfs) error {
	goroot := runtime.GOROOT()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output(); err == nil {
		goroot = strings.TrimSpace(string(out))
	}
	if err := root.tree("/usr/local/go", goroot); err != nil {
		return fmt.Errorf("copying the Go tree %s: %w", goroot, err)
	}
	if err := busybox(ctx, root); err != nil {
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

// runtimeRootfs is the distroless static :nonroot stand-in: its users, home
// and temporary folders and the CA bundle, nothing to run.
func runtimeRootfs(_ context.Context, root *rootfs) error {
	root.content("/etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n", 0o644)
	root.content("/etc/group", "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n", 0o644)
	root.dir("/root", 0o700, 0)
	root.dir("/home/nonroot", 0o700, 65532)
	root.dir("/tmp", 0o1777, 0)
	return root.copyFile(caBundle, caBundle, 0o644)
}

// redisRootfs is the redis stand-in: Debian's redis-server and redis-cli
// with their libraries, and busybox.
func redisRootfs(ctx context.Context, root *rootfs) error {
	for _, bin := range []struct{ name, host string }{
		{"redis-server", "/usr/bin/redis-server"},
		{"redis-cli", "/usr/bin/redis-cli"},
	} {
		// Debian's redis-server is a link to redis-check-rdb, which picks
		// its role from argv[0]: the real file under the server's name.
		if err := root.copyFile("/usr/local/bin/"+bin.name, bin.host, 0o755); err != nil {
			return err
		}
		libs, err := sharedLibs(ctx, bin.host)
		if err != nil {
			return err
		}
		for _, lib := range libs {
			if err := root.copyFile(lib, lib, 0o755); err != nil {
				return err
			}
		}
	}
	if err := busybox(ctx, root); err != nil {
		return err
	}
	root.content("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nredis:x:999:999:redis:/data:/sbin/nologin\n", 0o644)
	root.content("/etc/group", "root:x:0:\nredis:x:999:\n", 0o644)
	root.dir("/data", 0o755, 0)
	root.dir("/tmp", 0o1777, 0)
	return nil
}

// busybox installs Debian's static busybox with a link per applet in /bin.
func busybox(ctx context.Context, root *rootfs) error {
	const bb = "/bin/busybox"
	out, err := exec.CommandContext(ctx, bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w (apt-get install -y busybox-static)", bb, err)
	}
	// Copied without libraries, so it must be the static build.
	if ldd, err := exec.CommandContext(ctx, "ldd", bb).CombinedOutput(); err == nil && !strings.Contains(string(ldd), "not a dynamic") {
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

// sharedLibs are the libraries and the loader ldd lists for a binary.
func sharedLibs(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	libs := parseLdd(string(out))
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s listed no libraries:\n%s", bin, out)
	}
	return libs, nil
}

var lddPath = regexp.MustCompile(`(?m)(?:=>\s*)?(/\S+)\s+\(0x`)

// parseLdd is the paths in ldd's output: each library found and the loader
// (linux-vdso has no file and is left out).
func parseLdd(out string) []string {
	var libs []string
	for _, m := range lddPath.FindAllStringSubmatch(out, -1) {
		libs = append(libs, m[1])
	}
	return libs
}

// redisVersion is the host's redis-server version, which names the stand-in
// made from it.
func redisVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "redis-server", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("redis-server --version: %w (apt-get install -y redis-server)", err)
	}
	v, ok := parseRedisVersion(string(out))
	if !ok {
		return "", fmt.Errorf("redis-server --version: no version in %q", out)
	}
	return v, nil
}

var redisVersionRE = regexp.MustCompile(`v=(\d+\.\d+\.\d+)`)

func parseRedisVersion(out string) (string, bool) {
	m := redisVersionRE.FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return m[1], true
}
