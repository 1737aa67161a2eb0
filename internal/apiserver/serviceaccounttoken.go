package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/auth"
)

// Service account tokens: the serviceaccounts/token subresource (TokenRequest), the object
// lookups of the service account token authenticator, and the ServiceAccount admission
// plugin's projected token volume, as Kubernetes has them.

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// apiAudiences are the audiences tokens get by default and the authenticator accepts.
func (s *Server) apiAudiences() []string {
	if len(s.cfg.APIAudiences) > 0 {
		return s.cfg.APIAudiences
	}
	if s.cfg.ServiceAccountIssuer != nil {
		return []string{s.cfg.ServiceAccountIssuer.Issuer()}
	}
	return []string{auth.DefaultServiceAccountIssuer}
}

// serveToken serves serviceaccounts/token: POST a TokenRequest, get it back with a signed
// token in its status.
func (s *Server) serveToken(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	if info.verb != "create" {
		return methodNotSupported(res.gr, info.verb)
	}
	issuer := s.cfg.ServiceAccountIssuer
	if issuer == nil {
		return apierrors.NewServiceUnavailable("service account token issuing is not configured")
	}
	if _, err := dryRun(r); err != nil {
		return err
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	obj, err := s.decodeData(w, r, res, data, tokenRequestGVK)
	if err != nil {
		return err
	}
	req := obj.(*authenticationv1.TokenRequest)
	name, namespace := info.name, info.namespace
	if req.Name != "" && req.Name != name {
		return apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	saObj, err := res.store.Get(ctx, res.store.Key(namespace, name))
	if err != nil {
		return storageError(err, res.gr, name)
	}
	sa := saObj.(*corev1.ServiceAccount)
	auds := s.apiAudiences()
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = slices.Clone(auds)
	}
	if req.Spec.ExpirationSeconds == nil {
		req.Spec.ExpirationSeconds = ptr.To[int64](3600)
	}
	req.Name, req.Namespace = sa.Name, sa.Namespace
	now := time.Now()
	req.CreationTimestamp = metav1.NewTime(now)
	req.Status = authenticationv1.TokenRequestStatus{}
	if errs := validateTokenRequest(req); len(errs) > 0 {
		return apierrors.NewInvalid(tokenRequestGVK.GroupKind(), "", errs)
	}
	if err := s.admitSubresourceCreateByWebhooks(ctx, w, res, info, req, len(r.URL.Query()["dryRun"]) > 0); err != nil {
		return err
	}

	var binding auth.TokenBinding
	if ref := req.Spec.BoundObjectRef; ref != nil {
		var uid types.UID
		gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
		switch {
		case gvk.Group == "" && gvk.Kind == "Pod":
			pod, err := getObject[*corev1.Pod](ctx, s, "/pods", namespace, ref.Name)
			if err != nil {
				return err
			}
			if name != pod.Spec.ServiceAccountName {
				return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", name))
			}
			uid, binding.Pod = pod.UID, pod
			if pod.Spec.NodeName != "" {
				// Information only: a token does not fail for want of it.
				if node, err := s.cachedObject(ctx, "/nodes", "", pod.Spec.NodeName); err == nil {
					binding.Node = node.(*corev1.Node)
				}
			}
		case gvk.Group == "" && gvk.Kind == "Node":
			node, err := getObject[*corev1.Node](ctx, s, "/nodes", "", ref.Name)
			if err != nil {
				return err
			}
			uid, binding.Node = node.UID, node
		case gvk.Group == "" && gvk.Kind == "Secret":
			secret, err := getObject[*corev1.Secret](ctx, s, "/secrets", namespace, ref.Name)
			if err != nil {
				return err
			}
			uid, binding.Secret = secret.UID, secret
		default:
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
		}
		if ref.UID != "" && uid != ref.UID {
			return apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
				fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
		}
	}

	if max := int64(s.cfg.ServiceAccountMaxTokenExpiration / time.Second); max > 0 && *req.Spec.ExpirationSeconds > max {
		addWarning(w, fmt.Sprintf("requested expiration of %d seconds shortened to %d seconds", *req.Spec.ExpirationSeconds, max))
		req.Spec.ExpirationSeconds = &max
	}
	// The projected token admission injects (3607s) is valid for a year, with a warnafter
	// claim at the hour, so that clients that never reload their token keep working; only
	// for pod-bound tokens meant for this API server.
	exp := *req.Spec.ExpirationSeconds
	var warnAfter int64
	if binding.Pod != nil && exp == auth.WarnOnlyBoundTokenExpirationSeconds && isSubset(req.Spec.Audiences, auds) {
		warnAfter = exp
		exp = auth.ExpirationExtensionSeconds
	}
	claims, err := auth.NewServiceAccountClaims(sa, binding, req.Spec.Audiences, now, time.Duration(exp)*time.Second, time.Duration(warnAfter)*time.Second)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	token, err := issuer.Issue(claims)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("failed to generate token: %w", err))
	}
	req.Status = authenticationv1.TokenRequestStatus{
		Token:               token,
		ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second)),
	}
	t, err := s.objectTarget(r)
	if err != nil {
		return err
	}
	if t.as != "" {
		t = target{info: t.info}
	}
	req.GetObjectKind().SetGroupVersionKind(tokenRequestGVK)
	s.writeObject(w, r, http.StatusCreated, t, req)
	return nil
}

