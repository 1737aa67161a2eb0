package volume

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type fakeSources struct {
	mu         sync.Mutex
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	pvcs       map[string]*corev1.PersistentVolumeClaim
	pvs        map[string]*corev1.PersistentVolume
	clock      *clocktesting.FakeClock
	tokenErr   error
	tokens     int
	lastReq    *authenticationv1.TokenRequest
}

func newFakeSources() *fakeSources {
	return &fakeSources{
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		pvcs: map[string]*corev1.PersistentVolumeClaim{}, pvs: map[string]*corev1.PersistentVolume{},
		clock: clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
	}
}

func (f *fakeSources) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (f *fakeSources) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (f *fakeSources) PersistentVolumeClaim(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	if c, ok := f.pvcs[ns+"/"+name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumeclaims"), name)
}

func (f *fakeSources) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	if v, ok := f.pvs[name]; ok {
		return v, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumes"), name)
}

func (f *fakeSources) ServiceAccountToken(_ context.Context, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokenErr != nil {
		return nil, f.tokenErr
	}
	f.tokens++
	f.lastReq = req.DeepCopy()
	out := req.DeepCopy()
	out.Status.Token = ns + "/" + sa + "/token-" + string(rune('0'+f.tokens))
	out.Status.ExpirationTimestamp = metav1.NewTime(f.clock.Now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second))
	return out, nil
}

func newManager(t *testing.T) (*Manager, *fakeSources) {
	t.Helper()
	src := newFakeSources()
	m := &Manager{Root: filepath.Join(t.TempDir(), "pods"), Sources: src, Clock: src.clock, Log: slog.New(slog.DiscardHandler)}
	return m, src
}

// setup runs Setup and registers Cleanup, so tmpfs mounts never outlive the test.
func setup(t *testing.T, m *Manager, pod *corev1.Pod) error {
	t.Helper()
	t.Cleanup(func() {
		if err := m.Cleanup(pod.UID); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})
	return m.Setup(context.Background(), pod)
}

func testPod(uid string, vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p-" + uid, UID: types.UID(uid),
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "1"}},
		Spec: corev1.PodSpec{Volumes: vols, ServiceAccountName: "sa", Containers: []corev1.Container{{
			Name: "c",
			Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
		}}},
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	return st.Mode()
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for tmpfs mounts")
	}
}

