package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kijabi/kijabi/internal/testserver"
)

func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	pollTB(t, timeout, what, cond)
}

func pollTB(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond()
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestTypedClientCRUD(t *testing.T) {
	s := testserver.Start(t)
	for _, contentType := range []string{"application/json", "application/vnd.kubernetes.protobuf"} {
		t.Run(contentType, func(t *testing.T) {
			cfg := rest.CopyConfig(s.Config)
			cfg.ContentType = contentType
			c := kubernetes.NewForConfigOrDie(cfg)
			ctx := context.Background()
			cms := c.CoreV1().ConfigMaps("default")
			name := "crud-" + strconv.Itoa(len(contentType))
			created, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "x"}}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
				t.Fatalf("server did not set uid/resourceVersion/creationTimestamp: %+v", created.ObjectMeta)
			}
			got, err := cms.Get(ctx, name, metav1.GetOptions{})
			if err != nil || got.Data["k"] != "v" {
				t.Fatalf("get: %v %+v", err, got)
			}
			got.Data["k"] = "v2"
			updated, err := cms.Update(ctx, got, metav1.UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The first copy is now stale: optimistic concurrency refuses it.
			created.Data["k"] = "stale"
			if _, err := cms.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
				t.Fatalf("stale update: got %v, want Conflict", err)
			}
			list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "app=x"})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, it := range list.Items {
				if it.Name == name && it.Data["k"] == "v2" && it.ResourceVersion == updated.ResourceVersion {
					found = true
				}
			}
			if !found {
				t.Fatalf("list did not return the updated object: %+v", list.Items)
			}
			if err := cms.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := cms.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("get after delete: %v", err)
			}
		})
	}
}

// TestTypedClientGetAfterUpdate: gets are served from the watch cache; a get right after a
// write through another client must still see that write (resourceVersion "" is a consistent
// read), and resourceVersion "0" or "N" must be answered too.
func TestTypedClientGetAfterUpdate(t *testing.T) {
	s := testserver.Start(t)
	for _, contentType := range []string{"application/json", "application/vnd.kubernetes.protobuf"} {
		t.Run(contentType, func(t *testing.T) {
			cfg := rest.CopyConfig(s.Config)
			cfg.ContentType = contentType
			writer := kubernetes.NewForConfigOrDie(cfg)
			rcfg := rest.CopyConfig(cfg)
			rcfg.UserAgent = "reader"
			reader := kubernetes.NewForConfigOrDie(rcfg)
			ctx := context.Background()
			name := "gau-" + strconv.Itoa(len(contentType))
			cur, err := writer.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": "0"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 30; i++ {
				cur.Data["i"] = strconv.Itoa(i)
				if cur, err = writer.CoreV1().ConfigMaps("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				got, err := reader.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got.ResourceVersion != cur.ResourceVersion || got.Data["i"] != strconv.Itoa(i) || got.Kind != "" && got.Kind != "ConfigMap" {
					t.Fatalf("update %d: get returned rv %s i=%s, want rv %s", i, got.ResourceVersion, got.Data["i"], cur.ResourceVersion)
				}
				atLeast, err := reader.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{ResourceVersion: cur.ResourceVersion})
				if err != nil || atLeast.Data["i"] != strconv.Itoa(i) {
					t.Fatalf("update %d: get at least rv %s: %v %v", i, cur.ResourceVersion, err, atLeast.Data)
				}
				if _, err := reader.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{ResourceVersion: "0"}); err != nil {
					t.Fatalf("get with resourceVersion 0: %v", err)
				}
			}
			if err := writer.CoreV1().ConfigMaps("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := reader.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("get after delete: %v", err)
			}
			if _, err := reader.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{ResourceVersion: "x"}); !apierrors.IsBadRequest(err) {
				t.Fatalf("get with a bad resourceVersion: %v", err)
			}
		})
	}
}

func TestGenerationAndStatusSubresource(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	svcs := s.Client.CoreV1().Services("default")
	svc, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.Ports[0].NodePort < 30000 || svc.Spec.Ports[0].TargetPort.IntValue() != 80 {
		t.Fatalf("allocation/defaults missing: %+v", svc.Spec)
	}
	// Status written through the object is ignored; through /status it lands.
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}
	out, err := svcs.Update(ctx, svc, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("update of the object changed status: %+v", out.Status)
	}
	svc.ResourceVersion = out.ResourceVersion
	out, err = svcs.UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Status.LoadBalancer.Ingress) != 1 {
		t.Fatalf("status update lost: %+v", out.Status)
	}
	// A second service may not take the same ClusterIP or NodePort.
	_, err = svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "clash"},
		Spec: corev1.ServiceSpec{ClusterIP: svc.Spec.ClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("duplicate ClusterIP: got %v, want Invalid", err)
	}
}

