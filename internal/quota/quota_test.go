package quota

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// list builds a ResourceList from name, quantity pairs.
func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func sidecar(name string, requests, limits corev1.ResourceList) corev1.Container {
	c := container(name, requests, limits)
	c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	return c
}

func podWith(containers []corev1.Container, initContainers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec:       corev1.PodSpec{Containers: containers, InitContainers: initContainers},
	}
}

var (
	podsGR     = schema.GroupResource{Resource: "pods"}
	servicesGR = schema.GroupResource{Resource: "services"}
	pvcsGR     = schema.GroupResource{Resource: "persistentvolumeclaims"}
)

func TestUsagePods(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		pod  func() *corev1.Pod
		want corev1.ResourceList
	}{
		{
			name: "best effort",
			pod:  func() *corev1.Pod { return podWith([]corev1.Container{container("app", nil, nil)}) },
			want: list("count/pods", "1", "pods", "1"),
		},
		{
			name: "requests and limits summed over containers",
			pod: func() *corev1.Pod {
				return podWith([]corev1.Container{
					container("a", list("cpu", "100m", "memory", "64Mi", "ephemeral-storage", "1Gi"), list("cpu", "200m", "memory", "128Mi")),
					container("b", list("cpu", "300m", "memory", "64Mi"), list("cpu", "1", "memory", "128Mi", "ephemeral-storage", "2Gi")),
				})
			},
			want: list("count/pods", "1", "pods", "1",
				"cpu", "400m", "requests.cpu", "400m", "limits.cpu", "1200m",
				"memory", "128Mi", "requests.memory", "128Mi", "limits.memory", "256Mi",
				"ephemeral-storage", "1Gi", "requests.ephemeral-storage", "1Gi", "limits.ephemeral-storage", "2Gi"),
		},
		{
			name: "init container peak wins",
			pod: func() *corev1.Pod {
				return podWith([]corev1.Container{container("app", list("cpu", "100m"), list("cpu", "100m"))},
					container("init", list("cpu", "2"), list("cpu", "3")))
			},
			want: list("count/pods", "1", "pods", "1", "cpu", "2", "requests.cpu", "2", "limits.cpu", "3"),
		},
		{
			name: "app containers win over a small init",
			pod: func() *corev1.Pod {
				return podWith([]corev1.Container{container("a", list("memory", "1Gi"), nil), container("b", list("memory", "1Gi"), nil)},
					container("init", list("memory", "1500Mi"), nil))
			},
			want: list("count/pods", "1", "pods", "1", "memory", "2Gi", "requests.memory", "2Gi"),
		},
		{
			name: "sidecar adds to apps and to later init containers",
			pod: func() *corev1.Pod {
				return podWith([]corev1.Container{container("app", list("cpu", "100m"), nil)},
					sidecar("proxy", list("cpu", "50m"), nil),
					container("migrate", list("cpu", "500m"), nil))
			},
			// max(100m + 50m, 50m + 500m)
			want: list("count/pods", "1", "pods", "1", "cpu", "550m", "requests.cpu", "550m"),
		},
		{
			name: "sidecar after the init container",
			pod: func() *corev1.Pod {
				return podWith([]corev1.Container{container("app", list("cpu", "100m"), nil)},
					container("migrate", list("cpu", "500m"), nil),
					sidecar("proxy", list("cpu", "50m"), nil))
			},
			want: list("count/pods", "1", "pods", "1", "cpu", "500m", "requests.cpu", "500m"),
		},
		{
			name: "overhead on requests and on set limits",
			pod: func() *corev1.Pod {
				p := podWith([]corev1.Container{container("app", list("cpu", "1", "memory", "1Gi"), list("cpu", "2"))})
				p.Spec.Overhead = list("cpu", "250m", "memory", "120Mi")
				return p
			},
			want: list("count/pods", "1", "pods", "1",
				"cpu", "1250m", "requests.cpu", "1250m", "limits.cpu", "2250m",
				"memory", "1144Mi", "requests.memory", "1144Mi"),
		},
		{
			name: "pod-level resources replace the containers'",
			pod: func() *corev1.Pod {
				p := podWith([]corev1.Container{container("app", list("cpu", "100m", "memory", "64Mi"), nil)})
				p.Spec.Resources = &corev1.ResourceRequirements{Requests: list("cpu", "2"), Limits: list("cpu", "4", "memory", "1Gi")}
				return p
			},
			want: list("count/pods", "1", "pods", "1",
				"cpu", "2", "requests.cpu", "2", "limits.cpu", "4",
				"memory", "64Mi", "requests.memory", "64Mi", "limits.memory", "1Gi"),
		},
		{
			name: "hugepages, extended and device-class resources",
			pod: func() *corev1.Pod {
				return podWith([]corev1.Container{container("app",
					list("hugepages-2Mi", "4Mi", "example.com/gpu", "2", "deviceclass.resource.kubernetes.io/gpu.example.com", "1", "kubernetes.io/native", "1"),
					list("hugepages-2Mi", "4Mi", "example.com/gpu", "2"))})
			},
			want: list("count/pods", "1", "pods", "1",
				"hugepages-2Mi", "4Mi", "requests.hugepages-2Mi", "4Mi",
				"requests.example.com/gpu", "2", "requests.deviceclass.resource.kubernetes.io/gpu.example.com", "1"),
		},
		{
			name: "resize in progress counts the larger of spec and actuated",
			pod: func() *corev1.Pod {
				p := podWith([]corev1.Container{container("app", list("cpu", "500m"), list("cpu", "500m"))})
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
					AllocatedResources: list("cpu", "1"),
					Resources:          &corev1.ResourceRequirements{Requests: list("cpu", "1"), Limits: list("cpu", "1")}}}
				return p
			},
			want: list("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1", "limits.cpu", "1"),
		},
		{
			name: "succeeded counts only count/pods",
			pod: func() *corev1.Pod {
				p := podWith([]corev1.Container{container("app", list("cpu", "1"), nil)})
				p.Status.Phase = corev1.PodSucceeded
				return p
			},
			want: list("count/pods", "1"),
		},
		{
			name: "failed counts only count/pods",
			pod: func() *corev1.Pod {
				p := podWith([]corev1.Container{container("app", list("cpu", "1"), nil)})
				p.Status.Phase = corev1.PodFailed
				return p
			},
			want: list("count/pods", "1"),
		},
		{
			name: "deleted, grace period passed",
			pod: func() *corev1.Pod {
				p := podWith([]corev1.Container{container("app", list("cpu", "1"), nil)})
				p.DeletionTimestamp = &metav1.Time{Time: now.Add(-31 * time.Second)}
				p.DeletionGracePeriodSeconds = ptr.To[int64](30)
				return p
			},
			want: list("count/pods", "1"),
		},
		{
			name: "deleted, within grace period",
			pod: func() *corev1.Pod {
				p := podWith([]corev1.Container{container("app", list("cpu", "1"), nil)})
				p.DeletionTimestamp = &metav1.Time{Time: now.Add(-10 * time.Second)}
				p.DeletionGracePeriodSeconds = ptr.To[int64](30)
				return p
			},
			want: list("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod()
			before := pod.DeepCopy()
			got := usageAt(podsGR, pod, now)
			if !Equals(got, tc.want) {
				t.Errorf("usage:\ngot  %v\nwant %v", got, tc.want)
			}
			if !equalPods(before, pod) {
				t.Error("usage modified the pod")
			}
		})
	}
}

