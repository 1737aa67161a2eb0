package validation

import (
	"testing"

	bootstrap "github.com/kijabi/kijabi/internal/apiserver/apf"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	resourcev1 "k8s.io/api/resource/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestRuntimeClass(t *testing.T) {
	valid := func() *nodev1.RuntimeClass {
		return &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc",
			Overhead: &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
			Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{"runtime": "gvisor"},
				Tolerations: []corev1.Toleration{{Key: "runtime", Operator: corev1.TolerationOpEqual, Value: "gvisor", Effect: corev1.TaintEffectNoSchedule}}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*nodev1.RuntimeClass)
		want   []wantErr
	}{
		{"valid", func(*nodev1.RuntimeClass) {}, nil},
		{"no handler", func(rc *nodev1.RuntimeClass) { rc.Handler = "" },
			[]wantErr{{"handler", field.ErrorTypeInvalid, "a lowercase RFC 1123 label must consist of"}}},
		{"handler not a label", func(rc *nodev1.RuntimeClass) { rc.Handler = "run.sc" },
			[]wantErr{{"handler", field.ErrorTypeInvalid, "must not contain dots"}}},
		{"negative overhead", func(rc *nodev1.RuntimeClass) {
			rc.Overhead.PodFixed[corev1.ResourceMemory] = resource.MustParse("-1Mi")
		}, []wantErr{{"overhead.limits[memory]", field.ErrorTypeInvalid, "must be greater than or equal to 0"}}},
		{"bad node selector", func(rc *nodev1.RuntimeClass) { rc.Scheduling.NodeSelector = map[string]string{"bad key!": "x"} },
			[]wantErr{{"scheduling.nodeSelector", field.ErrorTypeInvalid, "name part must consist of"}}},
		{"duplicate toleration", func(rc *nodev1.RuntimeClass) {
			rc.Scheduling.Tolerations = append(rc.Scheduling.Tolerations, rc.Scheduling.Tolerations[0])
		}, []wantErr{{"scheduling.tolerations[1]", field.ErrorTypeDuplicate, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := valid()
			tc.mutate(rc)
			checkErrs(t, ValidateCreate(rc), tc.want...)
		})
	}
	old := valid()
	old.ResourceVersion = "1"
	rc := old.DeepCopy()
	rc.Handler = "kata"
	checkErrs(t, ValidateUpdate(rc, old), wantErr{"handler", field.ErrorTypeInvalid, "field is immutable"})
}