// TestInformerSurvivesRestart runs a shared informer through a restart of the API server:
// it must keep its cache and see changes made after the restart.
func TestInformerSurvivesRestart(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	s := testserver.Start(t, testserver.Options{DataDir: dir, Port: port})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := rest.CopyConfig(s.Config)
	client := kubernetes.NewForConfigOrDie(cfg)
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Core().V1().ConfigMaps().Informer()
	var mu sync.Mutex
	seen := map[string]string{}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			mu.Lock()
			seen[o.(*corev1.ConfigMap).Name] = "added"
			mu.Unlock()
		},
		UpdateFunc: func(_, o any) {
			mu.Lock()
			seen[o.(*corev1.ConfigMap).Name] = "updated:" + o.(*corev1.ConfigMap).Data["v"]
			mu.Unlock()
		},
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			mu.Lock()
			seen[o.(*corev1.ConfigMap).Name] = "deleted"
			mu.Unlock()
		},
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	state := func(name string) string {
		mu.Lock()
		defer mu.Unlock()
		return seen[name]
	}
	cms := s.Client.CoreV1().ConfigMaps("default")
	cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	poll(t, 10*time.Second, "informer add", func() (bool, error) { return state("before") == "added", nil })

	if err := s.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	s2 := testserver.Start(t, testserver.Options{DataDir: dir, Port: port})
	cms = s2.Client.CoreV1().ConfigMaps("default")
	cm, err := cms.Get(ctx, "before", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("object lost across restart: %v", err)
	}
	cm.Data["v"] = "2"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{})
	poll(t, 60*time.Second, "informer to see changes after restart", func() (bool, error) {
		return state("before") == "updated:2" && state("after") == "added", nil
	})
	cms.Delete(ctx, "after", metav1.DeleteOptions{})
	poll(t, 10*time.Second, "informer delete", func() (bool, error) { return state("after") == "deleted", nil })
}

// TestWatchSemantics checks the watch contract client-go relies on.
func TestWatchSemantics(t *testing.T) {
	s := testserver.Start(t)
	// Protobuf clients of built-in kinds are sent the stored bytes; JSON ones get objects
	// encoded by the server: both must see the same thing.
	for _, contentType := range []string{"application/json", "application/vnd.kubernetes.protobuf"} {
		t.Run(contentType, func(t *testing.T) {
			cfg := rest.CopyConfig(s.Config)
			cfg.ContentType = contentType
			watchSemantics(t, kubernetes.NewForConfigOrDie(cfg), "watch-"+strconv.Itoa(len(contentType)))
		})
	}
}