func equalPods(a, b *corev1.Pod) bool {
	return equality.Semantic.DeepEqual(a, b)
}

func TestUsageNow(t *testing.T) {
	p := podWith([]corev1.Container{container("app", list("cpu", "1"), nil)})
	p.DeletionTimestamp = &metav1.Time{Time: time.Now().Add(-time.Hour)}
	p.DeletionGracePeriodSeconds = ptr.To[int64](30)
	if got, want := Usage(podsGR, p), list("count/pods", "1"); !Equals(got, want) {
		t.Errorf("Usage of a pod past its grace period = %v, want %v", got, want)
	}
	p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	if got := Usage(podsGR, p); !Equals(Mask(got, list("requests.cpu", "0")), list("requests.cpu", "1")) {
		t.Errorf("Usage of a pod in its grace period = %v, want requests.cpu 1", got)
	}
}

func TestPodCharged(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := podWith(nil)
	if ok, until := PodCharged(p, now); !ok || !until.IsZero() {
		t.Errorf("running pod: %v %v", ok, until)
	}
	p.DeletionTimestamp = &metav1.Time{Time: now}
	p.DeletionGracePeriodSeconds = ptr.To[int64](30)
	if ok, until := PodCharged(p, now); !ok || !until.Equal(now.Add(30*time.Second)) {
		t.Errorf("terminating pod: %v %v", ok, until)
	}
	if ok, _ := PodCharged(p, now.Add(31*time.Second)); ok {
		t.Error("pod past its grace period is charged")
	}
}

