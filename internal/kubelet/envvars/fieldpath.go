package envvars

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	resourcehelper "k8s.io/component-helpers/resource"
)

// FieldRefValue returns the value of a downward API field selector for pod, as the
// kubelet computes it for env vars and downwardAPI volume files. hostIPs and podIPs are
// the node's and the pod's addresses; podIPs are reordered so the family of hostIPs[0]
// comes first, and status.hostIP(s) fail when hostIPs is empty.
func FieldRefValue(fs *corev1.ObjectFieldSelector, pod *corev1.Pod, hostIPs, podIPs []string) (string, error) {
	path, err := convertFieldLabel(fs.APIVersion, fs.FieldPath)
	if err != nil {
		return "", err
	}
	podIPs = sortPodIPs(podIPs, hostIPs)
	podIP := ""
	if len(podIPs) > 0 {
		podIP = podIPs[0]
	}
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "spec.restartPolicy":
		return string(pod.Spec.RestartPolicy), nil
	case "spec.schedulerName":
		return pod.Spec.SchedulerName, nil
	case "spec.terminationGracePeriodSeconds":
		if t := pod.Spec.TerminationGracePeriodSeconds; t != nil {
			return strconv.FormatInt(*t, 10), nil
		}
		return "30", nil
	case "status.phase":
		return string(pod.Status.Phase), nil
	case "status.hostIP":
		if len(hostIPs) == 0 {
			return "", fmt.Errorf("failed to get host IPs: none known for the node")
		}
		return hostIPs[0], nil
	case "status.hostIPs":
		if len(hostIPs) == 0 {
			return "", fmt.Errorf("failed to get host IPs: none known for the node")
		}
		return strings.Join(hostIPs, ","), nil
	case "status.podIP":
		return podIP, nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	}
	return metadataValue(pod, path)
}

// convertFieldLabel is the kubelet's ConvertDownwardAPIFieldLabel for pods. An empty
// apiVersion is taken as v1 (the API server defaults it).
func convertFieldLabel(version, label string) (string, error) {
	if version != "" && version != "v1" {
		return "", fmt.Errorf("unsupported pod version: %s", version)
	}
	if path, _, ok := splitSubscript(label); ok {
		switch path {
		case "metadata.annotations", "metadata.labels":
			return label, nil
		}
		return "", fmt.Errorf("field label does not support subscript: %s", label)
	}
	switch label {
	case "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
		"spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
		"spec.terminationGracePeriodSeconds",
		"status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs":
		return label, nil
	case "spec.host": // old v1 clients
		return "spec.nodeName", nil
	}
	return "", fmt.Errorf("field label not supported: %s", label)
}

// metadataValue is the kubelet's fieldpath.ExtractFieldPathAsString.
func metadataValue(pod *corev1.Pod, path string) (string, error) {
	if p, key, ok := splitSubscript(path); ok {
		switch p {
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], nil
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Labels[key], nil
		}
		return "", fmt.Errorf("fieldPath %q does not support subscript", path)
	}
	switch path {
	case "metadata.annotations":
		return FormatMap(pod.Annotations), nil
	case "metadata.labels":
		return FormatMap(pod.Labels), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", path)
}

// FormatMap renders labels or annotations as the downward API does: sorted key="value"
// lines, values Go-quoted, no trailing newline.
func FormatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		if len(b) > 0 {
			b = append(b, '\n')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, m[k])
	}
	return string(b)
}

// splitSubscript splits "metadata.labels['key']" into path and key.
func splitSubscript(fieldPath string) (string, string, bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	path, key, ok := strings.Cut(strings.TrimSuffix(fieldPath, "']"), "['")
	if !ok || path == "" {
		return fieldPath, "", false
	}
	return path, key, true
}

// sortPodIPs keeps at most one IP per family, the family of hostIPs[0] (IPv4 when
// unknown) first, as the kubelet does.
func sortPodIPs(podIPs, hostIPs []string) []string {
	primaryV4 := true
	if len(hostIPs) > 0 {
		if a, err := netip.ParseAddr(hostIPs[0]); err == nil && a.Unmap().Is6() {
			primaryV4 = false
		}
	}
	family := func(ip string) (v4, ok bool) {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return false, false
		}
		return a.Unmap().Is4(), true
	}
	var out []string
	for _, want := range []bool{primaryV4, !primaryV4} {
		for _, ip := range podIPs {
			if v4, ok := family(ip); ok && v4 == want {
				out = append(out, ip)
				break
			}
		}
	}
	return out
}

