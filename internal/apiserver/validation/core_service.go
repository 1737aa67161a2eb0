package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var supportedServiceTypes = []corev1.ServiceType{
	corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort,
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// externallyAccessible mirrors upstream: traffic can arrive from outside the
// cluster, so externalTrafficPolicy is meaningful.
func externallyAccessible(svc *corev1.Service) bool {
	t := svc.Spec.Type
	return t == corev1.ServiceTypeLoadBalancer || t == corev1.ServiceTypeNodePort ||
		((t == corev1.ServiceTypeClusterIP || t == "") && len(svc.Spec.ExternalIPs) > 0)
}

func validateService(svc *corev1.Service) field.ErrorList {
	errs := objectMeta(&svc.ObjectMeta, true, nameIsDNS1035Label)
	return append(errs, validateServiceSpec(svc, nil)...)
}

// validateServiceSpec validates the spec; old is the stored object on update
// (used to accept legacy-format IPs that are already stored).
func validateServiceSpec(svc *corev1.Service, old *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	portsPath := specPath.Child("ports")

	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(portsPath, ""))
	}
	errs = append(errs, enum(spec.Type, true, specPath.Child("type"), supportedServiceTypes...)...)

	if spec.Type == corev1.ServiceTypeExternalName {
		// ExternalName services are a DNS CNAME and get no IPs at all.
		if len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		} else if spec.ClusterIP != "" {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIP"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		cname := strings.TrimSuffix(spec.ExternalName, ".")
		if cname == "" {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		} else {
			errs = append(errs, dns1123Subdomain(cname, specPath.Child("externalName"))...)
		}
	} else {
		errs = append(errs, validateClusterIPs(svc, old)...)
	}

	names := uniqueNames{}
	type portKey struct {
		port  int32
		proto corev1.Protocol
	}
	seenPorts := map[portKey]bool{}
	seenNodePorts := map[portKey]bool{}
	for i := range spec.Ports {
		sp := &spec.Ports[i]
		p := portsPath.Index(i)
		if sp.Name == "" {
			if len(spec.Ports) > 1 {
				errs = append(errs, field.Required(p.Child("name"), ""))
			}
		} else {
			errs = append(errs, dns1123Label(sp.Name, p.Child("name"))...)
			if names.add(sp.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), sp.Name))
			}
		}
		errs = append(errs, portNum(sp.Port, p.Child("port"))...)
		errs = append(errs, protocol(sp.Protocol, p.Child("protocol"))...)
		errs = append(errs, portNumOrName(sp.TargetPort, p.Child("targetPort"))...)
		if sp.AppProtocol != nil {
			errs = append(errs, qualifiedName(*sp.AppProtocol, p.Child("appProtocol"))...)
		}
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		k := portKey{sp.Port, proto}
		if seenPorts[k] {
			errs = append(errs, field.Duplicate(p, corev1.ServicePort{Port: sp.Port, Protocol: proto}))
		}
		seenPorts[k] = true
		if sp.NodePort != 0 {
			// The allocator enforces the configured range; here only the
			// port-number shape and per-protocol uniqueness are checked.
			errs = append(errs, portNum(sp.NodePort, p.Child("nodePort"))...)
			if spec.Type == corev1.ServiceTypeClusterIP || spec.Type == "" {
				errs = append(errs, field.Forbidden(p.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			} else if spec.Type == corev1.ServiceTypeExternalName {
				errs = append(errs, field.Forbidden(p.Child("nodePort"), "may not be used when `type` is 'ExternalName'"))
			}
			nk := portKey{sp.NodePort, proto}
			if seenNodePorts[nk] {
				errs = append(errs, field.Duplicate(p.Child("nodePort"), sp.NodePort))
			}
			seenNodePorts[nk] = true
		}
	}

	errs = append(errs, labels(spec.Selector, specPath.Child("selector"))...)

	errs = append(errs, enum(spec.SessionAffinity, true, specPath.Child("sessionAffinity"), corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)...)
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		if c := spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
				errs = append(errs, field.Invalid(specPath.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t,
					fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds)))
			}
		}
	} else if spec.SessionAffinityConfig != nil {
		errs = append(errs, field.Forbidden(specPath.Child("sessionAffinityConfig"),
			fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone)))
	}

	var oldExternal []string
	if old != nil {
		oldExternal = old.Spec.ExternalIPs
	}
	for i, ip := range spec.ExternalIPs {
		p := specPath.Child("externalIPs").Index(i)
		errs = append(errs, legacyIP(ip, p, oldExternal)...)
	}

	if len(spec.LoadBalancerSourceRanges) > 0 && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"))
	}
	for i, r := range spec.LoadBalancerSourceRanges {
		errs = append(errs, legacyCIDR(strings.TrimSpace(r), specPath.Child("loadBalancerSourceRanges").Index(i), nil)...)
	}
	if spec.LoadBalancerClass != nil {
		if spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(specPath.Child("loadBalancerClass"), "may only be used when service type is 'LoadBalancer'"))
		} else {
			errs = append(errs, qualifiedName(*spec.LoadBalancerClass, specPath.Child("loadBalancerClass"))...)
		}
	}
	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}

	if !externallyAccessible(svc) {
		if spec.ExternalTrafficPolicy != "" {
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	} else {
		errs = append(errs, enum(spec.ExternalTrafficPolicy, true, specPath.Child("externalTrafficPolicy"),
			corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)...)
	}
	if spec.HealthCheckNodePort != 0 {
		if spec.Type != corev1.ServiceTypeLoadBalancer || spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			errs = append(errs, field.Invalid(specPath.Child("healthCheckNodePort"), spec.HealthCheckNodePort,
				"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		} else {
			errs = append(errs, portNum(spec.HealthCheckNodePort, specPath.Child("healthCheckNodePort"))...)
		}
	}
	if spec.InternalTrafficPolicy != nil {
		errs = append(errs, enum(*spec.InternalTrafficPolicy, false, specPath.Child("internalTrafficPolicy"),
			corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)...)
	}
	if spec.TrafficDistribution != nil {
		errs = append(errs, enum(*spec.TrafficDistribution, false, specPath.Child("trafficDistribution"),
			corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone, corev1.ServiceTrafficDistributionPreferSameNode)...)
	}
	return errs
}

// validateClusterIPs covers clusterIP/clusterIPs/ipFamilies/ipFamilyPolicy
// for non-ExternalName services.
func validateClusterIPs(svc *corev1.Service, old *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	var oldIPs []string
	if old != nil {
		oldIPs = old.Spec.ClusterIPs
	}
	ips := spec.ClusterIPs
	ipsPath := specPath.Child("clusterIPs")
	if len(ips) == 0 && spec.ClusterIP != "" {
		// Defaulting normally mirrors clusterIP into clusterIPs; accept the
		// singular form alone and report against it.
		ips = []string{spec.ClusterIP}
		ipsPath = nil
	} else if len(ips) > 0 && spec.ClusterIP != ips[0] {
		errs = append(errs, field.Invalid(ipsPath, ips, "first value must match `clusterIP`"))
	}
	if len(ips) > 2 {
		errs = append(errs, field.Invalid(specPath.Child("clusterIPs"), ips, "may only hold up to 2 values"))
	}
	pathFor := func(i int) *field.Path {
		if ipsPath == nil {
			return specPath.Child("clusterIP")
		}
		return ipsPath.Index(i)
	}
	for i, ip := range ips {
		switch {
		case ip == corev1.ClusterIPNone:
			if i != 0 || len(ips) > 1 {
				errs = append(errs, field.Invalid(pathFor(i), ip, "'None' must be the first and only value"))
			}
		case ip == "":
			errs = append(errs, field.Invalid(pathFor(i), ip, "must be empty when all clusterIPs are empty"))
		default:
			if e := legacyIP(ip, pathFor(i), oldIPs); len(e) > 0 {
				errs = append(errs, field.Invalid(pathFor(i), ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
			}
		}
	}
	if len(ips) == 2 && ips[0] != corev1.ClusterIPNone && isIPv6(ips[0]) == isIPv6(ips[1]) {
		errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(1), ips, "may specify no more than one IP for each IP family"))
	}
	if isHeadless(svc) {
		switch spec.Type {
		case corev1.ServiceTypeNodePort:
			errs = append(errs, field.Invalid(pathFor(0), corev1.ClusterIPNone, "may not be set to 'None' for NodePort services"))
		case corev1.ServiceTypeLoadBalancer:
			errs = append(errs, field.Invalid(pathFor(0), corev1.ClusterIPNone, "may not be set to 'None' for LoadBalancer services"))
		}
	}

	famPath := specPath.Child("ipFamilies")
	if len(spec.IPFamilies) > 2 {
		errs = append(errs, field.Invalid(famPath, spec.IPFamilies, "may specify no more than one IP for each IP family, i.e 2 values"))
	}
	seen := map[corev1.IPFamily]bool{}
	for i, f := range spec.IPFamilies {
		errs = append(errs, enum(f, false, famPath.Index(i), corev1.IPv4Protocol, corev1.IPv6Protocol)...)
		if seen[f] {
			errs = append(errs, field.Duplicate(famPath.Index(i), f))
		}
		seen[f] = true
	}
	if spec.IPFamilyPolicy != nil {
		pol := *spec.IPFamilyPolicy
		errs = append(errs, enum(pol, false, specPath.Child("ipFamilyPolicy"),
			corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack)...)
		if pol == corev1.IPFamilyPolicySingleStack && (len(spec.IPFamilies) > 1 || (len(ips) > 1)) {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), pol, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
		}
	}
	// Each allocated IP must belong to the family listed at the same index.
	if !isHeadless(svc) {
		for i, ip := range ips {
			if i >= len(spec.IPFamilies) || ip == "" || ip == corev1.ClusterIPNone {
				continue
			}
			want := corev1.IPv4Protocol
			if isIPv6(ip) {
				want = corev1.IPv6Protocol
			}
			if spec.IPFamilies[i] != want {
				errs = append(errs, field.Invalid(pathFor(i), ip, fmt.Sprintf("expected an %s value as indicated by `ipFamilies[%d]`", spec.IPFamilies[i], i)))
			}
		}
	}
	return errs
}

