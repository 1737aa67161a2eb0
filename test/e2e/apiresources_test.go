package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/testserver"
)

// upstreamResources is what `kubectl api-resources` lists on a kube-apiserver v1.37 with its
// default configuration (GA APIs only), as NAME SHORTNAMES APIVERSION NAMESPACED KIND.
var upstreamResources = []string{
	"bindings  v1 true Binding",
	"componentstatuses cs v1 false ComponentStatus",
	"configmaps cm v1 true ConfigMap",
	"endpoints ep v1 true Endpoints",
	"events ev v1 true Event",
	"limitranges limits v1 true LimitRange",
	"namespaces ns v1 false Namespace",
	"nodes no v1 false Node",
	"persistentvolumeclaims pvc v1 true PersistentVolumeClaim",
	"persistentvolumes pv v1 false PersistentVolume",
	"pods po v1 true Pod",
	"podtemplates  v1 true PodTemplate",
	"replicationcontrollers rc v1 true ReplicationController",
	"resourcequotas quota v1 true ResourceQuota",
	"secrets  v1 true Secret",
	"serviceaccounts sa v1 true ServiceAccount",
	"services svc v1 true Service",
	"mutatingadmissionpolicies  admissionregistration.k8s.io/v1 false MutatingAdmissionPolicy",
	"mutatingadmissionpolicybindings  admissionregistration.k8s.io/v1 false MutatingAdmissionPolicyBinding",
	"mutatingwebhookconfigurations  admissionregistration.k8s.io/v1 false MutatingWebhookConfiguration",
	"validatingadmissionpolicies  admissionregistration.k8s.io/v1 false ValidatingAdmissionPolicy",
	"validatingadmissionpolicybindings  admissionregistration.k8s.io/v1 false ValidatingAdmissionPolicyBinding",
	"validatingwebhookconfigurations  admissionregistration.k8s.io/v1 false ValidatingWebhookConfiguration",
	"customresourcedefinitions crd,crds apiextensions.k8s.io/v1 false CustomResourceDefinition",
	"apiservices  apiregistration.k8s.io/v1 false APIService",
	"controllerrevisions  apps/v1 true ControllerRevision",
	"daemonsets ds apps/v1 true DaemonSet",
	"deployments deploy apps/v1 true Deployment",
	"replicasets rs apps/v1 true ReplicaSet",
	"statefulsets sts apps/v1 true StatefulSet",
	"selfsubjectreviews  authentication.k8s.io/v1 false SelfSubjectReview",
	"tokenreviews  authentication.k8s.io/v1 false TokenReview",
	"localsubjectaccessreviews  authorization.k8s.io/v1 true LocalSubjectAccessReview",
	"selfsubjectaccessreviews  authorization.k8s.io/v1 false SelfSubjectAccessReview",
	"selfsubjectrulesreviews  authorization.k8s.io/v1 false SelfSubjectRulesReview",
	"subjectaccessreviews  authorization.k8s.io/v1 false SubjectAccessReview",
	"horizontalpodautoscalers hpa autoscaling/v2 true HorizontalPodAutoscaler",
	"cronjobs cj batch/v1 true CronJob",
	"jobs  batch/v1 true Job",
	"certificatesigningrequests csr certificates.k8s.io/v1 false CertificateSigningRequest",
	"leases  coordination.k8s.io/v1 true Lease",
	"endpointslices  discovery.k8s.io/v1 true EndpointSlice",
	"events ev events.k8s.io/v1 true Event",
	"flowschemas  flowcontrol.apiserver.k8s.io/v1 false FlowSchema",
	"prioritylevelconfigurations  flowcontrol.apiserver.k8s.io/v1 false PriorityLevelConfiguration",
	"ingressclasses  networking.k8s.io/v1 false IngressClass",
	"ingresses ing networking.k8s.io/v1 true Ingress",
	"ipaddresses ip networking.k8s.io/v1 false IPAddress",
	"networkpolicies netpol networking.k8s.io/v1 true NetworkPolicy",
	"servicecidrs  networking.k8s.io/v1 false ServiceCIDR",
	"runtimeclasses  node.k8s.io/v1 false RuntimeClass",
	"poddisruptionbudgets pdb policy/v1 true PodDisruptionBudget",
	"clusterrolebindings  rbac.authorization.k8s.io/v1 false ClusterRoleBinding",
	"clusterroles  rbac.authorization.k8s.io/v1 false ClusterRole",
	"rolebindings  rbac.authorization.k8s.io/v1 true RoleBinding",
	"roles  rbac.authorization.k8s.io/v1 true Role",
	"deviceclasses  resource.k8s.io/v1 false DeviceClass",
	"resourceclaims  resource.k8s.io/v1 true ResourceClaim",
	"resourceclaimtemplates  resource.k8s.io/v1 true ResourceClaimTemplate",
	"resourceslices  resource.k8s.io/v1 false ResourceSlice",
	"priorityclasses pc scheduling.k8s.io/v1 false PriorityClass",
	"csidrivers  storage.k8s.io/v1 false CSIDriver",
	"csinodes  storage.k8s.io/v1 false CSINode",
	"csistoragecapacities  storage.k8s.io/v1 true CSIStorageCapacity",
	"storageclasses sc storage.k8s.io/v1 false StorageClass",
	"volumeattachments  storage.k8s.io/v1 false VolumeAttachment",
	"volumeattributesclasses vac storage.k8s.io/v1 false VolumeAttributesClass",
}