// ResourceFieldRefValue returns the value of a resourceFieldRef for container c of pod
// (fs.ContainerName, when set, picks another container of the pod). Unset or zero cpu,
// memory and ephemeral-storage limits default to the pod-level limit when set and then
// to allocatable; values are divided by fs.Divisor (default 1) and rounded up.
func ResourceFieldRefValue(fs *corev1.ResourceFieldSelector, pod *corev1.Pod, c *corev1.Container, allocatable corev1.ResourceList) (string, error) {
	if fs.ContainerName != "" {
		var err error
		if c, err = findContainer(pod, fs.ContainerName); err != nil {
			return "", err
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef %s: no container given", fs.Resource)
	}
	defaulted := c.DeepCopy()
	mergeLimits(defaulted, podLimitDefaults(pod, allocatable))
	return containerResourceValue(fs, defaulted)
}

func findContainer(pod *corev1.Pod, name string) (*corev1.Container, error) {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], nil
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], nil
		}
	}
	return nil, fmt.Errorf("container %s not found", name)
}

// podLimitDefaults is allocatable overridden by the pod-level limits (PodLevelResources)
// for the resources the downward API exposes.
func podLimitDefaults(pod *corev1.Pod, allocatable corev1.ResourceList) corev1.ResourceList {
	if pod == nil || !resourcehelper.IsPodLevelLimitsSet(pod) {
		return allocatable
	}
	out := allocatable.DeepCopy()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if !resourcehelper.IsSupportedPodLevelResource(r) {
			continue
		}
		if v, ok := pod.Spec.Resources.Limits[r]; ok && !v.IsZero() {
			if _, ok := out[r]; ok {
				out[r] = v.DeepCopy()
			}
		}
	}
	return out
}

// mergeLimits is the kubelet's MergeContainerResourceLimits (hugepages excluded: they
// are never overcommitted, so always have a limit).
func mergeLimits(c *corev1.Container, defaults corev1.ResourceList) {
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := c.Resources.Limits[r]; !ok || q.IsZero() {
			if d, ok := defaults[r]; ok {
				c.Resources.Limits[r] = d.DeepCopy()
			}
		}
	}
}

// containerResourceValue is the kubelet's ExtractContainerResourceValue.
func containerResourceValue(fs *corev1.ResourceFieldSelector, c *corev1.Container) (string, error) {
	divisor := resource.MustParse("1")
	if !fs.Divisor.IsZero() {
		divisor = fs.Divisor
	}
	switch fs.Resource {
	case "limits.cpu":
		return ceilDiv(float64(c.Resources.Limits.Cpu().MilliValue()), float64(divisor.MilliValue())), nil
	case "limits.memory":
		return ceilDiv(float64(c.Resources.Limits.Memory().Value()), float64(divisor.Value())), nil
	case "limits.ephemeral-storage":
		return ceilDiv(float64(c.Resources.Limits.StorageEphemeral().Value()), float64(divisor.Value())), nil
	case "requests.cpu":
		return ceilDiv(float64(c.Resources.Requests.Cpu().MilliValue()), float64(divisor.MilliValue())), nil
	case "requests.memory":
		return ceilDiv(float64(c.Resources.Requests.Memory().Value()), float64(divisor.Value())), nil
	case "requests.ephemeral-storage":
		return ceilDiv(float64(c.Resources.Requests.StorageEphemeral().Value()), float64(divisor.Value())), nil
	}
	for prefix, list := range map[string]corev1.ResourceList{"requests.": c.Resources.Requests, "limits.": c.Resources.Limits} {
		if name, ok := strings.CutPrefix(fs.Resource, prefix); ok && strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
			q := list.Name(corev1.ResourceName(name), resource.BinarySI)
			return ceilDiv(float64(q.Value()), float64(divisor.Value())), nil
		}
	}
	return "", fmt.Errorf("unsupported container resource : %v", fs.Resource)
}

func ceilDiv(v, d float64) string {
	return strconv.FormatInt(int64(math.Ceil(v/d)), 10)
}
