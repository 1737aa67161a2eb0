package validation

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- resource.k8s.io/v1 (dynamic resource allocation) ----
//
// The main fields of DeviceClasses, ResourceClaims, ResourceClaimTemplates and
// ResourceSlices, checked as upstream checks them. CEL selector expressions are checked for
// presence and length only: this server has no CEL compiler.

const (
	draDriverNameMaxLength = 63
	draMaxIDLength         = 64
	draAttributeMaxValue   = 64
)

// draDriverName: a driver is named like a CSI driver, a DNS subdomain of at most 63
// characters.
func draDriverName(name string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p, ""))
	}
	if len(name) > draDriverNameMaxLength {
		errs = append(errs, field.TooLong(p, "", draDriverNameMaxLength))
	}
	return append(errs, msgs(p, name, utilvalidation.IsDNS1123Subdomain(strings.ToLower(name)))...)
}

func draPoolName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if len(name) > resourcev1.PoolNameMaxLength {
		errs = append(errs, field.TooLong(p, "", resourcev1.PoolNameMaxLength))
	}
	for _, part := range strings.Split(name, "/") {
		errs = append(errs, msgs(p, part, utilvalidation.IsDNS1123Subdomain(part))...)
	}
	return errs
}

// draSlice reports too many items (and nothing else, so huge lists stay cheap), then
// checks each one.
func draSlice[T any](items []T, max int, p *field.Path, check func(T, *field.Path) field.ErrorList) field.ErrorList {
	if max >= 0 && len(items) > max {
		return field.ErrorList{field.TooMany(p, len(items), max)}
	}
	var errs field.ErrorList
	for i, it := range items {
		errs = append(errs, check(it, p.Index(i))...)
	}
	return errs
}

// draSet is draSlice for lists whose items must also be unique by key.
func draSet[T any, K comparable](items []T, max int, p *field.Path, key func(T) K, check func(T, *field.Path) field.ErrorList) field.ErrorList {
	errs := draSlice(items, max, p, check)
	if len(errs) == 1 && errs[0].Type == field.ErrorTypeTooMany {
		return errs
	}
	seen := sets.New[K]()
	for i, it := range items {
		k := key(it)
		if seen.Has(k) {
			errs = append(errs, field.Duplicate(p.Index(i), k))
		}
		seen.Insert(k)
	}
	return errs
}

// ---- DeviceClass ----

func validateDeviceClass(c *resourcev1.DeviceClass) field.ErrorList {
	errs := objectMeta(&c.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, deviceClassSpec(&c.Spec)...)
}

func validateDeviceClassUpdate(c, old *resourcev1.DeviceClass) field.ErrorList {
	errs := objectMetaUpdate(&c.ObjectMeta, &old.ObjectMeta)
	return append(errs, deviceClassSpec(&c.Spec)...)
}

func deviceClassSpec(spec *resourcev1.DeviceClassSpec) field.ErrorList {
	errs := draSlice(spec.Selectors, resourcev1.DeviceSelectorsMaxSize, specPath.Child("selectors"), deviceSelector)
	errs = append(errs, draSlice(spec.Config, resourcev1.DeviceConfigMaxSize, specPath.Child("config"),
		func(c resourcev1.DeviceClassConfiguration, p *field.Path) field.ErrorList {
			return deviceConfiguration(c.DeviceConfiguration, p)
		})...)
	if n := spec.ExtendedResourceName; n != nil && !isExtendedResourceName(corev1.ResourceName(*n)) {
		errs = append(errs, field.Invalid(specPath.Child("extendedResourceName"), *n, "must be a valid extended resource name"))
	}
	return errs
}

// isExtendedResourceName: a fully qualified resource name outside kubernetes.io whose
// "requests."-prefixed form is a qualified name.
func isExtendedResourceName(name corev1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || strings.Contains(s, corev1.ResourceDefaultNamespacePrefix) ||
		strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(utilvalidation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+s)) == 0
}

func deviceSelector(s resourcev1.DeviceSelector, p *field.Path) field.ErrorList {
	if s.CEL == nil {
		return field.ErrorList{field.Required(p.Child("cel"), "")}
	}
	ep := p.Child("cel", "expression")
	switch e := s.CEL.Expression; {
	case len(e) > resourcev1.CELSelectorExpressionMaxLength:
		return field.ErrorList{field.TooLong(ep, "", resourcev1.CELSelectorExpressionMaxLength)}
	case strings.TrimSpace(e) == "":
		return field.ErrorList{field.Required(ep, "")}
	}
	return nil
}

