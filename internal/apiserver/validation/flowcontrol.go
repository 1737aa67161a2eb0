package validation

import (
	"fmt"
	"math"
	"strings"

	bootstrap "github.com/kijabi/kijabi/internal/apiserver/apf"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- flowcontrol.apiserver.k8s.io/v1 FlowSchema and PriorityLevelConfiguration ----
//
// API Priority and Fairness is configured, not enforced: these rules keep the objects what
// kube-apiserver would accept, including the fixed specs of the mandatory objects.

var (
	flowVerbs           = []string{"create", "delete", "deletecollection", "get", "list", "patch", "proxy", "update", "watch"}
	distinguisherTypes  = []string{string(flowcontrolv1.FlowDistinguisherMethodByNamespaceType), string(flowcontrolv1.FlowDistinguisherMethodByUserType)}
	mandatoryFlowSchema = map[string]*flowcontrolv1.FlowSchema{}
	mandatoryLevel      = map[string]*flowcontrolv1.PriorityLevelConfiguration{}
)

func init() {
	for _, fs := range bootstrap.MandatoryFlowSchemas {
		mandatoryFlowSchema[fs.Name] = fs
	}
	for _, pl := range bootstrap.MandatoryPriorityLevelConfigurations {
		mandatoryLevel[pl.Name] = pl
	}
}

// maxQueues bounds a priority level's queues (10^7).
const maxQueues = 10 * 1000 * 1000

// maxHashBits is the entropy a flow's hash gives shuffle sharding.
const maxHashBits = 60

func validateFlowSchema(fs *flowcontrolv1.FlowSchema) field.ErrorList {
	errs := objectMeta(&fs.ObjectMeta, false, nameIsDNSSubdomain)
	errs = append(errs, flowSchemaSpec(fs.Name, &fs.Spec)...)
	if mand, ok := mandatoryFlowSchema[fs.Name]; ok && !semanticEqual(fs.Spec, mand.Spec) {
		errs = append(errs, field.Invalid(specPath, fs.Spec, fmt.Sprintf("spec of '%s' must equal the fixed value", fs.Name)))
	}
	return append(errs, flowConditions(conditionTypes(fs.Status.Conditions))...)
}

func validateFlowSchemaUpdate(fs, old *flowcontrolv1.FlowSchema) field.ErrorList {
	return append(objectMetaUpdate(&fs.ObjectMeta, &old.ObjectMeta), validateFlowSchema(fs)...)
}

func validateFlowSchemaStatusUpdate(fs, old *flowcontrolv1.FlowSchema) field.ErrorList {
	return append(objectMetaUpdate(&fs.ObjectMeta, &old.ObjectMeta), flowConditions(conditionTypes(fs.Status.Conditions))...)
}

func conditionTypes[C flowcontrolv1.FlowSchemaCondition | flowcontrolv1.PriorityLevelConfigurationCondition](conds []C) []string {
	out := make([]string, len(conds))
	for i, c := range conds {
		switch c := any(c).(type) {
		case flowcontrolv1.FlowSchemaCondition:
			out[i] = string(c.Type)
		case flowcontrolv1.PriorityLevelConfigurationCondition:
			out[i] = string(c.Type)
		}
	}
	return out
}

// flowConditions: condition types are required and unique.
func flowConditions(types []string) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("status", "conditions")
	seen := sets.New[string]()
	for i, t := range types {
		if seen.Has(t) {
			errs = append(errs, field.Duplicate(p.Index(i).Child("type"), t))
		}
		seen.Insert(t)
		if t == "" {
			errs = append(errs, field.Required(p.Index(i).Child("type"), "must not be empty"))
		}
	}
	return errs
}

