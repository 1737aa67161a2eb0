package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kijabi/kijabi/internal/testserver"
)

// startBinary runs `kijabi server` as its own process on free ports and waits until it answers.
func startBinary(t *testing.T, dir string, apiPort, etcdClient, etcdPeer int) (*exec.Cmd, kubernetes.Interface) {
	return startBinaryTB(t, dir, apiPort, etcdClient, etcdPeer)
}

// startAPIServerB runs `kijabi apiserver` (embedded etcd and the API server, no controllers).
func startAPIServerB(b *testing.B, dir string, ports []int) *exec.Cmd {
	cmd, _ := startCommand(b, "apiserver", dir, ports[0], ports[1], ports[2])
	return cmd
}

func startBinaryTB(t testing.TB, dir string, apiPort, etcdClient, etcdPeer int) (*exec.Cmd, kubernetes.Interface) {
	return startCommand(t, "server", dir, apiPort, etcdClient, etcdPeer)
}

func startCommand(t testing.TB, sub, dir string, apiPort, etcdClient, etcdPeer int, extra ...string) (*exec.Cmd, kubernetes.Interface) {
	t.Helper()
	if sub == "server" {
		// No node agent: these tests are about the control plane.
		extra = append([]string{"--disable-agent"}, extra...)
	}
	cmd := exec.Command(testserver.Binary(t), append([]string{sub, "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(apiPort), "--etcd-client-port", strconv.Itoa(etcdClient),
		"--etcd-peer-port", strconv.Itoa(etcdPeer), "--log-level", "warn"}, extra...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var client kubernetes.Interface
	pollTB(t, 60*time.Second, "server to answer", func() (bool, error) {
		cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig.yaml"))
		if err != nil {
			return false, nil
		}
		cfg.Timeout = 2 * time.Second
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return false, nil
		}
		if _, err := c.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
			return false, nil
		}
		client = c
		return true, nil
	})
	return cmd, client
}

func freePortsB(b *testing.B, n int) []int { return freePortsTB(b, n) }

func freePorts(t *testing.T, n int) []int { return freePortsTB(t, n) }

func freePortsTB(t testing.TB, n int) []int {
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// TestNothingAcknowledgedIsLostOnKill writes objects, kills the server with SIGKILL right after
// the last acknowledgement, restarts it on the same data dir and expects every object back.
func TestNothingAcknowledgedIsLostOnKill(t *testing.T) {
	dir := t.TempDir()
	ports := freePorts(t, 3)
	cmd, client := startBinary(t, dir, ports[0], ports[1], ports[2])
	ctx := context.Background()
	const n = 50
	for i := 0; i < n; i++ {
		_, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("keep-%d", i)}, Data: map[string]string{"i": strconv.Itoa(i)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	_, client = startBinary(t, dir, ports[0], ports[1], ports[2])
	list, err := client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, cm := range list.Items {
		got[cm.Name] = cm.Data["i"]
	}
	for i := 0; i < n; i++ {
		if got[fmt.Sprintf("keep-%d", i)] != strconv.Itoa(i) {
			t.Fatalf("keep-%d lost after kill -9 (have %d objects)", i, len(got))
		}
	}
}
