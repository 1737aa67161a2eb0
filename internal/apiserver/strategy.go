package apiserver

import (
	"reflect"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The strategy: what the server sets on its own when objects are created, updated and deleted.
// Spec and status are found by reflection (every API type names them Spec and Status), so one
// rule serves every resource; type-specific rules follow in the switch statements.

func generateName(base string) string {
	const maxNameLength, randomLength = 63, 5
	if len(base) > maxNameLength-randomLength {
		base = base[:maxNameLength-randomLength]
	}
	if f := nameSuffix.Load(); f != nil {
		return base + (*f)()
	}
	return base + utilrand.String(randomLength)
}

// nameSuffix, when set (by tests), replaces the random suffix of generated names.
var nameSuffix atomic.Pointer[func() string]

// structField returns the named field of the struct obj points to, or an invalid Value.
func structField(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

func copyField(dst, src runtime.Object, name string) {
	d, s := structField(dst, name), structField(src, name)
	if d.IsValid() && s.IsValid() && d.CanSet() {
		d.Set(s)
	}
}

func resetField(obj runtime.Object, name string) {
	f := structField(obj, name)
	if f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

func hasSpec(obj runtime.Object) bool { return structField(obj, "Spec").IsValid() }

// prepareCreate sets what the server owns on a new object.
func prepareCreate(res *resource, a metav1.Object, obj runtime.Object) {
	a.SetUID(types.UID(uuid.NewUUID()))
	a.SetCreationTimestamp(metav1.NewTime(time.Now().UTC().Truncate(time.Second)))
	a.SetResourceVersion("")
	a.SetDeletionTimestamp(nil)
	a.SetDeletionGracePeriodSeconds(nil)
	a.SetSelfLink("")
	a.SetManagedFields(nil)
	if hasSpec(obj) {
		a.SetGeneration(1)
	} else {
		a.SetGeneration(0)
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		prepareCRCreate(res, u)
		return
	}
	if res.status {
		switch res.gr.Resource {
		case "nodes", "persistentvolumes", "namespaces":
			// Their creators may set the initial status (nodes report capacity at registration).
		default:
			resetField(obj, "Status")
		}
	}
	normalize(obj)
	prepareAPIServiceCreate(obj)
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&o.Spec)}
	case *corev1.Namespace:
		o.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
		o.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
		setNamespaceLabel(o)
	case *corev1.PersistentVolume:
		o.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
	case *corev1.PersistentVolumeClaim:
		o.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
	case *batchv1.Job:
		generateJobSelector(o)
	case *autoscalingv1.HorizontalPodAutoscaler:
		prepareHPAv1Create(o)
	case *appsv1.Deployment, *appsv1.ReplicaSet, *appsv1.StatefulSet, *appsv1.DaemonSet:
	}
}

// normalize rewrites write-only input fields into the fields they stand for, as Kubernetes'
// conversion to its internal types does: a Secret's stringData is merged into data (winning
// over data for the same key) and never stored.
func normalize(obj runtime.Object) {
	if sec, ok := obj.(*corev1.Secret); ok && sec.StringData != nil {
		if sec.Data == nil && len(sec.StringData) > 0 {
			sec.Data = make(map[string][]byte, len(sec.StringData))
		}
		for k, v := range sec.StringData {
			sec.Data[k] = []byte(v)
		}
		sec.StringData = nil
	}
}

func setNamespaceLabel(ns *corev1.Namespace) {
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

// generateJobSelector gives a Job without manualSelector the selector and labels the job
// controller relies on, keyed by the Job's UID.
func generateJobSelector(job *batchv1.Job) {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	uid := string(job.UID)
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	l := job.Spec.Template.Labels
	l[batchv1.ControllerUidLabel] = uid
	l[batchv1.JobNameLabel] = job.Name
	l["controller-uid"] = uid
	l["job-name"] = job.Name
	job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: uid}}
}

// qosClass computes a pod's QoS class from its containers' requests and limits.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	any := false
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range containers {
		for name, q := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				continue
			}
			if !q.IsZero() {
				any = true
				requests[name] = q
			}
		}
		found := map[corev1.ResourceName]bool{}
		for name, q := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				continue
			}
			if !q.IsZero() {
				any = true
				found[name] = true
				limits[name] = q
			}
		}
		if !found[corev1.ResourceCPU] || !found[corev1.ResourceMemory] {
			guaranteed = false
		}
		for name, req := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				continue
			}
			if lim, ok := c.Resources.Limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// prepareUpdate keeps what an update of the object (or of its status) may not change.
