package apiserver

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	kcel "github.com/kijabi/kijabi/internal/apiserver/cel"
	"github.com/kijabi/kijabi/internal/storage"
)

// Which webhooks a request calls: the configurations are read from the watch cache on each
// write (nothing at all when none exists) and compiled once per stored revision (match
// conditions included); a webhook is called when a rule, the namespace selector, the
// object selector and then all of its match conditions match, as kube-apiserver decides
// it.

// webhookHook is one webhook of a configuration, ready to match requests.
type webhookHook struct {
	name string
	// id identifies the webhook across rounds of reinvocation: configuration uid and index.
	id            string
	configuration string
	mutating      bool
	rules         []admissionregistrationv1.RuleWithOperations
	failurePolicy admissionregistrationv1.FailurePolicyType
	matchPolicy   admissionregistrationv1.MatchPolicyType
	// namespaceSelector and objectSelector are parsed; selectorErr is why one could not be.
	namespaceSelector, objectSelector labels.Selector
	selectorErr                       error
	sideEffects                       *admissionregistrationv1.SideEffectClass
	timeout                           time.Duration
	reviewVersions                    []string
	reinvoke                          bool
	clientConfig                      admissionregistrationv1.WebhookClientConfig
	// matchConditions are compiled with the configuration: a webhook is called only when
	// they all hold (see conditionsHold).
	matchConditions []compiledExpression
}

func newWebhookHook(configuration, uid string, index int, mutating bool, name string, rules []admissionregistrationv1.RuleWithOperations,
	failure *admissionregistrationv1.FailurePolicyType, match *admissionregistrationv1.MatchPolicyType,
	nsSel, objSel *metav1.LabelSelector, side *admissionregistrationv1.SideEffectClass, timeout *int32,
	versions []string, cc admissionregistrationv1.WebhookClientConfig, conditions []admissionregistrationv1.MatchCondition) *webhookHook {
	h := &webhookHook{
		name: name, id: uid + "/" + strconv.Itoa(index), configuration: configuration, mutating: mutating, rules: rules,
		failurePolicy: admissionregistrationv1.Fail, matchPolicy: admissionregistrationv1.Equivalent,
		sideEffects: side, timeout: 10 * time.Second, reviewVersions: versions, clientConfig: cc,
	}
	h.matchConditions = compileMatchConditions(conditions)
	if failure != nil {
		h.failurePolicy = *failure
	}
	if match != nil {
		h.matchPolicy = *match
	}
	if timeout != nil {
		h.timeout = time.Duration(*timeout) * time.Second
	}
	h.namespaceSelector, h.selectorErr = parseSelector(nsSel)
	if h.selectorErr == nil {
		h.objectSelector, h.selectorErr = parseSelector(objSel)
	}
	return h
}

func parseSelector(sel *metav1.LabelSelector) (labels.Selector, error) {
	if sel == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(sel)
}

func validatingHooks(c *admissionregistrationv1.ValidatingWebhookConfiguration) []*webhookHook {
	out := make([]*webhookHook, 0, len(c.Webhooks))
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		out = append(out, newWebhookHook(c.Name, string(c.UID), i, false, w.Name, w.Rules, w.FailurePolicy, w.MatchPolicy,
			w.NamespaceSelector, w.ObjectSelector, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.ClientConfig, w.MatchConditions))
	}
	return out
}

func mutatingHooks(c *admissionregistrationv1.MutatingWebhookConfiguration) []*webhookHook {
	out := make([]*webhookHook, 0, len(c.Webhooks))
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		h := newWebhookHook(c.Name, string(c.UID), i, true, w.Name, w.Rules, w.FailurePolicy, w.MatchPolicy,
			w.NamespaceSelector, w.ObjectSelector, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.ClientConfig, w.MatchConditions)
		h.reinvoke = w.ReinvocationPolicy != nil && *w.ReinvocationPolicy == admissionregistrationv1.IfNeededReinvocationPolicy
		out = append(out, h)
	}
	return out
}