// apiResourcesRows parses `kubectl api-resources` into rows like upstreamResources', the
// empty SHORTNAMES column kept as an empty field.
func apiResourcesRows(t *testing.T, out string) map[string]bool {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := lines[0]
	cols := []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}
	starts := make([]int, len(cols))
	for i, c := range cols {
		if starts[i] = strings.Index(header, c); starts[i] < 0 {
			t.Fatalf("api-resources header %q has no %s", header, c)
		}
	}
	rows := map[string]bool{}
	for _, l := range lines[1:] {
		var fields []string
		for i := range cols {
			end := len(l)
			if i+1 < len(cols) {
				end = min(starts[i+1], len(l))
			}
			fields = append(fields, strings.TrimSpace(l[min(starts[i], len(l)):end]))
		}
		rows[strings.Join(fields, " ")] = true
	}
	return rows
}

// TestAPIResources: discovery lists every resource kube-apiserver v1.37 serves by default.
func TestAPIResources(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	// Aggregated discovery (what kubectl asks for first) and the legacy documents list the
	// same: kubectl falls back to the legacy ones when told to.
	for _, env := range [][]string{nil, {"KUBECTL_AGGREGATED_DISCOVERY=false"}} {
		r := k.runIn("", env, "api-resources")
		if r.Err != nil {
			t.Fatalf("api-resources: %v\n%s", r.Err, r.Stderr)
		}
		rows := apiResourcesRows(t, r.Stdout)
		var missing []string
		for _, want := range upstreamResources {
			if !rows[want] {
				missing = append(missing, want)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("api-resources (%v) lacks:\n%s\ngot:\n%s", env, strings.Join(missing, "\n"), r.Stdout)
		}
	}
	// autoscaling/v1 is served besides the preferred v2.
	wantMatch(t, "autoscaling versions", k.run("api-versions"), `^autoscaling/v1$`, `^autoscaling/v2$`, `^node.k8s.io/v1$`,
		`^flowcontrol.apiserver.k8s.io/v1$`, `^resource.k8s.io/v1$`)
	// OpenAPI knows the new kinds (kubectl explain).
	wantMatch(t, "explain", k.run("explain", "runtimeclasses.handler"), `^KIND:\s+RuntimeClass$`, `^FIELD:\s+handler`)
	wantMatch(t, "explain", k.run("explain", "resourceclaims.spec.devices.requests.exactly"), `^KIND:\s+ResourceClaim$`)
}

const newKindsManifest = `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: gvisor
handler: runsc
---
apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata:
  name: extra
spec:
  cidrs: ["10.200.0.0/24"]
---
apiVersion: networking.k8s.io/v1
kind: IPAddress
metadata:
  name: 10.200.0.10
spec:
  parentRef:
    resource: services
    namespace: default
    name: manual
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata:
  name: batch
spec:
  type: Limited
  limited:
    limitResponse:
      type: Queue
      queuing: {}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: batch-jobs
spec:
  priorityLevelConfiguration:
    name: batch
  distinguisherMethod:
    type: ByNamespace
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount: {name: "*", namespace: batch}
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      namespaces: ["*"]
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata:
  name: gpu.example.com
spec:
  selectors:
  - cel:
      expression: device.driver == "gpu.example.com"
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata:
  name: one-gpu
  namespace: default
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: gpu.example.com
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: gpu-template
  namespace: default
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly:
          deviceClassName: gpu.example.com
          allocationMode: All
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: node-1-gpu
spec:
  driver: gpu.example.com
  nodeName: node-1
  pool:
    name: node-1
    resourceSliceCount: 1
  devices:
  - name: gpu-0
    attributes:
      model: {string: "a100"}
    capacity:
      memory: {value: 40Gi}
---
apiVersion: storage.k8s.io/v1
kind: CSIStorageCapacity
metadata:
  name: zone-a
  namespace: default
storageClassName: fast
capacity: 100Gi
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata:
  name: gold
driverName: pd.csi.example.com
parameters:
  iops: "5000"
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: default
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  maxReplicas: 5
  targetCPUUtilizationPercentage: 60
`

// tableColumns returns the header of a `kubectl get` table and its first row, split.
func tableColumns(out string) (header, row []string) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header = strings.Fields(lines[0])
	if len(lines) > 1 {
		row = strings.Fields(lines[1])
	}
	return header, row
}

