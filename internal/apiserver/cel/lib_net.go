package cel

import (
	"fmt"
	"net/netip"
	"reflect"

	gocel "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Kubernetes' IP and CIDR functions:
//
//	ip(<string>) IP, isIP(<string>) bool, ip.isCanonical(<string>) bool, string(<IP>) string
//	<IP>.family() int (4 or 6), isUnspecified(), isLoopback(), isLinkLocalMulticast(),
//	     isLinkLocalUnicast(), isGlobalUnicast() bool
//	cidr(<string>) CIDR, isCIDR(<string>) bool, string(<CIDR>) string
//	<CIDR>.containsIP(<IP or string>), containsCIDR(<CIDR or string>) bool
//	<CIDR>.ip() IP, prefixLength() int, masked() CIDR
//
// Addresses with zones and IPv4-mapped IPv6 addresses are refused, as Kubernetes refuses them.

var (
	// IPType and CIDRType are the CEL types of ip() and cidr().
	IPType       = types.NewOpaqueType("net.IP")
	CIDRType     = types.NewOpaqueType("net.CIDR")
	ipTypeType   = types.NewTypeTypeWithParam(IPType)
	cidrTypeType = types.NewTypeTypeWithParam(CIDRType)
)

// IPValue is an IP address.
type IPValue struct{ netip.Addr }

func (v IPValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(v.Addr).AssignableTo(typeDesc) {
		return v.Addr, nil
	}
	if reflect.TypeOf("").AssignableTo(typeDesc) {
		return v.Addr.String(), nil
	}
	return nil, fmt.Errorf("type conversion error from 'IP' to '%v'", typeDesc)
}

func (v IPValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(v.Addr.String())
	case types.TypeType:
		return ipTypeType
	}
	if t.TypeName() == IPType.TypeName() {
		return v
	}
	return types.NewErr("type conversion error from '%s' to '%s'", IPType, t)
}

func (v IPValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(IPValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(v.Addr == o.Addr)
}

func (v IPValue) Type() ref.Type { return IPType }
func (v IPValue) Value() any     { return v.Addr }

// CIDRValue is a network prefix.
type CIDRValue struct{ netip.Prefix }

func (v CIDRValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(v.Prefix).AssignableTo(typeDesc) {
		return v.Prefix, nil
	}
	if reflect.TypeOf("").AssignableTo(typeDesc) {
		return v.Prefix.String(), nil
	}
	return nil, fmt.Errorf("type conversion error from 'CIDR' to '%v'", typeDesc)
}

func (v CIDRValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(v.Prefix.String())
	case types.TypeType:
		return cidrTypeType
	}
	if t.TypeName() == CIDRType.TypeName() {
		return v
	}
	return types.NewErr("type conversion error from '%s' to '%s'", CIDRType, t)
}

func (v CIDRValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(CIDRValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(v.Prefix == o.Prefix)
}

func (v CIDRValue) Type() ref.Type { return CIDRType }
func (v CIDRValue) Value() any     { return v.Prefix }

func parseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("IP Address %q parse error during conversion from string: %v", s, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("IP address %q with zone value is not allowed", s)
	}
	if a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("IPv4-mapped IPv6 address %q is not allowed", s)
	}
	return a, nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("network address parse error during conversion from string: %v", err)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("IPv4-mapped IPv6 address %q is not allowed", s)
	}
	return p, nil
}

type netLib struct{}

func (netLib) LibraryName() string { return "kijabi.kubernetes.net" }

