package envvars

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Objects reads the API objects a container's environment refers to. The kubelet backs
// it with listers or a client; methods may be called concurrently for different pods.
// ConfigMap and Secret return an error satisfying apierrors.IsNotFound when the object
// does not exist (that is what makes optional references skip). Services lists the
// services of one namespace (all of them; headless ones are filtered here).
type Objects interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Services(namespace string) ([]*corev1.Service, error)
}

// Sources is everything Resolve reads besides the pod: the API objects and the node and
// sandbox facts the downward API exposes.
type Sources struct {
	// Objects gives ConfigMaps, Secrets and Services. If nil there are no service
	// variables and any ConfigMap or Secret reference fails.
	Objects
	// HostIPs are the node's addresses, primary first (status.hostIP / hostIPs). When
	// empty, pod.status.hostIPs (then hostIP) is used.
	HostIPs []string
	// PodIPs are the sandbox's addresses (status.podIP / podIPs). When empty,
	// pod.status.podIPs (then podIP) is used.
	PodIPs []string
	// Allocatable is the node's allocatable resources: the default for unset cpu,
	// memory and ephemeral-storage limits in resourceFieldRef.
	Allocatable corev1.ResourceList
}

// Resolve returns container c's environment as the kubelet hands it to the runtime: the
// variables c defines (envFrom then env, later definitions replacing earlier ones and
// keeping the first one's position), followed by the service-link variables c does not
// define, sorted by name. See the package documentation for the rules.
//
// Errors carry the kubelet's messages, e.g. `couldn't find key K in ConfigMap ns/name`,
// or the API's not-found error (`configmaps "name" not found`) for a required object.
func Resolve(ctx context.Context, src Sources, pod *corev1.Pod, c *corev1.Container) ([]*runtimeapi.KeyValue, error) {
	enableLinks := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	svcEnv, err := serviceEnv(src.Objects, pod.Namespace, enableLinks)
	if err != nil {
		return nil, err
	}
	hostIPs, podIPs := src.HostIPs, src.PodIPs
	if len(hostIPs) == 0 {
		hostIPs = statusHostIPs(pod)
	}
	if len(podIPs) == 0 {
		podIPs = statusPodIPs(pod)
	}

	r := &resolver{src: src, ns: pod.Namespace, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	env := &orderedEnv{vals: map[string]string{}}

	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := r.configMap(ctx, from.ConfigMapRef.Name)
			if err != nil {
				if isOptional(from.ConfigMapRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			for _, k := range sortedKeys(cm.Data) {
				env.setValid(from.Prefix+k, cm.Data[k])
			}
		case from.SecretRef != nil:
			s, err := r.secret(ctx, from.SecretRef.Name)
			if err != nil {
				if isOptional(from.SecretRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			for _, k := range sortedKeys(s.Data) {
				env.setValid(from.Prefix+k, string(s.Data[k]))
			}
		}
	}

	mapping := mappingFor(env.vals, svcEnv)
	for i := range c.Env {
		e := &c.Env[i]
		val := e.Value
		switch {
		case val != "":
			val = expand(val, mapping)
		case e.ValueFrom != nil:
			var skip bool
			val, skip, err = r.valueFrom(ctx, e.ValueFrom, pod, c, hostIPs, podIPs)
			if err != nil {
				return nil, err
			}
			if skip {
				continue
			}
		}
		env.set(e.Name, val)
	}

	out := make([]*runtimeapi.KeyValue, 0, len(env.order)+len(svcEnv))
	for _, k := range env.order {
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(env.vals[k])})
	}
	for _, k := range sortedKeys(svcEnv) {
		if _, ok := env.vals[k]; !ok {
			out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(svcEnv[k])})
		}
	}
	return out, nil
}

// valueFrom resolves one env var source; skip is true for a missing optional reference.
func (r *resolver) valueFrom(ctx context.Context, vf *corev1.EnvVarSource, pod *corev1.Pod, c *corev1.Container, hostIPs, podIPs []string) (val string, skip bool, err error) {
	switch {
	case vf.FieldRef != nil:
		val, err = FieldRefValue(vf.FieldRef, pod, hostIPs, podIPs)
		return val, false, err
	case vf.ResourceFieldRef != nil:
		val, err = ResourceFieldRefValue(vf.ResourceFieldRef, pod, c, r.src.Allocatable)
		return val, false, err
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		optional := isOptional(ref.Optional)
		cm, err := r.configMap(ctx, ref.Name)
		if err != nil {
			if optional && apierrors.IsNotFound(err) {
				return "", true, nil
			}
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, r.ns, ref.Name)
		}
		return v, false, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		optional := isOptional(ref.Optional)
		s, err := r.secret(ctx, ref.Name)
		if err != nil {
			if optional && apierrors.IsNotFound(err) {
				return "", true, nil
			}
			return "", false, err
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, r.ns, ref.Name)
		}
		return string(v), false, nil
	case vf.FileKeyRef != nil:
		return "", false, fmt.Errorf("env var fileKeyRef (EnvFiles) is not supported by this kubelet")
	}
	return "", false, nil
}

// resolver fetches each ConfigMap and Secret once per Resolve, like the kubelet.
type resolver struct {
	src        Sources
	ns         string
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (r *resolver) configMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	if cm, ok := r.configMaps[name]; ok {
		return cm, nil
	}
	if r.src.Objects == nil {
		return nil, fmt.Errorf("couldn't get configMap %v/%v, no kubeClient defined", r.ns, name)
	}
	cm, err := r.src.ConfigMap(ctx, r.ns, name)
	if err != nil {
		return nil, err
	}
	r.configMaps[name] = cm
	return cm, nil
}

func (r *resolver) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if s, ok := r.secrets[name]; ok {
		return s, nil
	}
	if r.src.Objects == nil {
		return nil, fmt.Errorf("couldn't get secret %v/%v, no kubeClient defined", r.ns, name)
	}
	s, err := r.src.Secret(ctx, r.ns, name)
	if err != nil {
		return nil, err
	}
	r.secrets[name] = s
	return s, nil
}

// orderedEnv is a map that remembers the order names were first defined in.
type orderedEnv struct {
	order []string
	vals  map[string]string
}

func (e *orderedEnv) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.order = append(e.order, k)
	}
	e.vals[k] = v
}

// setValid sets k unless it cannot be an environment variable name at all (empty,
// non-printable or containing '='). Since RelaxedEnvironmentVariableValidation went GA
// the kubelet passes every other envFrom key through.
func (e *orderedEnv) setValid(k, v string) {
	if len(validation.IsRelaxedEnvVarName(k)) != 0 {
		return
	}
	e.set(k, v)
}

func isOptional(b *bool) bool { return b != nil && *b }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func statusHostIPs(pod *corev1.Pod) []string {
	var ips []string
	for _, ip := range pod.Status.HostIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.HostIP != "" {
		ips = []string{pod.Status.HostIP}
	}
	return ips
}

func statusPodIPs(pod *corev1.Pod) []string {
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []string{pod.Status.PodIP}
	}
	return ips
}