func flowSchemaSpec(name string, spec *flowcontrolv1.FlowSchemaSpec) field.ErrorList {
	var errs field.ErrorList
	mp := specPath.Child("matchingPrecedence")
	switch {
	case spec.MatchingPrecedence <= 0:
		errs = append(errs, field.Invalid(mp, spec.MatchingPrecedence, "must be a positive value"))
	case spec.MatchingPrecedence > flowcontrolv1.FlowSchemaMaxMatchingPrecedence:
		errs = append(errs, field.Invalid(mp, spec.MatchingPrecedence, fmt.Sprintf("must not be greater than %v", flowcontrolv1.FlowSchemaMaxMatchingPrecedence)))
	}
	if spec.MatchingPrecedence == 1 && name != flowcontrolv1.FlowSchemaNameExempt {
		errs = append(errs, field.Invalid(mp, spec.MatchingPrecedence, "only the schema named 'exempt' may have matchingPrecedence 1"))
	}
	if d := spec.DistinguisherMethod; d != nil && !sets.New(distinguisherTypes...).Has(string(d.Type)) {
		errs = append(errs, field.NotSupported(specPath.Child("distinguisherMethod", "type"), d.Type, distinguisherTypes))
	}
	plp := specPath.Child("priorityLevelConfiguration", "name")
	if pl := spec.PriorityLevelConfiguration.Name; pl == "" {
		errs = append(errs, field.Required(plp, "must reference a priority level"))
	} else {
		errs = append(errs, msgs(plp, pl, nameIsDNSSubdomain(pl, false))...)
	}
	for i := range spec.Rules {
		errs = append(errs, flowRules(&spec.Rules[i], specPath.Child("rules").Index(i))...)
	}
	return errs
}

func flowRules(r *flowcontrolv1.PolicyRulesWithSubjects, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Subjects) == 0 {
		errs = append(errs, field.Required(p.Child("subjects"), "subjects must contain at least one value"))
	}
	for i := range r.Subjects {
		errs = append(errs, flowSubject(&r.Subjects[i], p.Child("subjects").Index(i))...)
	}
	if len(r.ResourceRules) == 0 && len(r.NonResourceRules) == 0 {
		errs = append(errs, field.Required(p, "at least one of resourceRules and nonResourceRules has to be non-empty"))
	}
	for i := range r.ResourceRules {
		errs = append(errs, flowResourceRule(&r.ResourceRules[i], p.Child("resourceRules").Index(i))...)
	}
	for i := range r.NonResourceRules {
		errs = append(errs, flowNonResourceRule(&r.NonResourceRules[i], p.Child("nonResourceRules").Index(i))...)
	}
	return errs
}

func flowSubject(s *flowcontrolv1.Subject, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	notUser := func() {
		if s.User != nil {
			errs = append(errs, field.Forbidden(p.Child("user"), "user is forbidden when subject kind is not 'User'"))
		}
	}
	notGroup := func() {
		if s.Group != nil {
			errs = append(errs, field.Forbidden(p.Child("group"), "group is forbidden when subject kind is not 'Group'"))
		}
	}
	notSA := func() {
		if s.ServiceAccount != nil {
			errs = append(errs, field.Forbidden(p.Child("serviceAccount"), "serviceAccount is forbidden when subject kind is not 'ServiceAccount'"))
		}
	}
	switch s.Kind {
	case flowcontrolv1.SubjectKindServiceAccount:
		sp := p.Child("serviceAccount")
		if sa := s.ServiceAccount; sa == nil {
			errs = append(errs, field.Required(sp, "serviceAccount is required when subject kind is 'ServiceAccount'"))
		} else {
			if sa.Name == "" {
				errs = append(errs, field.Required(sp.Child("name"), ""))
			} else if sa.Name != flowcontrolv1.NameAll {
				errs = append(errs, msgs(sp.Child("name"), sa.Name, apimachineryvalidation.ValidateServiceAccountName(sa.Name, false))...)
			}
			if sa.Namespace == "" {
				errs = append(errs, field.Required(sp.Child("namespace"), "must specify namespace for service account"))
			} else {
				errs = append(errs, msgs(sp.Child("namespace"), sa.Namespace, apimachineryvalidation.ValidateNamespaceName(sa.Namespace, false))...)
			}
		}
		notUser()
		notGroup()
	case flowcontrolv1.SubjectKindUser:
		if s.User == nil {
			errs = append(errs, field.Required(p.Child("user"), "user is required when subject kind is 'User'"))
		} else if s.User.Name == "" {
			errs = append(errs, field.Required(p.Child("user", "name"), ""))
		}
		notSA()
		notGroup()
	case flowcontrolv1.SubjectKindGroup:
		if s.Group == nil {
			errs = append(errs, field.Required(p.Child("group"), "group is required when subject kind is 'Group'"))
		} else if s.Group.Name == "" {
			errs = append(errs, field.Required(p.Child("group", "name"), ""))
		}
		notSA()
		notUser()
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, []string{
			string(flowcontrolv1.SubjectKindGroup), string(flowcontrolv1.SubjectKindServiceAccount), string(flowcontrolv1.SubjectKindUser)}))
	}
	return errs
}