func deviceConfiguration(c resourcev1.DeviceConfiguration, p *field.Path) field.ErrorList {
	if c.Opaque == nil {
		return field.ErrorList{field.Required(p.Child("opaque"), "")}
	}
	op := p.Child("opaque")
	errs := draDriverName(c.Opaque.Driver, op.Child("driver"))
	return append(errs, rawJSONObject(c.Opaque.Parameters, op.Child("parameters"), resourcev1.OpaqueParametersMaxLength)...)
}

// rawJSONObject: opaque parameters and data are a JSON object.
func rawJSONObject(raw runtime.RawExtension, p *field.Path, max int) field.ErrorList {
	var v any
	switch {
	case len(raw.Raw) == 0:
		return field.ErrorList{field.Required(p, "")}
	case len(raw.Raw) > max:
		return field.ErrorList{field.TooLong(p, "", max)}
	}
	if err := json.Unmarshal(raw.Raw, &v); err != nil {
		return field.ErrorList{field.Invalid(p, "<value omitted>", fmt.Sprintf("error parsing data as JSON: %v", err.Error()))}
	}
	if v == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	if _, ok := v.(map[string]any); !ok {
		return field.ErrorList{field.Invalid(p, "<value omitted>", "must be a valid JSON object")}
	}
	return nil
}

// ---- ResourceClaim and ResourceClaimTemplate ----

func validateResourceClaim(c *resourcev1.ResourceClaim) field.ErrorList {
	errs := objectMeta(&c.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, resourceClaimSpec(&c.Spec, specPath)...)
}

// validateResourceClaimUpdate: the spec is immutable; that is all an update is checked for.
func validateResourceClaimUpdate(c, old *resourcev1.ResourceClaim) field.ErrorList {
	errs := objectMeta(&c.ObjectMeta, true, nameIsDNSSubdomain)
	errs = append(errs, objectMetaUpdate(&c.ObjectMeta, &old.ObjectMeta)...)
	return append(errs, immutable(c.Spec, old.Spec, specPath)...)
}

func validateResourceClaimTemplate(t *resourcev1.ResourceClaimTemplate) field.ErrorList {
	errs := objectMeta(&t.ObjectMeta, true, nameIsDNSSubdomain)
	mp := specPath.Child("metadata")
	errs = append(errs, labels(t.Spec.Labels, mp.Child("labels"))...)
	errs = append(errs, validateAnnotations(t.Spec.Annotations, mp.Child("annotations"))...)
	return append(errs, resourceClaimSpec(&t.Spec.Spec, specPath.Child("spec"))...)
}

func validateResourceClaimTemplateUpdate(t, old *resourcev1.ResourceClaimTemplate) field.ErrorList {
	errs := objectMetaUpdate(&t.ObjectMeta, &old.ObjectMeta)
	return append(errs, immutable(t.Spec, old.Spec, specPath)...)
}

// claimRequestNames maps each request of a claim to the names of its subrequests.
type claimRequestNames map[string]sets.Set[string]

func requestNamesOf(d *resourcev1.DeviceClaim) claimRequestNames {
	out := claimRequestNames{}
	for _, r := range d.Requests {
		subs := sets.New[string]()
		for _, s := range r.FirstAvailable {
			subs.Insert(s.Name)
		}
		out[r.Name] = subs
	}
	return out
}

// has reports whether ref names a request, or a request and one of its subrequests
// ("request/subrequest").
func (n claimRequestNames) has(ref string) bool {
	parts := strings.Split(ref, "/")
	subs, ok := n[parts[0]]
	switch {
	case !ok || len(parts) > 2:
		return false
	case len(parts) == 1:
		return true
	}
	return subs.Has(parts[1])
}

func requestRef(ref string, p *field.Path, names claimRequestNames) field.ErrorList {
	const msg = "must be the name of a request in the claim or the name of a request and a subrequest separated by '/'"
	parts := strings.Split(ref, "/")
	if len(parts) > 2 {
		return field.ErrorList{field.Invalid(p, ref, msg)}
	}
	var errs field.ErrorList
	for _, part := range parts {
		errs = append(errs, dns1123Label(part, p)...)
	}
	if !names.has(ref) {
		errs = append(errs, field.Invalid(p, ref, msg))
	}
	return errs
}