func TestServiceCIDRAndIPAddress(t *testing.T) {
	sc := func(cidrs ...string) *networkingv1.ServiceCIDR {
		return &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", ResourceVersion: "1"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: cidrs}}
	}
	checkErrs(t, ValidateCreate(sc("10.96.0.0/12")))
	checkErrs(t, ValidateCreate(sc("10.96.0.0/12", "fd00::/108")))
	checkErrs(t, ValidateCreate(sc()), wantErr{"spec.cidrs", field.ErrorTypeRequired, "at least one CIDR required"})
	checkErrs(t, ValidateCreate(sc("10.0.0.0/24", "10.1.0.0/24")),
		wantErr{"spec.cidrs", field.ErrorTypeInvalid, "may specify no more than one IP for each IP family"})
	checkErrs(t, ValidateCreate(sc("a", "b", "c")), wantErr{"spec.cidrs", field.ErrorTypeInvalid, "may only hold up to 2 values"})
	checkErrs(t, ValidateCreate(sc("10.96.0.1/12")), wantErr{"spec.cidrs[0]", field.ErrorTypeInvalid, "must not have bits set beyond the prefix length"})
	checkErrs(t, ValidateCreate(sc("10.96.0.0")), wantErr{"spec.cidrs[0]", field.ErrorTypeInvalid, "must be a valid CIDR value"})
	// The range is immutable, but a single-stack range may become dual-stack.
	checkErrs(t, ValidateUpdate(sc("10.0.0.0/24"), sc("10.96.0.0/12")), wantErr{"spec.cidrs[0]", field.ErrorTypeInvalid, "field is immutable"})
	checkErrs(t, ValidateUpdate(sc("10.96.0.0/12", "fd00::/108"), sc("10.96.0.0/12")))
	checkErrs(t, ValidateUpdate(sc("10.96.0.0/12"), sc("10.96.0.0/12", "fd00::/108")), wantErr{"spec.cidrs", field.ErrorTypeInvalid, "field is immutable"})

	ip := func(name string, ref *networkingv1.ParentReference) *networkingv1.IPAddress {
		return &networkingv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"}, Spec: networkingv1.IPAddressSpec{ParentRef: ref}}
	}
	ref := &networkingv1.ParentReference{Resource: "services", Namespace: "default", Name: "web"}
	checkErrs(t, ValidateCreate(ip("10.96.0.10", ref)))
	checkErrs(t, ValidateCreate(ip("2001:db8::1", ref)))
	checkErrs(t, ValidateCreate(ip("10.96.0.010", ref)), wantErr{"metadata.name", field.ErrorTypeInvalid, ""})
	checkErrs(t, ValidateCreate(ip("2001:db8:0::1", ref)), wantErr{"metadata.name", field.ErrorTypeInvalid, "must be in canonical form"})
	checkErrs(t, ValidateCreate(ip("10.96.0.10", nil)), wantErr{"spec.parentRef", field.ErrorTypeRequired, ""})
	checkErrs(t, ValidateCreate(ip("10.96.0.10", &networkingv1.ParentReference{Group: "Bad_Group", Name: "a/b"})),
		wantErr{"spec.parentRef.group", field.ErrorTypeInvalid, "RFC 1123 subdomain"},
		wantErr{"spec.parentRef.resource", field.ErrorTypeRequired, ""},
		wantErr{"spec.parentRef.name", field.ErrorTypeInvalid, "may not contain '/'"})
	other := &networkingv1.ParentReference{Resource: "services", Namespace: "default", Name: "other"}
	checkErrs(t, ValidateUpdate(ip("10.96.0.10", other), ip("10.96.0.10", ref)), wantErr{"spec.parentRef", field.ErrorTypeInvalid, "field is immutable"})
}

