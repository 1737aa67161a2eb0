package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
)

// TestMetadataWatchBookmarks checks that a metadata-only watch (what the garbage
// collector's and many operators' informers use) gets its initial-events bookmark as
// PartialObjectMetadata, which is all a metadata client can decode.
func TestMetadataWatchBookmarks(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	if _, err := srv.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mc, err := metadata.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	w, err := mc.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace("default").Watch(ctx, metav1.ListOptions{
		AllowWatchBookmarks: true, SendInitialEvents: ptr.To(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	timeout := time.After(30 * time.Second)
	sawAdded := false
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			switch ev.Type {
			case watch.Added:
				if m, ok := ev.Object.(*metav1.PartialObjectMetadata); ok && m.Name == "one" {
					sawAdded = true
				}
			case watch.Bookmark:
				m, ok := ev.Object.(*metav1.PartialObjectMetadata)
				if !ok {
					t.Fatalf("bookmark is %T", ev.Object)
				}
				if m.Annotations[metav1.InitialEventsAnnotationKey] != "true" || !sawAdded {
					t.Fatalf("bookmark %v before the initial events were seen (%v)", m.Annotations, sawAdded)
				}
				checkMetadataEvents(t, srv.Client, mc, w)
				return
			case watch.Error:
				t.Fatalf("watch error: %v", ev.Object)
			}
		case <-timeout:
			t.Fatal("no initial-events bookmark")
		}
	}
}

// TestFilteredWatchDelivers checks that a watch with a selector gets every matching event
// promptly even when non-matching events follow it (they are skipped, and what was written
// before must still reach the client).
func TestFilteredWatchDelivers(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	cms := srv.Client.CoreV1().ConfigMaps("default")
	w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "pick=yes"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const n = 40
	for i := 0; i < n; i++ {
		for _, pick := range []string{"yes", "no"} {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", pick, i), Labels: map[string]string{"pick": pick}}}
			if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	timeout := time.After(10 * time.Second)
	for got := 0; got < n; {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Added {
				got++
			}
		case <-timeout:
			t.Fatalf("only %d of %d matching events arrived", got, n)
		}
	}
}

// checkMetadataEvents changes the ConfigMap "one" and checks what metadata clients (served
// in protobuf, from the stored bytes) see of it: the change on the watch w, and a list.
func checkMetadataEvents(t *testing.T, c kubernetes.Interface, mc metadata.Interface, w watch.Interface) {
	t.Helper()
	ctx := context.Background()
	cm, err := c.CoreV1().ConfigMaps("default").Patch(ctx, "one", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"tier":"web"}},"data":{"k":"v"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			m, isMeta := ev.Object.(*metav1.PartialObjectMetadata)
			if ev.Type != watch.Modified || !isMeta || m.Name != "one" {
				continue
			}
			if m.ResourceVersion != cm.ResourceVersion || m.Labels["tier"] != "web" || m.UID != cm.UID {
				t.Fatalf("metadata event %+v, want the patched object's metadata (resourceVersion %s)", m.ObjectMeta, cm.ResourceVersion)
			}
			done = true
		case <-timeout:
			t.Fatal("no Modified event on the metadata watch")
		}
	}
	list, err := mc.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range list.Items {
		if it.Name == "one" {
			if it.ResourceVersion != cm.ResourceVersion || it.Labels["tier"] != "web" || it.Namespace != "default" {
				t.Fatalf("metadata list item %+v, want the patched object's metadata", it.ObjectMeta)
			}
			if list.ResourceVersion == "" {
				t.Fatal("metadata list without a resourceVersion")
			}
			return
		}
	}
	t.Fatalf("metadata list without \"one\": %+v", list.Items)
}
