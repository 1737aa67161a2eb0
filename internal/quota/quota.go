package quota

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	resourcehelper "k8s.io/component-helpers/resource"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

const (
	// storageClassSuffix qualifies PersistentVolumeClaim resources by storage class:
	// <class>.storageclass.storage.k8s.io/<resource>.
	storageClassSuffix = ".storageclass.storage.k8s.io/"
	// deviceClassPrefix names DRA's implicit extended resources (resource.k8s.io/v1
	// ResourceDeviceClassPrefix): deviceclass.resource.kubernetes.io/<class>.
	deviceClassPrefix = "deviceclass.resource.kubernetes.io/"
	countPrefix       = "count/"
)

var (
	podsResource     = schema.GroupResource{Resource: "pods"}
	servicesResource = schema.GroupResource{Resource: "services"}
	pvcsResource     = schema.GroupResource{Resource: "persistentvolumeclaims"}

	countPods     = ObjectCountName(podsResource)
	countServices = ObjectCountName(servicesResource)
	countPVCs     = ObjectCountName(pvcsResource)
)

// legacyNames are the names that counted objects before count/<resource> existed.
var legacyNames = map[string]corev1.ResourceName{
	"configmaps":             corev1.ResourceConfigMaps,
	"secrets":                corev1.ResourceSecrets,
	"replicationcontrollers": corev1.ResourceReplicationControllers,
	"resourcequotas":         corev1.ResourceQuotas,
}

// podResources are the fixed names pods count under.
var podResources = sets.New(
	countPods,
	corev1.ResourcePods,
	corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU,
	corev1.ResourceMemory, corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory,
	corev1.ResourceEphemeralStorage, corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsEphemeralStorage,
)

var serviceResources = sets.New(
	countServices,
	corev1.ResourceServices,
	corev1.ResourceServicesNodePorts,
	corev1.ResourceServicesLoadBalancers,
)

// pvcResources are the PersistentVolumeClaim names that may also be qualified by storage class.
var pvcResources = []corev1.ResourceName{corev1.ResourcePersistentVolumeClaims, corev1.ResourceRequestsStorage}

// validationSet is what a pod's every container must set when a quota tracks it: the
// backward-compatible requirement of upstream's pod evaluator, kept to cpu and memory.
var validationSet = sets.New(
	corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
)

// ObjectCountName is the quota name counting objects of gr: "count/<resource>.<group>", or
// "count/<resource>" for the core group.
func ObjectCountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName(countPrefix + gr.Resource)
	}
	return corev1.ResourceName(countPrefix + gr.Resource + "." + gr.Group)
}

// ParseObjectCountName returns the resource a "count/<resource>[.<group>]" name counts.
func ParseObjectCountName(name corev1.ResourceName) (schema.GroupResource, bool) {
	rest, ok := strings.CutPrefix(string(name), countPrefix)
	if !ok || rest == "" {
		return schema.GroupResource{}, false
	}
	res, group, _ := strings.Cut(rest, ".")
	if res == "" {
		return schema.GroupResource{}, false
	}
	return schema.GroupResource{Group: group, Resource: res}, true
}

// Usage returns what obj counts against quota when stored as a resource of gr: keys are
// quota resource names (see the package documentation). A pod that is terminal or whose
// deletion grace period has passed counts only "count/pods".
func Usage(gr schema.GroupResource, obj runtime.Object) corev1.ResourceList {
	return usageAt(gr, obj, time.Now())
}

func usageAt(gr schema.GroupResource, obj runtime.Object, now time.Time) corev1.ResourceList {
	if gr.Group == "" {
		switch gr.Resource {
		case podsResource.Resource:
			if pod, ok := obj.(*corev1.Pod); ok && pod != nil {
				return podUsage(pod, now)
			}
		case servicesResource.Resource:
			if svc, ok := obj.(*corev1.Service); ok && svc != nil {
				return serviceUsage(svc)
			}
		case pvcsResource.Resource:
			if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok && pvc != nil {
				return pvcUsage(pvc)
			}
		}
		if alias, ok := legacyNames[gr.Resource]; ok {
			return corev1.ResourceList{alias: count(1), ObjectCountName(gr): count(1)}
		}
	}
	return corev1.ResourceList{ObjectCountName(gr): count(1)}
}

func count(n int64) resource.Quantity { return *resource.NewQuantity(n, resource.DecimalSI) }

// PodCharged reports whether a pod's compute resources (and "pods") count against quota at
// now: it is not terminal and, if it is being deleted, its grace period has not passed. It
// also returns when a pod being deleted stops counting (zero when no grace period runs).
func PodCharged(pod *corev1.Pod, now time.Time) (charged bool, until time.Time) {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false, time.Time{}
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		return !now.After(end), end
	}
	return true, time.Time{}
}

