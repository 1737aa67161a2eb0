package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
	"github.com/kijabi/kijabi/internal/storage"
)

// The availability controller, as kube-aggregator's: each APIService's Available condition
// is checked when it, its Service or the Service's endpoints change, every 30 seconds, and
// again with a growing delay (up to 30 seconds) while its discovery check fails. A local
// APIService is always available. A remote one needs its Service; a ClusterIP Service the
// port the APIService names and a ready endpoint for it; and then its server must answer
// GET /apis/GROUP/VERSION (asked as system:kube-aggregator in system:masters, without
// verifying the server's certificate, as upstream does) with a 2xx. The answer is kept as
// the group version's discovery document.

// availabilityResync is how often every APIService is checked again.
const availabilityResync = 30 * time.Second

// discoveryCheckTimeout bounds one discovery check.
const discoveryCheckTimeout = 5 * time.Second

// runAvailability checks queued APIServices until the queue shuts down.
func (s *Server) runAvailability(ctx context.Context) {
	for {
		name, quit := s.agg.queue.Get()
		if quit {
			return
		}
		err := s.checkAPIService(ctx, name)
		if err != nil && ctx.Err() == nil {
			s.agg.queue.AddRateLimited(name)
		} else {
			s.agg.queue.Forget(name)
		}
		s.agg.queue.Done(name)
	}
}

// resyncAvailability queues every APIService periodically until ctx ends.
func (s *Server) resyncAvailability(ctx context.Context) {
	t := time.NewTicker(availabilityResync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.agg.mu.RLock()
		names := make([]string, 0, len(s.agg.apiServices))
		for name := range s.agg.apiServices {
			names = append(names, name)
		}
		s.agg.mu.RUnlock()
		for _, name := range names {
			s.agg.queue.Add(name)
		}
	}
}

// checkAPIService brings one APIService's Available condition up to date. The error asks
// for another check soon (the discovery check failed).
func (s *Server) checkAPIService(ctx context.Context, name string) error {
	s.agg.mu.RLock()
	a := s.agg.apiServices[name]
	s.agg.mu.RUnlock()
	if a == nil {
		return nil
	}
	cond, list, checkErr := s.availability(ctx, a)
	cond.LastTransitionTime = metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	if a.Spec.Service != nil {
		key := gvKey(a.Spec.Group, a.Spec.Version)
		s.agg.mu.Lock()
		if r := s.agg.remote[key]; r != nil && r.name == name {
			if list != nil {
				s.agg.discovery[key] = list
			} else if cond.Status != apiregistrationv1.ConditionTrue {
				delete(s.agg.discovery, key)
			}
		}
		s.agg.mu.Unlock()
	}
	if err := s.setAvailable(ctx, a, cond); err != nil && ctx.Err() == nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return checkErr
}

// setAvailable stores cond in an APIService's status when that changes it, and records the
// result at once (requests see the new availability before the watch event comes back).
func (s *Server) setAvailable(ctx context.Context, seen *apiregistrationv1.APIService, cond apiregistrationv1.APIServiceCondition) error {
	probe := seen.DeepCopy()
	probe.SetCondition(cond)
	if equality.Semantic.DeepEqual(probe.Status, seen.Status) {
		return nil
	}
	if cur := seen.Condition(apiregistrationv1.Available); cur == nil || cur.Status != cond.Status || cur.Reason != cond.Reason {
		s.log.Info("changing APIService availability", "name", seen.Name, "status", cond.Status, "reason", cond.Reason, "message", cond.Message)
	}
	res := s.apiServiceResource()
	out, err := res.store.GuaranteedUpdate(ctx, res.store.Key("", seen.Name), false, func(obj runtime.Object) (runtime.Object, error) {
		if obj == nil {
			return nil, storage.ErrNotFound
		}
		a := obj.(*apiregistrationv1.APIService).DeepCopy()
		if a.UID != seen.UID || !equality.Semantic.DeepEqual(a.Spec, seen.Spec) {
			// Changed meanwhile: its own event brings another check.
			return nil, errUnchanged
		}
		before := a.Status.DeepCopy()
		a.SetCondition(cond)
		if equality.Semantic.DeepEqual(*before, a.Status) {
			return nil, errUnchanged
		}
		return a, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return err
	}
	s.setAPIService(seen.Name, out.(*apiregistrationv1.APIService).DeepCopy())
	return nil
}

// availability checks an APIService; for a remote one that passes, it also returns the
// resources its server reports. The error is the failed discovery check.
func (s *Server) availability(ctx context.Context, a *apiregistrationv1.APIService) (apiregistrationv1.APIServiceCondition, *metav1.APIResourceList, error) {
	ref := a.Spec.Service
	if ref == nil {
		return decideAvailability(a, nil, nil, nil, nil, nil)
	}
	var svc *corev1.Service
	obj, svcErr := s.cachedObject(ctx, "/services", ref.Namespace, ref.Name)
	if svcErr == nil {
		svc = obj.(*corev1.Service)
	}
	var slices []*discoveryv1.EndpointSlice
	var slicesErr error
	if svc != nil && isClusterIP(svc) {
		slices, slicesErr = s.serviceEndpointSlices(ctx, ref.Namespace, ref.Name)
	}
	return decideAvailability(a, svc, svcErr, slices, slicesErr, func() (*metav1.APIResourceList, error) {
		return s.discoveryCheck(ctx, a, servicePortOf(ref))
	})
}

func isClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeClusterIP || svc.Spec.Type == ""
}

