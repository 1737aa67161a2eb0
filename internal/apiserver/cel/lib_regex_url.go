package cel

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sync"

	gocel "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Kubernetes' regex functions:
//
//	<string>.find(<regex>) string                 the first match, "" when none
//	<string>.findAll(<regex>) list<string>        every match
//	<string>.findAll(<regex>, <int n>) list<string>  at most n matches (n < 0: all)
//
// and URL functions:
//
//	url(<string>) URL                             an absolute URI or absolute path (as url.ParseRequestURI)
//	isURL(<string>) bool
//	<URL>.getScheme(), getHost(), getHostname(), getPort(), getEscapedPath() string
//	<URL>.getQuery() map<string, list<string>>

type regexLib struct{}

func (regexLib) LibraryName() string { return "kijabi.kubernetes.regex" }

func (regexLib) CompileOptions() []gocel.EnvOption {
	// Matching costs the string scan times the regex length, as CEL's own matches().
	search := cost.EvalCost(cost.Sum(cost.Const(cost.CallCost),
		cost.Mul(cost.StringScan(cost.Sum(cost.Const(1), cost.Length(cost.Target()))),
			cost.AtLeastOneQuantity(cost.Scale(cost.Length(cost.Arg(0)), cost.RegexStringLengthCostFactor)))))
	return []gocel.EnvOption{
		gocel.Function("find",
			gocel.MemberOverload("kijabi_string_find_string", []*types.Type{types.StringType, types.StringType}, types.StringType,
				gocel.BinaryBinding(regexFind))),
		gocel.Function("findAll",
			gocel.MemberOverload("kijabi_string_find_all_string", []*types.Type{types.StringType, types.StringType}, types.NewListType(types.StringType),
				gocel.BinaryBinding(func(s, re ref.Val) ref.Val { return regexFindAll(s, re, types.Int(-1)) })),
			gocel.MemberOverload("kijabi_string_find_all_string_int", []*types.Type{types.StringType, types.StringType, types.IntType}, types.NewListType(types.StringType),
				gocel.FunctionBinding(func(args ...ref.Val) ref.Val { return regexFindAll(args[0], args[1], args[2]) }))),
		gocel.CostModel(
			cost.MemberOverload("kijabi_string_find_string", search),
			cost.MemberOverload("kijabi_string_find_all_string", search),
			cost.MemberOverload("kijabi_string_find_all_string_int", search),
		),
	}
}

func (regexLib) ProgramOptions() []gocel.ProgramOption { return nil }

// regexCache keeps compiled patterns: expressions usually name a constant one, which a
// comprehension may use many times.
var regexCache struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}

func compileRegex(v ref.Val) (*regexp.Regexp, ref.Val) {
	s, ok := v.(types.String)
	if !ok {
		return nil, types.MaybeNoSuchOverloadErr(v)
	}
	regexCache.Lock()
	re, ok := regexCache.m[string(s)]
	regexCache.Unlock()
	if ok {
		return re, nil
	}
	re, err := regexp.Compile(string(s))
	if err != nil {
		return nil, types.NewErr("Illegal regex: %v", err.Error())
	}
	regexCache.Lock()
	if regexCache.m == nil || len(regexCache.m) >= 256 {
		regexCache.m = map[string]*regexp.Regexp{}
	}
	regexCache.m[string(s)] = re
	regexCache.Unlock()
	return re, nil
}

func regexFind(s, reVal ref.Val) ref.Val {
	str, ok := s.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(s)
	}
	re, errVal := compileRegex(reVal)
	if errVal != nil {
		return errVal
	}
	return types.String(re.FindString(string(str)))
}

func regexFindAll(s, reVal, nVal ref.Val) ref.Val {
	str, ok := s.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(s)
	}
	n, ok := nVal.(types.Int)
	if !ok {
		return types.MaybeNoSuchOverloadErr(nVal)
	}
	re, errVal := compileRegex(reVal)
	if errVal != nil {
		return errVal
	}
	return types.NewStringList(types.DefaultTypeAdapter, re.FindAllString(string(str), int(n)))
}

// URL values.

