package overlay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Config configures a Controller.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	// NodeIP is the node's InternalIP: the VXLAN device's local address, unless the
	// Node's AnnotationPublicIPOverwrite names another.
	NodeIP net.IP
	// Device, VNI and Port of the VXLAN device (defaults DefaultDevice, DefaultVNI,
	// DefaultPort). Every node of a cluster must use the same VNI and port.
	Device    string
	VNI, Port int
	// Handle programs another network namespace (tests); nil is the agent's own.
	Handle *netlink.Handle
	// Resync is how often everything is programmed again, repairing what others
	// changed (default 1 minute).
	Resync time.Duration
	Log    *slog.Logger
}

// Controller keeps the node's VXLAN device and its entries for the other nodes.
type Controller struct {
	cfg Config
	h   *netlink.Handle
	log *slog.Logger

	kick chan struct{}

	mu      sync.Mutex
	link    netlink.Link
	dev     Device
	devAddr netip.Prefix
	applied State
	synced  bool
}

// New returns a Controller for cfg.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.NodeName == "" {
		return nil, errors.New("overlay: Client and NodeName are required")
	}
	if cfg.Device == "" {
		cfg.Device = DefaultDevice
	}
	if len(cfg.Device) > 15 {
		return nil, fmt.Errorf("overlay: device name %q is longer than 15 characters", cfg.Device)
	}
	if cfg.VNI == 0 {
		cfg.VNI = DefaultVNI
	}
	if cfg.VNI < 0 || cfg.VNI >= 1<<24 {
		return nil, fmt.Errorf("overlay: VNI %d out of range", cfg.VNI)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Resync == 0 {
		cfg.Resync = time.Minute
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{cfg: cfg, h: handle(cfg.Handle), log: log, kick: make(chan struct{}, 1)}, nil
}

// State is what the controller last programmed (for tests and debugging).
func (c *Controller) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

// Run watches Nodes and programs the device until ctx ends, then removes the device.
func (c *Controller) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(c.cfg.Client, 0, informers.WithTransform(trimNode))
	inf := factory.Core().V1().Nodes()
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.trigger() },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || relevantChange(o, n) {
				c.trigger()
			}
		},
		DeleteFunc: func(any) { c.trigger() },
	})
	if err != nil {
		return err
	}
	lister := inf.Lister()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer func() {
		if err := RemoveDevice(c.h, c.cfg.Device); err != nil {
			c.log.Warn("removing the VXLAN device", "device", c.cfg.Device, "err", err)
		}
	}()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return nil
	}
	resync := time.NewTicker(c.cfg.Resync)
	defer resync.Stop()
	retry := time.NewTimer(0)
	defer retry.Stop()
	backoff := time.Second
	full := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-resync.C:
			full = true
		case <-retry.C:
		}
		if err := c.sync(ctx, lister, full); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("programming the overlay", "err", err, "retry", backoff)
			retry.Reset(backoff)
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		full, backoff = false, time.Second
	}
}

