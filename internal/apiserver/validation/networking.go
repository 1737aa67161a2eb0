package validation

import (
	"fmt"
	"net/netip"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- Ingress ----

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	errs := objectMeta(&ing.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, ingressSpec(&ing.Spec)...)
}

func ingressSpec(spec *networkingv1.IngressSpec) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		errs = append(errs, field.Invalid(specPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, ingressBackend(spec.DefaultBackend, specPath.Child("defaultBackend"))...)
	}
	for i, r := range spec.Rules {
		p := specPath.Child("rules").Index(i)
		if r.Host != "" {
			errs = append(errs, ingressHost(r.Host, p.Child("host"))...)
		}
		if r.HTTP != nil {
			errs = append(errs, ingressHTTP(r.HTTP, p.Child("http"))...)
		}
	}
	for i, t := range spec.TLS {
		p := specPath.Child("tls").Index(i)
		for j, h := range t.Hosts {
			errs = append(errs, msgs(p.Child("hosts").Index(j), h, utilvalidation.IsDNS1123Subdomain(strings.TrimPrefix(h, "*.")))...)
		}
		if t.SecretName != "" {
			errs = append(errs, dns1123Subdomain(t.SecretName, p.Child("secretName"))...)
		}
	}
	if spec.IngressClassName != nil {
		errs = append(errs, dns1123Subdomain(*spec.IngressClassName, specPath.Child("ingressClassName"))...)
	}
	return errs
}

func ingressHost(host string, p *field.Path) field.ErrorList {
	if _, err := netip.ParseAddr(host); err == nil {
		return field.ErrorList{field.Invalid(p, host, "must be a DNS name, not an IP address")}
	}
	if strings.Contains(host, "*") {
		return msgs(p, host, utilvalidation.IsWildcardDNS1123Subdomain(host))
	}
	return msgs(p, host, utilvalidation.IsDNS1123Subdomain(host))
}

// Path fragments that would let a Prefix or Exact path escape its intended
// meaning after normalisation by the proxy.
var invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
var invalidPathSuffixes = []string{"/..", "/."}

func ingressHTTP(h *networkingv1.HTTPIngressRuleValue, fldPath *field.Path) field.ErrorList {
	if len(h.Paths) == 0 {
		return field.ErrorList{field.Required(fldPath.Child("paths"), "")}
	}
	var errs field.ErrorList
	for i, hp := range h.Paths {
		p := fldPath.Child("paths").Index(i)
		if hp.PathType == nil {
			errs = append(errs, field.Required(p.Child("pathType"), "pathType must be specified"))
		} else {
			switch *hp.PathType {
			case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
				if !strings.HasPrefix(hp.Path, "/") {
					errs = append(errs, field.Invalid(p.Child("path"), hp.Path, "must be an absolute path"))
				}
				for _, seq := range invalidPathSequences {
					if strings.Contains(hp.Path, seq) {
						errs = append(errs, field.Invalid(p.Child("path"), hp.Path, fmt.Sprintf("must not contain '%s'", seq)))
					}
				}
				for _, suf := range invalidPathSuffixes {
					if strings.HasSuffix(hp.Path, suf) {
						errs = append(errs, field.Invalid(p.Child("path"), hp.Path, fmt.Sprintf("cannot end with '%s'", suf)))
					}
				}
			case networkingv1.PathTypeImplementationSpecific:
				if hp.Path != "" && !strings.HasPrefix(hp.Path, "/") {
					errs = append(errs, field.Invalid(p.Child("path"), hp.Path, "must be an absolute path"))
				}
			default:
				errs = append(errs, field.NotSupported(p.Child("pathType"), *hp.PathType, []networkingv1.PathType{
					networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific}))
			}
		}
		errs = append(errs, ingressBackend(&hp.Backend, p.Child("backend"))...)
	}
	return errs
}

func ingressBackend(b *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(fldPath, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		var errs field.ErrorList
		rp := fldPath.Child("resource")
		if b.Resource.Kind == "" {
			errs = append(errs, field.Required(rp.Child("kind"), ""))
		}
		if b.Resource.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		}
		return errs
	case b.Service != nil:
		var errs field.ErrorList
		sp := fldPath.Child("service")
		if b.Service.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		} else {
			errs = append(errs, msgs(sp.Child("name"), b.Service.Name, nameIsDNS1035Label(b.Service.Name, false))...)
		}
		hasName, hasNumber := b.Service.Port.Name != "", b.Service.Port.Number != 0
		switch {
		case hasName && hasNumber:
			errs = append(errs, field.Invalid(fldPath, "", "cannot set both port name & port number"))
		case hasName:
			errs = append(errs, msgs(sp.Child("port", "name"), b.Service.Port.Name, utilvalidation.IsValidPortName(b.Service.Port.Name))...)
		case hasNumber:
			errs = append(errs, portNum(b.Service.Port.Number, sp.Child("port", "number"))...)
		default:
			errs = append(errs, field.Required(fldPath, "port name or number is required"))
		}
		return errs
	}
	return field.ErrorList{field.Invalid(fldPath, "", "resource or service backend is required")}
}

func validateIngressUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	errs := objectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta)
	return append(errs, ingressSpec(&ing.Spec)...)
}

func validateIngressStatusUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	errs := objectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta)
	for i, lb := range ing.Status.LoadBalancer.Ingress {
		p := field.NewPath("status", "loadBalancer", "ingress").Index(i)
		if lb.IP != "" {
			errs = append(errs, legacyIP(lb.IP, p.Child("ip"), nil)...)
		}
		if lb.Hostname != "" {
			errs = append(errs, dns1123Subdomain(lb.Hostname, p.Child("hostname"))...)
		}
	}
	return errs
}

// ---- IngressClass ----

