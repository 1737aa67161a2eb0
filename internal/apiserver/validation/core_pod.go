package validation

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podUpdateForbiddenMsg is upstream's wording, kept verbatim because clients
// and people grep for it.
const podUpdateForbiddenMsg = "pod updates may not change fields other than `spec.containers[*].image`," +
	"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

func validatePodCreate(pod *corev1.Pod) field.ErrorList {
	errs := objectMeta(&pod.ObjectMeta, true, nameIsDNSSubdomain)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)
	// Ephemeral containers are added to running pods through their own
	// subresource; a pod cannot be born with them.
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(specPath.Child("terminationGracePeriodSeconds"), *g, isNegativeErrorMsg))
	}
	return errs
}

func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := objectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)

	// activeDeadlineSeconds may only be tightened.
	adsPath := specPath.Child("activeDeadlineSeconds")
	if pod.Spec.ActiveDeadlineSeconds != nil {
		v := *pod.Spec.ActiveDeadlineSeconds
		if old.Spec.ActiveDeadlineSeconds != nil && v > *old.Spec.ActiveDeadlineSeconds {
			errs = append(errs, field.Invalid(adsPath, v, "must be less than or equal to previous value"))
		}
	} else if old.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(adsPath, pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}

	errs = append(errs, onlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, onlyRemovedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	// Start from the old spec, copy over everything a pod update may change,
	// and anything still different is a forbidden change.
	munged := old.Spec.DeepCopy()
	for i := range munged.Containers {
		if i < len(pod.Spec.Containers) {
			munged.Containers[i].Image = pod.Spec.Containers[i].Image
		}
	}
	for i := range munged.InitContainers {
		if i < len(pod.Spec.InitContainers) {
			munged.InitContainers[i].Image = pod.Spec.InitContainers[i].Image
		}
	}
	munged.ActiveDeadlineSeconds = pod.Spec.ActiveDeadlineSeconds
	munged.Tolerations = pod.Spec.Tolerations
	munged.SchedulingGates = pod.Spec.SchedulingGates
	if og, ng := old.Spec.TerminationGracePeriodSeconds, pod.Spec.TerminationGracePeriodSeconds; og != nil && *og < 0 && ng != nil && *ng == 1 {
		munged.TerminationGracePeriodSeconds = ng
	}
	if !semanticEqual(*munged, pod.Spec) {
		errs = append(errs, field.Forbidden(specPath, podUpdateForbiddenMsg+"\n"+changedFields(*munged, pod.Spec)))
	}
	return errs
}

// changedFields names the top-level fields of two structs that differ; it is
// the short human-readable stand-in for upstream's full diff.
func changedFields(a, b interface{}) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	var changed []string
	for i := 0; i < t.NumField(); i++ {
		if !semanticEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
			if name == "" {
				name = t.Field(i).Name
			}
			changed = append(changed, "spec."+name)
		}
	}
	return "changed: " + strings.Join(changed, ", ")
}

// onlyAddedTolerations enforces that existing tolerations survive an update;
// the only change allowed to one is lowering tolerationSeconds.
func onlyAddedTolerations(newTols, oldTols []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, ot := range oldTols {
		found := false
		for _, nt := range newTols {
			a, b := ot, nt
			a.TolerationSeconds, b.TolerationSeconds = nil, nil
			if !semanticEqual(a, b) {
				continue
			}
			if ot.TolerationSeconds == nil && nt.TolerationSeconds == nil {
				found = true
			} else if ot.TolerationSeconds != nil && nt.TolerationSeconds != nil && *nt.TolerationSeconds <= *ot.TolerationSeconds {
				found = true
			} else if ot.TolerationSeconds != nil && *ot.TolerationSeconds <= 0 && nt.TolerationSeconds != nil {
				found = true
			}
			if found {
				break
			}
		}
		if !found {
			errs = append(errs, field.Forbidden(fldPath, fmt.Sprintf("existing toleration can not be modified except its tolerationSeconds: %s", tolerationString(ot))))
		}
	}
	return errs
}

func tolerationString(t corev1.Toleration) string {
	return fmt.Sprintf("{key: %q, operator: %q, value: %q, effect: %q}", t.Key, t.Operator, t.Value, t.Effect)
}