func TestEmptyDir(t *testing.T) {
	requireRoot(t)
	m, _ := newManager(t)
	pod := testPod("u1",
		corev1.Volume{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("2Mi"))}}},
	)
	if err := setup(t, m, pod); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	disk := m.VolumeDir(pod.UID, KindEmptyDir, "disk")
	mem := m.VolumeDir(pod.UID, KindEmptyDir, "mem")
	if got := mode(t, disk).Perm(); got != 0o777 {
		t.Errorf("disk mode = %v", got)
	}
	if mp, _ := isMountPoint(disk); mp {
		t.Errorf("disk emptyDir is a mount point")
	}
	if mp, err := isMountPoint(mem); err != nil || !mp {
		t.Fatalf("memory emptyDir mounted = %v, %v", mp, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(mem, &st); err != nil {
		t.Fatal(err)
	}
	if size := st.Blocks * uint64(st.Bsize); size != 2<<20 {
		t.Errorf("tmpfs size = %d, want %d", size, 2<<20)
	}
	// Idempotent: a second Setup mounts nothing more.
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	(&Manager{Root: m.Root, Sources: m.Sources}).Setup(context.Background(), pod) // fresh process state
	if mps, _ := mountsUnder(m.PodDir(pod.UID)); len(mps) != 1 {
		t.Errorf("mounts after repeated Setup = %v", mps)
	}
	if err := m.Cleanup(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.PodDir(pod.UID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pod dir still there: %v", err)
	}
	if err := m.Cleanup(pod.UID); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

func TestHostPathTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	if err := syscall.Mknod(sock, syscall.S_IFSOCK|0o600, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		typ  corev1.HostPathType
		err  string
	}{
		{dir, "", ""},
		{filepath.Join(dir, "missing"), "", ""},
		{dir, corev1.HostPathDirectory, ""},
		{file, corev1.HostPathDirectory, "hostPath type check failed: " + file + " is not a directory"},
		{filepath.Join(dir, "missing"), corev1.HostPathDirectory, "hostPath type check failed: " + dir + "/missing is not a directory"},
		{filepath.Join(dir, "new/sub"), corev1.HostPathDirectoryOrCreate, ""},
		{file, corev1.HostPathDirectoryOrCreate, "hostPath type check failed: " + file + " is not a directory"},
		{file, corev1.HostPathFile, ""},
		{dir, corev1.HostPathFile, "hostPath type check failed: " + dir + " is not a file"},
		{filepath.Join(dir, "newfile"), corev1.HostPathFileOrCreate, ""},
		{dir, corev1.HostPathFileOrCreate, "hostPath type check failed: " + dir + " is not a file"},
		{sock, corev1.HostPathSocket, ""},
		{file, corev1.HostPathSocket, "hostPath type check failed: " + file + " is not a socket file"},
		{"/dev/null", corev1.HostPathCharDev, ""},
		{file, corev1.HostPathCharDev, "hostPath type check failed: " + file + " is not a character device"},
		{"/dev/null", corev1.HostPathBlockDev, "hostPath type check failed: /dev/null is not a block device"},
		{dir, "Bogus", "Bogus is an invalid volume type"},
		{dir + "/../etc", corev1.HostPathDirectory, "invalid HostPath `" + dir + "/../etc`: must not contain '..'"},
	} {
		err := setupHostPath(&corev1.HostPathVolumeSource{Path: tc.path, Type: ptr.To(tc.typ)})
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
			t.Errorf("%s %q: err = %v, want %q", tc.path, tc.typ, err, tc.err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "new/sub")); err != nil || !st.IsDir() {
		t.Errorf("DirectoryOrCreate did not create: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "newfile")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("FileOrCreate did not create: %v", err)
	}
}

func checkLayout(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil {
		t.Fatalf("..data: %v", err)
	}
	if !strings.HasPrefix(target, "..") || strings.Contains(target, "/") {
		t.Errorf("..data -> %q", target)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	tsDirs := 0
	for _, e := range entries {
		switch {
		case e.Name() == dataDirName:
		case strings.HasPrefix(e.Name(), ".."):
			tsDirs++
		default:
			names = append(names, e.Name())
			link, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil || link != filepath.Join(dataDirName, e.Name()) {
				t.Errorf("%s -> %q, %v", e.Name(), link, err)
			}
		}
	}
	if tsDirs != 1 {
		t.Errorf("%d timestamped dirs", tsDirs)
	}
	var wantTop []string
	for p, content := range want {
		top, _, _ := strings.Cut(p, "/")
		if !slices.Contains(wantTop, top) {
			wantTop = append(wantTop, top)
		}
		if got := readFile(t, filepath.Join(dir, p)); got != content {
			t.Errorf("%s = %q, want %q", p, got, content)
		}
	}
	slices.Sort(wantTop)
	if !slices.Equal(names, wantTop) {
		t.Errorf("visible names = %v, want %v", names, wantTop)
	}
}

func TestConfigMapVolumeAndAtomicUpdate(t *testing.T) {
	m, src := newManager(t)
	src.configMaps["ns/cfg"] = &corev1.ConfigMap{Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"bin": {0, 1}}}
	pod := testPod("u2",
		corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "items", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr.To[int32](0o600),
			Items: []corev1.KeyToPath{{Key: "a", Path: "dir/x"}, {Key: "b", Path: "y", Mode: ptr.To[int32](0o400)}}}}},
		corev1.Volume{Name: "opt", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(true)}}},
	)
	if err := setup(t, m, pod); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	all := m.VolumeDir(pod.UID, KindConfigMap, "all")
	items := m.VolumeDir(pod.UID, KindConfigMap, "items")
	checkLayout(t, all, map[string]string{"a": "1", "b": "2", "bin": "\x00\x01"})
	checkLayout(t, items, map[string]string{"dir/x": "1", "y": "2"})
	if got := mode(t, filepath.Join(all, "a")).Perm(); got != 0o644 {
		t.Errorf("default mode = %v", got)
	}
	if got := mode(t, filepath.Join(items, "dir/x")).Perm(); got != 0o600 {
		t.Errorf("defaultMode = %v", got)
	}
	if got := mode(t, filepath.Join(items, "y")).Perm(); got != 0o400 {
		t.Errorf("item mode = %v", got)
	}
	checkLayout(t, m.VolumeDir(pod.UID, KindConfigMap, "opt"), nil)

	// No change: nothing rewritten.
	oldTarget, _ := os.Readlink(filepath.Join(all, dataDirName))
	if changed, err := m.Refresh(context.Background(), pod); err != nil || changed {
		t.Fatalf("Refresh without change = %v, %v", changed, err)
	}
	if now, _ := os.Readlink(filepath.Join(all, dataDirName)); now != oldTarget {
		t.Errorf("..data swapped without a change")
	}

	// A process holding the old file keeps reading old content; new opens see new.
	held, err := os.Open(filepath.Join(all, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	src.mu.Lock()
	src.configMaps["ns/cfg"] = &corev1.ConfigMap{Data: map[string]string{"a": "10", "c": "3"}}
	src.mu.Unlock()
	// The "items" volume now lacks key b: it fails and keeps its content, the others
	// are still refreshed.
	changed, err := m.Refresh(context.Background(), pod)
	if !changed || err == nil || !strings.Contains(err.Error(), `refresh volume "items": configmap references non-existent config key: b`) {
		t.Fatalf("Refresh = %v, %v", changed, err)
	}
	checkLayout(t, all, map[string]string{"a": "10", "c": "3"})
	if _, err := os.Lstat(filepath.Join(all, "b")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed key b still visible: %v", err)
	}
	if _, err := os.Stat(filepath.Join(all, oldTarget)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old data dir %s not removed: %v", oldTarget, err)
	}
	buf := make([]byte, 8)
	n, _ := held.Read(buf)
	if string(buf[:n]) != "1" {
		t.Errorf("held file reads %q", buf[:n])
	}
	checkLayout(t, items, map[string]string{"dir/x": "1", "y": "2"})
}

func TestConfigMapErrors(t *testing.T) {
	m, src := newManager(t)
	src.configMaps["ns/cfg"] = &corev1.ConfigMap{Data: map[string]string{"a": "1"}}
	pod := testPod("u3",
		corev1.Volume{Name: "missing", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}},
		corev1.Volume{Name: "badkey", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "zz", Path: "z"}}}}},
		corev1.Volume{Name: "optkey", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Optional: ptr.To(true),
			Items: []corev1.KeyToPath{{Key: "zz", Path: "z"}, {Key: "a", Path: "a"}}}}},
		corev1.Volume{Name: "badpath", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a", Path: "../x"}}}}},
		corev1.Volume{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
	)
	err := setup(t, m, pod)
	for _, want := range []string{
		`MountVolume.SetUp failed for volume "missing" : couldn't get configMap ns/nope: configmaps "nope" not found`,
		`MountVolume.SetUp failed for volume "badkey" : configmap references non-existent config key: zz`,
		`invalid path: must not contain '..': ../x`,
		`MountVolume.SetUp failed for volume "eph" : generic ephemeral volumes are not supported`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Setup error %v\nlacks %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "optkey") {
		t.Errorf("optional volume failed: %v", err)
	}
	checkLayout(t, m.VolumeDir(pod.UID, KindConfigMap, "optkey"), map[string]string{"a": "1"})
}