func podUsage(pod *corev1.Pod, now time.Time) corev1.ResourceList {
	// count/pods counts every pod in storage; "pods" and compute resources only live ones.
	usage := corev1.ResourceList{countPods: count(1)}
	if charged, _ := PodCharged(pod, now); !charged {
		return usage
	}
	opts := resourcehelper.PodResourcesOptions{UseStatusResources: true, InPlacePodLevelResourcesVerticalScalingEnabled: true}
	requests := resourcehelper.PodRequests(pod, opts)
	limits := resourcehelper.PodLimits(pod, opts)
	for name, q := range computeUsage(requests, limits) {
		usage[name] = q
	}
	return usage
}

// computeUsage names requests and limits as quota does, with "pods": 1.
func computeUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	usage := corev1.ResourceList{corev1.ResourcePods: count(1)}
	for _, n := range []struct{ name, request, limit corev1.ResourceName }{
		{corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU},
		{corev1.ResourceMemory, corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory},
		{corev1.ResourceEphemeralStorage, corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsEphemeralStorage},
	} {
		if q, ok := requests[n.name]; ok {
			usage[n.name] = q.DeepCopy()
			usage[n.request] = q.DeepCopy()
		}
		if q, ok := limits[n.name]; ok {
			usage[n.limit] = q.DeepCopy()
		}
	}
	for name, q := range requests {
		if strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
			usage[name] = q.DeepCopy()
			usage[corev1.DefaultResourceRequestsPrefix+name] = q.DeepCopy()
		}
		if isExtendedResource(name) {
			// Extended resources cannot be overcommitted: only requests.<name> is tracked.
			usage[corev1.DefaultResourceRequestsPrefix+name] = q.DeepCopy()
		}
	}
	return usage
}

// isNativeResource: unprefixed, or in the kubernetes.io namespace.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

// isExtendedResource reports whether a container resource is an extended resource (or one of
// DRA's device-class resources) that quota tracks as requests.<name>.
func isExtendedResource(name corev1.ResourceName) bool {
	if strings.HasPrefix(string(name), deviceClassPrefix) {
		return true
	}
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

// isExtendedQuotaName reports whether a quota name is requests.<extended resource>.
func isExtendedQuotaName(name corev1.ResourceName) bool {
	if !strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return !isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix+deviceClassPrefix)
}

func serviceUsage(svc *corev1.Service) corev1.ResourceList {
	usage := corev1.ResourceList{
		countServices:                        count(1),
		corev1.ResourceServices:              count(1),
		corev1.ResourceServicesLoadBalancers: count(0),
		corev1.ResourceServicesNodePorts:     count(0),
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		usage[corev1.ResourceServicesNodePorts] = count(int64(len(svc.Spec.Ports)))
	case corev1.ServiceTypeLoadBalancer:
		ports := len(svc.Spec.Ports)
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
			// No node ports are allocated: only those asked for explicitly count.
			ports = 0
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					ports++
				}
			}
		}
		usage[corev1.ResourceServicesNodePorts] = count(int64(ports))
		usage[corev1.ResourceServicesLoadBalancers] = count(1)
	}
	return usage
}

func pvcUsage(pvc *corev1.PersistentVolumeClaim) corev1.ResourceList {
	usage := corev1.ResourceList{
		corev1.ResourcePersistentVolumeClaims: count(1),
		countPVCs:                             count(1),
	}
	class := storagehelpers.GetPersistentVolumeClaimClass(pvc)
	if class != "" {
		usage[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = count(1)
	}
	if storage, ok := pvcStorage(pvc); ok {
		usage[corev1.ResourceRequestsStorage] = storage
		if class != "" {
			usage[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourceRequestsStorage))] = storage.DeepCopy()
		}
	}
	return usage
}

// pvcStorage is the claim's storage request, or the capacity allocated to it if larger (a
// failed expansion being recovered from), in whole bytes.
func pvcStorage(pvc *corev1.PersistentVolumeClaim) (resource.Quantity, bool) {
	req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return resource.Quantity{}, false
	}
	storage := req.DeepCopy()
	if allocated, ok := pvc.Status.AllocatedResources[corev1.ResourceStorage]; ok && allocated.Cmp(storage) > 0 {
		storage = allocated.DeepCopy()
	}
	storage.RoundUp(0)
	return storage, true
}

// MatchingResources returns the names among names that objects of gr can count under, in
// their order: for pods the compute resources, "pods" and "count/pods" (hugepages and
// requests.<extended resource> included); for services, claims and the legacy kinds their
// names above; for any other resource its count/ name.
func MatchingResources(gr schema.GroupResource, names []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	seen := sets.New[corev1.ResourceName]()
	for _, name := range names {
		if seen.Has(name) || !tracks(gr, name) {
			continue
		}
		seen.Insert(name)
		out = append(out, name)
	}
	return out
}

