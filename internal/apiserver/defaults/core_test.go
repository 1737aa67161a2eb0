package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestPodDefaults(t *testing.T) {
	// The full pod exercises every nested defaulter of a PodSpec.
	fullIn := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "full", Namespace: "default"},
			Spec: corev1.PodSpec{
				HostNetwork: true,
				InitContainers: []corev1.Container{{
					Name: "init", Image: "busybox",
					Ports: []corev1.ContainerPort{{ContainerPort: 9000}},
				}},
				Containers: []corev1.Container{{
					Name:  "app",
					Image: "registry.example.com:5000/team/app@sha256:" + hex64,
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 53, HostPort: 1053, Protocol: corev1.ProtocolUDP}},
					Env: []corev1.EnvVar{
						{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
						{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
						{Name: "F", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "cfg", Path: "a.env", Key: "K"}}},
					},
					Resources: corev1.ResourceRequirements{
						Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1.0005"), corev1.ResourceMemory: resource.MustParse("128Mi")},
						Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
					},
					LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}, PeriodSeconds: 5},
					StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}},
					Lifecycle: &corev1.Lifecycle{
						PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/quit", Port: intstr.FromInt32(8080)}},
					},
				}},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox:latest"}}},
				Volumes: []corev1.Volume{
					{Name: "scratch"},
					{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
					{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr.To[int32](0o400)}}},
					{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
					{Name: "dapi", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
						Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}},
					}}},
					{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
					}}}},
					{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
						Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
					}}}},
					{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "quay.io/org/data"}}},
				},
			},
		}
	}
	fullWant := func() *corev1.Pod {
		p := fullIn()
		p.Spec = wantTemplateSpec(p.Spec)
		p.Spec.EnableServiceLinks = ptr.To(true)

		ic := &p.Spec.InitContainers[0]
		*ic = wantContainer(*ic, corev1.PullAlways)
		ic.Ports[0] = corev1.ContainerPort{ContainerPort: 9000, HostPort: 9000, Protocol: corev1.ProtocolTCP}

		c := &p.Spec.Containers[0]
		*c = wantContainer(*c, corev1.PullIfNotPresent)
		c.Ports[0] = corev1.ContainerPort{ContainerPort: 8080, HostPort: 8080, Protocol: corev1.ProtocolTCP}
		c.Env[0].ValueFrom.FieldRef.APIVersion = "v1"
		c.Env[2].ValueFrom.FileKeyRef.Optional = ptr.To(false)
		c.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1001m")
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1001m")
		c.LivenessProbe = &corev1.Probe{
			ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}},
			TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
		}
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler:   corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090, Service: ptr.To("")}},
			TimeoutSeconds: 1, PeriodSeconds: 5, SuccessThreshold: 1, FailureThreshold: 3,
		}
		c.StartupProbe.TimeoutSeconds, c.StartupProbe.PeriodSeconds = 1, 10
		c.StartupProbe.SuccessThreshold, c.StartupProbe.FailureThreshold = 1, 3
		c.Lifecycle.PreStop.HTTPGet.Scheme = corev1.URISchemeHTTP

		ec := &p.Spec.EphemeralContainers[0].EphemeralContainerCommon
		ec.ImagePullPolicy = corev1.PullAlways
		ec.TerminationMessagePath = "/dev/termination-log"
		ec.TerminationMessagePolicy = corev1.TerminationMessageReadFile

		v := p.Spec.Volumes
		v[0].EmptyDir = &corev1.EmptyDirVolumeSource{}
		v[1].ConfigMap.DefaultMode = ptr.To[int32](0o644)
		v[3].HostPath.Type = ptr.To(corev1.HostPathUnset)
		v[4].DownwardAPI.DefaultMode = ptr.To[int32](420)
		v[4].DownwardAPI.Items[0].FieldRef.APIVersion = "v1"
		v[5].Projected.DefaultMode = ptr.To[int32](420)
		v[5].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds = ptr.To[int64](3600)
		v[5].Projected.Sources[1].DownwardAPI.Items[0].FieldRef.APIVersion = "v1"
		v[6].Ephemeral.VolumeClaimTemplate.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
		v[7].Image.PullPolicy = corev1.PullAlways
		return p
	}

	runDefaultCases(t, []defaultCase{
		{
			name: "minimal pod",
			in:   &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}},
			want: &corev1.Pod{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "c", Image: "nginx", ImagePullPolicy: corev1.PullAlways,
					TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				}},
				RestartPolicy:                 corev1.RestartPolicyAlways,
				TerminationGracePeriodSeconds: ptr.To[int64](30),
				DNSPolicy:                     corev1.DNSClusterFirst,
				SecurityContext:               &corev1.PodSecurityContext{},
				SchedulerName:                 "default-scheduler",
				EnableServiceLinks:            ptr.To(true),
			}},
		},
		{
			name: "explicit values are kept",
			in: &corev1.Pod{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "c", Image: "nginx", ImagePullPolicy: corev1.PullNever,
					TerminationMessagePath: "/tmp/x", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				}},
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				DNSPolicy:                     corev1.DNSDefault,
				SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)},
				SchedulerName:                 "custom",
				EnableServiceLinks:            ptr.To(false),
			}},
			want: &corev1.Pod{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "c", Image: "nginx", ImagePullPolicy: corev1.PullNever,
					TerminationMessagePath: "/tmp/x", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				}},
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				DNSPolicy:                     corev1.DNSDefault,
				SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)},
				SchedulerName:                 "custom",
				EnableServiceLinks:            ptr.To(false),
			}},
		},
		{name: "every nested defaulter", in: fullIn(), want: fullWant()},
		{
			name: "container status resources are rounded",
			in: &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
				Name:               "c",
				AllocatedResources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0001")},
			}}}},
			want: &corev1.Pod{
				Spec: wantTemplateSpec(corev1.PodSpec{EnableServiceLinks: ptr.To(true)}),
				Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
					Name:               "c",
					AllocatedResources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m")},
				}}},
			},
		},
	})
}