func TestSecretVolumeOnTmpfs(t *testing.T) {
	requireRoot(t)
	m, src := newManager(t)
	src.secrets["ns/s"] = &corev1.Secret{Data: map[string][]byte{"token": []byte("abc")}}
	pod := testPod("u4", corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "s", DefaultMode: ptr.To[int32](420)}}})
	if err := setup(t, m, pod); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	dir := m.VolumeDir(pod.UID, KindSecret, "sec")
	if mp, err := isMountPoint(dir); err != nil || !mp {
		t.Errorf("secret volume on tmpfs = %v, %v", mp, err)
	}
	checkLayout(t, dir, map[string]string{"token": "abc"})
	if got := mode(t, filepath.Join(dir, "token")).Perm(); got != 0o644 {
		t.Errorf("mode = %v", got)
	}
	// Missing key in items.
	pod2 := testPod("u4b", corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "s", Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}}}}})
	if err := setup(t, m, pod2); err == nil || !strings.Contains(err.Error(), "references non-existent secret key: nope") {
		t.Errorf("err = %v", err)
	}
}

func TestDownwardAPIAndFSGroup(t *testing.T) {
	requireRoot(t)
	m, _ := newManager(t)
	m.Allocatable = func() corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	}
	pod := testPod("u5", corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		}}}},
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](1234)}
	if err := setup(t, m, pod); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	dir := m.VolumeDir(pod.UID, KindDownwardAPI, "info")
	checkLayout(t, dir, map[string]string{"labels": `app="web"`, "name": "p-u5", "cpu": "2000", "mem": "64"})
	st, _ := os.Stat(filepath.Join(dir, "name"))
	if gid := st.Sys().(*syscall.Stat_t).Gid; gid != 1234 {
		t.Errorf("gid = %d", gid)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v", st.Mode())
	}
	sd, _ := os.Stat(m.VolumeDir(pod.UID, KindEmptyDir, "scratch"))
	if sd.Sys().(*syscall.Stat_t).Gid != 1234 || sd.Mode()&fs.ModeSetgid == 0 {
		t.Errorf("emptyDir ownership: %v gid %d", sd.Mode(), sd.Sys().(*syscall.Stat_t).Gid)
	}

	// Label change shows up on Refresh.
	pod.Labels["app"] = "api"
	if changed, err := m.Refresh(context.Background(), pod); err != nil || !changed {
		t.Fatalf("Refresh = %v, %v", changed, err)
	}
	if got := readFile(t, filepath.Join(dir, "labels")); got != `app="api"` {
		t.Errorf("labels = %q", got)
	}
}