func resourceClaimSpec(spec *resourcev1.ResourceClaimSpec, fldPath *field.Path) field.ErrorList {
	d := &spec.Devices
	dp := fldPath.Child("devices")
	names := requestNamesOf(d)
	errs := draSet(d.Requests, resourcev1.DeviceRequestsMaxSize, dp.Child("requests"),
		func(r resourcev1.DeviceRequest) string { return r.Name }, deviceRequest)
	errs = append(errs, draSlice(d.Constraints, resourcev1.DeviceConstraintsMaxSize, dp.Child("constraints"),
		func(c resourcev1.DeviceConstraint, p *field.Path) field.ErrorList {
			errs := draSet(c.Requests, resourcev1.DeviceRequestsMaxSize, p.Child("requests"), func(s string) string { return s },
				func(s string, p *field.Path) field.ErrorList { return requestRef(s, p, names) })
			switch {
			case c.MatchAttribute != nil:
				errs = append(errs, fullyQualifiedName(string(*c.MatchAttribute), p.Child("matchAttribute"))...)
			case c.DistinctAttribute != nil:
				errs = append(errs, fullyQualifiedName(string(*c.DistinctAttribute), p.Child("distinctAttribute"))...)
			default:
				errs = append(errs, field.Required(p.Child("matchAttribute"), ""))
			}
			return errs
		})...)
	errs = append(errs, draSlice(d.Config, resourcev1.DeviceConfigMaxSize, dp.Child("config"),
		func(c resourcev1.DeviceClaimConfiguration, p *field.Path) field.ErrorList {
			errs := draSet(c.Requests, resourcev1.DeviceRequestsMaxSize, p.Child("requests"), func(s string) string { return s },
				func(s string, p *field.Path) field.ErrorList { return requestRef(s, p, names) })
			return append(errs, deviceConfiguration(c.DeviceConfiguration, p)...)
		})...)
	return errs
}

func deviceRequest(r resourcev1.DeviceRequest, p *field.Path) field.ErrorList {
	errs := dns1123Label(r.Name, p.Child("name"))
	switch {
	case r.Exactly == nil && len(r.FirstAvailable) == 0:
		errs = append(errs, field.Required(p, "exactly one of `exactly` or `firstAvailable` is required"))
	case r.Exactly != nil && len(r.FirstAvailable) > 0:
		errs = append(errs, field.Invalid(p, nil, "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set"))
	case r.Exactly != nil:
		e := r.Exactly
		ep := p.Child("exactly")
		errs = append(errs, deviceSelection(e.DeviceClassName, e.Selectors, e.AllocationMode, e.Count, e.Tolerations, ep)...)
	default:
		errs = append(errs, draSet(r.FirstAvailable, resourcev1.FirstAvailableDeviceRequestMaxSize, p.Child("firstAvailable"),
			func(s resourcev1.DeviceSubRequest) string { return s.Name },
			func(s resourcev1.DeviceSubRequest, sp *field.Path) field.ErrorList {
				errs := dns1123Label(s.Name, sp.Child("name"))
				return append(errs, deviceSelection(s.DeviceClassName, s.Selectors, s.AllocationMode, s.Count, s.Tolerations, sp)...)
			})...)
	}
	return errs
}

func deviceSelection(class string, selectors []resourcev1.DeviceSelector, mode resourcev1.DeviceAllocationMode, count int64,
	tolerations []resourcev1.DeviceToleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if class == "" {
		errs = append(errs, field.Required(p.Child("deviceClassName"), ""))
	} else {
		errs = append(errs, dns1123Subdomain(class, p.Child("deviceClassName"))...)
	}
	errs = append(errs, draSlice(selectors, resourcev1.DeviceSelectorsMaxSize, p.Child("selectors"), deviceSelector)...)
	switch mode {
	case resourcev1.DeviceAllocationModeAll:
		if count != 0 {
			errs = append(errs, field.Invalid(p.Child("count"), count, fmt.Sprintf("must not be specified when allocationMode is '%s'", mode)))
		}
	case resourcev1.DeviceAllocationModeExactCount:
		if count <= 0 {
			errs = append(errs, field.Invalid(p.Child("count"), count, "must be greater than zero"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("allocationMode"), mode,
			[]resourcev1.DeviceAllocationMode{resourcev1.DeviceAllocationModeAll, resourcev1.DeviceAllocationModeExactCount}))
	}
	return append(errs, draSlice(tolerations, resourcev1.DeviceTolerationsMaxLength, p.Child("tolerations"), deviceToleration)...)
}

var deviceTaintEffects = []resourcev1.DeviceTaintEffect{resourcev1.DeviceTaintEffectNoExecute, resourcev1.DeviceTaintEffectNoSchedule, resourcev1.DeviceTaintEffectNone}

func deviceToleration(t resourcev1.DeviceToleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Key != "" {
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
	}
	switch t.Operator {
	case resourcev1.DeviceTolerationOpExists:
		if t.Value != "" {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, "must be empty for operator `Exists`"))
		}
	case resourcev1.DeviceTolerationOpEqual:
		errs = append(errs, msgs(p.Child("value"), t.Value, labelValueProblems(t.Value))...)
	case "":
		errs = append(errs, field.Required(p.Child("operator"), ""))
	default:
		errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator,
			[]resourcev1.DeviceTolerationOperator{resourcev1.DeviceTolerationOpEqual, resourcev1.DeviceTolerationOpExists}))
	}
	if t.Effect != "" {
		errs = append(errs, enum(t.Effect, false, p.Child("effect"), deviceTaintEffects...)...)
	}
	return errs
}

