package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kijabi/kijabi/internal/testserver"
)

const shopManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  color: blue
  size: large
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  namespace: shop
stringData:
  password: hunter2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
`

// kubectlSession wraps the test server with assertion helpers for kubectl output.
type kubectlSession struct {
	t   *testing.T
	s   *testserver.Server
	dir string
}

func (k *kubectlSession) run(args ...string) string {
	k.t.Helper()
	return k.s.MustKubectl(k.t, args...)
}

func (k *kubectlSession) runIn(stdin string, env []string, args ...string) testserver.Result {
	k.t.Helper()
	var in io.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	return k.s.KubectlIn(k.t, in, env, args...)
}

func (k *kubectlSession) mustIn(stdin string, args ...string) string {
	k.t.Helper()
	r := k.runIn(stdin, nil, args...)
	if r.Err != nil {
		k.t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

func (k *kubectlSession) file(name, content string) string {
	k.t.Helper()
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		k.t.Fatal(err)
	}
	return p
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// wantLines checks that out has exactly these lines (in order).
func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\ngot:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// wantMatch checks that every pattern matches some line of out.
func wantMatch(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile("(?m)" + p).MatchString(out) {
			t.Fatalf("%s: no match for %q in:\n%s", what, p, out)
		}
	}
}

func wantEqual(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// bgKubectl is a long-running kubectl (get -w, wait) whose stdout lines arrive on lines.
type bgKubectl struct {
	lines <-chan string
	// errLines are stderr's lines (while there is room to buffer them).
	errLines <-chan string
	done     chan struct{}
	err      error // set when done is closed
	cmd      *exec.Cmd
}

// wait waits for kubectl to exit and returns its error.
func (b *bgKubectl) wait() error {
	<-b.done
	return b.err
}

// stop kills kubectl and waits for it.
func (b *bgKubectl) stop() {
	_ = b.cmd.Process.Kill()
	<-b.done
}

func (k *kubectlSession) startKubectl(args ...string) *bgKubectl {
	k.t.Helper()
	cmd := exec.Command(testserver.Binary(k.t), append([]string{"kubectl", "--kubeconfig", k.s.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+k.s.DataDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	var stderr strings.Builder
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	ch, errCh := make(chan string, 1000), make(chan string, 1000)
	b := &bgKubectl{lines: ch, errLines: errCh, done: make(chan struct{}), cmd: cmd}
	stderrDone := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			select {
			case errCh <- sc.Text():
			default:
			}
		}
		close(stderrDone)
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
		<-stderrDone
		if err := cmd.Wait(); err != nil {
			b.err = fmt.Errorf("%w; stderr: %s", err, stderr.String())
		}
		close(b.done)
	}()
	k.t.Cleanup(b.stop)
	return b
}

// waitFor reads lines until one contains substr.
func waitFor(t *testing.T, lines <-chan string, what, substr string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, substr) {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no line with %q within 20s", what, substr)
		}
	}
}

func nextLine(t *testing.T, b *bgKubectl, what string) string {
	t.Helper()
	select {
	case l, ok := <-b.lines:
		if !ok {
			t.Fatalf("%s: kubectl exited: %v", what, b.wait())
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no line within 20s", what)
	}
	return ""
}

func TestKubectlSession(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}

	// apply -f of a multi-document manifest creates everything.
	manifest := k.file("shop.yaml", shopManifest)
	out := k.run("apply", "-f", manifest)
	wantLines(t, "first apply", out,
		"namespace/shop created",
		"configmap/web-config created",
		"secret/web-secret created",
		"deployment.apps/web created",
		"service/web created",
		"ingress.networking.k8s.io/web created")

	// Re-apply after an edit: changed objects are configured, the rest unchanged. A Secret
	// written with stringData is always "configured", as in Kubernetes (kubernetes#87736):
	// stringData is never stored, so the three-way patch always sets it again.
	edited := strings.Replace(strings.Replace(shopManifest, "color: blue", "color: green", 1), "replicas: 1", "replicas: 2", 1)
	k.file("shop.yaml", edited)
	out = k.run("apply", "-f", manifest)
	wantLines(t, "second apply", out,
		"namespace/shop unchanged",
		"configmap/web-config configured",
		"secret/web-secret configured",
		"deployment.apps/web configured",
		"service/web unchanged",
		"ingress.networking.k8s.io/web unchanged")
	wantEqual(t, "color after apply", k.run("get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.data.color}"), "green")
	wantEqual(t, "replicas after apply", k.run("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}"), "2")
	wantEqual(t, "secret data", k.run("get", "secret", "web-secret", "-n", "shop", "-o", "jsonpath={.data.password}"), "aHVudGVyMg==")
	wantMatch(t, "nodePort", k.run("get", "svc", "web", "-n", "shop", "-o", "jsonpath={.spec.ports[0].nodePort}"), `^3[0-9]{4}$`)
	// Applying the same manifest again changes nothing.
	out = k.run("apply", "-f", manifest)
	wantMatch(t, "third apply", out, `^configmap/web-config unchanged$`, `^deployment.apps/web unchanged$`)

	// Server-side apply of an edit takes over the fields from client-side apply.
	cmSSA := k.file("cm-ssa.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  color: purple
  size: large
`)
	out = k.run("apply", "--server-side", "-f", cmSSA)
	wantLines(t, "server-side apply", out, "configmap/web-config serverside-applied")
	wantEqual(t, "color after SSA", k.run("get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.data.color}"), "purple")
	out = k.run("get", "cm", "web-config", "-n", "shop", "--show-managed-fields", "-o",
		`jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation}{"\n"}{end}`)
	wantMatch(t, "managedFields", out, `^kubectl/Apply$`)
	// An apply that creates the object tracks its fields too.
	k.run("apply", "--server-side", "-f", k.file("cm-ssa-new.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-created\n  namespace: shop\ndata:\n  k: v\n"))
	out = k.run("get", "cm", "ssa-created", "-n", "shop", "--show-managed-fields", "-o",
		`jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation}{"\n"}{end}`)
	wantMatch(t, "managedFields after an apply that creates", out, `^kubectl/Apply$`)
	// A second manager's conflicting apply is refused without --force-conflicts.
	r := k.runIn("", nil, "apply", "--server-side", "--field-manager=other", "-f", k.file("cm-ssa2.yaml", strings.Replace(
		`apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  color: orange
`, "\t", "", -1)))
	if r.Err == nil || !strings.Contains(r.Stderr, "conflict") {
		t.Fatalf("conflicting apply: err=%v stderr=%s", r.Err, r.Stderr)
	}
	wantMatch(t, "conflict message", r.Stderr, `conflict with "kubectl"`, `\.data\.color`)

	// get: tables, wide, yaml, jsonpath, describe.
	out = k.run("get", "deploy", "-n", "shop")
	wantMatch(t, "get deploy", out, `^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$`, `^web\s+0/2\s+0\s+0\s+\d+s$`)
	out = k.run("get", "deploy", "web", "-n", "shop", "-o", "wide")
	wantMatch(t, "get -o wide", out, `^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$`,
		`^web\s+0/2\s+0\s+0\s+\d+s\s+nginx\s+nginx:1.27\s+app=web$`)
	out = k.run("get", "svc", "-n", "shop")
	wantMatch(t, "get svc", out, `^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$`, `^web\s+NodePort\s+10\.\d+\.\d+\.\d+\s+<none>\s+80:3\d{4}/TCP\s+\d+s$`)
	out = k.run("get", "ingress", "-n", "shop")
	wantMatch(t, "get ingress", out, `^NAME\s+CLASS\s+HOSTS\s+ADDRESS\s+PORTS\s+AGE$`, `^web\s+<none>\s+shop.example.com\s+80\s+\d+s$`)
	out = k.run("get", "ns", "shop")
	wantMatch(t, "get ns", out, `^NAME\s+STATUS\s+AGE$`, `^shop\s+Active\s+\d+s$`)
	out = k.run("get", "cm", "web-config", "-n", "shop", "-o", "yaml")
	wantMatch(t, "get -o yaml", out, `^apiVersion: v1$`, `^kind: ConfigMap$`, `^  color: purple$`, `^  name: web-config$`,
		`^  namespace: shop$`, `^  resourceVersion: "\d+"$`, `^  uid: [0-9a-f-]{36}$`, `^  creationTimestamp: "`)
	if strings.Contains(out, "managedFields") {
		t.Fatalf("get -o yaml shows managedFields:\n%s", out)
	}
	out = k.run("get", "all", "-n", "shop")
	wantMatch(t, "get all", out, `^service/web\s+NodePort`, `^deployment.apps/web\s+0/2`)
	out = k.run("describe", "deployment", "web", "-n", "shop")
	wantMatch(t, "describe deployment", out, `^Name:\s+web$`, `^Namespace:\s+shop$`, `^Selector:\s+app=web$`,
		`^Replicas:\s+2 desired \| 0 updated \| 0 total \| 0 available \| 0 unavailable$`, `^StrategyType:\s+RollingUpdate$`,
		`^\s+Image:\s+nginx:1.27$`)
	out = k.run("describe", "cm", "web-config", "-n", "shop")
	wantMatch(t, "describe cm", out, `^Name:\s+web-config$`, `^color:$`, `^purple$`)
	out = k.run("describe", "svc", "web", "-n", "shop")
	wantMatch(t, "describe svc", out, `^Type:\s+NodePort$`, `^NodePort:\s+<unset>\s+3\d{4}/TCP$`)

	// get -w prints the existing objects, then each change as it happens.
	lines := k.startKubectl("get", "cm", "-n", "shop", "-w", "--output-watch-events")
	wantMatch(t, "watch header", nextLine(t, lines, "watch header"), `^EVENT\s+NAME\s+DATA\s+AGE$`)
	initial := map[string]bool{}
	for range 2 { // kube-root-ca.crt may or may not exist; web-config does.
		l := nextLine(t, lines, "initial watch line")
		initial[strings.Fields(l)[1]] = true
		if strings.Fields(l)[1] == "web-config" {
			wantMatch(t, "initial event", l, `^ADDED\s+web-config\s+2\s+\d+s$`)
			break
		}
	}
	k.run("create", "configmap", "watched", "-n", "shop", "--from-literal=a=1")
	wantMatch(t, "watch added", nextLine(t, lines, "added"), `^ADDED\s+watched\s+1\s+\d+s$`)
	k.run("patch", "cm", "watched", "-n", "shop", "--type=merge", "-p", `{"data":{"b":"2"}}`)
	wantMatch(t, "watch modified", nextLine(t, lines, "modified"), `^MODIFIED\s+watched\s+2\s+\d+s$`)
	k.run("delete", "cm", "watched", "-n", "shop")
	wantMatch(t, "watch deleted", nextLine(t, lines, "deleted"), `^DELETED\s+watched\s+2\s+\d+s$`)
	lines.stop()

	// label, annotate, patch (merge, json, strategic), scale.
	wantLines(t, "label", k.run("label", "cm", "web-config", "-n", "shop", "tier=frontend"), "configmap/web-config labeled")
	wantLines(t, "annotate", k.run("annotate", "cm", "web-config", "-n", "shop", "owner=team-a"), "configmap/web-config annotated")
	wantEqual(t, "label value", k.run("get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.metadata.labels.tier}/{.metadata.annotations.owner}"), "frontend/team-a")
	r = k.runIn("", nil, "label", "cm", "web-config", "-n", "shop", "tier=backend")
	if r.Err == nil || !strings.Contains(r.Stderr, "'tier' already has a value (frontend), and --overwrite is false") {
		t.Fatalf("label without --overwrite: %v %s", r.Err, r.Stderr)
	}
	wantLines(t, "unlabel", k.run("label", "cm", "web-config", "-n", "shop", "tier-"), "configmap/web-config unlabeled")
	wantLines(t, "merge patch", k.run("patch", "cm", "web-config", "-n", "shop", "--type=merge", "-p", `{"data":{"size":"small"}}`), "configmap/web-config patched")
	wantLines(t, "no-op patch", k.run("patch", "cm", "web-config", "-n", "shop", "--type=merge", "-p", `{"data":{"size":"small"}}`), "configmap/web-config patched (no change)")
	wantLines(t, "json patch", k.run("patch", "cm", "web-config", "-n", "shop", "--type=json", "-p", `[{"op":"add","path":"/data/shape","value":"round"},{"op":"remove","path":"/data/size"}]`), "configmap/web-config patched")
	wantEqual(t, "after patches", k.run("get", "cm", "web-config", "-n", "shop", "-o", `jsonpath={.data}`), `{"color":"purple","shape":"round"}`)
	r = k.runIn("", nil, "patch", "cm", "web-config", "-n", "shop", "--type=json", "-p", `[{"op":"remove","path":"/data/missing"}]`)
	if r.Err == nil || !strings.Contains(r.Stderr, "The request is invalid: the server rejected our request due to an error in our request") {
		t.Fatalf("bad json patch: %v %s", r.Err, r.Stderr)
	}
	// A strategic merge patch merges the container list by name.
	wantLines(t, "strategic patch", k.run("patch", "deploy", "web", "-n", "shop", "-p",
		`{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}`), "deployment.apps/web patched")
	wantEqual(t, "after strategic patch", k.run("get", "deploy", "web", "-n", "shop", "-o",
		`jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.metadata.generation}`), "nginx:1.28 80 3")
	wantLines(t, "scale", k.run("scale", "deploy", "web", "-n", "shop", "--replicas=3"), "deployment.apps/web scaled")
	wantEqual(t, "replicas after scale", k.run("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}"), "3")
	r = k.runIn("", nil, "scale", "deploy", "web", "-n", "shop", "--replicas=4", "--current-replicas=2")
	if r.Err == nil || !strings.Contains(r.Stderr, "Expected replicas to be 2, was 3") {
		t.Fatalf("scale precondition: %v %s", r.Err, r.Stderr)
	}

	// edit runs $KUBE_EDITOR on the object and sends the change.
	editor := k.file("editor.sh", "#!/bin/sh\nsed -i 's/color: purple/color: teal/' \"$1\"\n")
	r = k.runIn("", []string{"KUBE_EDITOR=" + editor}, "edit", "cm", "web-config", "-n", "shop")
	if r.Err != nil {
		t.Fatalf("edit: %v\n%s\n%s", r.Err, r.Stdout, r.Stderr)
	}
	wantLines(t, "edit", r.Stdout, "configmap/web-config edited")
	wantEqual(t, "color after edit", k.run("get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.data.color}"), "teal")
	r = k.runIn("", []string{"KUBE_EDITOR=" + editor}, "edit", "cm", "web-config", "-n", "shop")
	if r.Err != nil || !strings.Contains(r.Stdout+r.Stderr, "Edit cancelled, no changes made.") {
		t.Fatalf("edit without change: %v\n%s\n%s", r.Err, r.Stdout, r.Stderr)
	}

	// diff: exit 1 with a diff when the manifest differs from the live object, 0 when not.
	cmDiff := `apiVersion: v1
kind: ConfigMap
metadata:
  name: diffme
  namespace: shop
data:
  key: one
`
	k.run("apply", "-f", k.file("diff.yaml", cmDiff))
	r = k.runIn("", nil, "diff", "-f", k.file("diff.yaml", cmDiff))
	if exitCode(r.Err) != 0 || r.Stdout != "" {
		t.Fatalf("diff without change: %v\n%s\n%s", r.Err, r.Stdout, r.Stderr)
	}
	r = k.runIn("", nil, "diff", "-f", k.file("diff.yaml", strings.Replace(cmDiff, "key: one", "key: two", 1)))
	if exitCode(r.Err) != 1 {
		t.Fatalf("diff with change: exit %v\n%s\n%s", r.Err, r.Stdout, r.Stderr)
	}
	wantMatch(t, "diff output", r.Stdout, `^-  key: one$`, `^\+  key: two$`, `^-  generation: 1$|^ `)
	if strings.Contains(r.Stdout, "resourceVersion") || strings.Contains(r.Stdout, "managedFields") {
		t.Fatalf("diff shows server-managed fields:\n%s", r.Stdout)
	}
	wantEqual(t, "diff is a dry run", k.run("get", "cm", "diffme", "-n", "shop", "-o", "jsonpath={.data.key}"), "one")
	r = k.runIn("", nil, "diff", "--server-side", "-f", k.file("diff.yaml", strings.Replace(cmDiff, "key: one", "key: three", 1)))
	if exitCode(r.Err) != 1 || !strings.Contains(r.Stdout, "+  key: three") {
		t.Fatalf("server-side diff: %v\n%s\n%s", r.Err, r.Stdout, r.Stderr)
	}

	// wait: a condition set through the status subresource, a jsonpath, a deletion.
	wantLines(t, "status patch", k.run("patch", "deploy", "web", "-n", "shop", "--subresource=status", "--type=merge", "-p",
		`{"status":{"conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable","message":"ok"}]}}`),
		"deployment.apps/web patched")
	wantLines(t, "wait condition", k.run("wait", "deploy/web", "-n", "shop", "--for=condition=Available", "--timeout=20s"),
		"deployment.apps/web condition met")
	wantLines(t, "wait jsonpath", k.run("wait", "ns/shop", "--for=jsonpath={.status.phase}=Active", "--timeout=20s"),
		"namespace/shop condition met")
	r = k.runIn("", nil, "wait", "deploy/web", "-n", "shop", "--for=condition=Progressing", "--timeout=1s")
	if r.Err == nil || !strings.Contains(r.Stderr, "timed out waiting for the condition") {
		t.Fatalf("wait timeout: %v %s", r.Err, r.Stderr)
	}
	k.mustIn(`apiVersion: v1
kind: ConfigMap
metadata:
  name: held
  namespace: shop
  finalizers: ["example.com/hold"]
`, "create", "-f", "-")
	out = k.run("delete", "cm", "held", "-n", "shop", "--wait=false")
	wantMatch(t, "delete held", out, `^configmap "held" deleted`)
	wantMatch(t, "deletionTimestamp", k.run("get", "cm", "held", "-n", "shop", "-o", "jsonpath={.metadata.deletionTimestamp}"), `^\d{4}-\d\d-\d\dT`)
	// kubectl wait finds nothing to wait for when the object is already gone, so the finalizer
	// goes once its watch is open (-v=6 logs the request).
	waitLines := k.startKubectl("wait", "cm/held", "-n", "shop", "--for=delete", "--timeout=30s", "-v=6")
	waitFor(t, waitLines.errLines, "kubectl wait's watch", "watch=true")
	k.run("patch", "cm", "held", "-n", "shop", "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
	wantMatch(t, "wait --for=delete", nextLine(t, waitLines, "wait for delete"), `^configmap/held condition met$`)
	if err := waitLines.wait(); err != nil {
		t.Fatalf("wait --for=delete: %v", err)
	}
	r = k.runIn("", nil, "get", "cm", "held", "-n", "shop")
	if r.Err == nil || !strings.Contains(r.Stderr, `configmaps "held" not found`) {
		t.Fatalf("held still there: %v %s %s", r.Err, r.Stdout, r.Stderr)
	}
	// delete --wait (the default) returns once the object is gone.
	k.run("create", "configmap", "gone", "-n", "shop")
	wantMatch(t, "delete --wait", k.run("delete", "cm", "gone", "-n", "shop", "--wait=true"), `^configmap "gone" deleted`)

	// explain, api-resources, api-versions, version.
	out = k.run("explain", "deployment.spec.template")
	wantMatch(t, "explain", out, `^GROUP:\s+apps$`, `^KIND:\s+Deployment$`, `^VERSION:\s+v1$`, `^FIELD: template <PodTemplateSpec>$`,
		`^DESCRIPTION:$`, `^FIELDS:$`, `^  metadata\s+<ObjectMeta>$`, `^  spec\s+<PodSpec>$`)
	out = k.run("explain", "pods.spec.containers.image")
	wantMatch(t, "explain leaf", out, `^FIELD: image <string>$`)
	out = k.run("api-resources")
	wantMatch(t, "api-resources", out, `^NAME\s+SHORTNAMES\s+APIVERSION\s+NAMESPACED\s+KIND$`,
		`^deployments\s+deploy\s+apps/v1\s+true\s+Deployment$`, `^namespaces\s+ns\s+v1\s+false\s+Namespace$`,
		`^configmaps\s+cm\s+v1\s+true\s+ConfigMap$`, `^ingresses\s+ing\s+networking.k8s.io/v1\s+true\s+Ingress$`)
	out = k.run("api-resources", "--api-group=apps", "-o", "name")
	wantMatch(t, "api-resources -o name", out, `^deployments.apps$`, `^statefulsets.apps$`)
	out = k.run("api-resources", "--namespaced=false", "--verbs=list", "-o", "wide")
	wantMatch(t, "api-resources wide", out, `^nodes\s+no\s+v1\s+false\s+Node\s+create,delete,deletecollection,get,list,patch,update,watch`)
	out = k.run("api-versions")
	wantMatch(t, "api-versions", out, `^v1$`, `^apps/v1$`, `^batch/v1$`, `^networking.k8s.io/v1$`, `^rbac.authorization.k8s.io/v1$`)
	// kubectl version checks the client's own version too: that needs the binary built with
	// -ldflags "-X k8s.io/client-go/pkg/version.gitVersion=..." (cmd/ and its build own that).
	r = k.runIn("", nil, "version", "-o", "json")
	var ver struct {
		ClientVersion struct{ GitVersion string }               `json:"clientVersion"`
		ServerVersion struct{ GitVersion, Major, Minor string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &ver); err != nil {
		t.Fatalf("version -o json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	if ver.ServerVersion.Major != "1" || ver.ServerVersion.Minor != "37" || !strings.HasPrefix(ver.ServerVersion.GitVersion, "v1.37.") {
		t.Fatalf("server version: %+v", ver.ServerVersion)
	}
	if r.Err != nil {
		t.Errorf("kubectl version: %v: %s (client version %q)", r.Err, r.Stderr, ver.ClientVersion.GitVersion)
	}

	// Imperative create and expose.
	wantLines(t, "create deployment", k.run("create", "deployment", "hello", "-n", "shop", "--image=nginx:1.27", "--replicas=2", "--port=8080"),
		"deployment.apps/hello created")
	wantLines(t, "create configmap", k.run("create", "configmap", "lit", "-n", "shop", "--from-literal=k1=v1", "--from-literal=k2=v2"),
		"configmap/lit created")
	wantEqual(t, "literal data", k.run("get", "cm", "lit", "-n", "shop", "-o", "jsonpath={.data.k1},{.data.k2}"), "v1,v2")
	wantLines(t, "expose", k.run("expose", "deployment", "hello", "-n", "shop", "--port=80", "--target-port=8080"), "service/hello exposed")
	wantEqual(t, "exposed service", k.run("get", "svc", "hello", "-n", "shop", "-o",
		"jsonpath={.spec.type} {.spec.selector.app} {.spec.ports[0].port} {.spec.ports[0].targetPort}"), "ClusterIP hello 80 8080")
	r = k.runIn("", nil, "create", "configmap", "lit", "-n", "shop")
	if r.Err == nil || !strings.Contains(r.Stderr, `configmaps "lit" already exists`) {
		t.Fatalf("duplicate create: %v %s", r.Err, r.Stderr)
	}

	// events, core/v1 and events.k8s.io/v1.
	webUID := k.run("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.metadata.uid}")
	k.mustIn(`apiVersion: v1
kind: Event
metadata:
  name: web.1
  namespace: shop
involvedObject:
  apiVersion: apps/v1
  kind: Deployment
  name: web
  namespace: shop
  uid: `+webUID+`
reason: ScalingReplicaSet
message: Scaled up replica set web-abc to 2
type: Normal
source:
  component: deployment-controller
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
count: 1
`, "create", "-f", "-")
	out = k.run("get", "events", "-n", "shop")
	wantMatch(t, "get events", out, `^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$`,
		`^\S+\s+Normal\s+ScalingReplicaSet\s+deployment/web\s+Scaled up replica set web-abc to 2$`)
	out = k.run("events", "-n", "shop", "--for=deployment/web")
	wantMatch(t, "kubectl events", out, `ScalingReplicaSet\s+Deployment/web\s+Scaled up replica set web-abc to 2$`)
	wantMatch(t, "describe shows events", k.run("describe", "deploy", "web", "-n", "shop"),
		`^Events:$`, `Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up replica set web-abc to 2$`)

	// delete --dry-run=server leaves the object.
	wantMatch(t, "dry-run delete", k.run("delete", "cm", "lit", "-n", "shop", "--dry-run=server"), `^configmap "lit" deleted.*\(server dry run\)$`)
	wantEqual(t, "still there", k.run("get", "cm", "lit", "-n", "shop", "-o", "jsonpath={.metadata.name}"), "lit")
	wantMatch(t, "dry-run create", k.run("create", "cm", "dry", "-n", "shop", "--dry-run=server", "-o", "jsonpath={.metadata.uid}"), `^[0-9a-f-]{36}$`)
	r = k.runIn("", nil, "get", "cm", "dry", "-n", "shop")
	if r.Err == nil {
		t.Fatalf("dry-run create stored the object")
	}

	// replace the object with an edited copy.
	live := k.run("get", "cm", "lit", "-n", "shop", "-o", "yaml")
	wantLines(t, "replace", k.mustIn(strings.Replace(live, "k1: v1", "k1: replaced", 1), "replace", "-f", "-"), "configmap/lit replaced")
	wantEqual(t, "after replace", k.run("get", "cm", "lit", "-n", "shop", "-o", "jsonpath={.data.k1}"), "replaced")
	// A stale resourceVersion conflicts.
	r = k.runIn(live, nil, "replace", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "the object has been modified; please apply your changes to the latest version and try again") {
		t.Fatalf("stale replace: %v %s", r.Err, r.Stderr)
	}
	// replace --force deletes and recreates.
	wantMatch(t, "replace --force", k.mustIn(strings.Replace(live, "k1: v1", "k1: forced", 1), "replace", "--force", "-f", "-"),
		`^configmap "lit" deleted`, `^configmap/lit replaced$`)
}

func TestKubectlSelectorsChunksAuth(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}

	k.run("create", "namespace", "sel")
	var docs []string
	for i := range 7 {
		tier := "back"
		if i%2 == 0 {
			tier = "front"
		}
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n  namespace: sel\n  labels:\n    tier: %s\ndata:\n  i: %q\n", i, tier, fmt.Sprint(i)))
	}
	k.mustIn(strings.Join(docs, "---\n"), "apply", "-f", "-")
	k.run("create", "secret", "generic", "opaque1", "-n", "sel", "--from-literal=a=b")
	k.run("create", "secret", "docker-registry", "reg1", "-n", "sel", "--docker-server=r.example.com", "--docker-username=u", "--docker-password=p")

	out := k.run("get", "cm", "-n", "sel", "--selector", "tier=front", "-o", "name")
	wantLines(t, "label selector", out, "configmap/cm-0", "configmap/cm-2", "configmap/cm-4", "configmap/cm-6")
	out = k.run("get", "cm", "-n", "sel", "-l", "tier!=front,tier", "-o", "name")
	wantLines(t, "label selector !=", out, "configmap/cm-1", "configmap/cm-3", "configmap/cm-5")
	out = k.run("get", "cm", "-n", "sel", "-l", "tier in (front)", "-L", "tier")
	wantMatch(t, "label column", out, `^NAME\s+DATA\s+AGE\s+TIER$`, `^cm-0\s+1\s+\d+s\s+front$`)
	out = k.run("get", "cm", "-n", "sel", "--field-selector", "metadata.name=cm-3", "-o", "name")
	wantLines(t, "field selector", out, "configmap/cm-3")
	out = k.run("get", "secrets", "-n", "sel", "--field-selector", "type=kubernetes.io/dockerconfigjson")
	wantMatch(t, "secret field selector", out, `^NAME\s+TYPE\s+DATA\s+AGE$`, `^reg1\s+kubernetes.io/dockerconfigjson\s+1\s+\d+s$`)
	if strings.Contains(out, "opaque1") {
		t.Fatalf("field selector let opaque1 through:\n%s", out)
	}
	r := k.runIn("", nil, "get", "cm", "-n", "sel", "--field-selector", "data.i=3")
	if r.Err == nil || !strings.Contains(r.Stderr, `field label not supported: data.i`) {
		t.Fatalf("unsupported field selector: %v %s", r.Err, r.Stderr)
	}
	out = k.run("get", "cm", "-A", "--field-selector", "metadata.namespace=sel", "-l", "tier=back")
	wantMatch(t, "all namespaces", out, `^NAMESPACE\s+NAME\s+DATA\s+AGE$`, `^sel\s+cm-1\s+1\s+\d+s$`)

	// Paging: every object comes back, through several requests of two.
	r = k.runIn("", nil, "get", "cm", "-n", "sel", "--chunk-size=2", "-l", "tier", "-v=6")
	if r.Err != nil {
		t.Fatalf("chunked get: %v %s", r.Err, r.Stderr)
	}
	wantMatch(t, "chunked table", r.Stdout, `^NAME\s+DATA\s+AGE$`)
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n")[1:] {
		names = append(names, strings.Fields(l)[0])
	}
	wantEqual(t, "chunked names", strings.Join(names, ","), "cm-0,cm-1,cm-2,cm-3,cm-4,cm-5,cm-6")
	if n := strings.Count(r.Stderr, "limit=2"); n != 4 {
		t.Fatalf("chunked get made %d limit=2 requests, want 4:\n%s", n, r.Stderr)
	}
	if n := strings.Count(r.Stderr, "continue="); n != 3 {
		t.Fatalf("chunked get made %d continue requests, want 3:\n%s", n, r.Stderr)
	}
	out = k.run("get", "cm", "-n", "sel", "--chunk-size=3", "-l", "tier", "-o", "name")
	wantEqualInt(t, "chunked -o name", strings.Count(out, "configmap/cm-"), 7)

	// auth can-i and whoami.
	wantLines(t, "can-i", k.run("auth", "can-i", "create", "deployments", "-n", "sel"), "yes")
	wantLines(t, "can-i subresource", k.run("auth", "can-i", "get", "pods", "--subresource=log"), "yes")
	wantLines(t, "can-i all", k.run("auth", "can-i", "*", "*", "--all-namespaces"), "yes")
	out = k.run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if out == "" {
		t.Fatalf("whoami: empty user name")
	}

	out = k.run("auth", "can-i", "--list", "-n", "sel")
	wantMatch(t, "can-i --list", out, `^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$`, `^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$`)

	// Output formats.
	out = k.run("get", "cm", "-n", "sel", "-l", "tier", "--sort-by=.data.i", "-o", "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier")
	wantMatch(t, "custom-columns", out, `^NAME\s+TIER$`, `^cm-0\s+front$`, `^cm-1\s+back$`)
	out = k.run("get", "cm", "cm-1", "-n", "sel", "--show-labels")
	wantMatch(t, "show-labels", out, `^NAME\s+DATA\s+AGE\s+LABELS$`, `^cm-1\s+1\s+\d+s\s+tier=back$`)
	r = k.runIn("", nil, "get", "pods", "-n", "sel")
	if r.Err != nil || r.Stdout != "" || !strings.Contains(r.Stderr, "No resources found in sel namespace.") {
		t.Fatalf("empty list: %v %q %q", r.Err, r.Stdout, r.Stderr)
	}

	// Pods (no scheduler or kubelet: they stay Pending) and workloads.
	wantLines(t, "run", k.run("run", "web", "-n", "sel", "--image=nginx:1.27", "--labels=app=web"), "pod/web created")
	out = k.run("get", "pods", "-n", "sel", "-o", "wide")
	wantMatch(t, "get pods -o wide", out, `^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$`,
		`^web\s+0/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>\s+<none>\s+<none>$`)
	wantMatch(t, "describe pod", k.run("describe", "pod", "web", "-n", "sel"), `^Status:\s+Pending$`, `^QoS Class:\s+BestEffort$`)
	wantMatch(t, "delete pod", k.run("delete", "pod", "web", "-n", "sel"), `^pod "web" deleted`)
	k.run("create", "deployment", "app", "-n", "sel", "--image=nginx:1.27")
	wantLines(t, "set image", k.run("set", "image", "deployment/app", "-n", "sel", "nginx=nginx:1.29"), "deployment.apps/app image updated")
	wantEqual(t, "image", k.run("get", "deploy", "app", "-n", "sel", "-o", "jsonpath={.spec.template.spec.containers[0].image}"), "nginx:1.29")
	wantLines(t, "set env", k.run("set", "env", "deployment/app", "-n", "sel", "MODE=prod"), "deployment.apps/app env updated")
	wantLines(t, "create job", k.run("create", "job", "once", "-n", "sel", "--image=busybox", "--", "true"), "job.batch/once created")
	wantMatch(t, "job selector", k.run("get", "job", "once", "-n", "sel", "-o", "jsonpath={.spec.selector.matchLabels}"), `batch.kubernetes.io/controller-uid`)
	wantLines(t, "create cronjob", k.run("create", "cronjob", "nightly", "-n", "sel", "--image=busybox", "--schedule=0 3 * * *", "--", "true"), "cronjob.batch/nightly created")
	wantMatch(t, "get cronjob", k.run("get", "cj", "-n", "sel"), `^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE$`, `^nightly\s+0 3 \* \* \*\s+<none>\s+False\s+0\s+<none>\s+\d+s$`)

	// Dry runs change nothing.
	wantLines(t, "label dry-run", k.run("label", "cm", "cm-1", "-n", "sel", "dry=yes", "--dry-run=server"), "configmap/cm-1 labeled (server dry run)")
	cm1 := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-1\n  namespace: sel\n  labels:\n    tier: back\ndata:\n  i: \"changed\"\n"
	wantMatch(t, "apply dry-run -o yaml", k.mustIn(cm1, "apply", "--dry-run=server", "-f", "-", "-o", "yaml"), `^  i: changed$`)
	wantMatch(t, "ssa dry-run", k.mustIn(cm1, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-"), `^configmap/cm-1 serverside-applied \(server dry run\)$`)
	wantEqual(t, "after dry runs", k.run("get", "cm", "cm-1", "-n", "sel", "-o", "jsonpath={.data.i}/{.metadata.labels.dry}"), "1/")
	// Piping an object back through apply keeps it.
	live := k.run("get", "cm", "cm-1", "-n", "sel", "-o", "yaml")
	wantLines(t, "apply of a live object", k.mustIn(live, "apply", "-f", "-"), "configmap/cm-1 configured")
	wantLines(t, "apply again", k.mustIn(cm1, "apply", "-f", "-"), "configmap/cm-1 configured")
	wantEqual(t, "after apply", k.run("get", "cm", "cm-1", "-n", "sel", "-o", "jsonpath={.data.i}"), "changed")

	// cluster-info and the raw API.
	wantMatch(t, "cluster-info", k.run("cluster-info"), `Kubernetes control plane.* is running at https://127\.0\.0\.1:\d+`)
	wantMatch(t, "get --raw", k.run("get", "--raw", "/api/v1/namespaces/sel/configmaps/cm-1"), `"name":"cm-1"`)
	wantEqual(t, "readyz", k.run("get", "--raw", "/readyz"), "ok")

	// deletecollection with a selector.
	out = k.run("delete", "cm", "-n", "sel", "-l", "tier=front")
	wantMatch(t, "delete -l", out, `^configmap "cm-0" deleted`, `^configmap "cm-6" deleted`)
	out = k.run("get", "cm", "-n", "sel", "-l", "tier", "-o", "name")
	wantLines(t, "after delete -l", out, "configmap/cm-1", "configmap/cm-3", "configmap/cm-5")
}

func wantEqualInt(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %d, want %d", what, got, want)
	}
}
