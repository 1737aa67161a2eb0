package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func needBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(DefaultBusybox); err != nil {
		t.Skipf("no %s: install busybox-static", DefaultBusybox)
	}
}

// entries reads an image's flattened file system.
func entries(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = h
	}
}

func TestBuildDeterministic(t *testing.T) {
	needBusybox(t)
	src := filepath.Join(t.TempDir(), "hello.sh")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Files:        []File{{Src: src, Dest: "/usr/local/bin/hello", Mode: 0o755}},
		Entrypoint:   []string{"/usr/local/bin/hello"},
		Env:          []string{"A=b"},
		ExposedPorts: []string{"8080", "53/udp"},
		Labels:       map[string]string{"x": "y", "a": "b"},
		WorkingDir:   "/tmp",
	}
	digest := func() v1.Hash {
		// A fresh build each time, not the cached busybox layer only.
		img, err := Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := digest()
	forgetBase()
	// Touch the source: its timestamps must not matter.
	if err := os.Chtimes(src, epoch.AddDate(3, 0, 0), epoch.AddDate(3, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if second := digest(); first != second {
		t.Errorf("two builds of one spec differ: %s and %s", first, second)
	}
	spec.Cmd = []string{"x"}
	if third := digest(); third == first {
		t.Error("changing Cmd did not change the digest")
	}
}

func TestBuildContent(t *testing.T) {
	needBusybox(t)
	src := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(src, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := Build(Spec{
		Files:        []File{{Src: src, Dest: "/opt/app/data", Mode: 0o4750}, {Src: src, Dest: "/etc/keep"}},
		Cmd:          []string{"sh"},
		Env:          []string{"FOO=bar"},
		ExposedPorts: []string{"80"},
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := entries(t, img)
	if h := fs["bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Fatalf("bin/busybox missing or not executable: %+v", h)
	}
	for _, applet := range []string{"bin/sh", "bin/ls", "bin/sleep", "bin/hostname", "usr/bin/wget", "sbin/ifconfig"} {
		h := fs[applet]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
			t.Errorf("applet %s: %+v, want a symlink to /bin/busybox", applet, h)
		}
	}
	if h := fs["tmp"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode&0o7777 != 0o1777 {
		t.Errorf("tmp: %+v, want a 1777 directory", h)
	}
	if h := fs["etc/passwd"]; h == nil {
		t.Error("no etc/passwd")
	}
	if h := fs["opt/app/data"]; h == nil || h.Mode&0o7777 != 0o4750 || h.Size != int64(len("payload")) || h.Uid != 0 {
		t.Errorf("opt/app/data: %+v, want mode 4750, 7 bytes, owned by root", h)
	}
	if h := fs["opt/app"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("parent dir opt/app: %+v", h)
	}
	if h := fs["etc/keep"]; h == nil || h.Mode&0o777 != 0o644 {
		t.Errorf("etc/keep: %+v, want the source's mode 644", h)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if len(cf.Config.Env) != 2 || !strings.HasPrefix(cf.Config.Env[0], "PATH=") || cf.Config.Env[1] != "FOO=bar" {
		t.Errorf("env %q", cf.Config.Env)
	}
	if _, ok := cf.Config.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("exposed ports %v", cf.Config.ExposedPorts)
	}
	if n := len(cf.RootFS.DiffIDs); n != 2 {
		t.Errorf("%d layers, want 2", n)
	}
}

func TestBuildRejects(t *testing.T) {
	needBusybox(t)
	for _, spec := range []Spec{
		{Files: []File{{Src: "/nonexistent", Dest: "/x"}}},
		{Files: []File{{Src: "/etc/hostname", Dest: "relative"}}},
		{Files: []File{{Src: "/etc/hostname", Dest: "/a"}, {Src: "/etc/hostname", Dest: "/a"}}},
		{Files: []File{{Src: "/etc/hostname", Dest: "/a"}, {Src: "/etc/hostname", Dest: "/a/b"}}},
		{Env: []string{"NOEQUALS"}},
	} {
		if _, err := Build(spec); err == nil {
			t.Errorf("Build(%+v) succeeded, want an error", spec)
		}
	}
	if _, err := Build(Spec{Busybox: filepath.Join(t.TempDir(), "none")}); !errors.Is(err, ErrNoBusybox) {
		t.Errorf("missing busybox: %v, want ErrNoBusybox", err)
	}
}

func TestWriteTarball(t *testing.T) {
	needBusybox(t)
	imgs, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.tar")
	if err := WriteTarballs(path, imgs); err != nil {
		t.Fatal(err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 {
		t.Fatalf("%d images in the tarball, want 2", len(m))
	}
	tags := map[string]bool{}
	layers := map[string]bool{}
	for _, d := range m {
		for _, tag := range d.RepoTags {
			tags[tag] = true
		}
		for _, l := range d.Layers {
			layers[l] = true
		}
	}
	if !tags[PauseImage] || !tags[BusyboxImage] {
		t.Errorf("tags %v, want %s and %s", tags, PauseImage, BusyboxImage)
	}
	if len(layers) != 1 {
		t.Errorf("the built-in images should share their one layer, got %d", len(layers))
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built-in images tarball: %d bytes", st.Size())
	one := filepath.Join(t.TempDir(), "one.tar")
	if err := WriteTarball(one, "example.com/x:1", imgs[BusyboxImage]); err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(one, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := imgs[BusyboxImage].Digest()
	got, err := loaded.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("tarball round trip: digest %s, want %s", got, want)
	}
}
