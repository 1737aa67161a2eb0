package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// netpolWorkload: a web server with a named port and a Service in np-web, beside two
// clients; a pod in a namespace labelled team=friends and one in another namespace.
var netpolWorkload = `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: np-web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: kijabi.local/busybox:latest
    command: [sh, -c, 'mkdir -p /www; hostname > /www/index.html; exec httpd -f -p 8080 -h /www']
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: np-web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
` + netpolSleeper("client", "np-web", "role: client") + netpolSleeper("other", "np-web", "role: other") +
	netpolSleeper("friend", "np-friends", "role: client") + netpolSleeper("stranger", "np-strangers", "role: client")

func netpolSleeper(name, ns, label string) string {
	return fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {%s}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: kijabi.local/busybox:latest, command: [sleep, "3600"]}]
`, name, ns, label)
}

const (
	netpolDenyAll = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: np-web}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`
	netpolAllowClients = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-clients, namespace: np-web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: http}]
`
	netpolAllowFriends = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-friends, namespace: np-web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: friends}}}]
`
	netpolFriendsEgress = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns-only, namespace: np-friends}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
`
)

// TestNetworkPolicy runs real pods on the node and checks, with wget between them, that
// NetworkPolicies are enforced: default deny, pod and namespace selectors, named ports,
// Service traffic, egress with DNS, and access restored when policies go.
func TestNetworkPolicy(t *testing.T) {
	// Registered first, so checked last: once the cluster has stopped, its node's
	// table is gone (testserver names the proxy table kjbproxy<n>).
	table := fmt.Sprintf("kjbproxy%d-netpol", os.Getpid()%100+120)
	t.Cleanup(func() {
		if out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput(); err == nil {
			t.Errorf("table %s left behind:\n%s", table, out)
		}
	})
	srv := testserver.Start(t, testserver.Options{Agent: true})
	waitNodeReady(t, srv.Client)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("nft", "list", "table", "ip", table).CombinedOutput()
			t.Logf("the node's network policy table:\n%s", out)
		}
	})
	apply := func(manifest string) {
		t.Helper()
		testutil.Poll(t, 60*time.Second, "kubectl apply", func() (bool, error) {
			r := srv.KubectlIn(t, strings.NewReader(manifest), nil, "apply", "-f", "-")
			if r.Err != nil {
				return false, fmt.Errorf("%v: %s", r.Err, r.Stderr)
			}
			return true, nil
		})
	}
	srv.MustKubectl(t, "create", "namespace", "np-web")
	srv.MustKubectl(t, "create", "namespace", "np-strangers")
	srv.MustKubectl(t, "create", "namespace", "np-friends")
	srv.MustKubectl(t, "label", "namespace", "np-friends", "team=friends")
	apply(netpolWorkload) // retried until the namespaces' service accounts exist
	for _, p := range []string{"np-web/web", "np-web/client", "np-web/other", "np-friends/friend", "np-strangers/stranger"} {
		ns, name, _ := strings.Cut(p, "/")
		srv.MustKubectl(t, "wait", "-n", ns, "--for=condition=Ready", "pod/"+name, "--timeout=90s")
	}
	webIP := strings.TrimSpace(srv.MustKubectl(t, "get", "pod", "-n", "np-web", "web", "-o", "jsonpath={.status.podIP}"))
	byIP := "http://" + webIP + ":8080/"
	byService := "http://web.np-web/"

	// reaches reports whether pod ns/name gets web's page from url, and what wget said.
	reaches := func(pod, url string) (bool, string) {
		ns, name, _ := strings.Cut(pod, "/")
		// busybox's timeout, not wget -T (which Debian's busybox 1.35 crashes on).
		r := srv.Kubectl(t, "exec", "-n", ns, name, "--", "timeout", "2", "wget", "-qO-", url)
		return r.Err == nil && strings.TrimSpace(r.Stdout) == "web", strings.TrimSpace(r.Stdout + " " + r.Stderr)
	}
	// expect waits until every pod reaches url or not as wanted.
	type want struct {
		pod, url string
		ok       bool
	}
	expect := func(what string, wants ...want) {
		t.Helper()
		testutil.Poll(t, 60*time.Second, what, func() (bool, error) {
			for _, w := range wants {
				if ok, out := reaches(w.pod, w.url); ok != w.ok {
					return false, fmt.Errorf("%s -> %s: reached=%v, want %v (%s)", w.pod, w.url, ok, w.ok, out)
				}
			}
			return true, nil
		})
	}
	client, other, friend, stranger := "np-web/client", "np-web/other", "np-friends/friend", "np-strangers/stranger"

	expect("every pod to reach web without policies",
		want{client, byIP, true}, want{other, byIP, true}, want{friend, byIP, true}, want{stranger, byIP, true}, want{client, byService, true})

	t.Run("DefaultDenyIngress", func(t *testing.T) {
		apply(netpolDenyAll)
		expect("web to be unreachable", want{friend, byIP, false}, want{client, byIP, false}, want{other, byService, false})
		if out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput(); err != nil || !strings.Contains(string(out), "np-web/web") {
			t.Errorf("nft list table %s: %v\n%s", table, err, out)
		}
	})

	t.Run("PodSelectorAndNamedPort", func(t *testing.T) {
		apply(netpolAllowClients)
		expect("role=client in, others out, by address and through the Service",
			want{client, byIP, true}, want{client, byService, true}, want{other, byIP, false}, want{other, byService, false},
			want{friend, byIP, false}) // role=client, but of another namespace
	})

	t.Run("NamespaceSelector", func(t *testing.T) {
		apply(netpolAllowFriends)
		expect("the friends' namespace in, strangers out", want{friend, byIP, true}, want{stranger, byIP, false})
	})

	t.Run("EgressWithDNS", func(t *testing.T) {
		apply(netpolFriendsEgress)
		expect("friend's traffic out to be dropped", want{friend, byIP, false}, want{friend, byService, false})
		testutil.Poll(t, 30*time.Second, "friend to resolve web's name", func() (bool, error) {
			r := srv.Kubectl(t, "exec", "-n", "np-friends", "friend", "--", "nslookup", "web.np-web.svc.cluster.local")
			return r.Err == nil && strings.Contains(r.Stdout, "Address"), fmt.Errorf("%v: %s%s", r.Err, r.Stdout, r.Stderr)
		})
		srv.MustKubectl(t, "delete", "networkpolicy", "-n", "np-friends", "dns-only")
		expect("friend's traffic out to pass again", want{friend, byIP, true})
	})

	t.Run("DeletingPoliciesRestoresAccess", func(t *testing.T) {
		srv.MustKubectl(t, "delete", "networkpolicy", "-n", "np-web", "--all")
		expect("every pod to reach web again",
			want{other, byIP, true}, want{stranger, byIP, true}, want{other, byService, true}, want{client, byIP, true})
	})
}
