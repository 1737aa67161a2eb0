package daemonset

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	schedcorev1 "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

const (
	// TemplateGenerationAnnotation is the (deprecated) annotation Kubernetes keeps the
	// template generation of a DaemonSet in; pods carrying a matching
	// pod-template-generation label count as updated, like pods with the current hash.
	TemplateGenerationAnnotation = "deprecated.daemonset.template.generation"
	// PodTemplateGenerationLabel is the (deprecated) label holding the DaemonSet generation a
	// pod was created at.
	PodTemplateGenerationLabel = "pod-template-generation"
)

// daemonTolerations are the tolerations every daemon pod gets, as upstream: daemons keep
// running on not-ready/unreachable nodes and are scheduled despite node pressure and
// cordoning. hostNetwork pods also tolerate network-unavailable.
func daemonTolerations(hostNetwork bool) []corev1.Toleration {
	ts := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		ts = append(ts, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return ts
}

// addDaemonTolerations adds (or replaces, by key and effect) the standard daemon tolerations.
func addDaemonTolerations(spec *corev1.PodSpec) {
	for _, t := range daemonTolerations(spec.HostNetwork) {
		replaced := false
		for i := range spec.Tolerations {
			cur := &spec.Tolerations[i]
			if cur.Key == t.Key && cur.Effect == t.Effect {
				*cur = t
				replaced = true
				break
			}
		}
		if !replaced {
			spec.Tolerations = append(spec.Tolerations, t)
		}
	}
}

// nodeNameAffinity returns affinity with its required node affinity replaced by a single term
// selecting the node by metadata.name (the scheduler then binds the pod to that node). The
// template's own node affinity was already checked by the controller.
func nodeNameAffinity(affinity *corev1.Affinity, nodeName string) *corev1.Affinity {
	sel := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{nodeName}}},
	}}}
	if affinity == nil {
		affinity = &corev1.Affinity{}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = sel
	return affinity
}

// targetNodeName is the node a daemon pod is for: its spec.nodeName, or (not yet scheduled) the
// node its metadata.name affinity names.
func targetNodeName(pod *corev1.Pod) (string, bool) {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName, true
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", false
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, r := range term.MatchFields {
			if r.Key == metav1.ObjectNameField && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 {
				return r.Values[0], true
			}
		}
	}
	return "", false
}

// newPod is the daemon pod of ds for nodeName at revision hash.
func newPod(ds *appsv1.DaemonSet, nodeName, hash string) *corev1.Pod {
	t := ds.Spec.Template.DeepCopy()
	labels := maps.Clone(t.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if g, ok := templateGeneration(ds); ok {
		labels[PodTemplateGenerationLabel] = strconv.FormatInt(g, 10)
	}
	if hash != "" {
		labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec: t.Spec,
	}
	addDaemonTolerations(&pod.Spec)
	pod.Spec.Affinity = nodeNameAffinity(pod.Spec.Affinity, nodeName)
	return pod
}

// templateGeneration reads the deprecated template generation annotation, if any.
func templateGeneration(ds *appsv1.DaemonSet) (int64, bool) {
	v, ok := ds.Annotations[TemplateGenerationAnnotation]
	if !ok {
		return 0, false
	}
	g, err := strconv.ParseInt(v, 10, 64)
	return g, err == nil
}

// isPodUpdated reports whether pod runs the current template: its hash label is hash, or its
// template generation label matches the DaemonSet's.
func isPodUpdated(ds *appsv1.DaemonSet, pod *corev1.Pod, hash string) bool {
	if hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
		return true
	}
	g, ok := templateGeneration(ds)
	return ok && pod.Labels[PodTemplateGenerationLabel] == strconv.FormatInt(g, 10)
}

// nodeShouldRunDaemonPod decides, as upstream, whether a daemon pod should be started on node
// (shouldRun) and whether one already there may stay (shouldContinueRunning). The node must
// match the template's nodeName (if any), nodeSelector and required node affinity; its
// NoSchedule and NoExecute taints must be tolerated by the template's tolerations plus the
// standard daemon tolerations — except that a pod already running stays on a node whose
// untolerated taints are all NoSchedule.
func nodeShouldRunDaemonPod(node *corev1.Node, ds *appsv1.DaemonSet) (shouldRun, shouldContinueRunning bool) {
	spec := ds.Spec.Template.Spec.DeepCopy()
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	fits, err := nodeaffinity.NewRequiredNodeAffinity(spec.NodeSelector, spec.Affinity).Match(node)
	if err != nil || !fits {
		return false, false
	}
	addDaemonTolerations(spec)
	logger := klog.Background()
	_, untolerated := schedcorev1.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute || t.Effect == corev1.TaintEffectNoSchedule
	}, true)
	if !untolerated {
		return true, true
	}
	_, untoleratedNoExecute := schedcorev1.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute
	}, true)
	return false, !untoleratedNoExecute
}

// byCreation orders pods scheduled first, then oldest first, then by name.
func byCreation(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
			return a.Spec.NodeName != ""
		}
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}