func TestUsageServices(t *testing.T) {
	ports := func(nodePorts ...int32) []corev1.ServicePort {
		var out []corev1.ServicePort
		for i, np := range nodePorts {
			out = append(out, corev1.ServicePort{Port: int32(80 + i), NodePort: np})
		}
		return out
	}
	tests := []struct {
		name string
		spec corev1.ServiceSpec
		want corev1.ResourceList
	}{
		{"cluster IP", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports(0)},
			list("services", "1", "count/services", "1", "services.nodeports", "0", "services.loadbalancers", "0")},
		{"external name", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName},
			list("services", "1", "count/services", "1", "services.nodeports", "0", "services.loadbalancers", "0")},
		{"node port", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: ports(30001, 30002)},
			list("services", "1", "count/services", "1", "services.nodeports", "2", "services.loadbalancers", "0")},
		{"load balancer", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports(0, 0, 0)},
			list("services", "1", "count/services", "1", "services.nodeports", "3", "services.loadbalancers", "1")},
		{"load balancer without node ports", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			AllocateLoadBalancerNodePorts: ptr.To(false), Ports: ports(0, 30005, 0)},
			list("services", "1", "count/services", "1", "services.nodeports", "1", "services.loadbalancers", "1")},
		{"load balancer allocating node ports", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			AllocateLoadBalancerNodePorts: ptr.To(true), Ports: ports(0, 0)},
			list("services", "1", "count/services", "1", "services.nodeports", "2", "services.loadbalancers", "1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Usage(servicesGR, &corev1.Service{Spec: tc.spec})
			if !Equals(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUsagePVCs(t *testing.T) {
	claim := func(mod func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
			Resources: corev1.VolumeResourceRequirements{Requests: list("storage", "10Gi")}}}
		mod(c)
		return c
	}
	const gold = "gold.storageclass.storage.k8s.io/"
	tests := []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		want corev1.ResourceList
	}{
		{"no class", claim(func(*corev1.PersistentVolumeClaim) {}),
			list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "10Gi")},
		{"class", claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr.To("gold") }),
			list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "10Gi",
				gold+"persistentvolumeclaims", "1", gold+"requests.storage", "10Gi")},
		{"empty class", claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr.To("") }),
			list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "10Gi")},
		{"beta annotation wins", claim(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.StorageClassName = ptr.To("silver")
			c.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "gold"}
		}), list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "10Gi",
			gold+"persistentvolumeclaims", "1", gold+"requests.storage", "10Gi")},
		{"no storage request", claim(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests = nil
			c.Spec.StorageClassName = ptr.To("gold")
		}), list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", gold+"persistentvolumeclaims", "1")},
		{"larger allocation", claim(func(c *corev1.PersistentVolumeClaim) {
			c.Status.AllocatedResources = list("storage", "20Gi")
		}), list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "20Gi")},
		{"smaller allocation", claim(func(c *corev1.PersistentVolumeClaim) {
			c.Status.AllocatedResources = list("storage", "5Gi")
		}), list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "10Gi")},
		{"fractional bytes round up", claim(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests = list("storage", "1500m")
		}), list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Usage(pvcsGR, tc.pvc)
			if !Equals(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUsageObjectCounts(t *testing.T) {
	tests := []struct {
		gr   schema.GroupResource
		obj  runtime.Object
		want corev1.ResourceList
	}{
		{schema.GroupResource{Resource: "configmaps"}, &corev1.ConfigMap{}, list("configmaps", "1", "count/configmaps", "1")},
		{schema.GroupResource{Resource: "secrets"}, &corev1.Secret{}, list("secrets", "1", "count/secrets", "1")},
		{schema.GroupResource{Resource: "replicationcontrollers"}, &corev1.ReplicationController{},
			list("replicationcontrollers", "1", "count/replicationcontrollers", "1")},
		{schema.GroupResource{Resource: "resourcequotas"}, &corev1.ResourceQuota{}, list("resourcequotas", "1", "count/resourcequotas", "1")},
		{schema.GroupResource{Resource: "serviceaccounts"}, &corev1.ServiceAccount{}, list("count/serviceaccounts", "1")},
		{schema.GroupResource{Group: "apps", Resource: "deployments"}, &unstructured.Unstructured{}, list("count/deployments.apps", "1")},
		{schema.GroupResource{Group: "example.com", Resource: "widgets"}, nil, list("count/widgets.example.com", "1")},
		// An object of an unexpected type still counts as one.
		{podsGR, &unstructured.Unstructured{}, list("count/pods", "1")},
	}
	for _, tc := range tests {
		if got := Usage(tc.gr, tc.obj); !Equals(got, tc.want) {
			t.Errorf("Usage(%v) = %v, want %v", tc.gr, got, tc.want)
		}
	}
}

func TestObjectCountNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		gr   schema.GroupResource
		ok   bool
	}{
		{"count/pods", podsGR, true},
		{"count/deployments.apps", schema.GroupResource{Group: "apps", Resource: "deployments"}, true},
		{"count/widgets.example.com", schema.GroupResource{Group: "example.com", Resource: "widgets"}, true},
		{"count/", schema.GroupResource{}, false},
		{"count/.apps", schema.GroupResource{}, false},
		{"pods", schema.GroupResource{}, false},
	} {
		gr, ok := ParseObjectCountName(corev1.ResourceName(tc.name))
		if ok != tc.ok || gr != tc.gr {
			t.Errorf("ParseObjectCountName(%q) = %v, %v; want %v, %v", tc.name, gr, ok, tc.gr, tc.ok)
		}
		if ok && string(ObjectCountName(gr)) != tc.name {
			t.Errorf("ObjectCountName(%v) = %q, want %q", gr, ObjectCountName(gr), tc.name)
		}
	}
}

