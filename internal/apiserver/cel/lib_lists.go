package cel

import (
	gocel "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// Kubernetes' list functions:
//
//	<list<T>>.isSorted() bool           T comparable (int, uint, double, bool, duration, timestamp, string, bytes)
//	<list<T>>.sum() T                   T int, uint, double or duration; 0 for an empty list
//	<list<T>>.min() T, .max() T         an error for an empty list
//	<list<T>>.indexOf(T) int            -1 when absent
//	<list<T>>.lastIndexOf(T) int

type listsLib struct{}

func (listsLib) LibraryName() string { return "kijabi.kubernetes.lists" }

var comparableListTypes = []struct {
	name string
	t    *types.Type
}{
	{"int", types.IntType}, {"uint", types.UintType}, {"double", types.DoubleType}, {"bool", types.BoolType},
	{"duration", types.DurationType}, {"timestamp", types.TimestampType}, {"string", types.StringType}, {"bytes", types.BytesType},
}

var summableListTypes = map[string]ref.Val{
	"int": types.Int(0), "uint": types.Uint(0), "double": types.Double(0), "duration": types.Duration{},
}

func (listsLib) CompileOptions() []gocel.EnvOption {
	var sorted, sum, lo, hi []gocel.FunctionOpt
	var models []cost.OverloadModel
	traverse := cost.EvalCost(cost.Sum(cost.Const(cost.CallCost), cost.Length(cost.Target())))
	for _, ct := range comparableListTypes {
		lt := types.NewListType(ct.t)
		id := "kijabi_list_" + ct.name + "_is_sorted"
		sorted = append(sorted, gocel.MemberOverload(id, []*types.Type{lt}, types.BoolType, gocel.UnaryBinding(listIsSorted)))
		models = append(models, cost.MemberOverload(id, traverse))
		id = "kijabi_list_" + ct.name + "_min"
		lo = append(lo, gocel.MemberOverload(id, []*types.Type{lt}, ct.t, gocel.UnaryBinding(listExtreme("min", types.IntOne))))
		models = append(models, cost.MemberOverload(id, traverse))
		id = "kijabi_list_" + ct.name + "_max"
		hi = append(hi, gocel.MemberOverload(id, []*types.Type{lt}, ct.t, gocel.UnaryBinding(listExtreme("max", types.IntNegOne))))
		models = append(models, cost.MemberOverload(id, traverse))
		if zero, ok := summableListTypes[ct.name]; ok {
			id = "kijabi_list_" + ct.name + "_sum"
			sum = append(sum, gocel.MemberOverload(id, []*types.Type{lt}, ct.t, gocel.UnaryBinding(listSum(zero))))
			models = append(models, cost.MemberOverload(id, traverse))
		}
	}
	a := types.NewTypeParamType("A")
	la := types.NewListType(a)
	models = append(models,
		cost.MemberOverload("kijabi_list_index_of", traverse),
		cost.MemberOverload("kijabi_list_last_index_of", traverse))
	return []gocel.EnvOption{
		gocel.Function("isSorted", sorted...),
		gocel.Function("sum", sum...),
		gocel.Function("min", lo...),
		gocel.Function("max", hi...),
		gocel.Function("indexOf", gocel.MemberOverload("kijabi_list_index_of", []*types.Type{la, a}, types.IntType,
			gocel.BinaryBinding(func(l, v ref.Val) ref.Val { return listIndexOf(l, v, false) }))),
		gocel.Function("lastIndexOf", gocel.MemberOverload("kijabi_list_last_index_of", []*types.Type{la, a}, types.IntType,
			gocel.BinaryBinding(func(l, v ref.Val) ref.Val { return listIndexOf(l, v, true) }))),
		gocel.CostModel(models...),
	}
}

func (listsLib) ProgramOptions() []gocel.ProgramOption { return nil }

func listIsSorted(v ref.Val) ref.Val {
	l, ok := v.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	var prev traits.Comparer
	for it := l.Iterator(); it.HasNext() == types.True; {
		next := it.Next()
		c, ok := next.(traits.Comparer)
		if !ok {
			return types.MaybeNoSuchOverloadErr(next)
		}
		if prev != nil && prev.Compare(next) == types.IntOne {
			return types.False
		}
		prev = c
	}
	return types.True
}

func listSum(zero ref.Val) func(ref.Val) ref.Val {
	return func(v ref.Val) ref.Val {
		l, ok := v.(traits.Lister)
		if !ok {
			return types.MaybeNoSuchOverloadErr(v)
		}
		acc := zero
		for it := l.Iterator(); it.HasNext() == types.True; {
			a, ok := acc.(traits.Adder)
			if !ok {
				return types.MaybeNoSuchOverloadErr(acc)
			}
			acc = a.Add(it.Next())
			if types.IsError(acc) {
				return acc
			}
		}
		return acc
	}
}

// listExtreme keeps the element that compares to the best so far as replace says.
func listExtreme(name string, replace ref.Val) func(ref.Val) ref.Val {
	return func(v ref.Val) ref.Val {
		l, ok := v.(traits.Lister)
		if !ok {
			return types.MaybeNoSuchOverloadErr(v)
		}
		var best traits.Comparer
		for it := l.Iterator(); it.HasNext() == types.True; {
			next := it.Next()
			c, ok := next.(traits.Comparer)
			if !ok {
				return types.MaybeNoSuchOverloadErr(next)
			}
			if best == nil || best.Compare(next) == replace {
				best = c
			}
		}
		if best == nil {
			return types.NewErr("%s called on empty list", name)
		}
		return best.(ref.Val)
	}
}

func listIndexOf(v, item ref.Val, last bool) ref.Val {
	l, ok := v.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	n := int64(l.Size().(types.Int))
	for i := int64(0); i < n; i++ {
		j := i
		if last {
			j = n - 1 - i
		}
		if l.Get(types.Int(j)).Equal(item) == types.True {
			return types.Int(j)
		}
	}
	return types.Int(-1)
}
