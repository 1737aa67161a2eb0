package validation

import (
	"net/netip"

	discoveryv1 "k8s.io/api/discovery/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Upstream caps keep a single slice small enough for cheap watch fan-out.
const (
	maxSliceEndpoints = 1000
	maxSlicePorts     = 20000
	maxSliceAddresses = 100
)

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := objectMeta(&es.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, endpointSliceBody(es)...)
}

func endpointSliceBody(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := enum(es.AddressType, false, field.NewPath("addressType"),
		discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN)
	ep := field.NewPath("endpoints")
	if len(es.Endpoints) > maxSliceEndpoints {
		errs = append(errs, field.TooMany(ep, len(es.Endpoints), maxSliceEndpoints))
	}
	for i, e := range es.Endpoints {
		p := ep.Index(i)
		ap := p.Child("addresses")
		if len(e.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		} else if len(e.Addresses) > maxSliceAddresses {
			errs = append(errs, field.TooMany(ap, len(e.Addresses), maxSliceAddresses))
		}
		for j, a := range e.Addresses {
			errs = append(errs, sliceAddress(es.AddressType, a, ap.Index(j))...)
		}
		if e.NodeName != nil {
			errs = append(errs, msgs(p.Child("nodeName"), *e.NodeName, nameIsDNSSubdomain(*e.NodeName, false))...)
		}
		if e.Hostname != nil {
			errs = append(errs, dns1123Label(*e.Hostname, p.Child("hostname"))...)
		}
		if e.DeprecatedTopology != nil {
			errs = append(errs, labels(e.DeprecatedTopology, p.Child("deprecatedTopology"))...)
		}
	}
	pp := field.NewPath("ports")
	if len(es.Ports) > maxSlicePorts {
		errs = append(errs, field.TooMany(pp, len(es.Ports), maxSlicePorts))
	}
	names := uniqueNames{}
	for i, port := range es.Ports {
		p := pp.Index(i)
		if port.Name != nil {
			if *port.Name != "" {
				errs = append(errs, dns1123Label(*port.Name, p.Child("name"))...)
			}
			if names.add(*port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), *port.Name))
			}
		}
		if port.Protocol != nil {
			errs = append(errs, enum(*port.Protocol, false, p.Child("protocol"), supportedProtocols...)...)
		}
		if port.Port != nil && *port.Port != 0 {
			errs = append(errs, portNum(*port.Port, p.Child("port"))...)
		}
		if port.AppProtocol != nil {
			errs = append(errs, qualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
	}
	return errs
}

func sliceAddress(t discoveryv1.AddressType, a string, p *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		if errs := legacyIP(a, p, nil); len(errs) > 0 {
			return errs
		}
		addr, err := netip.ParseAddr(a)
		if err == nil && addr.Is4() != (t == discoveryv1.AddressTypeIPv4) {
			return field.ErrorList{field.Invalid(p, a, "must be an "+string(t)+" address")}
		}
		return nonSpecialIP(a, p)
	case discoveryv1.AddressTypeFQDN:
		return msgs(p, a, utilvalidation.IsDNS1123Subdomain(a))
	}
	return nil
}

func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := objectMetaUpdate(&es.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, endpointSliceBody(es)...)
	// Consumers shard slices by family; a slice changing family would be
	// indexed under the wrong one.
	return append(errs, immutable(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
}
