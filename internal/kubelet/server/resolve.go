package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
)

// httpError is an error with the status code the kubelet answers it with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// writeError answers err: its own code for an httpError, 500 otherwise.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeText(w, he.code, he.msg)
		return
	}
	s.log.Warn("kubelet request failed", "path", r.URL.Path, "err", err)
	writeText(w, http.StatusInternalServerError, err.Error())
}

// lookupPod returns the pod as the kubelet knows it, or nil when no lister is set.
func (s *Server) lookupPod(namespace, name string) (*corev1.Pod, error) {
	if s.cfg.Pods == nil {
		return nil, nil
	}
	pods, err := s.cfg.Pods.Pods()
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	for _, p := range pods {
		if p.Namespace == namespace && p.Name == name {
			return p, nil
		}
	}
	return nil, errorf(http.StatusNotFound, "pod %q does not exist", name)
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == name {
				return true
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// podSelector is the CRI label selector of a pod's sandboxes and containers.
func podSelector(pod *corev1.Pod, namespace, name string) map[string]string {
	sel := map[string]string{cri.LabelPodNamespace: namespace, cri.LabelPodName: name}
	if pod != nil && pod.UID != "" {
		sel[cri.LabelPodUID] = string(pod.UID)
	}
	return sel
}

// containerInstances lists the runtime's instances of a pod's container, newest first.
func (s *Server) containerInstances(ctx context.Context, pod *corev1.Pod, namespace, name, container string) ([]*runtimeapi.Container, error) {
	sel := podSelector(pod, namespace, name)
	sel[cri.LabelContainerName] = container
	resp, err := s.cfg.Runtime.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{
		Filter: &runtimeapi.ContainerFilter{LabelSelector: sel},
	})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	list := resp.Containers
	restarts := func(c *runtimeapi.Container) int {
		n, _ := strconv.Atoi(c.Annotations[cri.AnnotationRestartCount])
		return n
	}
	sort.SliceStable(list, func(i, j int) bool {
		if ri, rj := restarts(list[i]), restarts(list[j]); ri != rj {
			return ri > rj
		}
		return list[i].CreatedAt > list[j].CreatedAt
	})
	return list, nil
}

// runningContainer finds the running instance of a container, for exec and attach.
func (s *Server) runningContainer(ctx context.Context, pod *corev1.Pod, namespace, name, container string) (*runtimeapi.Container, error) {
	list, err := s.containerInstances(ctx, pod, namespace, name, container)
	if err != nil {
		return nil, err
	}
	for _, c := range list {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			return c, nil
		}
	}
	return nil, errorf(http.StatusNotFound, "container not found (%q)", container)
}

// logContainer picks the instance whose log is asked for: the current one (the newest
// that started), or with previous the one that exited before it. Its messages are the
// kubelet's.
func (s *Server) logContainer(ctx context.Context, pod *corev1.Pod, namespace, name, container string, previous bool) (string, error) {
	list, err := s.containerInstances(ctx, pod, namespace, name, container)
	if err != nil {
		return "", err
	}
	var started []*runtimeapi.Container
	for _, c := range list {
		if c.State != runtimeapi.ContainerState_CONTAINER_CREATED {
			started = append(started, c)
		}
	}
	if previous {
		for i, c := range started {
			if i > 0 && c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
				return c.Id, nil
			}
		}
		return "", errorf(http.StatusBadRequest, "previous terminated container %q in pod %q not found", container, name)
	}
	if len(started) > 0 {
		return started[0].Id, nil
	}
	reason := "ContainerCreating"
	if pod != nil {
		for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
			for _, st := range list {
				if st.Name == container && st.State.Waiting != nil && st.State.Waiting.Reason != "" {
					reason = st.State.Waiting.Reason
				}
			}
		}
	}
	switch reason {
	case "ErrImagePull":
		return "", errorf(http.StatusBadRequest, "container %q in pod %q is waiting to start: image can't be pulled", container, name)
	case "ImagePullBackOff":
		return "", errorf(http.StatusBadRequest, "container %q in pod %q is waiting to start: trying and failing to pull image", container, name)
	}
	return "", errorf(http.StatusBadRequest, "container %q in pod %q is waiting to start: %s", container, name, reason)
}

// readySandbox finds a pod's ready sandbox, for port forwarding.
func (s *Server) readySandbox(ctx context.Context, pod *corev1.Pod, namespace, name string) (*runtimeapi.PodSandbox, error) {
	resp, err := s.cfg.Runtime.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{
		Filter: &runtimeapi.PodSandboxFilter{
			LabelSelector: podSelector(pod, namespace, name),
			State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("listing pod sandboxes: %w", err)
	}
	var newest *runtimeapi.PodSandbox
	for _, sb := range resp.Items {
		if newest == nil || sb.CreatedAt > newest.CreatedAt {
			newest = sb
		}
	}
	if newest == nil {
		return nil, errorf(http.StatusNotFound, "pod %q has no running sandbox", name)
	}
	return newest, nil
}
