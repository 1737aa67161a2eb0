package cel

import (
	"fmt"
	"reflect"

	gocel "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Kubernetes' quantity functions (resource.Quantity: "100m", "1.5Gi", "2e3"):
//
//	quantity(<string>) Quantity, isQuantity(<string>) bool
//	sign(<Quantity>) int
//	<Quantity>.isGreaterThan(<Quantity>), isLessThan(<Quantity>) bool
//	<Quantity>.compareTo(<Quantity>) int                       -1, 0 or 1
//	<Quantity>.asApproximateFloat() double
//	<Quantity>.asInteger() int                                 an error when not an int64
//	<Quantity>.isInteger() bool
//	<Quantity>.add(<Quantity or int>), sub(<Quantity or int>) Quantity

var (
	// QuantityType is the CEL type of quantity().
	QuantityType     = types.NewObjectType("kubernetes.Quantity")
	quantityTypeType = types.NewTypeTypeWithParam(QuantityType)
)

// QuantityValue is a resource quantity.
type QuantityValue struct{ *resource.Quantity }

func (q QuantityValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(q.Quantity).AssignableTo(typeDesc) {
		return q.Quantity, nil
	}
	if reflect.TypeOf("").AssignableTo(typeDesc) {
		return q.Quantity.String(), nil
	}
	return nil, fmt.Errorf("type conversion error from 'Quantity' to '%v'", typeDesc)
}

func (q QuantityValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return quantityTypeType
	case types.StringType:
		return types.String(q.Quantity.String())
	}
	if t.TypeName() == QuantityType.TypeName() {
		return q
	}
	return types.NewErr("type conversion error from '%s' to '%s'", QuantityType, t)
}