// flowVerbList checks verbs: at least one, "*" alone, or known verbs.
func flowVerbList(verbs []string, p *field.Path) field.ErrorList {
	switch {
	case len(verbs) == 0:
		return field.ErrorList{field.Required(p, "verbs must contain at least one value")}
	case sets.New(verbs...).Has(flowcontrolv1.VerbAll):
		if len(verbs) > 1 {
			return field.ErrorList{field.Invalid(p, verbs, "if '*' is present, must not specify other verbs")}
		}
	case !sets.New(flowVerbs...).IsSuperset(sets.New(verbs...)):
		return field.ErrorList{field.NotSupported(p, verbs, flowVerbs)}
	}
	return nil
}

func flowResourceRule(r *flowcontrolv1.ResourcePolicyRule, p *field.Path) field.ErrorList {
	errs := flowVerbList(r.Verbs, p.Child("verbs"))
	wildcard := func(list []string) bool { return sets.New(list...).Has("*") }
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
	} else if len(r.APIGroups) > 1 && wildcard(r.APIGroups) {
		errs = append(errs, field.Invalid(p.Child("apiGroups"), r.APIGroups, "if '*' is present, must not specify other api groups"))
	}
	if len(r.Resources) == 0 {
		errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
	} else if len(r.Resources) > 1 && wildcard(r.Resources) {
		errs = append(errs, field.Invalid(p.Child("resources"), r.Resources, "if '*' is present, must not specify other resources"))
	}
	switch {
	case len(r.Namespaces) == 0 && !r.ClusterScope:
		errs = append(errs, field.Required(p.Child("namespaces"), "resource rules that are not cluster scoped must supply at least one namespace"))
	case wildcard(r.Namespaces):
		if len(r.Namespaces) > 1 {
			errs = append(errs, field.Invalid(p.Child("namespaces"), r.Namespaces, "if '*' is present, must not specify other namespaces"))
		}
	default:
		for i, ns := range r.Namespaces {
			for _, msg := range apimachineryvalidation.ValidateNamespaceName(ns, false) {
				errs = append(errs, field.Invalid(p.Child("namespaces").Index(i), ns, "each member of this list must be '*' or a DNS-1123 label; "+msg))
			}
		}
	}
	return errs
}

func flowNonResourceRule(r *flowcontrolv1.NonResourcePolicyRule, p *field.Path) field.ErrorList {
	errs := flowVerbList(r.Verbs, p.Child("verbs"))
	up := p.Child("nonResourceURLs")
	switch {
	case len(r.NonResourceURLs) == 0:
		errs = append(errs, field.Required(up, "nonResourceURLs must contain at least one value"))
	case sets.New(r.NonResourceURLs...).Has("*"):
		if len(r.NonResourceURLs) > 1 {
			errs = append(errs, field.Invalid(up, r.NonResourceURLs, "if '*' is present, must not specify other non-resource URLs"))
		}
	default:
		for i, u := range r.NonResourceURLs {
			if msg := nonResourceURLProblem(u); msg != "" {
				errs = append(errs, field.Invalid(up.Index(i), u, msg))
			}
		}
	}
	return errs
}

