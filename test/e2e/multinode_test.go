package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/cri"
	"github.com/kijabi/kijabi/internal/cri/containerd"
	"github.com/kijabi/kijabi/internal/network/overlay"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// TestMultiNodeNetworking joins a second node to the test cluster: a `kijabi agent`
// process in a network namespace of its own, linked to the host by a veth (addresses
// of 10.253.X.0/30). The two agents' VXLAN overlays connect their pod networks: a pod
// on each node reaches the other by its pod IP, keeping its own source address, and
// through a ClusterIP Service whose only endpoint is on the other node.
func TestMultiNodeNetworking(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := testserver.Start(t, testserver.Options{Agent: true})
	c := &nodeCluster{Server: srv, t: t}
	waitNodeReady(t, srv.Client)
	ctx := context.Background()
	nodes, err := srv.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	hostNode := nodes.Items[0].Name

	// The test server's pod network and bridge, as testserver.Start names them; the
	// second node takes the same bridge name, which names the VXLAN device and its VNI.
	n := os.Getpid()%100 + 120
	bridge, clusterCIDR := fmt.Sprintf("kjb%d", n), fmt.Sprintf("10.%d.0.0/16", n)
	hostCIDR, err := netip.ParsePrefix(nodes.Items[0].Spec.PodCIDR)
	if err != nil || !netip.MustParsePrefix(clusterCIDR).Contains(hostCIDR.Addr()) {
		t.Fatalf("the node's podCIDR %q is not in %s: has testserver changed how it names its pod network?", nodes.Items[0].Spec.PodCIDR, clusterCIDR)
	}
	if out, err := exec.Command("ip", "-4", "addr", "show", "dev", bridge).CombinedOutput(); err != nil || !strings.Contains(string(out), hostCIDR.Addr().Next().String()+"/") {
		t.Fatalf("the test server's bridge %s (with %s): %v\n%s", bridge, hostCIDR.Addr().Next(), err, out)
	}

	// The second node's namespace and the veth to it.
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	ns, hostVeth := "kjmn-"+suffix, "kjmn"+suffix
	octet := 1 + int(b[0])%250
	hostIP, nodeIP := fmt.Sprintf("10.253.%d.1", octet), fmt.Sprintf("10.253.%d.2", octet)
	if out, _ := exec.Command("ip", "-4", "addr", "show", "to", fmt.Sprintf("10.253.%d.0/30", octet)).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("10.253.%d.0/30 is in use on this host:\n%s", octet, out)
	}
	mustRun(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	mustRun(t, "ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", hostVeth).Run() })
	mustRun(t, "ip", "addr", "add", hostIP+"/30", "dev", hostVeth)
	mustRun(t, "ip", "link", "set", hostVeth, "up")
	mustRun(t, "ip", "-n", ns, "addr", "add", nodeIP+"/30", "dev", "eth0")
	mustRun(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	mustRun(t, "ip", "-n", ns, "route", "add", "default", "via", hostIP)

	// The API server listens on loopback: the second node reaches it through a relay on
	// the host's end of the veth.
	api, err := url.Parse(srv.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	relay := tcpRelay(t, net.JoinHostPort(hostIP, "0"), api.Host)

	// The host node's overlay announces the veth's address instead of its InternalIP
	// (127.0.0.1).
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, overlay.AnnotationPublicIPOverwrite, hostIP)
	if _, err := srv.Client.CoreV1().Nodes().Patch(ctx, hostNode, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	// The second node joins with a kubeconfig for the relay.
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig.yaml")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kijabi"] = &clientcmdapi.Cluster{Server: "https://" + relay, CertificateAuthorityData: srv.Config.CAData, TLSServerName: api.Hostname()}
	kc.AuthInfos["node"] = &clientcmdapi.AuthInfo{ClientCertificateData: srv.Config.CertData, ClientKeyData: srv.Config.KeyData}
	kc.Contexts["node"] = &clientcmdapi.Context{Cluster: "kijabi", AuthInfo: "node"}
	kc.CurrentContext = "node"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	node2, nodeDir := "kjmn-node-"+suffix, filepath.Join(dir, "node")
	agentLog := &lockedWriter{}
	// nsenter rather than `ip netns exec`, which mounts a fresh /sys in a mount namespace
	// of its own, without the host's cgroup file systems (v1 or v2) that runc needs.
	agent := exec.Command("nsenter", "--net=/run/netns/"+ns, "--", testserver.Binary(t), "agent", "--kubeconfig", kubeconfig, "--data-dir", nodeDir,
		"--node-name", node2, "--node-ip", nodeIP, "--cni-bridge", bridge, "--cluster-cidr", clusterCIDR, "--log-level", "warn")
	agent.Stdout, agent.Stderr = agentLog, agentLog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan struct{})
	go func() { _ = agent.Wait(); close(agentDone) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the overlay on the host:\n%s\nand on the second node:\n%s", overlayState("", bridge+".1"), overlayState(ns, bridge+".1"))
		}
		// An agent that stops keeps its pods' containers: delete the pods (the kubelet
		// stops their containers), remove their sandboxes through the node's runtime,
		// then stop the agent, and with it its containerd.
		bg := context.Background()
		_ = srv.Client.CoreV1().Pods("default").DeleteCollection(bg, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](1)},
			metav1.ListOptions{FieldSelector: "spec.nodeName=" + node2})
		_ = pollErr(60*time.Second, func() (bool, error) {
			pods, err := srv.Client.CoreV1().Pods("default").List(bg, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node2})
			return err == nil && len(pods.Items) == 0, nil
		})
		removeSandboxes(t, containerd.SocketPath(containerd.DefaultDir(nodeDir)))
		_ = agent.Process.Signal(os.Interrupt)
		select {
		case <-agentDone:
		case <-time.After(30 * time.Second):
			_ = agent.Process.Kill()
			<-agentDone
		}
		// The agent ran in the host's mount namespace: what its kubelet left mounted
		// under its data dir goes before the directory does.
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("processes left in the second node's namespace: %s", out)
		}
		unmountUnder(t, nodeDir)
		_ = srv.Client.CoreV1().Nodes().Delete(context.Background(), node2, metav1.DeleteOptions{})
		if t.Failed() {
			t.Logf("second agent's log:\n%s", agentLog.String())
		}
	})

	testutil.Poll(t, 3*time.Minute, "the second node Ready with a podCIDR", func() (bool, error) {
		select {
		case <-agentDone:
			return false, fmt.Errorf("the second agent exited: %s", agentLog.String())
		default:
		}
		node, err := srv.Client.CoreV1().Nodes().Get(ctx, node2, metav1.GetOptions{})
		if err != nil || node.Spec.PodCIDR == "" {
			return false, err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	// Each node announces its VTEP, and programs the other's.
	peers := map[string]overlay.Peer{}
	testutil.Poll(t, time.Minute, "both nodes to announce their VTEPs", func() (bool, error) {
		for _, name := range []string{hostNode, node2} {
			node, err := srv.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			p, ok := overlay.PeerOf(node)
			if !ok {
				return false, fmt.Errorf("%s has no overlay annotations yet: %v", name, node.Annotations)
			}
			peers[name] = p
		}
		return peers[hostNode].PublicIP.String() == hostIP && peers[node2].PublicIP.String() == nodeIP, nil
	})
	hostDevice, remoteRoute := bridge+".1", peers[node2].PodCIDR.String()+" via "+peers[node2].Gateway().String()
	testutil.Poll(t, time.Minute, "the host's route to the second node's pods", func() (bool, error) {
		out, err := exec.Command("ip", "route", "show", "dev", hostDevice).CombinedOutput()
		return strings.Contains(string(out), remoteRoute), err
	})

	// A pod on each node answering its name on / and the caller's address on /cgi-bin/ip.
	web := func(name, node string) *corev1.Pod {
		p := shPod(name, `mkdir -p /www/cgi-bin && echo `+name+` > /www/index.html && `+
			`printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho $REMOTE_ADDR\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && `+
			`exec httpd -f -p 8080 -h /www`)
		p.Labels = map[string]string{"app": name}
		p.Spec.NodeName = node
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		return p
	}
	c.create(web("web-a", hostNode))
	c.create(web("web-b", node2))
	podA := c.waitPod("web-a", "Running", 2*time.Minute, func(p *corev1.Pod) bool { return running(p) && p.Status.PodIP != "" })
	podB := c.waitPod("web-b", "Running", 2*time.Minute, func(p *corev1.Pod) bool { return running(p) && p.Status.PodIP != "" })
	if !peers[hostNode].PodCIDR.Contains(mustAddr(t, podA.Status.PodIP)) || !peers[node2].PodCIDR.Contains(mustAddr(t, podB.Status.PodIP)) {
		t.Fatalf("pod IPs %s and %s are not in their nodes' ranges %s and %s", podA.Status.PodIP, podB.Status.PodIP, peers[hostNode].PodCIDR, peers[node2].PodCIDR)
	}

	wget := func(pod, url string) (string, error) {
		// busybox's `wget -T` crashes (1.35, Debian 12): its timeout applet bounds it.
		r := c.Kubectl(t, "exec", pod, "--", "timeout", "5", "wget", "-qO-", url)
		if r.Err != nil {
			return "", fmt.Errorf("%v: %s", r.Err, r.Stderr)
		}
		return strings.TrimSpace(r.Stdout), nil
	}
	// httpd listens on IPv6 too: REMOTE_ADDR is "[::ffff:10.x.y.z]".
	remoteAddr := func(s string) string {
		a, err := netip.ParseAddr(strings.Trim(s, "[]"))
		if err != nil {
			return s
		}
		return a.Unmap().String()
	}
	t.Run("PodToPodAcrossNodes", func(t *testing.T) {
		for _, pair := range [][2]*corev1.Pod{{podA, podB}, {podB, podA}} {
			from, to := pair[0], pair[1]
			var got string
			testutil.Poll(t, time.Minute, from.Name+" reaching "+to.Name+" at "+to.Status.PodIP, func() (bool, error) {
				var err error
				got, err = wget(from.Name, "http://"+net.JoinHostPort(to.Status.PodIP, "8080")+"/cgi-bin/ip")
				return err == nil, err
			})
			if got = remoteAddr(got); got != from.Status.PodIP {
				t.Errorf("%s saw %s's request come from %s, want its pod IP %s", to.Name, from.Name, got, from.Status.PodIP)
			}
		}
	})

	t.Run("ClusterIPWithTheEndpointOnTheOtherNode", func(t *testing.T) {
		svc, err := srv.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "only-b"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web-b"}, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		testutil.Poll(t, time.Minute, "web-a reaching web-b through the ClusterIP "+svc.Spec.ClusterIP, func() (bool, error) {
			var err error
			got, err = wget("web-a", "http://"+svc.Spec.ClusterIP+"/")
			return err == nil && got == "web-b", err
		})
		got, err = wget("web-a", "http://"+svc.Spec.ClusterIP+"/cgi-bin/ip")
		if got = remoteAddr(got); err != nil || got != podA.Status.PodIP {
			t.Errorf("through the Service, web-b saw web-a's request come from %q (%v), want %s", got, err, podA.Status.PodIP)
		}
	})
}