// TestNewKinds: each kind kube-apiserver v1.37 serves that kijabi added is created with
// kubectl apply and read back with kubectl get, in upstream's columns and with its
// defaults.
func TestNewKinds(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}

	out := k.mustIn(newKindsManifest, "apply", "-f", "-")
	wantLines(t, "apply", out,
		"runtimeclass.node.k8s.io/gvisor created",
		"servicecidr.networking.k8s.io/extra created",
		"ipaddress.networking.k8s.io/10.200.0.10 created",
		"prioritylevelconfiguration.flowcontrol.apiserver.k8s.io/batch created",
		"flowschema.flowcontrol.apiserver.k8s.io/batch-jobs created",
		"deviceclass.resource.k8s.io/gpu.example.com created",
		"resourceclaim.resource.k8s.io/one-gpu created",
		"resourceclaimtemplate.resource.k8s.io/gpu-template created",
		"resourceslice.resource.k8s.io/node-1-gpu created",
		"csistoragecapacity.storage.k8s.io/zone-a created",
		"volumeattributesclass.storage.k8s.io/gold created",
		"horizontalpodautoscaler.autoscaling/web created")
	// Applying it again changes nothing. (The claim is "configured", as upstream: its
	// requests are an atomic list, so the three-way patch sends it whole because the stored
	// one holds defaults; the server, defaulting it again, stores nothing new.)
	out = k.mustIn(newKindsManifest, "apply", "-f", "-")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(l, " unchanged") && l != "resourceclaim.resource.k8s.io/one-gpu configured" {
			t.Errorf("second apply changed something: %s", l)
		}
	}
	wantEqual(t, "claim generation", k.run("get", "resourceclaim", "one-gpu", "-o", "jsonpath={.metadata.generation}"), "1")

	for _, c := range []struct {
		args   []string
		header string
		row    string // the leading cells (the age is left out)
	}{
		{[]string{"runtimeclass", "gvisor"}, "NAME HANDLER AGE", "gvisor runsc"},
		{[]string{"servicecidr", "extra"}, "NAME CIDRS AGE", "extra 10.200.0.0/24"},
		{[]string{"ipaddress", "10.200.0.10"}, "NAME PARENTREF", "10.200.0.10 services/default/manual"},
		{[]string{"prioritylevelconfiguration", "batch"}, "NAME TYPE NOMINALCONCURRENCYSHARES QUEUES HANDSIZE QUEUELENGTHLIMIT AGE", "batch Limited 30 64 8 50"},
		{[]string{"flowschema", "batch-jobs"}, "NAME PRIORITYLEVEL MATCHINGPRECEDENCE DISTINGUISHERMETHOD AGE MISSINGPL", "batch-jobs batch 1000 ByNamespace"},
		{[]string{"deviceclass", "gpu.example.com"}, "NAME AGE", "gpu.example.com"},
		{[]string{"resourceclaim", "one-gpu"}, "NAME STATE AGE", "one-gpu pending"},
		{[]string{"resourceclaimtemplate", "gpu-template"}, "NAME AGE", "gpu-template"},
		{[]string{"resourceslice", "node-1-gpu"}, "NAME NODE DRIVER POOL AGE", "node-1-gpu node-1 gpu.example.com node-1"},
		{[]string{"csistoragecapacity", "zone-a"}, "NAME STORAGECLASSNAME CAPACITY", "zone-a fast 100Gi"},
		{[]string{"vac", "gold"}, "NAME DRIVERNAME AGE", "gold pd.csi.example.com"},
		{[]string{"horizontalpodautoscalers.v1.autoscaling", "web"}, "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE", "web Deployment/web cpu: <unknown>/60% 1 5 0"},
	} {
		header, row := tableColumns(k.run(append([]string{"get"}, c.args...)...))
		wantEqual(t, strings.Join(c.args, " ")+" columns", strings.Join(header, " "), c.header)
		if got := strings.Join(row, " "); !strings.HasPrefix(got, c.row) {
			t.Errorf("%s row: got %q, want it to start with %q", strings.Join(c.args, " "), got, c.row)
		}
	}

	// Defaults: a claim's request takes one device; allocationMode All has no count.
	wantEqual(t, "claim defaults", k.run("get", "resourceclaim", "one-gpu", "-o",
		"jsonpath={.spec.devices.requests[0].exactly.allocationMode}/{.spec.devices.requests[0].exactly.count}"), "ExactCount/1")
	wantEqual(t, "template defaults", k.run("get", "resourceclaimtemplate", "gpu-template", "-o",
		"jsonpath={.spec.spec.devices.requests[0].exactly.allocationMode}/{.spec.spec.devices.requests[0].exactly.count}"), "All/")
	// The flow schema's level exists: the configuration consumer says so.
	poll(t, 30*time.Second, "batch-jobs not dangling", func() (bool, error) {
		return k.run("get", "flowschema", "batch-jobs", "-o", `jsonpath={.status.conditions[?(@.type=="Dangling")].status}`) == "False", nil
	})
	// autoscaling/v1 and v2 are two views of one object: the v1 CPU target is a v2 metric,
	// and a v2 metric v1 has no field for travels in an annotation.
	wantEqual(t, "hpa as v2", k.run("get", "horizontalpodautoscalers.v2.autoscaling", "web", "-o",
		"jsonpath={.spec.metrics[0].resource.name}={.spec.metrics[0].resource.target.averageUtilization}"), "cpu=60")
	k.run("patch", "horizontalpodautoscalers.v2.autoscaling", "web", "--type=json", "-p",
		`[{"op":"add","path":"/spec/metrics/-","value":{"type":"Resource","resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"500Mi"}}}}]`)
	wantEqual(t, "hpa as v1", k.run("get", "horizontalpodautoscalers.v1.autoscaling", "web", "-o",
		`jsonpath={.spec.targetCPUUtilizationPercentage} {.metadata.annotations.autoscaling\.alpha\.kubernetes\.io/metrics}`),
		`60 [{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}}]`)
	// Server-side apply through v1 after a v2 write: the field managers of both versions
	// are compared through the conversion.
	out = k.mustIn("apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: web, namespace: default}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: 7\n  targetCPUUtilizationPercentage: 60\n",
		"apply", "--server-side", "--field-manager=ops", "--force-conflicts", "-f", "-")
	wantLines(t, "v1 server-side apply", out, "horizontalpodautoscaler.autoscaling/web serverside-applied")
	// (A write through v1 puts the CPU target last, as upstream's conversion does.)
	wantEqual(t, "hpa after v1 apply", k.run("get", "horizontalpodautoscalers.v2.autoscaling", "web", "-o",
		"jsonpath={.spec.maxReplicas} {.spec.metrics[*].resource.name}"), "7 memory cpu")
	header, row := tableColumns(k.run("get", "hpa", "web"))
	if strings.Join(header, " ") != "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE" || !strings.HasPrefix(strings.Join(row, " "), "web Deployment/web memory: <unknown>/500Mi, cpu: <unknown>/60% 1 7") {
		t.Errorf("hpa table: %v %v", header, row)
	}

	// Validation speaks upstream's words.
	r := k.runIn("apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: bad, namespace: default}\nspec:\n  devices:\n    requests:\n    - name: gpu\n",
		nil, "apply", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "spec.devices.requests[0]: Required value: exactly one of `exactly` or `firstAvailable` is required") {
		t.Errorf("invalid claim: %v\n%s", r.Err, r.Stderr)
	}
	r = k.runIn("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: bad}\nhandler: Not_A_Label\n", nil, "apply", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, `handler: Invalid value: "Not_A_Label"`) {
		t.Errorf("invalid runtime class: %v\n%s", r.Err, r.Stderr)
	}
	r = k.runIn("", nil, "patch", "flowschema", "exempt", "--type=merge", "-p", `{"spec":{"matchingPrecedence":2}}`)
	if r.Err == nil || !strings.Contains(r.Stderr, "spec of 'exempt' must equal the fixed value") {
		t.Errorf("changing the exempt schema: %v\n%s", r.Err, r.Stderr)
	}
	r = k.runIn("", nil, "patch", "servicecidr", "kubernetes", "--type=merge", "-p", `{"spec":{"cidrs":["10.0.0.0/24"]}}`)
	if r.Err == nil || !strings.Contains(r.Stderr, "spec.cidrs[0]: Invalid value: \"10.0.0.0/24\": field is immutable") {
		t.Errorf("changing the default ServiceCIDR: %v\n%s", r.Err, r.Stderr)
	}
}