// nonResourceURLProblem: a URL path starts with a slash, has no white space nor double
// slash, and a wildcard only as its last segment.
func nonResourceURLProblem(u string) string {
	switch {
	case u == "":
		return "must not be empty"
	case u == "/":
		return ""
	case !strings.HasPrefix(u, "/"):
		return "must start with slash"
	case strings.Contains(u, " "):
		return "must not contain white-space"
	case strings.Contains(u, "//"):
		return "must not contain double slash"
	}
	if n := strings.Count(u, "*"); n > 1 || (n == 1 && !strings.HasSuffix(u, "/*")) {
		return "wildcard can only do suffix matching"
	}
	return ""
}

func validatePriorityLevelConfiguration(pl *flowcontrolv1.PriorityLevelConfiguration) field.ErrorList {
	errs := objectMeta(&pl.ObjectMeta, false, nameIsDNSSubdomain)
	errs = append(errs, priorityLevelSpec(pl.Name, &pl.Spec)...)
	if mand, ok := mandatoryLevel[pl.Name]; ok {
		if pl.Name == flowcontrolv1.PriorityLevelConfigurationNameExempt {
			// Administrators may tune the exempt level's shares; nothing else.
			have := pl.Spec.DeepCopy()
			have.Exempt = mand.Spec.Exempt
			if !semanticEqual(*have, mand.Spec) {
				errs = append(errs, field.Invalid(specPath, pl.Spec, fmt.Sprintf("spec of '%s' except the 'spec.exempt' field must equal the fixed value", pl.Name)))
			}
		} else if !semanticEqual(pl.Spec, mand.Spec) {
			errs = append(errs, field.Invalid(specPath, pl.Spec, fmt.Sprintf("spec of '%s' must equal the fixed value", pl.Name)))
		}
	}
	return append(errs, flowConditions(conditionTypes(pl.Status.Conditions))...)
}

func validatePriorityLevelConfigurationUpdate(pl, old *flowcontrolv1.PriorityLevelConfiguration) field.ErrorList {
	return append(objectMetaUpdate(&pl.ObjectMeta, &old.ObjectMeta), validatePriorityLevelConfiguration(pl)...)
}

func validatePriorityLevelConfigurationStatusUpdate(pl, old *flowcontrolv1.PriorityLevelConfiguration) field.ErrorList {
	return append(objectMetaUpdate(&pl.ObjectMeta, &old.ObjectMeta), flowConditions(conditionTypes(pl.Status.Conditions))...)
}

func priorityLevelSpec(name string, spec *flowcontrolv1.PriorityLevelConfigurationSpec) field.ErrorList {
	var errs field.ErrorList
	if (name == flowcontrolv1.PriorityLevelConfigurationNameExempt) != (spec.Type == flowcontrolv1.PriorityLevelEnablementExempt) {
		errs = append(errs, field.Invalid(specPath.Child("type"), spec.Type, "type must be 'Exempt' if and only if name is 'exempt'"))
	}
	switch spec.Type {
	case flowcontrolv1.PriorityLevelEnablementExempt:
		if spec.Limited != nil {
			errs = append(errs, field.Forbidden(specPath.Child("limited"), "must be nil if the type is not Limited"))
		}
		if e := spec.Exempt; e != nil {
			ep := specPath.Child("exempt")
			if n := e.NominalConcurrencyShares; n != nil && *n < 0 {
				errs = append(errs, field.Invalid(ep.Child("nominalConcurrencyShares"), *n, "must be a non-negative integer"))
			}
			errs = append(errs, lendablePercent(e.LendablePercent, ep.Child("lendablePercent"))...)
		}
	case flowcontrolv1.PriorityLevelEnablementLimited:
		if spec.Exempt != nil {
			errs = append(errs, field.Forbidden(specPath.Child("exempt"), "must be nil if the type is Limited"))
		}
		if spec.Limited == nil {
			errs = append(errs, field.Required(specPath.Child("limited"), "must not be empty when type is Limited"))
		} else {
			errs = append(errs, limitedLevel(spec.Limited, specPath.Child("limited"))...)
		}
	default:
		errs = append(errs, field.NotSupported(specPath.Child("type"), spec.Type, []string{
			string(flowcontrolv1.PriorityLevelEnablementExempt), string(flowcontrolv1.PriorityLevelEnablementLimited)}))
	}
	return errs
}

