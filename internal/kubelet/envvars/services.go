package envvars

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// masterServiceName is the service in `default` every pod gets variables for.
const masterServiceName = "kubernetes"

// serviceEnv returns the service-link variables a pod in ns sees: those of the
// `kubernetes` service in `default` always, and those of every other service in ns when
// links are enabled. Services without a cluster IP (headless or none) are skipped.
func serviceEnv(objs Objects, ns string, enableLinks bool) (map[string]string, error) {
	m := map[string]string{}
	if objs == nil {
		return m, nil
	}
	selected := map[string]*corev1.Service{}
	add := func(svcs []*corev1.Service) {
		for _, s := range svcs {
			if !serviceIPSet(s) {
				continue
			}
			switch {
			case s.Namespace == metav1.NamespaceDefault && s.Name == masterServiceName:
				if _, ok := selected[s.Name]; !ok {
					selected[s.Name] = s
				}
			case s.Namespace == ns && enableLinks:
				selected[s.Name] = s
			}
		}
	}
	if ns != metav1.NamespaceDefault {
		svcs, err := objs.Services(metav1.NamespaceDefault)
		if err != nil {
			return nil, fmt.Errorf("failed to list services when setting up env vars: %w", err)
		}
		add(svcs)
	}
	svcs, err := objs.Services(ns)
	if err != nil {
		return nil, fmt.Errorf("failed to list services when setting up env vars: %w", err)
	}
	add(svcs)
	for _, s := range selected {
		for _, kv := range ServiceVars(s) {
			m[kv[0]] = kv[1]
		}
	}
	return m, nil
}

func serviceIPSet(s *corev1.Service) bool {
	return s.Spec.ClusterIP != corev1.ClusterIPNone && s.Spec.ClusterIP != ""
}

// ServiceVars returns the name/value pairs the kubelet derives from one service, in the
// kubelet's order; a service without a cluster IP or ports yields none.
func ServiceVars(s *corev1.Service) [][2]string {
	if !serviceIPSet(s) || len(s.Spec.Ports) == 0 {
		return nil
	}
	prefix := envName(s.Name)
	ip := s.Spec.ClusterIP
	out := [][2]string{
		{prefix + "_SERVICE_HOST", ip},
		{prefix + "_SERVICE_PORT", strconv.Itoa(int(s.Spec.Ports[0].Port))},
	}
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			out = append(out, [2]string{prefix + "_SERVICE_PORT_" + envName(p.Name), strconv.Itoa(int(p.Port))})
		}
	}
	// Docker-compatible link variables.
	for i, p := range s.Spec.Ports {
		proto := string(corev1.ProtocolTCP)
		if p.Protocol != "" {
			proto = string(p.Protocol)
		}
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))
		if i == 0 {
			out = append(out, [2]string{prefix + "_PORT", url})
		}
		pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
		out = append(out,
			[2]string{pp, url},
			[2]string{pp + "_PROTO", strings.ToLower(proto)},
			[2]string{pp + "_PORT", strconv.Itoa(int(p.Port))},
			[2]string{pp + "_ADDR", ip},
		)
	}
	return out
}

func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