func (q QuantityValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(QuantityValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(q.Quantity.Equal(*o.Quantity))
}

func (q QuantityValue) Type() ref.Type { return QuantityType }
func (q QuantityValue) Value() any     { return q.Quantity }

type quantityLib struct{}

func (quantityLib) LibraryName() string { return "kijabi.kubernetes.quantity" }

func (quantityLib) CompileOptions() []gocel.EnvOption {
	qt := QuantityType
	one := cost.EvalCost(cost.Const(cost.CallCost))
	scan := cost.EvalCost(cost.Sum(cost.Const(cost.CallCost), cost.StringScan(cost.Length(cost.Arg(0)))))
	unary := func(f func(*resource.Quantity) ref.Val) gocel.OverloadOpt {
		return gocel.UnaryBinding(func(v ref.Val) ref.Val {
			q, ok := v.(QuantityValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(q.Quantity)
		})
	}
	binary := func(f func(a, b *resource.Quantity) ref.Val) gocel.OverloadOpt {
		return gocel.BinaryBinding(func(a, b ref.Val) ref.Val {
			qa, ok := a.(QuantityValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(a)
			}
			var qb *resource.Quantity
			switch x := b.(type) {
			case QuantityValue:
				qb = x.Quantity
			case types.Int:
				qb = resource.NewQuantity(int64(x), resource.DecimalExponent)
			default:
				return types.MaybeNoSuchOverloadErr(b)
			}
			return f(qa.Quantity, qb)
		})
	}
	add := func(a, b *resource.Quantity) ref.Val {
		c := a.DeepCopy()
		c.Add(*b)
		return QuantityValue{&c}
	}
	sub := func(a, b *resource.Quantity) ref.Val {
		c := a.DeepCopy()
		c.Sub(*b)
		return QuantityValue{&c}
	}
	return []gocel.EnvOption{
		gocel.Function("quantity", gocel.Overload("kijabi_string_to_quantity", []*types.Type{types.StringType}, qt, gocel.UnaryBinding(func(v ref.Val) ref.Val {
			s, ok := v.(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			q, err := resource.ParseQuantity(string(s))
			if err != nil {
				return types.WrapErr(err)
			}
			return QuantityValue{&q}
		}))),
		gocel.Function("isQuantity", gocel.Overload("kijabi_is_quantity_string", []*types.Type{types.StringType}, types.BoolType, gocel.UnaryBinding(func(v ref.Val) ref.Val {
			s, ok := v.(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			_, err := resource.ParseQuantity(string(s))
			return types.Bool(err == nil)
		}))),
		gocel.Function("sign", gocel.Overload("kijabi_quantity_sign", []*types.Type{qt}, types.IntType,
			unary(func(q *resource.Quantity) ref.Val { return types.Int(q.Sign()) }))),
		gocel.Function("isGreaterThan", gocel.MemberOverload("kijabi_quantity_is_greater_than", []*types.Type{qt, qt}, types.BoolType,
			binary(func(a, b *resource.Quantity) ref.Val { return types.Bool(a.Cmp(*b) == 1) }))),
		gocel.Function("isLessThan", gocel.MemberOverload("kijabi_quantity_is_less_than", []*types.Type{qt, qt}, types.BoolType,
			binary(func(a, b *resource.Quantity) ref.Val { return types.Bool(a.Cmp(*b) == -1) }))),
		gocel.Function("compareTo", gocel.MemberOverload("kijabi_quantity_compare_to", []*types.Type{qt, qt}, types.IntType,
			binary(func(a, b *resource.Quantity) ref.Val { return types.Int(a.Cmp(*b)) }))),
		gocel.Function("asApproximateFloat", gocel.MemberOverload("kijabi_quantity_get_float", []*types.Type{qt}, types.DoubleType,
			unary(func(q *resource.Quantity) ref.Val { return types.Double(q.AsApproximateFloat64()) }))),
		gocel.Function("asInteger", gocel.MemberOverload("kijabi_quantity_get_int", []*types.Type{qt}, types.IntType,
			unary(func(q *resource.Quantity) ref.Val {
				v, ok := q.AsInt64()
				if !ok {
					return types.NewErr("cannot convert value to integer")
				}
				return types.Int(v)
			}))),
		gocel.Function("isInteger", gocel.MemberOverload("kijabi_quantity_is_integer", []*types.Type{qt}, types.BoolType,
			unary(func(q *resource.Quantity) ref.Val { _, ok := q.AsInt64(); return types.Bool(ok) }))),
		gocel.Function("add",
			gocel.MemberOverload("kijabi_quantity_add", []*types.Type{qt, qt}, qt, binary(add)),
			gocel.MemberOverload("kijabi_quantity_add_int", []*types.Type{qt, types.IntType}, qt, binary(add))),
		gocel.Function("sub",
			gocel.MemberOverload("kijabi_quantity_sub", []*types.Type{qt, qt}, qt, binary(sub)),
			gocel.MemberOverload("kijabi_quantity_sub_int", []*types.Type{qt, types.IntType}, qt, binary(sub))),
		gocel.CostModel(
			cost.Overload("kijabi_string_to_quantity", scan),
			cost.Overload("kijabi_is_quantity_string", scan),
			cost.Overload("kijabi_quantity_sign", one),
			cost.MemberOverload("kijabi_quantity_is_greater_than", one),
			cost.MemberOverload("kijabi_quantity_is_less_than", one),
			cost.MemberOverload("kijabi_quantity_compare_to", one),
			cost.MemberOverload("kijabi_quantity_get_float", one),
			cost.MemberOverload("kijabi_quantity_get_int", one),
			cost.MemberOverload("kijabi_quantity_is_integer", one),
			cost.MemberOverload("kijabi_quantity_add", one),
			cost.MemberOverload("kijabi_quantity_add_int", one),
			cost.MemberOverload("kijabi_quantity_sub", one),
			cost.MemberOverload("kijabi_quantity_sub_int", one),
		),
	}
}

func (quantityLib) ProgramOptions() []gocel.ProgramOption { return nil }
