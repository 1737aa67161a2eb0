package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DefaultBusybox is where Debian's busybox-static package installs busybox.
const DefaultBusybox = "/bin/busybox"

// DefaultPath is the PATH of built images unless Spec.Env sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNoBusybox is wrapped by Build's error when no static busybox is found.
var ErrNoBusybox = errors.New("a static busybox is needed to build images: install Debian's busybox-static package (apt-get install busybox-static)")

// epoch is the timestamp of every file and of the image itself, so that the same inputs
// always give the same digest.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// File is a host file copied into an image.
type File struct {
	// Src is the file on the host (symlinks are followed).
	Src string
	// Dest is its absolute path in the image; missing parent directories are created.
	Dest string
	// Mode is its permission bits in the image, as for chmod (0o755, 0o4755); 0 keeps
	// those of Src.
	Mode fs.FileMode
}

// Spec describes an image Build makes.
type Spec struct {
	// Busybox is the static busybox binary of the first layer (default DefaultBusybox).
	Busybox string
	// Files go into a second layer, in order.
	Files        []File
	Entrypoint   []string
	Cmd          []string
	Env          []string // K=V; PATH=DefaultPath unless given
	WorkingDir   string
	User         string
	ExposedPorts []string // "8080", "8080/tcp", "53/udp"
	Labels       map[string]string
}

// Build makes a linux image for this machine's architecture. Its first layer is busybox
// with one symlink per applet, /etc/passwd and /etc/group (root and nobody) and /tmp;
// then Spec.Files. Builds are deterministic: the same Spec and files give the same digest.
func Build(spec Spec) (v1.Image, error) {
	bb := spec.Busybox
	if bb == "" {
		bb = DefaultBusybox
	}
	base, err := busyboxLayer(bb)
	if err != nil {
		return nil, err
	}
	adds := []mutate.Addendum{{Layer: base, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "kijabi: busybox " + bb}}}
	if len(spec.Files) > 0 {
		l, err := filesLayer(spec.Files)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "kijabi: files"}})
	}
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		return nil, fmt.Errorf("building image: appending layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("building image: reading config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	if runtime.GOARCH == "arm64" {
		cf.Variant = "v8"
	}
	cf.Created = v1.Time{Time: epoch}
	env := append([]string(nil), spec.Env...)
	hasPath := false
	for _, kv := range env {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("building image: env %q is not K=V", kv)
		}
		hasPath = hasPath || strings.HasPrefix(kv, "PATH=")
	}
	if !hasPath {
		env = append([]string{"PATH=" + DefaultPath}, env...)
	}
	cf.Config = v1.Config{
		Entrypoint: spec.Entrypoint,
		Cmd:        spec.Cmd,
		Env:        env,
		WorkingDir: spec.WorkingDir,
		User:       spec.User,
		Labels:     spec.Labels,
	}
	if len(spec.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("building image: setting config: %w", err)
	}
	return img, nil
}

// baseCache holds busybox layers by binary identity, so that building several images
// (EnsureBuiltins) reads, tars and compresses busybox once.
var baseCache struct {
	sync.Mutex
	layers map[string]v1.Layer
}

func busyboxLayer(bb string) (v1.Layer, error) {
	st, err := os.Stat(bb)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s not found: %w", bb, ErrNoBusybox)
		}
		return nil, fmt.Errorf("reading busybox %s: %w", bb, err)
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", bb, st.Size(), st.ModTime().UnixNano())
	baseCache.Lock()
	defer baseCache.Unlock()
	if l, ok := baseCache.layers[key]; ok {
		return l, nil
	}
	data, err := busyboxTar(bb)
	if err != nil {
		return nil, err
	}
	l, err := layerFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("making busybox layer: %w", err)
	}
	if baseCache.layers == nil {
		baseCache.layers = map[string]v1.Layer{}
	}
	baseCache.layers[key] = l
	return l, nil
}

// forgetBase empties baseCache.
func forgetBase() {
	baseCache.Lock()
	defer baseCache.Unlock()
	baseCache.layers = nil
}

func layerFromBytes(data []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithCompressedCaching)
}