// nodesToPods groups pods by the node they are for. Terminal pods being deleted are dropped:
// there is nothing left to do with them. Pods with no target node are dropped too.
func nodesToPods(pods []*corev1.Pod) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
			continue
		}
		n, ok := targetNodeName(p)
		if !ok {
			continue
		}
		out[n] = append(out[n], p)
	}
	return out
}

// maxSurge and maxUnavailable resolve the rolling update parameters against the desired
// number of scheduled pods (percentages round up). When both are zero maxUnavailable is 1.
func rollingParams(ds *appsv1.DaemonSet, desired int) (surge, unavailable int, err error) {
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ds.Spec.UpdateStrategy.RollingUpdate == nil {
		return 0, 1, nil
	}
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ru.MaxSurge != nil {
		if surge, err = intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true); err != nil {
			return 0, 0, fmt.Errorf("invalid maxSurge: %w", err)
		}
	}
	if ru.MaxUnavailable != nil {
		if unavailable, err = intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true); err != nil {
			return 0, 0, fmt.Errorf("invalid maxUnavailable: %w", err)
		}
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable, nil
}

// allowsSurge reports whether the DaemonSet may run an old and a new pod on a node at once.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	s, _, err := rollingParams(ds, 1)
	return err == nil && s > 0
}

// plan is what a sync should do: create a pod on each of createOn, delete deletions.
type plan struct {
	createOn []string
	delete   []*corev1.Pod
}

// planManage decides, node by node, which nodes need a daemon pod and which pods must go, as
// upstream's manage loop: a pod is created where one should run and none exists; pods are
// deleted where none may continue running, on nodes that no longer exist, when they
// Succeeded, when they Failed (if mayDeleteFailed allows it for that node — a backoff), and
// when there are extra pods on a node (all but the oldest; with surge, an old and a new pod
// may coexist until the new one is available).
func planManage(ds *appsv1.DaemonSet, hash string, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, now time.Time, mayDeleteFailed func(node string) bool) plan {
	var p plan
	known := map[string]bool{}
	for _, node := range sortedNodes(nodes) {
		known[node.Name] = true
		pods := byNode[node.Name]
		shouldRun, shouldContinue := nodeShouldRunDaemonPod(node, ds)
		switch {
		case shouldRun && len(pods) == 0:
			p.createOn = append(p.createOn, node.Name)
		case shouldContinue:
			var running []*corev1.Pod
			for _, pod := range pods {
				switch {
				case pod.DeletionTimestamp != nil:
				case pod.Status.Phase == corev1.PodFailed:
					if mayDeleteFailed == nil || mayDeleteFailed(node.Name) {
						p.delete = append(p.delete, pod)
					}
				case pod.Status.Phase == corev1.PodSucceeded:
					p.delete = append(p.delete, pod)
				default:
					running = append(running, pod)
				}
			}
			if len(running) <= 1 {
				break
			}
			byCreation(running)
			if !allowsSurge(ds) {
				p.delete = append(p.delete, running[1:]...)
				break
			}
			// With surge an old and a new pod may coexist: keep the oldest of each, and
			// drop the old one once it is not ready or the new one is available.
			var oldestNew, oldestOld *corev1.Pod
			for _, pod := range running {
				if isPodUpdated(ds, pod, hash) {
					if oldestNew == nil {
						oldestNew = pod
						continue
					}
				} else if oldestOld == nil {
					oldestOld = pod
					continue
				}
				p.delete = append(p.delete, pod)
			}
			if oldestNew != nil && oldestOld != nil &&
				(!controllerutil.IsPodReady(oldestOld) || controllerutil.IsPodAvailable(oldestNew, ds.Spec.MinReadySeconds, now)) {
				p.delete = append(p.delete, oldestOld)
			}
		case len(pods) > 0:
			for _, pod := range pods {
				if pod.DeletionTimestamp == nil {
					p.delete = append(p.delete, pod)
				}
			}
		}
	}
	// Pods for nodes that are gone.
	for _, name := range slices.Sorted(maps.Keys(byNode)) {
		if known[name] {
			continue
		}
		for _, pod := range byNode[name] {
			if pod.DeletionTimestamp == nil {
				p.delete = append(p.delete, pod)
			}
		}
	}
	return p
}