func lendablePercent(v *int32, p *field.Path) field.ErrorList {
	if v != nil && (*v < 0 || *v > 100) {
		return field.ErrorList{field.Invalid(p, *v, "must be between 0 and 100, inclusive")}
	}
	return nil
}

func limitedLevel(l *flowcontrolv1.LimitedPriorityLevelConfiguration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n := l.NominalConcurrencyShares; n != nil && *n < 0 {
		errs = append(errs, field.Invalid(p.Child("nominalConcurrencyShares"), *n, "must be a non-negative integer"))
	}
	lp := p.Child("limitResponse")
	switch l.LimitResponse.Type {
	case flowcontrolv1.LimitResponseTypeReject:
		if l.LimitResponse.Queuing != nil {
			errs = append(errs, field.Forbidden(lp.Child("queuing"), "must be nil if limited.limitResponse.type is not Limited"))
		}
	case flowcontrolv1.LimitResponseTypeQueue:
		if q := l.LimitResponse.Queuing; q == nil {
			errs = append(errs, field.Required(lp.Child("queuing"), "must not be empty if limited.limitResponse.type is Limited"))
		} else {
			errs = append(errs, queuing(q, lp.Child("queuing"))...)
		}
	default:
		errs = append(errs, field.NotSupported(lp.Child("type"), l.LimitResponse.Type, []string{
			string(flowcontrolv1.LimitResponseTypeQueue), string(flowcontrolv1.LimitResponseTypeReject)}))
	}
	errs = append(errs, lendablePercent(l.LendablePercent, p.Child("lendablePercent"))...)
	if b := l.BorrowingLimitPercent; b != nil && *b < 0 {
		errs = append(errs, field.Invalid(p.Child("borrowingLimitPercent"), *b, "if specified, must be a non-negative integer"))
	}
	return errs
}

func queuing(q *flowcontrolv1.QueuingConfiguration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.QueueLengthLimit <= 0 {
		errs = append(errs, field.Invalid(p.Child("queueLengthLimit"), q.QueueLengthLimit, "must be positive"))
	}
	switch {
	case q.Queues <= 0:
		errs = append(errs, field.Invalid(p.Child("queues"), q.Queues, "must be positive"))
	case q.Queues > maxQueues:
		errs = append(errs, field.Invalid(p.Child("queues"), q.Queues, fmt.Sprintf("must not be greater than %d", maxQueues)))
	}
	switch {
	case q.HandSize <= 0:
		errs = append(errs, field.Invalid(p.Child("handSize"), q.HandSize, "must be positive"))
	case q.HandSize > q.Queues:
		errs = append(errs, field.Invalid(p.Child("handSize"), q.HandSize, fmt.Sprintf("should not be greater than queues (%d)", q.Queues)))
	case entropyBits(int(q.Queues), int(q.HandSize)) > maxHashBits:
		errs = append(errs, field.Invalid(p.Child("handSize"), q.HandSize,
			fmt.Sprintf("required entropy bits of deckSize %d and handSize %d should not be greater than %d", q.Queues, q.HandSize, maxHashBits)))
	}
	return errs
}

// entropyBits is how many bits of hash dealing a hand of handSize cards from a deck of
// deckSize takes: ceil(log2(deckSize^handSize)).
func entropyBits(deckSize, handSize int) int {
	return int(math.Ceil(float64(handSize) * math.Log2(float64(deckSize))))
}
