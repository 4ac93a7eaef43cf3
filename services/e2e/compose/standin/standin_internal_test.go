package standin

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRootfsWritesParentsOnceAndFirstEntryWins: every parent directory
// comes before its children, once, owned by root; a second entry for a name
// is dropped; times are the epoch, so the same files give the same layer.
func TestRootfsWritesParentsOnceAndFirstEntryWins(t *testing.T) {
	var buf bytes.Buffer
	r := newRootfs(&buf)
	r.content("/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
	r.content("/etc/passwd", "ignored\n", 0o600)
	r.dir("/home/nonroot", 0o700, 65532)
	r.symlink("/bin/sh", "busybox")
	r.content("/etc/group", "root:x:0:\n", 0o644)
	if err := r.close(); err != nil {
		t.Fatal(err)
	}

	type entry struct {
		name, link string
		mode       int64
		uid        int
		body       string
	}
	var got []entry
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.ModTime.Unix() != 0 {
			t.Errorf("%s: mtime %v, want the epoch", h.Name, h.ModTime)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, entry{h.Name, h.Linkname, h.Mode, h.Uid, string(body)})
	}
	want := []entry{
		{"etc/", "", 0o755, 0, ""},
		{"etc/passwd", "", 0o644, 0, "root:x:0:0::/root:/bin/sh\n"},
		{"home/", "", 0o755, 0, ""},
		{"home/nonroot/", "", 0o700, 65532, ""},
		{"bin/", "", 0o755, 0, ""},
		{"bin/sh", "busybox", 0o777, 0, ""},
		{"etc/group", "", 0o644, 0, "root:x:0:\n"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("tar entries\n got %+v\nwant %+v", got, want)
	}
}

func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd5a1f2000)\n" +
		"\tliblzf.so.1 => /lib/x86_64-linux-gnu/liblzf.so.1 (0x00007f29c2424000)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f29c141e000)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f29c2447000)\n"
	want := []string{"/lib/x86_64-linux-gnu/liblzf.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if got := parseLdd(out); !slices.Equal(got, want) {
		t.Errorf("parseLdd = %q, want %q", got, want)
	}
	if got := parseLdd("\tnot a dynamic executable\n"); len(got) != 0 {
		t.Errorf("parseLdd of a static binary = %q, want none", got)
	}
}

func TestParseRedisVersion(t *testing.T) {
	v, ok := parseRedisVersion("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n")
	if !ok || v != "7.0.15" {
		t.Errorf("parseRedisVersion = %q %v, want 7.0.15", v, ok)
	}
	if v, ok := parseRedisVersion("redis-server: command not found"); ok {
		t.Errorf("parseRedisVersion of no version = %q, want none", v)
	}
}

// TestEnsureImageKillsImportOnFailedWrite: when writing the tree fails on
// this side, docker import is killed before it sees the end of its input,
// so no half-written tree is imported under a tag a later run would reuse.
func TestEnsureImageKillsImportOnFailedWrite(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls.log")
	// A docker whose import reads all its input (PATH holds only this
	// script, hence /bin/cat), then records that it finished; image
	// inspect fails: the image is not there yet.
	script := "#!/bin/sh\ncase \"$1\" in import) /bin/cat >/dev/null; echo finished >> '" + calls + "'; exit 0;; esac\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fill := func(_ context.Context, r *rootfs) error {
		r.content("/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
		return r.copyFile("/bin/busybox", filepath.Join(dir, "missing"), 0o755)
	}
	_, err := ensureImage(ctx, slog.New(slog.DiscardHandler), "edb-standin/test:v1", fill)
	if err == nil || !strings.Contains(err.Error(), "making stand-in edb-standin/test:v1") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ensureImage = %v, want the missing file's error", err)
	}
	// Wait returned, so an import left running would have written by now.
	if b, _ := os.ReadFile(calls); len(b) != 0 {
		t.Errorf("docker import ran to the end after a failed write: %q", b)
	}
}
