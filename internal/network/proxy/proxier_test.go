package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kijabi/kijabi/internal/network/nft/nfttest"
)

// backend serves its name over HTTP on addr inside the namespace.
func backend(t *testing.T, ns *nfttest.NetNS, addr, name string) {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, name)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// client makes HTTP requests from inside the namespace, one connection each.
func client(ns *nfttest.NetNS) *http.Client {
	return &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
				err = ns.Do(func() error {
					c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// spread makes n requests and counts the answers per backend.
func spread(t *testing.T, c *http.Client, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		b, err := get(c, url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		got[b]++
	}
	return got
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestProxierTraffic(t *testing.T) {
	nfttest.RequireRoot(t)
	ns := newNetNS(t)
	ns.IP(t, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	ns.IP(t, "link", "set", "d0", "up")
	ns.IP(t, "link", "set", "d1", "up")
	ns.IP(t, "addr", "add", "10.200.0.1/24", "dev", "d0")
	ns.IP(t, "addr", "add", "10.200.0.11/32", "dev", "d0")
	ns.IP(t, "addr", "add", "10.200.0.12/32", "dev", "d0")
	ns.IP(t, "route", "add", "10.96.0.0/16", "dev", "d0")
	backend(t, ns, "10.200.0.11:8080", "one")
	backend(t, ns, "10.200.0.12:8080", "two")

	tcp := v1.ProtocolTCP
	web := svc("web", "10.96.0.10", []v1.ServicePort{port("http", tcp, 80, 30080)}, withType(v1.ServiceTypeNodePort))
	empty := svc("empty", "10.96.0.20", []v1.ServicePort{port("http", tcp, 80, 0)})
	http := []discovery.EndpointPort{eport("http", tcp, 8080)}
	webSlice := slice("web", "web-a", http, ep{ip: "10.200.0.11", node: testNode}, ep{ip: "10.200.0.12", node: testNode})
	sticky := svc("sticky", "10.96.0.30", []v1.ServicePort{port("http", tcp, 80, 0)}, affinity(60))
	stickySlice := slice("sticky", "sticky-a", http, ep{ip: "10.200.0.11"}, ep{ip: "10.200.0.12"})
	cs := fake.NewClientset(web, empty, webSlice, sticky, stickySlice)

	_, cidr, _ := net.ParseCIDR("10.244.0.0/16")
	p, err := New(Config{
		Client:          cs,
		NodeName:        testNode,
		NodeIPs:         []net.IP{net.ParseIP("10.200.0.1")},
		ClusterCIDR:     cidr,
		TableName:       "kjp-traffic",
		NetNS:           ns.Path,
		MinSyncInterval: 20 * time.Millisecond,
		Log:             slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-p.Synced():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no first sync")
	}
	if v := strings.TrimSpace(ns.Exec(t, "cat", "/proc/sys/net/ipv4/conf/all/route_localnet")); v != "1" {
		t.Errorf("route_localnet in the namespace = %s, want 1", v)
	}
	listing := ns.ListTable(t, "kjp-traffic")
	for _, want := range []string{
		"10.96.0.10 . tcp . 80 : goto service-",
		"tcp . 30080 : goto external-",
		"10.96.0.20 . tcp . 80 : goto reject-chain",
		"numgen random mod 2 vmap",
		"dnat to 10.200.0.11:8080",
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("table lacks %q:\n%s", want, listing)
		}
	}

	c := client(ns)
	// ClusterIP: spread over both backends.
	got := spread(t, c, "http://10.96.0.10:80/", 40)
	if got["one"] == 0 || got["two"] == 0 {
		t.Fatalf("ClusterIP traffic not spread over both backends: %v", got)
	}
	t.Logf("ClusterIP spread: %v", got)
	// ClientIP affinity: one client keeps its backend.
	if got := spread(t, c, "http://10.96.0.30:80/", 20); len(got) != 1 {
		t.Errorf("session affinity: answers from several backends: %v", got)
	}
	// NodePort on the node address and on localhost.
	for _, url := range []string{"http://10.200.0.1:30080/", "http://127.0.0.1:30080/"} {
		if got := spread(t, c, url, 20); got["one"]+got["two"] != 20 {
			t.Fatalf("NodePort %s: %v", url, got)
		}
	}
	// No endpoints: rejected at once.
	if _, err := get(c, "http://10.96.0.20:80/"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Service without endpoints: got %v, want connection refused", err)
	}

	// Endpoint update: traffic follows.
	webSlice = slice("web", "web-a", http, ep{ip: "10.200.0.12", node: testNode})
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Update(ctx, webSlice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "traffic follows the endpoint update", func() error {
		if got := spread(t, c, "http://10.96.0.10:80/", 10); got["two"] != 10 {
			return fmt.Errorf("answers %v, want all from two", got)
		}
		return nil
	})
	// The empty Service gets an endpoint: served.
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx,
		slice("empty", "empty-a", http, ep{ip: "10.200.0.11"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new endpoints of a Service served", func() error {
		b, err := get(c, "http://10.96.0.20:80/")
		if err == nil && b != "one" {
			err = fmt.Errorf("answer %q", b)
		}
		return err
	})
	// Service deleted: its ClusterIP is no longer handled.
	if err := cs.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted Service removed", func() error {
		if strings.Contains(ns.ListTable(t, "kjp-traffic"), "10.96.0.10") {
			return errors.New("10.96.0.10 still in the table")
		}
		return nil
	})

	// Shutdown removes the table.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil
	if l := ns.ListTable(t, "kjp-traffic"); l != "" {
		t.Fatalf("table left after shutdown:\n%s", l)
	}
}