// webhookState is the server's webhook machinery: compiled configurations and clients.
type webhookState struct {
	// closer closes the clients' idle connections when the server stops.
	closer sync.Once
	mu     sync.Mutex
	// compiled maps a configuration's storage key to its webhooks at a revision.
	compiled map[string]compiledConfig
	clients  map[string]*webhookClient
}

type compiledConfig struct {
	revision int64
	name     string
	hooks    []*webhookHook
}

// webhookHooks returns the mutating or validating webhooks, in the order kube-apiserver calls
// them: configurations by name, then webhooks in their configuration's order.
func (s *Server) webhookHooks(ctx context.Context, mutating bool) ([]*webhookHook, error) {
	name := "validatingwebhookconfigurations"
	if mutating {
		name = "mutatingwebhookconfigurations"
	}
	res := s.byGroupResource["admissionregistration.k8s.io/"+name]
	if res == nil || res.store == nil {
		return nil, nil
	}
	if n, ok := res.store.CachedLen(); ok && n == 0 {
		return nil, nil // the common case: no webhooks at all
	}
	list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{Stale: true, Stored: true})
	if err != nil {
		return nil, storageError(err, res.gr, "")
	}
	st := &s.webhooks
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.compiled == nil {
		st.compiled = map[string]compiledConfig{}
	}
	configs := make([]compiledConfig, 0, len(list.Keys))
	seen := make(map[string]bool, len(list.Keys))
	for i, key := range list.Keys {
		seen[key] = true
		stored := list.Stored[i]
		c, ok := st.compiled[key]
		if !ok || c.revision != stored.Revision {
			obj, err := res.store.Decode(stored)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			switch o := obj.(type) {
			case *admissionregistrationv1.MutatingWebhookConfiguration:
				c = compiledConfig{revision: stored.Revision, name: o.Name, hooks: mutatingHooks(o)}
			case *admissionregistrationv1.ValidatingWebhookConfiguration:
				c = compiledConfig{revision: stored.Revision, name: o.Name, hooks: validatingHooks(o)}
			default:
				return nil, apierrors.NewInternalError(fmt.Errorf("unexpected %T in %s", obj, res.gr))
			}
			st.compiled[key] = c
		}
		configs = append(configs, c)
	}
	prefix := res.store.Prefix("")
	for key := range st.compiled {
		if strings.HasPrefix(key, prefix) && !seen[key] {
			delete(st.compiled, key)
		}
	}
	sort.Slice(configs, func(i, j int) bool { return configs[i].name < configs[j].name })
	var hooks []*webhookHook
	for _, c := range configs {
		hooks = append(hooks, c.hooks...)
	}
	return hooks, nil
}

// webhookInvocation is how a matching webhook is called: the resource and kind its rule
// names, which differ from the request's when it matched an equivalent version.
type webhookInvocation struct {
	resource schema.GroupVersionResource
	kind     schema.GroupVersionKind
}

// namespaceLabeler finds the labels of the namespace a request is in.
type namespaceLabeler func(ctx context.Context, name string) (map[string]string, error)

// shouldCall decides whether h is called for a, and as what. The error is the request's
// answer (a namespace that does not exist, a selector that cannot be parsed).
func (h *webhookHook) shouldCall(ctx context.Context, a *admissionAttributes, nsLabels namespaceLabeler) (*webhookInvocation, error) {
	nsMatch, nsErr := h.matchNamespace(ctx, a, nsLabels)
	if nsErr == nil && !nsMatch {
		return nil, nil
	}
	objMatch, objErr := h.matchObject(a)
	if objErr == nil && !objMatch {
		return nil, nil
	}
	inv := h.matchRules(a)
	if inv == nil {
		return nil, nil
	}
	if nsErr != nil {
		return nil, nsErr
	}
	if objErr != nil {
		return nil, objErr
	}
	if len(h.matchConditions) > 0 {
		ok, err := h.conditionsHold(ctx, a, inv)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil
		}
	}
	return inv, nil
}