const maxIngressClassControllerLen = 250

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	errs := objectMeta(&ic.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, ingressClassSpec(&ic.Spec)...)
}

func ingressClassSpec(spec *networkingv1.IngressClassSpec) field.ErrorList {
	var errs field.ErrorList
	cp := specPath.Child("controller")
	if spec.Controller == "" {
		errs = append(errs, field.Required(cp, ""))
	} else if len(spec.Controller) > maxIngressClassControllerLen {
		errs = append(errs, field.TooLong(cp, spec.Controller, maxIngressClassControllerLen))
	} else {
		errs = append(errs, isDomainPrefixedPath(cp, spec.Controller)...)
	}
	if par := spec.Parameters; par != nil {
		pp := specPath.Child("parameters")
		if par.Kind == "" {
			errs = append(errs, field.Required(pp.Child("kind"), ""))
		}
		if par.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		}
		if par.Scope != nil {
			errs = append(errs, enum(*par.Scope, false, pp.Child("scope"), networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace)...)
			switch *par.Scope {
			case networkingv1.IngressClassParametersReferenceScopeNamespace:
				if par.Namespace == nil {
					errs = append(errs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
				} else {
					errs = append(errs, dns1123Label(*par.Namespace, pp.Child("namespace"))...)
				}
			case networkingv1.IngressClassParametersReferenceScopeCluster:
				if par.Namespace != nil {
					errs = append(errs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
				}
			}
		}
	}
	return errs
}

func validateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	errs := objectMetaUpdate(&ic.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, ingressClassSpec(&ic.Spec)...)
	// Controllers select Ingresses by this value; changing it would hand
	// traffic to a different controller without anyone noticing.
	return append(errs, immutable(ic.Spec.Controller, old.Spec.Controller, specPath.Child("controller"))...)
}

// ---- NetworkPolicy ----

func validateNetworkPolicy(np *networkingv1.NetworkPolicy) field.ErrorList {
	errs := objectMeta(&np.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, networkPolicySpec(&np.Spec)...)
}

func networkPolicySpec(spec *networkingv1.NetworkPolicySpec) field.ErrorList {
	errs := labelSelector(&spec.PodSelector, specPath.Child("podSelector"))
	for i, rule := range spec.Ingress {
		p := specPath.Child("ingress").Index(i)
		for j, port := range rule.Ports {
			errs = append(errs, networkPolicyPort(port, p.Child("ports").Index(j))...)
		}
		for j, peer := range rule.From {
			errs = append(errs, networkPolicyPeer(peer, p.Child("from").Index(j))...)
		}
	}
	for i, rule := range spec.Egress {
		p := specPath.Child("egress").Index(i)
		for j, port := range rule.Ports {
			errs = append(errs, networkPolicyPort(port, p.Child("ports").Index(j))...)
		}
		for j, peer := range rule.To {
			errs = append(errs, networkPolicyPeer(peer, p.Child("to").Index(j))...)
		}
	}
	if len(spec.PolicyTypes) > 2 {
		errs = append(errs, field.Invalid(specPath.Child("policyTypes"), spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range spec.PolicyTypes {
		errs = append(errs, enum(t, false, specPath.Child("policyTypes").Index(i), networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)...)
	}
	return errs
}

func networkPolicyPort(port networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port.Protocol != nil {
		errs = append(errs, enum(*port.Protocol, false, p.Child("protocol"), supportedProtocols...)...)
	}
	if port.Port != nil {
		errs = append(errs, portNumOrName(*port.Port, p.Child("port"))...)
	}
	if port.EndPort != nil {
		switch {
		case port.Port == nil:
			errs = append(errs, field.Required(p.Child("port"), "must be specified when `endPort` is specified"))
		case port.Port.Type == intstr.String:
			errs = append(errs, field.Forbidden(p.Child("endPort"), "may not be specified when `port` is non-numeric"))
		case *port.EndPort < port.Port.IntVal:
			errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
		default:
			errs = append(errs, portNum(*port.EndPort, p.Child("endPort"))...)
		}
	}
	return errs
}

func networkPolicyPeer(peer networkingv1.NetworkPolicyPeer, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	if peer.PodSelector != nil {
		n++
		errs = append(errs, labelSelector(peer.PodSelector, p.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		n++
		errs = append(errs, labelSelector(peer.NamespaceSelector, p.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		if n > 0 {
			errs = append(errs, field.Forbidden(p, "may not specify both ipBlock and another peer"))
		}
		n++
		bp := p.Child("ipBlock")
		if peer.IPBlock.CIDR == "" {
			errs = append(errs, field.Required(bp.Child("cidr"), ""))
		} else if cErrs := legacyCIDR(peer.IPBlock.CIDR, bp.Child("cidr"), nil); len(cErrs) > 0 {
			errs = append(errs, cErrs...)
		} else {
			outer, _ := netip.ParsePrefix(peer.IPBlock.CIDR)
			for i, ex := range peer.IPBlock.Except {
				ep := bp.Child("except").Index(i)
				if eErrs := legacyCIDR(ex, ep, nil); len(eErrs) > 0 {
					errs = append(errs, eErrs...)
					continue
				}
				inner, _ := netip.ParsePrefix(ex)
				if inner.Bits() <= outer.Bits() || !outer.Contains(inner.Addr()) {
					errs = append(errs, field.Invalid(ep, ex, "must be a strict subset of `cidr`"))
				}
			}
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a peer"))
	}
	return errs
}

func validateNetworkPolicyUpdate(np, old *networkingv1.NetworkPolicy) field.ErrorList {
	errs := objectMetaUpdate(&np.ObjectMeta, &old.ObjectMeta)
	return append(errs, networkPolicySpec(&np.Spec)...)
}
