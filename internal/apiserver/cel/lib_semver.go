package cel

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	gocel "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"github.com/blang/semver/v4"
)

// Kubernetes' semantic version functions:
//
//	semver(<string>) Semver, semver(<string>, <bool normalize>) Semver
//	isSemver(<string>) bool, isSemver(<string>, <bool normalize>) bool
//	<Semver>.isGreaterThan(<Semver>), isLessThan(<Semver>) bool, compareTo(<Semver>) int
//	<Semver>.major(), minor(), patch() int
//
// Normalizing accepts a leading "v", missing minor and patch numbers and leading zeros
// ("v1.02" is 1.2.0).

var (
	// SemverType is the CEL type of semver().
	SemverType     = types.NewObjectType("kubernetes.Semver")
	semverTypeType = types.NewTypeTypeWithParam(SemverType)
)

// SemverValue is a semantic version.
type SemverValue struct{ semver.Version }

func (v SemverValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(v.Version).AssignableTo(typeDesc) {
		return v.Version, nil
	}
	if reflect.TypeOf("").AssignableTo(typeDesc) {
		return v.Version.String(), nil
	}
	return nil, fmt.Errorf("type conversion error from 'Semver' to '%v'", typeDesc)
}

func (v SemverValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return semverTypeType
	case types.StringType:
		return types.String(v.Version.String())
	}
	if t.TypeName() == SemverType.TypeName() {
		return v
	}
	return types.NewErr("type conversion error from '%s' to '%s'", SemverType, t)
}

func (v SemverValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(SemverValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(v.Version.EQ(o.Version))
}

func (v SemverValue) Type() ref.Type { return SemverType }
func (v SemverValue) Value() any     { return v.Version }

// normalizeSemver turns a loosely written version into a strict one.
func normalizeSemver(s string) (semver.Version, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	core, rest := s, ""
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		core, rest = s[:i], s[i:]
	}
	parts := strings.Split(core, ".")
	if len(parts) > 3 {
		return semver.Version{}, errors.New("too many dot-separated parts")
	}
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	for i, p := range parts {
		if t := strings.TrimLeft(p, "0"); t != "" || p == "" {
			parts[i] = t
		} else {
			parts[i] = "0"
		}
	}
	return semver.Parse(strings.Join(parts, ".") + rest)
}

func parseSemver(s string, normalize bool) (semver.Version, error) {
	if normalize {
		return normalizeSemver(s)
	}
	return semver.Parse(s)
}

type semverLib struct{}

func (semverLib) LibraryName() string { return "kijabi.kubernetes.semver" }

func (semverLib) CompileOptions() []gocel.EnvOption {
	one := cost.EvalCost(cost.Const(cost.CallCost))
	scan := cost.EvalCost(cost.Sum(cost.Const(cost.CallCost), cost.StringScan(cost.Length(cost.Arg(0)))))
	toSemver := func(args ...ref.Val) ref.Val {
		s, ok := args[0].(types.String)
		if !ok {
			return types.MaybeNoSuchOverloadErr(args[0])
		}
		normalize := false
		if len(args) > 1 {
			b, ok := args[1].(types.Bool)
			if !ok {
				return types.MaybeNoSuchOverloadErr(args[1])
			}
			normalize = bool(b)
		}
		v, err := parseSemver(string(s), normalize)
		if err != nil {
			return types.WrapErr(err)
		}
		return SemverValue{v}
	}
	isSemver := func(args ...ref.Val) ref.Val {
		v := toSemver(args...)
		if _, ok := v.(SemverValue); ok {
			return types.True
		}
		if _, ok := args[0].(types.String); !ok {
			return v
		}
		return types.False
	}
	cmp := func(f func(a, b semver.Version) ref.Val) gocel.OverloadOpt {
		return gocel.BinaryBinding(func(a, b ref.Val) ref.Val {
			va, ok1 := a.(SemverValue)
			vb, ok2 := b.(SemverValue)
			if !ok1 || !ok2 {
				return types.MaybeNoSuchOverloadErr(b)
			}
			return f(va.Version, vb.Version)
		})
	}
	part := func(f func(semver.Version) uint64) gocel.OverloadOpt {
		return gocel.UnaryBinding(func(v ref.Val) ref.Val {
			s, ok := v.(SemverValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return types.Int(f(s.Version))
		})
	}
	st := SemverType
	return []gocel.EnvOption{
		gocel.Function("semver",
			gocel.Overload("kijabi_string_to_semver", []*types.Type{types.StringType}, st, gocel.FunctionBinding(toSemver)),
			gocel.Overload("kijabi_string_bool_to_semver", []*types.Type{types.StringType, types.BoolType}, st, gocel.FunctionBinding(toSemver))),
		gocel.Function("isSemver",
			gocel.Overload("kijabi_is_semver_string", []*types.Type{types.StringType}, types.BoolType, gocel.FunctionBinding(isSemver)),
			gocel.Overload("kijabi_is_semver_string_bool", []*types.Type{types.StringType, types.BoolType}, types.BoolType, gocel.FunctionBinding(isSemver))),
		gocel.Function("isGreaterThan", gocel.MemberOverload("kijabi_semver_is_greater_than", []*types.Type{st, st}, types.BoolType,
			cmp(func(a, b semver.Version) ref.Val { return types.Bool(a.GT(b)) }))),
		gocel.Function("isLessThan", gocel.MemberOverload("kijabi_semver_is_less_than", []*types.Type{st, st}, types.BoolType,
			cmp(func(a, b semver.Version) ref.Val { return types.Bool(a.LT(b)) }))),
		gocel.Function("compareTo", gocel.MemberOverload("kijabi_semver_compare_to", []*types.Type{st, st}, types.IntType,
			cmp(func(a, b semver.Version) ref.Val { return types.Int(a.Compare(b)) }))),
		gocel.Function("major", gocel.MemberOverload("kijabi_semver_major", []*types.Type{st}, types.IntType, part(func(v semver.Version) uint64 { return v.Major }))),
		gocel.Function("minor", gocel.MemberOverload("kijabi_semver_minor", []*types.Type{st}, types.IntType, part(func(v semver.Version) uint64 { return v.Minor }))),
		gocel.Function("patch", gocel.MemberOverload("kijabi_semver_patch", []*types.Type{st}, types.IntType, part(func(v semver.Version) uint64 { return v.Patch }))),
		gocel.CostModel(
			cost.Overload("kijabi_string_to_semver", scan),
			cost.Overload("kijabi_string_bool_to_semver", scan),
			cost.Overload("kijabi_is_semver_string", scan),
			cost.Overload("kijabi_is_semver_string_bool", scan),
			cost.MemberOverload("kijabi_semver_is_greater_than", one),
			cost.MemberOverload("kijabi_semver_is_less_than", one),
			cost.MemberOverload("kijabi_semver_compare_to", one),
			cost.MemberOverload("kijabi_semver_major", one),
			cost.MemberOverload("kijabi_semver_minor", one),
			cost.MemberOverload("kijabi_semver_patch", one),
		),
	}
}

func (semverLib) ProgramOptions() []gocel.ProgramOption { return nil }