// compileMatchConditions compiles a webhook's match conditions (object, oldObject and
// request, no params); one that does not compile fails at each request, under the
// webhook's failure policy.
func compileMatchConditions(conds []admissionregistrationv1.MatchCondition) []compiledExpression {
	if len(conds) == 0 {
		return nil
	}
	out := make([]compiledExpression, 0, len(conds))
	compiler, err := kcel.NewAdmissionCompiler(false, false)
	for _, c := range conds {
		if err != nil {
			out = append(out, compiledExpression{name: c.Name, err: err})
			continue
		}
		prog, cerr := compiler.Compile(c.Expression, kcel.BoolResult...)
		if cerr != nil {
			out = append(out, compiledExpression{name: c.Name, err: fmt.Errorf("compilation error: %w", cerr)})
			continue
		}
		out = append(out, compiledExpression{name: c.Name, prog: prog})
	}
	return out
}

// conditionsHold evaluates a webhook's match conditions against the request as the
// webhook would receive it (inv). A failure to evaluate them skips the webhook under
// failurePolicy Ignore and refuses the request (403) under Fail.
func (h *webhookHook) conditionsHold(ctx context.Context, a *admissionAttributes, inv *webhookInvocation) (bool, error) {
	fail := func(err error) (bool, error) {
		if h.failurePolicy == admissionregistrationv1.Ignore {
			return false, nil
		}
		return false, apierrors.NewForbidden(a.resource.GroupResource(), a.name, err)
	}
	obj, err := celObject(a.object, inv.kind)
	if err != nil {
		return fail(err)
	}
	old, err := celObject(a.oldObject, inv.kind)
	if err != nil {
		return fail(err)
	}
	compiler, err := kcel.NewAdmissionCompiler(false, false)
	if err != nil {
		return fail(err)
	}
	ev, err := compiler.NewEvaluation(ctx, &kcel.AdmissionInput{Object: obj, OldObject: old, Request: celRequest(a, inv)}, kcel.MatchConditionsBudget)
	if err != nil {
		return fail(err)
	}
	ok, err := conditionsHold(ev, h.matchConditions)
	if err != nil {
		return fail(err)
	}
	return ok, nil
}

// matchRules finds the first rule that matches the request, or with matchPolicy
// Equivalent one that matches another served version of the same resource.
func (h *webhookHook) matchRules(a *admissionAttributes) *webhookInvocation {
	for i := range h.rules {
		if ruleMatches(&h.rules[i], a, a.resource) {
			return &webhookInvocation{resource: a.resource, kind: a.kind}
		}
	}
	if h.matchPolicy != admissionregistrationv1.Equivalent {
		return nil
	}
	for i := range h.rules {
		for _, v := range a.equivalentVersions {
			gvr := a.resource.GroupResource().WithVersion(v)
			if ruleMatches(&h.rules[i], a, gvr) {
				return &webhookInvocation{resource: gvr, kind: a.kind.GroupKind().WithVersion(v)}
			}
		}
	}
	return nil
}

var namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// ruleMatches applies one rule to the request as if it were for gvr.
func ruleMatches(r *admissionregistrationv1.RuleWithOperations, a *admissionAttributes, gvr schema.GroupVersionResource) bool {
	if r.Scope != nil {
		switch *r.Scope {
		case admissionregistrationv1.AllScopes:
		case admissionregistrationv1.NamespacedScope:
			// A Namespace is cluster-scoped, though its requests name it as their namespace.
			if gvr == namespaceGVR || a.namespace == "" {
				return false
			}
		case admissionregistrationv1.ClusterScope:
			if gvr != namespaceGVR && a.namespace != "" {
				return false
			}
		default:
			return false
		}
	}
	opOK := false
	for _, op := range r.Operations {
		if op == admissionregistrationv1.OperationAll || string(op) == string(a.operation) {
			opOK = true
			break
		}
	}
	if !opOK || !exactOrWildcard(r.APIGroups, gvr.Group) || !exactOrWildcard(r.APIVersions, gvr.Version) {
		return false
	}
	for _, rs := range r.Resources {
		res, sub, _ := strings.Cut(rs, "/")
		if (res == "*" || res == gvr.Resource) && (sub == "*" || sub == a.subresource) {
			return true
		}
	}
	return false
}