func TestMatchingResources(t *testing.T) {
	all := []corev1.ResourceName{
		"pods", "count/pods", "cpu", "requests.cpu", "limits.cpu", "memory", "requests.memory", "limits.memory",
		"ephemeral-storage", "requests.ephemeral-storage", "limits.ephemeral-storage",
		"hugepages-2Mi", "requests.hugepages-1Gi", "requests.example.com/gpu", "requests.deviceclass.resource.kubernetes.io/gpu",
		"limits.example.com/gpu", "requests.kubernetes.io/foo",
		"services", "count/services", "services.nodeports", "services.loadbalancers",
		"persistentvolumeclaims", "count/persistentvolumeclaims", "requests.storage",
		"gold.storageclass.storage.k8s.io/requests.storage", "gold.storageclass.storage.k8s.io/persistentvolumeclaims",
		"configmaps", "count/configmaps", "secrets", "count/secrets", "replicationcontrollers", "count/replicationcontrollers",
		"resourcequotas", "count/resourcequotas", "count/deployments.apps", "count/serviceaccounts", "pods",
	}
	tests := []struct {
		gr   schema.GroupResource
		want []corev1.ResourceName
	}{
		{podsGR, []corev1.ResourceName{"pods", "count/pods", "cpu", "requests.cpu", "limits.cpu", "memory", "requests.memory", "limits.memory",
			"ephemeral-storage", "requests.ephemeral-storage", "limits.ephemeral-storage",
			"hugepages-2Mi", "requests.hugepages-1Gi", "requests.example.com/gpu", "requests.deviceclass.resource.kubernetes.io/gpu"}},
		{servicesGR, []corev1.ResourceName{"services", "count/services", "services.nodeports", "services.loadbalancers"}},
		{pvcsGR, []corev1.ResourceName{"persistentvolumeclaims", "count/persistentvolumeclaims", "requests.storage",
			"gold.storageclass.storage.k8s.io/requests.storage", "gold.storageclass.storage.k8s.io/persistentvolumeclaims"}},
		{schema.GroupResource{Resource: "configmaps"}, []corev1.ResourceName{"configmaps", "count/configmaps"}},
		{schema.GroupResource{Resource: "secrets"}, []corev1.ResourceName{"secrets", "count/secrets"}},
		{schema.GroupResource{Resource: "resourcequotas"}, []corev1.ResourceName{"resourcequotas", "count/resourcequotas"}},
		{schema.GroupResource{Group: "apps", Resource: "deployments"}, []corev1.ResourceName{"count/deployments.apps"}},
		{schema.GroupResource{Resource: "serviceaccounts"}, []corev1.ResourceName{"count/serviceaccounts"}},
		{schema.GroupResource{Resource: "endpoints"}, nil},
	}
	for _, tc := range tests {
		if got := MatchingResources(tc.gr, all); !slices.Equal(got, tc.want) {
			t.Errorf("MatchingResources(%v):\ngot  %v\nwant %v", tc.gr, got, tc.want)
		}
	}
}

