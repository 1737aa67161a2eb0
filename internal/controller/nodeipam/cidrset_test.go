package nodeipam

import (
	"net"
	"testing"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewCIDRSet(t *testing.T) {
	tests := []struct {
		cluster string
		mask    int
		wantErr bool
		count   int
	}{
		{"10.244.0.0/16", 24, false, 256},
		{"10.244.0.0/16", 16, false, 1},
		{"10.244.0.0/16", 8, true, 0},
		{"10.244.0.0/16", 33, true, 0},
		{"10.0.0.0/8", 25, true, 0}, // 2^17 ranges
		{"fd00::/104", 120, false, 65536},
		{"fd00::/48", 64, false, 65536},
	}
	for _, tt := range tests {
		s, err := newCIDRSet(mustCIDR(t, tt.cluster), tt.mask)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s /%d: err %v", tt.cluster, tt.mask, err)
			continue
		}
		if err == nil && s.count != tt.count {
			t.Errorf("%s /%d: %d ranges, want %d", tt.cluster, tt.mask, s.count, tt.count)
		}
	}
}

func TestAllocateExhaustRelease(t *testing.T) {
	s, err := newCIDRSet(mustCIDR(t, "10.244.0.0/22"), 24)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"}
	for _, w := range want {
		got, err := s.allocateNext()
		if err != nil || got.String() != w {
			t.Fatalf("allocateNext = %v, %v; want %s", got, err, w)
		}
	}
	if _, err := s.allocateNext(); !IsExhausted(err) {
		t.Fatalf("fifth allocation: %v, want exhausted", err)
	}
	s.release(mustCIDR(t, "10.244.2.0/24"))
	if s.free() != 1 {
		t.Errorf("free = %d", s.free())
	}
	got, err := s.allocateNext()
	if err != nil || got.String() != "10.244.2.0/24" {
		t.Fatalf("after release: %v, %v", got, err)
	}
	// Releasing something foreign or free is harmless.
	s.release(mustCIDR(t, "192.168.0.0/24"))
	s.release(mustCIDR(t, "10.244.2.0/24"))
	s.release(mustCIDR(t, "10.244.2.0/24"))
	if s.free() != 1 {
		t.Errorf("free = %d after double release", s.free())
	}
}

func TestOccupy(t *testing.T) {
	s, err := newCIDRSet(mustCIDR(t, "10.244.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"10.244.0.0/24", "10.244.1.0/24", "10.244.1.0/24"} {
		if err := s.occupy(mustCIDR(t, c)); err != nil {
			t.Fatal(c, err)
		}
	}
	if s.free() != 254 {
		t.Errorf("free = %d", s.free())
	}
	got, err := s.allocateNext()
	if err != nil || got.String() != "10.244.2.0/24" {
		t.Errorf("allocateNext = %v, %v", got, err)
	}
	for _, bad := range []string{"10.245.0.0/24", "10.244.0.0/25", "10.244.0.0/23", "fd00::/120"} {
		if err := s.occupy(mustCIDR(t, bad)); err == nil {
			t.Errorf("occupy(%s) succeeded", bad)
		}
	}
	if s.free() != 253 {
		t.Errorf("free = %d after bad occupies", s.free())
	}
}

func TestIPv6(t *testing.T) {
	s, err := newCIDRSet(mustCIDR(t, "fd00:10:244::/56"), 64)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.allocateNext()
	b, _ := s.allocateNext()
	if a.String() != "fd00:10:244::/64" || b.String() != "fd00:10:244:1::/64" {
		t.Errorf("got %v, %v", a, b)
	}
	if err := s.occupy(mustCIDR(t, "fd00:10:244:ff::/64")); err != nil {
		t.Error(err)
	}
}