func (netLib) CompileOptions() []gocel.EnvOption {
	one := cost.EvalCost(cost.Const(cost.CallCost))
	scan := cost.EvalCost(cost.Sum(cost.Const(cost.CallCost), cost.StringScan(cost.Length(cost.Arg(0)))))
	str := func(f func(string) ref.Val) gocel.OverloadOpt {
		return gocel.UnaryBinding(func(v ref.Val) ref.Val {
			s, ok := v.(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(string(s))
		})
	}
	ipMethod := func(name, id string, f func(netip.Addr) bool) gocel.EnvOption {
		return gocel.Function(name, gocel.MemberOverload(id, []*types.Type{IPType}, types.BoolType, gocel.UnaryBinding(func(v ref.Val) ref.Val {
			ip, ok := v.(IPValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return types.Bool(f(ip.Addr))
		})))
	}
	cidrOf := func(v ref.Val) (netip.Prefix, ref.Val) {
		c, ok := v.(CIDRValue)
		if !ok {
			return netip.Prefix{}, types.MaybeNoSuchOverloadErr(v)
		}
		return c.Prefix, nil
	}
	containsIP := gocel.BinaryBinding(func(a, b ref.Val) ref.Val {
		p, errVal := cidrOf(a)
		if errVal != nil {
			return errVal
		}
		var addr netip.Addr
		switch x := b.(type) {
		case IPValue:
			addr = x.Addr
		case types.String:
			var err error
			if addr, err = parseIP(string(x)); err != nil {
				return types.WrapErr(err)
			}
		default:
			return types.MaybeNoSuchOverloadErr(b)
		}
		return types.Bool(p.Contains(addr))
	})
	containsCIDR := gocel.BinaryBinding(func(a, b ref.Val) ref.Val {
		p, errVal := cidrOf(a)
		if errVal != nil {
			return errVal
		}
		var other netip.Prefix
		switch x := b.(type) {
		case CIDRValue:
			other = x.Prefix
		case types.String:
			var err error
			if other, err = parseCIDR(string(x)); err != nil {
				return types.WrapErr(err)
			}
		default:
			return types.MaybeNoSuchOverloadErr(b)
		}
		return types.Bool(p.Bits() <= other.Bits() && p.Contains(other.Addr()))
	})
	return []gocel.EnvOption{
		gocel.Function("ip",
			gocel.Overload("kijabi_string_to_ip", []*types.Type{types.StringType}, IPType, str(func(s string) ref.Val {
				a, err := parseIP(s)
				if err != nil {
					return types.WrapErr(err)
				}
				return IPValue{a}
			})),
			gocel.MemberOverload("kijabi_cidr_ip", []*types.Type{CIDRType}, IPType, gocel.UnaryBinding(func(v ref.Val) ref.Val {
				p, errVal := cidrOf(v)
				if errVal != nil {
					return errVal
				}
				return IPValue{p.Addr()}
			}))),
		gocel.Function("isIP", gocel.Overload("kijabi_is_ip", []*types.Type{types.StringType}, types.BoolType, str(func(s string) ref.Val {
			_, err := parseIP(s)
			return types.Bool(err == nil)
		}))),
		gocel.Function("ip.isCanonical", gocel.Overload("kijabi_ip_is_canonical", []*types.Type{types.StringType}, types.BoolType, str(func(s string) ref.Val {
			a, err := parseIP(s)
			if err != nil {
				return types.WrapErr(err)
			}
			return types.Bool(a.String() == s)
		}))),
		gocel.Function("family", gocel.MemberOverload("kijabi_ip_family", []*types.Type{IPType}, types.IntType, gocel.UnaryBinding(func(v ref.Val) ref.Val {
			ip, ok := v.(IPValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			switch {
			case ip.Addr.Is4():
				return types.Int(4)
			case ip.Addr.Is6():
				return types.Int(6)
			}
			return types.NewErr("IP address %q is not an IPv4 or IPv6 address", ip.Addr.String())
		}))),
		ipMethod("isUnspecified", "kijabi_ip_is_unspecified", netip.Addr.IsUnspecified),
		ipMethod("isLoopback", "kijabi_ip_is_loopback", netip.Addr.IsLoopback),
		ipMethod("isLinkLocalMulticast", "kijabi_ip_is_link_local_multicast", netip.Addr.IsLinkLocalMulticast),
		ipMethod("isLinkLocalUnicast", "kijabi_ip_is_link_local_unicast", netip.Addr.IsLinkLocalUnicast),
		ipMethod("isGlobalUnicast", "kijabi_ip_is_global_unicast", netip.Addr.IsGlobalUnicast),
		gocel.Function("string",
			gocel.Overload("kijabi_ip_to_string", []*types.Type{IPType}, types.StringType, gocel.UnaryBinding(func(v ref.Val) ref.Val {
				return v.ConvertToType(types.StringType)
			})),
			gocel.Overload("kijabi_cidr_to_string", []*types.Type{CIDRType}, types.StringType, gocel.UnaryBinding(func(v ref.Val) ref.Val {
				return v.ConvertToType(types.StringType)
			}))),
		gocel.Function("cidr", gocel.Overload("kijabi_string_to_cidr", []*types.Type{types.StringType}, CIDRType, str(func(s string) ref.Val {
			p, err := parseCIDR(s)
			if err != nil {
				return types.WrapErr(err)
			}
			return CIDRValue{p}
		}))),
		gocel.Function("isCIDR", gocel.Overload("kijabi_is_cidr", []*types.Type{types.StringType}, types.BoolType, str(func(s string) ref.Val {
			_, err := parseCIDR(s)
			return types.Bool(err == nil)
		}))),
		gocel.Function("containsIP",
			gocel.MemberOverload("kijabi_cidr_contains_ip_string", []*types.Type{CIDRType, types.StringType}, types.BoolType, containsIP),
			gocel.MemberOverload("kijabi_cidr_contains_ip_ip", []*types.Type{CIDRType, IPType}, types.BoolType, containsIP)),
		gocel.Function("containsCIDR",
			gocel.MemberOverload("kijabi_cidr_contains_cidr_string", []*types.Type{CIDRType, types.StringType}, types.BoolType, containsCIDR),
			gocel.MemberOverload("kijabi_cidr_contains_cidr", []*types.Type{CIDRType, CIDRType}, types.BoolType, containsCIDR)),
		gocel.Function("prefixLength", gocel.MemberOverload("kijabi_cidr_prefix_length", []*types.Type{CIDRType}, types.IntType, gocel.UnaryBinding(func(v ref.Val) ref.Val {
			p, errVal := cidrOf(v)
			if errVal != nil {
				return errVal
			}
			return types.Int(p.Bits())
		}))),
		gocel.Function("masked", gocel.MemberOverload("kijabi_cidr_masked", []*types.Type{CIDRType}, CIDRType, gocel.UnaryBinding(func(v ref.Val) ref.Val {
			p, errVal := cidrOf(v)
			if errVal != nil {
				return errVal
			}
			return CIDRValue{p.Masked()}
		}))),
		gocel.CostModel(
			cost.Overload("kijabi_string_to_ip", scan),
			cost.MemberOverload("kijabi_cidr_ip", one),
			cost.Overload("kijabi_is_ip", scan),
			cost.Overload("kijabi_ip_is_canonical", scan),
			cost.MemberOverload("kijabi_ip_family", one),
			cost.MemberOverload("kijabi_ip_is_unspecified", one),
			cost.MemberOverload("kijabi_ip_is_loopback", one),
			cost.MemberOverload("kijabi_ip_is_link_local_multicast", one),
			cost.MemberOverload("kijabi_ip_is_link_local_unicast", one),
			cost.MemberOverload("kijabi_ip_is_global_unicast", one),
			cost.Overload("kijabi_ip_to_string", one),
			cost.Overload("kijabi_cidr_to_string", one),
			cost.Overload("kijabi_string_to_cidr", scan),
			cost.Overload("kijabi_is_cidr", scan),
			cost.MemberOverload("kijabi_cidr_contains_ip_string", scan),
			cost.MemberOverload("kijabi_cidr_contains_ip_ip", one),
			cost.MemberOverload("kijabi_cidr_contains_cidr_string", scan),
			cost.MemberOverload("kijabi_cidr_contains_cidr", one),
			cost.MemberOverload("kijabi_cidr_prefix_length", one),
			cost.MemberOverload("kijabi_cidr_masked", one),
		),
	}
}

func (netLib) ProgramOptions() []gocel.ProgramOption { return nil }