// removeSandboxes stops and removes every pod sandbox of the runtime at socket, with
// their containers.
func removeSandboxes(t *testing.T, socket string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt, err := cri.Dial(ctx, socket, 10*time.Second)
	if err != nil {
		t.Logf("removing the second node's sandboxes: %v", err)
		return
	}
	defer rt.Close()
	sbs, err := rt.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Logf("listing the second node's sandboxes: %v", err)
		return
	}
	for _, sb := range sbs.Items {
		if _, err := rt.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			t.Logf("stopping sandbox %s: %v", sb.Id, err)
		}
		if _, err := rt.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			t.Logf("removing sandbox %s: %v", sb.Id, err)
		}
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			t.Logf("unmounting %s: %v", p, err)
		}
	}
}

// overlayState describes a VXLAN device, its entries and its counters in network
// namespace ns ("": the host's), for failure reports.
func overlayState(ns, device string) string {
	var b strings.Builder
	for _, args := range [][]string{
		{"ip", "-d", "-s", "link", "show", device}, {"ip", "addr", "show", device}, {"ip", "route"},
		{"ip", "neigh", "show", "dev", device}, {"bridge", "fdb", "show", "dev", device}, {"nft", "list", "ruleset"},
	} {
		if ns != "" {
			args = append([]string{"ip", "netns", "exec", ns}, args...)
		}
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		fmt.Fprintf(&b, "$ %s (%v)\n%s\n", strings.Join(args, " "), err, out)
	}
	return b.String()
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tcpRelay forwards connections accepted on listen to target until the test ends, and
// returns the address it listens on.
func tcpRelay(t *testing.T, listen, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			go func() {
				defer in.Close()
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return ln.Addr().String()
}

// lockedWriter collects a process's stdout and stderr in one buffer, safe to read while
// the process writes.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