func watchSemantics(t *testing.T, c kubernetes.Interface, ns string) {
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cms := c.CoreV1().ConfigMaps(ns)
	first, _ := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w1", Labels: map[string]string{"team": "a"}}}, metav1.CreateOptions{})

	t.Run("FromResourceVersion", func(t *testing.T) {
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion, LabelSelector: "team=a"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w2", Labels: map[string]string{"team": "a"}}}, metav1.CreateOptions{})
		cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{"team": "b"}}}, metav1.CreateOptions{})
		// Relabelling w1 out of the selection looks like a deletion to this watcher.
		w1, _ := cms.Get(ctx, "w1", metav1.GetOptions{})
		w1.Labels["team"] = "b"
		relabelled, _ := cms.Update(ctx, w1, metav1.UpdateOptions{})
		cms.Delete(ctx, "w2", metav1.DeleteOptions{})
		want := []string{"ADDED w2", "DELETED w1", "DELETED w2"}
		for _, exp := range want {
			select {
			case ev := <-w.ResultChan():
				cm := ev.Object.(*corev1.ConfigMap)
				got := fmt.Sprintf("%s %s", ev.Type, cm.Name)
				if got != exp {
					t.Fatalf("event %q, want %q", got, exp)
				}
				// An object leaving the selection is sent as it was, at the revision
				// that took it out.
				if exp == "DELETED w1" && (cm.Labels["team"] != "a" || cm.ResourceVersion != relabelled.ResourceVersion) {
					t.Fatalf("DELETED w1 carries labels %v at %s, want team=a at %s", cm.Labels, cm.ResourceVersion, relabelled.ResourceVersion)
				}
				if cm.Namespace != ns || cm.UID == "" || cm.ResourceVersion == "" {
					t.Fatalf("event object lacks metadata: %+v", cm.ObjectMeta)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no event, want %q", exp)
			}
		}
	})
	t.Run("SendInitialEvents", func(t *testing.T) {
		yes := true
		w, err := cms.Watch(ctx, metav1.ListOptions{SendInitialEvents: &yes, AllowWatchBookmarks: true,
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		names := map[string]bool{}
		for {
			select {
			case ev := <-w.ResultChan():
				obj := ev.Object.(*corev1.ConfigMap)
				if ev.Type == watch.Bookmark {
					if obj.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
						t.Fatalf("bookmark without the initial-events-end annotation: %+v", obj.ObjectMeta)
					}
					delete(names, "kube-root-ca.crt")
					if !names["w1"] || !names["other"] || len(names) != 2 {
						t.Fatalf("initial events %v miss objects", names)
					}
					return
				}
				names[obj.Name] = true
			case <-time.After(10 * time.Second):
				t.Fatal("no initial-events-end bookmark")
			}
		}
	})
	t.Run("PagedList", func(t *testing.T) {
		for _, n := range []string{"p1", "p2", "p3"} {
			if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}, Data: map[string]string{"n": n}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		opts := metav1.ListOptions{Limit: 2}
		for {
			page, err := cms.List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if page.ResourceVersion == "" {
				t.Fatalf("page without a resourceVersion")
			}
			for _, it := range page.Items {
				if it.ResourceVersion == "" || (it.Data["n"] != "" && it.Data["n"] != it.Name) {
					t.Fatalf("item %+v", it)
				}
				if it.Name != "kube-root-ca.crt" { // made by the controller manager, if any
					names = append(names, it.Name)
				}
			}
			if page.Continue == "" {
				break
			}
			if page.RemainingItemCount == nil {
				t.Fatalf("page with a continue token but no remaining count")
			}
			opts.Continue = page.Continue
		}
		if want := "other p1 p2 p3 w1"; strings.Join(names, " ") != want {
			t.Fatalf("paged list: %v, want %s", names, want)
		}
	})
}

// TestGoneAfterCompaction: a watch from a revision the server no longer has (outside the
// watch cache's window, here because the server restarted after etcd was compacted) ends with
// a 410 Gone error event, and an exact list at a compacted revision is refused with 410.
func TestGoneAfterCompaction(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	s := testserver.Start(t, testserver.Options{DataDir: dir, Port: port})
	ctx := context.Background()
	cms := s.Client.CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "first"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "filler-"}}, metav1.CreateOptions{})
	}
	compactAll(t, s)
	_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("exact list at compacted revision: %v", err)
	}
	s.Stop()
	s = testserver.Start(t, testserver.Options{DataDir: dir, Port: port})
	cms = s.Client.CoreV1().ConfigMaps("default")
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("watch at compacted revision: %v", err)
		}
		return
	}
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		status, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok || status.Code != 410 {
			t.Fatalf("got %s %#v, want an ERROR event with a 410 Status", ev.Type, ev.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no error event for a compacted revision")
	}
}

func compactAll(t *testing.T, s *testserver.Server) {
	t.Helper()
	if err := s.Compact(context.Background()); err != nil {
		t.Fatalf("compacting: %v", err)
	}
}

// TestEventsTwoAPIs: core/v1 and events.k8s.io/v1 Events are two views of the same objects.
func TestEventsTwoAPIs(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	now := metav1.NowMicro()
	_, err := s.Client.CoreV1().Events("default").Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "core-ev"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p1"},
		Reason:         "Started", Message: "started container", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "kubelet"}, Count: 2,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.Client.EventsV1().Events("default").Get(ctx, "core-ev", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Regarding.Name != "p1" || ev.Note != "started container" || ev.DeprecatedCount != 2 || ev.DeprecatedSource.Component != "kubelet" {
		t.Fatalf("events.k8s.io view: %+v", ev)
	}
	_, err = s.Client.EventsV1().Events("default").Create(ctx, &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "new-ev"}, EventTime: now, ReportingController: "kijabi.io/test",
		ReportingInstance: "test-1", Action: "Testing", Reason: "Tested", Note: "a note", Type: corev1.EventTypeWarning,
		Regarding: corev1.ObjectReference{Kind: "Node", Name: "n1"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=n1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Message != "a note" || list.Items[0].ReportingController != "kijabi.io/test" {
		t.Fatalf("core view of an events.k8s.io event: %+v", list.Items)
	}
}
