package volume

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kijabi/kijabi/internal/kubelet/envvars"
)

// defaultMode is the API default for defaultMode of configMap, secret, downwardAPI and
// projected volumes (0644).
const defaultMode int32 = 0o644

// payload collects the files of an atomic-writer volume as the kubelet's plugins do.
func (m *Manager) payload(ctx context.Context, pod *corev1.Pod, ps *podState, v *corev1.Volume) (map[string]file, error) {
	switch {
	case v.ConfigMap != nil:
		src := v.ConfigMap
		cm, err := m.configMap(ctx, pod.Namespace, src.Name, src.Optional)
		if err != nil {
			return nil, err
		}
		return configMapPayload(src.Items, cm, modeOr(src.DefaultMode), isOptional(src.Optional))
	case v.Secret != nil:
		src := v.Secret
		s, err := m.secret(ctx, pod.Namespace, src.SecretName, src.Optional)
		if err != nil {
			return nil, err
		}
		return secretPayload(src.Items, s, modeOr(src.DefaultMode), isOptional(src.Optional))
	case v.DownwardAPI != nil:
		return m.downwardAPIPayload(v.DownwardAPI.Items, pod, modeOr(v.DownwardAPI.DefaultMode))
	case v.Projected != nil:
		return m.projectedPayload(ctx, pod, ps, v.Projected)
	}
	return nil, fmt.Errorf("volume %q is not a configMap, secret, downwardAPI or projected volume", v.Name)
}

func modeOr(m *int32) int32 {
	if m == nil {
		return defaultMode
	}
	return *m
}

func isOptional(b *bool) bool { return b != nil && *b }

// configMap fetches a ConfigMap; a missing optional one is an empty ConfigMap.
func (m *Manager) configMap(ctx context.Context, ns, name string, optional *bool) (*corev1.ConfigMap, error) {
	if m.Sources == nil {
		return nil, errors.New("volume: no Sources to read ConfigMaps from")
	}
	cm, err := m.Sources.ConfigMap(ctx, ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isOptional(optional) {
			return &corev1.ConfigMap{}, nil
		}
		return nil, fmt.Errorf("couldn't get configMap %s/%s: %w", ns, name, err)
	}
	return cm, nil
}

// secret fetches a Secret; a missing optional one is an empty Secret.
func (m *Manager) secret(ctx context.Context, ns, name string, optional *bool) (*corev1.Secret, error) {
	if m.Sources == nil {
		return nil, errors.New("volume: no Sources to read Secrets from")
	}
	s, err := m.Sources.Secret(ctx, ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isOptional(optional) {
			return &corev1.Secret{}, nil
		}
		return nil, fmt.Errorf("couldn't get secret %s/%s: %w", ns, name, err)
	}
	return s, nil
}

// configMapPayload is the kubelet's configmap.MakePayload.
func configMapPayload(items []corev1.KeyToPath, cm *corev1.ConfigMap, mode int32, optional bool) (map[string]file, error) {
	payload := make(map[string]file, len(cm.Data)+len(cm.BinaryData))
	if len(items) == 0 {
		for k, d := range cm.Data {
			payload[k] = file{data: []byte(d), mode: mode}
		}
		for k, d := range cm.BinaryData {
			payload[k] = file{data: d, mode: mode}
		}
		return payload, nil
	}
	for _, it := range items {
		var data []byte
		if s, ok := cm.Data[it.Key]; ok {
			data = []byte(s)
		} else if b, ok := cm.BinaryData[it.Key]; ok {
			data = b
		} else {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		payload[it.Path] = file{data: data, mode: itemMode(it.Mode, mode)}
	}
	return payload, nil
}

// secretPayload is the kubelet's secret.MakePayload.
func secretPayload(items []corev1.KeyToPath, s *corev1.Secret, mode int32, optional bool) (map[string]file, error) {
	payload := make(map[string]file, len(s.Data))
	if len(items) == 0 {
		for k, d := range s.Data {
			payload[k] = file{data: d, mode: mode}
		}
		return payload, nil
	}
	for _, it := range items {
		d, ok := s.Data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("references non-existent secret key: %s", it.Key)
		}
		payload[it.Path] = file{data: d, mode: itemMode(it.Mode, mode)}
	}
	return payload, nil
}

func itemMode(m *int32, def int32) int32 {
	if m != nil {
		return *m
	}
	return def
}

// downwardAPIPayload is the kubelet's downwardapi.CollectData: items that fail are
// reported together, the others still computed.
func (m *Manager) downwardAPIPayload(items []corev1.DownwardAPIVolumeFile, pod *corev1.Pod, mode int32) (map[string]file, error) {
	payload := map[string]file{}
	var errs []error
	for _, it := range items {
		f := file{mode: itemMode(it.Mode, mode)}
		switch {
		case it.FieldRef != nil:
			v, err := envvars.FieldRefValue(it.FieldRef, pod, nil, nil)
			if err != nil {
				errs = append(errs, err)
			} else {
				f.data = []byte(v)
			}
		case it.ResourceFieldRef != nil:
			var alloc corev1.ResourceList
			if m.Allocatable != nil {
				alloc = m.Allocatable()
			}
			v, err := envvars.ResourceFieldRefValue(it.ResourceFieldRef, pod, nil, alloc)
			if err != nil {
				errs = append(errs, err)
			} else {
				f.data = []byte(v)
			}
		}
		payload[filepath.Clean(it.Path)] = f
	}
	return payload, errors.Join(errs...)
}