func TestProjectedWithToken(t *testing.T) {
	requireRoot(t)
	m, src := newManager(t)
	src.configMaps["ns/kube-root-ca.crt"] = &corev1.ConfigMap{Data: map[string]string{"ca.crt": "CA"}}
	pod := testPod("u6", corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o644),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}}}})
	if err := setup(t, m, pod); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	dir := m.VolumeDir(pod.UID, KindProjected, "kube-api-access")
	checkLayout(t, dir, map[string]string{"token": "ns/sa/token-1", "ca.crt": "CA", "namespace": "ns"})
	if mp, _ := isMountPoint(dir); !mp {
		t.Errorf("projected volume not on tmpfs")
	}
	req := src.lastReq
	if req.Spec.BoundObjectRef.Name != pod.Name || req.Spec.BoundObjectRef.UID != pod.UID || *req.Spec.ExpirationSeconds != 3607 || len(req.Spec.Audiences) != 0 {
		t.Errorf("token request = %+v", req.Spec)
	}

	// Before 80% of the lifetime nothing changes; after, the token is renewed.
	src.clock.Step(2000 * time.Second)
	if changed, err := m.Refresh(context.Background(), pod); err != nil || changed || src.tokens != 1 {
		t.Fatalf("early Refresh = %v, %v, tokens %d", changed, err, src.tokens)
	}
	src.clock.Step(1000 * time.Second)
	if changed, err := m.Refresh(context.Background(), pod); err != nil || !changed {
		t.Fatalf("Refresh = %v, %v", changed, err)
	}
	checkLayout(t, dir, map[string]string{"token": "ns/sa/token-2", "ca.crt": "CA", "namespace": "ns"})

	// A failed renewal keeps an unexpired token; an expired one is an error.
	src.tokenErr = errors.New("apiserver down")
	src.clock.Step(3000 * time.Second)
	if changed, err := m.Refresh(context.Background(), pod); err != nil || changed {
		t.Fatalf("Refresh with failing renewal = %v, %v", changed, err)
	}
	src.clock.Step(time.Hour)
	if _, err := m.Refresh(context.Background(), pod); err == nil || !strings.Contains(err.Error(), "expired and refresh failed") {
		t.Fatalf("Refresh with expired token = %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "token")); got != "ns/sa/token-2" {
		t.Errorf("token after failure = %q", got)
	}
}