func TestMatches(t *testing.T) {
	quota := func(scopes []corev1.ResourceQuotaScope, exprs ...corev1.ScopedResourceSelectorRequirement) *corev1.ResourceQuota {
		q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Scopes: scopes}}
		if exprs != nil {
			q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: exprs}
		}
		return q
	}
	scopes := func(s ...corev1.ResourceQuotaScope) []corev1.ResourceQuotaScope { return s }
	expr := func(scope corev1.ResourceQuotaScope, op corev1.ScopeSelectorOperator, values ...string) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: scope, Operator: op, Values: values}
	}
	bestEffort := podWith([]corev1.Container{container("app", nil, nil)})
	burstable := podWith([]corev1.Container{container("app", list("cpu", "100m"), nil)})
	zeroRequests := podWith([]corev1.Container{container("app", list("cpu", "0"), list("memory", "0"))})
	initOnly := podWith([]corev1.Container{container("app", nil, nil)}, container("init", nil, list("memory", "1Gi")))
	podLevel := podWith([]corev1.Container{container("app", list("cpu", "1"), nil)})
	podLevel.Spec.Resources = &corev1.ResourceRequirements{}
	recorded := burstable.DeepCopy()
	recorded.Status.QOSClass = corev1.PodQOSBestEffort
	terminating := bestEffort.DeepCopy()
	terminating.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
	high := bestEffort.DeepCopy()
	high.Spec.PriorityClassName = "high"
	low := bestEffort.DeepCopy()
	low.Spec.PriorityClassName = "low"
	affinity := func(a *corev1.Affinity) *corev1.Pod {
		p := bestEffort.DeepCopy()
		p.Spec.Affinity = a
		return p
	}
	sameNS := affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone"}}}})
	crossNS := affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone", Namespaces: []string{"other"}}}}})
	crossNSAnti := affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1,
			PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "zone", NamespaceSelector: &metav1.LabelSelector{}}}}}})
	pvc := func(spec, current, target string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{}
		if spec != "" {
			c.Spec.VolumeAttributesClassName = ptr.To(spec)
		}
		if current != "" {
			c.Status.CurrentVolumeAttributesClassName = ptr.To(current)
		}
		if target != "" {
			c.Status.ModifyVolumeStatus = &corev1.ModifyVolumeStatus{TargetVolumeAttributesClassName: target}
		}
		return c
	}
	const vac = corev1.ResourceQuotaScopeVolumeAttributesClass

	tests := []struct {
		name string
		q    *corev1.ResourceQuota
		gr   schema.GroupResource
		obj  runtime.Object
		want bool
	}{
		{"unscoped pod", quota(nil), podsGR, burstable, true},
		{"unscoped service", quota(nil), servicesGR, &corev1.Service{}, true},
		{"unscoped anything", quota(nil), schema.GroupResource{Group: "apps", Resource: "deployments"}, nil, true},
		{"BestEffort, best-effort pod", quota(scopes(corev1.ResourceQuotaScopeBestEffort)), podsGR, bestEffort, true},
		{"BestEffort, burstable pod", quota(scopes(corev1.ResourceQuotaScopeBestEffort)), podsGR, burstable, false},
		{"BestEffort, zero requests", quota(scopes(corev1.ResourceQuotaScopeBestEffort)), podsGR, zeroRequests, true},
		{"BestEffort, init container limit", quota(scopes(corev1.ResourceQuotaScopeBestEffort)), podsGR, initOnly, false},
		{"BestEffort, empty pod-level resources", quota(scopes(corev1.ResourceQuotaScopeBestEffort)), podsGR, podLevel, true},
		{"BestEffort, recorded QoS class", quota(scopes(corev1.ResourceQuotaScopeBestEffort)), podsGR, recorded, true},
		{"NotBestEffort, burstable pod", quota(scopes(corev1.ResourceQuotaScopeNotBestEffort)), podsGR, burstable, true},
		{"NotBestEffort, best-effort pod", quota(scopes(corev1.ResourceQuotaScopeNotBestEffort)), podsGR, bestEffort, false},
		{"Terminating", quota(scopes(corev1.ResourceQuotaScopeTerminating)), podsGR, terminating, true},
		{"Terminating, no deadline", quota(scopes(corev1.ResourceQuotaScopeTerminating)), podsGR, bestEffort, false},
		{"NotTerminating", quota(scopes(corev1.ResourceQuotaScopeNotTerminating)), podsGR, bestEffort, true},
		{"NotTerminating, deadline", quota(scopes(corev1.ResourceQuotaScopeNotTerminating)), podsGR, terminating, false},
		{"all scopes must match", quota(scopes(corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeTerminating)), podsGR, bestEffort, false},
		{"scopes and selector", quota(scopes(corev1.ResourceQuotaScopeTerminating),
			expr(corev1.ResourceQuotaScopeBestEffort, corev1.ScopeSelectorOpExists)), podsGR, terminating, true},
		{"selector Terminating", quota(nil, expr(corev1.ResourceQuotaScopeTerminating, corev1.ScopeSelectorOpExists)), podsGR, terminating, true},
		{"PriorityClass In", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpIn, "high", "mid")), podsGR, high, true},
		{"PriorityClass In, other class", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpIn, "high")), podsGR, low, false},
		{"PriorityClass In, no class", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpIn, "high")), podsGR, bestEffort, false},
		{"PriorityClass NotIn", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpNotIn, "high")), podsGR, low, true},
		{"PriorityClass NotIn, listed", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpNotIn, "high")), podsGR, high, false},
		{"PriorityClass NotIn, no class", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpNotIn, "high")), podsGR, bestEffort, true},
		{"PriorityClass Exists", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpExists)), podsGR, high, true},
		{"PriorityClass Exists, no class", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpExists)), podsGR, bestEffort, false},
		{"PriorityClass DoesNotExist", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpDoesNotExist)), podsGR, bestEffort, true},
		{"PriorityClass DoesNotExist, class", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, corev1.ScopeSelectorOpDoesNotExist)), podsGR, high, false},
		{"PriorityClass bad operator", quota(nil, expr(corev1.ResourceQuotaScopePriorityClass, "Gt", "high")), podsGR, high, false},
		{"PriorityClass scope (Exists)", quota(scopes(corev1.ResourceQuotaScopePriorityClass)), podsGR, high, true},
		{"CrossNamespacePodAffinity, namespaces", quota(scopes(corev1.ResourceQuotaScopeCrossNamespacePodAffinity)), podsGR, crossNS, true},
		{"CrossNamespacePodAffinity, anti-affinity selector", quota(scopes(corev1.ResourceQuotaScopeCrossNamespacePodAffinity)), podsGR, crossNSAnti, true},
		{"CrossNamespacePodAffinity, same namespace", quota(scopes(corev1.ResourceQuotaScopeCrossNamespacePodAffinity)), podsGR, sameNS, false},
		{"CrossNamespacePodAffinity, none", quota(scopes(corev1.ResourceQuotaScopeCrossNamespacePodAffinity)), podsGR, bestEffort, false},
		{"scoped quota, service", quota(scopes(corev1.ResourceQuotaScopeNotTerminating)), servicesGR, &corev1.Service{}, false},
		{"scoped quota, configmap", quota(scopes(corev1.ResourceQuotaScopeNotBestEffort)), schema.GroupResource{Resource: "configmaps"}, &corev1.ConfigMap{}, false},
		{"pod scope, claim", quota(scopes(corev1.ResourceQuotaScopeNotTerminating)), pvcsGR, pvc("gold", "", ""), false},
		{"VolumeAttributesClass In, spec", quota(nil, expr(vac, corev1.ScopeSelectorOpIn, "gold")), pvcsGR, pvc("gold", "", ""), true},
		{"VolumeAttributesClass In, current", quota(nil, expr(vac, corev1.ScopeSelectorOpIn, "gold")), pvcsGR, pvc("silver", "gold", ""), true},
		{"VolumeAttributesClass In, target", quota(nil, expr(vac, corev1.ScopeSelectorOpIn, "gold")), pvcsGR, pvc("", "silver", "gold"), true},
		{"VolumeAttributesClass In, other", quota(nil, expr(vac, corev1.ScopeSelectorOpIn, "gold")), pvcsGR, pvc("silver", "silver", ""), false},
		{"VolumeAttributesClass NotIn, none", quota(nil, expr(vac, corev1.ScopeSelectorOpNotIn, "gold")), pvcsGR, pvc("", "", ""), true},
		{"VolumeAttributesClass NotIn, only listed", quota(nil, expr(vac, corev1.ScopeSelectorOpNotIn, "gold")), pvcsGR, pvc("gold", "gold", ""), false},
		{"VolumeAttributesClass Exists", quota(nil, expr(vac, corev1.ScopeSelectorOpExists)), pvcsGR, pvc("", "gold", ""), true},
		{"VolumeAttributesClass Exists, none", quota(nil, expr(vac, corev1.ScopeSelectorOpExists)), pvcsGR, pvc("", "", ""), false},
		{"VolumeAttributesClass DoesNotExist", quota(nil, expr(vac, corev1.ScopeSelectorOpDoesNotExist)), pvcsGR, pvc("", "", ""), true},
		{"VolumeAttributesClass, pod", quota(nil, expr(vac, corev1.ScopeSelectorOpExists)), podsGR, bestEffort, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Matches(tc.q, tc.gr, tc.obj); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
	if Matches(nil, podsGR, bestEffort) {
		t.Error("a nil quota matches")
	}
}