// onlyRemovedSchedulingGates allows gates to be removed but never added once a
// pod exists, because the scheduler may already have seen it as schedulable.
func onlyRemovedSchedulingGates(newGates, oldGates []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	old := sets.New[string]()
	for _, g := range oldGates {
		old.Insert(g.Name)
	}
	var errs field.ErrorList
	for _, g := range newGates {
		if !old.Has(g.Name) {
			errs = append(errs, field.Forbidden(fldPath, fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := objectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	statusPath := field.NewPath("status")
	st := pod.Status
	if st.NominatedNodeName != "" {
		errs = append(errs, dns1123Subdomain(st.NominatedNodeName, statusPath.Child("nominatedNodeName"))...)
	}
	errs = append(errs, enum(st.Phase, true, statusPath.Child("phase"),
		corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown)...)
	// A pod that finished stays finished; the kubelet and controllers rely on it.
	if (old.Status.Phase == corev1.PodSucceeded || old.Status.Phase == corev1.PodFailed) && st.Phase != old.Status.Phase {
		errs = append(errs, field.Forbidden(statusPath.Child("phase"), fmt.Sprintf("cannot transition from terminal phase %q to %q", old.Status.Phase, st.Phase)))
	}
	errs = append(errs, podIPList(st.PodIP, st.PodIPs, old.Status.PodIPs, statusPath, "podIP", "podIPs")...)
	var oldHostIPs []corev1.PodIP
	for _, h := range old.Status.HostIPs {
		oldHostIPs = append(oldHostIPs, corev1.PodIP(h))
	}
	var hostIPs []corev1.PodIP
	for _, h := range st.HostIPs {
		hostIPs = append(hostIPs, corev1.PodIP(h))
	}
	errs = append(errs, podIPList(st.HostIP, hostIPs, oldHostIPs, statusPath, "hostIP", "hostIPs")...)
	for i, c := range st.Conditions {
		if c.Type == "" {
			errs = append(errs, field.Required(statusPath.Child("conditions").Index(i).Child("type"), ""))
		}
	}
	errs = append(errs, containerStatuses(st.ContainerStatuses, statusPath.Child("containerStatuses"))...)
	errs = append(errs, containerStatuses(st.InitContainerStatuses, statusPath.Child("initContainerStatuses"))...)
	errs = append(errs, containerStatuses(st.EphemeralContainerStatuses, statusPath.Child("ephemeralContainerStatuses"))...)
	return errs
}

// podIPList validates the single/plural IP pair used by status.podIP(s) and
// status.hostIP(s): every entry is an IP, the list has at most one address per
// family, and its first element matches the singular field.
func podIPList(single string, list, oldList []corev1.PodIP, fldPath *field.Path, singleName, listName string) field.ErrorList {
	var errs field.ErrorList
	var oldIPs []string
	for _, ip := range oldList {
		oldIPs = append(oldIPs, ip.IP)
	}
	listPath := fldPath.Child(listName)
	if len(list) > 0 && single != list[0].IP {
		errs = append(errs, field.Invalid(listPath.Index(0).Child("ip"), list[0].IP, fmt.Sprintf("must match `%s`", singleName)))
	}
	if len(list) > 2 {
		errs = append(errs, field.TooMany(listPath, len(list), 2))
	}
	seen := uniqueNames{}
	for i, ip := range list {
		errs = append(errs, legacyIP(ip.IP, listPath.Index(i).Child("ip"), oldIPs)...)
		if seen.add(ip.IP) {
			errs = append(errs, field.Duplicate(listPath.Index(i).Child("ip"), ip.IP))
		}
	}
	if len(list) == 0 && single != "" {
		errs = append(errs, legacyIP(single, fldPath.Child(singleName), oldIPs)...)
	}
	return errs
}

func containerStatuses(statuses []corev1.ContainerStatus, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range statuses {
		p := fldPath.Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		errs = append(errs, nonNegative(s.RestartCount, p.Child("restartCount"))...)
	}
	return errs
}

// validatePodTemplateSpec validates a pod template embedded in a workload.
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	mp := fldPath.Child("metadata")
	errs := labels(t.Labels, mp.Child("labels"))
	errs = append(errs, validateAnnotations(t.Annotations, mp.Child("annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, fldPath.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	if g := t.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(fldPath.Child("spec", "terminationGracePeriodSeconds"), *g, isNegativeErrorMsg))
	}
	return errs
}

// validatePodSpec validates everything in a pod spec that does not depend on
// whether it is a create or an update. fldPath points at the spec itself.
func validatePodSpec(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	vols, vErrs := validateVolumes(spec.Volumes, fldPath.Child("volumes"))
	errs = append(errs, vErrs...)

	allNames := uniqueNames{}
	hostPorts := uniqueNames{}
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(fldPath.Child("containers"), ""))
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		p := fldPath.Child("initContainers").Index(i)
		errs = append(errs, validateContainer(c, vols, spec, &allNames, &hostPorts, p)...)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if !sidecar {
			// Plain init containers run to completion, so hooks and probes
			// that assume a long-running process make no sense.
			msg := "may not be set for init containers without restartPolicy=Always"
			if c.Lifecycle != nil {
				errs = append(errs, field.Forbidden(p.Child("lifecycle"), msg))
			}
			if c.LivenessProbe != nil {
				errs = append(errs, field.Forbidden(p.Child("livenessProbe"), msg))
			}
			if c.ReadinessProbe != nil {
				errs = append(errs, field.Forbidden(p.Child("readinessProbe"), msg))
			}
			if c.StartupProbe != nil {
				errs = append(errs, field.Forbidden(p.Child("startupProbe"), msg))
			}
		}
	}
	for i := range spec.Containers {
		errs = append(errs, validateContainer(&spec.Containers[i], vols, spec, &allNames, &hostPorts, fldPath.Child("containers").Index(i))...)
	}
	errs = append(errs, validateEphemeralContainers(spec, vols, &allNames, fldPath.Child("ephemeralContainers"))...)

	errs = append(errs, enum(spec.RestartPolicy, true, fldPath.Child("restartPolicy"),
		corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)...)
	errs = append(errs, enum(spec.DNSPolicy, true, fldPath.Child("dnsPolicy"),
		corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone)...)
	errs = append(errs, validateDNSConfig(spec.DNSConfig, spec.DNSPolicy, fldPath.Child("dnsConfig"))...)
	errs = append(errs, labels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)
	errs = append(errs, validatePodSecurityContext(spec.SecurityContext, fldPath.Child("securityContext"))...)
	errs = append(errs, validateAffinity(spec.Affinity, fldPath.Child("affinity"))...)
	errs = append(errs, validateTolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	errs = append(errs, validateTopologySpread(spec.TopologySpreadConstraints, fldPath.Child("topologySpreadConstraints"))...)
	errs = append(errs, validateHostAliases(spec.HostAliases, fldPath.Child("hostAliases"))...)

	if spec.ServiceAccountName != "" {
		errs = append(errs, msgs(fldPath.Child("serviceAccountName"), spec.ServiceAccountName, nameIsDNSSubdomain(spec.ServiceAccountName, false))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, msgs(fldPath.Child("nodeName"), spec.NodeName, nameIsDNSSubdomain(spec.NodeName, false))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), v, utilvalidation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, dns1123Label(spec.Hostname, fldPath.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, dns1123Label(spec.Subdomain, fldPath.Child("subdomain"))...)
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, dns1123Subdomain(spec.PriorityClassName, fldPath.Child("priorityClassName"))...)
	}
	if spec.RuntimeClassName != nil {
		errs = append(errs, dns1123Subdomain(*spec.RuntimeClassName, fldPath.Child("runtimeClassName"))...)
	}
	if spec.PreemptionPolicy != nil {
		errs = append(errs, enum(*spec.PreemptionPolicy, false, fldPath.Child("preemptionPolicy"),
			corev1.PreemptLowerPriority, corev1.PreemptNever)...)
	}
	for name, q := range spec.Overhead {
		p := fldPath.Child("overhead").Key(string(name))
		errs = append(errs, containerResourceName(name, p)...)
		errs = append(errs, quantityNonNegative(q, p)...)
	}
	if spec.Resources != nil {
		errs = append(errs, validateResourceRequirements(spec.Resources, fldPath.Child("resources"))...)
	}
	for i, g := range spec.ReadinessGates {
		errs = append(errs, qualifiedName(string(g.ConditionType), fldPath.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	gates := uniqueNames{}
	for i, g := range spec.SchedulingGates {
		p := fldPath.Child("schedulingGates").Index(i)
		errs = append(errs, qualifiedName(g.Name, p)...)
		if gates.add(g.Name) {
			errs = append(errs, field.Duplicate(p, g.Name))
		}
	}
	if spec.OS != nil && spec.OS.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("os", "name"), ""))
	}
	if spec.HostNetwork {
		// With host networking the container port is the host port, so a
		// different explicit hostPort can never be honoured.
		for ci, c := range spec.Containers {
			for pi, port := range c.Ports {
				if port.HostPort != 0 && port.HostPort != port.ContainerPort {
					errs = append(errs, field.Invalid(fldPath.Child("containers").Index(ci).Child("ports").Index(pi).Child("hostPort"),
						port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
				}
			}
		}
	}
	for i, s := range spec.ImagePullSecrets {
		if s.Name == "" {
			continue // upstream only warns about empty names
		}
		errs = append(errs, dns1123Subdomain(s.Name, fldPath.Child("imagePullSecrets").Index(i).Child("name"))...)
	}
	return errs
}

// ---- containers ----

var supportedPullPolicies = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}

// validateContainer checks one regular or init container. allNames and
// hostPorts are shared across the whole pod because container names and host
// port bindings must be unique pod-wide.
func validateContainer(c *corev1.Container, vols map[string]corev1.VolumeSource, spec *corev1.PodSpec, allNames, hostPorts *uniqueNames, p *field.Path) field.ErrorList {
	errs := validateContainerCommon(c, vols, allNames, p)
	errs = append(errs, validateContainerPorts(c.Ports, hostPorts, p.Child("ports"))...)
	errs = append(errs, validateResourceRequirements(&c.Resources, p.Child("resources"))...)
	errs = append(errs, validateProbe(c.LivenessProbe, p.Child("livenessProbe"))...)
	errs = append(errs, validateProbe(c.ReadinessProbe, p.Child("readinessProbe"))...)
	errs = append(errs, validateProbe(c.StartupProbe, p.Child("startupProbe"))...)
	// Liveness and startup probes decide restarts; a success threshold other
	// than one would make a flapping container look healthy.
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"startupProbe", c.StartupProbe}} {
		if pr.probe != nil && pr.probe.SuccessThreshold != 0 && pr.probe.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(p.Child(pr.name, "successThreshold"), pr.probe.SuccessThreshold, "must be 1"))
		}
	}
	errs = append(errs, validateLifecycle(c.Lifecycle, p.Child("lifecycle"))...)
	if c.RestartPolicy != nil {
		errs = append(errs, enum(*c.RestartPolicy, false, p.Child("restartPolicy"),
			corev1.ContainerRestartPolicyAlways, corev1.ContainerRestartPolicyOnFailure, corev1.ContainerRestartPolicyNever)...)
	}
	for i, rp := range c.ResizePolicy {
		rpp := p.Child("resizePolicy").Index(i)
		errs = append(errs, enum(rp.ResourceName, false, rpp.Child("resourceName"), corev1.ResourceCPU, corev1.ResourceMemory)...)
		errs = append(errs, enum(rp.RestartPolicy, false, rpp.Child("restartPolicy"), corev1.NotRequired, corev1.RestartContainer)...)
	}
	return errs
}