// TestClusterBootstrapObjects: the default ServiceCIDR, the IPAddresses of ClusterIPs and
// API Priority and Fairness' objects exist from the first start, as upstream makes them.
func TestClusterBootstrapObjects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := testserver.Start(t, testserver.Options{DataDir: dir})
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	ctx := context.Background()

	wantEqual(t, "default ServiceCIDR", k.run("get", "servicecidr", "kubernetes", "-o",
		`jsonpath={.spec.cidrs[0]} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}`),
		"10.96.0.0/12 True Kubernetes default Service CIDR is ready")
	header, row := tableColumns(k.run("get", "ipaddress", "10.96.0.1"))
	wantEqual(t, "kubernetes Service address", strings.Join(header, " ")+" | "+strings.Join(row, " "), "NAME PARENTREF | 10.96.0.1 services/default/kubernetes")
	wantEqual(t, "IPAddress labels", k.run("get", "ipaddress", "10.96.0.1", "-o",
		`jsonpath={.metadata.labels.ipaddress\.kubernetes\.io/ip-family} {.metadata.labels.ipaddress\.kubernetes\.io/managed-by}`), "IPv4 ipallocator.k8s.io")

	// A Service's ClusterIP gets its IPAddress with it, and gives it up with it.
	svc, err := s.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := s.Client.NetworkingV1().IPAddresses().Get(ctx, svc.Spec.ClusterIP, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the IPAddress of a new Service: %v", err)
	}
	if r := ip.Spec.ParentRef; r == nil || r.Resource != "services" || r.Namespace != "default" || r.Name != "web" {
		t.Errorf("parentRef: %+v", r)
	}
	// An address another object holds is refused, as upstream's allocator refuses it.
	_, err = s.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Spec: corev1.ServiceSpec{ClusterIP: svc.Spec.ClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided IP is already allocated") {
		t.Errorf("a taken address: %v", err)
	}
	if err := s.Client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.NetworkingV1().IPAddresses().Get(ctx, svc.Spec.ClusterIP, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the IPAddress of a deleted Service: %v", err)
	}

	// API Priority and Fairness: the mandatory and suggested objects, in matching order,
	// none dangling.
	for _, name := range []string{"exempt", "catch-all", "system", "node-high", "leader-election", "workload-high", "workload-low", "global-default"} {
		k.run("get", "prioritylevelconfiguration", name)
	}
	wantMatch(t, "priority levels", k.run("get", "prioritylevelconfigurations"),
		`^exempt\s+Exempt\s+<none>\s+<none>\s+<none>\s+<none>\s+\S+$`,
		`^catch-all\s+Limited\s+5\s+<none>\s+<none>\s+<none>\s+\S+$`,
		`^global-default\s+Limited\s+20\s+128\s+6\s+50\s+\S+$`)
	poll(t, 30*time.Second, "flow schemas found their levels", func() (bool, error) {
		out := k.run("get", "flowschemas", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Dangling")].status} {end}`)
		return !strings.Contains(out, "=True") && strings.Count(out, "=False") >= 11, nil
	})
	out := k.run("get", "flowschemas")
	wantMatch(t, "flow schemas", out,
		`^NAME\s+PRIORITYLEVEL\s+MATCHINGPRECEDENCE\s+DISTINGUISHERMETHOD\s+AGE\s+MISSINGPL$`,
		`^exempt\s+exempt\s+1\s+<none>\s+\S+\s+False$`,
		`^probes\s+exempt\s+2\s+<none>\s+\S+\s+False$`,
		`^global-default\s+global-default\s+9900\s+ByUser\s+\S+\s+False$`,
		`^catch-all\s+catch-all\s+10000\s+ByUser\s+\S+\s+False$`)
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		names = append(names, strings.Fields(l)[0])
	}
	if names[0] != "exempt" || names[len(names)-1] != "catch-all" {
		t.Errorf("flow schemas not in matching order: %v", names)
	}
	// A schema whose level goes is marked dangling.
	k.mustIn("apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: FlowSchema\nmetadata: {name: orphan}\nspec:\n  priorityLevelConfiguration: {name: nowhere}\n", "apply", "-f", "-")
	poll(t, 30*time.Second, "orphan dangling", func() (bool, error) {
		return k.run("get", "flowschema", "orphan", "-o", `jsonpath={.status.conditions[?(@.type=="Dangling")].reason}`) == "NotFound", nil
	})

	// At start the IPAddresses are brought in line with the Services: a missing one comes
	// back, a leftover of the allocator goes; deleted bootstrap objects come back.
	svc, err = s.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.run("delete", "ipaddress", svc.Spec.ClusterIP)
	k.mustIn("apiVersion: networking.k8s.io/v1\nkind: IPAddress\nmetadata:\n  name: 10.96.200.200\n  labels: {ipaddress.kubernetes.io/managed-by: ipallocator.k8s.io}\nspec:\n  parentRef: {resource: services, namespace: default, name: gone}\n", "apply", "-f", "-")
	k.run("delete", "prioritylevelconfiguration", "workload-low")
	if err := s.Running.Stop(); err != nil {
		t.Fatal(err)
	}
	s = testserver.Start(t, testserver.Options{DataDir: dir})
	k = &kubectlSession{t: t, s: s, dir: t.TempDir()}
	wantEqual(t, "restored IPAddress", k.run("get", "ipaddress", svc.Spec.ClusterIP, "-o", "jsonpath={.spec.parentRef.name}"), "api")
	if r := k.runIn("", nil, "get", "ipaddress", "10.96.200.200"); r.Err == nil {
		t.Errorf("a leftover IPAddress survived the restart")
	}
	k.run("get", "prioritylevelconfiguration", "workload-low")
	wantEqual(t, "ServiceCIDRs", k.run("get", "servicecidrs", "-o", "name"), "servicecidr.networking.k8s.io/kubernetes\n")
}

