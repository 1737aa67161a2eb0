package apiserver

import (
	"fmt"
	"reflect"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/cert"

	"github.com/kijabi/kijabi/internal/apiserver/crschema"
	apivalidation "github.com/kijabi/kijabi/internal/apiserver/validation"
)

// validateCRD validates a CustomResourceDefinition (old is nil on create) as
// apiextensions.k8s.io/v1 does.
func validateCRD(crd, old *apiextensionsv1.CustomResourceDefinition) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMeta(&crd.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec := &crd.Spec
	sp := field.NewPath("spec")
	if want := spec.Names.Plural + "." + spec.Group; crd.Name != want {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), crd.Name, `must be spec.names.plural+"."+spec.group`))
	}
	if spec.Group == "" {
		errs = append(errs, field.Required(sp.Child("group"), ""))
	} else {
		if msgs := validation.IsDNS1123Subdomain(spec.Group); len(msgs) > 0 {
			errs = append(errs, field.Invalid(sp.Child("group"), spec.Group, strings.Join(msgs, ",")))
		} else if len(strings.Split(spec.Group, ".")) < 2 {
			errs = append(errs, field.Invalid(sp.Child("group"), spec.Group, "should be a domain with at least one dot"))
		}
		if protectedGroup(spec.Group) && crd.Annotations["api-approved.kubernetes.io"] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key("api-approved.kubernetes.io"),
				`protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111`))
		}
	}
	switch spec.Scope {
	case apiextensionsv1.NamespaceScoped, apiextensionsv1.ClusterScoped:
	case "":
		errs = append(errs, field.Required(sp.Child("scope"), ""))
	default:
		errs = append(errs, field.NotSupported(sp.Child("scope"), spec.Scope, []string{string(apiextensionsv1.ClusterScoped), string(apiextensionsv1.NamespaceScoped)}))
	}
	errs = append(errs, validateCRDNames(&spec.Names, sp.Child("names"))...)
	errs = append(errs, validateCRDVersions(spec, sp.Child("versions"))...)
	errs = append(errs, validateCRDConversion(crd, old, sp)...)
	if old != nil {
		if spec.Scope != old.Spec.Scope {
			errs = append(errs, field.Invalid(sp.Child("scope"), spec.Scope, "field is immutable"))
		}
		if spec.Group != old.Spec.Group {
			errs = append(errs, field.Invalid(sp.Child("group"), spec.Group, "field is immutable"))
		}
		if spec.Names.Plural != old.Spec.Names.Plural {
			errs = append(errs, field.Invalid(sp.Child("names", "plural"), spec.Names.Plural, "field is immutable"))
		}
		for _, stored := range old.Status.StoredVersions {
			found := false
			for _, v := range spec.Versions {
				found = found || v.Name == stored
			}
			if !found {
				errs = append(errs, field.Invalid(field.NewPath("status", "storedVersions"), old.Status.StoredVersions,
					fmt.Sprintf("must appear in spec.versions: %s", stored)))
			}
		}
	}
	return errs
}

func protectedGroup(group string) bool {
	return group == "k8s.io" || strings.HasSuffix(group, ".k8s.io") || group == "kubernetes.io" || strings.HasSuffix(group, ".kubernetes.io")
}

func validateCRDNames(n *apiextensionsv1.CustomResourceDefinitionNames, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	label := func(path *field.Path, v string, required bool) {
		if v == "" {
			if required {
				errs = append(errs, field.Required(path, ""))
			}
			return
		}
		if msgs := validation.IsDNS1035Label(v); len(msgs) > 0 {
			errs = append(errs, field.Invalid(path, v, strings.Join(msgs, ",")))
		}
	}
	label(p.Child("plural"), n.Plural, true)
	label(p.Child("singular"), n.Singular, false)
	if n.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else if msgs := validation.IsDNS1035Label(strings.ToLower(n.Kind)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("kind"), n.Kind, "may have mixed case, but should otherwise match: "+strings.Join(msgs, ",")))
	}
	if n.ListKind == "" {
		errs = append(errs, field.Required(p.Child("listKind"), ""))
	} else if msgs := validation.IsDNS1035Label(strings.ToLower(n.ListKind)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("listKind"), n.ListKind, "may have mixed case, but should otherwise match: "+strings.Join(msgs, ",")))
	} else if n.ListKind == n.Kind {
		errs = append(errs, field.Invalid(p.Child("listKind"), n.ListKind, "kind and listKind may not be the same"))
	}
	for i, sn := range n.ShortNames {
		label(p.Child("shortNames").Index(i), sn, true)
	}
	for i, c := range n.Categories {
		label(p.Child("categories").Index(i), c, true)
	}
	return errs
}