// validateContainerCommon holds the rules shared by all three container
// kinds: identity, image, environment, mounts, security context.
func validateContainerCommon(c *corev1.Container, vols map[string]corev1.VolumeSource, allNames *uniqueNames, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	namePath := p.Child("name")
	if c.Name == "" {
		errs = append(errs, field.Required(namePath, ""))
	} else {
		errs = append(errs, dns1123Label(c.Name, namePath)...)
		if allNames.add(c.Name) {
			errs = append(errs, field.Duplicate(namePath, c.Name))
		}
	}
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	} else if strings.TrimSpace(c.Image) != c.Image {
		errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}
	errs = append(errs, enum(c.ImagePullPolicy, true, p.Child("imagePullPolicy"), supportedPullPolicies...)...)
	errs = append(errs, enum(c.TerminationMessagePolicy, true, p.Child("terminationMessagePolicy"),
		corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError)...)
	errs = append(errs, validateEnv(c.Env, p.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(c.VolumeMounts, vols, c, p.Child("volumeMounts"))...)
	errs = append(errs, validateVolumeDevices(c.VolumeDevices, vols, c.VolumeMounts, p.Child("volumeDevices"))...)
	errs = append(errs, validateSecurityContext(c.SecurityContext, p.Child("securityContext"))...)
	return errs
}

func validateEphemeralContainers(spec *corev1.PodSpec, vols map[string]corev1.VolumeSource, allNames *uniqueNames, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	targets := sets.New[string]()
	for _, c := range spec.Containers {
		targets.Insert(c.Name)
	}
	for _, c := range spec.InitContainers {
		targets.Insert(c.Name)
	}
	for i := range spec.EphemeralContainers {
		ec := &spec.EphemeralContainers[i]
		p := fldPath.Index(i)
		c := corev1.Container(ec.EphemeralContainerCommon)
		errs = append(errs, validateContainerCommon(&c, vols, allNames, p)...)
		// Ephemeral containers are debugging tools: they get no resources,
		// ports, probes or hooks because the pod cannot be re-admitted for them.
		msg := "cannot be set for an Ephemeral Container"
		if len(c.Ports) > 0 {
			errs = append(errs, field.Forbidden(p.Child("ports"), msg))
		}
		if c.LivenessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("livenessProbe"), msg))
		}
		if c.ReadinessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("readinessProbe"), msg))
		}
		if c.StartupProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("startupProbe"), msg))
		}
		if c.Lifecycle != nil {
			errs = append(errs, field.Forbidden(p.Child("lifecycle"), msg))
		}
		if len(c.Resources.Limits) > 0 || len(c.Resources.Requests) > 0 {
			errs = append(errs, field.Forbidden(p.Child("resources"), msg))
		}
		if c.RestartPolicy != nil {
			errs = append(errs, field.Forbidden(p.Child("restartPolicy"), msg))
		}
		if ec.TargetContainerName != "" && !targets.Has(ec.TargetContainerName) {
			errs = append(errs, field.NotFound(p.Child("targetContainerName"), ec.TargetContainerName))
		}
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, hostPorts *uniqueNames, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := uniqueNames{}
	for i, port := range ports {
		p := fldPath.Index(i)
		if port.Name != "" {
			if m := utilvalidation.IsValidPortName(port.Name); len(m) > 0 {
				errs = append(errs, msgs(p.Child("name"), port.Name, m)...)
			} else if names.add(port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			errs = append(errs, portNum(port.ContainerPort, p.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, portNum(port.HostPort, p.Child("hostPort"))...)
			proto := port.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			key := fmt.Sprintf("%s/%s/%d", port.HostIP, proto, port.HostPort)
			if hostPorts.add(key) {
				errs = append(errs, field.Duplicate(p.Child("hostPort"), fmt.Sprintf("%s/%d", proto, port.HostPort)))
			}
		}
		if port.HostIP != "" {
			errs = append(errs, legacyIP(port.HostIP, p.Child("hostIP"), nil)...)
		}
		errs = append(errs, protocol(port.Protocol, p.Child("protocol"))...)
	}
	return errs
}

// ---- environment ----

var envFieldPaths = []string{
	"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
}

var volumeFieldPaths = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}