func TestFlowControl(t *testing.T) {
	// The objects kube-apiserver creates at start are valid as they are.
	for _, pl := range append(append([]*flowcontrolv1.PriorityLevelConfiguration{}, bootstrap.MandatoryPriorityLevelConfigurations...), bootstrap.SuggestedPriorityLevelConfigurations...) {
		checkErrs(t, ValidateCreate(pl.DeepCopy()))
	}
	for _, fs := range append(append([]*flowcontrolv1.FlowSchema{}, bootstrap.MandatoryFlowSchemas...), bootstrap.SuggestedFlowSchemas...) {
		checkErrs(t, ValidateCreate(fs.DeepCopy()))
	}
	fs := func() *flowcontrolv1.FlowSchema {
		return &flowcontrolv1.FlowSchema{ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "workload-low"}, MatchingPrecedence: 1000,
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects: []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: "batch"}}},
				ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""},
					Resources: []string{"pods"}, Namespaces: []string{"default"}}},
			}}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*flowcontrolv1.FlowSchema)
		want   []wantErr
	}{
		{"valid", func(*flowcontrolv1.FlowSchema) {}, nil},
		{"precedence 1", func(f *flowcontrolv1.FlowSchema) { f.Spec.MatchingPrecedence = 1 },
			[]wantErr{{"spec.matchingPrecedence", field.ErrorTypeInvalid, "only the schema named 'exempt' may have matchingPrecedence 1"}}},
		{"precedence too large", func(f *flowcontrolv1.FlowSchema) { f.Spec.MatchingPrecedence = 10001 },
			[]wantErr{{"spec.matchingPrecedence", field.ErrorTypeInvalid, "must not be greater than 10000"}}},
		{"no level", func(f *flowcontrolv1.FlowSchema) { f.Spec.PriorityLevelConfiguration.Name = "" },
			[]wantErr{{"spec.priorityLevelConfiguration.name", field.ErrorTypeRequired, "must reference a priority level"}}},
		{"bad distinguisher", func(f *flowcontrolv1.FlowSchema) {
			f.Spec.DistinguisherMethod = &flowcontrolv1.FlowDistinguisherMethod{Type: "ByColor"}
		}, []wantErr{{"spec.distinguisherMethod.type", field.ErrorTypeNotSupported, `"ByNamespace", "ByUser"`}}},
		{"no subjects", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].Subjects = nil },
			[]wantErr{{"spec.rules[0].subjects", field.ErrorTypeRequired, "subjects must contain at least one value"}}},
		{"user subject without user", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].Subjects[0].User = nil },
			[]wantErr{{"spec.rules[0].subjects[0].user", field.ErrorTypeRequired, "user is required when subject kind is 'User'"}}},
		{"group given to a user subject", func(f *flowcontrolv1.FlowSchema) {
			f.Spec.Rules[0].Subjects[0].Group = &flowcontrolv1.GroupSubject{Name: "g"}
		}, []wantErr{{"spec.rules[0].subjects[0].group", field.ErrorTypeForbidden, "group is forbidden when subject kind is not 'Group'"}}},
		{"wildcard with verbs", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].ResourceRules[0].Verbs = []string{"*", "get"} },
			[]wantErr{{"spec.rules[0].resourceRules[0].verbs", field.ErrorTypeInvalid, "if '*' is present, must not specify other verbs"}}},
		{"unknown verb", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].ResourceRules[0].Verbs = []string{"fly"} },
			[]wantErr{{"spec.rules[0].resourceRules[0].verbs", field.ErrorTypeNotSupported, ""}}},
		{"no namespaces", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].ResourceRules[0].Namespaces = nil },
			[]wantErr{{"spec.rules[0].resourceRules[0].namespaces", field.ErrorTypeRequired, "resource rules that are not cluster scoped must supply at least one namespace"}}},
		{"no rules at all", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].ResourceRules = nil },
			[]wantErr{{"spec.rules[0]", field.ErrorTypeRequired, "at least one of resourceRules and nonResourceRules has to be non-empty"}}},
		{"bad url", func(f *flowcontrolv1.FlowSchema) {
			f.Spec.Rules[0].NonResourceRules = []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"healthz"}}}
		}, []wantErr{{"spec.rules[0].nonResourceRules[0].nonResourceURLs[0]", field.ErrorTypeInvalid, "must start with slash"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fs()
			tc.mutate(f)
			checkErrs(t, ValidateCreate(f), tc.want...)
		})
	}
	// The mandatory objects' specs are fixed, but the exempt level's shares may be tuned.
	catchAll := bootstrap.MandatoryFlowSchemaCatchAll.DeepCopy()
	catchAll.Spec.MatchingPrecedence = 5000
	checkErrs(t, ValidateCreate(catchAll), wantErr{"spec", field.ErrorTypeInvalid, "spec of 'catch-all' must equal the fixed value"})
	exempt := bootstrap.MandatoryPriorityLevelConfigurationExempt.DeepCopy()
	exempt.Spec.Exempt.NominalConcurrencyShares = ptr.To[int32](10)
	checkErrs(t, ValidateCreate(exempt))
	exempt.Spec.Exempt.LendablePercent = ptr.To[int32](101)
	checkErrs(t, ValidateCreate(exempt), wantErr{"spec.exempt.lendablePercent", field.ErrorTypeInvalid, "must be between 0 and 100, inclusive"})

	pl := func() *flowcontrolv1.PriorityLevelConfiguration {
		return &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited, Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				NominalConcurrencyShares: ptr.To[int32](30), LendablePercent: ptr.To[int32](0),
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
					Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 64, HandSize: 8, QueueLengthLimit: 50}}}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*flowcontrolv1.PriorityLevelConfiguration)
		want   []wantErr
	}{
		{"valid", func(*flowcontrolv1.PriorityLevelConfiguration) {}, nil},
		{"exempt type", func(p *flowcontrolv1.PriorityLevelConfiguration) {
			p.Spec.Type = flowcontrolv1.PriorityLevelEnablementExempt
		},
			[]wantErr{{"spec.type", field.ErrorTypeInvalid, "type must be 'Exempt' if and only if name is 'exempt'"},
				{"spec.limited", field.ErrorTypeForbidden, "must be nil if the type is not Limited"}}},
		{"no limited", func(p *flowcontrolv1.PriorityLevelConfiguration) { p.Spec.Limited = nil },
			[]wantErr{{"spec.limited", field.ErrorTypeRequired, "must not be empty when type is Limited"}}},
		{"hand bigger than queues", func(p *flowcontrolv1.PriorityLevelConfiguration) { p.Spec.Limited.LimitResponse.Queuing.HandSize = 65 },
			[]wantErr{{"spec.limited.limitResponse.queuing.handSize", field.ErrorTypeInvalid, "should not be greater than queues (64)"}}},
		{"too much entropy", func(p *flowcontrolv1.PriorityLevelConfiguration) {
			p.Spec.Limited.LimitResponse.Queuing.Queues = 1 << 20
			p.Spec.Limited.LimitResponse.Queuing.HandSize = 7
		}, []wantErr{{"spec.limited.limitResponse.queuing.handSize", field.ErrorTypeInvalid, "required entropy bits of deckSize 1048576 and handSize 7 should not be greater than 60"}}},
		{"queuing with reject", func(p *flowcontrolv1.PriorityLevelConfiguration) {
			p.Spec.Limited.LimitResponse.Type = flowcontrolv1.LimitResponseTypeReject
		}, []wantErr{{"spec.limited.limitResponse.queuing", field.ErrorTypeForbidden, "must be nil if limited.limitResponse.type is not Limited"}}},
		{"negative borrowing", func(p *flowcontrolv1.PriorityLevelConfiguration) {
			p.Spec.Limited.BorrowingLimitPercent = ptr.To[int32](-1)
		},
			[]wantErr{{"spec.limited.borrowingLimitPercent", field.ErrorTypeInvalid, "if specified, must be a non-negative integer"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pl()
			tc.mutate(p)
			checkErrs(t, ValidateCreate(p), tc.want...)
		})
	}
}