func boundClaim(src *fakeSources, name string, pvSource corev1.PersistentVolumeSource) {
	src.pvcs["ns/"+name] = &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("claim-" + name)},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv-" + name},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
	}
	src.pvs["pv-"+name] = &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-" + name},
		Spec: corev1.PersistentVolumeSpec{
			ClaimRef:               &corev1.ObjectReference{Namespace: "ns", Name: name, UID: types.UID("claim-" + name)},
			PersistentVolumeSource: pvSource,
		},
	}
}

func TestClaims(t *testing.T) {
	m, src := newManager(t)
	base := t.TempDir()
	hp := filepath.Join(base, "default_data_pvc-1")
	boundClaim(src, "data", corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hp, Type: ptr.To(corev1.HostPathDirectoryOrCreate)}})
	local := filepath.Join(base, "local")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	boundClaim(src, "loc", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: local}})
	boundClaim(src, "pending", corev1.PersistentVolumeSource{})
	src.pvcs["ns/pending"].Status.Phase = corev1.ClaimPending
	boundClaim(src, "stolen", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: local}})
	src.pvs["pv-stolen"].Spec.ClaimRef.UID = "other"

	claim := func(vol, name string, ro bool) corev1.Volume {
		return corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name, ReadOnly: ro}}}
	}
	pod := testPod("u7", claim("data", "data", false), claim("loc", "loc", true))
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "loc", MountPath: "/loc"}}
	if err := setup(t, m, pod); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if st, err := os.Stat(hp); err != nil || !st.IsDir() {
		t.Errorf("hostPath PV dir not created: %v", err)
	}
	mounts, err := m.Mounts(pod, &pod.Spec.Containers[0], MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mounts[0].HostPath != hp || mounts[0].Readonly || mounts[1].HostPath != local || !mounts[1].Readonly {
		t.Errorf("mounts = %v", mounts)
	}

	bad := testPod("u8", claim("a", "pending", false), claim("b", "missing", false), claim("c", "stolen", false))
	err = setup(t, m, bad)
	for _, want := range []string{
		"error processing PVC ns/pending: PVC is not bound",
		`error processing PVC ns/missing: failed to fetch PVC from API server: persistentvolumeclaims "missing" not found`,
		"error processing PVC ns/stolen: found PV object pv-stolen but its pv.Spec.ClaimRef.UID other does not point to claim.UID claim-stolen",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Setup error %v\nlacks %q", err, want)
		}
	}
}