func (c *Controller) trigger() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// sync brings the device, the node's annotations and the peers' entries in line.
func (c *Controller) sync(ctx context.Context, lister corelisters.NodeLister, full bool) error {
	self, err := lister.Get(c.cfg.NodeName)
	if apierrors.IsNotFound(err) {
		return nil // not registered yet
	}
	if err != nil {
		return err
	}
	cidr, ok := PodCIDR(self)
	if !ok {
		return nil // no podCIDR yet
	}
	local := c.cfg.NodeIP
	if s := self.Annotations[AnnotationPublicIPOverwrite]; s != "" {
		if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
			local = ip
		} else {
			c.log.Warn("ignoring an invalid address", "annotation", AnnotationPublicIPOverwrite, "value", s)
		}
	}
	if local == nil || local.To4() == nil {
		return fmt.Errorf("the node has no IPv4 address for the overlay")
	}
	local = local.To4()
	dev := Device{Name: c.cfg.Device, VNI: c.cfg.VNI, Port: c.cfg.Port, Local: local, MAC: StableMAC(c.cfg.NodeName)}
	dev.MTU = DeviceMTU(c.h, local)
	addr := netip.PrefixFrom(cidr.Addr(), 32)

	c.mu.Lock()
	link := c.link
	same := link != nil && c.dev.Local.Equal(dev.Local) && c.dev.MTU == dev.MTU && c.devAddr == addr
	c.mu.Unlock()
	if !same || full {
		if link, err = EnsureDevice(c.h, dev, addr); err != nil {
			return err
		}
		c.mu.Lock()
		c.link, c.dev, c.devAddr = link, dev, addr
		c.mu.Unlock()
		full = true
		c.log.Info("VXLAN device ready", "device", dev.Name, "vni", dev.VNI, "local", local, "address", addr, "mac", dev.MAC.String(), "mtu", dev.MTU)
	}

	if err := c.publish(ctx, self, dev); err != nil {
		return err
	}

	nodes, err := lister.List(labels.Everything())
	if err != nil {
		return err
	}
	want := Desired(Peers(nodes, c.cfg.NodeName, cidr))
	c.mu.Lock()
	unchanged := c.synced && c.applied.Equal(want)
	c.mu.Unlock()
	if unchanged && !full {
		return nil
	}
	if err := Program(c.h, link, want); err != nil {
		c.mu.Lock()
		c.link = nil // look the device up again next time
		c.mu.Unlock()
		return err
	}
	c.mu.Lock()
	c.applied, c.synced = want, true
	c.mu.Unlock()
	if !unchanged {
		c.log.Info("overlay programmed", "peers", len(want.Routes))
	}
	return nil
}

// publish patches the node's annotations to announce its VTEP.
func (c *Controller) publish(ctx context.Context, self *corev1.Node, dev Device) error {
	want := map[string]string{
		AnnotationBackendType: BackendVXLAN,
		AnnotationVTEPMAC:     dev.MAC.String(),
		AnnotationPublicIP:    dev.Local.String(),
	}
	patch := map[string]any{}
	for k, v := range want {
		if self.Annotations[k] != v {
			patch[k] = v
		}
	}
	if len(patch) == 0 {
		return nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": patch}})
	if err != nil {
		return err
	}
	if _, err := c.cfg.Client.CoreV1().Nodes().Patch(ctx, c.cfg.NodeName, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotating node %s: %w", c.cfg.NodeName, err)
	}
	return nil
}

// relevantChange reports whether a Node update changes what the overlay reads.
func relevantChange(old, cur *corev1.Node) bool {
	if old.Spec.PodCIDR != cur.Spec.PodCIDR || len(old.Spec.PodCIDRs) != len(cur.Spec.PodCIDRs) {
		return true
	}
	for i := range old.Spec.PodCIDRs {
		if old.Spec.PodCIDRs[i] != cur.Spec.PodCIDRs[i] {
			return true
		}
	}
	if (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) {
		return true
	}
	for _, k := range []string{AnnotationBackendType, AnnotationVTEPMAC, AnnotationPublicIP, AnnotationPublicIPOverwrite} {
		if old.Annotations[k] != cur.Annotations[k] {
			return true
		}
	}
	return false
}

// trimNode keeps of a Node only what the overlay reads.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	t := &corev1.Node{}
	t.Name, t.UID, t.ResourceVersion, t.DeletionTimestamp = n.Name, n.UID, n.ResourceVersion, n.DeletionTimestamp
	t.Spec.PodCIDR, t.Spec.PodCIDRs = n.Spec.PodCIDR, n.Spec.PodCIDRs
	for _, k := range []string{AnnotationBackendType, AnnotationVTEPMAC, AnnotationPublicIP, AnnotationPublicIPOverwrite} {
		if v, ok := n.Annotations[k]; ok {
			if t.Annotations == nil {
				t.Annotations = map[string]string{}
			}
			t.Annotations[k] = v
		}
	}
	return t, nil
}
