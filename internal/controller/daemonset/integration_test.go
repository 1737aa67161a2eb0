package daemonset_test

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/kijabi/kijabi/internal/controller/daemonset"
	"github.com/kijabi/kijabi/internal/scheduler"
	"github.com/kijabi/kijabi/internal/simnode"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// runAll runs fns until the test ends.
func runAll(t *testing.T, fns ...func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Go(func() { f(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// runningPodsByNode maps node name to the names of the live, Running and Ready daemon pods.
func runningPodsByNode(ctx context.Context, client kubernetes.Interface, image string) (map[string][]string, error) {
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
		}
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning || !ready || p.Spec.Containers[0].Image != image {
			return nil, fmt.Errorf("pod %s on %q is %s (ready %v, image %s, conditions %+v)", p.Name, p.Spec.NodeName, p.Status.Phase, ready, p.Spec.Containers[0].Image, p.Status.Conditions)
		}
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Name)
	}
	return out, nil
}

func nodeSet(m map[string][]string) string {
	var names []string
	for n, pods := range m {
		names = append(names, fmt.Sprintf("%s:%d", n, len(pods)))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func TestDaemonSetAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	s := testserver.Start(t)
	client := s.Client
	ctx, cancel := context.WithCancel(context.Background())

	factory := informers.NewSharedInformerFactory(client, 0)
	sched, err := scheduler.New(scheduler.Config{Client: client, Informers: factory, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	dsc := daemonset.New(client, factory.Apps().V1().DaemonSets(), factory.Core().V1().Pods(),
		factory.Core().V1().Nodes(), factory.Apps().V1().ControllerRevisions())
	nodes, err := simnode.New(simnode.Config{Client: client, Nodes: 3, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	late, err := simnode.New(simnode.Config{Client: client, Nodes: 1, NamePrefix: "late-", Workers: 1,
		NodeCIDR: "10.201.0.0/16", PodCIDR: "10.64.0.0/10"})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	runAll(t,
		func(ctx context.Context) { _ = nodes.Run(ctx) },
		sched.Run,
		func(ctx context.Context) { dsc.Run(ctx, 2) },
	)

	testutil.Poll(t, 30*time.Second, "3 Ready nodes", func() (bool, error) {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		n := 0
		for i := range list.Items {
			if nodeReady(&list.Items[i]) {
				n++
			}
		}
		return n == 3, fmt.Errorf("%d ready", n)
	})
	// sim-0002 is tainted: the DaemonSet does not tolerate it.
	taint := []byte(`{"spec":{"taints":[{"key":"dedicated","value":"infra","effect":"NoSchedule"}]}}`)
	if _, err := client.CoreV1().Nodes().Patch(ctx, "sim-0002", types.StrategicMergePatchType, taint, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
		},
	}
	dss := client.AppsV1().DaemonSets("default")
	if _, err := dss.Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor := func(want, image string, desired int32) {
		t.Helper()
		testutil.Poll(t, 60*time.Second, fmt.Sprintf("pods on %s with %s", want, image), func() (bool, error) {
			byNode, err := runningPodsByNode(ctx, client, image)
			if err != nil {
				return false, err
			}
			if got := nodeSet(byNode); got != want {
				return false, fmt.Errorf("pods on %s", got)
			}
			d, err := dss.Get(ctx, "agent", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := d.Status
			if st.ObservedGeneration < d.Generation || st.DesiredNumberScheduled != desired || st.CurrentNumberScheduled != desired ||
				st.NumberReady != desired || st.NumberAvailable != desired || st.UpdatedNumberScheduled != desired ||
				st.NumberUnavailable != 0 || st.NumberMisscheduled != 0 {
				return false, fmt.Errorf("status %+v (generation %d)", st, d.Generation)
			}
			return true, nil
		})
	}
	waitFor("sim-0000:1,sim-0001:1", "agent:1", 2)

	// Pods carry the revision hash, tolerations and node-name affinity; the revision exists.
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		t.Fatal(err)
	}
	p := pods.Items[0]
	hash := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if hash == "" {
		t.Fatalf("pod labels %v", p.Labels)
	}
	if _, err := client.AppsV1().ControllerRevisions("default").Get(ctx, "agent-"+hash, metav1.GetOptions{}); err != nil {
		t.Fatalf("revision agent-%s: %v", hash, err)
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || terms[0].MatchFields[0].Values[0] != p.Spec.NodeName {
		t.Errorf("affinity %+v for node %s", terms, p.Spec.NodeName)
	}

	// A node added later gets its pod.
	runAll(t, func(ctx context.Context) { _ = late.Run(ctx) })
	waitFor("late-0000:1,sim-0000:1,sim-0001:1", "agent:1", 3)

	// A rolling update replaces every pod.
	d, err := dss.Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if _, err := dss.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("late-0000:1,sim-0000:1,sim-0001:1", "agent:2", 3)
	revs, err := client.AppsV1().ControllerRevisions("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 2 {
		t.Errorf("%d revisions, want 2", len(revs.Items))
	}

	// Removing a node's eligibility (an untolerated NoExecute taint) removes its pod.
	noExec := []byte(`{"spec":{"taints":[{"key":"evict","value":"yes","effect":"NoExecute"}]}}`)
	if _, err := client.CoreV1().Nodes().Patch(ctx, "late-0000", types.StrategicMergePatchType, noExec, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("sim-0000:1,sim-0001:1", "agent:2", 2)
}