func prepareUpdate(res *resource, subresource string, obj, old runtime.Object) {
	a, _ := metaAccessor(obj)
	o, _ := metaAccessor(old)
	// Metadata the server owns.
	a.SetUID(o.GetUID())
	a.SetCreationTimestamp(o.GetCreationTimestamp())
	a.SetDeletionTimestamp(o.GetDeletionTimestamp())
	a.SetDeletionGracePeriodSeconds(o.GetDeletionGracePeriodSeconds())
	a.SetGeneration(o.GetGeneration())
	a.SetSelfLink("")
	if a.GetManagedFields() == nil {
		a.SetManagedFields(o.GetManagedFields())
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		if ou, ok := old.(*unstructured.Unstructured); ok {
			prepareCRUpdate(res, subresource, u, ou)
		}
		return
	}
	if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok {
		prepareCSRUpdate(subresource, csr, old.(*certificatesv1.CertificateSigningRequest))
		return
	}
	if h, ok := obj.(*autoscalingv1.HorizontalPodAutoscaler); ok {
		prepareHPAv1Update(subresource, h, old.(*autoscalingv1.HorizontalPodAutoscaler))
	}
	prepareAPIServiceUpdate(subresource, obj, old)
	switch subresource {
	case "status":
		copyField(obj, old, "Spec")
		if res.gr.Resource == "namespaces" {
			// Namespace status writes keep the namespace's labels.
			a.SetLabels(o.GetLabels())
		}
	case "ephemeralcontainers":
		// Only the ephemeral containers change; the rest of the pod, metadata included,
		// stays as it is.
		if p, ok := obj.(*corev1.Pod); ok {
			o := old.(*corev1.Pod)
			eph := p.Spec.EphemeralContainers
			p.Spec, p.Status = *o.Spec.DeepCopy(), *o.Status.DeepCopy()
			p.Spec.EphemeralContainers = eph
			a.SetLabels(o.Labels)
			a.SetAnnotations(o.Annotations)
			a.SetFinalizers(o.Finalizers)
			a.SetOwnerReferences(o.OwnerReferences)
		}
	case "resize":
		if p, ok := obj.(*corev1.Pod); ok {
			prepareResize(p, old.(*corev1.Pod))
		}
	case "finalize":
		copyField(obj, old, "Status")
		if ns, ok := obj.(*corev1.Namespace); ok {
			finalizers := ns.Spec.Finalizers
			ns.Spec = old.(*corev1.Namespace).Spec
			ns.Spec.Finalizers = finalizers
			a.SetLabels(o.GetLabels())
			a.SetAnnotations(o.GetAnnotations())
		}
	default:
		if res.status {
			copyField(obj, old, "Status")
		}
		if ns, ok := obj.(*corev1.Namespace); ok {
			ns.Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
			setNamespaceLabel(ns)
		}
		if hasSpec(obj) && !equality.Semantic.DeepEqual(structField(obj, "Spec").Interface(), structField(old, "Spec").Interface()) {
			a.SetGeneration(o.GetGeneration() + 1)
		}
		normalize(obj)
		switch n := obj.(type) {
		case *corev1.Service:
			dropTypeDependentFields(n, old.(*corev1.Service))
			keepAllocated(n, old.(*corev1.Service))
		case *corev1.Pod:
			n.Status = old.(*corev1.Pod).Status
		}
	}
}

