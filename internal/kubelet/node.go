package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// maxPods is the pod capacity the node reports, as the kubelet's default.
const maxPods = 110

// machine holds the facts about this host that the Node reports.
type machine struct {
	capacity    corev1.ResourceList
	allocatable corev1.ResourceList
	info        corev1.NodeSystemInfo
	hostname    string
}

// readMachine gathers capacity and system info from the host and the runtime.
func (k *Kubelet) readMachine(ctx context.Context) (*machine, error) {
	memTotal, err := memTotalBytes()
	if err != nil {
		return nil, err
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(k.cfg.RootDir, &fs); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", k.cfg.RootDir, err)
	}
	storage := int64(fs.Blocks) * int64(fs.Bsize)
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memTotal, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(storage, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(maxPods, resource.DecimalSI),
		"hugepages-2Mi":                 *resource.NewQuantity(0, resource.BinarySI),
	}
	// Allocatable keeps back the kubelet's default hard eviction thresholds
	// (memory.available<100Mi, nodefs.available<10%).
	allocatable := capacity.DeepCopy()
	allocatable[corev1.ResourceMemory] = *resource.NewQuantity(max(memTotal-100<<20, 0), resource.BinarySI)
	allocatable[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(storage-storage/10, resource.BinarySI)

	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	rt := "unknown"
	if v, err := k.cfg.Runtime.Runtime.Version(ctx, &runtimeapi.VersionRequest{}); err == nil {
		rt = v.RuntimeName + "://" + v.RuntimeVersion
	}
	hostname, _ := os.Hostname()
	return &machine{
		capacity:    capacity,
		allocatable: allocatable,
		hostname:    hostname,
		info: corev1.NodeSystemInfo{
			MachineID:               readTrim("/etc/machine-id"),
			SystemUUID:              readTrim("/sys/class/dmi/id/product_uuid"),
			BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
			KernelVersion:           utsString(uts.Release[:]),
			OSImage:                 osImage(),
			ContainerRuntimeVersion: rt,
			KubeletVersion:          Version,
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
		},
	}, nil
}

func memTotalBytes() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("reading memory size: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kb int64
		if n, _ := fmt.Sscanf(s.Text(), "MemTotal: %d kB", &kb); n == 1 {
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("reading memory size: no MemTotal in /proc/meminfo")
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func utsString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

func osImage() string {
	b, _ := os.ReadFile("/etc/os-release")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

// newNode is the Node this kubelet registers.
func (k *Kubelet) newNode() *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:      k.cfg.NodeName,
		corev1.LabelOSStable:      runtime.GOOS,
		corev1.LabelArchStable:    runtime.GOARCH,
		"beta.kubernetes.io/os":   runtime.GOOS,
		"beta.kubernetes.io/arch": runtime.GOARCH,
	}
	for key, v := range k.cfg.Labels {
		labels[key] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        k.cfg.NodeName,
			Labels:      labels,
			Annotations: map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
		},
		Spec: corev1.NodeSpec{Taints: append([]corev1.Taint(nil), k.cfg.Taints...)},
	}
}

// register creates the Node, or takes over an existing one of the same name.
func (k *Kubelet) register(ctx context.Context) error {
	return wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := k.cfg.Client.CoreV1().Nodes().Create(ctx, k.newNode(), metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			k.log.Info("node registered")
			return true, nil
		}
		k.log.Warn("registering node", "err", err)
		return false, nil
	})
}

// desiredStatus is the status this node reports, keeping unchanged conditions'
// transition times from old.
func (k *Kubelet) desiredStatus(old *corev1.NodeStatus, now time.Time) corev1.NodeStatus {
	t := metav1.NewTime(now).Rfc3339Copy()
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
	if msg := k.runtimeProblem(); msg != "" {
		ready = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: msg}
	}
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		ready,
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = t
		conds[i].LastTransitionTime = t
		if o := findNodeCondition(old.Conditions, conds[i].Type); o != nil && o.Status == conds[i].Status && !o.LastTransitionTime.IsZero() {
			conds[i].LastTransitionTime = o.LastTransitionTime
		}
	}
	for _, o := range old.Conditions {
		if findNodeCondition(conds, o.Type) == nil {
			conds = append(conds, o)
		}
	}
	m := k.machine
	addrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.cfg.NodeIP.String()}, {Type: corev1.NodeHostName, Address: m.hostname}}
	return corev1.NodeStatus{
		Capacity:        m.capacity.DeepCopy(),
		Allocatable:     m.allocatable.DeepCopy(),
		Conditions:      conds,
		Addresses:       addrs,
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: k.cfg.Port}},
		NodeInfo:        m.info,
		Images:          k.nodeImages(),
		VolumesInUse:    old.VolumesInUse,
		VolumesAttached: old.VolumesAttached,
		Config:          old.Config,
		Features:        old.Features,
		RuntimeHandlers: old.RuntimeHandlers,
	}
}

