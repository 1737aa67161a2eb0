package apiserver_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/apiserver"
	"github.com/kijabi/kijabi/internal/testserver"
)

// TestGenerateNameRetriesTakenNames checks that a create with generateName whose
// generated name is taken tries fresh names, as kube-apiserver does, and reports
// AlreadyExists only when every try collided.
func TestGenerateNameRetriesTakenNames(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	cms := srv.Client.CoreV1().ConfigMaps("default")
	for _, n := range []string{"web-aaaaa", "web-bbbbb"} {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	suffixes := []string{"aaaaa", "bbbbb", "ccccc"}
	restore := apiserver.SetNameSuffix(func() string {
		mu.Lock()
		defer mu.Unlock()
		s := suffixes[0]
		if len(suffixes) > 1 {
			suffixes = suffixes[1:]
		}
		return s
	})
	defer restore()
	got, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create with generateName after two taken names: %v", err)
	}
	if got.Name != "web-ccccc" || got.Data["k"] != "v" {
		t.Fatalf("created %s with %v, want web-ccccc", got.Name, got.Data)
	}
	stored, err := cms.Get(ctx, "web-ccccc", metav1.GetOptions{})
	if err != nil || stored.UID != got.UID {
		t.Fatalf("the created object is not stored under its name: %v", err)
	}

	// Every try taken: AlreadyExists, and nothing else written.
	mu.Lock()
	suffixes = []string{"aaaaa"}
	mu.Unlock()
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-"}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create whose every generated name is taken: %v, want AlreadyExists", err)
	}
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cm := range list.Items {
		if strings.HasPrefix(cm.Name, "web-") {
			names = append(names, cm.Name)
		}
	}
	if len(names) != 3 {
		t.Fatalf("config maps %v, want web-aaaaa, web-bbbbb and web-ccccc", names)
	}
}
