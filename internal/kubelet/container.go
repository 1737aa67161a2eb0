package kubelet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
	"github.com/kijabi/kijabi/internal/kubelet/envvars"
	"github.com/kijabi/kijabi/internal/kubelet/prober"
	"github.com/kijabi/kijabi/internal/kubelet/volume"
)

const annotationHash = cri.AnnotationContainerHash

// startTarget is the sandbox new containers go into.
type startTarget struct {
	sandboxID     string
	sandboxConfig *runtimeapi.PodSandboxConfig
	podIPs        []string
	// pidOf, when set, is the container whose process namespace the new one joins (an
	// ephemeral container's targetContainerName).
	pidOf string
}

func podDir(root string, uid types.UID) string { return filepath.Join(root, "pods", string(uid)) }

// logDir is where the runtime writes the pod's container logs, as the kubelet lays them out.
func (k *Kubelet) logDir(pod *corev1.Pod) string {
	return filepath.Join(k.cfg.RootDir, "logs", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

// sandboxConfig is the CRI description of the pod's sandbox.
func (k *Kubelet) sandboxConfig(pod *corev1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error) {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if pod.Spec.HostNetwork {
		hostname = k.machine.hostname
	}
	labels := map[string]string{}
	for key, v := range pod.Labels {
		labels[key] = v
	}
	labels[cri.LabelPodName] = pod.Name
	labels[cri.LabelPodNamespace] = pod.Namespace
	labels[cri.LabelPodUID] = string(pod.UID)
	labels[cri.LabelManagedBy] = "true"
	dns, err := k.dnsConfig(pod)
	if err != nil {
		return nil, err
	}
	nsMode := runtimeapi.NamespaceMode_POD
	if pod.Spec.HostNetwork {
		nsMode = runtimeapi.NamespaceMode_NODE
	}
	ipc, pid := runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_CONTAINER
	if pod.Spec.HostIPC {
		ipc = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostPID {
		pid = runtimeapi.NamespaceMode_NODE
	} else if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
		pid = runtimeapi.NamespaceMode_POD
	}
	sc := &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: nsMode, Pid: pid, Ipc: ipc},
	}
	var sysctls map[string]string
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = psc.SupplementalGroups
		if len(psc.Sysctls) > 0 {
			sysctls = map[string]string{}
			for _, s := range psc.Sysctls {
				sysctls[s.Name] = s.Value
			}
		}
	}
	for _, c := range allContainers(pod) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			sc.Privileged = true
		}
	}
	var ports []*runtimeapi.PortMapping
	for _, c := range allContainers(pod) {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case corev1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			ports = append(ports, &runtimeapi.PortMapping{Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP})
		}
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		Hostname:     hostname,
		LogDirectory: k.logDir(pod),
		DnsConfig:    dns,
		PortMappings: ports,
		Labels:       labels,
		Annotations:  pod.Annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    "/kijabi/pod" + string(pod.UID),
			SecurityContext: sc,
			Sysctls:         sysctls,
		},
	}, nil
}

// createSandbox runs a new sandbox for the pod and returns its ID.
func (k *Kubelet) createSandbox(ctx context.Context, pod *corev1.Pod, attempt uint32) (string, error) {
	cfg, err := k.sandboxConfig(pod, attempt)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return "", fmt.Errorf("creating log directory: %w", err)
	}
	resp, err := k.cfg.Runtime.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return "", fmt.Errorf("rpc error: %w", err)
	}
	return resp.PodSandboxId, nil
}

// dnsConfig is the resolv.conf the pod's dnsPolicy asks for.
func (k *Kubelet) dnsConfig(pod *corev1.Pod) (*runtimeapi.DNSConfig, error) {
	host := parseResolvConf(k.cfg.ResolvConf)
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	if policy == corev1.DNSClusterFirstWithHostNet {
		policy = corev1.DNSClusterFirst
	}
	var cfg *runtimeapi.DNSConfig
	switch policy {
	case corev1.DNSNone:
		cfg = &runtimeapi.DNSConfig{}
	case corev1.DNSClusterFirst:
		if len(k.cfg.ClusterDNS) == 0 {
			cfg = host
			break
		}
		cfg = &runtimeapi.DNSConfig{Options: []string{"ndots:5"}}
		for _, ip := range k.cfg.ClusterDNS {
			cfg.Servers = append(cfg.Servers, ip.String())
		}
		d := k.cfg.ClusterDomain
		cfg.Searches = append([]string{pod.Namespace + ".svc." + d, "svc." + d, d}, host.Searches...)
	default:
		cfg = host
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = appendUnique(cfg.Servers, dc.Nameservers...)
		cfg.Searches = appendUnique(cfg.Searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			cfg.Options = mergeOption(cfg.Options, o.Name, opt)
		}
	}
	if len(cfg.Searches) > 32 {
		cfg.Searches = cfg.Searches[:32]
	}
	return cfg, nil
}

func appendUnique(list []string, more ...string) []string {
	for _, s := range more {
		found := false
		for _, x := range list {
			found = found || x == s
		}
		if !found {
			list = append(list, s)
		}
	}
	return list
}

