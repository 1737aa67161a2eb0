package kubelet

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
)

// podState is what the runtime has of one pod: its sandboxes, newest first, and its
// containers by name, newest attempt first.
type podState struct {
	sandboxes  []*runtimeapi.PodSandbox
	containers map[string][]*runtimeapi.ContainerStatus
}

// readySandbox is the newest sandbox if it is ready.
func (s *podState) readySandbox() *runtimeapi.PodSandbox {
	if len(s.sandboxes) > 0 && s.sandboxes[0].State == runtimeapi.PodSandboxState_SANDBOX_READY {
		return s.sandboxes[0]
	}
	return nil
}

// latest is the newest instance of container name, or nil.
func (s *podState) latest(name string) *runtimeapi.ContainerStatus {
	if l := s.containers[name]; len(l) > 0 {
		return l[0]
	}
	return nil
}

// previous is the instance before the newest one, or nil.
func (s *podState) previous(name string) *runtimeapi.ContainerStatus {
	if l := s.containers[name]; len(l) > 1 {
		return l[1]
	}
	return nil
}

// runtimeState reads the pod's sandboxes and containers from the runtime.
func (k *Kubelet) runtimeState(ctx context.Context, uid types.UID) (*podState, error) {
	rt := k.cfg.Runtime.Runtime
	sel := map[string]string{cri.LabelPodUID: string(uid)}
	sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		return nil, fmt.Errorf("listing sandboxes: %w", err)
	}
	cs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	st := &podState{sandboxes: sbs.Items, containers: map[string][]*runtimeapi.ContainerStatus{}}
	sort.Slice(st.sandboxes, func(i, j int) bool {
		a, b := st.sandboxes[i], st.sandboxes[j]
		if a.Metadata.Attempt != b.Metadata.Attempt {
			return a.Metadata.Attempt > b.Metadata.Attempt
		}
		return a.CreatedAt > b.CreatedAt
	})
	for _, c := range cs.Containers {
		s, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil || s.Status == nil {
			continue // removed meanwhile
		}
		s.Status.Labels, s.Status.Annotations = c.Labels, c.Annotations
		name := c.Labels[cri.LabelContainerName]
		st.containers[name] = append(st.containers[name], s.Status)
	}
	for _, l := range st.containers {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Metadata.Attempt != l[j].Metadata.Attempt {
				return l[i].Metadata.Attempt > l[j].Metadata.Attempt
			}
			return l[i].CreatedAt > l[j].CreatedAt
		})
	}
	return st, nil
}

// sandboxIP is the pod IP the sandbox got from CNI.
func (k *Kubelet) sandboxIPs(ctx context.Context, id string) []string {
	s, err := k.cfg.Runtime.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil || s.Status == nil || s.Status.Network == nil || s.Status.Network.Ip == "" {
		return nil
	}
	ips := []string{s.Status.Network.Ip}
	for _, ip := range s.Status.Network.AdditionalIps {
		ips = append(ips, ip.Ip)
	}
	return ips
}

// teardown stops and removes everything the runtime has of pod uid, waiting at most
// grace seconds for each container, and removes its volumes.
func (k *Kubelet) teardown(ctx context.Context, uid types.UID, grace int64) error {
	st, err := k.runtimeState(ctx, uid)
	if err != nil {
		return err
	}
	rt := k.cfg.Runtime.Runtime
	k.stopContainers(ctx, st, grace, nil)
	for _, l := range st.containers {
		for _, c := range l {
			if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id}); err != nil {
				return fmt.Errorf("removing container %s: %w", c.Id, err)
			}
		}
	}
	for _, sb := range st.sandboxes {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			return fmt.Errorf("stopping sandbox %s: %w", sb.Id, err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			return fmt.Errorf("removing sandbox %s: %w", sb.Id, err)
		}
	}
	k.probes.forgetPod(uid)
	k.crashBackoff.GC()
	if err := k.volumes.Cleanup(uid); err != nil {
		return fmt.Errorf("removing volumes: %w", err)
	}
	k.forgetResizes(uid) // its state file went with its directory
	return nil
}