func TestPodTemplateOwnersGetOnlyPodSpecDefaults(t *testing.T) {
	// Templates do not get the Pod-only defaults: enableServiceLinks,
	// requests copied from limits, and hostPort from containerPort.
	tmpl := func() corev1.PodTemplateSpec {
		t := simpleTemplate()
		t.Spec.HostNetwork = true
		t.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
		t.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
		return t
	}
	want := func() corev1.PodTemplateSpec {
		t := tmpl()
		t.Spec = wantTemplateSpec(t.Spec)
		t.Spec.Containers[0] = wantContainer(t.Spec.Containers[0], corev1.PullIfNotPresent)
		t.Spec.Containers[0].Ports[0].Protocol = corev1.ProtocolTCP
		return t
	}
	tp := &corev1.PodTemplate{Template: want()}
	runDefaultCases(t, []defaultCase{
		{name: "PodTemplate", in: &corev1.PodTemplate{Template: tmpl()}, want: tp},
		{
			name: "ReplicationController",
			in:   &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: ptr.To(tmpl())}},
			want: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.ReplicationControllerSpec{
					Replicas: ptr.To[int32](1),
					Selector: map[string]string{"app": "web"},
					Template: ptr.To(want()),
				},
			},
		},
		{
			name: "ReplicationController keeps its selector and labels",
			in: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"x": "y"}},
				Spec: corev1.ReplicationControllerSpec{
					Replicas: ptr.To[int32](0), Selector: map[string]string{"app": "web"}, Template: ptr.To(tmpl()),
				},
			},
			want: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"x": "y"}},
				Spec: corev1.ReplicationControllerSpec{
					Replicas: ptr.To[int32](0), Selector: map[string]string{"app": "web"}, Template: ptr.To(want()),
				},
			},
		},
	})
}

