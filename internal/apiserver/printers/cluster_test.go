package printers

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeCells(t *testing.T) {
	ready := func(s corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: s}}
	}
	info := corev1.NodeSystemInfo{KubeletVersion: "v1.37.0", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://2.1.0"}
	meta := func(labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: "node-a", Labels: labels, CreationTimestamp: ago(30 * 24 * time.Hour)}
	}
	runCells(t, mustFor(t, "", "nodes"), []cellsCase{
		{
			name: "ready control plane",
			obj: &corev1.Node{ObjectMeta: meta(map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-a"}),
				Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue), NodeInfo: info, Addresses: []corev1.NodeAddress{
					{Type: corev1.NodeHostName, Address: "node-a"}, {Type: corev1.NodeInternalIP, Address: "172.18.0.2"},
					{Type: corev1.NodeInternalIP, Address: "172.18.0.3"}}}},
			want: []interface{}{"node-a", "Ready", "control-plane", "30d", "v1.37.0", "172.18.0.2", "<none>",
				"Debian GNU/Linux 13", "6.12.0", "containerd://2.1.0"},
		},
		{
			name: "cordoned with several roles",
			obj: &corev1.Node{ObjectMeta: meta(map[string]string{"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "gpu",
				"node-role.kubernetes.io/": "ignored"}),
				Spec: corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue), NodeInfo: info, Addresses: []corev1.NodeAddress{
					{Type: corev1.NodeExternalIP, Address: "198.51.100.4"}}}},
			want: []interface{}{"node-a", "Ready,SchedulingDisabled", "gpu,worker", "30d", "v1.37.0", "<none>", "198.51.100.4",
				"Debian GNU/Linux 13", "6.12.0", "containerd://2.1.0"},
		},
		{
			name: "not ready",
			obj:  &corev1.Node{ObjectMeta: meta(nil), Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionUnknown), NodeInfo: info}},
			want: []interface{}{"node-a", "NotReady", "<none>", "30d", "v1.37.0", "<none>", "<none>",
				"Debian GNU/Linux 13", "6.12.0", "containerd://2.1.0"},
		},
		{
			name: "new node without status",
			obj:  &corev1.Node{ObjectMeta: meta(nil), Spec: corev1.NodeSpec{Unschedulable: true}},
			want: []interface{}{"node-a", "Unknown,SchedulingDisabled", "<none>", "30d", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
	})
}

func TestNamespaceCells(t *testing.T) {
	runCells(t, mustFor(t, "", "namespaces"), []cellsCase{
		{name: "active", obj: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: ago(400 * 24 * time.Hour)},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			want: []interface{}{"default", "Active", "400d"}},
		{name: "terminating", obj: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "old", CreationTimestamp: ago(5 * time.Second)},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			want: []interface{}{"old", "Terminating", "5s"}},
	})
}

func TestEventCells(t *testing.T) {
	core := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web-1.17f3"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", FieldPath: "spec.containers{app}"},
		Reason:         "BackOff", Message: "Back-off restarting failed container\n", Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
		FirstTimestamp: ago(time.Hour), LastTimestamp: ago(2 * time.Minute), Count: 12,
	}
	newAPI := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web.1a"},
		EventTime:  metav1.NewMicroTime(now.Add(-30 * time.Second)),
		Regarding:  corev1.ObjectReference{Kind: "Deployment", Name: "web"},
		Reason:     "ScalingReplicaSet", Note: "Scaled up replica set web-6d4 to 3", Type: corev1.EventTypeNormal,
		ReportingController: "deployment-controller",
	}
	series := newAPI.DeepCopy()
	series.Series = &eventsv1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(now.Add(-10 * time.Second))}

	for _, group := range []string{"", "events.k8s.io"} {
		t.Run("group="+group, func(t *testing.T) {
			runCells(t, mustFor(t, group, "events"), []cellsCase{
				{name: "core event", obj: core, want: []interface{}{"2m", "Warning", "BackOff", "pod/web-1", "spec.containers{app}",
					"kubelet, node-a", "Back-off restarting failed container", "60m", int64(12), "web-1.17f3"}},
				{name: "events.k8s.io singleton", obj: newAPI, want: []interface{}{"30s", "Normal", "ScalingReplicaSet", "deployment/web", "",
					"deployment-controller", "Scaled up replica set web-6d4 to 3", "30s", int64(1), "web.1a"}},
				{name: "events.k8s.io series", obj: series, want: []interface{}{"10s", "Normal", "ScalingReplicaSet", "deployment/web", "",
					"deployment-controller", "Scaled up replica set web-6d4 to 3", "30s", int64(4), "web.1a"}},
				{name: "no times, object without name", obj: &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Node"}},
					want: []interface{}{"<unknown>", "", "", "node", "", "", "", "<unknown>", int64(1), ""}},
			})
		})
	}
}