func TestDynamicResourceAllocation(t *testing.T) {
	claim := func() *resourcev1.ResourceClaim {
		return &resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "gpu", Namespace: "default"}, Spec: resourcev1.ResourceClaimSpec{
			Devices: resourcev1.DeviceClaim{
				Requests: []resourcev1.DeviceRequest{{Name: "gpu", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "gpu.example.com",
					AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: 1}}},
				Constraints: []resourcev1.DeviceConstraint{{Requests: []string{"gpu"}, MatchAttribute: ptr.To(resourcev1.FullyQualifiedName("gpu.example.com/model"))}},
				Config: []resourcev1.DeviceClaimConfiguration{{Requests: []string{"gpu"}, DeviceConfiguration: resourcev1.DeviceConfiguration{
					Opaque: &resourcev1.OpaqueDeviceConfiguration{Driver: "gpu.example.com", Parameters: runtime.RawExtension{Raw: []byte(`{"mode":"fast"}`)}}}}},
			}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*resourcev1.ResourceClaim)
		want   []wantErr
	}{
		{"valid", func(*resourcev1.ResourceClaim) {}, nil},
		{"neither exactly nor firstAvailable", func(c *resourcev1.ResourceClaim) { c.Spec.Devices.Requests[0].Exactly = nil },
			[]wantErr{{"spec.devices.requests[0]", field.ErrorTypeRequired, "exactly one of `exactly` or `firstAvailable` is required"}}},
		{"both", func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Requests[0].FirstAvailable = []resourcev1.DeviceSubRequest{{Name: "a", DeviceClassName: "x", AllocationMode: resourcev1.DeviceAllocationModeAll}}
		}, []wantErr{{"spec.devices.requests[0]", field.ErrorTypeInvalid, "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set"}}},
		{"no class", func(c *resourcev1.ResourceClaim) { c.Spec.Devices.Requests[0].Exactly.DeviceClassName = "" },
			[]wantErr{{"spec.devices.requests[0].exactly.deviceClassName", field.ErrorTypeRequired, ""}}},
		{"count with All", func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Requests[0].Exactly.AllocationMode = resourcev1.DeviceAllocationModeAll
		}, []wantErr{{"spec.devices.requests[0].exactly.count", field.ErrorTypeInvalid, "must not be specified when allocationMode is 'All'"}}},
		{"zero count", func(c *resourcev1.ResourceClaim) { c.Spec.Devices.Requests[0].Exactly.Count = 0 },
			[]wantErr{{"spec.devices.requests[0].exactly.count", field.ErrorTypeInvalid, "must be greater than zero"}}},
		{"duplicate request", func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Requests = append(c.Spec.Devices.Requests, c.Spec.Devices.Requests[0])
		}, []wantErr{{"spec.devices.requests[1]", field.ErrorTypeDuplicate, ""}}},
		{"constraint on unknown request", func(c *resourcev1.ResourceClaim) { c.Spec.Devices.Constraints[0].Requests = []string{"cpu"} },
			[]wantErr{{"spec.devices.constraints[0].requests[0]", field.ErrorTypeInvalid, "must be the name of a request in the claim"}}},
		{"attribute without domain", func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Constraints[0].MatchAttribute = ptr.To(resourcev1.FullyQualifiedName("model"))
		}, []wantErr{{"spec.devices.constraints[0].matchAttribute", field.ErrorTypeInvalid, "a fully qualified name must be a domain and a name separated by a slash"}}},
		{"parameters not an object", func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Config[0].Opaque.Parameters.Raw = []byte(`[1]`)
		}, []wantErr{{"spec.devices.config[0].opaque.parameters", field.ErrorTypeInvalid, "must be a valid JSON object"}}},
		{"toleration without operator", func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Requests[0].Exactly.Tolerations = []resourcev1.DeviceToleration{{Key: "k"}}
		}, []wantErr{{"spec.devices.requests[0].exactly.tolerations[0].operator", field.ErrorTypeRequired, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claim()
			tc.mutate(c)
			checkErrs(t, ValidateCreate(c), tc.want...)
		})
	}
	// The spec of a claim is immutable; its status is checked.
	old := claim()
	old.ResourceVersion = "1"
	changed := old.DeepCopy()
	changed.Spec.Devices.Requests[0].Exactly.Count = 2
	checkErrs(t, ValidateUpdate(changed, old), wantErr{"spec", field.ErrorTypeInvalid, "field is immutable"})
	reserved := old.DeepCopy()
	reserved.Status.ReservedFor = []resourcev1.ResourceClaimConsumerReference{{Resource: "pods", Name: "p", UID: "1"}}
	checkErrs(t, ValidateStatusUpdate(reserved, old), wantErr{"status.reservedFor", field.ErrorTypeForbidden, "may not be specified when `allocated` is not set"})
	allocated := reserved.DeepCopy()
	allocated.Status.Allocation = &resourcev1.AllocationResult{Devices: resourcev1.DeviceAllocationResult{Results: []resourcev1.DeviceRequestAllocationResult{
		{Request: "gpu", Driver: "gpu.example.com", Pool: "node-1", Device: "gpu-0"}}}}
	checkErrs(t, ValidateStatusUpdate(allocated, old))

	slice := func() *resourcev1.ResourceSlice {
		return &resourcev1.ResourceSlice{ObjectMeta: metav1.ObjectMeta{Name: "node-1-gpu"}, Spec: resourcev1.ResourceSliceSpec{
			Driver: "gpu.example.com", NodeName: ptr.To("node-1"), Pool: resourcev1.ResourcePool{Name: "node-1", ResourceSliceCount: 1},
			Devices: []resourcev1.Device{{Name: "gpu-0", Attributes: map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
				"model": {StringValue: ptr.To("a100")}, "gpu.example.com/driverVersion": {VersionValue: ptr.To("1.2.3")}}}}}}
	}
	checkErrs(t, ValidateCreate(slice()))
	s := slice()
	s.Spec.AllNodes = ptr.To(true)
	checkErrs(t, ValidateCreate(s), wantErr{"spec", field.ErrorTypeInvalid, "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, but multiple fields are set"})
	s = slice()
	s.Spec.NodeName = nil
	checkErrs(t, ValidateCreate(s), wantErr{"spec", field.ErrorTypeRequired, "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"})
	s = slice()
	s.Spec.Pool.ResourceSliceCount = 0
	s.Spec.Devices[0].Attributes["model"] = resourcev1.DeviceAttribute{}
	s.Spec.Devices[0].Attributes["gpu.example.com/driverVersion"] = resourcev1.DeviceAttribute{VersionValue: ptr.To("v1")}
	checkErrs(t, ValidateCreate(s),
		wantErr{"spec.pool.resourceSliceCount", field.ErrorTypeInvalid, "must be greater than zero"},
		wantErr{"spec.devices[0].attributes[model]", field.ErrorTypeInvalid, "exactly one value must be specified"},
		wantErr{"spec.devices[0].attributes[gpu.example.com/driverVersion].version", field.ErrorTypeInvalid, "must be a string compatible with semver.org spec 2.0.0"})
	old2 := slice()
	old2.ResourceVersion = "1"
	moved := old2.DeepCopy()
	moved.Spec.NodeName = ptr.To("node-2")
	checkErrs(t, ValidateUpdate(moved, old2), wantErr{"spec.nodeName", field.ErrorTypeInvalid, "field is immutable"})

	class := &resourcev1.DeviceClass{ObjectMeta: metav1.ObjectMeta{Name: "gpu.example.com"}, Spec: resourcev1.DeviceClassSpec{
		Selectors: []resourcev1.DeviceSelector{{}}, ExtendedResourceName: ptr.To("gpu")}}
	checkErrs(t, ValidateCreate(class),
		wantErr{"spec.selectors[0].cel", field.ErrorTypeRequired, ""},
		wantErr{"spec.extendedResourceName", field.ErrorTypeInvalid, "must be a valid extended resource name"})
	class.Spec = resourcev1.DeviceClassSpec{ExtendedResourceName: ptr.To("example.com/gpu")}
	checkErrs(t, ValidateCreate(class))
}