func isIPv6(ip string) bool {
	return strings.Contains(ip, ":")
}

func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := objectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	// Switching to or from ExternalName releases or allocates IPs, so only
	// then may clusterIP change; otherwise an allocated IP is permanent.
	if svc.Spec.Type != corev1.ServiceTypeExternalName && old.Spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, clusterIPsUpdate(svc, old)...)
	}
	errs = append(errs, validateServiceSpec(svc, old)...)
	if old.Spec.LoadBalancerClass != nil && old.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		errs = append(errs, immutable(svc.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass, specPath.Child("loadBalancerClass"))...)
	}
	return errs
}

func clusterIPsUpdate(svc, old *corev1.Service) field.ErrorList {
	newIPs, oldIPs := svc.Spec.ClusterIPs, old.Spec.ClusterIPs
	if len(newIPs) == 0 && svc.Spec.ClusterIP != "" {
		newIPs = []string{svc.Spec.ClusterIP}
	}
	if len(oldIPs) == 0 && old.Spec.ClusterIP != "" {
		oldIPs = []string{old.Spec.ClusterIP}
	}
	if len(oldIPs) == 0 {
		return nil // nothing allocated yet
	}
	p := specPath.Child("clusterIPs")
	if len(newIPs) == 0 {
		return field.ErrorList{field.Invalid(p.Index(0), newIPs, "primary clusterIP can not be unset")}
	}
	var errs field.ErrorList
	for i := range min(len(newIPs), len(oldIPs)) {
		if newIPs[i] != oldIPs[i] {
			errs = append(errs, field.Invalid(p.Index(i), newIPs, "may not change once set"))
		}
	}
	return errs
}

func validateServiceStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := objectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	ingPath := field.NewPath("status", "loadBalancer", "ingress")
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		p := ingPath.Index(i)
		if ing.IP != "" {
			errs = append(errs, legacyIP(ing.IP, p.Child("ip"), nil)...)
		}
		if ing.Hostname != "" {
			errs = append(errs, dns1123Subdomain(ing.Hostname, p.Child("hostname"))...)
		}
		if ing.IPMode != nil {
			if ing.IP == "" {
				errs = append(errs, field.Forbidden(p.Child("ipMode"), "may not be specified when `ip` is not set"))
			}
			errs = append(errs, enum(*ing.IPMode, false, p.Child("ipMode"), corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeProxy)...)
		}
	}
	return errs
}

// maxClientIPAffinitySeconds is one day, the upstream ceiling for ClientIP
// session affinity timeouts.
const maxClientIPAffinitySeconds = 86400