var (
	// URLType is the CEL type of url().
	URLType     = types.NewObjectType("kubernetes.URL")
	urlTypeType = types.NewTypeTypeWithParam(URLType)
)

// URLValue is a parsed URL.
type URLValue struct{ *url.URL }

func (u URLValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(u.URL).AssignableTo(typeDesc) {
		return u.URL, nil
	}
	if reflect.TypeOf("").AssignableTo(typeDesc) {
		return u.URL.String(), nil
	}
	return nil, fmt.Errorf("type conversion error from 'URL' to '%v'", typeDesc)
}

func (u URLValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(u.URL.String())
	case types.TypeType:
		return urlTypeType
	}
	if t.TypeName() == URLType.TypeName() {
		return u
	}
	return types.NewErr("type conversion error from '%s' to '%s'", URLType, t)
}

func (u URLValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(URLValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(u.URL.String() == o.URL.String())
}

func (u URLValue) Type() ref.Type { return URLType }
func (u URLValue) Value() any     { return u.URL }

type urlLib struct{}

func (urlLib) LibraryName() string { return "kijabi.kubernetes.urls" }

func (urlLib) CompileOptions() []gocel.EnvOption {
	scan := cost.EvalCost(cost.Sum(cost.Const(cost.CallCost), cost.StringScan(cost.Length(cost.Arg(0)))))
	getter := func(name, id string, result *types.Type, get func(*url.URL) ref.Val) gocel.EnvOption {
		return gocel.Function(name, gocel.MemberOverload(id, []*types.Type{URLType}, result, gocel.UnaryBinding(func(v ref.Val) ref.Val {
			u, ok := v.(URLValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return get(u.URL)
		})))
	}
	return []gocel.EnvOption{
		gocel.Function("url", gocel.Overload("kijabi_string_to_url", []*types.Type{types.StringType}, URLType, gocel.UnaryBinding(stringToURL))),
		gocel.Function("isURL", gocel.Overload("kijabi_is_url_string", []*types.Type{types.StringType}, types.BoolType, gocel.UnaryBinding(func(v ref.Val) ref.Val {
			s, ok := v.(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			_, err := url.ParseRequestURI(string(s))
			return types.Bool(err == nil)
		}))),
		getter("getScheme", "kijabi_url_get_scheme", types.StringType, func(u *url.URL) ref.Val { return types.String(u.Scheme) }),
		getter("getHost", "kijabi_url_get_host", types.StringType, func(u *url.URL) ref.Val { return types.String(u.Host) }),
		getter("getHostname", "kijabi_url_get_hostname", types.StringType, func(u *url.URL) ref.Val { return types.String(u.Hostname()) }),
		getter("getPort", "kijabi_url_get_port", types.StringType, func(u *url.URL) ref.Val { return types.String(u.Port()) }),
		getter("getEscapedPath", "kijabi_url_get_escaped_path", types.StringType, func(u *url.URL) ref.Val { return types.String(u.EscapedPath()) }),
		getter("getQuery", "kijabi_url_get_query", types.NewMapType(types.StringType, types.NewListType(types.StringType)), func(u *url.URL) ref.Val {
			out := map[ref.Val]ref.Val{}
			for k, v := range u.Query() {
				out[types.String(k)] = types.NewStringList(types.DefaultTypeAdapter, v)
			}
			return types.NewRefValMap(types.DefaultTypeAdapter, out)
		}),
		gocel.CostModel(
			cost.Overload("kijabi_string_to_url", scan),
			cost.Overload("kijabi_is_url_string", scan),
		),
	}
}

func (urlLib) ProgramOptions() []gocel.ProgramOption { return nil }

func stringToURL(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	// ParseRequestURI checks that the URL is absolute; Parse then reads it (fragments
	// included, which ParseRequestURI mistakes for part of the path or query).
	if _, err := url.ParseRequestURI(string(s)); err != nil {
		return types.NewErr("URL parse error during conversion from string: %v", err)
	}
	u, err := url.Parse(string(s))
	if err != nil {
		return types.NewErr("URL parse error during conversion from string: %v", err)
	}
	return URLValue{u}
}