// TestRuntimeClassAdmission: pods naming a RuntimeClass get its overhead and scheduling, as
// upstream's RuntimeClass admission plugin gives them; a missing class is refused in its
// words.
func TestRuntimeClassAdmission(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	pod := func(name, class, extra string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: default}\nspec:\n  runtimeClassName: %s\n%s  containers:\n  - {name: c, image: kijabi.local/busybox}\n", name, class, extra)
	}

	r := k.runIn(pod("lost", "nope", ""), nil, "apply", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, `pods "lost" is forbidden: pod rejected: RuntimeClass "nope" not found`) {
		t.Fatalf("missing class: %v\n%s", r.Err, r.Stderr)
	}

	k.mustIn(`apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: kata
handler: kata
overhead:
  podFixed:
    cpu: 250m
    memory: 120Mi
scheduling:
  nodeSelector:
    runtime: kata
  tolerations:
  - key: runtime
    operator: Equal
    value: kata
    effect: NoSchedule
`, "apply", "-f", "-")
	k.mustIn(pod("sandboxed", "kata", "  nodeSelector: {zone: a}\n"), "apply", "-f", "-")
	wantEqual(t, "overhead", k.run("get", "pod", "sandboxed", "-o", "jsonpath={.spec.overhead.cpu} {.spec.overhead.memory}"), "250m 120Mi")
	wantEqual(t, "node selector", k.run("get", "pod", "sandboxed", "-o", "jsonpath={.spec.nodeSelector}"), `{"runtime":"kata","zone":"a"}`)
	wantMatch(t, "tolerations", k.run("get", "pod", "sandboxed", "-o", `jsonpath={range .spec.tolerations[*]}{.key}={.value}:{.effect}{"\n"}{end}`),
		`^runtime=kata:NoSchedule$`, `^node.kubernetes.io/not-ready=:NoExecute$`)

	r = k.runIn(pod("conflict", "kata", "  nodeSelector: {runtime: runc}\n"), nil, "apply", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, `pods "conflict" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[runtime] = kata; pod.spec.nodeSelector[runtime] = runc`) {
		t.Errorf("conflicting selector: %v\n%s", r.Err, r.Stderr)
	}
	r = k.runIn(pod("heavy", "kata", "  overhead: {cpu: 1}\n"), nil, "apply", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, `pods "heavy" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead`) {
		t.Errorf("a different overhead: %v\n%s", r.Err, r.Stderr)
	}
}