func TestStorageCapacityAndAttributesClasses(t *testing.T) {
	capacity := &storagev1.CSIStorageCapacity{ObjectMeta: metav1.ObjectMeta{Name: "zone-a", Namespace: "default", ResourceVersion: "1"},
		StorageClassName: "fast", Capacity: ptr.To(resource.MustParse("100Gi"))}
	checkErrs(t, ValidateCreate(capacity))
	bad := capacity.DeepCopy()
	bad.StorageClassName = "Fast!"
	bad.Capacity = ptr.To(resource.MustParse("-1"))
	checkErrs(t, ValidateCreate(bad),
		wantErr{"storageClassName", field.ErrorTypeInvalid, "RFC 1123 subdomain"},
		wantErr{"capacity", field.ErrorTypeInvalid, "must be greater than or equal to 0"})
	moved := capacity.DeepCopy()
	moved.StorageClassName = "slow"
	checkErrs(t, ValidateUpdate(moved, capacity), wantErr{"storageClassName", field.ErrorTypeInvalid, "field is immutable"})

	vac := &storagev1.VolumeAttributesClass{ObjectMeta: metav1.ObjectMeta{Name: "gold", ResourceVersion: "1"}, DriverName: "pd.csi.example.com",
		Parameters: map[string]string{"iops": "5000"}}
	checkErrs(t, ValidateCreate(vac))
	empty := vac.DeepCopy()
	empty.DriverName, empty.Parameters = "", nil
	checkErrs(t, ValidateCreate(empty),
		wantErr{"driverName", field.ErrorTypeRequired, ""},
		wantErr{"parameters", field.ErrorTypeRequired, "must contain at least one key/value pair"})
	changed := vac.DeepCopy()
	changed.Parameters["iops"] = "9000"
	changed.DriverName = "other.csi.example.com"
	checkErrs(t, ValidateUpdate(changed, vac),
		wantErr{"parameters", field.ErrorTypeForbidden, "updates to parameters are forbidden."},
		wantErr{"driverName", field.ErrorTypeForbidden, "updates to driverName are forbidden."})
}

// autoscaling/v1 objects are checked in their v2 form, with v2's paths.
func TestHPAv1InV2Form(t *testing.T) {
	h := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MinReplicas: ptr.To[int32](1), MaxReplicas: 3, TargetCPUUtilizationPercentage: ptr.To[int32](0)}}
	checkErrs(t, ValidateCreate(h), wantErr{"spec.metrics[0].resource.target.averageUtilization", field.ErrorTypeInvalid, "must be greater than 0"})
	h.Spec.TargetCPUUtilizationPercentage = ptr.To[int32](50)
	h.Annotations = map[string]string{"autoscaling.alpha.kubernetes.io/metrics": "not json"}
	checkErrs(t, ValidateCreate(h), wantErr{"metadata.annotations[autoscaling.alpha.kubernetes.io/metrics]", field.ErrorTypeInvalid, "decoding annotation"})
}
