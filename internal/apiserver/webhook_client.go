package apiserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/kijabi/kijabi/internal/storage"
)

// Calling a webhook: an AdmissionReview POSTed over HTTPS to its URL or Service, verified
// with its caBundle (the system roots when it has none), and the answer checked as
// kube-apiserver checks it.

// webhookCallError is a failure to get a usable answer from a webhook, which the webhook's
// failurePolicy decides about; a webhook that answers and denies is not one.
type webhookCallError struct {
	name   string
	reason error
}

func (e *webhookCallError) Error() string {
	return fmt.Sprintf("failed calling webhook %q: %v", e.name, e.reason)
}

func (e *webhookCallError) Unwrap() error { return e.reason }

// webhookAnswer is a webhook's verified response.
type webhookAnswer struct {
	allowed   bool
	status    *metav1.Status
	patch     []byte // from mutating webhooks only
	patchType admissionv1.PatchType
	warnings  []string
}

// webhookPayload is what a request sends every webhook, encoded for one kind.
type webhookPayload struct {
	object, oldObject, options []byte
}

// maxWebhookResponse bounds what is read from a webhook.
const maxWebhookResponse = 16 << 20

// callWebhook sends h the review of a (as inv) and returns its verified answer. Errors are
// *webhookCallError, or Status errors that fail the request whatever the failure policy
// (a dry run the webhook cannot take part in).
func (s *Server) callWebhook(ctx context.Context, h *webhookHook, inv *webhookInvocation, a *admissionAttributes, p *webhookPayload) (*webhookAnswer, error) {
	if a.dryRun {
		if h.sideEffects == nil {
			return nil, &webhookCallError{h.name, errors.New("Webhook SideEffects is nil")}
		}
		if se := *h.sideEffects; se != admissionregistrationv1.SideEffectClassNone && se != admissionregistrationv1.SideEffectClassNoneOnDryRun {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("admission webhook %q does not support dry run", h.name))
		}
	}
	version := ""
	for _, v := range h.reviewVersions {
		if v == "v1" || v == "v1beta1" {
			version = v
			break
		}
	}
	if version == "" {
		return nil, &webhookCallError{h.name, errors.New("could not create admission objects: webhook does not accept known AdmissionReview versions (v1, v1beta1)")}
	}
	uid := types.UID(uuid.NewUUID())
	body, err := json.Marshal(reviewFor(version, uid, inv, a, p))
	if err != nil {
		return nil, &webhookCallError{h.name, fmt.Errorf("could not create admission objects: %w", err)}
	}
	client, err := s.webhookHTTPClient(h.clientConfig)
	if err != nil {
		return nil, &webhookCallError{h.name, fmt.Errorf("could not get REST client: %w", err)}
	}
	target, err := webhookTarget(h.clientConfig)
	if err != nil {
		return nil, &webhookCallError{h.name, err}
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if deadline, ok := ctx.Deadline(); ok {
		// Tell the webhook how long it has, in whole seconds, as kube-apiserver does.
		if left := time.Until(deadline); left > 0 {
			if t := left.Truncate(time.Second); t != left {
				left = t + time.Second
			}
			q := target.Query()
			q.Set("timeout", left.String())
			target.RawQuery = q.Encode()
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, &webhookCallError{h.name, fmt.Errorf("failed to call webhook: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, */*")
	req.Header.Set("User-Agent", "kube-apiserver-admission")
	resp, err := client.Do(req)
	if err != nil {
		return nil, &webhookCallError{h.name, fmt.Errorf("failed to call webhook: %w", err)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxWebhookResponse+1))
	resp.Body.Close()
	if err == nil && len(data) > maxWebhookResponse {
		err = fmt.Errorf("the response is larger than %d bytes", maxWebhookResponse)
	}
	if err != nil {
		return nil, &webhookCallError{h.name, fmt.Errorf("failed to call webhook: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &webhookCallError{h.name, fmt.Errorf("failed to call webhook: %w", responseError(resp, data))}
	}
	var review admissionv1.AdmissionReview
	if err := utiljson.Unmarshal(data, &review); err != nil {
		return nil, &webhookCallError{h.name, fmt.Errorf("failed to call webhook: %w", err)}
	}
	answer, err := verifyReview(&review, version, uid, h.mutating)
	if err != nil {
		return nil, &webhookCallError{h.name, fmt.Errorf("received invalid webhook response: %w", err)}
	}
	return answer, nil
}

// responseError describes an HTTP error answer the way client-go does: its Status when it
// sent one, otherwise a generic error for the code.
func responseError(resp *http.Response, body []byte) error {
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.Status == metav1.StatusFailure {
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := ""
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/") || ct == "" {
		msg = strings.TrimSpace(string(body))
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, http.MethodPost, schema.GroupResource{}, "", msg, 0, true)
}

func reviewFor(version string, uid types.UID, inv *webhookInvocation, a *admissionAttributes, p *webhookPayload) *admissionv1.AdmissionReview {
	user := authenticationv1.UserInfo{Extra: map[string]authenticationv1.ExtraValue{}}
	if a.user != nil {
		user.Username, user.UID, user.Groups = a.user.Name, a.user.UID, a.user.Groups
		for k, v := range a.user.Extra {
			user.Extra[k] = v
		}
	}
	dry := a.dryRun
	raw := func(b []byte) runtime.RawExtension {
		if b == nil {
			return runtime.RawExtension{}
		}
		return runtime.RawExtension{Raw: b}
	}
	gvk := func(k schema.GroupVersionKind) metav1.GroupVersionKind {
		return metav1.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
	}
	gvr := func(r schema.GroupVersionResource) metav1.GroupVersionResource {
		return metav1.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
	}
	reqKind, reqResource := gvk(a.kind), gvr(a.resource)
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/" + version, Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: uid, Kind: gvk(inv.kind), Resource: gvr(inv.resource), SubResource: a.subresource,
			RequestKind: &reqKind, RequestResource: &reqResource, RequestSubResource: a.subresource,
			Name: a.name, Namespace: a.namespace, Operation: a.operation, UserInfo: user,
			Object: raw(p.object), OldObject: raw(p.oldObject), DryRun: &dry, Options: raw(p.options),
		},
	}
}

// verifyReview checks a webhook's AdmissionReview: for v1, its kind, version and uid; a
// mutating webhook's patch comes with its type, and a validating webhook sends none.
func verifyReview(r *admissionv1.AdmissionReview, version string, uid types.UID, mutating bool) (*webhookAnswer, error) {
	resp := r.Response
	if resp == nil {
		return nil, errors.New("webhook response was absent")
	}
	answer := &webhookAnswer{allowed: resp.Allowed, status: resp.Result, warnings: resp.Warnings}
	if version == "v1beta1" {
		// v1beta1 answers were never checked further; a patch is a JSON patch.
		if mutating && len(resp.Patch) > 0 {
			answer.patch, answer.patchType = resp.Patch, admissionv1.PatchTypeJSONPatch
		}
		return answer, nil
	}
	if resp.UID != uid {
		return nil, fmt.Errorf("expected response.uid=%q, got %q", uid, resp.UID)
	}
	want := schema.GroupVersionKind{Group: "admission.k8s.io", Version: "v1", Kind: "AdmissionReview"}
	if got := r.GroupVersionKind(); got != want {
		return nil, fmt.Errorf("expected webhook response of %v, got %v", want, got)
	}
	if !mutating {
		if len(resp.Patch) > 0 {
			return nil, errors.New("validating webhook may not return response.patch")
		}
		if resp.PatchType != nil {
			return nil, errors.New("validating webhook may not return response.patchType")
		}
		return answer, nil
	}
	switch {
	case len(resp.Patch) > 0 && resp.PatchType == nil:
		return nil, errors.New("webhook returned response.patch but not response.patchType")
	case len(resp.Patch) == 0 && resp.PatchType != nil:
		return nil, errors.New("webhook returned response.patchType but not response.patch")
	case resp.PatchType != nil && *resp.PatchType == "":
		return nil, fmt.Errorf("webhook returned invalid response.patchType of %q", "")
	}
	answer.patch = resp.Patch
	if resp.PatchType != nil {
		answer.patchType = *resp.PatchType
	}
	return answer, nil
}

// webhookDenied is the error a request gets when a webhook denies it: the webhook's status,
// named after it, with a failure code (400 when the webhook gave none, as kube-apiserver
// v1.37 does).
func webhookDenied(name string, st *metav1.Status) *apierrors.StatusError {
	out := metav1.Status{Status: metav1.StatusFailure}
	if st != nil {
		out = *st.DeepCopy()
	}
	if out.Code < http.StatusBadRequest {
		out.Code = http.StatusBadRequest
	}
	if out.Status == "" || out.Status == metav1.StatusSuccess {
		out.Status = metav1.StatusFailure
	}
	by := fmt.Sprintf("admission webhook %q denied the request", name)
	switch {
	case out.Message != "":
		out.Message = by + ": " + out.Message
	case out.Reason != "":
		out.Message = by + ": " + string(out.Reason)
	default:
		out.Message = by + " without explanation"
	}
	return &apierrors.StatusError{ErrStatus: out}
}

// webhookTarget is the URL a webhook is called at: its url, or https://NAME.NAMESPACE.svc:PORT/PATH
// for a Service (resolved when the connection is made).
func webhookTarget(cc admissionregistrationv1.WebhookClientConfig) (*url.URL, error) {
	if svc := cc.Service; svc != nil {
		path := "/"
		if svc.Path != nil && *svc.Path != "" {
			path = *svc.Path
		}
		return &url.URL{Scheme: "https", Host: net.JoinHostPort(serviceHost(svc), strconv.Itoa(int(servicePort(svc)))), Path: path}, nil
	}
	if cc.URL == nil {
		return nil, errors.New("webhook configuration must have either service or URL")
	}
	u, err := url.Parse(*cc.URL)
	if err != nil {
		return nil, fmt.Errorf("Unparsable URL: %v", err)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

func serviceHost(svc *admissionregistrationv1.ServiceReference) string {
	return svc.Name + "." + svc.Namespace + ".svc"
}

func servicePort(svc *admissionregistrationv1.ServiceReference) int32 {
	if svc.Port != nil && *svc.Port != 0 {
		return *svc.Port
	}
	return 443
}

// webhookClient is an HTTP client for one CA bundle (and one Service).
type webhookClient struct {
	client *http.Client
	err    error
}

// maxWebhookClients bounds the clients kept; past it they are all dropped and built anew.
const maxWebhookClients = 256

// webhookHTTPClient returns the client for a webhook's clientConfig, built once.
func (s *Server) webhookHTTPClient(cc admissionregistrationv1.WebhookClientConfig) (*http.Client, error) {
	sum := sha256.Sum256(cc.CABundle)
	key := hex.EncodeToString(sum[:])
	if svc := cc.Service; svc != nil {
		key += "|" + svc.Namespace + "/" + svc.Name + ":" + strconv.Itoa(int(servicePort(svc)))
	}
	st := &s.webhooks
	if s.stopped != nil {
		st.closer.Do(func() { go s.closeWebhookClients() })
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if c, ok := st.clients[key]; ok {
		return c.client, c.err
	}
	if st.clients == nil || len(st.clients) >= maxWebhookClients {
		for _, c := range st.clients {
			if c.client != nil {
				c.client.CloseIdleConnections()
			}
		}
		st.clients = map[string]*webhookClient{}
	}
	c := &webhookClient{}
	c.client, c.err = s.newWebhookHTTPClient(cc)
	st.clients[key] = c
	return c.client, c.err
}

// closeWebhookClients drops the webhook clients' idle connections once the server stops.
func (s *Server) closeWebhookClients() {
	<-s.stopped
	st := &s.webhooks
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, c := range st.clients {
		if c.client != nil {
			c.client.CloseIdleConnections()
		}
	}
	st.clients = nil
}

func (s *Server) newWebhookHTTPClient(cc admissionregistrationv1.WebhookClientConfig) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cc.CABundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cc.CABundle) {
			return nil, errors.New("unable to load root certificates: unable to parse bytes as PEM block")
		}
		tlsConfig.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 16,
	}
	if svc := cc.Service; svc != nil {
		// The Service is resolved for every request, so that a call goes where the Service
		// points now; connections are kept per endpoint and verified for the Service's name.
		tlsConfig.ServerName = serviceHost(svc)
		namespace, name, port := svc.Namespace, svc.Name, servicePort(svc)
		return &http.Client{Transport: &serviceTransport{base: tr, resolve: func(ctx context.Context) (string, error) {
			return s.resolveWebhookService(ctx, namespace, name, port)
		}}}, nil
	}
	return &http.Client{Transport: tr}, nil
}

// serviceTransport sends each request to an address its Service resolves to.
type serviceTransport struct {
	base    *http.Transport
	resolve func(ctx context.Context) (string, error)
}

func (t *serviceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	addr, err := t.resolve(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Host = req.URL.Host
	out.URL.Host = addr
	return t.base.RoundTrip(out)
}

func (t *serviceTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// resolveWebhookService finds where a webhook Service is served: one of the ready endpoints
// of its EndpointSlices (or Endpoints), else its ClusterIP; an ExternalName Service's name.
func (s *Server) resolveWebhookService(ctx context.Context, namespace, name string, port int32) (string, error) {
	obj, err := s.cachedObject(ctx, "/services", namespace, name)
	if err != nil {
		return "", err
	}
	svc := obj.(*corev1.Service)
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(port))), nil
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			sp = &svc.Spec.Ports[i]
			break
		}
	}
	if sp == nil {
		return "", fmt.Errorf("no service port %d found for service %q", port, name)
	}
	var slices []*discoveryv1.EndpointSlice
	if res := s.byGroupResource["discovery.k8s.io/endpointslices"]; res != nil {
		list, err := res.store.List(ctx, res.store.Prefix(namespace), storage.ListOptions{Stale: true, Filter: func(o runtime.Object) bool {
			return o.(*discoveryv1.EndpointSlice).Labels[discoveryv1.LabelServiceName] == name
		}})
		if err != nil {
			return "", storageError(err, res.gr, "")
		}
		for _, o := range list.Items {
			slices = append(slices, o.(*discoveryv1.EndpointSlice))
		}
	}
	var eps *corev1.Endpoints
	if len(slices) == 0 {
		if o, err := s.cachedObject(ctx, "/endpoints", namespace, name); err == nil {
			eps = o.(*corev1.Endpoints)
		}
	}
	if addrs := endpointAddresses(slices, eps, sp); len(addrs) > 0 {
		return addrs[rand.IntN(len(addrs))], nil
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		return net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
	}
	return "", fmt.Errorf("no endpoints available for service %q", name)
}

// endpointAddresses lists host:port of the ready endpoints serving a Service port.
func endpointAddresses(slices []*discoveryv1.EndpointSlice, eps *corev1.Endpoints, sp *corev1.ServicePort) []string {
	var out []string
	for _, es := range slices {
		var port int32
		for _, p := range es.Ports {
			if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) &&
				(p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				port = *p.Port
				break
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range es.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if len(e.Addresses) > 0 {
				out = append(out, net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(port))))
			}
		}
	}
	if len(out) > 0 || eps == nil {
		return out
	}
	for _, ss := range eps.Subsets {
		for _, p := range ss.Ports {
			if p.Name != sp.Name || (p.Protocol != "" && p.Protocol != corev1.ProtocolTCP) {
				continue
			}
			for _, a := range ss.Addresses {
				out = append(out, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	return out
}