// validateTokenRequest is upstream's ValidateTokenRequest.
func validateTokenRequest(req *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	if exp := *req.Spec.ExpirationSeconds; exp < auth.MinTokenExpirationSeconds {
		errs = append(errs, field.Invalid(p, exp, "may not specify a duration less than 10 minutes"))
	} else if exp > auth.MaxTokenExpirationSeconds {
		errs = append(errs, field.Invalid(p, exp, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}

func isSubset(list, of []string) bool {
	for _, s := range list {
		if !slices.Contains(of, s) {
			return false
		}
	}
	return true
}

// getObject reads an object from etcd, mapping errors to API errors.
func getObject[T runtime.Object](ctx context.Context, s *Server, resKey, namespace, name string) (T, error) {
	var zero T
	res := s.byGroupResource[resKey]
	obj, err := res.store.Get(ctx, res.store.Key(namespace, name))
	if err != nil {
		return zero, storageError(err, res.gr, name)
	}
	return obj.(T), nil
}

// cachedObject reads an object from the watch cache, or etcd when the cache does not hold
// it. The object may be shared with the cache: it must not be modified.
func (s *Server) cachedObject(ctx context.Context, resKey, namespace, name string) (runtime.Object, error) {
	res := s.byGroupResource[resKey]
	key := res.store.Key(namespace, name)
	if obj, ok := res.store.Cached(key); ok {
		return obj, nil
	}
	obj, err := res.store.Get(ctx, key)
	if err != nil {
		return nil, storageError(err, res.gr, name)
	}
	return obj, nil
}

// ServiceAccountObjects gives the service account token authenticator the objects tokens
// name, from the watch cache (etcd for what it does not hold).
func (s *Server) ServiceAccountObjects() auth.ServiceAccountObjects { return saObjects{s} }

type saObjects struct{ s *Server }

func lookup[T runtime.Object](ctx context.Context, s *Server, resKey, namespace, name string) (T, error) {
	var zero T
	obj, err := s.cachedObject(ctx, resKey, namespace, name)
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("unexpected %T", obj)
	}
	return t, nil
}

func (o saObjects) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return lookup[*corev1.ServiceAccount](ctx, o.s, "/serviceaccounts", namespace, name)
}

func (o saObjects) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return lookup[*corev1.Pod](ctx, o.s, "/pods", namespace, name)
}

func (o saObjects) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return lookup[*corev1.Secret](ctx, o.s, "/secrets", namespace, name)
}

func (o saObjects) Node(ctx context.Context, name string) (*corev1.Node, error) {
	return lookup[*corev1.Node](ctx, o.s, "/nodes", "", name)
}

// Projected service account token volume, as the ServiceAccount admission plugin adds it.
const (
	serviceAccountVolumePrefix = "kube-api-access-"
	serviceAccountMountPath    = "/var/run/secrets/kubernetes.io/serviceaccount"
	rootCAConfigMap            = "kube-root-ca.crt"
	mirrorPodAnnotation        = "kubernetes.io/config.mirror"
)