func deviceTaint(t resourcev1.DeviceTaint, p *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabelName(t.Key, p.Child("key"))
	if t.Value != "" {
		errs = append(errs, msgs(p.Child("value"), t.Value, labelValueProblems(t.Value))...)
	}
	if t.Effect == "" {
		errs = append(errs, field.Required(p.Child("effect"), ""))
	} else {
		errs = append(errs, enum(t.Effect, false, p.Child("effect"), deviceTaintEffects...)...)
	}
	return errs
}

// qualifiedDeviceName is an attribute or capacity name: a C identifier, optionally
// prefixed by a domain and a slash.
func qualifiedDeviceName(name string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	cIdentifier := func(id string) {
		if len(id) > draMaxIDLength {
			errs = append(errs, field.TooLong(p, "", draMaxIDLength))
		}
		errs = append(errs, msgs(p, id, content.IsCIdentifier(id))...)
	}
	parts := strings.Split(name, "/")
	switch len(parts) {
	case 1:
		cIdentifier(parts[0])
	default:
		if parts[0] == "" {
			errs = append(errs, field.Invalid(p, "", "the domain must not be empty"))
		} else {
			errs = append(errs, draDriverName(parts[0], p)...)
		}
		if parts[1] == "" {
			errs = append(errs, field.Invalid(p, "", "the name must not be empty"))
		} else {
			cIdentifier(parts[1])
		}
	}
	return errs
}

func fullyQualifiedName(name string, p *field.Path) field.ErrorList {
	errs := qualifiedDeviceName(name, p)
	if !strings.Contains(name, "/") {
		errs = append(errs, field.Invalid(p, name, "a fully qualified name must be a domain and a name separated by a slash"))
	}
	return errs
}

func validateResourceClaimStatusUpdate(c, old *resourcev1.ResourceClaim) field.ErrorList {
	errs := objectMetaUpdate(&c.ObjectMeta, &old.ObjectMeta)
	sp := field.NewPath("status")
	st, oldSt := &c.Status, &old.Status
	names := requestNamesOf(&c.Spec.Devices)
	errs = append(errs, draSet(st.ReservedFor, resourcev1.ResourceClaimReservedForMaxSize, sp.Child("reservedFor"),
		func(r resourcev1.ResourceClaimConsumerReference) types.UID { return r.UID },
		func(r resourcev1.ResourceClaimConsumerReference, p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if r.Resource == "" {
				errs = append(errs, field.Required(p.Child("resource"), ""))
			}
			if r.Name == "" {
				errs = append(errs, field.Required(p.Child("name"), ""))
			}
			if r.UID == "" {
				errs = append(errs, field.Required(p.Child("uid"), ""))
			}
			return errs
		})...)
	if len(st.ReservedFor) > 0 {
		if st.Allocation == nil {
			errs = append(errs, field.Forbidden(sp.Child("reservedFor"), "may not be specified when `allocated` is not set"))
		} else if c.DeletionTimestamp != nil {
			before := sets.New[types.UID]()
			for _, r := range oldSt.ReservedFor {
				before.Insert(r.UID)
			}
			for _, r := range st.ReservedFor {
				if !before.Has(r.UID) {
					errs = append(errs, field.Forbidden(sp.Child("reservedFor"), "new entries may not be added while `deallocationRequested` or `deletionTimestamp` are set"))
					break
				}
			}
		}
	}
	switch {
	case oldSt.Allocation != nil && st.Allocation != nil:
		// An allocation, once made, stays as it is until it is removed.
		errs = append(errs, immutable(st.Allocation, oldSt.Allocation, sp.Child("allocation"))...)
	case st.Allocation != nil:
		ap := sp.Child("allocation", "devices")
		errs = append(errs, draSlice(st.Allocation.Devices.Results, resourcev1.AllocationResultsMaxSize, ap.Child("results"),
			func(r resourcev1.DeviceRequestAllocationResult, p *field.Path) field.ErrorList {
				errs := requestRef(r.Request, p.Child("request"), names)
				errs = append(errs, draDriverName(r.Driver, p.Child("driver"))...)
				errs = append(errs, draPoolName(r.Pool, p.Child("pool"))...)
				return append(errs, dns1123Label(r.Device, p.Child("device"))...)
			})...)
		if ns := st.Allocation.NodeSelector; ns != nil {
			errs = append(errs, validateNodeSelector(ns, sp.Child("allocation", "nodeSelector"))...)
		}
	}
	return errs
}