// busyboxTar is the uncompressed first layer.
func busyboxTar(bb string) ([]byte, error) {
	bin, err := os.ReadFile(bb)
	if err != nil {
		return nil, fmt.Errorf("reading busybox %s: %w", bb, err)
	}
	if err := checkStatic(bin); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", bb, err, ErrNoBusybox)
	}
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets (%s --list-full): %w", bb, err)
	}
	t := newTarBuilder()
	for _, d := range []string{"bin", "dev", "etc", "home", "proc", "sbin", "sys", "usr", "usr/bin", "usr/sbin", "var"} {
		t.dir(d, 0o755)
	}
	t.dir("root", 0o700)
	t.dir("tmp", 0o1777)
	t.dir("var/tmp", 0o1777)
	t.file("bin/busybox", 0o755, bin)
	t.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	t.file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n"))
	for _, applet := range strings.Fields(string(out)) {
		applet = strings.TrimPrefix(path.Clean("/"+applet), "/")
		if applet == "bin/busybox" || applet == "" {
			continue
		}
		t.symlink(applet, "/bin/busybox")
	}
	return t.bytes()
}

// checkStatic refuses a dynamically linked busybox (Debian's busybox package, not
// busybox-static): it would not run in an image without a libc.
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("busybox is dynamically linked")
		}
	}
	return nil
}

func filesLayer(files []File) (v1.Layer, error) {
	t := newTarBuilder()
	for _, f := range files {
		dest := path.Clean(f.Dest)
		if !path.IsAbs(f.Dest) || dest == "/" {
			return nil, fmt.Errorf("image file %s: destination %q is not an absolute file path", f.Src, f.Dest)
		}
		data, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, fmt.Errorf("reading image file: %w", err)
		}
		mode := f.Mode
		if mode == 0 {
			st, err := os.Stat(f.Src)
			if err != nil {
				return nil, fmt.Errorf("reading image file: %w", err)
			}
			mode = st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		rel := strings.TrimPrefix(dest, "/")
		if t.has(rel) {
			return nil, fmt.Errorf("image file %s: %s is given twice", f.Src, f.Dest)
		}
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			if h, ok := t.entries[d]; ok && h.Typeflag != tar.TypeDir {
				return nil, fmt.Errorf("image file %s: %s is under the file /%s", f.Src, f.Dest, d)
			}
			t.dir(d, 0o755)
		}
		t.file(rel, mode, data)
	}
	data, err := t.bytes()
	if err != nil {
		return nil, err
	}
	l, err := layerFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("making files layer: %w", err)
	}
	return l, nil
}

// tarBuilder collects entries and writes them sorted by path, with fixed owners and
// times, so that its output depends only on the entries.
type tarBuilder struct {
	entries map[string]*tar.Header
	data    map[string][]byte
}

func newTarBuilder() *tarBuilder {
	return &tarBuilder{entries: map[string]*tar.Header{}, data: map[string][]byte{}}
}

func (t *tarBuilder) has(name string) bool { _, ok := t.entries[name]; return ok }

// unixMode turns a mode given either as chmod bits (0o4755) or as an fs.FileMode with
// fs.ModeSetuid and friends into tar's mode bits.
func unixMode(mode fs.FileMode) int64 {
	m := int64(mode & 0o7777)
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	return m
}

func (t *tarBuilder) header(name string, typ byte, mode fs.FileMode) *tar.Header {
	return &tar.Header{Name: name, Typeflag: typ, Mode: unixMode(mode), ModTime: epoch, Format: tar.FormatPAX}
}

func (t *tarBuilder) dir(name string, mode fs.FileMode) {
	if t.has(name) {
		return
	}
	t.entries[name] = t.header(name+"/", tar.TypeDir, mode)
}

func (t *tarBuilder) file(name string, mode fs.FileMode, data []byte) {
	h := t.header(name, tar.TypeReg, mode)
	h.Size = int64(len(data))
	t.entries[name] = h
	t.data[name] = data
}

func (t *tarBuilder) symlink(name, target string) {
	h := t.header(name, tar.TypeSymlink, 0o777)
	h.Linkname = target
	t.entries[name] = h
}

func (t *tarBuilder) bytes() ([]byte, error) {
	names := make([]string, 0, len(t.entries))
	for n := range t.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(t.entries[n]); err != nil {
			return nil, fmt.Errorf("writing layer entry %s: %w", n, err)
		}
		if d, ok := t.data[n]; ok {
			if _, err := tw.Write(d); err != nil {
				return nil, fmt.Errorf("writing layer entry %s: %w", n, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing layer: %w", err)
	}
	return buf.Bytes(), nil
}
