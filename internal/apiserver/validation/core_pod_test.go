package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestPodCreate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*corev1.Pod) {}},
		{name: "valid sidecar with probe", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: "envoy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(15000)}}}}}
		}},
		{name: "bad name", mutate: func(p *corev1.Pod) { p.Name = "Web_1" },
			want: []wantErr{{"metadata.name", field.ErrorTypeInvalid, "RFC 1123 subdomain"}}},
		{name: "missing namespace", mutate: func(p *corev1.Pod) { p.Namespace = "" },
			want: []wantErr{{"metadata.namespace", field.ErrorTypeRequired, ""}}},
		{name: "bad label", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"a": "-bad-"} },
			want: []wantErr{{"metadata.labels", field.ErrorTypeInvalid, ""}}},
		{name: "no containers", mutate: func(p *corev1.Pod) { p.Spec.Containers = nil },
			want: []wantErr{{"spec.containers", field.ErrorTypeRequired, ""}}},
		{name: "missing image", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			want: []wantErr{{"spec.containers[0].image", field.ErrorTypeRequired, ""}}},
		{name: "bad container name", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App" },
			want: []wantErr{{"spec.containers[0].name", field.ErrorTypeInvalid, "RFC 1123 label"}}},
		{name: "duplicate container name across init", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "app", Image: "busybox"}}
		}, want: []wantErr{{"spec.containers[0].name", field.ErrorTypeDuplicate, ""}}},
		{name: "container port out of range", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			want: []wantErr{{"spec.containers[0].ports[0].containerPort", field.ErrorTypeInvalid, "between 1 and 65535"}}},
		{name: "container port missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 },
			want: []wantErr{{"spec.containers[0].ports[0].containerPort", field.ErrorTypeRequired, ""}}},
		{name: "bad protocol", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" },
			want: []wantErr{{"spec.containers[0].ports[0].protocol", field.ErrorTypeNotSupported, ""}}},
		{name: "duplicate port name", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81})
		}, want: []wantErr{{"spec.containers[0].ports[1].name", field.ErrorTypeDuplicate, ""}}},
		{name: "bad port name", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "http_web_server_too_long" },
			want: []wantErr{{"spec.containers[0].ports[0].name", field.ErrorTypeInvalid, ""}}},
		{name: "duplicate host port", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81, HostPort: 8080}}
		}, want: []wantErr{{"spec.containers[0].ports[1].hostPort", field.ErrorTypeDuplicate, ""}}},
		{name: "env name empty", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "" },
			want: []wantErr{{"spec.containers[0].env[0].name", field.ErrorTypeRequired, ""}}},
		{name: "env name with equals", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" },
			want: []wantErr{{"spec.containers[0].env[0].name", field.ErrorTypeInvalid, ""}}},
		{name: "env value and valueFrom", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0].ValueFrom = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}
		}, want: []wantErr{{"spec.containers[0].env[0].valueFrom", field.ErrorTypeInvalid, "may not be specified when `value` is not empty"}}},
		{name: "env unsupported fieldPath", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.foo"}}}
		}, want: []wantErr{{"spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", field.ErrorTypeNotSupported, ""}}},
		{name: "env secretKeyRef missing key", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}
		}, want: []wantErr{{"spec.containers[0].env[0].valueFrom.secretKeyRef.key", field.ErrorTypeRequired, ""}}},
		{name: "envFrom without source", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "X_"}} },
			want: []wantErr{{"spec.containers[0].envFrom[0]", field.ErrorTypeInvalid, "must specify one of"}}},
		{name: "mount of unknown volume", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" },
			want: []wantErr{{"spec.containers[0].volumeMounts[0].name", field.ErrorTypeNotFound, ""}}},
		{name: "mount path missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "" },
			want: []wantErr{{"spec.containers[0].volumeMounts[0].mountPath", field.ErrorTypeRequired, ""}}},
		{name: "subPath escapes", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "../etc" },
			want: []wantErr{{"spec.containers[0].volumeMounts[0].subPath", field.ErrorTypeInvalid, "'..'"}}},
		{name: "negative request", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
		}, want: []wantErr{{"spec.containers[0].resources.requests[cpu]", field.ErrorTypeInvalid, "greater than or equal to 0"}}},
		{name: "request above limit", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			}
		}, want: []wantErr{{"spec.containers[0].resources.requests", field.ErrorTypeInvalid, "must be less than or equal to memory limit of 1Gi"}}},
		{name: "unknown resource", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"gpu": resource.MustParse("1")}
		}, want: []wantErr{{"spec.containers[0].resources.limits[gpu]", field.ErrorTypeInvalid, "standard resource for containers"}}},
		{name: "extended resource fractional", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"example.com/gpu": resource.MustParse("500m")}
		}, want: []wantErr{{"spec.containers[0].resources.limits[example.com/gpu]", field.ErrorTypeInvalid, "must be an integer"}}},
		{name: "probe without handler", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe = &corev1.Probe{} },
			want: []wantErr{{"spec.containers[0].livenessProbe", field.ErrorTypeRequired, "must specify a handler type"}}},
		{name: "probe with two handlers", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				Exec: &corev1.ExecAction{Command: []string{"true"}}, TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
		}, want: []wantErr{{"spec.containers[0].readinessProbe.tcpSocket", field.ErrorTypeForbidden, "may not specify more than 1 handler type"}}},
		{name: "probe negative period", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: -1, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}}
		}, want: []wantErr{{"spec.containers[0].readinessProbe.periodSeconds", field.ErrorTypeInvalid, ""}}},
		{name: "liveness successThreshold", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{SuccessThreshold: 2, ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}}
		}, want: []wantErr{{"spec.containers[0].livenessProbe.successThreshold", field.ErrorTypeInvalid, "must be 1"}}},
		{name: "init container with probe", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox",
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}, want: []wantErr{{"spec.initContainers[0].livenessProbe", field.ErrorTypeForbidden, ""}}},
		{name: "bad restartPolicy", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			want: []wantErr{{"spec.restartPolicy", field.ErrorTypeNotSupported, ""}}},
		{name: "bad dnsPolicy", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" },
			want: []wantErr{{"spec.dnsPolicy", field.ErrorTypeNotSupported, ""}}},
		{name: "dnsPolicy None without config", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone },
			want: []wantErr{{"spec.dnsConfig", field.ErrorTypeRequired, ""}}},
		{name: "volume without source", mutate: func(p *corev1.Pod) { p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{} },
			want: []wantErr{{"spec.volumes[0]", field.ErrorTypeRequired, "must specify a volume type"}}},
		{name: "volume with two sources", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes[0].ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}
		}, want: []wantErr{{"spec.volumes[0].configMap", field.ErrorTypeForbidden, "may not specify more than 1 volume type"}}},
		{name: "duplicate volume", mutate: func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0]) },
			want: []wantErr{{"spec.volumes[1].name", field.ErrorTypeDuplicate, ""}}},
		{name: "volume bad name", mutate: func(p *corev1.Pod) { p.Spec.Volumes[0].Name = "Data"; p.Spec.Containers[0].VolumeMounts = nil },
			want: []wantErr{{"spec.volumes[0].name", field.ErrorTypeInvalid, ""}}},
		{name: "secret volume missing name", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: ptr.To[int32](01000)}}
		}, want: []wantErr{
			{"spec.volumes[0].secret.secretName", field.ErrorTypeRequired, ""},
			{"spec.volumes[0].secret.defaultMode", field.ErrorTypeInvalid, "0777"},
		}},
		{name: "hostPath missing path", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}
		}, want: []wantErr{{"spec.volumes[0].hostPath.path", field.ErrorTypeRequired, ""}}},
		{name: "pvc missing claimName", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}
		}, want: []wantErr{{"spec.volumes[0].persistentVolumeClaim.claimName", field.ErrorTypeRequired, ""}}},
		{name: "bad nodeSelector", mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"bad key!": "x"} },
			want: []wantErr{{"spec.nodeSelector", field.ErrorTypeInvalid, ""}}},
		{name: "toleration bad operator", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Maybe"}}
		}, want: []wantErr{{"spec.tolerations[0].operator", field.ErrorTypeNotSupported, ""}}},
		{name: "toleration empty key needs Exists", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "v"}}
		}, want: []wantErr{{"spec.tolerations[0].operator", field.ErrorTypeInvalid, "operator must be Exists"}}},
		{name: "toleration bad effect", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "Never"}}
		}, want: []wantErr{{"spec.tolerations[0].effect", field.ErrorTypeNotSupported, ""}}},
		{name: "tolerationSeconds without NoExecute", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](5)}}
		}, want: []wantErr{{"spec.tolerations[0].effect", field.ErrorTypeInvalid, "NoExecute"}}},
		{name: "affinity empty terms", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, want: []wantErr{{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", field.ErrorTypeRequired, ""}}},
		{name: "pod anti-affinity without topologyKey", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{}}}}
		}, want: []wantErr{{"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", field.ErrorTypeRequired, ""}}},
		{name: "negative grace period", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](-1) },
			want: []wantErr{{"spec.terminationGracePeriodSeconds", field.ErrorTypeInvalid, ""}}},
		{name: "bad hostname", mutate: func(p *corev1.Pod) { p.Spec.Hostname = "Not_A_Label" },
			want: []wantErr{{"spec.hostname", field.ErrorTypeInvalid, ""}}},
		{name: "bad subdomain", mutate: func(p *corev1.Pod) { p.Spec.Subdomain = "a.b" },
			want: []wantErr{{"spec.subdomain", field.ErrorTypeInvalid, ""}}},
		{name: "activeDeadlineSeconds zero", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0) },
			want: []wantErr{{"spec.activeDeadlineSeconds", field.ErrorTypeInvalid, ""}}},
		{name: "runAsUser negative", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](-5)}
		}, want: []wantErr{{"spec.containers[0].securityContext.runAsUser", field.ErrorTypeInvalid, ""}}},
		{name: "privileged without escalation", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)}
		}, want: []wantErr{{"spec.containers[0].securityContext", field.ErrorTypeInvalid, "allowPrivilegeEscalation"}}},
		{name: "ephemeral containers on create", mutate: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "busybox"}}}
		}, want: []wantErr{{"spec.ephemeralContainers", field.ErrorTypeForbidden, "cannot be set on create"}}},
		{name: "topology spread", mutate: func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, WhenUnsatisfiable: "Whatever"}}
		}, want: []wantErr{
			{"spec.topologySpreadConstraints[0].maxSkew", field.ErrorTypeInvalid, ""},
			{"spec.topologySpreadConstraints[0].topologyKey", field.ErrorTypeRequired, ""},
			{"spec.topologySpreadConstraints[0].whenUnsatisfiable", field.ErrorTypeNotSupported, ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(p)
			checkErrs(t, ValidateCreate(p), tc.want...)
		})
	}
}

func TestPodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(p *corev1.Pod)
		mutate func(p *corev1.Pod)
		want   []wantErr
	}{
		{name: "image change allowed", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }},
		{name: "labels change allowed", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }},
		{name: "toleration added", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
		}},
		{name: "activeDeadlineSeconds lowered", old: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](100) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](50) }},
		{name: "activeDeadlineSeconds raised", old: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](100) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](200) },
			want:   []wantErr{{"spec.activeDeadlineSeconds", field.ErrorTypeInvalid, "previous value"}}},
		{name: "activeDeadlineSeconds removed", old: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](100) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			want:   []wantErr{{"spec.activeDeadlineSeconds", field.ErrorTypeInvalid, "nil value"}}},
		{name: "toleration removed", old: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}, mutate: func(p *corev1.Pod) { p.Spec.Tolerations = nil },
			want: []wantErr{{"spec.tolerations", field.ErrorTypeForbidden, "existing toleration"}}},
		{name: "grace period negative to 1", old: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](-1) },
			mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1) }},
		{name: "port change forbidden", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8080 },
			want: []wantErr{{"spec", field.ErrorTypeForbidden, "pod updates may not change fields other than"}}},
		{name: "nodeName change forbidden", old: func(p *corev1.Pod) { p.Spec.NodeName = "node-a" },
			mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-b" },
			want:   []wantErr{{"spec", field.ErrorTypeForbidden, "spec.nodeName"}}},
		{name: "container added forbidden", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox"})
		}, want: []wantErr{{"spec", field.ErrorTypeForbidden, "spec.containers"}}},
		{name: "scheduling gate removed", old: func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} },
			mutate: func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }},
		{name: "scheduling gate added", mutate: func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} },
			want: []wantErr{{"spec.schedulingGates", field.ErrorTypeForbidden, "only deletion is allowed"}}},
		{name: "missing resourceVersion", mutate: func(p *corev1.Pod) { p.ResourceVersion = "" },
			want: []wantErr{{"metadata.resourceVersion", field.ErrorTypeInvalid, ""}}},
		{name: "new spec still validated", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			want: []wantErr{{"spec.containers[0].image", field.ErrorTypeRequired, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := validPod()
			if tc.old != nil {
				tc.old(old)
			}
			p := old.DeepCopy()
			tc.mutate(p)
			checkErrs(t, ValidateUpdate(p, old), tc.want...)
		})
	}
}

func TestPodStatusUpdate(t *testing.T) {
	old := validPod()
	old.Status.Phase = corev1.PodSucceeded
	p := old.DeepCopy()
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = "10.0.0.1"
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "not-an-ip"}}
	checkErrs(t, ValidateStatusUpdate(p, old),
		wantErr{"status.phase", field.ErrorTypeForbidden, "terminal phase"},
		wantErr{"status.podIPs[1].ip", field.ErrorTypeInvalid, ""},
	)

	ok := validPod()
	ok2 := ok.DeepCopy()
	ok2.Status.Phase = corev1.PodRunning
	ok2.Status.PodIP = "10.0.0.1"
	ok2.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}
	checkErrs(t, ValidateStatusUpdate(ok2, ok))
}