func tracks(gr schema.GroupResource, name corev1.ResourceName) bool {
	if name == ObjectCountName(gr) {
		return true
	}
	if gr.Group != "" {
		return false
	}
	switch gr.Resource {
	case podsResource.Resource:
		return podResources.Has(name) ||
			strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) ||
			strings.HasPrefix(string(name), corev1.ResourceRequestsHugePagesPrefix) ||
			isExtendedQuotaName(name)
	case servicesResource.Resource:
		return serviceResources.Has(name)
	case pvcsResource.Resource:
		for _, r := range pvcResources {
			if name == r || strings.HasSuffix(string(name), storageClassSuffix+string(r)) {
				return true
			}
		}
		return false
	}
	alias, ok := legacyNames[gr.Resource]
	return ok && name == alias
}

// Matches reports whether quota q applies to obj (a resource of gr) by its scopes: every
// entry of spec.scopes (as an Exists selector) and of spec.scopeSelector must match. A quota
// without scopes matches everything; scopes match only pods (and VolumeAttributesClass only
// PersistentVolumeClaims), so a scoped quota applies to no other object. Matches does not
// look at the quota's hard names: MatchingResources tells which of them obj's kind can use.
func Matches(q *corev1.ResourceQuota, gr schema.GroupResource, obj runtime.Object) bool {
	if q == nil {
		return false
	}
	for _, sel := range scopeSelectors(q) {
		if !matchesScope(sel, gr, obj) {
			return false
		}
	}
	return true
}

// scopeSelectors gathers spec.scopes and spec.scopeSelector as selector requirements.
func scopeSelectors(q *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range q.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		out = append(out, q.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

func matchesScope(sel corev1.ScopedResourceSelectorRequirement, gr schema.GroupResource, obj runtime.Object) bool {
	if gr.Group != "" {
		return false
	}
	switch gr.Resource {
	case podsResource.Resource:
		if pod, ok := obj.(*corev1.Pod); ok && pod != nil {
			return podMatchesScope(sel, pod)
		}
	case pvcsResource.Resource:
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok && pvc != nil {
			return pvcMatchesScope(sel, pvc)
		}
	}
	return false
}

func podMatchesScope(sel corev1.ScopedResourceSelectorRequirement, pod *corev1.Pod) bool {
	// As upstream, the boolean scopes ignore the operator (validation allows only Exists).
	switch sel.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return isTerminating(pod)
	case corev1.ResourceQuotaScopeNotTerminating:
		return !isTerminating(pod)
	case corev1.ResourceQuotaScopeBestEffort:
		return isBestEffort(pod)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !isBestEffort(pod)
	case corev1.ResourceQuotaScopePriorityClass:
		name := pod.Spec.PriorityClassName
		return valueMatches(sel, name, name != "")
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return usesCrossNamespaceAffinity(pod)
	}
	return false
}

func pvcMatchesScope(sel corev1.ScopedResourceSelectorRequirement, pvc *corev1.PersistentVolumeClaim) bool {
	if sel.ScopeName != corev1.ResourceQuotaScopeVolumeAttributesClass {
		return false
	}
	// A claim is of every class it asks for, has or is being modified to.
	classes := sets.New[string]()
	if c := pvc.Spec.VolumeAttributesClassName; c != nil && *c != "" {
		classes.Insert(*c)
	}
	if c := pvc.Status.CurrentVolumeAttributesClassName; c != nil && *c != "" {
		classes.Insert(*c)
	}
	if m := pvc.Status.ModifyVolumeStatus; m != nil && m.TargetVolumeAttributesClassName != "" {
		classes.Insert(m.TargetVolumeAttributesClassName)
	}
	if classes.Len() == 0 {
		return valueMatches(sel, "", false)
	}
	for _, c := range sets.List(classes) {
		if valueMatches(sel, c, true) {
			return true
		}
	}
	return false
}

// valueMatches evaluates a selector requirement as a label requirement on one key that has
// value when present.
func valueMatches(sel corev1.ScopedResourceSelectorRequirement, value string, present bool) bool {
	switch sel.Operator {
	case corev1.ScopeSelectorOpIn:
		return present && slices.Contains(sel.Values, value)
	case corev1.ScopeSelectorOpNotIn:
		return !present || !slices.Contains(sel.Values, value)
	case corev1.ScopeSelectorOpExists:
		return present
	case corev1.ScopeSelectorOpDoesNotExist:
		return !present
	}
	return false
}

func isTerminating(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// isBestEffort: the pod's recorded QoS class, else the one its resources give — no cpu or
// memory request or limit above zero, read from pod-level resources when the pod has them
// and from its app and init containers otherwise.
func isBestEffort(pod *corev1.Pod) bool {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass == corev1.PodQOSBestEffort
	}
	if pod.Spec.Resources != nil {
		return !setsCompute(pod.Spec.Resources)
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if setsCompute(&cs[i].Resources) {
				return false
			}
		}
	}
	return true
}