// projectedPayload is the kubelet's projected collectData.
func (m *Manager) projectedPayload(ctx context.Context, pod *corev1.Pod, ps *podState, src *corev1.ProjectedVolumeSource) (map[string]file, error) {
	mode := modeOr(src.DefaultMode)
	payload := map[string]file{}
	var errs []error
	merge := func(p map[string]file) {
		for k, v := range p {
			payload[k] = v
		}
	}
	for _, s := range src.Sources {
		switch {
		case s.Secret != nil:
			sec, err := m.secret(ctx, pod.Namespace, s.Secret.Name, s.Secret.Optional)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p, err := secretPayload(s.Secret.Items, sec, mode, isOptional(s.Secret.Optional))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			merge(p)
		case s.ConfigMap != nil:
			cm, err := m.configMap(ctx, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Optional)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p, err := configMapPayload(s.ConfigMap.Items, cm, mode, isOptional(s.ConfigMap.Optional))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			merge(p)
		case s.DownwardAPI != nil:
			p, err := m.downwardAPIPayload(s.DownwardAPI.Items, pod, mode)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			merge(p)
		case s.ServiceAccountToken != nil:
			tp := s.ServiceAccountToken
			tokenMode := mode
			// With fsGroup the kubelet writes 0600 and lets the ownership pass widen
			// it to 0640 for the group.
			if fsGroup(pod) != nil {
				tokenMode = 0o600
			}
			token, err := m.token(ctx, pod, ps, tp)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			payload[tp.Path] = file{data: []byte(token), mode: tokenMode}
		case s.ClusterTrustBundle != nil:
			if isOptional(s.ClusterTrustBundle.Optional) {
				continue
			}
			errs = append(errs, errors.New("clusterTrustBundle projections are not supported by this kubelet"))
		case s.PodCertificate != nil:
			errs = append(errs, errors.New("podCertificate projections are not supported by this kubelet"))
		}
	}
	return payload, errors.Join(errs...)
}

// token returns a service account token for tp, from the cache unless it is due for
// renewal, which is the kubelet token manager's rule: older than 24h, or within 20% of
// its lifetime of expiring. A failed renewal keeps serving an unexpired cached token.
func (m *Manager) token(ctx context.Context, pod *corev1.Pod, ps *podState, tp *corev1.ServiceAccountTokenProjection) (string, error) {
	if m.Sources == nil {
		return "", errors.New("volume: no Sources to request tokens from")
	}
	var exp int64 = 3600
	if tp.ExpirationSeconds != nil {
		exp = *tp.ExpirationSeconds
	}
	key := fmt.Sprintf("%q/%d", tp.Audience, exp)
	cached := ps.tokens[key]
	now := m.clock().Now()
	if cached != nil && !requiresRefresh(cached, now) {
		return cached.Status.Token, nil
	}
	var auds []string
	if tp.Audience != "" {
		auds = []string{tp.Audience}
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         auds,
		ExpirationSeconds: &exp,
		BoundObjectRef: &authenticationv1.BoundObjectReference{
			APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
		},
	}}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := m.Sources.ServiceAccountToken(ctx, pod.Namespace, sa, req)
	if err != nil || tr == nil || tr.Status.Token == "" {
		if err == nil {
			err = errors.New("empty token in TokenRequest response")
		}
		switch {
		case cached == nil:
			return "", fmt.Errorf("failed to fetch token: %w", err)
		case !now.Before(cached.Status.ExpirationTimestamp.Time):
			return "", fmt.Errorf("token for service account %s/%s expired and refresh failed: %w", pod.Namespace, sa, err)
		}
		m.log().Error("could not renew service account token; keeping the current one", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return cached.Status.Token, nil
	}
	if tr.Spec.ExpirationSeconds == nil {
		tr = tr.DeepCopy()
		tr.Spec.ExpirationSeconds = &exp
	}
	ps.tokens[key] = tr
	return tr.Status.Token, nil
}

func requiresRefresh(tr *authenticationv1.TokenRequest, now time.Time) bool {
	if tr.Spec.ExpirationSeconds == nil {
		return false
	}
	ttl := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	exp := tr.Status.ExpirationTimestamp.Time
	iat := exp.Add(-ttl)
	if now.After(iat.Add(maxTokenTTL)) {
		return true
	}
	return now.After(exp.Add(-ttl / 5))
}

// maxTokenTTL is the age after which the kubelet renews a token whatever its lifetime.
const maxTokenTTL = 24 * time.Hour
