package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/restmapper"
)

// Counter counts the objects of a resource in a namespace, for the count/<resource>.<group>
// names of resources the controller has no informer for. It returns an error wrapping
// ErrUnknownResource for a resource that is not served or not namespaced: such names are
// left out of the calculation.
type Counter func(ctx context.Context, gr schema.GroupResource, namespace string) (int64, error)

// ErrUnknownResource is what a Counter reports for a resource it cannot count.
var ErrUnknownResource = errors.New("no such namespaced resource")

// rediscoverAfter is how long MetadataCounter trusts discovery's word that a resource is not
// served: a resource added since (a new CustomResourceDefinition) is found after that.
var rediscoverAfter = 30 * time.Second

// MetadataCounter returns a Counter that lists a namespace's objects through the metadata
// client, at the version discovery prefers. Discovery is read again, at most every 30
// seconds, when it does not know a resource.
func MetadataCounter(client metadata.Interface, disco discovery.DiscoveryInterface) Counter {
	cached, ok := disco.(discovery.CachedDiscoveryInterface)
	if !ok {
		cached = memory.NewMemCacheClient(disco)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	var (
		mu        sync.Mutex
		lastReset = time.Now()
	)
	resourceFor := func(gr schema.GroupResource) (schema.GroupVersionResource, error) {
		gvr, err := mapper.ResourceFor(gr.WithVersion(""))
		if !meta.IsNoMatchError(err) {
			return gvr, err
		}
		mu.Lock()
		stale := time.Since(lastReset) > rediscoverAfter
		if stale {
			lastReset = time.Now()
		}
		mu.Unlock()
		if !stale {
			return gvr, err
		}
		mapper.Reset()
		return mapper.ResourceFor(gr.WithVersion(""))
	}
	return func(ctx context.Context, gr schema.GroupResource, namespace string) (int64, error) {
		gvr, err := resourceFor(gr)
		if meta.IsNoMatchError(err) {
			return 0, fmt.Errorf("%s: %w", gr, ErrUnknownResource)
		}
		if err != nil {
			return 0, err
		}
		gvk, err := mapper.KindFor(gvr)
		if err != nil {
			return 0, err
		}
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return 0, err
		}
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			return 0, fmt.Errorf("%s is not namespaced: %w", gr, ErrUnknownResource)
		}
		list, err := client.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
			return 0, fmt.Errorf("%s: %v: %w", gr, err, ErrUnknownResource)
		}
		if err != nil {
			return 0, err
		}
		return int64(len(list.Items)), nil
	}
}

func zero() resource.Quantity { return resource.Quantity{Format: resource.DecimalSI} }

func resourceQuantity(n int64) *resource.Quantity { return resource.NewQuantity(n, resource.DecimalSI) }