func TestMounts(t *testing.T) {
	m, src := newManager(t)
	src.configMaps["ns/cfg"] = &corev1.ConfigMap{Data: map[string]string{"app.conf": "x=1"}}
	host := t.TempDir()
	outside := t.TempDir()
	pod := testPod("u9",
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host}}},
	)
	if err := setup(t, m, pod); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	scratch := m.VolumeDir(pod.UID, KindEmptyDir, "scratch")
	cfgDir := m.VolumeDir(pod.UID, KindConfigMap, "cfg")
	// A container planted a symlink to the host's root in its emptyDir.
	if err := os.Symlink(outside, filepath.Join(scratch, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(scratch, "up")); err != nil {
		t.Fatal(err)
	}
	mount := func(vm corev1.VolumeMount) corev1.Container {
		return corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{vm}}
	}
	hostToContainer := corev1.MountPropagationHostToContainer
	bidi := corev1.MountPropagationBidirectional
	bogus := corev1.MountPropagationMode("Sideways")
	for _, tc := range []struct {
		name string
		c    corev1.Container
		env  map[string]string
		rro  bool
		want *runtimeapi.Mount
		err  string
	}{
		{name: "emptyDir", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/scratch"}),
			want: &runtimeapi.Mount{ContainerPath: "/scratch", HostPath: scratch}},
		{name: "relative mountPath", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "scratch"}),
			want: &runtimeapi.Mount{ContainerPath: "/scratch", HostPath: scratch}},
		{name: "configMap read-only", c: mount(corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app"}),
			want: &runtimeapi.Mount{ContainerPath: "/etc/app", HostPath: cfgDir, Readonly: true}},
		{name: "hostPath propagation", c: mount(corev1.VolumeMount{Name: "host", MountPath: "/h", MountPropagation: &hostToContainer, ReadOnly: true}),
			want: &runtimeapi.Mount{ContainerPath: "/h", HostPath: host, Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}},
		{name: "bidirectional", c: mount(corev1.VolumeMount{Name: "host", MountPath: "/h", MountPropagation: &bidi}),
			want: &runtimeapi.Mount{ContainerPath: "/h", HostPath: host, Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL}},
		{name: "bad propagation", c: mount(corev1.VolumeMount{Name: "host", MountPath: "/h", MountPropagation: &bogus}),
			err: `invalid MountPropagation mode: "Sideways"`},
		{name: "subPath created", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/d", SubPath: "a/b"}),
			want: &runtimeapi.Mount{ContainerPath: "/d", HostPath: filepath.Join(scratch, "a/b")}},
		{name: "subPath file in configMap", c: mount(corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app.conf", SubPath: "app.conf"}),
			want: &runtimeapi.Mount{ContainerPath: "/etc/app.conf", Readonly: true}},
		{name: "subPathExpr", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/logs", SubPathExpr: "logs/$(POD_NAME)"}),
			env: map[string]string{"POD_NAME": "web-0"}, want: &runtimeapi.Mount{ContainerPath: "/logs", HostPath: filepath.Join(scratch, "logs/web-0")}},
		{name: "subPathExpr missing var", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/logs", SubPathExpr: "$(POD_NAME)"}),
			err: "missing value for POD_NAME"},
		{name: "subPath backstep", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "a/../../etc"}),
			err: "unable to provision SubPath `a/../../etc`: must not contain '..'"},
		{name: "subPathExpr backstep", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPathExpr: "$(P)"}),
			env: map[string]string{"P": ".."}, err: "unable to provision SubPath `..`: must not contain '..'"},
		{name: "subPath absolute", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "/etc"}),
			err: "error SubPath `/etc` must not be an absolute path"},
		{name: "subPath symlink escape", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "evil"}),
			err: `failed to prepare subPath for volumeMount "scratch" of container "c"`},
		{name: "subPath symlink escape, create below", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "evil/new"}),
			err: `failed to create subPath directory for volumeMount "scratch" of container "c"`},
		{name: "subPath relative symlink escape", c: mount(corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "up"}),
			err: `failed to prepare subPath for volumeMount "scratch" of container "c"`},
		{name: "unknown volume", c: mount(corev1.VolumeMount{Name: "nope", MountPath: "/x"}),
			err: `cannot find volume "nope" to mount into container "c"`},
		{name: "rro", rro: true, c: mount(corev1.VolumeMount{Name: "host", MountPath: "/h", ReadOnly: true, RecursiveReadOnly: ptr.To(corev1.RecursiveReadOnlyIfPossible)}),
			want: &runtimeapi.Mount{ContainerPath: "/h", HostPath: host, Readonly: true, RecursiveReadOnly: true}},
		{name: "rro unsupported", c: mount(corev1.VolumeMount{Name: "host", MountPath: "/h", ReadOnly: true, RecursiveReadOnly: ptr.To(corev1.RecursiveReadOnlyEnabled)}),
			err: `failed to resolve recursive read-only mode: volume "host" requested recursive read-only mode, but it is not supported by the runtime`},
		{name: "rro not read-only", rro: true, c: mount(corev1.VolumeMount{Name: "host", MountPath: "/h", RecursiveReadOnly: ptr.To(corev1.RecursiveReadOnlyEnabled)}),
			err: `failed to resolve recursive read-only mode: volume "host" requested recursive read-only mode, but it is not read-only`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Mounts(pod, &tc.c, MountOptions{Env: tc.env, RecursiveReadOnly: tc.rro})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("mounts = %v", got)
			}
			g := got[0]
			if tc.want.HostPath == "" { // configMap subPath: resolved into the data dir
				if !strings.HasPrefix(g.HostPath, cfgDir+"/..") || readFile(t, g.HostPath) != "x=1" {
					t.Errorf("host path = %s", g.HostPath)
				}
				tc.want.HostPath = g.HostPath
			}
			if g.ContainerPath != tc.want.ContainerPath || g.HostPath != tc.want.HostPath || g.Readonly != tc.want.Readonly ||
				g.Propagation != tc.want.Propagation || g.RecursiveReadOnly != tc.want.RecursiveReadOnly {
				t.Errorf("mount = %v, want %v", g, tc.want)
			}
			if st, err := os.Stat(g.HostPath); err != nil {
				t.Errorf("host path: %v", err)
			} else if st.IsDir() && strings.HasPrefix(g.HostPath, scratch+"/") && st.Mode().Perm() != 0o777 {
				t.Errorf("subPath dir mode = %v", st.Mode())
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("something was created outside the volume: %v", entries)
	}
}

