package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func validService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: meta("web", "default"),
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       "10.96.0.10",
			ClusterIPs:      []string{"10.96.0.10"},
			IPFamilies:      []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:  ptr.To(corev1.IPFamilyPolicySingleStack),
			Selector:        map[string]string{"app": "web"},
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

func TestServiceCreate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.Service)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*corev1.Service) {}},
		{name: "valid headless without ports", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports = "None", []string{"None"}, nil
		}},
		{name: "valid ExternalName", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}
		}},
		{name: "valid NodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.Ports[0].NodePort = 30080
		}},
		{name: "name must be DNS-1035", mutate: func(s *corev1.Service) { s.Name = "1web" },
			want: []wantErr{{"metadata.name", field.ErrorTypeInvalid, "DNS-1035"}}},
		{name: "ports required", mutate: func(s *corev1.Service) { s.Spec.Ports = nil },
			want: []wantErr{{"spec.ports", field.ErrorTypeRequired, ""}}},
		{name: "port out of range", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 },
			want: []wantErr{{"spec.ports[0].port", field.ErrorTypeInvalid, ""}}},
		{name: "port names required when many", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Name = "" },
			want: []wantErr{{"spec.ports[1].name", field.ErrorTypeRequired, ""}}},
		{name: "duplicate port names", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" },
			want: []wantErr{{"spec.ports[1].name", field.ErrorTypeDuplicate, ""}}},
		{name: "duplicate port+protocol", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Port = 80 },
			want: []wantErr{{"spec.ports[1]", field.ErrorTypeDuplicate, ""}}},
		{name: "bad protocol", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" },
			want: []wantErr{{"spec.ports[0].protocol", field.ErrorTypeNotSupported, ""}}},
		{name: "bad targetPort name", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("Not_Valid") },
			want: []wantErr{{"spec.ports[0].targetPort", field.ErrorTypeInvalid, ""}}},
		{name: "bad targetPort number", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) },
			want: []wantErr{{"spec.ports[0].targetPort", field.ErrorTypeInvalid, ""}}},
		{name: "nodePort on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30001 },
			want: []wantErr{{"spec.ports[0].nodePort", field.ErrorTypeForbidden, "ClusterIP"}}},
		{name: "bad type", mutate: func(s *corev1.Service) { s.Spec.Type = "Internal" },
			want: []wantErr{{"spec.type", field.ErrorTypeNotSupported, ""}}},
		{name: "bad clusterIP", mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.999"; s.Spec.ClusterIPs = []string{"10.0.0.999"} },
			want: []wantErr{{"spec.clusterIPs[0]", field.ErrorTypeInvalid, "valid IP"}}},
		{name: "clusterIPs mismatch", mutate: func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.11"} },
			want: []wantErr{{"spec.clusterIPs", field.ErrorTypeInvalid, "first value must match"}}},
		{name: "headless NodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ServiceTypeNodePort, "None", []string{"None"}
		}, want: []wantErr{{"spec.clusterIPs[0]", field.ErrorTypeInvalid, "NodePort"}}},
		{name: "ExternalName without name", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}
		}, want: []wantErr{{"spec.externalName", field.ErrorTypeRequired, ""}}},
		{name: "ExternalName bad name", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "not_valid!"}
		}, want: []wantErr{{"spec.externalName", field.ErrorTypeInvalid, ""}}},
		{name: "ExternalName with clusterIP", mutate: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = corev1.ServiceTypeExternalName, "db.example.com", nil, nil
		}, want: []wantErr{{"spec.clusterIPs", field.ErrorTypeForbidden, ""}}},
		{name: "bad session affinity", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" },
			want: []wantErr{{"spec.sessionAffinity", field.ErrorTypeNotSupported, ""}}},
		{name: "bad selector", mutate: func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "not valid"} },
			want: []wantErr{{"spec.selector", field.ErrorTypeInvalid, ""}}},
		{name: "externalTrafficPolicy on ClusterIP", mutate: func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, want: []wantErr{{"spec.externalTrafficPolicy", field.ErrorTypeInvalid, "externally-accessible"}}},
		{name: "bad ipFamily", mutate: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"} },
			want: []wantErr{{"spec.ipFamilies[0]", field.ErrorTypeNotSupported, ""}}},
		{name: "loadBalancerSourceRanges on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			want: []wantErr{{"spec.loadBalancerSourceRanges", field.ErrorTypeForbidden, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validService()
			tc.mutate(s)
			checkErrs(t, ValidateCreate(s), tc.want...)
		})
	}
}

func TestServiceUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.Service)
		want   []wantErr
	}{
		{name: "ports change allowed", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 8080 }},
		{name: "clusterIP immutable", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.20", []string{"10.96.0.20"}
		}, want: []wantErr{{"spec.clusterIPs[0]", field.ErrorTypeInvalid, "may not change once set"}}},
		{name: "switch to ExternalName releases IP", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := validService()
			s := old.DeepCopy()
			tc.mutate(s)
			checkErrs(t, ValidateUpdate(s, old), tc.want...)
		})
	}
}
