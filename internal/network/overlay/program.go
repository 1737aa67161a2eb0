package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Device describes the VXLAN device.
type Device struct {
	Name string
	VNI  int
	Port int
	// Local is the node's address, the source of its VXLAN packets.
	Local net.IP
	MAC   net.HardwareAddr
	// MTU of the device (0: DeviceMTU of Local).
	MTU int
}

func handle(h *netlink.Handle) *netlink.Handle {
	if h == nil {
		return &netlink.Handle{} // the calling thread's network namespace
	}
	return h
}

// DeviceMTU is the MTU of a VXLAN device whose packets leave from local: that of the
// link holding local, less Overhead. A loopback or unknown link counts as 1500 bytes.
func DeviceMTU(h *netlink.Handle, local net.IP) int {
	h = handle(h)
	mtu := 1500
	if addrs, err := h.AddrList(nil, netlink.FAMILY_V4); err == nil && local != nil {
		for _, a := range addrs {
			if !a.IP.Equal(local) {
				continue
			}
			if l, err := h.LinkByIndex(a.LinkIndex); err == nil && l.Attrs().Flags&net.FlagLoopback == 0 && l.Attrs().MTU > Overhead {
				mtu = l.Attrs().MTU
			}
			break
		}
	}
	return mtu - Overhead
}

// PodMTU is the MTU pods get on a node whose address is nodeIP, with the overlay on.
func PodMTU(nodeIP net.IP) int { return DeviceMTU(nil, nodeIP) }

// EnsureDevice makes the VXLAN device d exist and be up with addr as its only IPv4
// address. A device of that name with the same VNI, port and local address is reused
// (its MAC and MTU set if they differ); any other is replaced.
func EnsureDevice(h *netlink.Handle, d Device, addr netip.Prefix) (netlink.Link, error) {
	h = handle(h)
	if d.MTU == 0 {
		d.MTU = DeviceMTU(h, d.Local)
	}
	link, err := h.LinkByName(d.Name)
	if err == nil {
		vx, ok := link.(*netlink.Vxlan)
		if !ok || vx.VxlanId != d.VNI || vx.Port != d.Port || !vx.SrcAddr.Equal(d.Local) || vx.Learning {
			if err := h.LinkDel(link); err != nil {
				return nil, fmt.Errorf("replacing %s: %w", d.Name, err)
			}
			link = nil
		}
	} else {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return nil, fmt.Errorf("looking up %s: %w", d.Name, err)
		}
		link = nil
	}
	if link == nil {
		vx := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: d.Name, HardwareAddr: d.MAC, MTU: d.MTU},
			VxlanId:   d.VNI, SrcAddr: d.Local, Port: d.Port, Learning: false,
		}
		if err := h.LinkAdd(vx); err != nil {
			return nil, fmt.Errorf("creating VXLAN device %s (VNI %d, port %d, local %s): %w", d.Name, d.VNI, d.Port, d.Local, err)
		}
		if link, err = h.LinkByName(d.Name); err != nil {
			return nil, fmt.Errorf("creating VXLAN device %s: %w", d.Name, err)
		}
	}
	if d.MAC != nil && link.Attrs().HardwareAddr.String() != d.MAC.String() {
		if err := h.LinkSetHardwareAddr(link, d.MAC); err != nil {
			return nil, fmt.Errorf("setting %s's MAC: %w", d.Name, err)
		}
	}
	if link.Attrs().MTU != d.MTU {
		if err := h.LinkSetMTU(link, d.MTU); err != nil {
			return nil, fmt.Errorf("setting %s's MTU: %w", d.Name, err)
		}
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("reading %s's addresses: %w", d.Name, err)
	}
	want := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			have = true
			continue
		}
		if err := h.AddrDel(link, &a); err != nil {
			return nil, fmt.Errorf("removing %s from %s: %w", a.IPNet, d.Name, err)
		}
	}
	if !have {
		if err := h.AddrReplace(link, &netlink.Addr{IPNet: want}); err != nil {
			return nil, fmt.Errorf("adding %s to %s: %w", want, d.Name, err)
		}
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(link); err != nil {
			return nil, fmt.Errorf("bringing %s up: %w", d.Name, err)
		}
	}
	return h.LinkByIndex(link.Attrs().Index)
}

// RemoveDevice deletes the device, and with it every route, neighbour and forwarding
// entry on it. A missing device is no error.
func RemoveDevice(h *netlink.Handle, name string) error {
	h = handle(h)
	link, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return h.LinkDel(link)
}

