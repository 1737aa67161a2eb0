package simnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// NodeLeaseNamespace holds the node Leases.
const NodeLeaseNamespace = "kube-node-lease"

// renewJitter is the jitter factor of lease renewals, as the kubelet's.
const renewJitter = 0.04

// heartbeat registers n if needed, renews its lease and reports its status when due. It
// returns when to come back (0 when paused).
func (c *Cluster) heartbeat(ctx context.Context, n *node) (time.Duration, error) {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	n.mu.Lock()
	paused, registered := n.paused, n.registered
	n.mu.Unlock()
	if paused {
		return 0, nil
	}
	if !registered {
		if err := c.register(ctx, n); err != nil {
			return 0, fmt.Errorf("registering: %w", err)
		}
	}
	now := c.cfg.Clock.Now()
	n.mu.Lock()
	renewDue := n.lease == nil || now.Sub(n.lastRenew) >= c.cfg.RenewInterval-c.cfg.RenewInterval/10
	statusDue := n.statusDirty || now.Sub(n.lastStatus) >= c.cfg.StatusInterval
	n.mu.Unlock()
	// The lease and the status are independent, as in the kubelet: one failing does not hold
	// back the other.
	var errs []error
	if renewDue {
		if err := c.renewLease(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("renewing lease: %w", err))
		}
	}
	if statusDue {
		if err := c.updateStatus(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("updating status: %w", err))
		}
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	next := n.lastRenew.Add(c.cfg.RenewInterval).Sub(now)
	if s := n.lastStatus.Add(c.cfg.StatusInterval).Sub(now); s < next {
		next = s
	}
	return max(wait.Jitter(next, renewJitter), 10*time.Millisecond), nil
}

// register creates the Node (or adopts an existing one) and reports its first status.
func (c *Cluster) register(ctx context.Context, n *node) error {
	nd, err := c.cfg.Client.CoreV1().Nodes().Create(ctx, c.newNode(n), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		nd, err = c.cfg.Client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.lastNode = nd
	n.uid = nd.UID
	n.statusDirty = true
	n.mu.Unlock()
	if err := c.updateStatus(ctx, n); err != nil {
		return err
	}
	n.mu.Lock()
	n.registered = true
	n.mu.Unlock()
	c.log.Debug("node registered", "node", n.name)
	return nil
}

// newNode is the Node a simulated node registers.
func (c *Cluster) newNode(n *node) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:           n.name,
		corev1.LabelOSStable:           "linux",
		corev1.LabelArchStable:         "amd64",
		"beta.kubernetes.io/os":        "linux",
		"beta.kubernetes.io/arch":      "amd64",
		corev1.LabelInstanceTypeStable: InstanceType,
	}
	for k, v := range c.cfg.Labels {
		labels[k] = v
	}
	var taints []corev1.Taint
	for _, t := range c.cfg.Taints {
		taints = append(taints, *t.DeepCopy())
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   n.name,
			Labels: labels,
			Annotations: map[string]string{
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
			},
		},
		Spec: corev1.NodeSpec{Taints: taints},
	}
}

// desiredStatus is the status n reports, keeping the transition times of unchanged
// conditions from old.
func (c *Cluster) desiredStatus(n *node, old *corev1.NodeStatus, now time.Time) corev1.NodeStatus {
	t := metav1.NewTime(now).Rfc3339Copy()
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = t
		conds[i].LastTransitionTime = t
		if o := findNodeCondition(old.Conditions, conds[i].Type); o != nil && o.Status == conds[i].Status && !o.LastTransitionTime.IsZero() {
			conds[i].LastTransitionTime = o.LastTransitionTime
		}
	}
	// Conditions owned by others (e.g. NetworkUnavailable) are kept.
	for _, o := range old.Conditions {
		if findNodeCondition(conds, o.Type) == nil {
			conds = append(conds, o)
		}
	}
	sum := sha256.Sum256([]byte(n.name))
	id := hex.EncodeToString(sum[:16])
	return corev1.NodeStatus{
		Capacity:    c.cfg.Capacity.DeepCopy(),
		Allocatable: c.cfg.Capacity.DeepCopy(),
		Phase:       old.Phase,
		Conditions:  conds,
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.internalIP},
			{Type: corev1.NodeHostName, Address: n.name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: KubeletPort}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               id,
			SystemUUID:              fmt.Sprintf("%s-%s-%s-%s-%s", id[0:8], id[8:12], id[12:16], id[16:20], id[20:32]),
			BootID:                  n.bootID,
			KernelVersion:           KernelVersion,
			OSImage:                 OSImage,
			ContainerRuntimeVersion: ContainerRuntimeVersion,
			KubeletVersion:          KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            "amd64",
		},
		Images:          old.Images,
		VolumesInUse:    old.VolumesInUse,
		VolumesAttached: old.VolumesAttached,
		Config:          old.Config,
		RuntimeHandlers: old.RuntimeHandlers,
		Features:        old.Features,
	}
}