// admitServiceAccount mounts the service account token volume into every container of a
// new pod (unless the pod or its service account opts out, or a container already mounts
// something there) and gives the pod its service account's image pull secrets. A service
// account that does not exist (yet) counts as one that does not opt out: the kubelet
// waits for it when it requests the token. Mirror pods are left alone.
func (s *Server) admitServiceAccount(ctx context.Context, pod *corev1.Pod) error {
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return nil
	}
	sa, err := lookup[*corev1.ServiceAccount](ctx, s, "/serviceaccounts", pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if sa != nil && len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, ref := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets[i].Name = ref.Name
		}
	}
	automount := true
	switch {
	case pod.Spec.AutomountServiceAccountToken != nil:
		automount = *pod.Spec.AutomountServiceAccountToken
	case sa != nil && sa.AutomountServiceAccountToken != nil:
		automount = *sa.AutomountServiceAccountToken
	}
	if automount {
		mountServiceAccountToken(pod)
	}
	return nil
}

func mountServiceAccountToken(pod *corev1.Pod) {
	volumeName := ""
	for _, v := range pod.Spec.Volumes {
		if len(v.Name) > len(serviceAccountVolumePrefix) && v.Name[:len(serviceAccountVolumePrefix)] == serviceAccountVolumePrefix {
			volumeName = v.Name
			break
		}
	}
	hasVolume := volumeName != ""
	if !hasVolume {
		volumeName = serviceAccountVolumePrefix + utilrand.String(5)
	}
	mount := corev1.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: serviceAccountMountPath}
	needed := false
	addMount := func(containers []corev1.Container) {
		for i := range containers {
			if !slices.ContainsFunc(containers[i].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == serviceAccountMountPath }) {
				containers[i].VolumeMounts = append(containers[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	addMount(pod.Spec.InitContainers)
	addMount(pod.Spec.Containers)
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: volumeName, VolumeSource: corev1.VolumeSource{Projected: tokenVolumeSource()}})
	}
}

// tokenVolumeSource is the projected volume of the service account token, the cluster CA
// and the namespace.
func tokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Path: "token", ExpirationSeconds: ptr.To[int64](auth.WarnOnlyBoundTokenExpirationSeconds)}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: rootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}
}

// issueLegacyToken fills in the token, ca.crt and namespace of a new
// kubernetes.io/service-account-token Secret whose service account exists, as Kubernetes'
// token controller does once the Secret is created.
func (s *Server) issueLegacyToken(ctx context.Context, secret *corev1.Secret) error {
	if secret.Type != corev1.SecretTypeServiceAccountToken || len(secret.Data[corev1.ServiceAccountTokenKey]) > 0 {
		return nil
	}
	if s.cfg.ServiceAccountIssuer == nil {
		return nil
	}
	name := secret.Annotations[corev1.ServiceAccountNameKey]
	if name == "" {
		return nil // validation refuses it
	}
	sa, err := lookup[*corev1.ServiceAccount](ctx, s, "/serviceaccounts", secret.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil // the token controller would wait for it; the Secret stays empty
		}
		return err
	}
	if uid := secret.Annotations[corev1.ServiceAccountUIDKey]; uid != "" && uid != string(sa.UID) {
		return nil
	}
	token, err := s.cfg.ServiceAccountIssuer.Issue(auth.LegacyServiceAccountClaims(sa, secret))
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if secret.Annotations == nil {
		secret.Annotations = map[string]string{}
	}
	secret.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	secret.Data[corev1.ServiceAccountTokenKey] = []byte(token)
	secret.Data[corev1.ServiceAccountNamespaceKey] = []byte(secret.Namespace)
	if len(s.cfg.RootCA) > 0 {
		secret.Data[corev1.ServiceAccountRootCAKey] = s.cfg.RootCA
	}
	return nil
}

// serveIssuerDiscovery serves the service account issuer's OpenID Connect discovery document
// and key set (the system:service-account-issuer-discovery role reads them).
func (s *Server) serveIssuerDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := s.cfg.ServiceAccountIssuer
	if iss == nil {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, apierrors.NewMethodNotSupported(schema.GroupResource{}, r.Method))
		return
	}
	var data []byte
	var err error
	contentType := "application/json"
	if r.URL.Path == "/openid/v1/jwks" {
		data, err = iss.JWKS()
		contentType = "application/jwk-set+json"
	} else {
		host := s.cfg.AdvertiseAddress
		if host == nil || host.IsUnspecified() {
			host = net.ParseIP("127.0.0.1")
		}
		data, err = iss.OpenIDConfiguration("https://" + net.JoinHostPort(host.String(), strconv.Itoa(s.cfg.Port)) + "/openid/v1/jwks")
	}
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}