var resourceFieldRefs = []string{
	"limits.cpu", "limits.ephemeral-storage", "limits.memory",
	"requests.cpu", "requests.ephemeral-storage", "requests.memory",
}

func validateEnv(vars []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		p := fldPath.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, msgs(p.Child("name"), ev.Name, utilvalidation.IsRelaxedEnvVarName(ev.Name))...)
		}
		errs = append(errs, validateEnvVarSource(ev, p.Child("valueFrom"))...)
	}
	return errs
}

func validateEnvVarSource(ev corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	src := ev.ValueFrom
	if src == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if src.FieldRef != nil {
		n++
		errs = append(errs, validateObjectFieldSelector(src.FieldRef, envFieldPaths, true, fldPath.Child("fieldRef"))...)
	}
	if src.ResourceFieldRef != nil {
		n++
		errs = append(errs, validateResourceFieldSelector(src.ResourceFieldRef, false, fldPath.Child("resourceFieldRef"))...)
	}
	if src.ConfigMapKeyRef != nil {
		n++
		errs = append(errs, keySelector(src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key, fldPath.Child("configMapKeyRef"))...)
	}
	if src.SecretKeyRef != nil {
		n++
		errs = append(errs, keySelector(src.SecretKeyRef.Name, src.SecretKeyRef.Key, fldPath.Child("secretKeyRef"))...)
	}
	if src.FileKeyRef != nil {
		n++
		fp := fldPath.Child("fileKeyRef")
		if src.FileKeyRef.VolumeName == "" {
			errs = append(errs, field.Required(fp.Child("volumeName"), ""))
		}
		if src.FileKeyRef.Path == "" {
			errs = append(errs, field.Required(fp.Child("path"), ""))
		} else {
			errs = append(errs, localNonReservedPath(src.FileKeyRef.Path, fp.Child("path"))...)
		}
		if src.FileKeyRef.Key == "" {
			errs = append(errs, field.Required(fp.Child("key"), ""))
		}
	}
	switch {
	case n == 0:
		errs = append(errs, field.Invalid(fldPath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
	case n > 1:
		errs = append(errs, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
	case ev.Value != "":
		errs = append(errs, field.Invalid(fldPath, "", "may not be specified when `value` is not empty"))
	}
	return errs
}

// keySelector validates a {name, key} reference into a ConfigMap or Secret.
func keySelector(name, key string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else {
		errs = append(errs, dns1123Subdomain(name, fldPath.Child("name"))...)
	}
	if key == "" {
		errs = append(errs, field.Required(fldPath.Child("key"), ""))
	} else {
		errs = append(errs, msgs(fldPath.Child("key"), key, utilvalidation.IsConfigMapKey(key))...)
	}
	return errs
}

// validateObjectFieldSelector validates a downward API fieldRef. Env vars may
// only reference single labels/annotations via subscripts, volumes may take
// the whole map.
func validateObjectFieldSelector(fs *corev1.ObjectFieldSelector, allowed []string, forEnv bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if fs.APIVersion != "" && fs.APIVersion != "v1" {
		errs = append(errs, field.Invalid(fldPath.Child("apiVersion"), fs.APIVersion, "unsupported version"))
	}
	fp := fldPath.Child("fieldPath")
	if fs.FieldPath == "" {
		return append(errs, field.Required(fp, ""))
	}
	for _, prefix := range []string{"metadata.labels", "metadata.annotations"} {
		if strings.HasPrefix(fs.FieldPath, prefix+"[") {
			sub := strings.TrimSuffix(strings.TrimPrefix(fs.FieldPath, prefix+"['"), "']")
			if sub == fs.FieldPath || !strings.HasSuffix(fs.FieldPath, "']") {
				return append(errs, field.Invalid(fp, fs.FieldPath, "error converting fieldPath: unexpected subscript syntax"))
			}
			if prefix == "metadata.labels" {
				errs = append(errs, msgs(fp, fs.FieldPath, utilvalidation.IsQualifiedName(sub))...)
			} else {
				errs = append(errs, msgs(fp, fs.FieldPath, utilvalidation.IsQualifiedName(strings.ToLower(sub)))...)
			}
			return errs
		}
	}
	for _, a := range allowed {
		if fs.FieldPath == a {
			return errs
		}
	}
	allowedList := append([]string{}, allowed...)
	if forEnv {
		allowedList = append(allowedList, "metadata.annotations['<KEY>']", "metadata.labels['<KEY>']")
	}
	sort.Strings(allowedList)
	return append(errs, field.NotSupported(fp, fs.FieldPath, allowedList))
}

func validateResourceFieldSelector(rs *corev1.ResourceFieldSelector, needContainer bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if needContainer && rs.ContainerName == "" {
		errs = append(errs, field.Required(fldPath.Child("containerName"), ""))
	}
	rp := fldPath.Child("resource")
	switch {
	case rs.Resource == "":
		errs = append(errs, field.Required(rp, ""))
	case strings.HasPrefix(rs.Resource, "limits.hugepages-"), strings.HasPrefix(rs.Resource, "requests.hugepages-"):
	default:
		errs = append(errs, enum(rs.Resource, false, rp, resourceFieldRefs...)...)
	}
	if rs.Divisor.Sign() < 0 {
		errs = append(errs, field.Invalid(fldPath.Child("divisor"), rs.Divisor.String(), isNegativeErrorMsg))
	}
	return errs
}

func validateEnvFrom(vars []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		p := fldPath.Index(i)
		if ev.Prefix != "" {
			errs = append(errs, msgs(p.Child("prefix"), ev.Prefix, utilvalidation.IsRelaxedEnvVarName(ev.Prefix))...)
		}
		n := 0
		if ev.ConfigMapRef != nil {
			n++
			errs = append(errs, refName(ev.ConfigMapRef.Name, p.Child("configMapRef", "name"))...)
		}
		if ev.SecretRef != nil {
			n++
			errs = append(errs, refName(ev.SecretRef.Name, p.Child("secretRef", "name"))...)
		}
		if n == 0 {
			errs = append(errs, field.Invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
		} else if n > 1 {
			errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

// refName validates a required reference to a DNS-subdomain-named object.
func refName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return dns1123Subdomain(name, fldPath)
}

// ---- mounts ----

func validateVolumeMounts(mounts []corev1.VolumeMount, vols map[string]corev1.VolumeSource, c *corev1.Container, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	mountPoints := uniqueNames{}
	privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
	for i, m := range mounts {
		p := fldPath.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if _, ok := vols[m.Name]; !ok {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		} else if mountPoints.add(m.MountPath) {
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		if m.SubPath != "" {
			errs = append(errs, localDescendingPath(m.SubPath, p.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, localDescendingPath(m.SubPathExpr, p.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			mp := *m.MountPropagation
			errs = append(errs, enum(mp, false, p.Child("mountPropagation"),
				corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone)...)
			// Bidirectional propagation lets the container mount onto the
			// host, which only privileged containers may do.
			if mp == corev1.MountPropagationBidirectional && !privileged {
				errs = append(errs, field.Forbidden(p.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
			}
		}
		if m.RecursiveReadOnly != nil {
			rro := *m.RecursiveReadOnly
			errs = append(errs, enum(rro, false, p.Child("recursiveReadOnly"),
				corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyIfPossible, corev1.RecursiveReadOnlyEnabled)...)
			if rro != corev1.RecursiveReadOnlyDisabled && !m.ReadOnly {
				errs = append(errs, field.Forbidden(p.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
			}
		}
	}
	return errs
}

func validateVolumeDevices(devs []corev1.VolumeDevice, vols map[string]corev1.VolumeSource, mounts []corev1.VolumeMount, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := uniqueNames{}
	mounted := sets.New[string]()
	for _, m := range mounts {
		mounted.Insert(m.Name)
	}
	for i, d := range devs {
		p := fldPath.Index(i)
		if d.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if src, ok := vols[d.Name]; !ok {
			errs = append(errs, field.NotFound(p.Child("name"), d.Name))
		} else if src.PersistentVolumeClaim == nil && src.Ephemeral == nil {
			errs = append(errs, field.Invalid(p.Child("name"), d.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		} else if mounted.Has(d.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), d.Name, "must not already exist in volumeMounts"))
		}
		if d.DevicePath == "" {
			errs = append(errs, field.Required(p.Child("devicePath"), ""))
		} else if paths.add(d.DevicePath) {
			errs = append(errs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must be unique"))
		}
	}
	return errs
}

// ---- resources ----

// isNativeResource reports whether name belongs to Kubernetes itself (no
// domain, or a kubernetes.io domain) as opposed to an extended resource.
func isNativeResource(name corev1.ResourceName) bool {
	s := string(name)
	return !strings.Contains(s, "/") || strings.Contains(s, "kubernetes.io/")
}

func isHugePages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// overcommitAllowed: only native, non-hugepage resources may have requests
// below limits; the rest are whole devices or pre-allocated pages.
func overcommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePages(name)
}

func containerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	s := string(name)
	errs := qualifiedName(s, fldPath)
	if len(errs) > 0 {
		return errs
	}
	if !strings.Contains(s, "/") {
		switch {
		case name == corev1.ResourceCPU, name == corev1.ResourceMemory, name == corev1.ResourceEphemeralStorage, isHugePages(name):
		default:
			errs = append(errs, field.Invalid(fldPath, s, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(name) && strings.HasPrefix(s, "requests.") {
		errs = append(errs, field.Invalid(fldPath, s, "must be a standard resource for containers"))
	}
	return errs
}

// validateResourceRequirements checks container (or pod-level) requests and
// limits: names, non-negative values, integer extended resources, and that
// requests do not exceed limits.
func validateResourceRequirements(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	for name, q := range r.Limits {
		p := limPath.Key(string(name))
		errs = append(errs, containerResourceName(name, p)...)
		errs = append(errs, quantityNonNegative(q, p)...)
		if !isNativeResource(name) && q.MilliValue()%1000 != 0 {
			errs = append(errs, field.Invalid(p, q.String(), "must be an integer"))
		}
	}
	for name, q := range r.Requests {
		p := reqPath.Key(string(name))
		errs = append(errs, containerResourceName(name, p)...)
		errs = append(errs, quantityNonNegative(q, p)...)
		if !isNativeResource(name) && q.MilliValue()%1000 != 0 {
			errs = append(errs, field.Invalid(p, q.String(), "must be an integer"))
		}
		limit, hasLimit := r.Limits[name]
		switch {
		case hasLimit && q.Cmp(limit) != 0 && !overcommitAllowed(name):
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case hasLimit && q.Cmp(limit) > 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case !hasLimit && !overcommitAllowed(name):
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	for i, c := range r.Claims {
		p := fldPath.Child("claims").Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, dns1123Label(c.Name, p.Child("name"))...)
		}
	}
	return errs
}

// ---- probes and hooks ----

type handler struct {
	name string
	set  bool
}

// exactlyOneHandler reports Required when no handler is set and Forbidden on
// every handler after the first.
func exactlyOneHandler(hs []handler, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	for _, h := range hs {
		if !h.set {
			continue
		}
		n++
		if n > 1 {
			errs = append(errs, field.Forbidden(fldPath.Child(h.name), "may not specify more than 1 handler type"))
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(fldPath, "must specify a handler type"))
	}
	return errs
}

func validateProbe(probe *corev1.Probe, fldPath *field.Path) field.ErrorList {
	if probe == nil {
		return nil
	}
	h := probe.ProbeHandler
	errs := exactlyOneHandler([]handler{
		{"exec", h.Exec != nil}, {"httpGet", h.HTTPGet != nil}, {"tcpSocket", h.TCPSocket != nil}, {"grpc", h.GRPC != nil},
	}, fldPath)
	errs = append(errs, validateExec(h.Exec, fldPath.Child("exec"))...)
	errs = append(errs, validateHTTPGet(h.HTTPGet, fldPath.Child("httpGet"))...)
	errs = append(errs, validateTCPSocket(h.TCPSocket, fldPath.Child("tcpSocket"))...)
	if h.GRPC != nil {
		errs = append(errs, portNum(h.GRPC.Port, fldPath.Child("grpc", "port"))...)
	}
	errs = append(errs, nonNegative(probe.InitialDelaySeconds, fldPath.Child("initialDelaySeconds"))...)
	errs = append(errs, nonNegative(probe.TimeoutSeconds, fldPath.Child("timeoutSeconds"))...)
	errs = append(errs, nonNegative(probe.PeriodSeconds, fldPath.Child("periodSeconds"))...)
	errs = append(errs, nonNegative(probe.SuccessThreshold, fldPath.Child("successThreshold"))...)
	errs = append(errs, nonNegative(probe.FailureThreshold, fldPath.Child("failureThreshold"))...)
	if g := probe.TerminationGracePeriodSeconds; g != nil && *g <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
	}
	return errs
}

func validateLifecycle(l *corev1.Lifecycle, fldPath *field.Path) field.ErrorList {
	if l == nil {
		return nil
	}
	var errs field.ErrorList
	for _, hk := range []struct {
		name string
		h    *corev1.LifecycleHandler
	}{{"postStart", l.PostStart}, {"preStop", l.PreStop}} {
		if hk.h == nil {
			continue
		}
		p := fldPath.Child(hk.name)
		errs = append(errs, exactlyOneHandler([]handler{
			{"exec", hk.h.Exec != nil}, {"httpGet", hk.h.HTTPGet != nil}, {"tcpSocket", hk.h.TCPSocket != nil}, {"sleep", hk.h.Sleep != nil},
		}, p)...)
		errs = append(errs, validateExec(hk.h.Exec, p.Child("exec"))...)
		errs = append(errs, validateHTTPGet(hk.h.HTTPGet, p.Child("httpGet"))...)
		errs = append(errs, validateTCPSocket(hk.h.TCPSocket, p.Child("tcpSocket"))...)
		if hk.h.Sleep != nil {
			errs = append(errs, nonNegative(hk.h.Sleep.Seconds, p.Child("sleep", "seconds"))...)
		}
	}
	if l.StopSignal != nil && *l.StopSignal == "" {
		errs = append(errs, field.Invalid(fldPath.Child("stopSignal"), "", "must be a known signal name"))
	}
	return errs
}

func validateExec(e *corev1.ExecAction, fldPath *field.Path) field.ErrorList {
	if e != nil && len(e.Command) == 0 {
		return field.ErrorList{field.Required(fldPath.Child("command"), "")}
	}
	return nil
}

func validateHTTPGet(h *corev1.HTTPGetAction, fldPath *field.Path) field.ErrorList {
	if h == nil {
		return nil
	}
	errs := portNumOrName(h.Port, fldPath.Child("port"))
	errs = append(errs, enum(h.Scheme, true, fldPath.Child("scheme"), corev1.URISchemeHTTP, corev1.URISchemeHTTPS)...)
	for i, hdr := range h.HTTPHeaders {
		errs = append(errs, msgs(fldPath.Child("httpHeaders").Index(i).Child("name"), hdr.Name, utilvalidation.IsHTTPHeaderName(hdr.Name))...)
	}
	return errs
}

func validateTCPSocket(t *corev1.TCPSocketAction, fldPath *field.Path) field.ErrorList {
	if t == nil {
		return nil
	}
	return portNumOrName(t.Port, fldPath.Child("port"))
}

// ---- security ----

func validateSecurityContext(sc *corev1.SecurityContext, fldPath *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, msgs(fldPath.Child("runAsUser"), *sc.RunAsUser, utilvalidation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, msgs(fldPath.Child("runAsGroup"), *sc.RunAsGroup, utilvalidation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.ProcMount != nil {
		errs = append(errs, enum(*sc.ProcMount, false, fldPath.Child("procMount"), corev1.DefaultProcMount, corev1.UnmaskedProcMount)...)
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(fldPath, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Add {
				if string(c) == "CAP_SYS_ADMIN" || string(c) == "SYS_ADMIN" {
					errs = append(errs, field.Invalid(fldPath, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
				}
			}
		}
	}
	errs = append(errs, validateSeccomp(sc.SeccompProfile, fldPath.Child("seccompProfile"))...)
	errs = append(errs, validateAppArmor(sc.AppArmorProfile, fldPath.Child("appArmorProfile"))...)
	return errs
}

func validatePodSecurityContext(sc *corev1.PodSecurityContext, fldPath *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, msgs(fldPath.Child("runAsUser"), *sc.RunAsUser, utilvalidation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, msgs(fldPath.Child("runAsGroup"), *sc.RunAsGroup, utilvalidation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.FSGroup != nil {
		errs = append(errs, msgs(fldPath.Child("fsGroup"), *sc.FSGroup, utilvalidation.IsValidGroupID(*sc.FSGroup))...)
	}
	for i, g := range sc.SupplementalGroups {
		errs = append(errs, msgs(fldPath.Child("supplementalGroups").Index(i), g, utilvalidation.IsValidGroupID(g))...)
	}
	if sc.FSGroupChangePolicy != nil {
		errs = append(errs, enum(*sc.FSGroupChangePolicy, false, fldPath.Child("fsGroupChangePolicy"),
			corev1.FSGroupChangeOnRootMismatch, corev1.FSGroupChangeAlways)...)
	}
	if sc.SupplementalGroupsPolicy != nil {
		errs = append(errs, enum(*sc.SupplementalGroupsPolicy, false, fldPath.Child("supplementalGroupsPolicy"),
			corev1.SupplementalGroupsPolicyMerge, corev1.SupplementalGroupsPolicyStrict)...)
	}
	names := uniqueNames{}
	for i, s := range sc.Sysctls {
		p := fldPath.Child("sysctls").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if !isValidSysctlName(s.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), s.Name,
				"must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"))
		} else if names.add(s.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), s.Name))
		}
	}
	errs = append(errs, validateSeccomp(sc.SeccompProfile, fldPath.Child("seccompProfile"))...)
	errs = append(errs, validateAppArmor(sc.AppArmorProfile, fldPath.Child("appArmorProfile"))...)
	return errs
}

// isValidSysctlName checks dot- or slash-separated segments of lower-case
// alphanumerics with inner '-' or '_'.
func isValidSysctlName(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, seg := range strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '/' }) {
		if seg == "" {
			return false
		}
		for i, r := range seg {
			alnum := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
			inner := r == '-' || r == '_'
			if !alnum && !(inner && i > 0 && i < len(seg)-1) {
				return false
			}
		}
	}
	return !strings.HasSuffix(name, ".") && !strings.HasSuffix(name, "/") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "/") &&
		!strings.Contains(name, "..") && !strings.Contains(name, "//")
}

func validateSeccomp(p *corev1.SeccompProfile, fldPath *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	errs := enum(p.Type, false, fldPath.Child("type"), corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined)
	if p.Type == corev1.SeccompProfileTypeLocalhost {
		if p.LocalhostProfile == nil || *p.LocalhostProfile == "" {
			errs = append(errs, field.Required(fldPath.Child("localhostProfile"), "must be set when seccomp type is Localhost"))
		} else {
			errs = append(errs, localDescendingPath(*p.LocalhostProfile, fldPath.Child("localhostProfile"))...)
		}
	} else if p.LocalhostProfile != nil {
		errs = append(errs, field.Invalid(fldPath.Child("localhostProfile"), p.LocalhostProfile, "can only be set when seccomp type is Localhost"))
	}
	return errs
}

func validateAppArmor(p *corev1.AppArmorProfile, fldPath *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	errs := enum(p.Type, false, fldPath.Child("type"), corev1.AppArmorProfileTypeLocalhost, corev1.AppArmorProfileTypeRuntimeDefault, corev1.AppArmorProfileTypeUnconfined)
	if p.Type == corev1.AppArmorProfileTypeLocalhost {
		if p.LocalhostProfile == nil || strings.TrimSpace(*p.LocalhostProfile) == "" {
			errs = append(errs, field.Required(fldPath.Child("localhostProfile"), "must be set when AppArmor type is Localhost"))
		}
	} else if p.LocalhostProfile != nil {
		errs = append(errs, field.Invalid(fldPath.Child("localhostProfile"), p.LocalhostProfile, "can only be set when AppArmor type is Localhost"))
	}
	return errs
}

// ---- DNS and hosts ----

func validateDNSConfig(cfg *corev1.PodDNSConfig, policy corev1.DNSPolicy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if policy == corev1.DNSNone && cfg == nil {
		return field.ErrorList{field.Required(fldPath, "must provide `dnsConfig` when `dnsPolicy` is None")}
	}
	if cfg == nil {
		return nil
	}
	if policy == corev1.DNSNone && len(cfg.Nameservers) == 0 {
		errs = append(errs, field.Required(fldPath.Child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"))
	}
	if len(cfg.Nameservers) > 3 {
		errs = append(errs, field.Invalid(fldPath.Child("nameservers"), cfg.Nameservers, "must not have more than 3 nameservers"))
	}
	for i, ns := range cfg.Nameservers {
		errs = append(errs, legacyIP(ns, fldPath.Child("nameservers").Index(i), nil)...)
	}
	if len(cfg.Searches) > 32 {
		errs = append(errs, field.Invalid(fldPath.Child("searches"), cfg.Searches, "must not have more than 32 search paths"))
	}
	for i, s := range cfg.Searches {
		if s == "." {
			continue
		}
		errs = append(errs, dns1123Subdomain(strings.TrimSuffix(s, "."), fldPath.Child("searches").Index(i))...)
	}
	for i, o := range cfg.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(fldPath.Child("options").Index(i), "Option.Name must not be empty"))
		}
	}
	return errs
}

func validateHostAliases(aliases []corev1.HostAlias, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, a := range aliases {
		p := fldPath.Index(i)
		errs = append(errs, legacyIP(a.IP, p.Child("ip"), nil)...)
		for j, h := range a.Hostnames {
			errs = append(errs, dns1123Subdomain(h, p.Child("hostnames").Index(j))...)
		}
	}
	return errs
}

// ---- scheduling ----

func validateTolerations(tols []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tols {
		p := fldPath.Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		}
		// An empty key matches every taint, which only makes sense with Exists.
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			if m := utilvalidation.IsValidLabelValue(t.Value); len(m) > 0 {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, strings.Join(m, ";")))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("operator"), t, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator, []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
		}
		errs = append(errs, enum(t.Effect, true, p.Child("effect"), corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)...)
	}
	return errs
}

func validateAffinity(a *corev1.Affinity, fldPath *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	if na := a.NodeAffinity; na != nil {
		p := fldPath.Child("nodeAffinity")
		if na.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			errs = append(errs, validateNodeSelector(na.RequiredDuringSchedulingIgnoredDuringExecution, p.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		}
		for i, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			tp := p.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			errs = append(errs, weight(t.Weight, tp.Child("weight"))...)
			errs = append(errs, validateNodeSelectorTerm(t.Preference, tp.Child("preference"))...)
		}
	}
	for _, pa := range []struct {
		name      string
		required  []corev1.PodAffinityTerm
		preferred []corev1.WeightedPodAffinityTerm
	}{
		{"podAffinity", podAffinityReq(a.PodAffinity), podAffinityPref(a.PodAffinity)},
		{"podAntiAffinity", podAntiAffinityReq(a.PodAntiAffinity), podAntiAffinityPref(a.PodAntiAffinity)},
	} {
		p := fldPath.Child(pa.name)
		for i, t := range pa.required {
			errs = append(errs, validatePodAffinityTerm(t, p.Child("requiredDuringSchedulingIgnoredDuringExecution").Index(i))...)
		}
		for i, t := range pa.preferred {
			tp := p.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			errs = append(errs, weight(t.Weight, tp.Child("weight"))...)
			errs = append(errs, validatePodAffinityTerm(t.PodAffinityTerm, tp.Child("podAffinityTerm"))...)
		}
	}
	return errs
}

func podAffinityReq(a *corev1.PodAffinity) []corev1.PodAffinityTerm {
	if a == nil {
		return nil
	}
	return a.RequiredDuringSchedulingIgnoredDuringExecution
}

func podAffinityPref(a *corev1.PodAffinity) []corev1.WeightedPodAffinityTerm {
	if a == nil {
		return nil
	}
	return a.PreferredDuringSchedulingIgnoredDuringExecution
}

func podAntiAffinityReq(a *corev1.PodAntiAffinity) []corev1.PodAffinityTerm {
	if a == nil {
		return nil
	}
	return a.RequiredDuringSchedulingIgnoredDuringExecution
}

func podAntiAffinityPref(a *corev1.PodAntiAffinity) []corev1.WeightedPodAffinityTerm {
	if a == nil {
		return nil
	}
	return a.PreferredDuringSchedulingIgnoredDuringExecution
}

func weight(w int32, fldPath *field.Path) field.ErrorList {
	if w < 1 || w > 100 {
		return field.ErrorList{field.Invalid(fldPath, w, "must be in the range 1-100")}
	}
	return nil
}

func validatePodAffinityTerm(t corev1.PodAffinityTerm, fldPath *field.Path) field.ErrorList {
	errs := labelSelector(t.LabelSelector, fldPath.Child("labelSelector"))
	errs = append(errs, labelSelector(t.NamespaceSelector, fldPath.Child("namespaceSelector"))...)
	for i, ns := range t.Namespaces {
		errs = append(errs, dns1123Label(ns, fldPath.Child("namespaces").Index(i))...)
	}
	if t.TopologyKey == "" {
		errs = append(errs, field.Required(fldPath.Child("topologyKey"), "can not be empty"))
	} else {
		errs = append(errs, metav1validation.ValidateLabelName(t.TopologyKey, fldPath.Child("topologyKey"))...)
	}
	for i, k := range t.MatchLabelKeys {
		errs = append(errs, metav1validation.ValidateLabelName(k, fldPath.Child("matchLabelKeys").Index(i))...)
	}
	for i, k := range t.MismatchLabelKeys {
		errs = append(errs, metav1validation.ValidateLabelName(k, fldPath.Child("mismatchLabelKeys").Index(i))...)
	}
	return errs
}

func validateNodeSelector(ns *corev1.NodeSelector, fldPath *field.Path) field.ErrorList {
	termsPath := fldPath.Child("nodeSelectorTerms")
	if len(ns.NodeSelectorTerms) == 0 {
		return field.ErrorList{field.Required(termsPath, "must have at least one node selector term")}
	}
	var errs field.ErrorList
	for i, t := range ns.NodeSelectorTerms {
		errs = append(errs, validateNodeSelectorTerm(t, termsPath.Index(i))...)
	}
	return errs
}

func validateNodeSelectorTerm(t corev1.NodeSelectorTerm, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range t.MatchExpressions {
		p := fldPath.Child("matchExpressions").Index(i)
		errs = append(errs, validateNodeSelectorRequirement(r, p)...)
		errs = append(errs, metav1validation.ValidateLabelName(r.Key, p.Child("key"))...)
	}
	for i, r := range t.MatchFields {
		p := fldPath.Child("matchFields").Index(i)
		errs = append(errs, validateNodeSelectorRequirement(r, p)...)
		// Only metadata.name is indexed for node field selection.
		if r.Key != "metadata.name" {
			errs = append(errs, field.NotSupported(p.Child("key"), r.Key, []string{"metadata.name"}))
		} else if r.Operator == corev1.NodeSelectorOpIn && len(r.Values) != 1 {
			errs = append(errs, field.Required(p.Child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
		}
	}
	return errs
}

func validateNodeSelectorRequirement(r corev1.NodeSelectorRequirement, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch r.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if len(r.Values) == 0 {
			errs = append(errs, field.Required(fldPath.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
		}
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		if len(r.Values) > 0 {
			errs = append(errs, field.Forbidden(fldPath.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
		}
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			errs = append(errs, field.Required(fldPath.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
		}
	default:
		errs = append(errs, field.Invalid(fldPath.Child("operator"), r.Operator, "not a valid selector operator"))
	}
	return errs
}

func validateTopologySpread(cs []corev1.TopologySpreadConstraint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := uniqueNames{}
	for i, c := range cs {
		p := fldPath.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(p.Child("maxSkew"), c.MaxSkew, "must be greater than zero"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, metav1validation.ValidateLabelName(c.TopologyKey, p.Child("topologyKey"))...)
		}
		if c.WhenUnsatisfiable == "" {
			errs = append(errs, field.Required(p.Child("whenUnsatisfiable"), ""))
		} else {
			errs = append(errs, enum(c.WhenUnsatisfiable, false, p.Child("whenUnsatisfiable"), corev1.DoNotSchedule, corev1.ScheduleAnyway)...)
		}
		if c.MinDomains != nil {
			if *c.MinDomains <= 0 {
				errs = append(errs, field.Invalid(p.Child("minDomains"), *c.MinDomains, "must be greater than 0"))
			} else if c.WhenUnsatisfiable != corev1.DoNotSchedule {
				errs = append(errs, field.Invalid(p.Child("minDomains"), *c.MinDomains,
					fmt.Sprintf("can only use minDomains if whenUnsatisfiable=%s, not %s", corev1.DoNotSchedule, c.WhenUnsatisfiable)))
			}
		}
		if c.NodeAffinityPolicy != nil {
			errs = append(errs, enum(*c.NodeAffinityPolicy, false, p.Child("nodeAffinityPolicy"), corev1.NodeInclusionPolicyHonor, corev1.NodeInclusionPolicyIgnore)...)
		}
		if c.NodeTaintsPolicy != nil {
			errs = append(errs, enum(*c.NodeTaintsPolicy, false, p.Child("nodeTaintsPolicy"), corev1.NodeInclusionPolicyHonor, corev1.NodeInclusionPolicyIgnore)...)
		}
		errs = append(errs, labelSelector(c.LabelSelector, p.Child("labelSelector"))...)
		key := fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)
		if seen.add(key) {
			errs = append(errs, field.Duplicate(p, key))
		}
	}
	return errs
}