func findNodeCondition(conds []corev1.NodeCondition, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// statusCurrent reports whether nd's status is what n reports, heartbeat times aside.
// n.mu must be held.
func (c *Cluster) statusCurrent(n *node, nd *corev1.Node) bool {
	want := c.desiredStatus(n, &nd.Status, time.Time{})
	for _, w := range want.Conditions {
		o := findNodeCondition(nd.Status.Conditions, w.Type)
		if o == nil || o.Status != w.Status || o.Reason != w.Reason || o.Message != w.Message {
			return false
		}
	}
	return apiequality.Semantic.DeepEqual(want.Capacity, nd.Status.Capacity) &&
		apiequality.Semantic.DeepEqual(want.Allocatable, nd.Status.Allocatable) &&
		apiequality.Semantic.DeepEqual(want.Addresses, nd.Status.Addresses) &&
		want.NodeInfo == nd.Status.NodeInfo
}

// updateStatus reports n's status, starting from the cached Node.
func (c *Cluster) updateStatus(ctx context.Context, n *node) error {
	base := c.currentNode(n)
	for attempt := 0; ; attempt++ {
		nd := base.DeepCopy()
		nd.Status = c.desiredStatus(n, &base.Status, c.cfg.Clock.Now())
		updated, err := c.cfg.Client.CoreV1().Nodes().UpdateStatus(ctx, nd, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt < 3 {
			if base, err = c.cfg.Client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.lastNode = updated
		n.uid = updated.UID
		n.lastStatus = c.cfg.Clock.Now()
		n.statusDirty = false
		n.mu.Unlock()
		return nil
	}
}

// currentNode is the newest Node object known: the informer's, or the last one written.
func (c *Cluster) currentNode(n *node) *corev1.Node {
	n.mu.Lock()
	last := n.lastNode
	n.mu.Unlock()
	if obj, ok, _ := c.nodeS.GetIndexer().GetByKey(n.name); ok {
		nd := obj.(*corev1.Node)
		if last == nil || nd.UID != last.UID || newerRV(nd.ResourceVersion, last.ResourceVersion) {
			return nd
		}
	}
	return last
}

// newerRV reports whether resource version a is newer than b (both etcd revisions, or
// otherwise unknown: then a is taken).
func newerRV(a, b string) bool {
	var x, y uint64
	if _, err := fmt.Sscan(a, &x); err != nil {
		return true
	}
	if _, err := fmt.Sscan(b, &y); err != nil {
		return true
	}
	return x >= y
}

// renewLease renews (creating it if needed) n's Lease in kube-node-lease.
func (c *Cluster) renewLease(ctx context.Context, n *node) error {
	leases := c.cfg.Client.CoordinationV1().Leases(NodeLeaseNamespace)
	n.mu.Lock()
	base, uid := n.lease, n.uid
	n.mu.Unlock()
	now := c.cfg.Clock.Now()
	var out *coordinationv1.Lease
	var err error
	if base != nil {
		l := base.DeepCopy()
		c.fillLease(l, n.name, uid, now)
		out, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if base == nil || apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// Start again from the stored Lease, or create it.
		base, err = leases.Get(ctx, n.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: NodeLeaseNamespace}}
			c.fillLease(l, n.name, uid, now)
			out, err = leases.Create(ctx, l, metav1.CreateOptions{})
		case err == nil:
			l := base.DeepCopy()
			c.fillLease(l, n.name, uid, now)
			out, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		n.mu.Lock()
		n.lease = nil
		n.mu.Unlock()
		return err
	}
	n.mu.Lock()
	n.lease = out
	n.lastRenew = now
	n.mu.Unlock()
	return nil
}

// fillLease makes l a renewed node lease held by the node.
func (c *Cluster) fillLease(l *coordinationv1.Lease, name string, uid types.UID, now time.Time) {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != name {
		if l.Spec.HolderIdentity != nil {
			l.Spec.LeaseTransitions = ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)
		}
		l.Spec.HolderIdentity = ptr.To(name)
	}
	l.Spec.LeaseDurationSeconds = ptr.To(int32(c.cfg.LeaseDuration / time.Second))
	l.Spec.RenewTime = &metav1.MicroTime{Time: now}
	// Like the kubelet: the Lease belongs to the Node, so it goes when the Node does.
	if uid != "" && len(l.OwnerReferences) == 0 {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: uid}}
	}
}