func TestRoleBindingCells(t *testing.T) {
	subjects := []rbacv1.Subject{
		{Kind: rbacv1.UserKind, Name: "alice"}, {Kind: rbacv1.UserKind, Name: "bob"},
		{Kind: rbacv1.GroupKind, Name: "devs"},
		{Kind: rbacv1.ServiceAccountKind, Name: "ci", Namespace: "build"},
	}
	meta := metav1.ObjectMeta{Name: "edit", CreationTimestamp: ago(time.Hour)}
	runCells(t, mustFor(t, "rbac.authorization.k8s.io", "rolebindings"), []cellsCase{{
		name: "mixed subjects",
		obj:  &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}, Subjects: subjects},
		want: []interface{}{"edit", "ClusterRole/edit", "60m", "alice, bob", "devs", "build/ci"},
	}})
	runCells(t, mustFor(t, "rbac.authorization.k8s.io", "clusterrolebindings"), []cellsCase{{
		name: "no subjects",
		obj:  &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}},
		want: []interface{}{"edit", "ClusterRole/view", "60m", "", "", ""},
	}})
}

func TestConfigCells(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "cfg", CreationTimestamp: ago(time.Minute)}
	runCells(t, mustFor(t, "", "configmaps"), []cellsCase{{name: "data and binary data",
		obj:  &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": nil}},
		want: []interface{}{"cfg", int64(3), "60s"}}})
	runCells(t, mustFor(t, "", "secrets"), []cellsCase{{name: "opaque",
		obj:  &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": nil}, StringData: map[string]string{"a": "", "b": ""}},
		want: []interface{}{"cfg", "Opaque", int64(2), "60s"}}})
	runCells(t, mustFor(t, "", "serviceaccounts"), []cellsCase{{name: "default",
		obj:  &corev1.ServiceAccount{ObjectMeta: meta},
		want: []interface{}{"cfg", "60s"}}})
	q := func(s string) resource.Quantity { return resource.MustParse(s) }
	runCells(t, mustFor(t, "", "resourcequotas"), []cellsCase{{name: "requests and limits",
		obj: &corev1.ResourceQuota{ObjectMeta: meta, Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{"pods": q("10"), "requests.cpu": q("2"), "limits.memory": q("4Gi"), "limits.cpu": q("4")},
			Used: corev1.ResourceList{"pods": q("3"), "requests.cpu": q("500m")}}},
		want: []interface{}{"cfg", "pods: 3/10, requests.cpu: 500m/2", "limits.cpu: 0/4, limits.memory: 0/4Gi", "60s"}}})
}

func TestStorageCells(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "vol", CreationTimestamp: ago(2 * time.Hour)}
	fs := corev1.PersistentVolumeFilesystem
	runCells(t, mustFor(t, "", "persistentvolumes"), []cellsCase{{name: "bound",
		obj: &corev1.PersistentVolume{ObjectMeta: meta, Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadWriteOnce, corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Namespace: "default", Name: "data"},
			StorageClassName:              "standard", VolumeMode: &fs},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}},
		want: []interface{}{"vol", "10Gi", "RWO,RWOP", "Retain", "Bound", "default/data", "standard", "<unset>", "", "120m", "Filesystem"}}})

	runCells(t, mustFor(t, "", "persistentvolumeclaims"), []cellsCase{
		{name: "pending", obj: &corev1.PersistentVolumeClaim{ObjectMeta: meta, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("fast")},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			want: []interface{}{"vol", "Pending", "", "", "", "fast", "<unset>", "120m", "<unset>"}},
		{name: "bound, class from the beta annotation",
			obj: &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "vol", CreationTimestamp: ago(2 * time.Hour),
					Annotations: map[string]string{"volume.beta.kubernetes.io/storage-class": "legacy"}},
				Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1", StorageClassName: ptr("fast"), VolumeMode: &fs},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadOnlyMany},
					Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			want: []interface{}{"vol", "Bound", "pv-1", "1Gi", "ROX,RWX", "legacy", "<unset>", "120m", "Filesystem"}},
	})

	wait := storagev1.VolumeBindingWaitForFirstConsumer
	runCells(t, mustFor(t, "storage.k8s.io", "storageclasses"), []cellsCase{
		{name: "default class", obj: &storagev1.StorageClass{
			ObjectMeta:  metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
			Provisioner: "rancher.io/local-path", VolumeBindingMode: &wait, AllowVolumeExpansion: ptr(true)},
			want: []interface{}{"standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", true, "<unknown>"}},
	})
}

func TestClusterMiscCells(t *testing.T) {
	runCells(t, mustFor(t, "coordination.k8s.io", "leases"), []cellsCase{
		{name: "held", obj: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "kube-scheduler", CreationTimestamp: ago(time.Hour)},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-a_1234")}},
			want: []interface{}{"kube-scheduler", "node-a_1234", "60m"}},
	})
	never := corev1.PreemptNever
	runCells(t, mustFor(t, "scheduling.k8s.io", "priorityclasses"), []cellsCase{
		{name: "system", obj: &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000},
			want: []interface{}{"system-node-critical", int64(2000001000), false, "<unknown>", ""}},
		{name: "never preempts", obj: &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Value: 10, GlobalDefault: true, PreemptionPolicy: &never},
			want: []interface{}{"batch", int64(10), true, "<unknown>", "Never"}},
	})
}