var printerColumnTypes = []string{"boolean", "date", "integer", "number", "string"}

func validateCRDVersions(spec *apiextensionsv1.CustomResourceDefinitionSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Versions) == 0 {
		return field.ErrorList{field.Invalid(p, spec.Versions, "must have exactly one version marked as storage version")}
	}
	storage, served := 0, 0
	seen := map[string]bool{}
	// When every version has the same schema kube-apiserver holds it once, as
	// spec.validation, and reports the errors of its rules there.
	shared := true
	for i := range spec.Versions {
		v := &spec.Versions[i]
		if v.Schema == nil || spec.Versions[0].Schema == nil || !reflect.DeepEqual(v.Schema, spec.Versions[0].Schema) {
			shared = false
		}
	}
	for i := range spec.Versions {
		v := &spec.Versions[i]
		vp := p.Index(i)
		if v.Storage {
			storage++
		}
		if v.Served {
			served++
		}
		if v.Name == "" {
			errs = append(errs, field.Required(vp.Child("name"), ""))
		} else if msgs := validation.IsDNS1035Label(v.Name); len(msgs) > 0 {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, strings.Join(msgs, ",")))
		}
		if seen[v.Name] {
			errs = append(errs, field.Invalid(p, spec.Versions, "must contain unique version names"))
		}
		seen[v.Name] = true
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			errs = append(errs, field.Required(vp.Child("schema", "openAPIV3Schema"), "schemas are required"))
		} else if structural := crschema.ValidateStructural(vp.Child("schema", "openAPIV3Schema"), v.Schema.OpenAPIV3Schema); len(structural) > 0 {
			errs = append(errs, structural...)
		} else if !shared {
			errs = append(errs, crschema.CheckRules(vp.Child("schema", "openAPIV3Schema"), v.Schema.OpenAPIV3Schema)...)
		} else if i == 0 {
			errs = append(errs, crschema.CheckRules(field.NewPath("spec", "validation", "openAPIV3Schema"), v.Schema.OpenAPIV3Schema)...)
		}
		if s := v.Subresources; s != nil && s.Scale != nil {
			sc := vp.Child("subresources", "scale")
			if !strings.HasPrefix(s.Scale.SpecReplicasPath, ".spec.") {
				errs = append(errs, field.Invalid(sc.Child("specReplicasPath"), s.Scale.SpecReplicasPath, "should be a json path under .spec"))
			}
			if !strings.HasPrefix(s.Scale.StatusReplicasPath, ".status.") {
				errs = append(errs, field.Invalid(sc.Child("statusReplicasPath"), s.Scale.StatusReplicasPath, "should be a json path under .status"))
			}
			if lp := s.Scale.LabelSelectorPath; lp != nil && !strings.HasPrefix(*lp, ".spec.") && !strings.HasPrefix(*lp, ".status.") {
				errs = append(errs, field.Invalid(sc.Child("labelSelectorPath"), *lp, "should be a json path under either .spec or .status"))
			}
		}
		for j, c := range v.AdditionalPrinterColumns {
			cp := vp.Child("additionalPrinterColumns").Index(j)
			if c.Name == "" {
				errs = append(errs, field.Required(cp.Child("name"), ""))
			}
			if !contains(printerColumnTypes, c.Type) {
				errs = append(errs, field.NotSupported(cp.Child("type"), c.Type, printerColumnTypes))
			}
			if c.Format != "" && !contains([]string{"int32", "int64", "float", "double", "byte", "date", "date-time", "password"}, c.Format) {
				errs = append(errs, field.NotSupported(cp.Child("format"), c.Format, []string{"int32", "int64", "float", "double", "byte", "date", "date-time", "password"}))
			}
			if c.JSONPath == "" {
				errs = append(errs, field.Required(cp.Child("JSONPath"), ""))
			}
		}
	}
	if storage != 1 {
		errs = append(errs, field.Invalid(p, spec.Versions, "must have exactly one version marked as storage version"))
	}
	if served == 0 {
		errs = append(errs, field.Invalid(p, spec.Versions, "must have at least one version marked as served"))
	}
	return errs
}

// conversionReviewVersions are the ConversionReview versions the server sends.
var conversionReviewVersions = []string{"v1", "v1beta1"}