func TestServiceDefaults(t *testing.T) {
	port := func(p int32) corev1.ServicePort { return corev1.ServicePort{Port: p} }
	wantPort := func(p int32) corev1.ServicePort {
		return corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(p)}
	}
	cluster := ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
	runDefaultCases(t, []defaultCase{
		{
			name: "ClusterIP",
			in:   &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{port(80), {Port: 443, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolSCTP}}}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Type:                  corev1.ServiceTypeClusterIP,
				SessionAffinity:       corev1.ServiceAffinityNone,
				InternalTrafficPolicy: cluster,
				Ports:                 []corev1.ServicePort{wantPort(80), {Port: 443, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolSCTP}},
			}},
		},
		{
			name: "ClusterIP with external IPs gets externalTrafficPolicy",
			in:   &corev1.Service{Spec: corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.1"}}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone, InternalTrafficPolicy: cluster,
				ExternalIPs: []string{"192.0.2.1"}, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			}},
		},
		{
			name: "NodePort",
			in:   &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{port(80)}}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, SessionAffinity: corev1.ServiceAffinityNone, InternalTrafficPolicy: cluster,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, Ports: []corev1.ServicePort{wantPort(80)},
			}},
		},
		{
			name: "LoadBalancer",
			in: &corev1.Service{
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
					{IP: "203.0.113.1"}, {Hostname: "lb.example.com"},
				}}},
			},
			want: &corev1.Service{
				Spec: corev1.ServiceSpec{
					Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityNone, InternalTrafficPolicy: cluster,
					ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, AllocateLoadBalancerNodePorts: ptr.To(true),
				},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
					{IP: "203.0.113.1", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}, {Hostname: "lb.example.com"},
				}}},
			},
		},
		{
			name: "ExternalName gets no traffic policies",
			in:   &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", SessionAffinity: corev1.ServiceAffinityNone,
			}},
		},
		{
			name: "ClientIP affinity gets a timeout",
			in:   &corev1.Service{Spec: corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, InternalTrafficPolicy: cluster,
				SessionAffinity:       corev1.ServiceAffinityClientIP,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](10800)}},
			}},
		},
		{
			name: "None affinity drops the affinity config",
			in: &corev1.Service{Spec: corev1.ServiceSpec{
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](5)}},
			}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, InternalTrafficPolicy: cluster, SessionAffinity: corev1.ServiceAffinityNone,
			}},
		},
	})
}

func TestOtherCoreDefaults(t *testing.T) {
	fs := ptr.To(corev1.PersistentVolumeFilesystem)
	runDefaultCases(t, []defaultCase{
		{name: "Secret", in: &corev1.Secret{}, want: &corev1.Secret{Type: corev1.SecretTypeOpaque}},
		{
			name: "Secret keeps its type",
			in:   &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson},
			want: &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson},
		},
		{name: "ConfigMap", in: &corev1.ConfigMap{}, want: &corev1.ConfigMap{Data: map[string]string{}}},
		{name: "ServiceAccount has no defaults", in: &corev1.ServiceAccount{}, want: &corev1.ServiceAccount{}},
		{
			name: "PersistentVolume",
			in: &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
			}},
			want: &corev1.PersistentVolume{
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
					PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data", Type: ptr.To(corev1.HostPathUnset)}},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					VolumeMode:                    fs,
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
			},
		},
		{
			name: "PersistentVolumeClaim",
			in:   &corev1.PersistentVolumeClaim{},
			want: &corev1.PersistentVolumeClaim{
				Spec:   corev1.PersistentVolumeClaimSpec{VolumeMode: fs},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
			},
		},
		{
			name: "PersistentVolumeClaim keeps block mode and bound phase",
			in: &corev1.PersistentVolumeClaim{
				Spec:   corev1.PersistentVolumeClaimSpec{VolumeMode: ptr.To(corev1.PersistentVolumeBlock)},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
			},
			want: &corev1.PersistentVolumeClaim{
				Spec:   corev1.PersistentVolumeClaimSpec{VolumeMode: ptr.To(corev1.PersistentVolumeBlock)},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
			},
		},
		{
			name: "Namespace",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
		},
		{
			name: "Namespace with generateName gets no name label",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"}},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
		},
		{
			name: "Node allocatable from capacity",
			in: &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110"),
			}}},
			want: &corev1.Node{Status: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
			}},
		},
		{
			name: "Endpoints ports",
			in: &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{
				{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP},
			}}}},
			want: &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{
				{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP},
			}}}},
		},
		{
			name: "LimitRange container item",
			in: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
				{
					Type: corev1.LimitTypeContainer,
					Max:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Min:  corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("10Mi")},
				},
				{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
			}}},
			want: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
				{
					Type:           corev1.LimitTypeContainer,
					Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Min:            corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("10Mi")},
					Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("10Mi")},
				},
				{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
			}}},
		},
		{
			name: "ResourceQuota rounds quantities",
			in:   &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.5001")}}},
			want: &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("501m")}}},
		},
		{
			name: "PodList defaults every item",
			in: &corev1.PodList{Items: []corev1.Pod{
				{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}},
				{},
			}},
			want: &corev1.PodList{Items: []corev1.Pod{
				{Spec: func() corev1.PodSpec {
					s := wantTemplateSpec(corev1.PodSpec{EnableServiceLinks: ptr.To(true)})
					s.RestartPolicy = corev1.RestartPolicyNever
					return s
				}()},
				{Spec: wantTemplateSpec(corev1.PodSpec{EnableServiceLinks: ptr.To(true)})},
			}},
		},
		{name: "Event has no defaults", in: &corev1.Event{}, want: &corev1.Event{}},
	})
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
