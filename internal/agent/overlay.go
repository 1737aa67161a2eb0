package agent

import (
	"context"
	"hash/fnv"

	"github.com/kijabi/kijabi/internal/network/cni"
	"github.com/kijabi/kijabi/internal/network/overlay"
)

// Values of Config.Overlay.
const (
	OverlayVXLAN = "vxlan"
	OverlayNone  = "none"
)

// startOverlay runs the VXLAN overlay that joins this node's pod network with the other
// nodes' (unless Config.Overlay is OverlayNone, which Run has checked), and reports
// whether it runs. The controller removes its device when ctx ends.
func (a *addons) startOverlay(ctx context.Context) bool {
	if a.cfg.Overlay == OverlayNone {
		return false
	}
	device, vni := overlayDevice(a.cfg.Bridge)
	c, err := overlay.New(overlay.Config{
		Client: a.client, NodeName: a.cfg.NodeName, NodeIP: a.cfg.NodeIP, Device: device, VNI: vni,
		Log: a.base.With("component", "overlay"),
	})
	if err != nil {
		a.log.Error("pod network overlay", "err", err)
		return false
	}
	a.goRun(ctx, "pod network overlay", c.Run)
	return true
}

// overlayDevice names the VXLAN device and its VNI after the node's bridge: kijabi.1 and
// VNI 1 (flannel's) for the default bridge; for another bridge (clusters sharing a host,
// as in tests) a device and VNI of its own, the same on every node given that bridge
// name — the kernel allows one device per VNI and port in a network namespace.
func overlayDevice(bridge string) (string, int) {
	if bridge == "" || bridge == cni.DefaultBridge {
		return overlay.DefaultDevice, overlay.DefaultVNI
	}
	name := bridge
	if len(name) > 13 {
		name = name[:13]
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(bridge))
	return name + ".1", 2 + int(h.Sum32()%(1<<24-2))
}
