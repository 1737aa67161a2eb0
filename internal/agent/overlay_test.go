package agent

import "testing"

func TestOverlayDevice(t *testing.T) {
	tests := []struct {
		bridge string
		name   string
	}{
		{"", "kijabi.1"},
		{"kijabi0", "kijabi.1"},
		{"kjb123", "kjb123.1"},
		{"averylongbridge", "averylongbrid.1"},
	}
	vnis := map[int]string{}
	for _, tt := range tests {
		name, vni := overlayDevice(tt.bridge)
		if name != tt.name || len(name) > 15 {
			t.Errorf("overlayDevice(%q) = %q, want %q", tt.bridge, name, tt.name)
		}
		if vni < 1 || vni >= 1<<24 {
			t.Errorf("overlayDevice(%q): VNI %d out of range", tt.bridge, vni)
		}
		if (tt.bridge == "" || tt.bridge == "kijabi0") != (vni == 1) {
			t.Errorf("overlayDevice(%q): VNI %d; only the default bridge has flannel's VNI 1", tt.bridge, vni)
		}
		if other, ok := vnis[vni]; ok && other != name {
			t.Errorf("bridges of devices %s and %s share VNI %d", other, name, vni)
		}
		vnis[vni] = name
	}
	_, a := overlayDevice("kjb123")
	_, b := overlayDevice("kjb123")
	if a != b {
		t.Errorf("the VNI of a bridge changes: %d, %d", a, b)
	}
}
