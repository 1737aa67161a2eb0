package printers

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func servicePrinter() Printer {
	spec := corev1.ServiceSpec{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Type", "string", spec["type"]),
		column("Cluster-IP", "string", spec["clusterIP"]),
		column("External-IP", "string", spec["externalIPs"]),
		column("Port(s)", "string", spec["ports"]),
		ageColumn(),
		wideColumn("Selector", "string", spec["selector"]),
	}, func(svc *corev1.Service, now time.Time) []interface{} {
		clusterIP := svc.Spec.ClusterIP
		if len(svc.Spec.ClusterIPs) > 0 {
			clusterIP = svc.Spec.ClusterIPs[0]
		}
		return []interface{}{
			svc.Name,
			string(svc.Spec.Type),
			orNone(clusterIP),
			serviceExternalIP(svc),
			orNone(servicePorts(svc.Spec.Ports)),
			since(svc.CreationTimestamp, now),
			labels.FormatLabels(svc.Spec.Selector),
		}
	})
}

// serviceExternalIP is what the External-IP column shows for each service type: the external IPs, for
// load balancers also their ingress points ("<pending>" until there are some), for ExternalName the name.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(svc.Spec.ExternalIPs, ","))
	case corev1.ServiceTypeLoadBalancer:
		points := make([]string, 0, len(svc.Status.LoadBalancer.Ingress))
		for _, in := range svc.Status.LoadBalancer.Ingress {
			points = append(points, ingressPoint(in.IP, in.Hostname))
		}
		all := append(sortedUnique(points), svc.Spec.ExternalIPs...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return unknown
}

// ingressPoint is a load balancer ingress's IP, or its hostname when it has no IP.
func ingressPoint(ip, hostname string) string {
	if ip != "" {
		return ip
	}
	return hostname
}

// servicePorts renders ports as "80/TCP" or, with a node port, "80:30080/TCP", comma-separated.
func servicePorts(ports []corev1.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			parts[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			parts[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(parts, ",")
}

func endpointsPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
		ageColumn(),
	}, func(ep *corev1.Endpoints, now time.Time) []interface{} {
		return []interface{}{ep.Name, endpointsAddresses(ep.Subsets), since(ep.CreationTimestamp, now)}
	})
}

// endpointsAddresses lists up to three "ip:port" endpoints (bare IPs for subsets without ports) and
// counts the rest: "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...". No subsets at all is "<none>".
func endpointsAddresses(subsets []corev1.EndpointSubset) string {
	if len(subsets) == 0 {
		return none
	}
	const shown = 3
	var list []string
	total := 0
	addAll := func(addresses []corev1.EndpointAddress, port string) {
		total += len(addresses)
		for _, a := range addresses {
			if len(list) == shown {
				return
			}
			if port == "" {
				list = append(list, a.IP)
			} else {
				list = append(list, net.JoinHostPort(a.IP, port))
			}
		}
	}
	for _, ss := range subsets {
		if len(ss.Ports) == 0 {
			addAll(ss.Addresses, "") // headless services may have no ports
			continue
		}
		for _, p := range ss.Ports {
			addAll(ss.Addresses, strconv.Itoa(int(p.Port)))
		}
	}
	s := strings.Join(list, ",")
	if total > len(list) {
		return fmt.Sprintf("%s + %d more...", s, total-shown)
	}
	return s
}

func endpointSlicePrinter() Printer {
	doc := discoveryv1beta1.EndpointSlice{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("AddressType", "string", doc["addressType"]),
		column("Ports", "string", doc["ports"]),
		column("Endpoints", "string", doc["endpoints"]),
		ageColumn(),
	}, func(es *discoveryv1.EndpointSlice, now time.Time) []interface{} {
		ports := make([]string, 0, len(es.Ports))
		for _, p := range es.Ports {
			switch {
			case p.Port != nil:
				ports = append(ports, strconv.Itoa(int(*p.Port)))
			case p.Name != nil:
				ports = append(ports, *p.Name)
			default:
				ports = append(ports, "*")
			}
		}
		var addresses []string
		for _, e := range es.Endpoints {
			addresses = append(addresses, e.Addresses...)
		}
		return []interface{}{es.Name, string(es.AddressType), firstThree(ports), firstThree(addresses), since(es.CreationTimestamp, now)}
	})
}

func ingressPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
		column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
		column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
		column("Ports", "string", "Ports of TLS configurations that open"),
		ageColumn(),
	}, func(ing *networkingv1.Ingress, now time.Time) []interface{} {
		points := make([]string, 0, len(ing.Status.LoadBalancer.Ingress))
		for _, in := range ing.Status.LoadBalancer.Ingress {
			points = append(points, ingressPoint(in.IP, in.Hostname))
		}
		ports := "80"
		if len(ing.Spec.TLS) > 0 {
			ports = "80, 443"
		}
		return []interface{}{
			ing.Name,
			derefString(ing.Spec.IngressClassName, none),
			ingressHosts(ing.Spec.Rules),
			strings.Join(sortedUnique(points), ","),
			ports,
			since(ing.CreationTimestamp, now),
		}
	})
}

// ingressHosts lists the first three hosts named by the rules ("*" when none names one); when rules
// remain after the third host it adds how many rules there are beyond three.
func ingressHosts(rules []networkingv1.IngressRule) string {
	const shown = 3
	var hosts []string
	more := false
	for _, r := range rules {
		if len(hosts) == shown {
			more = true
			break
		}
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	s := strings.Join(hosts, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", s, len(rules)-shown)
	}
	return s
}

func ingressClassPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Controller", "string", "Controller that is responsible for handling this class"),
		column("Parameters", "string", "A reference to a resource with additional parameters"),
		ageColumn(),
	}, func(ic *networkingv1.IngressClass, now time.Time) []interface{} {
		params := none
		if p := ic.Spec.Parameters; p != nil {
			params = p.Kind
			if p.APIGroup != nil {
				params += "." + *p.APIGroup
			}
			params += "/" + p.Name
		}
		return []interface{}{ic.Name, ic.Spec.Controller, params, since(ic.CreationTimestamp, now)}
	})
}

func networkPolicyPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Pod-Selector", "string", extensionsv1beta1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]),
		ageColumn(),
	}, func(np *networkingv1.NetworkPolicy, now time.Time) []interface{} {
		return []interface{}{np.Name, selectorOrNone(&np.Spec.PodSelector), since(np.CreationTimestamp, now)}
	})
}

func serviceCIDRPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("CIDRs", "string", networkingv1beta1.ServiceCIDRSpec{}.SwaggerDoc()["cidrs"]),
		ageColumn(),
	}, func(sc *networkingv1.ServiceCIDR, now time.Time) []interface{} {
		return []interface{}{sc.Name, strings.Join(sc.Spec.CIDRs, ","), since(sc.CreationTimestamp, now)}
	})
}

func ipAddressPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("ParentRef", "string", networkingv1beta1.IPAddressSpec{}.SwaggerDoc()["parentRef"]),
	}, func(ip *networkingv1.IPAddress, _ time.Time) []interface{} {
		parent := none
		if ref := ip.Spec.ParentRef; ref != nil {
			parent = strings.ToLower(schema.GroupResource{Group: ref.Group, Resource: ref.Resource}.String())
			if ref.Namespace != "" {
				parent += "/" + ref.Namespace
			}
			parent += "/" + ref.Name
		}
		return []interface{}{ip.Name, parent}
	})
}
