package cel

import (
	"fmt"
	"net/url"
	"reflect"

	gocel "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
)

// Kubernetes' named formats:
//
//	format.named(<string>) optional<Format>       optional.none() for an unknown name
//	format.dns1123Label(), format.dns1123Subdomain(), format.dns1035Label(),
//	format.qualifiedName(), format.dns1123LabelPrefix(), format.dns1123SubdomainPrefix(),
//	format.dns1035LabelPrefix(), format.labelValue(), format.uri(), format.uuid(),
//	format.byte(), format.date(), format.datetime()  Format
//	<Format>.validate(<string>) optional<list<string>>   none when valid, else the errors

var (
	// FormatType is the CEL type of a named format.
	FormatType     = types.NewObjectType("kubernetes.NamedFormat")
	formatTypeType = types.NewTypeTypeWithParam(FormatType)
)

// FormatValue is a named string format.
type FormatValue struct {
	Name     string
	validate func(string) []string
	// regexSize estimates the work of a validation, for costs.
	regexSize uint64
}

func (f *FormatValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion error from 'Format' to '%v'", typeDesc)
}

func (f *FormatValue) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return formatTypeType
	}
	if t.TypeName() == FormatType.TypeName() {
		return f
	}
	return types.NewErr("type conversion error from '%s' to '%s'", FormatType, t)
}

func (f *FormatValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(*FormatValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(f.Name == o.Name)
}

func (f *FormatValue) Type() ref.Type { return FormatType }
func (f *FormatValue) Value() any     { return f }

func strfmtFormat(name, check, msg string, size int) *FormatValue {
	return &FormatValue{Name: name, regexSize: uint64(size), validate: func(s string) []string {
		if !strfmt.Default.Validates(check, s) {
			return []string{msg}
		}
		return nil
	}}
}

// namedFormats are the formats by the names format.named() and format.<name>() know.
var namedFormats = map[string]*FormatValue{
	"dns1123Label":           {Name: "DNS1123Label", regexSize: 30, validate: func(s string) []string { return apimachineryvalidation.NameIsDNSLabel(s, false) }},
	"dns1123Subdomain":       {Name: "DNS1123Subdomain", regexSize: 60, validate: func(s string) []string { return apimachineryvalidation.NameIsDNSSubdomain(s, false) }},
	"dns1035Label":           {Name: "DNS1035Label", regexSize: 30, validate: func(s string) []string { return apimachineryvalidation.NameIsDNS1035Label(s, false) }},
	"qualifiedName":          {Name: "QualifiedName", regexSize: 60, validate: validation.IsQualifiedName},
	"dns1123LabelPrefix":     {Name: "DNS1123LabelPrefix", regexSize: 30, validate: func(s string) []string { return apimachineryvalidation.NameIsDNSLabel(s, true) }},
	"dns1123SubdomainPrefix": {Name: "DNS1123SubdomainPrefix", regexSize: 60, validate: func(s string) []string { return apimachineryvalidation.NameIsDNSSubdomain(s, true) }},
	"dns1035LabelPrefix":     {Name: "DNS1035LabelPrefix", regexSize: 30, validate: func(s string) []string { return apimachineryvalidation.NameIsDNS1035Label(s, true) }},
	"labelValue":             {Name: "LabelValue", regexSize: 40, validate: validation.IsValidLabelValue},
	"uri": {Name: "URI", regexSize: 1103, validate: func(s string) []string {
		if _, err := url.ParseRequestURI(s); err != nil {
			return []string{err.Error()}
		}
		return nil
	}},
	"uuid":     strfmtFormat("uuid", "uuid", "does not match the UUID format", len(strfmt.UUIDPattern)),
	"byte":     strfmtFormat("byte", "byte", "invalid base64", 84),
	"date":     strfmtFormat("date", "date", "invalid date", len(strfmt.DateTimePattern)),
	"datetime": strfmtFormat("datetime", "datetime", "invalid datetime", len(strfmt.DateTimePattern)),
}

type formatLib struct{}

func (formatLib) LibraryName() string { return "kijabi.kubernetes.format" }

func (formatLib) CompileOptions() []gocel.EnvOption {
	opts := []gocel.EnvOption{
		gocel.Function("validate", gocel.MemberOverload("kijabi_format_validate", []*types.Type{FormatType, types.StringType},
			types.NewOptionalType(types.NewListType(types.StringType)), gocel.BinaryBinding(func(fv, sv ref.Val) ref.Val {
				f, ok := fv.(*FormatValue)
				if !ok {
					return types.MaybeNoSuchOverloadErr(fv)
				}
				s, ok := sv.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(sv)
				}
				if errs := f.validate(string(s)); len(errs) > 0 {
					return types.OptionalOf(types.NewStringList(types.DefaultTypeAdapter, errs))
				}
				return types.OptionalNone
			}))),
		gocel.Function("format.named", gocel.Overload("kijabi_format_named", []*types.Type{types.StringType}, types.NewOptionalType(FormatType),
			gocel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				if f, ok := namedFormats[string(s)]; ok {
					return types.OptionalOf(f)
				}
				return types.OptionalNone
			}))),
		gocel.CostModel(
			// the string scan times the (estimated) size of the format's regular expression
			cost.MemberOverload("kijabi_format_validate", cost.EvalCost(cost.Sum(cost.Const(cost.CallCost),
				cost.Mul(cost.StringScan(cost.Sum(cost.Const(1), cost.Length(cost.Arg(0)))), cost.Const(300))))),
			cost.Overload("kijabi_format_named", cost.EvalCost(cost.Const(cost.CallCost))),
		),
	}
	for name, f := range namedFormats {
		f := f
		fn := "format." + name
		opts = append(opts, gocel.Function(fn, gocel.Overload("kijabi_"+fn, nil, FormatType,
			gocel.FunctionBinding(func(...ref.Val) ref.Val { return f }))))
	}
	return opts
}

func (formatLib) ProgramOptions() []gocel.ProgramOption { return nil }