func servicePortOf(ref *apiregistrationv1.ServiceReference) int32 {
	if ref.Port != nil {
		return *ref.Port
	}
	return 443
}

// decideAvailability is the Available condition of an APIService, with reasons and
// messages as kube-aggregator words them: local ones are available; a remote one needs its
// Service (svc, or the error getting it); a ClusterIP Service the port the APIService names
// and a ready endpoint with that port's name in its EndpointSlices; then the discovery
// check must pass.
func decideAvailability(a *apiregistrationv1.APIService, svc *corev1.Service, svcErr error,
	slices []*discoveryv1.EndpointSlice, slicesErr error, check func() (*metav1.APIResourceList, error),
) (apiregistrationv1.APIServiceCondition, *metav1.APIResourceList, error) {
	ref := a.Spec.Service
	if ref == nil {
		return apiregistrationv1.LocalAvailable(metav1.Time{}), nil, nil
	}
	cond := apiregistrationv1.APIServiceCondition{Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionTrue}
	fail := func(status apiregistrationv1.ConditionStatus, reason, format string, args ...any) (apiregistrationv1.APIServiceCondition, *metav1.APIResourceList, error) {
		cond.Status, cond.Reason, cond.Message = status, reason, fmt.Sprintf(format, args...)
		return cond, nil, nil
	}
	port := servicePortOf(ref)
	switch {
	case apierrors.IsNotFound(svcErr):
		return fail(apiregistrationv1.ConditionFalse, "ServiceNotFound", "service/%s in %q is not present", ref.Name, ref.Namespace)
	case svcErr != nil:
		return fail(apiregistrationv1.ConditionUnknown, "ServiceAccessError", "service/%s in %q cannot be checked due to: %v", ref.Name, ref.Namespace, svcErr)
	}
	if isClusterIP(svc) {
		var sp *corev1.ServicePort
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].Port == port {
				sp = &svc.Spec.Ports[i]
				break
			}
		}
		switch {
		case sp == nil:
			return fail(apiregistrationv1.ConditionFalse, "ServicePortError", "service/%s in %q is not listening on port %d", ref.Name, ref.Namespace, port)
		case slicesErr != nil:
			return fail(apiregistrationv1.ConditionUnknown, "EndpointsAccessError", "service/%s in %q cannot be checked due to: %v", ref.Name, ref.Namespace, slicesErr)
		case len(slices) == 0:
			return fail(apiregistrationv1.ConditionFalse, "EndpointsNotFound", "cannot find endpointslices for service/%s in %q", ref.Name, ref.Namespace)
		case !hasReadyEndpoint(sp.Name, slices):
			return fail(apiregistrationv1.ConditionFalse, "MissingEndpoints", "endpointslices for service/%s in %q have no addresses with port name %q", ref.Name, ref.Namespace, sp.Name)
		}
	}
	list, err := check()
	if err != nil {
		cond.Status, cond.Reason, cond.Message = apiregistrationv1.ConditionFalse, "FailedDiscoveryCheck", err.Error()
		return cond, nil, err
	}
	cond.Reason, cond.Message = "Passed", "all checks passed"
	return cond, list, nil
}