func exactOrWildcard(items []string, s string) bool {
	for _, x := range items {
		if x == "*" || x == s {
			return true
		}
	}
	return false
}

// matchNamespace applies the namespace selector: to the labels of the request's namespace,
// or of the Namespace being created or updated itself. Other cluster-scoped resources always
// match.
func (h *webhookHook) matchNamespace(ctx context.Context, a *admissionAttributes, nsLabels namespaceLabeler) (bool, error) {
	return matchNamespaceSelector(ctx, a, h.namespaceSelector, h.selectorErr, nsLabels)
}

// matchNamespaceSelector is how webhooks and admission policies apply a namespace
// selector (selErr: why it could not be parsed).
func matchNamespaceSelector(ctx context.Context, a *admissionAttributes, sel labels.Selector, selErr error, nsLabels namespaceLabeler) (bool, error) {
	isNamespace := a.resource.Group == "" && a.resource.Resource == "namespaces"
	if a.namespace == "" && !isNamespace {
		return true, nil
	}
	if selErr != nil {
		return false, apierrors.NewInternalError(selErr)
	}
	if sel.Empty() {
		return true, nil
	}
	var set map[string]string
	if isNamespace && a.subresource == "" && (a.operation == admissionv1.Create || a.operation == admissionv1.Update) {
		m, err := meta.Accessor(a.object)
		if err != nil {
			return false, apierrors.NewInternalError(err)
		}
		set = m.GetLabels()
	} else {
		var err error
		if set, err = nsLabels(ctx, a.namespace); err != nil {
			if apierrors.IsNotFound(err) {
				return false, err
			}
			return false, apierrors.NewInternalError(err)
		}
	}
	return sel.Matches(labels.Set(set)), nil
}

// matchObject applies the object selector to the new and the old object: either matching
// is enough.
func (h *webhookHook) matchObject(a *admissionAttributes) (bool, error) {
	if h.selectorErr != nil {
		return false, apierrors.NewInternalError(h.selectorErr)
	}
	if h.objectSelector.Empty() {
		return true, nil
	}
	return selects(h.objectSelector, a.object) || selects(h.objectSelector, a.oldObject), nil
}

func selects(sel labels.Selector, obj runtime.Object) bool {
	if obj == nil {
		return false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(m.GetLabels()))
}

// namespaceLabels reads a namespace's labels from the watch cache, or from etcd when the
// cache does not hold it (yet).
func (s *Server) namespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	res := s.byGroupResource["/namespaces"]
	key := res.store.Key("", name)
	if obj, ok := res.store.Cached(key); ok {
		return obj.(*corev1.Namespace).Labels, nil
	}
	obj, err := res.store.Get(ctx, key)
	if err != nil {
		return nil, storageError(err, namespacesGR, name)
	}
	return obj.(*corev1.Namespace).Labels, nil
}

// cachedNamespaceLabels remembers the labels looked up for one request.
func cachedNamespaceLabels(lookup namespaceLabeler) namespaceLabeler {
	var mu sync.Mutex
	seen := map[string]map[string]string{}
	return func(ctx context.Context, name string) (map[string]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if l, ok := seen[name]; ok {
			return l, nil
		}
		l, err := lookup(ctx, name)
		if err != nil {
			return nil, err
		}
		seen[name] = l
		return l, nil
	}
}