// validateCRDConversion validates spec.conversion as kube-apiserver does. Its errors name
// the fields of the internal API, as upstream's do (spec.conversion.webhookClientConfig,
// spec.conversion.conversionReviewVersions).
func validateCRDConversion(crd, old *apiextensionsv1.CustomResourceDefinition, sp *field.Path) field.ErrorList {
	c := crd.Spec.Conversion
	if c == nil {
		return nil
	}
	var errs field.ErrorList
	cp := sp.Child("conversion")
	if c.Strategy != apiextensionsv1.NoneConverter && crd.Spec.PreserveUnknownFields {
		errs = append(errs, field.Invalid(cp.Child("strategy"), c.Strategy, "must be None if spec.preserveUnknownFields is true"))
	}
	switch c.Strategy {
	case "":
		errs = append(errs, field.Required(cp.Child("strategy"), ""))
	case apiextensionsv1.NoneConverter, apiextensionsv1.WebhookConverter:
	default:
		errs = append(errs, field.NotSupported(cp.Child("strategy"), c.Strategy, []string{string(apiextensionsv1.NoneConverter), string(apiextensionsv1.WebhookConverter)}))
	}
	var cc *apiextensionsv1.WebhookClientConfig
	var versions []string
	if c.Webhook != nil {
		cc, versions = c.Webhook.ClientConfig, c.Webhook.ConversionReviewVersions
	}
	ccp := cp.Child("webhookClientConfig")
	if c.Strategy != apiextensionsv1.WebhookConverter {
		if cc != nil {
			errs = append(errs, field.Forbidden(ccp, "should not be set when strategy is not set to Webhook"))
		}
		if len(versions) > 0 {
			errs = append(errs, field.Forbidden(cp.Child("conversionReviewVersions"), "should not be set when strategy is not set to Webhook"))
		}
		return errs
	}
	if cc == nil {
		errs = append(errs, field.Required(ccp, "required when strategy is set to Webhook"))
	} else {
		ac := admissionClientConfig(cc)
		errs = append(errs, apivalidation.WebhookClientConfig(&ac, ccp)...)
		if len(cc.CABundle) > 0 && !allowInvalidCABundle(old) {
			if _, err := cert.ParseCertsPEM(cc.CABundle); err != nil {
				errs = append(errs, field.Invalid(ccp.Child("caBundle"), cc.CABundle, err.Error()))
			}
		}
	}
	// A definition whose review versions the server did not know may keep them on update.
	requireKnown := true
	if old != nil && old.Spec.Conversion != nil && old.Spec.Conversion.Webhook != nil {
		ov := old.Spec.Conversion.Webhook.ConversionReviewVersions
		requireKnown = len(ov) == 0 || anyOf(ov, conversionReviewVersions)
	}
	errs = append(errs, validateConversionReviewVersions(versions, requireKnown, cp.Child("conversionReviewVersions"))...)
	return errs
}

func validateConversionReviewVersions(versions []string, requireKnown bool, p *field.Path) field.ErrorList {
	if len(versions) == 0 {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, v := range versions {
		if seen[v] {
			errs = append(errs, field.Invalid(p.Index(i), v, "duplicate version"))
			continue
		}
		seen[v] = true
		for _, msg := range validation.IsDNS1035Label(v) {
			errs = append(errs, field.Invalid(p.Index(i), v, msg))
		}
	}
	if requireKnown && !anyOf(versions, conversionReviewVersions) {
		errs = append(errs, field.Invalid(p, versions, "must include at least one of "+strings.Join(conversionReviewVersions, ", ")))
	}
	return errs
}

// allowInvalidCABundle tells whether an update may keep an unparsable caBundle: when the
// definition is not established yet, or its caBundle was already invalid.
func allowInvalidCABundle(old *apiextensionsv1.CustomResourceDefinition) bool {
	if old == nil {
		return false
	}
	if !isCRDEstablished(old) {
		return true
	}
	c := old.Spec.Conversion
	if c == nil || c.Webhook == nil || c.Webhook.ClientConfig == nil || len(c.Webhook.ClientConfig.CABundle) == 0 {
		return false
	}
	_, err := cert.ParseCertsPEM(c.Webhook.ClientConfig.CABundle)
	return err != nil
}

func anyOf(list, of []string) bool {
	for _, v := range list {
		if contains(of, v) {
			return true
		}
	}
	return false
}
