package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
)

// fakeUpstream is a resolver on loopback that knows one outside name.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && strings.EqualFold(q.Question[0].Name, "outside.example.") && q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR("outside.example. 30 IN A 192.0.2.99")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// echoDeployment makes a Deployment of busybox httpd pods that answer with their own name
// on :8080 and are Ready while /tmp/ready exists.
func echoDeployment(c *nodeCluster, name string, replicas int32, body string) {
	c.t.Helper()
	script := httpdScript
	if body != "" {
		script = fmt.Sprintf("mkdir -p /www/api; echo %s > /www/index.html; cp /www/index.html /www/api/index.html; exec httpd -f -p 8080 -h /www", body)
	}
	script = "touch /tmp/ready; " + script
	labels := map[string]string{"app": name}
	d := deployment(name, replicas, labels, corev1.Container{
		Name: "web", Image: busybox, Command: []string{"sh", "-c", script},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}},
			PeriodSeconds: 1, FailureThreshold: 1,
		},
	})
	if _, err := c.Client.AppsV1().Deployments("default").Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func service(name string, typ corev1.ServiceType, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: typ, Selector: selector, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
		}},
	}
}

// answers fetches url n times and counts the distinct answers.
func answers(url string, n int) map[string]int {
	seen := map[string]int{}
	client := &http.Client{Timeout: 2 * time.Second}
	for i := 0; i < n; i++ {
		resp, err := client.Get(url)
		if err != nil {
			seen["error: "+err.Error()]++
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen[strings.TrimSpace(string(b))]++
	}
	return seen
}

func readyPodNames(c *nodeCluster, app string) []string {
	pods, err := c.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		c.t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		if ready(&p) && p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	return names
}

// TestServiceNetworking runs real pods behind Services and checks what users rely on:
// ClusterIP balancing from the node and from a pod, NotReady pods leaving the set,
// scaling, NodePort, LoadBalancer, cluster DNS and Ingress.
func TestServiceNetworking(t *testing.T) {
	upstream := fakeUpstream(t)
	srv := testserver.Start(t, testserver.Options{Agent: true, DNSUpstreams: []string{upstream}})
	c := &nodeCluster{Server: srv, t: t}
	waitNodeReady(t, srv.Client)
	ctx := context.Background()

	echoDeployment(c, "echo", 3, "")
	svc, err := c.Client.CoreV1().Services("default").Create(ctx, service("echo", corev1.ServiceTypeClusterIP, map[string]string{"app": "echo"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 90*time.Second, "3 echo pods Ready", func() (bool, error) { return len(readyPodNames(c, "echo")) == 3, nil })
	c.create(shPod("client", "sleep 3600"))
	c.waitPod("client", "Running", 60*time.Second, running)

	t.Run("ClusterIPFromNode", func(t *testing.T) {
		want := readyPodNames(c, "echo")
		poll(t, 30*time.Second, "every echo pod to answer on the ClusterIP", func() (bool, error) {
			seen := answers("http://"+svc.Spec.ClusterIP+"/", 30)
			for _, n := range want {
				if seen[n] == 0 {
					return false, nil
				}
			}
			return true, nil
		})
	})

	t.Run("ClusterIPFromPodByName", func(t *testing.T) {
		want := readyPodNames(c, "echo")
		poll(t, 60*time.Second, "every echo pod to answer a pod calling echo by name", func() (bool, error) {
			r := c.Kubectl(t, "exec", "client", "--", "sh", "-c", "for i in $(seq 30); do wget -qO- http://echo/; done")
			for _, n := range want {
				if !strings.Contains(r.Stdout, n) {
					return false, nil
				}
			}
			return true, nil
		})
	})

	t.Run("NotReadyLeavesAndScaleJoins", func(t *testing.T) {
		names := readyPodNames(c, "echo")
		gone := names[0]
		c.MustKubectl(t, "exec", gone, "--", "rm", "/tmp/ready")
		poll(t, 60*time.Second, gone+" to stop receiving traffic", func() (bool, error) {
			seen := answers("http://"+svc.Spec.ClusterIP+"/", 30)
			return seen[gone] == 0 && len(seen) == 2, nil
		})
		c.MustKubectl(t, "scale", "deployment", "echo", "--replicas=4")
		poll(t, 90*time.Second, "the new pod to receive traffic", func() (bool, error) {
			now := readyPodNames(c, "echo")
			if len(now) != 3 {
				return false, nil
			}
			seen := answers("http://"+svc.Spec.ClusterIP+"/", 40)
			for _, n := range now {
				if seen[n] == 0 {
					return false, nil
				}
			}
			return seen[gone] == 0, nil
		})
	})

	t.Run("NodePort", func(t *testing.T) {
		np, err := c.Client.CoreV1().Services("default").Create(ctx, service("echo-np", corev1.ServiceTypeNodePort, map[string]string{"app": "echo"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/", np.Spec.Ports[0].NodePort)
		poll(t, 30*time.Second, "the NodePort to answer", func() (bool, error) {
			seen := answers(url, 3)
			for k := range seen {
				if strings.HasPrefix(k, "echo-") {
					return true, nil
				}
			}
			return false, nil
		})
	})

	t.Run("LoadBalancer", func(t *testing.T) {
		if _, err := c.Client.CoreV1().Services("default").Create(ctx, service("echo-lb", corev1.ServiceTypeLoadBalancer, map[string]string{"app": "echo"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var ip string
		poll(t, 30*time.Second, "a LoadBalancer address", func() (bool, error) {
			s, err := c.Client.CoreV1().Services("default").Get(ctx, "echo-lb", metav1.GetOptions{})
			if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 {
				return false, nil
			}
			ip = s.Status.LoadBalancer.Ingress[0].IP
			return true, nil
		})
		out := c.MustKubectl(t, "get", "svc", "echo-lb")
		if !strings.Contains(out, ip) {
			t.Errorf("kubectl get svc does not show EXTERNAL-IP %s:\n%s", ip, out)
		}
		poll(t, 30*time.Second, "the LoadBalancer address to answer", func() (bool, error) {
			for k := range answers("http://"+net.JoinHostPort(ip, "80")+"/", 3) {
				if strings.HasPrefix(k, "echo-") {
					return true, nil
				}
			}
			return false, nil
		})
	})

	t.Run("DNS", func(t *testing.T) {
		headless := service("echo-headless", corev1.ServiceTypeClusterIP, map[string]string{"app": "echo"})
		headless.Spec.ClusterIP = corev1.ClusterIPNone
		if _, err := c.Client.CoreV1().Services("default").Create(ctx, headless, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		web := service("web", corev1.ServiceTypeClusterIP, map[string]string{"app": "web"})
		web.Spec.ClusterIP = corev1.ClusterIPNone
		if _, err := c.Client.CoreV1().Services("default").Create(ctx, web, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sts := statefulSet("web", 1, map[string]string{"app": "web"}, corev1.Container{
			Name: "web", Image: busybox, Command: []string{"sleep", "3600"}, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}})
		if _, err := c.Client.AppsV1().StatefulSets("default").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		web0 := c.waitPod("web-0", "Running", 90*time.Second, func(p *corev1.Pod) bool { return ready(p) })
		lookup := func(name string) string {
			return c.Kubectl(t, "exec", "client", "--", "nslookup", name).Stdout
		}
		poll(t, 30*time.Second, "the Service name to resolve to its ClusterIP", func() (bool, error) {
			return strings.Contains(lookup("echo.default.svc.cluster.local"), svc.Spec.ClusterIP), nil
		})
		poll(t, 30*time.Second, "the headless Service to resolve to the ready pods", func() (bool, error) {
			out := lookup("echo-headless.default.svc.cluster.local")
			pods, _ := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
			n := 0
			for _, p := range pods.Items {
				if ready(&p) {
					if !strings.Contains(out, p.Status.PodIP) {
						return false, nil
					}
					n++
				}
			}
			return n > 0, nil
		})
		poll(t, 30*time.Second, "the StatefulSet pod name to resolve", func() (bool, error) {
			return strings.Contains(lookup("web-0.web.default.svc.cluster.local"), web0.Status.PodIP), nil
		})
		poll(t, 30*time.Second, "an outside name to resolve through the upstream", func() (bool, error) {
			return strings.Contains(lookup("outside.example."), "192.0.2.99"), nil
		})
	})

	t.Run("OutboundMasquerade", func(t *testing.T) {
		// An "outside" host in a network namespace of its own, reachable from the node over
		// a veth pair, with no route back to the pod network: pods reach it only if the
		// node masquerades their traffic.
		ns := fmt.Sprintf("kjbext%d", os.Getpid()%10000)
		hostEnd, nsEnd := ns+"a", ns+"b"
		run := func(args ...string) {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
		run("ip", "netns", "add", ns)
		t.Cleanup(func() {
			exec.Command("ip", "link", "del", hostEnd).Run()
			exec.Command("ip", "netns", "del", ns).Run()
		})
		run("ip", "link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd)
		run("ip", "link", "set", nsEnd, "netns", ns)
		run("ip", "addr", "add", "10.250.99.1/30", "dev", hostEnd)
		run("ip", "link", "set", hostEnd, "up")
		run("ip", "netns", "exec", ns, "ip", "addr", "add", "10.250.99.2/30", "dev", nsEnd)
		run("ip", "netns", "exec", ns, "ip", "link", "set", nsEnd, "up")
		run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
		www := t.TempDir()
		if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("outside\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		httpd := exec.Command("ip", "netns", "exec", ns, "busybox", "httpd", "-f", "-p", "10.250.99.2:8080", "-h", www)
		if err := httpd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { httpd.Process.Kill(); httpd.Wait() })
		poll(t, 30*time.Second, "a pod to reach the outside host", func() (bool, error) {
			r := c.Kubectl(t, "exec", "client", "--", "wget", "-qO-", "http://10.250.99.2:8080/")
			return r.Stdout == "outside\n", nil
		})
	})

	t.Run("Ingress", func(t *testing.T) {
		echoDeployment(c, "api", 1, "api-answer")
		if _, err := c.Client.CoreV1().Services("default").Create(ctx, service("api", corev1.ServiceTypeClusterIP, map[string]string{"app": "api"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		certPEM, keyPEM := selfSigned(t, "a.example")
		if _, err := c.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "a-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		prefix := networkingv1.PathTypePrefix
		backend := func(svc string) networkingv1.IngressBackend {
			return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "http"}}}
		}
		ing := &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "routes"},
			Spec: networkingv1.IngressSpec{
				TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.example"}, SecretName: "a-tls"}},
				Rules: []networkingv1.IngressRule{
					{Host: "a.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
						Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: backend("echo")}}}}},
					{Host: "b.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
						Paths: []networkingv1.HTTPIngressPath{{Path: "/api", PathType: &prefix, Backend: backend("api")}}}}},
				},
			},
		}
		if _, err := c.Client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		get := func(scheme, addr, host, path string) (int, string) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: host, RootCAs: pool(certPEM)}}
			client := &http.Client{Timeout: 3 * time.Second, Transport: tr}
			req, _ := http.NewRequest(http.MethodGet, scheme+"://"+addr+path, nil)
			req.Host = host
			resp, err := client.Do(req)
			if err != nil {
				return 0, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, strings.TrimSpace(string(b))
		}
		poll(t, 60*time.Second, "a.example to reach echo", func() (bool, error) {
			code, body := get("http", srv.IngressAddr, "a.example", "/")
			return code == 200 && strings.HasPrefix(body, "echo-"), nil
		})
		poll(t, 60*time.Second, "b.example/api to reach api", func() (bool, error) {
			code, body := get("http", srv.IngressAddr, "b.example", "/api/")
			return code == 200 && body == "api-answer", nil
		})
		if code, _ := get("http", srv.IngressAddr, "b.example", "/other"); code != 404 {
			t.Errorf("b.example/other = %d, want 404", code)
		}
		poll(t, 60*time.Second, "a.example over TLS with its certificate", func() (bool, error) {
			code, body := get("https", srv.IngressTLSAddr, "a.example", "/")
			return code == 200 && strings.HasPrefix(body, "echo-"), nil
		})
		poll(t, 30*time.Second, "the Ingress status", func() (bool, error) {
			got, err := c.Client.NetworkingV1().Ingresses("default").Get(ctx, "routes", metav1.GetOptions{})
			return err == nil && len(got.Status.LoadBalancer.Ingress) > 0, nil
		})
	})
}

// waitNodeReady waits for the cluster's one node to have its podCIDR and be Ready.
func waitNodeReady(t testing.TB, client kubernetes.Interface) {
	t.Helper()
	pollTB(t, 60*time.Second, "the node to be Ready", func() (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil || len(nodes.Items) == 0 || nodes.Items[0].Spec.PodCIDR == "" {
			return false, nil
		}
		for _, cond := range nodes.Items[0].Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func pool(certPEM []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(certPEM)
	return p
}

func podTemplate(labels map[string]string, c corev1.Container) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1), Containers: []corev1.Container{c}},
	}
}

func deployment(name string, replicas int32, labels map[string]string, c corev1.Container) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, c),
		},
	}
}

func statefulSet(name string, replicas int32, labels map[string]string, c corev1.Container) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: name, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, c),
		},
	}
}