// ---- ResourceSlice ----

func validateResourceSlice(s *resourcev1.ResourceSlice) field.ErrorList {
	errs := objectMeta(&s.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, resourceSliceSpec(&s.Spec, nil)...)
}

func validateResourceSliceUpdate(s, old *resourcev1.ResourceSlice) field.ErrorList {
	errs := objectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	return append(errs, resourceSliceSpec(&s.Spec, &old.Spec)...)
}

func resourceSliceSpec(spec, old *resourcev1.ResourceSliceSpec) field.ErrorList {
	errs := draDriverName(spec.Driver, specPath.Child("driver"))
	pp := specPath.Child("pool")
	errs = append(errs, draPoolName(spec.Pool.Name, pp.Child("name"))...)
	if spec.Pool.ResourceSliceCount <= 0 {
		errs = append(errs, field.Invalid(pp.Child("resourceSliceCount"), spec.Pool.ResourceSliceCount, "must be greater than zero"))
	}
	if spec.Pool.Generation < 0 {
		errs = append(errs, field.Invalid(pp.Child("generation"), spec.Pool.Generation, "must be greater than or equal to zero"))
	}
	if old != nil {
		errs = append(errs, immutable(spec.Pool.Name, old.Pool.Name, pp.Child("name"))...)
		errs = append(errs, immutable(spec.Driver, old.Driver, specPath.Child("driver"))...)
		errs = append(errs, immutable(spec.NodeName, old.NodeName, specPath.Child("nodeName"))...)
	}

	var set []string
	if n := spec.NodeName; n != nil {
		if *n == "" {
			errs = append(errs, field.Invalid(specPath.Child("nodeName"), *n, "must be either unset or set to a non-empty string"))
		} else {
			set = append(set, "`nodeName`")
			errs = append(errs, msgs(specPath.Child("nodeName"), *n, nameIsDNSSubdomain(*n, false))...)
		}
	}
	if ns := spec.NodeSelector; ns != nil {
		set = append(set, "`nodeSelector`")
		errs = append(errs, validateNodeSelector(ns, specPath.Child("nodeSelector"))...)
		if len(ns.NodeSelectorTerms) != 1 {
			errs = append(errs, field.Invalid(specPath.Child("nodeSelector", "nodeSelectorTerms"), ns.NodeSelectorTerms, "must have exactly one node selector term"))
		}
	}
	for _, f := range []struct {
		name string
		v    *bool
	}{{"allNodes", spec.AllNodes}, {"perDeviceNodeSelection", spec.PerDeviceNodeSelection}} {
		if f.v == nil {
			continue
		}
		if *f.v {
			set = append(set, "`"+f.name+"`")
		} else {
			errs = append(errs, field.Invalid(specPath.Child(f.name), *f.v, "must be either unset or set to true"))
		}
	}
	const oneOf = "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"
	switch len(set) {
	case 0:
		errs = append(errs, field.Required(specPath, oneOf))
	case 1:
	default:
		errs = append(errs, field.Invalid(specPath, fmt.Sprintf("{%s}", strings.Join(set, ", ")), oneOf+", but multiple fields are set"))
	}
	if spec.SharedCounters != nil && spec.Devices != nil {
		errs = append(errs, field.Invalid(specPath, "", "only one of `sharedCounters` or `devices` is allowed"))
	}
	perDevice := spec.PerDeviceNodeSelection != nil && *spec.PerDeviceNodeSelection
	errs = append(errs, draSet(spec.Devices, resourcev1.ResourceSliceMaxDevices, specPath.Child("devices"),
		func(d resourcev1.Device) string { return d.Name },
		func(d resourcev1.Device, p *field.Path) field.ErrorList { return sliceDevice(d, p, perDevice) })...)
	errs = append(errs, draSet(spec.SharedCounters, resourcev1.ResourceSliceMaxCounterSets, specPath.Child("sharedCounters"),
		func(c resourcev1.CounterSet) string { return c.Name },
		func(c resourcev1.CounterSet, p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if c.Name == "" {
				errs = append(errs, field.Required(p.Child("name"), ""))
			} else {
				errs = append(errs, dns1123Label(c.Name, p.Child("name"))...)
			}
			if len(c.Counters) == 0 {
				errs = append(errs, field.Required(p.Child("counters"), ""))
			}
			return errs
		})...)
	return errs
}