// serviceEndpointSlices lists the EndpointSlices of a Service.
func (s *Server) serviceEndpointSlices(ctx context.Context, namespace, name string) ([]*discoveryv1.EndpointSlice, error) {
	res := s.byGroupResource["discovery.k8s.io/endpointslices"]
	if res == nil {
		return nil, nil
	}
	list, err := res.store.List(ctx, res.store.Prefix(namespace), storage.ListOptions{Stale: true, Filter: func(o runtime.Object) bool {
		return o.(*discoveryv1.EndpointSlice).Labels[discoveryv1.LabelServiceName] == name
	}})
	if err != nil {
		return nil, storageError(err, res.gr, "")
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(list.Items))
	for _, o := range list.Items {
		out = append(out, o.(*discoveryv1.EndpointSlice))
	}
	return out, nil
}

// hasReadyEndpoint reports whether a slice has a ready endpoint and the named port.
func hasReadyEndpoint(portName string, slices []*discoveryv1.EndpointSlice) bool {
	for _, es := range slices {
		ready := false
		for _, e := range es.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready = true
				break
			}
		}
		if !ready {
			continue
		}
		for _, p := range es.Ports {
			if p.Name != nil && *p.Name == portName && p.Port != nil {
				return true
			}
		}
	}
	return false
}

// discoveryAttempts is how many discovery requests a check makes at once; one success is
// enough (each may reach another endpoint).
const discoveryAttempts = 3

// discoveryCheck asks an extension server for its group version's discovery document.
func (s *Server) discoveryCheck(ctx context.Context, a *apiregistrationv1.APIService, port int32) (*metav1.APIResourceList, error) {
	client, err := s.checkClient()
	if err != nil {
		return nil, err
	}
	ref := a.Spec.Service
	type result struct {
		list *metav1.APIResourceList
		err  error
	}
	results := make(chan result, discoveryAttempts)
	ctx, cancel := context.WithTimeout(ctx, discoveryCheckTimeout)
	defer cancel()
	for range discoveryAttempts {
		go func() {
			addr, err := s.resolveWebhookService(ctx, ref.Namespace, ref.Name, port)
			if err != nil {
				results <- result{err: err}
				return
			}
			u := &url.URL{Scheme: "https", Host: addr, Path: "/apis/" + a.Spec.Group + "/" + a.Spec.Version}
			list, err := getDiscovery(ctx, client, u)
			if err != nil {
				err = fmt.Errorf("failing or missing response from %v: %w", u, err)
			}
			results <- result{list, err}
		}()
	}
	var last error
	for range discoveryAttempts {
		r := <-results
		if r.err == nil {
			return r.list, nil
		}
		last = r.err
	}
	return nil, last
}

// getDiscovery GETs a discovery document as the aggregator.
func getDiscovery(ctx context.Context, client *http.Client, u *url.URL) (*metav1.APIResourceList, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Remote-User", "system:kube-aggregator")
	req.Header.Set("X-Remote-Group", "system:masters")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < http.StatusOK || resp.StatusCode >= http.StatusMultipleChoices {
		return nil, fmt.Errorf("bad status from %v: %d", u, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxWebhookResponse))
	if err != nil {
		return nil, err
	}
	list := &metav1.APIResourceList{}
	if json.Unmarshal(data, list) != nil || list.GroupVersion == "" {
		// Available all the same (upstream checks only the status), but nothing to list.
		return nil, nil
	}
	return list, nil
}

// checkClient is the availability checks' client: the front-proxy certificate, no
// verification of the server (as kube-aggregator's check), no redirects.
func (s *Server) checkClient() (*http.Client, error) {
	t, err := s.proxyTransportFor("check", func() *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} //nolint:gosec // as upstream's availability check
	})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: t, Timeout: discoveryCheckTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// proxyTransportFor returns the transport kept under key, built with cfg on first use.
func (s *Server) proxyTransportFor(key string, cfg func() *tls.Config) (*http.Transport, error) {
	s.agg.tmu.Lock()
	defer s.agg.tmu.Unlock()
	if t := s.agg.transports[key]; t != nil {
		return t, nil
	}
	t, err := s.newProxyTransport(cfg())
	if err != nil {
		return nil, err
	}
	if s.agg.transports == nil {
		s.agg.transports = map[string]*http.Transport{}
	}
	s.agg.transports[key] = t
	return t, nil
}