func setsCompute(r *corev1.ResourceRequirements) bool {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
			if q, ok := list[name]; ok && q.Sign() > 0 {
				return true
			}
		}
	}
	return false
}

func usesCrossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	cross := func(t *corev1.PodAffinityTerm) bool { return len(t.Namespaces) != 0 || t.NamespaceSelector != nil }
	check := func(required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm) bool {
		for i := range required {
			if cross(&required[i]) {
				return true
			}
		}
		for i := range preferred {
			if cross(&preferred[i].PodAffinityTerm) {
				return true
			}
		}
		return false
	}
	if pa := a.PodAffinity; pa != nil && check(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution) {
		return true
	}
	if pa := a.PodAntiAffinity; pa != nil && check(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution) {
		return true
	}
	return false
}

// MissingResources lists, for a pod a quota with hard names applies to, the compute
// resources hard tracks that some container does not set, worded as upstream's admission
// message pieces ("<resource> for: <container>,<container>", by resource then container
// name): e.g. []string{"limits.cpu for: app", "limits.memory for: app,sidecar"}. Only cpu
// and memory (plain, requests. and limits.) are required, of app and init containers; a pod
// with pod-level resources need not set any. Empty when nothing is missing. Upstream's
// admission refuses the pod with "failed quota: <quota>: must specify " + the pieces joined
// by "; ".
func MissingResources(hard corev1.ResourceList, pod *corev1.Pod) []string {
	if pod == nil || resourcehelper.IsPodLevelResourcesSet(pod) {
		return nil
	}
	var required []corev1.ResourceName
	for name := range hard {
		if validationSet.Has(name) {
			required = append(required, name)
		}
	}
	if len(required) == 0 {
		return nil
	}
	missing := map[corev1.ResourceName]sets.Set[string]{}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			has := computeUsage(cs[i].Resources.Requests, cs[i].Resources.Limits)
			for _, name := range required {
				if _, ok := has[name]; ok {
					continue
				}
				if missing[name] == nil {
					missing[name] = sets.New[string]()
				}
				missing[name].Insert(cs[i].Name)
			}
		}
	}
	var out []string
	for _, name := range sortedNames(missing) {
		out = append(out, fmt.Sprintf("%s for: %s", name, strings.Join(sets.List(missing[name]), ",")))
	}
	return out
}

func sortedNames[V any](m map[corev1.ResourceName]V) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Mask keeps the entries of usage whose names hard lists (copies; never nil).
func Mask(usage, hard corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range usage {
		if _, ok := hard[name]; ok {
			out[name] = q.DeepCopy()
		}
	}
	return out
}

// Add returns a + b: the names of either, summed where both have them.
func Add(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range a {
		out[name] = q.DeepCopy()
	}
	for name, q := range b {
		sum := out[name]
		sum.Add(q)
		out[name] = sum
	}
	return out
}

// Subtract returns a - b: the names of either (a name only b has comes out negative).
func Subtract(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range a {
		out[name] = q.DeepCopy()
	}
	for name, q := range b {
		diff := out[name]
		diff.Sub(q)
		out[name] = diff
	}
	return out
}

// SubtractNonNegative returns a - b with negative results as 0 (upstream's
// SubtractWithNonNegativeResult, what an update is charged for most resources).
func SubtractNonNegative(a, b corev1.ResourceList) corev1.ResourceList {
	out := Subtract(a, b)
	for name, q := range out {
		if q.Sign() < 0 {
			out[name] = count(0)
		}
	}
	return out
}

// RemoveZeros returns the entries of a that are not zero.
func RemoveZeros(a corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range a {
		if !q.IsZero() {
			out[name] = q.DeepCopy()
		}
	}
	return out
}

// Equals reports whether a and b have the same names with equal quantities (a nil and an
// empty list are equal).
func Equals(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		o, ok := b[name]
		if !ok || q.Cmp(o) != 0 {
			return false
		}
	}
	return true
}

// Exceeded returns, sorted, the names hard limits that requested asks for (non-zero) where
// used + requested > hard; a name missing from used counts as 0. Names hard does not list
// are not limited; zero requests never exceed, even where usage already does (upstream
// admission drops them before it compares).
func Exceeded(used, hard, requested corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for name, req := range requested {
		limit, ok := hard[name]
		if !ok || req.IsZero() {
			continue
		}
		total := used[name].DeepCopy()
		total.Add(req)
		if total.Cmp(limit) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