func mergeOption(opts []string, name, opt string) []string {
	for i, o := range opts {
		if o == name || strings.HasPrefix(o, name+":") {
			opts[i] = opt
			return opts
		}
	}
	return append(opts, opt)
}

func parseResolvConf(path string) *runtimeapi.DNSConfig {
	cfg := &runtimeapi.DNSConfig{}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, f[1])
		case "search":
			cfg.Searches = f[1:]
		case "options":
			cfg.Options = f[1:]
		}
	}
	return cfg
}

// writeHosts writes the pod's /etc/hosts (the kubelet manages it for pods not on the host
// network): localhost and the pod's own name at its IP.
func (k *Kubelet) writeHosts(pod *corev1.Pod, podIPs []string) error {
	if pod.Spec.HostNetwork {
		return nil
	}
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	names := hostname
	if pod.Spec.Subdomain != "" {
		names = fmt.Sprintf("%s.%s.%s.svc.%s\t%s", hostname, pod.Spec.Subdomain, pod.Namespace, k.cfg.ClusterDomain, hostname)
	}
	for _, ip := range podIPs {
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	for _, ha := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "\n# Entries added by HostAliases.\n%s\t%s\n", ha.IP, strings.Join(ha.Hostnames, "\t"))
	}
	dir := podDir(k.cfg.RootDir, pod.UID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "etc-hosts")
	if old, err := os.ReadFile(path); err == nil && string(old) == b.String() {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// containerHash fingerprints the parts of a container spec that, when changed, make the
// kubelet restart it.
func containerHash(c *corev1.Container) string {
	cc := c.DeepCopy()
	cc.Resources = corev1.ResourceRequirements{} // resized in place, not restarted
	b, _ := json.Marshal(cc)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// startContainer pulls the image, then creates and starts instance attempt of c.
func (k *Kubelet) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt uint32, t *startTarget, res *syncResult) {
	res.soon(busyResync)
	res.acted = true
	imageRef, ok := k.ensureImage(ctx, pod, c, res)
	if !ok {
		return
	}
	cfg, err := k.containerConfig(ctx, pod, c, attempt, imageRef, t)
	if err != nil {
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		res.wait(c.Name, "CreateContainerConfigError", err.Error())
		return
	}
	rt := k.cfg.Runtime.Runtime
	created, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: t.sandboxID, Config: cfg, SandboxConfig: t.sandboxConfig})
	if err != nil {
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		res.wait(c.Name, "CreateContainerError", err.Error())
		return
	}
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		res.wait(c.Name, "RunContainerError", err.Error())
		return
	}
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if msg, err := k.runHook(ctx, pod, c, created.ContainerId, c.Lifecycle.PostStart); err != nil {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %s", msg)
			k.killContainer(ctx, pod, c, created.ContainerId, gracePeriod(pod))
		}
	}
}

// containerConfig is the CRI description of instance attempt of c.
func (k *Kubelet) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt uint32, imageRef string, t *startTarget) (*runtimeapi.ContainerConfig, error) {
	envs, err := envvars.Resolve(ctx, envvars.Sources{
		Objects: k.objects, HostIPs: []string{k.cfg.NodeIP.String()}, PodIPs: t.podIPs,
		Allocatable: k.machine.allocatable,
	}, pod, c)
	if err != nil {
		return nil, err
	}
	vars := envvars.Map(envs)
	mounts, err := k.volumes.Mounts(pod, c, volume.MountOptions{Env: vars, Attempt: attempt})
	if err != nil {
		return nil, err
	}
	if !pod.Spec.HostNetwork && !hasMountAt(c, "/etc/hosts") {
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: filepath.Join(podDir(k.cfg.RootDir, pod.UID), "etc-hosts")})
	}
	termPath := ""
	if c.TerminationMessagePath != "" {
		termPath = k.volumes.TerminationMessagePath(pod, c, attempt)
	}
	labels := map[string]string{
		cri.LabelPodName:       pod.Name,
		cri.LabelPodNamespace:  pod.Namespace,
		cri.LabelPodUID:        string(pod.UID),
		cri.LabelContainerName: c.Name,
		cri.LabelManagedBy:     "true",
	}
	annotations := map[string]string{
		cri.AnnotationRestartCount:       strconv.Itoa(int(attempt)),
		annotationHash:                   containerHash(c),
		annotationResources:              resourcesAnnotation(c),
		cri.AnnotationTerminationMessage: termPath,
	}
	return &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: attempt},
		Image:       &runtimeapi.ImageSpec{Image: imageRef, UserSpecifiedImage: c.Image},
		Command:     envvars.ExpandAll(c.Command, vars),
		Args:        envvars.ExpandAll(c.Args, vars),
		WorkingDir:  c.WorkingDir,
		Envs:        envs,
		Mounts:      mounts,
		Labels:      labels,
		Annotations: annotations,
		LogPath:     filepath.Join(c.Name, strconv.Itoa(int(attempt))+".log"),
		Stdin:       c.Stdin,
		StdinOnce:   c.StdinOnce,
		Tty:         c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       linuxResources(c),
			SecurityContext: k.containerSecurity(pod, c, t.pidOf),
		},
	}, nil
}