func TestTerminationMessage(t *testing.T) {
	m, _ := newManager(t)
	pod := testPod("u10")
	c := &corev1.Container{Name: "app", TerminationMessagePath: "/dev/termination-log"}
	want := filepath.Join(m.Root, "u10", "containers", "app", "3")
	if got := m.TerminationMessagePath(pod, c, 3); got != want {
		t.Fatalf("TerminationMessagePath = %s", got)
	}
	if err := os.MkdirAll(filepath.Dir(want), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	mounts, err := m.Mounts(pod, c, MountOptions{Attempt: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0].HostPath != want || mounts[0].ContainerPath != "/dev/termination-log" || mounts[0].Readonly {
		t.Fatalf("mounts = %v", mounts)
	}
	if got := readFile(t, want); got != "" {
		t.Errorf("file not truncated: %q", got)
	}
	if mode(t, want).Perm() != 0o666 {
		t.Errorf("mode = %v", mode(t, want))
	}
	c.TerminationMessagePath = ""
	if mounts, _ := m.Mounts(pod, c, MountOptions{}); len(mounts) != 0 {
		t.Errorf("mounts without terminationMessagePath = %v", mounts)
	}
}

func TestOrphans(t *testing.T) {
	m, _ := newManager(t)
	if got := m.Orphans(nil); got != nil {
		t.Errorf("Orphans with no root = %v", got)
	}
	for _, uid := range []string{"a", "b", "c"} {
		if err := os.MkdirAll(filepath.Join(m.Root, uid, "volumes"), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(m.Root, "stray-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got := m.Orphans(map[types.UID]bool{"b": true})
	if !slices.Equal(got, []types.UID{"a", "c"}) {
		t.Errorf("Orphans = %v", got)
	}
	for _, uid := range got {
		if err := m.Cleanup(uid); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Orphans(map[types.UID]bool{"b": true}); len(got) != 0 {
		t.Errorf("Orphans after cleanup = %v", got)
	}
}

func TestAtomicWriterPaths(t *testing.T) {
	dir := t.TempDir()
	w := &atomicWriter{dir: dir}
	for _, p := range []string{"", "/abs", "a/../../b", "..hidden", strings.Repeat("x", 256)} {
		if _, err := w.write(map[string]file{p: {data: []byte("x"), mode: 0o644}}); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
	// Nested paths: the top-level link covers the directory; removing one file of it
	// keeps the link, removing all removes it.
	if _, err := w.write(map[string]file{"d/a": {data: []byte("1"), mode: 0o644}, "d/b": {data: []byte("2"), mode: 0o644}, "top": {data: []byte("t"), mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, dir, map[string]string{"d/a": "1", "d/b": "2", "top": "t"})
	if changed, err := w.write(map[string]file{"d/a": {data: []byte("1"), mode: 0o644}, "top": {data: []byte("t"), mode: 0o644}}); err != nil || !changed {
		t.Fatalf("write = %v, %v", changed, err)
	}
	checkLayout(t, dir, map[string]string{"d/a": "1", "top": "t"})
	if _, err := os.Stat(filepath.Join(dir, "d/b")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("d/b still there")
	}
	if changed, err := w.write(map[string]file{"top": {data: []byte("t"), mode: 0o644}}); err != nil || !changed {
		t.Fatalf("write = %v, %v", changed, err)
	}
	checkLayout(t, dir, map[string]string{"top": "t"})
	if changed, err := w.write(map[string]file{"top": {data: []byte("t"), mode: 0o644}}); err != nil || changed {
		t.Fatalf("unchanged write = %v, %v", changed, err)
	}
}
