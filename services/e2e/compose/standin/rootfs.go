package standin

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// rootfs writes a root file system as a tar stream, creating each parent
// directory once, owned by root. The first entry for a name wins; the first
// error stops all later writes and is kept for close.
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