// dropTypeDependentFields clears, when a Service changes type, the fields the old type
// needed that the user did not touch (node ports, health-check node port,
// allocateLoadBalancerNodePorts, loadBalancerClass, externalTrafficPolicy) and a
// LoadBalancer's status, as Kubernetes does; otherwise `kubectl patch` of the type alone
// would be refused.
func dropTypeDependentFields(svc, old *corev1.Service) {
	if needsNodePorts(old) && !needsNodePorts(svc) && sameNodePorts(svc, old) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	needsHC := func(s *corev1.Service) bool {
		return s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	}
	if needsHC(old) && !needsHC(svc) && svc.Spec.HealthCheckNodePort == old.Spec.HealthCheckNodePort {
		svc.Spec.HealthCheckNodePort = 0
	}
	isLB := func(s *corev1.Service) bool { return s.Spec.Type == corev1.ServiceTypeLoadBalancer }
	if isLB(old) && !isLB(svc) && equality.Semantic.DeepEqual(svc.Spec.AllocateLoadBalancerNodePorts, old.Spec.AllocateLoadBalancerNodePorts) {
		svc.Spec.AllocateLoadBalancerNodePorts = nil
	}
	if isLB(old) && !isLB(svc) && equality.Semantic.DeepEqual(svc.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass) {
		svc.Spec.LoadBalancerClass = nil
	}
	external := func(s *corev1.Service) bool {
		return s.Spec.Type == corev1.ServiceTypeLoadBalancer || s.Spec.Type == corev1.ServiceTypeNodePort ||
			(s.Spec.Type == corev1.ServiceTypeClusterIP && len(s.Spec.ExternalIPs) > 0)
	}
	if external(old) && !external(svc) && svc.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	if isLB(old) && !isLB(svc) {
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
}

func sameNodePorts(a, b *corev1.Service) bool {
	for _, p := range a.Spec.Ports {
		if p.NodePort == 0 {
			continue
		}
		found := false
		for _, q := range b.Spec.Ports {
			found = found || q.NodePort == p.NodePort
		}
		if !found {
			return false
		}
	}
	return true
}

// keepAllocated carries allocated addresses and ports into an update that omits them, as
// Kubernetes does, so that re-applying a manifest without clusterIP keeps the Service's IP.
func keepAllocated(svc, old *corev1.Service) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	if svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		if len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
	}
	if len(svc.Spec.ClusterIPs) == 0 && svc.Spec.ClusterIP == old.Spec.ClusterIP {
		svc.Spec.ClusterIPs = old.Spec.ClusterIPs
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = old.Spec.IPFamilies
	}
	if svc.Spec.IPFamilyPolicy == nil {
		svc.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
	}
	if needsNodePorts(svc) && needsNodePorts(old) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range old.Spec.Ports {
				if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 {
					p.NodePort = op.NodePort
					break
				}
			}
		}
	}
	if svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

// gracePeriod is the grace period a delete request gives the object: pods bound to a node get
// their terminationGracePeriodSeconds (or the request's), so the kubelet can stop them.
func gracePeriod(res *resource, obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0
	}
	// Pods never scheduled, or already finished, have nothing to stop.
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		return *opts.GracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// onMarkedForDeletion updates a type's status when it starts terminating.
func onMarkedForDeletion(res *resource, obj runtime.Object) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceTerminating
	}
}

func metaAccessor(obj runtime.Object) (metav1.Object, error) {
	type objectMetaAccessor interface{ GetObjectMeta() metav1.Object }
	if a, ok := obj.(objectMetaAccessor); ok {
		return a.GetObjectMeta(), nil
	}
	if a, err := meta.Accessor(obj); err == nil {
		return a, nil
	}
	return nil, field.InternalError(nil, nil)
}

// prepareResize keeps of a write to pods/resize only what resizing may change — the
// containers' (and sidecars') resources and resize policies — as upstream drops the rest,
// and counts the change in the pod's generation.
func prepareResize(p, old *corev1.Pod) {
	spec := old.Spec.DeepCopy()
	take := func(dst, src []corev1.Container) {
		for i := range dst {
			for j := range src {
				if src[j].Name == dst[i].Name {
					dst[i].Resources = *src[j].Resources.DeepCopy()
					dst[i].ResizePolicy = src[j].ResizePolicy
				}
			}
		}
	}
	take(spec.Containers, p.Spec.Containers)
	take(spec.InitContainers, p.Spec.InitContainers)
	p.Spec, p.Status = *spec, *old.Status.DeepCopy()
	p.Labels, p.Annotations = old.Labels, old.Annotations
	p.Finalizers, p.OwnerReferences = old.Finalizers, old.OwnerReferences
	if !equality.Semantic.DeepEqual(p.Spec, old.Spec) {
		p.Generation = old.Generation + 1
	}
}
