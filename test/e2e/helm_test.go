package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/testserver"
)

var helmTool = testserver.NewTool("helm.sh/helm/v3/cmd/helm", "helm")

// helmBinary builds Helm (a Go tool dependency of the module) once per test process.
func helmBinary(t *testing.T) string {
	t.Helper()
	return helmTool.Path(t)
}

type helmRunner struct {
	t          *testing.T
	bin, home  string
	kubeconfig string
	dir        string
}

func newHelm(t *testing.T, s *testserver.Server) *helmRunner {
	home := t.TempDir()
	return &helmRunner{t: t, bin: helmBinary(t), home: home, kubeconfig: s.Kubeconfig, dir: t.TempDir()}
}

func (h *helmRunner) run(args ...string) (string, string, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, append(args, "--kubeconfig", h.kubeconfig)...)
	cmd.Dir = h.dir
	cmd.Env = append(os.Environ(),
		"HOME="+h.home,
		"XDG_CACHE_HOME="+filepath.Join(h.home, "cache"),
		"XDG_CONFIG_HOME="+filepath.Join(h.home, "config"),
		"XDG_DATA_HOME="+filepath.Join(h.home, "data"),
		"KUBECONFIG="+h.kubeconfig,
	)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (h *helmRunner) must(args ...string) string {
	h.t.Helper()
	out, errOut, err := h.run(args...)
	if err != nil {
		h.t.Fatalf("helm %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func TestHelmLifecycle(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	h := newHelm(t, s)
	ctx := context.Background()

	// helm create works offline; the chart is created in the runner's directory.
	if out, errOut, err := h.run("create", "mychart"); err != nil {
		t.Fatalf("helm create: %v\n%s\n%s", err, out, errOut)
	}
	chart := filepath.Join(h.dir, "mychart")

	out := h.must("install", "web", chart, "--namespace", "apps", "--create-namespace")
	wantMatch(t, "install", out, `^NAME: web$`, `^NAMESPACE: apps$`, `^STATUS: deployed$`, `^REVISION: 1$`)

	replicas := func() int32 {
		t.Helper()
		d, err := s.Client.AppsV1().Deployments("apps").Get(ctx, "web-mychart", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("getting the chart's deployment: %v", err)
		}
		return *d.Spec.Replicas
	}
	if n := replicas(); n != 1 {
		t.Fatalf("replicas after install: %d, want 1", n)
	}
	svc, err := s.Client.CoreV1().Services("apps").Get(ctx, "web-mychart", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	if svc.Labels["app.kubernetes.io/managed-by"] != "Helm" || svc.Annotations["meta.helm.sh/release-name"] != "web" {
		t.Fatalf("service not labelled by Helm: %v %v", svc.Labels, svc.Annotations)
	}
	if _, err := s.Client.CoreV1().ServiceAccounts("apps").Get(ctx, "web-mychart", metav1.GetOptions{}); err != nil {
		t.Fatalf("service account: %v", err)
	}

	type release struct {
		Name, Namespace, Revision, Status, Chart string
		AppVersion                               string `json:"app_version"`
	}
	var list []release
	if err := json.Unmarshal([]byte(h.must("list", "-n", "apps", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "web" || list[0].Revision != "1" || list[0].Status != "deployed" || list[0].Chart != "mychart-0.1.0" {
		t.Fatalf("helm list: %+v", list)
	}
	wantMatch(t, "helm list table", h.must("list", "-A"), `^NAME\s+NAMESPACE\s+REVISION\s+UPDATED\s+STATUS\s+CHART\s+APP VERSION$`,
		`^web\s+apps\s+1\s+.*deployed\s+mychart-0.1.0\s+\S+\s*$`)
	wantMatch(t, "helm status", h.must("status", "web", "-n", "apps"), `^STATUS: deployed$`)
	wantMatch(t, "get values", h.must("get", "manifest", "web", "-n", "apps"), `^kind: Deployment$`, `^kind: Service$`)

	out = h.must("upgrade", "web", chart, "--namespace", "apps", "--set", "replicaCount=2")
	wantMatch(t, "upgrade", out, `^Release "web" has been upgraded. Happy Helming!$`, `^REVISION: 2$`)
	if n := replicas(); n != 2 {
		t.Fatalf("replicas after upgrade: %d, want 2", n)
	}
	wantMatch(t, "upgrade --install of an unchanged chart", h.must("upgrade", "--install", "web", chart, "-n", "apps", "--reuse-values"), `^REVISION: 3$`)
	if n := replicas(); n != 2 {
		t.Fatalf("replicas after reuse-values upgrade: %d, want 2", n)
	}

	out = h.must("rollback", "web", "1", "--namespace", "apps")
	wantMatch(t, "rollback", out, `^Rollback was a success! Happy Helming!$`)
	if n := replicas(); n != 1 {
		t.Fatalf("replicas after rollback: %d, want 1", n)
	}

	var history []struct {
		Revision    int
		Status      string
		Description string
	}
	if err := json.Unmarshal([]byte(h.must("history", "web", "-n", "apps", "-o", "json")), &history); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range history {
		got = append(got, strings.Join([]string{string(rune('0' + r.Revision)), r.Status, r.Description}, " "))
	}
	wantEqual(t, "history", strings.Join(got, "\n"), strings.Join([]string{
		"1 superseded Install complete",
		"2 superseded Upgrade complete",
		"3 superseded Upgrade complete",
		"4 deployed Rollback to 1",
	}, "\n"))
	wantMatch(t, "history table", h.must("history", "web", "-n", "apps"), `^REVISION\s+UPDATED\s+STATUS\s+CHART\s+APP VERSION\s+DESCRIPTION\s*$`,
		`^4\s+.*deployed\s+mychart-0.1.0\s+\S+\s+Rollback to 1\s*$`)
	secrets, err := s.Client.CoreV1().Secrets("apps").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=web"})
	if err != nil || len(secrets.Items) != 4 {
		t.Fatalf("release secrets: %v %d", err, len(secrets.Items))
	}

	out = h.must("uninstall", "web", "--namespace", "apps")
	wantMatch(t, "uninstall", out, `^release "web" uninstalled$`)
	if _, err := s.Client.AppsV1().Deployments("apps").Get(ctx, "web-mychart", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deployment after uninstall: %v", err)
	}
	if _, err := s.Client.CoreV1().Services("apps").Get(ctx, "web-mychart", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("service after uninstall: %v", err)
	}
	secrets, err = s.Client.CoreV1().Secrets("apps").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil || len(secrets.Items) != 0 {
		t.Fatalf("release secrets after uninstall: %v %d", err, len(secrets.Items))
	}
	if out := h.must("list", "-n", "apps", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("helm list after uninstall: %q", out)
	}
}
