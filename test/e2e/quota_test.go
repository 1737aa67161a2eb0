package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/kijabi/kijabi/internal/testserver"
)

// refused runs kubectl expecting the server to refuse, and returns its error output.
func (k *kubectlSession) refused(stdin string, args ...string) string {
	k.t.Helper()
	r := k.runIn(stdin, nil, args...)
	if r.Err == nil {
		k.t.Fatalf("kubectl %s succeeded, want a refusal; stdout: %s", strings.Join(args, " "), r.Stdout)
	}
	return r.Stderr
}

// TestLimitRange: a namespace's LimitRange fills in container defaults and refuses pods and
// claims outside its bounds, in upstream's words.
func TestLimitRange(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 1})
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	k.run("create", "namespace", "lr")
	k.mustIn(`apiVersion: v1
kind: LimitRange
metadata: {name: limits, namespace: lr}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 128Mi}
    defaultRequest: {cpu: 100m}
    max: {cpu: "1"}
  - type: PersistentVolumeClaim
    min: {storage: 1Gi}
`, "apply", "-f", "-")
	// LimitRange defaulting: max stays, defaultRequest for memory comes from the default.
	if got := k.run("get", "limitrange", "limits", "-n", "lr", "-o", "jsonpath={.spec.limits[0].defaultRequest.memory}"); got != "128Mi" {
		t.Errorf("defaultRequest.memory = %q, want 128Mi from default", got)
	}

	k.run("run", "plain", "-n", "lr", "--image=kijabi.local/busybox", "--", "sleep", "1d")
	if got := k.run("get", "pod", "plain", "-n", "lr", "-o", "jsonpath={.spec.containers[0].resources}"); got != `{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}` {
		t.Errorf("defaulted resources = %s", got)
	}
	big := `apiVersion: v1
kind: Pod
metadata: {name: big, namespace: lr}
spec:
  containers:
  - name: c
    image: kijabi.local/busybox
    resources: {limits: {cpu: "2"}}
`
	if msg := k.refused(big, "apply", "-f", "-"); !strings.Contains(msg, `pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2`) {
		t.Errorf("over max: %s", msg)
	}
	if r := k.s.Kubectl(t, "get", "pod", "big", "-n", "lr"); r.Err == nil {
		t.Error("the refused pod was stored")
	}
	claim := `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: small, namespace: lr}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 100Mi}}
`
	if msg := k.refused(claim, "apply", "-f", "-"); !strings.Contains(msg, `persistentvolumeclaims "small" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 100Mi`) {
		t.Errorf("claim under min: %s", msg)
	}
	// Other namespaces are not limited.
	k.run("run", "free", "--image=kijabi.local/busybox", "--", "sleep", "1d")
	if got := k.run("get", "pod", "free", "-o", "jsonpath={.spec.containers[0].resources}"); got != "{}" {
		t.Errorf("a pod outside the namespace got resources %s", got)
	}
}

func quotaPod(name, cpuRequest, cpuLimit string) string {
	return `apiVersion: v1
kind: Pod
metadata: {name: ` + name + `, namespace: q}
spec:
  containers:
  - name: c
    image: kijabi.local/busybox
    args: [sleep, 1d]
    resources: {requests: {cpu: ` + cpuRequest + `}, limits: {cpu: ` + cpuLimit + `}}
`
}

// TestResourceQuota: quotas refuse what would overrun them, in upstream's words, count what
// their namespace holds, and free room when objects go.
func TestResourceQuota(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 1})
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	k.run("create", "namespace", "q")
	k.run("create", "quota", "compute", "-n", "q", "--hard=pods=2,requests.cpu=1,limits.cpu=2")
	k.run("create", "quota", "objects", "-n", "q", "--hard=count/secrets=1,services.nodeports=0")
	used := func(quota, name string) string {
		return k.run("get", "quota", quota, "-n", "q", "-o", "jsonpath={.status.used."+strings.ReplaceAll(name, ".", `\.`)+"}")
	}
	// The controller computes usage; from then on admission charges what is created.
	poll(t, 60*time.Second, "quota usage computed", func() (bool, error) {
		return used("compute", "pods") == "0" && used("objects", "count/secrets") == "0", nil
	})

	if msg := k.refused("", "run", "bare", "-n", "q", "--image=kijabi.local/busybox", "--", "sleep", "1d"); !strings.Contains(msg,
		`pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: bare; requests.cpu for: bare`) {
		t.Errorf("a pod without requests: %s", msg)
	}
	k.mustIn(quotaPod("p1", "400m", "800m"), "apply", "-f", "-")
	k.mustIn(quotaPod("p2", "400m", "800m"), "apply", "-f", "-")
	if got := used("compute", "requests.cpu") + " " + used("compute", "pods"); got != "800m 2" {
		t.Errorf("used after two pods = %q, want 800m 2 (charged at admission)", got)
	}
	wantExceeded := `pods "p3" is forbidden: exceeded quota: compute, requested: limits.cpu=800m,pods=1,requests.cpu=400m, used: limits.cpu=1600m,pods=2,requests.cpu=800m, limited: limits.cpu=2,pods=2,requests.cpu=1`
	if msg := k.refused(quotaPod("p3", "400m", "800m"), "apply", "--dry-run=server", "-f", "-"); !strings.Contains(msg, wantExceeded) {
		t.Errorf("dry run over quota: %s", msg)
	}
	if msg := k.refused(quotaPod("p3", "400m", "800m"), "apply", "-f", "-"); !strings.Contains(msg, wantExceeded) {
		t.Errorf("over quota: %s", msg)
	}
	out := k.run("get", "quota", "compute", "-n", "q")
	if !strings.Contains(out, "pods: 2/2") || !strings.Contains(out, "requests.cpu: 800m/1") || !strings.Contains(out, "limits.cpu: 1600m/2") {
		t.Errorf("kubectl get quota:\n%s", out)
	}

	// A deleted pod frees its share once the controller has recounted.
	k.run("delete", "pod", "p1", "-n", "q", "--wait=false")
	poll(t, 60*time.Second, "the third pod admitted after a deletion", func() (bool, error) {
		r := k.runIn(quotaPod("p3", "400m", "800m"), nil, "apply", "-f", "-")
		return r.Err == nil, nil
	})

	// Object counts and NodePorts.
	k.run("create", "secret", "generic", "a", "-n", "q")
	if msg := k.refused("", "create", "secret", "generic", "b", "-n", "q"); !strings.Contains(msg,
		`secrets "b" is forbidden: exceeded quota: objects, requested: count/secrets=1, used: count/secrets=1, limited: count/secrets=1`) {
		t.Errorf("secret over count: %s", msg)
	}
	if msg := k.refused("", "create", "service", "nodeport", "np", "-n", "q", "--tcp=80:8080"); !strings.Contains(msg,
		`services "np" is forbidden: exceeded quota: objects, requested: services.nodeports=1, used: services.nodeports=0, limited: services.nodeports=0`) {
		t.Errorf("NodePort service: %s", msg)
	}
	k.run("create", "service", "clusterip", "cip", "-n", "q", "--tcp=80:8080")
	if msg := k.refused("", "patch", "service", "cip", "-n", "q", "-p", `{"spec":{"type":"NodePort"}}`); !strings.Contains(msg, "exceeded quota: objects") {
		t.Errorf("turning a Service into a NodePort: %s", msg)
	}
}