func hasMountAt(c *corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if filepath.Clean(m.MountPath) == filepath.Clean(path) {
			return true
		}
	}
	return false
}

// linuxResources turns requests and limits into cgroup settings, as the kubelet does.
func linuxResources(c *corev1.Container) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuShares: 2}
	if req, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CpuShares = max(req.MilliValue()*1024/1000, 2)
	} else if lim, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CpuShares = max(lim.MilliValue()*1024/1000, 2)
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CpuQuota = max(lim.MilliValue()*100000/1000, 1000)
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitInBytes = lim.Value()
	}
	// The kubelet's oom_score_adj by QoS class, simplified to the two ends.
	r.OomScoreAdj = 1000
	if len(c.Resources.Requests) > 0 {
		r.OomScoreAdj = 999
	}
	return r
}

func (k *Kubelet) containerSecurity(pod *corev1.Pod, c *corev1.Container, pidOf string) *runtimeapi.LinuxContainerSecurityContext {
	nsMode := runtimeapi.NamespaceMode_POD
	if pod.Spec.HostNetwork {
		nsMode = runtimeapi.NamespaceMode_NODE
	}
	ipc, pid := runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_CONTAINER
	if pod.Spec.HostIPC {
		ipc = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostPID {
		pid = runtimeapi.NamespaceMode_NODE
	} else if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
		pid = runtimeapi.NamespaceMode_POD
	}
	var pidTarget string
	if pid == runtimeapi.NamespaceMode_CONTAINER && pidOf != "" {
		pid, pidTarget = runtimeapi.NamespaceMode_TARGET, pidOf
	}
	sc := &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: nsMode, Pid: pid, Ipc: ipc, TargetId: pidTarget},
		MaskedPaths:      []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"},
		ReadonlyPaths:    []string{"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = psc.SupplementalGroups
		if psc.FSGroup != nil {
			sc.SupplementalGroups = append(sc.SupplementalGroups, *psc.FSGroup)
		}
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *csc.RunAsUser}
		}
		if csc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *csc.RunAsGroup}
		}
		if csc.Privileged != nil && *csc.Privileged {
			sc.Privileged = true
			sc.MaskedPaths, sc.ReadonlyPaths = nil, nil
		}
		if csc.ReadOnlyRootFilesystem != nil {
			sc.ReadonlyRootfs = *csc.ReadOnlyRootFilesystem
		}
		if csc.AllowPrivilegeEscalation != nil {
			sc.NoNewPrivs = !*csc.AllowPrivilegeEscalation
		}
		if caps := csc.Capabilities; caps != nil {
			sc.Capabilities = &runtimeapi.Capability{}
			for _, a := range caps.Add {
				sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, string(a))
			}
			for _, d := range caps.Drop {
				sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, string(d))
			}
		}
		if csc.ProcMount != nil && *csc.ProcMount == corev1.UnmaskedProcMount {
			sc.MaskedPaths, sc.ReadonlyPaths = nil, nil
		}
	}
	return sc
}

// runHook runs a lifecycle handler (exec, httpGet or sleep) for container id.
func (k *Kubelet) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler) (string, error) {
	switch {
	case h.Exec != nil:
		timeout := int64(30)
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(int64(time.Until(dl)/time.Second), 1)
		}
		resp, err := k.cfg.Runtime.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: h.Exec.Command, Timeout: timeout})
		if err != nil {
			return err.Error(), err
		}
		if resp.ExitCode != 0 {
			msg := fmt.Sprintf("command '%s' exited with %d: %s", strings.Join(h.Exec.Command, " "), resp.ExitCode, string(resp.Stderr)+string(resp.Stdout))
			return msg, fmt.Errorf("%s", msg)
		}
		return "", nil
	case h.HTTPGet != nil:
		host := h.HTTPGet.Host
		if host == "" {
			ips := podIPsOf(pod)
			if len(ips) == 0 {
				return "no pod IP", fmt.Errorf("no pod IP")
			}
			host = ips[0]
		}
		port, err := prober.ResolvePort(h.HTTPGet.Port, c)
		if err != nil {
			return err.Error(), err
		}
		scheme := strings.ToLower(string(h.HTTPGet.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), h.HTTPGet.Path)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err.Error(), err
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			req.Header.Add(hd.Name, hd.Value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error(), err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			msg := fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: received status code %d", h.HTTPGet.Path, c.Name, pod.Name, resp.StatusCode)
			return msg, fmt.Errorf("%s", msg)
		}
		return "", nil
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return "", nil
	}
	return "", nil
}

func podIPsOf(pod *corev1.Pod) []string {
	var out []string
	for _, ip := range pod.Status.PodIPs {
		out = append(out, ip.IP)
	}
	if len(out) == 0 && pod.Status.PodIP != "" {
		out = append(out, pod.Status.PodIP)
	}
	return out
}