// runtimeProblem says why the node cannot run pods, or "" when it can.
func (k *Kubelet) runtimeProblem() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.notReady
}

// nodeImages lists the runtime's images, largest first, at most 50, as the Node reports.
func (k *Kubelet) nodeImages() []corev1.ContainerImage {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := k.cfg.Runtime.Images.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return nil
	}
	var out []corev1.ContainerImage
	for _, img := range resp.Images {
		names := append(append([]string(nil), img.RepoDigests...), img.RepoTags...)
		if len(names) == 0 {
			continue
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: int64(img.Size)})
	}
	sortImages(out)
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}

func findNodeCondition(conds []corev1.NodeCondition, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// statusCurrent reports whether node's status already says what want says, heartbeats
// aside.
func statusCurrent(node *corev1.Node, want *corev1.NodeStatus) bool {
	for _, w := range want.Conditions {
		o := findNodeCondition(node.Status.Conditions, w.Type)
		if o == nil || o.Status != w.Status || o.Reason != w.Reason || o.Message != w.Message {
			return false
		}
	}
	return apiequality.Semantic.DeepEqual(want.Capacity, node.Status.Capacity) &&
		apiequality.Semantic.DeepEqual(want.Allocatable, node.Status.Allocatable) &&
		apiequality.Semantic.DeepEqual(want.Addresses, node.Status.Addresses) &&
		apiequality.Semantic.DeepEqual(want.NodeInfo, node.Status.NodeInfo) &&
		apiequality.Semantic.DeepEqual(want.Images, node.Status.Images) &&
		want.DaemonEndpoints == node.Status.DaemonEndpoints
}

// syncNodeStatus writes the node status when it changed or when a report is due (every
// minute, as the kubelet's nodeStatusReportFrequency default... 5m upstream; leases carry
// liveness, so a minute is plenty).
func (k *Kubelet) syncNodeStatus(ctx context.Context) error {
	node, err := k.cfg.Client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Someone deleted our Node: register it again, as the kubelet does on restart.
		if err := k.register(ctx); err != nil {
			return err
		}
		node, err = k.cfg.Client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("getting node: %w", err)
	}
	k.observePodCIDR(node)
	now := k.cfg.Clock.Now()
	want := k.desiredStatus(&node.Status, now)
	k.mu.Lock()
	due := now.Sub(k.lastStatusReport) >= time.Minute
	k.mu.Unlock()
	if statusCurrent(node, &want) && !due {
		return nil
	}
	node.Status = want
	if _, err := k.cfg.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating node status: %w", err)
	}
	k.mu.Lock()
	k.lastStatusReport = now
	k.mu.Unlock()
	return nil
}

// observePodCIDR hands the node's podCIDR to NetworkReady once it is assigned.
func (k *Kubelet) observePodCIDR(node *corev1.Node) {
	k.cidrMu.Lock()
	defer k.cidrMu.Unlock()
	k.mu.Lock()
	done := k.podCIDR != ""
	k.mu.Unlock()
	if done || node.Spec.PodCIDR == "" {
		return
	}
	if k.cfg.NetworkReady != nil {
		if err := k.cfg.NetworkReady(node.Spec.PodCIDR); err != nil {
			k.log.Error("configuring the pod network", "podCIDR", node.Spec.PodCIDR, "err", err)
			return
		}
	}
	k.mu.Lock()
	k.podCIDR = node.Spec.PodCIDR
	if strings.HasPrefix(k.notReady, "container runtime network not ready") {
		k.notReady = ""
	}
	k.mu.Unlock()
	k.log.Info("pod network ready", "podCIDR", node.Spec.PodCIDR)
	close(k.networkReady)
}

// renewLease creates or renews the node's Lease in kube-node-lease.
func (k *Kubelet) renewLease(ctx context.Context) error {
	leases := k.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(k.cfg.Clock.Now())
	lease, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(k.cfg.NodeName),
				LeaseDurationSeconds: ptr.To(int32(k.cfg.LeaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}
		if node, err := k.cfg.Client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{}); err == nil {
			lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.HolderIdentity = ptr.To(k.cfg.NodeName)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(k.cfg.LeaseDuration / time.Second))
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// runHeartbeats keeps the Lease and the node status fresh until ctx ends.
func (k *Kubelet) runHeartbeats(ctx context.Context) {
	go wait.JitterUntilWithContext(ctx, func(ctx context.Context) {
		if err := k.renewLease(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("renewing node lease", "err", err)
		}
	}, k.cfg.LeaseDuration/4, 0.04, true)
	wait.JitterUntilWithContext(ctx, func(ctx context.Context) {
		if err := k.syncNodeStatus(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("node status", "err", err)
		}
	}, k.cfg.NodeStatusUpdateFrequency, 0.04, true)
}
