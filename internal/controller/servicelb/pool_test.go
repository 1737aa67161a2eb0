package servicelb

import (
	"net/netip"
	"testing"
)

func TestParsePool(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", ""},
		{"192.168.1.240-192.168.1.250", "192.168.1.240-192.168.1.250"},
		{" 10.0.0.0/24 , 10.0.1.7 ", "10.0.0.1-10.0.0.254,10.0.1.7"},
		{"10.0.0.5/24", "10.0.0.1-10.0.0.254"},
		{"10.0.0.8/31,10.0.0.16/32", "10.0.0.8-10.0.0.9,10.0.0.16"},
		{"fd00::/120", "fd00::1-fd00::ff"},
		{"fd00::10-fd00::12,192.0.2.1", "fd00::10-fd00::12,192.0.2.1"},
	} {
		p, err := ParsePool(tc.in)
		if err != nil {
			t.Errorf("ParsePool(%q): %v", tc.in, err)
			continue
		}
		if got := p.String(); got != tc.want {
			t.Errorf("ParsePool(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{
		"10.0.0.1-10.0.0.0", "10.0.0.1-fd00::1", "10.0.0.300", "10.0.0.0/33", "nonsense",
		"10.0.0.0/24,10.0.0.128-10.0.1.1", "10.0.0.5,10.0.0.5", "fe80::1%eth0", "::ffff:10.0.0.1",
	} {
		if p, err := ParsePool(in); err == nil {
			t.Errorf("ParsePool(%q) = %s, want an error", in, p)
		}
	}
}

func TestPoolContains(t *testing.T) {
	p, err := ParsePool("10.0.0.0/30,fd00::5")
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{
		"10.0.0.0": false, "10.0.0.1": true, "10.0.0.2": true, "10.0.0.3": false, "fd00::5": true, "fd00::6": false,
	} {
		if got := p.Contains(netip.MustParseAddr(s)); got != want {
			t.Errorf("Contains(%s) = %v", s, got)
		}
	}
	if !p.HasFamily(true) || !p.HasFamily(false) {
		t.Error("HasFamily")
	}
}
