package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net"
)

// ExhaustedError is returned when every range of the cluster CIDR is in use.
type ExhaustedError struct {
	ClusterCIDR string
	MaskSize    int
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("no /%d ranges left in cluster CIDR %s", e.MaskSize, e.ClusterCIDR)
}

// IsExhausted reports whether err means the cluster CIDR is used up.
func IsExhausted(err error) bool {
	var e *ExhaustedError
	return errors.As(err, &e)
}

// maxSubnetBits bounds the number of ranges (2^16), as upstream's CIDR set.
const maxSubnetBits = 16

// cidrSet hands out the subnets of a cluster CIDR. It is not safe for concurrent use.
type cidrSet struct {
	cluster  *net.IPNet
	base     *big.Int // the cluster network address
	bits     int      // address length: 32 or 128
	maskSize int      // subnet prefix length
	count    int      // number of subnets
	used     []bool
	inUse    int
	next     int // where the search for a free subnet starts
}

// newCIDRSet splits cluster into subnets of prefix length maskSize.
func newCIDRSet(cluster *net.IPNet, maskSize int) (*cidrSet, error) {
	if cluster == nil {
		return nil, errors.New("nil cluster CIDR")
	}
	ones, bits := cluster.Mask.Size()
	if bits == 0 {
		return nil, fmt.Errorf("cluster CIDR %v has a non-canonical mask", cluster)
	}
	if maskSize < ones || maskSize > bits {
		return nil, fmt.Errorf("node mask size /%d does not fit cluster CIDR %v (between /%d and /%d)", maskSize, cluster, ones, bits)
	}
	if maskSize-ones > maxSubnetBits {
		return nil, fmt.Errorf("node mask size /%d cuts cluster CIDR %v into more than 2^%d ranges", maskSize, cluster, maxSubnetBits)
	}
	ip := cluster.IP.Mask(cluster.Mask)
	if bits == 32 {
		ip = ip.To4()
	}
	n := 1 << (maskSize - ones)
	return &cidrSet{
		cluster:  &net.IPNet{IP: ip, Mask: cluster.Mask},
		base:     new(big.Int).SetBytes(ip),
		bits:     bits,
		maskSize: maskSize,
		count:    n,
		used:     make([]bool, n),
	}, nil
}

// subnet is the i-th subnet.
func (s *cidrSet) subnet(i int) *net.IPNet {
	v := new(big.Int).Lsh(big.NewInt(int64(i)), uint(s.bits-s.maskSize))
	v.Add(v, s.base)
	b := v.Bytes()
	ip := make(net.IP, s.bits/8)
	copy(ip[len(ip)-len(b):], b)
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(s.maskSize, s.bits)}
}

// index is the index of the subnet cidr, which must be exactly one of the set's.
func (s *cidrSet) index(cidr *net.IPNet) (int, error) {
	ones, bits := cidr.Mask.Size()
	ip := cidr.IP
	if bits == 32 {
		ip = ip.To4()
	}
	if bits != s.bits || ones != s.maskSize || ip == nil || !s.cluster.Contains(ip) || !ip.Equal(ip.Mask(cidr.Mask)) {
		return 0, fmt.Errorf("%v is not a /%d range of %v", cidr, s.maskSize, s.cluster)
	}
	off := new(big.Int).Sub(new(big.Int).SetBytes(ip), s.base)
	return int(off.Rsh(off, uint(s.bits-s.maskSize)).Int64()), nil
}

// allocateNext reserves and returns a free subnet, searching round-robin from after the
// last one handed out.
func (s *cidrSet) allocateNext() (*net.IPNet, error) {
	if s.inUse >= s.count {
		return nil, &ExhaustedError{ClusterCIDR: s.cluster.String(), MaskSize: s.maskSize}
	}
	for k := range s.count {
		i := (s.next + k) % s.count
		if !s.used[i] {
			s.used[i] = true
			s.inUse++
			s.next = (i + 1) % s.count
			return s.subnet(i), nil
		}
	}
	return nil, &ExhaustedError{ClusterCIDR: s.cluster.String(), MaskSize: s.maskSize} // cannot happen
}

// occupy marks cidr used. It fails when cidr is not one of the set's subnets.
func (s *cidrSet) occupy(cidr *net.IPNet) error {
	i, err := s.index(cidr)
	if err != nil {
		return err
	}
	if !s.used[i] {
		s.used[i] = true
		s.inUse++
	}
	return nil
}

// release frees cidr (nothing when it is not one of the set's or not in use).
func (s *cidrSet) release(cidr *net.IPNet) {
	i, err := s.index(cidr)
	if err != nil || !s.used[i] {
		return
	}
	s.used[i] = false
	s.inUse--
}

// free is the number of subnets left.
func (s *cidrSet) free() int { return s.count - s.inUse }