var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(-(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?` +
	`(\+[0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*)?$`)

func sliceDevice(d resourcev1.Device, p *field.Path, perDevice bool) field.ErrorList {
	errs := dns1123Label(d.Name, p.Child("name"))
	if n := len(d.Attributes) + len(d.Capacity); n > resourcev1.ResourceSliceMaxAttributesAndCapacitiesPerDevice {
		errs = append(errs, field.Invalid(p, n, fmt.Sprintf("the total number of attributes and capacities must not exceed %d", resourcev1.ResourceSliceMaxAttributesAndCapacitiesPerDevice)))
	}
	for _, name := range sortedKeys(qualifiedMap(d.Attributes)) {
		a := d.Attributes[resourcev1.QualifiedName(name)]
		ap := p.Child("attributes").Key(name)
		errs = append(errs, qualifiedDeviceName(name, ap)...)
		values := 0
		for _, set := range []bool{a.IntValue != nil, a.BoolValue != nil, a.StringValue != nil, a.VersionValue != nil,
			a.IntValues != nil, a.BoolValues != nil, a.StringValues != nil, a.VersionValues != nil} {
			if set {
				values++
			}
		}
		if values != 1 {
			errs = append(errs, field.Invalid(ap, "", "exactly one value must be specified"))
		}
		if s := a.StringValue; s != nil && len(*s) > draAttributeMaxValue {
			errs = append(errs, field.TooLong(ap.Child("string"), "", draAttributeMaxValue))
		}
		if v := a.VersionValue; v != nil {
			if !semverRE.MatchString(*v) {
				errs = append(errs, field.Invalid(ap.Child("version"), *v, "must be a string compatible with semver.org spec 2.0.0"))
			}
			if len(*v) > draAttributeMaxValue {
				errs = append(errs, field.TooLong(ap.Child("version"), "", draAttributeMaxValue))
			}
		}
	}
	for _, name := range sortedKeys(qualifiedMap(d.Capacity)) {
		errs = append(errs, qualifiedDeviceName(name, p.Child("capacity").Key(name))...)
	}
	errs = append(errs, draSlice(d.Taints, resourcev1.DeviceTaintsMaxLength, p.Child("taints"), deviceTaint)...)
	switch {
	case perDevice:
		var set []string
		if d.NodeName != nil {
			if *d.NodeName == "" {
				errs = append(errs, field.Invalid(p.Child("nodeName"), *d.NodeName, "must not be empty"))
			} else {
				set = append(set, "`nodeName`")
			}
		}
		if d.NodeSelector != nil {
			set = append(set, "`nodeSelector`")
			errs = append(errs, validateNodeSelector(d.NodeSelector, p.Child("nodeSelector"))...)
		}
		if d.AllNodes != nil {
			if *d.AllNodes {
				set = append(set, "`allNodes`")
			} else {
				errs = append(errs, field.Invalid(p.Child("allNodes"), *d.AllNodes, "must be either unset or set to true"))
			}
		}
		const oneOf = "exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when `perDeviceNodeSelection` is set to true in the ResourceSlice spec"
		switch len(set) {
		case 0:
			errs = append(errs, field.Required(p, oneOf))
		case 1:
		default:
			errs = append(errs, field.Invalid(p, fmt.Sprintf("{%s}", strings.Join(set, ", ")), oneOf))
		}
	case d.NodeName != nil || d.NodeSelector != nil || d.AllNodes != nil:
		errs = append(errs, field.Invalid(p, nil, "`nodeName`, `nodeSelector` and `allNodes` can only be set if `perDeviceNodeSelection` is set to true in the ResourceSlice spec"))
	}
	return errs
}

func qualifiedMap[V any](m map[resourcev1.QualifiedName]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}