func sortedNodes(nodes []*corev1.Node) []*corev1.Node {
	out := slices.Clone(nodes)
	slices.SortFunc(out, func(a, b *corev1.Node) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// updatedPodsOnNode splits the live pods on a node into the one at the current revision and
// the old one; ok is false when there is more than one of either (the manage loop cleans up).
func updatedPodsOnNode(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if isPodUpdated(ds, pod, hash) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// desiredNumber counts the nodes a daemon pod should run on.
func desiredNumber(ds *appsv1.DaemonSet, nodes []*corev1.Node) int {
	n := 0
	for _, node := range nodes {
		if run, _ := nodeShouldRunDaemonPod(node, ds); run {
			n++
		}
	}
	return n
}

// planRollingUpdate decides one step of a RollingUpdate, as upstream.
//
// Without surge, old pods are deleted (the manage loop then creates new ones) while fewer
// than maxUnavailable nodes are unavailable; old pods that are not available anyway may
// always be replaced.
//
// With surge, a new pod is created next to an old one (up to maxSurge at a time; at once
// where the old pod is unavailable), and the old pod is deleted once the new one is
// available.
func planRollingUpdate(ds *appsv1.DaemonSet, hash string, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, now time.Time) (plan, error) {
	desired := desiredNumber(ds, nodes)
	maxSurge, maxUnavailable, err := rollingParams(ds, desired)
	if err != nil {
		return plan{}, err
	}
	available := func(p *corev1.Pod) bool { return controllerutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) }
	nodeNames := slices.Sorted(maps.Keys(byNode))
	nodeByName := map[string]*corev1.Node{}
	for _, n := range nodes {
		nodeByName[n.Name] = n
	}
	var p plan
	if maxSurge == 0 {
		numUnavailable := 0
		var replace, candidates []*corev1.Pod
		for _, name := range nodeNames {
			newPod, oldPod, ok := updatedPodsOnNode(ds, byNode[name], hash)
			if !ok {
				numUnavailable++
				continue
			}
			switch {
			case oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				numUnavailable++
			case newPod != nil:
				if !available(newPod) {
					numUnavailable++
				}
			default:
				switch {
				case !available(oldPod):
					replace = append(replace, oldPod)
				case numUnavailable >= maxUnavailable:
				default:
					candidates = append(candidates, oldPod)
				}
			}
		}
		remaining := min(max(maxUnavailable-numUnavailable, 0), len(candidates))
		p.delete = append(replace, candidates[:remaining]...)
		return p, nil
	}

	var (
		numSurge, numAvailable   int
		allowedNew, candidateNew []string
		shouldNotRun             []*corev1.Pod
	)
	for _, name := range nodeNames {
		newPod, oldPod, ok := updatedPodsOnNode(ds, byNode[name], hash)
		if !ok {
			numSurge++
			continue
		}
		if oldPod != nil {
			if available(oldPod) {
				numAvailable++
			}
		} else if newPod != nil && available(newPod) {
			numAvailable++
		}
		switch {
		case oldPod == nil:
		case newPod == nil:
			node := nodeByName[name]
			shouldRun := false
			if node != nil {
				shouldRun, _ = nodeShouldRunDaemonPod(node, ds)
			}
			switch {
			case !available(oldPod):
				if !shouldRun {
					p.delete = append(p.delete, oldPod)
					continue
				}
				allowedNew = append(allowedNew, name)
			default:
				if !shouldRun {
					shouldNotRun = append(shouldNotRun, oldPod)
					continue
				}
				if numSurge >= maxSurge {
					continue
				}
				candidateNew = append(candidateNew, name)
			}
		default:
			if !available(newPod) {
				numSurge++
				continue
			}
			p.delete = append(p.delete, oldPod)
		}
	}
	if deletable := min(numAvailable-desired, len(shouldNotRun)); deletable > 0 {
		p.delete = append(p.delete, shouldNotRun[:deletable]...)
	}
	remaining := min(max(maxSurge-numSurge, 0), len(candidateNew))
	p.createOn = append(allowedNew, candidateNew[:remaining]...)
	return p, nil
}

// calculateStatus is the status the DaemonSet reports for these nodes and pods (collision
// count and conditions are kept from the current status).
func calculateStatus(ds *appsv1.DaemonSet, hash string, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, now time.Time) appsv1.DaemonSetStatus {
	st := appsv1.DaemonSetStatus{
		ObservedGeneration: ds.Generation,
		CollisionCount:     ds.Status.CollisionCount,
		Conditions:         ds.Status.Conditions,
	}
	for _, node := range nodes {
		shouldRun, _ := nodeShouldRunDaemonPod(node, ds)
		pods := byNode[node.Name]
		scheduled := len(pods) > 0
		if !shouldRun {
			if scheduled {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if !scheduled {
			continue
		}
		st.CurrentNumberScheduled++
		pods = slices.Clone(pods)
		byCreation(pods)
		pod := pods[0]
		if controllerutil.IsPodReady(pod) {
			st.NumberReady++
			if controllerutil.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		if isPodUpdated(ds, pod, hash) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}

// statusEqual compares the fields the controller owns.
func statusEqual(a, b appsv1.DaemonSetStatus) bool {
	return a.ObservedGeneration == b.ObservedGeneration &&
		a.DesiredNumberScheduled == b.DesiredNumberScheduled &&
		a.CurrentNumberScheduled == b.CurrentNumberScheduled &&
		a.NumberMisscheduled == b.NumberMisscheduled &&
		a.NumberReady == b.NumberReady &&
		a.NumberAvailable == b.NumberAvailable &&
		a.UpdatedNumberScheduled == b.UpdatedNumberScheduled &&
		a.NumberUnavailable == b.NumberUnavailable
}
