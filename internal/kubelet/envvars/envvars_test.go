package envvars

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

type fakeObjects struct {
	configMaps map[string]*corev1.ConfigMap // ns/name
	secrets    map[string]*corev1.Secret
	services   []*corev1.Service
	listErr    error
}

func (f *fakeObjects) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (f *fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (f *fakeObjects) Services(ns string) ([]*corev1.Service, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []*corev1.Service
	for _, s := range f.services {
		if s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

func svc(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: ports},
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": ""}
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(B)z", "xaybz"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$$", "$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"$(A", "$(A"},
		{"$(EMPTY)x", "x"},
		{"$()", "$()"},
		{"$(A)$(B)$$(C)", "ab$(C)"},
	} {
		if got := Expand(tc.in, vars); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := ExpandAll(nil, vars); got != nil {
		t.Errorf("ExpandAll(nil) = %v", got)
	}
	if got := ExpandAll([]string{"sh", "-c", "echo $(A)"}, vars); !reflect.DeepEqual(got, []string{"sh", "-c", "echo a"}) {
		t.Errorf("ExpandAll = %v", got)
	}
}

func TestExpandStrict(t *testing.T) {
	vars := map[string]string{"POD": "p1", "EMPTY": ""}
	for _, tc := range []struct{ in, want, err string }{
		{"logs/$(POD)", "logs/p1", ""},
		{"plain", "plain", ""},
		{"$(Z)/$(EMPTY)/$(Z)", "", "missing value for EMPTY, Z"},
		{"$$(POD)", "$(POD)", ""},
	} {
		got, err := ExpandStrict(tc.in, vars)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ExpandStrict(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ExpandStrict(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestServiceVars(t *testing.T) {
	s := svc("ns", "my-svc", "10.0.0.5",
		corev1.ServicePort{Port: 80},
		corev1.ServicePort{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP},
	)
	want := [][2]string{
		{"MY_SVC_SERVICE_HOST", "10.0.0.5"},
		{"MY_SVC_SERVICE_PORT", "80"},
		{"MY_SVC_SERVICE_PORT_DNS_UDP", "53"},
		{"MY_SVC_PORT", "tcp://10.0.0.5:80"},
		{"MY_SVC_PORT_80_TCP", "tcp://10.0.0.5:80"},
		{"MY_SVC_PORT_80_TCP_PROTO", "tcp"},
		{"MY_SVC_PORT_80_TCP_PORT", "80"},
		{"MY_SVC_PORT_80_TCP_ADDR", "10.0.0.5"},
		{"MY_SVC_PORT_53_UDP", "udp://10.0.0.5:53"},
		{"MY_SVC_PORT_53_UDP_PROTO", "udp"},
		{"MY_SVC_PORT_53_UDP_PORT", "53"},
		{"MY_SVC_PORT_53_UDP_ADDR", "10.0.0.5"},
	}
	if got := ServiceVars(s); !reflect.DeepEqual(got, want) {
		t.Errorf("ServiceVars =\n%v\nwant\n%v", got, want)
	}
	v6 := ServiceVars(svc("ns", "v6", "fd00::1", corev1.ServicePort{Port: 443}))
	if v6[2][1] != "tcp://[fd00::1]:443" {
		t.Errorf("IPv6 link = %q", v6[2][1])
	}
	if got := ServiceVars(svc("ns", "headless", corev1.ClusterIPNone, corev1.ServicePort{Port: 80})); got != nil {
		t.Errorf("headless = %v", got)
	}
}

func envMap(t *testing.T, src Sources, pod *corev1.Pod, c *corev1.Container) (map[string]string, []string) {
	t.Helper()
	kvs, err := Resolve(context.Background(), src, pod, c)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	var order []string
	for _, kv := range kvs {
		order = append(order, kv.Key)
	}
	return Map(kvs), order
}

func basePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "web-0", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": "say \"hi\""},
		},
		Spec: corev1.PodSpec{NodeName: "node-a", ServiceAccountName: "sa"},
		Status: corev1.PodStatus{
			PodIP: "10.1.0.9", PodIPs: []corev1.PodIP{{IP: "10.1.0.9"}},
		},
	}
}

func TestResolveServiceLinks(t *testing.T) {
	objs := &fakeObjects{services: []*corev1.Service{
		svc("default", "kubernetes", "10.0.0.1", corev1.ServicePort{Name: "https", Port: 443}),
		svc("default", "other", "10.0.0.2", corev1.ServicePort{Port: 80}),
		svc("ns", "db", "10.0.0.3", corev1.ServicePort{Port: 5432}),
		svc("ns", "headless", "None", corev1.ServicePort{Port: 1}),
		svc("elsewhere", "x", "10.0.0.4", corev1.ServicePort{Port: 1}),
	}}
	for _, tc := range []struct {
		name        string
		links       *bool
		ns          string
		wantPresent []string
		wantAbsent  []string
	}{
		{"default links", nil, "ns", []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT_HTTPS", "KUBERNETES_PORT_443_TCP_ADDR", "DB_SERVICE_HOST"}, []string{"OTHER_SERVICE_HOST", "HEADLESS_SERVICE_HOST", "X_SERVICE_HOST"}},
		{"links off", ptr.To(false), "ns", []string{"KUBERNETES_SERVICE_HOST"}, []string{"DB_SERVICE_HOST"}},
		{"pod in default", nil, "default", []string{"KUBERNETES_SERVICE_HOST", "OTHER_SERVICE_HOST"}, []string{"DB_SERVICE_HOST"}},
		{"pod in default, links off", ptr.To(false), "default", []string{"KUBERNETES_SERVICE_HOST"}, []string{"OTHER_SERVICE_HOST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			pod.Namespace = tc.ns
			pod.Spec.EnableServiceLinks = tc.links
			got, _ := envMap(t, Sources{Objects: objs}, pod, &corev1.Container{Name: "c"})
			for _, k := range tc.wantPresent {
				if _, ok := got[k]; !ok {
					t.Errorf("%s missing", k)
				}
			}
			for _, k := range tc.wantAbsent {
				if _, ok := got[k]; ok {
					t.Errorf("%s present", k)
				}
			}
		})
	}
	if _, err := Resolve(context.Background(), Sources{Objects: &fakeObjects{listErr: errors.New("boom")}}, basePod(), &corev1.Container{}); err == nil || !strings.Contains(err.Error(), "failed to list services") {
		t.Errorf("list error = %v", err)
	}
}

func TestResolve(t *testing.T) {
	objs := &fakeObjects{
		configMaps: map[string]*corev1.ConfigMap{
			"ns/cfg":  {Data: map[string]string{"A": "cm-a", "B": "cm-b", "bad=key": "x", "dotted.key": "d"}},
			"ns/cfg2": {Data: map[string]string{"A": "cm2-a"}},
		},
		secrets: map[string]*corev1.Secret{
			"ns/sec": {Data: map[string][]byte{"PASS": []byte("s3cret"), "A": []byte("sec-a")}},
		},
		services: []*corev1.Service{
			svc("default", "kubernetes", "10.0.0.1", corev1.ServicePort{Name: "https", Port: 443}),
			svc("ns", "db", "10.0.0.3", corev1.ServicePort{Port: 5432}),
		},
	}
	src := Sources{Objects: objs, HostIPs: []string{"192.168.1.10", "fd00::10"}, PodIPs: []string{"fd01::9", "10.1.0.9"},
		Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("4"),
			corev1.ResourceMemory:           resource.MustParse("8Gi"),
			corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		}}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
	}
	resEnv := func(name, res, div string) corev1.EnvVar {
		fs := &corev1.ResourceFieldSelector{Resource: res}
		if div != "" {
			fs.Divisor = resource.MustParse(div)
		}
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: fs}}
	}
	cmKey := func(name, cm, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Key: key, Optional: ptr.To(optional)}}}
	}
	secKey := func(name, s, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: s}, Key: key, Optional: ptr.To(optional)}}}
	}

	for _, tc := range []struct {
		name  string
		c     corev1.Container
		pod   func(*corev1.Pod)
		want  map[string]string // subset
		order []string          // prefix of the result's names
		err   string
	}{
		{
			name: "envFrom with prefix, later source wins, env wins over envFrom",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
					{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg2"}}},
				},
				Env: []corev1.EnvVar{{Name: "B", Value: "env-b"}, {Name: "NEW", Value: "n"}},
			},
			want:  map[string]string{"A": "cm2-a", "B": "env-b", "S_PASS": "s3cret", "S_A": "sec-a", "dotted.key": "d", "NEW": "n"},
			order: []string{"A", "B", "dotted.key", "S_A", "S_PASS", "NEW"},
		},
		{
			name: "invalid key skipped",
			c: corev1.Container{EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}},
			want: map[string]string{"A": "cm-a"},
		},
		{
			name: "optional missing envFrom skipped",
			c: corev1.Container{EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(true)}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(true)}},
			}},
			want: map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"},
		},
		{
			name: "required missing configmap envFrom",
			c: corev1.Container{EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}},
			err: `configmaps "nope" not found`,
		},
		{
			name: "required missing secret envFrom",
			c: corev1.Container{EnvFrom: []corev1.EnvFromSource{
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}},
			err: `secrets "nope" not found`,
		},
		{
			name: "expansion against earlier vars and services",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg2"}}}},
				Env: []corev1.EnvVar{
					{Name: "LATER_REF", Value: "[$(X)]"},
					{Name: "X", Value: "x"},
					{Name: "Y", Value: "$(X)-$(A)-$(DB_SERVICE_HOST)"},
					{Name: "ESC", Value: "$$(X)"},
					{Name: "UNRES", Value: "$(NOPE)"},
					{Name: "SELF", Value: "$(SELF)"},
					{Name: "DB_SERVICE_HOST", Value: "override"},
					{Name: "EMPTY"},
				},
			},
			want: map[string]string{"LATER_REF": "[$(X)]", "Y": "x-cm2-a-10.0.0.3", "ESC": "$(X)", "UNRES": "$(NOPE)",
				"SELF": "$(SELF)", "DB_SERVICE_HOST": "override", "EMPTY": ""},
		},
		{
			name: "fieldRef",
			c: corev1.Container{Env: []corev1.EnvVar{
				fieldEnv("NAME", "metadata.name"), fieldEnv("NS", "metadata.namespace"), fieldEnv("UID", "metadata.uid"),
				fieldEnv("APP", "metadata.labels['app']"), fieldEnv("NOTE", "metadata.annotations['note']"),
				fieldEnv("MISSING_LABEL", "metadata.labels['nope']"),
				fieldEnv("LABELS", "metadata.labels"), fieldEnv("ANNOTATIONS", "metadata.annotations"),
				fieldEnv("NODE", "spec.nodeName"), fieldEnv("SA", "spec.serviceAccountName"),
				fieldEnv("HOST_IP", "status.hostIP"), fieldEnv("HOST_IPS", "status.hostIPs"),
				fieldEnv("POD_IP", "status.podIP"), fieldEnv("POD_IPS", "status.podIPs"),
			}},
			want: map[string]string{"NAME": "web-0", "NS": "ns", "UID": "uid-1", "APP": "web", "NOTE": `say "hi"`, "MISSING_LABEL": "",
				"LABELS": "app=\"web\"\ntier=\"front\"", "ANNOTATIONS": `note="say \"hi\""`,
				"NODE": "node-a", "SA": "sa", "HOST_IP": "192.168.1.10", "HOST_IPS": "192.168.1.10,fd00::10",
				"POD_IP": "10.1.0.9", "POD_IPS": "10.1.0.9,fd01::9"},
		},
		{
			name: "fieldRef unsupported",
			c:    corev1.Container{Env: []corev1.EnvVar{fieldEnv("X", "spec.containers")}},
			err:  "field label not supported: spec.containers",
		},
		{
			name: "fieldRef bad subscript",
			c:    corev1.Container{Env: []corev1.EnvVar{fieldEnv("X", "metadata.name['x']")}},
			err:  "field label does not support subscript: metadata.name['x']",
		},
		{
			name: "resourceFieldRef with divisor and node defaults",
			c: corev1.Container{
				Name: "c",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("100Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("0")},
				},
				Env: []corev1.EnvVar{
					resEnv("REQ_CPU", "requests.cpu", ""), resEnv("REQ_CPU_M", "requests.cpu", "1m"),
					resEnv("LIM_CPU", "limits.cpu", ""), resEnv("REQ_MEM", "requests.memory", ""),
					resEnv("REQ_MEM_MI", "requests.memory", "1Mi"), resEnv("REQ_MEM_GI", "requests.memory", "1Gi"),
					resEnv("LIM_MEM", "limits.memory", "1Mi"), resEnv("LIM_EPH", "limits.ephemeral-storage", "1Gi"),
					resEnv("REQ_EPH", "requests.ephemeral-storage", ""),
				},
			},
			want: map[string]string{"REQ_CPU": "1", "REQ_CPU_M": "250", "LIM_CPU": "2", "REQ_MEM": "104857600",
				"REQ_MEM_MI": "100", "REQ_MEM_GI": "1", "LIM_MEM": "8192", "LIM_EPH": "100", "REQ_EPH": "0"},
		},
		{
			name: "resourceFieldRef defaults to pod-level limits",
			pod: func(p *corev1.Pod) {
				p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}
			},
			c:    corev1.Container{Env: []corev1.EnvVar{resEnv("LIM_CPU", "limits.cpu", ""), resEnv("LIM_MEM", "limits.memory", "1Gi")}},
			want: map[string]string{"LIM_CPU": "3", "LIM_MEM": "8"},
		},
		{
			name: "resourceFieldRef unsupported",
			c:    corev1.Container{Env: []corev1.EnvVar{resEnv("X", "limits.gpu", "")}},
			err:  "unsupported container resource : limits.gpu",
		},
		{
			name: "configMapKeyRef and secretKeyRef",
			c: corev1.Container{Env: []corev1.EnvVar{
				cmKey("CA", "cfg", "A", false), secKey("PW", "sec", "PASS", false),
				cmKey("OPT_KEY", "cfg", "nope", true), cmKey("OPT_CM", "nope", "A", true),
				secKey("OPT_SKEY", "sec", "nope", true), secKey("OPT_SEC", "nope", "A", true),
			}},
			want: map[string]string{"CA": "cm-a", "PW": "s3cret"},
		},
		{
			name: "configMapKeyRef missing key",
			c:    corev1.Container{Env: []corev1.EnvVar{cmKey("X", "cfg", "nope", false)}},
			err:  "couldn't find key nope in ConfigMap ns/cfg",
		},
		{
			name: "configMapKeyRef missing object",
			c:    corev1.Container{Env: []corev1.EnvVar{cmKey("X", "nope", "A", false)}},
			err:  `configmaps "nope" not found`,
		},
		{
			name: "secretKeyRef missing key",
			c:    corev1.Container{Env: []corev1.EnvVar{secKey("X", "sec", "nope", false)}},
			err:  "couldn't find key nope in Secret ns/sec",
		},
		{
			name: "secretKeyRef missing object",
			c:    corev1.Container{Env: []corev1.EnvVar{secKey("X", "nope", "A", false)}},
			err:  `secrets "nope" not found`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			if tc.pod != nil {
				tc.pod(pod)
			}
			kvs, err := Resolve(context.Background(), src, pod, &tc.c)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			got := Map(kvs)
			if len(got) != len(kvs) {
				t.Errorf("duplicate names in %v", kvs)
			}
			for k, v := range tc.want {
				if gv, ok := got[k]; !ok || gv != v {
					t.Errorf("%s = %q (present %v), want %q", k, gv, ok, v)
				}
			}
			if _, ok := got["bad=key"]; ok {
				t.Errorf("invalid key bad=key passed through")
			}
			for i, k := range tc.order {
				if kvs[i].Key != k {
					t.Errorf("order[%d] = %s, want %s", i, kvs[i].Key, k)
				}
			}
			// Service variables come last, sorted, unless the container defines them.
			if n := len(kvs); n > 0 && !strings.Contains(tc.name, "expansion") && kvs[n-1].Key != "KUBERNETES_SERVICE_PORT_HTTPS" {
				t.Errorf("last = %s", kvs[n-1].Key)
			}
		})
	}
}