// Program makes link's IPv4 routes (main table), neighbour entries and forwarding
// entries exactly want's: missing ones are added, changed ones replaced and others
// removed. Running it again changes nothing.
func Program(h *netlink.Handle, link netlink.Link, want State) error {
	h = handle(h)
	idx := link.Attrs().Index
	name := link.Attrs().Name

	// Routes go first, so that nothing is sent through an entry being removed.
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: idx}, netlink.RT_FILTER_OIF)
	})
	if err != nil {
		return fmt.Errorf("listing %s's routes: %w", name, err)
	}
	wantRoutes := map[Route]bool{}
	for _, r := range want.Routes {
		wantRoutes[r] = true
	}
	haveRoutes := map[Route]bool{}
	for _, r := range routes {
		key, ok := routeKey(r)
		if ok && wantRoutes[key] && r.Flags&int(netlink.FLAG_ONLINK) != 0 && !haveRoutes[key] {
			haveRoutes[key] = true
			continue
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("removing route %s from %s: %w", r.Dst, name, err)
		}
	}

	neighs, err := retryDump(func() ([]netlink.Neigh, error) { return h.NeighList(idx, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("listing %s's neighbours: %w", name, err)
	}
	wantNeighs := map[Neigh]bool{}
	for _, n := range want.Neighs {
		wantNeighs[n] = true
	}
	haveNeighs := map[Neigh]bool{}
	for _, n := range neighs {
		ip, _ := netip.AddrFromSlice(n.IP)
		key := Neigh{IP: ip.Unmap(), MAC: n.HardwareAddr.String()}
		if wantNeighs[key] && n.State&netlink.NUD_PERMANENT != 0 {
			haveNeighs[key] = true
			continue
		}
		if err := h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing neighbour %s from %s: %w", n.IP, name, err)
		}
	}

	fdb, err := retryDump(func() ([]netlink.Neigh, error) { return h.NeighList(idx, unix.AF_BRIDGE) })
	if err != nil {
		return fmt.Errorf("listing %s's forwarding entries: %w", name, err)
	}
	wantFDB := map[FDB]bool{}
	for _, f := range want.FDB {
		wantFDB[f] = true
	}
	haveFDB := map[FDB]bool{}
	for _, f := range fdb {
		if f.IP == nil {
			continue // the device's own entries, not remote ones
		}
		ip, _ := netip.AddrFromSlice(f.IP)
		key := FDB{MAC: f.HardwareAddr.String(), Dst: ip.Unmap()}
		if wantFDB[key] && !haveFDB[key] {
			haveFDB[key] = true
			continue
		}
		f.Family = unix.AF_BRIDGE
		if err := h.NeighDel(&f); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing forwarding entry %s from %s: %w", f.HardwareAddr, name, err)
		}
	}

	for _, f := range want.FDB {
		if haveFDB[f] {
			continue
		}
		mac, err := net.ParseMAC(f.MAC)
		if err != nil {
			return err
		}
		if err := h.NeighSet(&netlink.Neigh{
			LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT,
			IP: f.Dst.AsSlice(), HardwareAddr: mac,
		}); err != nil {
			return fmt.Errorf("adding forwarding entry %s → %s to %s: %w", f.MAC, f.Dst, name, err)
		}
	}
	for _, n := range want.Neighs {
		if haveNeighs[n] {
			continue
		}
		mac, err := net.ParseMAC(n.MAC)
		if err != nil {
			return err
		}
		if err := h.NeighSet(&netlink.Neigh{
			LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: n.IP.AsSlice(), HardwareAddr: mac,
		}); err != nil {
			return fmt.Errorf("adding neighbour %s → %s to %s: %w", n.IP, n.MAC, name, err)
		}
	}
	for _, r := range want.Routes {
		if haveRoutes[r] {
			continue
		}
		if err := h.RouteReplace(&netlink.Route{
			LinkIndex: idx, Dst: &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)},
			Gw: r.Via.AsSlice(), Flags: int(netlink.FLAG_ONLINK), Scope: netlink.SCOPE_UNIVERSE,
		}); err != nil {
			return fmt.Errorf("adding route %s via %s to %s: %w", r.Dst, r.Via, name, err)
		}
	}
	return nil
}

func routeKey(r netlink.Route) (Route, bool) {
	if r.Dst == nil || r.Gw == nil {
		return Route{}, false
	}
	dst, ok := netip.AddrFromSlice(r.Dst.IP)
	if !ok {
		return Route{}, false
	}
	bits, _ := r.Dst.Mask.Size()
	gw, ok := netip.AddrFromSlice(r.Gw)
	if !ok {
		return Route{}, false
	}
	return Route{Dst: netip.PrefixFrom(dst.Unmap(), bits), Via: gw.Unmap()}, true
}

// retryDump retries a netlink dump the kernel interrupted (its contents changed under it).
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var (
		out []T
		err error
	)
	for range 5 {
		if out, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}
