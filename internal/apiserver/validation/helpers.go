package validation

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	metaPath = field.NewPath("metadata")
	specPath = field.NewPath("spec")
)

// Name rules, named after what they accept. They are the apimachinery
// functions; the aliases only make the per-type metadata calls read well.
var (
	nameIsDNSSubdomain  = apimachineryvalidation.NameIsDNSSubdomain
	nameIsDNSLabel      = apimachineryvalidation.NameIsDNSLabel
	nameIsDNS1035Label  = apimachineryvalidation.NameIsDNS1035Label
	nameIsPathSegment   = validatePathSegmentName
	immutableFieldMsg   = apimachineryvalidation.FieldImmutableErrorMsg
	isNegativeErrorMsg  = apimachineryvalidation.IsNegativeErrorMsg
	noLabelSelectorOpts = metav1validation.LabelSelectorValidationOptions{}
)

// validatePathSegmentName accepts any name that can be used as one URL path
// segment (RBAC objects and a few others only need this).
func validatePathSegmentName(name string, prefix bool) []string {
	var errs []string
	if !prefix && (name == "." || name == "..") {
		errs = append(errs, fmt.Sprintf("may not be '%s'", name))
	}
	for _, bad := range []string{"/", "%"} {
		if strings.Contains(name, bad) {
			errs = append(errs, fmt.Sprintf("may not contain '%s'", bad))
		}
	}
	return errs
}

// objectMeta validates metadata on create.
func objectMeta(m *metav1.ObjectMeta, namespaced bool, nameFn apimachineryvalidation.ValidateNameFunc) field.ErrorList {
	return apimachineryvalidation.ValidateObjectMeta(m, namespaced, nameFn, metaPath)
}

// objectMetaUpdate validates metadata on update.
func objectMetaUpdate(m, old *metav1.ObjectMeta) field.ErrorList {
	return apimachineryvalidation.ValidateObjectMetaUpdate(m, old, metaPath)
}

// metaOnlyUpdate is the update validator for kinds whose writes need nothing
// beyond the metadata rules.
func metaOnlyUpdate[T interface {
	runtime.Object
	metav1.Object
}](obj, old T) field.ErrorList {
	return apimachineryvalidation.ValidateObjectMetaAccessorUpdate(obj, old, metaPath)
}

// msgs turns the []string a utilvalidation predicate returns into Invalid errors.
func msgs(fldPath *field.Path, value interface{}, problems []string) field.ErrorList {
	var errs field.ErrorList
	for _, m := range problems {
		errs = append(errs, field.Invalid(fldPath, value, m))
	}
	return errs
}

func dns1123Label(value string, fldPath *field.Path) field.ErrorList {
	return msgs(fldPath, value, utilvalidation.IsDNS1123Label(value))
}

func dns1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	return msgs(fldPath, value, utilvalidation.IsDNS1123Subdomain(value))
}

func qualifiedName(value string, fldPath *field.Path) field.ErrorList {
	return msgs(fldPath, value, utilvalidation.IsQualifiedName(value))
}

// nonNegative mirrors apimachinery's ValidateNonnegativeField for any integer width.
func nonNegative[T ~int32 | ~int64 | ~int](value T, fldPath *field.Path) field.ErrorList {
	if value < 0 {
		return field.ErrorList{field.Invalid(fldPath, int64(value), isNegativeErrorMsg)}
	}
	return nil
}

func nonNegativePtr[T ~int32 | ~int64](value *T, fldPath *field.Path) field.ErrorList {
	if value == nil {
		return nil
	}
	return nonNegative(*value, fldPath)
}

func positive[T ~int32 | ~int64 | ~int](value T, fldPath *field.Path) field.ErrorList {
	if value <= 0 {
		return field.ErrorList{field.Invalid(fldPath, int64(value), "must be greater than 0")}
	}
	return nil
}

func immutable(newVal, oldVal interface{}, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

func semanticEqual(a, b interface{}) bool {
	return apiequality.Semantic.DeepEqual(a, b)
}

func portNum(port int32, fldPath *field.Path) field.ErrorList {
	return msgs(fldPath, port, utilvalidation.IsValidPortNum(int(port)))
}

// portNumOrName validates an IntOrString that names a container port either
// by number or by IANA_SVC_NAME.
func portNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return msgs(fldPath, port.IntValue(), utilvalidation.IsValidPortNum(port.IntValue()))
	case intstr.String:
		return msgs(fldPath, port.StrVal, utilvalidation.IsValidPortName(port.StrVal))
	}
	return field.ErrorList{field.InternalError(fldPath, fmt.Errorf("unknown type: %v", port.Type))}
}

var supportedProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}

// protocol accepts an empty value (defaulting fills in TCP) or one of the
// supported protocols.
func protocol(p corev1.Protocol, fldPath *field.Path) field.ErrorList {
	if p == "" {
		return nil
	}
	for _, s := range supportedProtocols {
		if p == s {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(fldPath, p, supportedProtocols)}
}

// enum reports NotSupported unless v is one of allowed. Empty values are
// accepted when allowEmpty is set, which is how defaulted enums are treated.
func enum[T ~string](v T, allowEmpty bool, fldPath *field.Path, allowed ...T) field.ErrorList {
	if v == "" && allowEmpty {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(fldPath, v, allowed)}
}

func labelSelector(sel *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(sel, noLabelSelectorOpts, fldPath)
}

func labels(l map[string]string, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabels(l, fldPath)
}

// intOrPercent validates a value that is either a non-negative integer or a
// percentage string such as "25%".
func intOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		return msgs(fldPath, v, utilvalidation.IsValidPercent(v.StrVal))
	case intstr.Int:
		return nonNegative(v.IntValue(), fldPath)
	}
	return field.ErrorList{field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')")}
}

// intOrPercentValue returns the number in v and whether it was a percentage.
func intOrPercentValue(v intstr.IntOrString) (int, bool) {
	if v.Type == intstr.String {
		n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
		if err != nil {
			return 0, true
		}
		return n, true
	}
	return v.IntValue(), false
}

// notMoreThan100Percent rejects percentages over 100%; plain integers are not
// bounded here because they are absolute counts.
func notMoreThan100Percent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	n, isPercent := intOrPercentValue(v)
	if isPercent && n > 100 {
		return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
	}
	return nil
}

// isZeroIntOrPercent reports whether v is 0 or "0%"; a nil pointer means the
// defaulted (non-zero) value.
func isZeroIntOrPercent(v *intstr.IntOrString) bool {
	if v == nil {
		return false
	}
	n, _ := intOrPercentValue(*v)
	return n == 0
}

// quantityNonNegative validates a resource quantity value.
func quantityNonNegative(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), isNegativeErrorMsg)}
	}
	return nil
}

func quantityPositive(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), "must be greater than zero")}
	}
	return nil
}

// localDescendingPath checks a path that must stay inside the directory it is
// joined to (volume subPaths, key-to-path items).
func localDescendingPath(p string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(p, "/") {
		errs = append(errs, field.Invalid(fldPath, p, "must be a relative path"))
	}
	for _, part := range strings.Split(strings.ReplaceAll(p, `\`, "/"), "/") {
		if part == ".." {
			errs = append(errs, field.Invalid(fldPath, p, "must not contain '..'"))
			break
		}
	}
	return errs
}

// localNonReservedPath additionally forbids a leading "..", which the kubelet
// uses for its own atomic-writer bookkeeping.
func localNonReservedPath(p string, fldPath *field.Path) field.ErrorList {
	errs := localDescendingPath(p, fldPath)
	if strings.HasPrefix(p, "..") && !strings.HasPrefix(p, "../") {
		errs = append(errs, field.Invalid(fldPath, p, "must not start with '..'"))
	}
	return errs
}

// uniqueNames is a small helper for "names must be unique in this list" rules.
type uniqueNames struct{ seen sets.Set[string] }

// add records name and reports whether it had been seen before.
func (u *uniqueNames) add(name string) bool {
	if u.seen == nil {
		u.seen = sets.New[string]()
	}
	if u.seen.Has(name) {
		return true
	}
	u.seen.Insert(name)
	return false
}

// legacyIP is used for fields that predate strict IP parsing; values already
// stored in old are accepted again so an update never breaks on them.
func legacyIP(value string, fldPath *field.Path, oldValues []string) field.ErrorList {
	return utilvalidation.IsValidIPForLegacyField(fldPath, value, true, oldValues)
}

func legacyCIDR(value string, fldPath *field.Path, oldValues []string) field.ErrorList {
	return utilvalidation.IsValidCIDRForLegacyField(fldPath, value, true, oldValues)
}

func validateAnnotations(a map[string]string, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateAnnotations(a, fldPath)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var oneQuantity = resource.MustParse("1")

func labelValueProblems(v string) []string {
	return utilvalidation.IsValidLabelValue(v)
}

func isDomainPrefixedPath(p *field.Path, v string) field.ErrorList {
	return utilvalidation.IsDomainPrefixedPath(p, v)
}