func TestResolveStatusFallbacks(t *testing.T) {
	pod := basePod()
	pod.Status.HostIPs = []corev1.HostIP{{IP: "fd00::1"}, {IP: "192.168.0.1"}}
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.1.0.9"}, {IP: "fd01::9"}}
	c := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "H", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
		{Name: "P", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIPs"}}},
	}}
	got, _ := envMap(t, Sources{}, pod, c)
	if got["H"] != "fd00::1" || got["P"] != "fd01::9,10.1.0.9" {
		t.Errorf("got %v", got)
	}
	pod.Status.HostIPs = nil
	c.Env = c.Env[:1]
	if _, err := Resolve(context.Background(), Sources{}, pod, c); err == nil {
		t.Errorf("status.hostIP without host IPs: no error")
	}
	// Without Objects there are no service variables and references fail.
	c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "A"}}}}
	if _, err := Resolve(context.Background(), Sources{}, pod, c); err == nil || err.Error() != "couldn't get configMap ns/cfg, no kubeClient defined" {
		t.Errorf("err = %v", err)
	}
}

func TestResourceFieldRefValueByContainerName(t *testing.T) {
	pod := basePod()
	pod.Spec.Containers = []corev1.Container{{Name: "a", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}
	pod.Spec.InitContainers = []corev1.Container{{Name: "init"}}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	for _, tc := range []struct {
		container, res, div, want, err string
	}{
		{"a", "limits.memory", "1Mi", "64", ""},
		{"a", "limits.cpu", "", "2", ""},
		{"a", "limits.cpu", "100m", "20", ""},
		{"init", "limits.cpu", "", "2", ""},
		{"nope", "limits.cpu", "", "", "container nope not found"},
	} {
		fs := &corev1.ResourceFieldSelector{ContainerName: tc.container, Resource: tc.res}
		if tc.div != "" {
			fs.Divisor = resource.MustParse(tc.div)
		}
		got, err := ResourceFieldRefValue(fs, pod, nil, alloc)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%v: err = %v", tc, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: got %q, %v", tc, got, err)
		}
	}
}

func TestStaticMap(t *testing.T) {
	m := StaticMap([]corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", ValueFrom: &corev1.EnvVarSource{}}})
	if !reflect.DeepEqual(m, map[string]string{"A": "1", "B": ""}) {
		t.Errorf("StaticMap = %v", m)
	}
}