func TestMissingResources(t *testing.T) {
	tests := []struct {
		name string
		hard corev1.ResourceList
		pod  *corev1.Pod
		want []string
	}{
		{"nothing tracked", list("pods", "10", "requests.storage", "1Gi", "requests.ephemeral-storage", "1Gi"),
			podWith([]corev1.Container{container("app", nil, nil)}), nil},
		{"all set", list("requests.cpu", "1", "limits.memory", "1Gi", "cpu", "1"),
			podWith([]corev1.Container{container("app", list("cpu", "1"), list("memory", "1Gi"))}), nil},
		{"limits missing", list("limits.cpu", "4", "limits.memory", "4Gi", "requests.cpu", "2"),
			podWith([]corev1.Container{
				container("app", list("cpu", "100m"), nil),
				container("sidecar", list("cpu", "100m"), list("cpu", "1")),
			}, container("init", list("cpu", "100m"), list("cpu", "1", "memory", "1Gi"))),
			[]string{"limits.cpu for: app", "limits.memory for: app,sidecar"}},
		{"legacy names and init containers", list("cpu", "4", "memory", "4Gi"),
			podWith([]corev1.Container{container("b", list("cpu", "1"), nil), container("a", nil, nil)}, container("init", nil, nil)),
			[]string{"cpu for: a,init", "memory for: a,b,init"}},
		{"pod-level resources exempt", list("limits.cpu", "4"),
			func() *corev1.Pod {
				p := podWith([]corev1.Container{container("app", nil, nil)})
				p.Spec.Resources = &corev1.ResourceRequirements{Limits: list("cpu", "1")}
				return p
			}(), nil},
		{"nil pod", list("limits.cpu", "4"), nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MissingResources(tc.hard, tc.pod); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestListArithmetic(t *testing.T) {
	a := list("cpu", "1", "memory", "1Gi", "pods", "2")
	b := list("cpu", "500m", "pods", "3", "services", "1")
	aCopy, bCopy := a.DeepCopy(), b.DeepCopy()

	tests := []struct {
		name      string
		got, want corev1.ResourceList
	}{
		{"Add", Add(a, b), list("cpu", "1500m", "memory", "1Gi", "pods", "5", "services", "1")},
		{"Add nil", Add(nil, b), b},
		{"Subtract", Subtract(a, b), list("cpu", "500m", "memory", "1Gi", "pods", "-1", "services", "-1")},
		{"SubtractNonNegative", SubtractNonNegative(a, b), list("cpu", "500m", "memory", "1Gi", "pods", "0", "services", "0")},
		{"Mask", Mask(a, list("cpu", "0", "services", "0")), list("cpu", "1")},
		{"Mask nil hard", Mask(a, nil), corev1.ResourceList{}},
		{"RemoveZeros", RemoveZeros(list("cpu", "0", "pods", "1", "memory", "0Mi")), list("pods", "1")},
	}
	for _, tc := range tests {
		if !Equals(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
		if tc.got == nil {
			t.Errorf("%s returned nil", tc.name)
		}
	}
	if !Equals(a, aCopy) || !Equals(b, bCopy) {
		t.Error("arguments were modified")
	}

	for _, tc := range []struct {
		name string
		a, b corev1.ResourceList
		want bool
	}{
		{"same", list("cpu", "1"), list("cpu", "1000m"), true},
		{"nil and empty", nil, corev1.ResourceList{}, true},
		{"different value", list("cpu", "1"), list("cpu", "2"), false},
		{"different names", list("cpu", "1"), list("memory", "1"), false},
		{"extra name", list("cpu", "1"), list("cpu", "1", "pods", "0"), false},
	} {
		if got := Equals(tc.a, tc.b); got != tc.want {
			t.Errorf("Equals %s = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestExceeded(t *testing.T) {
	tests := []struct {
		name                  string
		used, hard, requested corev1.ResourceList
		want                  []corev1.ResourceName
	}{
		{"fits exactly", list("pods", "4"), list("pods", "5"), list("pods", "1"), nil},
		{"over", list("pods", "5", "requests.cpu", "1500m"), list("pods", "5", "requests.cpu", "2"),
			list("pods", "1", "requests.cpu", "600m"), []corev1.ResourceName{"pods", "requests.cpu"}},
		{"sorted", list(), list("services", "0", "configmaps", "0", "pods", "0"),
			list("services", "1", "configmaps", "1", "pods", "1"), []corev1.ResourceName{"configmaps", "pods", "services"}},
		{"missing usage counts as zero", nil, list("pods", "1"), list("pods", "2"), []corev1.ResourceName{"pods"}},
		{"unlimited names ignored", list("cpu", "100"), list("pods", "10"), list("cpu", "1", "pods", "1"), nil},
		{"zero request never exceeds", list("pods", "20"), list("pods", "10"), list("pods", "0"), nil},
		{"decrease still over", list("requests.cpu", "3"), list("requests.cpu", "2"), list("requests.cpu", "-500m"),
			[]corev1.ResourceName{"requests.cpu"}},
	}
	for _, tc := range tests {
		if got := Exceeded(tc.used, tc.hard, tc.requested); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Exceeded = %v, want %v", tc.name, got, tc.want)
		}
	}
}
