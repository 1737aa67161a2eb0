package cel

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// eval compiles expr in env and evaluates it against vars; the result is its Go value, or
// the error's text.
func eval(t *testing.T, env *Env, expr string, vars Activation) (any, string) {
	t.Helper()
	p, err := env.Compile(expr)
	if err != nil {
		return nil, err.Error()
	}
	v, _, err := p.Eval(context.Background(), vars)
	if err != nil {
		return nil, err.Error()
	}
	return goValue(v), ""
}

// goValue turns results into comparable Go values (lists and maps as JSON).
func goValue(v ref.Val) any {
	switch v.(type) {
	case types.Bool, types.Int, types.String, types.Double, types.Uint, types.Null:
		return v.Value()
	}
	if o, ok := v.(*types.Optional); ok {
		if !o.HasValue() {
			return "optional.none()"
		}
		return fmt.Sprintf("optional.of(%v)", goValue(o.GetValue()))
	}
	if native, err := v.ConvertToNative(reflect.TypeOf(&structpb.Value{})); err == nil {
		b, _ := json.Marshal(native.(*structpb.Value).AsInterface())
		return string(b)
	}
	return fmt.Sprint(v.Value())
}

func TestLibraries(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr string
		want any // a value, or the error text it contains (as errPrefix + text)
	}{
		// the standard library and options Kubernetes sets
		{"[1, 2, 3].all(x, x > 0) && [1, 2].exists(x, x == 2) && [1, 2, 2].exists_one(x, x == 1)", true},
		{"[1, 2, 3].map(x, x * 2).filter(x, x > 2)", "[4,6]"},
		{"'abc'.matches('^a.c$') && 'x' in ['x', 'y'] && size('héllo') == 5", true},
		{"1 < 1.5 && 2u > 1", true}, // cross-type numeric comparisons
		{"duration('1m') + duration('1s') == duration('61s')", true},
		{"timestamp('2024-01-02T03:04:05Z').getFullYear()", int64(2024)},
		// strings v2
		{"'Hello World'.lowerAscii().split(' ').join('-')", "hello-world"},
		{"' a '.trim() + 'abc'.substring(1) + 'abc'.charAt(0) + 'x'.upperAscii() + 'aXa'.replace('X', 'y')", "abcaXaya"},
		{"'abcabc'.indexOf('c') + 'abcabc'.lastIndexOf('c')", int64(7)},
		{"'%s=%d'.format(['a', 1])", "a=1"},
		// sets, lists v3, two-variable comprehensions
		{"sets.contains([1, 2, 3], [2]) && sets.intersects([1], [1, 4]) && sets.equivalent([1, 2], [2, 1])", true},
		{"[3, 1, 2].sort()", "[1,2,3]"},
		{"[[1], [2, 3], [3]].flatten().distinct()", "[1,2,3]"},
		{"lists.range(3)", "[0,1,2]"},
		{"[10, 20].all(i, v, v == (i + 1) * 10)", true},
		{"{'a': 1, 'b': 2}.transformMap(k, v, v + 1)", `{"a":2,"b":3}`},
		// optionals
		{"{'a': {'b': 1}}.?a.?b.orValue(0) + {'a': {}}.?a.?b.orValue(5)", int64(6)},
		{"optional.of(1).hasValue() && !optional.none().hasValue()", true},
		{"[1, 2][?5].orValue(9)", int64(9)},
		// Kubernetes lists
		{"[1, 2, 3].isSorted() && !['b', 'a'].isSorted() && [].isSorted()", true},
		{"[1, 2, 3].sum() + [].sum()", int64(6)},
		{"[1.5, 2.5].sum()", 4.0},
		{"[duration('1m'), duration('1s')].sum() == duration('61s')", true},
		{"[3, 1, 2].min() * 10 + [3, 1, 2].max()", int64(13)},
		{"[].min()", errPrefix + "min called on empty list"},
		{"[1, 2, 2, 3].indexOf(2) * 10 + [1, 2, 2, 3].lastIndexOf(2)", int64(12)},
		{"[1.0].indexOf(1.1)", int64(-1)},
		// regex
		{"'abc 123 def 456'.find('[0-9]+')", "123"},
		{"'abc'.find('[0-9]+')", ""},
		{"'abc 123 def 456'.findAll('[0-9]+')", `["123","456"]`},
		{"'1 2 3 4'.findAll('[0-9]', 2)", `["1","2"]`},
		{"'x'.find(x)", errPrefix + "undeclared reference to 'x'"},
		// URLs
		{"url('https://user@example.com:8443/a%20b?x=1&x=2#frag').getScheme()", "https"},
		{"url('https://example.com:8443/p').getHost() + ' ' + url('https://example.com:8443/p').getHostname() + ' ' + url('https://example.com:8443/p').getPort()", "example.com:8443 example.com 8443"},
		{"url('https://example.com/a%20b').getEscapedPath()", "/a%20b"},
		{"url('https://example.com/?x=1&x=2&y=a').getQuery()", `{"x":["1","2"],"y":["a"]}`},
		{"isURL('https://example.com') && isURL('/absolute/path') && !isURL('relative')", true},
		{"url('relative')", errPrefix + "URL parse error during conversion from string"},
		// quantities
		{"quantity('1Gi').isGreaterThan(quantity('1G')) && quantity('500m').isLessThan(quantity('1'))", true},
		{"quantity('200M').compareTo(quantity('0.2G'))", int64(0)},
		{"quantity('50M').compareTo(quantity('50Mi'))", int64(-1)},
		{"quantity('1.5').asApproximateFloat()", 1.5},
		{"quantity('1k').asInteger()", int64(1000)},
		{"quantity('1.5').isInteger() || quantity('9999999999999999999999').isInteger()", false},
		{"quantity('1.5').asInteger()", errPrefix + "cannot convert value to integer"},
		{"quantity('1Gi').add(quantity('1Gi')) == quantity('2Gi') && quantity('5').sub(2) == quantity('3') && quantity('1').add(1) == quantity('2')", true},
		{"sign(quantity('-1')) * 10 + sign(quantity('0'))", int64(-10)},
		{"isQuantity('1Gi') && !isQuantity('1 Gi')", true},
		{"quantity('lots')", errPrefix + "quantities must match the regular expression"},
		// IPs and CIDRs
		{"ip('10.0.0.1').family() * 10 + ip('fd00::1').family()", int64(46)},
		{"ip('127.0.0.1').isLoopback() && ip('0.0.0.0').isUnspecified() && ip('8.8.8.8').isGlobalUnicast() && ip('fe80::1').isLinkLocalUnicast() && ip('ff02::1').isLinkLocalMulticast()", true},
		{"isIP('1.2.3.4') && !isIP('1.2.3') && ip.isCanonical('2001:db8::1') && !ip.isCanonical('2001:DB8::1')", true},
		{"ip('::ffff:1.2.3.4')", errPrefix + `IPv4-mapped IPv6 address "::ffff:1.2.3.4" is not allowed`},
		{"ip('fe80::1%eth0')", errPrefix + "with zone value is not allowed"},
		{"string(ip('10.0.0.1')) + ' ' + string(cidr('10.0.0.0/8'))", "10.0.0.1 10.0.0.0/8"},
		{"cidr('10.0.0.0/8').containsIP('10.1.2.3') && cidr('10.0.0.0/8').containsIP(ip('10.1.2.3')) && !cidr('10.0.0.0/8').containsIP('11.0.0.1')", true},
		{"cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16') && !cidr('10.1.0.0/16').containsCIDR(cidr('10.0.0.0/8'))", true},
		{"string(cidr('10.1.2.3/8').masked()) + ' ' + string(cidr('10.1.2.3/8').ip()) + ' ' + string(cidr('10.0.0.0/8').prefixLength())", "10.0.0.0/8 10.1.2.3 8"},
		{"isCIDR('10.0.0.0/8') && !isCIDR('10.0.0.0')", true},
		// named formats
		{"format.dns1123Label().validate('my-name')", "optional.none()"},
		{"format.dns1123Label().validate('My_Name').hasValue()", true},
		{"format.named('qualifiedName').value().validate('example.com/name')", "optional.none()"},
		{"format.named('nope').hasValue()", false},
		{"format.dns1123Subdomain().validate('a.b.c') == optional.none() && format.uuid().validate('123e4567-e89b-12d3-a456-426614174000') == optional.none()", true},
		{"format.labelValue().validate('-bad').value()[0]", "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
		{"format.uri().validate('https://x').hasValue() || format.date().validate('2024-01-02').hasValue() || format.datetime().validate('2024-01-02T03:04:05Z').hasValue() || format.byte().validate('aGk=').hasValue()", false},
		{"format.dns1123LabelPrefix().validate('abc-') == optional.none() && format.dns1035Label().validate('1a').hasValue()", true},
		// semantic versions
		{"semver('1.2.3').isLessThan(semver('1.10.0')) && semver('2.0.0').isGreaterThan(semver('1.9.9'))", true},
		{"semver('1.2.3-alpha').compareTo(semver('1.2.3'))", int64(-1)},
		{"semver('1.2.3').major() * 100 + semver('1.2.3').minor() * 10 + semver('1.2.3').patch()", int64(123)},
		{"isSemver('1.2.3') && !isSemver('v1.2') && isSemver('v1.2', true) && semver('v1.02', true) == semver('1.2.0')", true},
		{"semver('nope')", errPrefix + "No Major.Minor.Patch elements found"},
		// what Kubernetes does not enable
		{"math.greatest(1, 2)", errPrefix + "undeclared reference to 'math'"},
		{"base64.encode(b'a')", errPrefix + "undeclared reference to 'base64'"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got, errText := eval(t, env, tc.expr, Activation{})
			if want, ok := tc.want.(string); ok && strings.HasPrefix(want, errPrefix) {
				if !strings.Contains(errText, strings.TrimPrefix(want, errPrefix)) {
					t.Errorf("got %v (error %q), want an error containing %q", got, errText, strings.TrimPrefix(want, errPrefix))
				}
				return
			}
			if errText != "" {
				t.Fatalf("error: %s", errText)
			}
			if got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

const errPrefix = "error: "

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"name", "name"}, {"namespace", "__namespace__"}, {"in", "__in__"}, {"foo-bar", "foo__dash__bar"},
		{"a.b/c", "a__dot__b__slash__c"}, {"a__b", "a__underscores__b"}, {"_x", "_x"},
		{"1a", ""}, {"a b", ""}, {"", ""},
	} {
		got, ok := Escape(tc.in)
		if got != tc.out || ok != (tc.out != "") {
			t.Errorf("Escape(%q) = %q, %v; want %q", tc.in, got, ok, tc.out)
		}
		if ok {
			if back, ok := Unescape(got); !ok || back != tc.in {
				t.Errorf("Unescape(%q) = %q, %v", got, back, ok)
			}
		}
	}
}

const testSchema = `{"type":"object","properties":{
 "spec":{"type":"object","required":["replicas"],"properties":{
  "replicas":{"type":"integer"},
  "ratio":{"type":"number"},
  "name":{"type":"string","maxLength":10},
  "namespace":{"type":"string"},
  "foo-bar":{"type":"string"},
  "port":{"x-kubernetes-int-or-string":true},
  "when":{"type":"string","format":"date-time"},
  "timeout":{"type":"string","format":"duration"},
  "data":{"type":"string","format":"byte"},
  "note":{"type":"string","nullable":true},
  "labels":{"type":"object","additionalProperties":{"type":"string"}},
  "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
  "tags":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
  "ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
    "items":{"type":"object","properties":{"name":{"type":"string"},"port":{"type":"integer"}}}},
  "template":{"type":"object","x-kubernetes-embedded-resource":true,"properties":{"spec":{"type":"object"}}}
 }}}}`

const testObject = `{"apiVersion":"example.com/v1","kind":"Thing","metadata":{"name":"one","labels":{"a":"b"}},
 "spec":{"replicas":3,"ratio":2,"name":"n","namespace":"ns","foo-bar":"fb","port":"http","when":"2024-01-02T03:04:05Z",
  "timeout":"1m30s","data":"aGk=","note":null,"labels":{"x":"y"},"free":{"anything":[1,2]},"tags":["a","b"],
  "ports":[{"name":"a","port":1},{"name":"b","port":2}],
  "template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{}}}}`

func TestSchemaTypes(t *testing.T) {
	var s apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal([]byte(testSchema), &s); err != nil {
		t.Fatal(err)
	}
	st := SchemaType(&s, true, UniqueTypeName("selfType"))
	env, err := NewEnv(Variable{Name: "self", Type: st})
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := utiljson.Unmarshal([]byte(testObject), &obj); err != nil {
		t.Fatal(err)
	}
	self := Activation{"self": Value(obj, st)}
	for _, tc := range []struct {
		expr string
		want any
	}{
		{"self.spec.replicas + 1", int64(4)},
		{"self.spec.ratio / 4.0", 0.5}, // a whole number in a number field is a double
		{"self.metadata.name + '/' + self.kind + '/' + self.apiVersion", "one/Thing/example.com/v1"},
		{"self.spec.namespace + self.spec.__namespace__", "nsns"}, // reserved words, as written or escaped
		{"self.spec.foo__dash__bar", "fb"},
		{"self.spec.port == 'http' && type(self.spec.port) == string", true},
		{"self.spec.when.getFullYear()", int64(2024)},
		{"self.spec.timeout == duration('90s')", true},
		{"self.spec.data == b'hi'", true},
		{"has(self.spec.ratio) && !has(self.spec.missing_field_is_not_declared)", errPrefix + "undefined field 'missing_field_is_not_declared'"},
		{"self.spec.labels['x'] + self.spec.labels.x", "yy"},
		{"self.spec.tags == ['b', 'a']", true},                   // sets compare regardless of order
		{"(self.spec.ports + self.spec.ports).size()", int64(2)}, // map lists merge by key
		{"(self.spec.tags + ['a', 'c']).size()", int64(3)},
		{"self.spec.template.metadata.name + self.spec.template.kind", "pPod"},
		{"self.spec.name.size() <= 10", true},
		{"self.spec.replicas == 'three'", errPrefix + "found no matching overload for '_==_' applied to '(int, string)'"},
		{"self.spec.free.anything", errPrefix + "undefined field 'anything'"},
		{"self.metadata.labels", errPrefix + "undefined field 'labels'"}, // only name and generateName are declared
		{"self.spec.?ratio.orValue(0.0) + self.spec.?absent.orValue(1.0)", errPrefix + "undefined field 'absent'"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got, errText := eval(t, env, tc.expr, self)
			if want, ok := tc.want.(string); ok && strings.HasPrefix(want, errPrefix) {
				if !strings.Contains(errText, strings.TrimPrefix(want, errPrefix)) {
					t.Errorf("got %v (error %q), want an error containing %q", got, errText, strings.TrimPrefix(want, errPrefix))
				}
				return
			}
			if errText != "" {
				t.Fatalf("error: %s", errText)
			}
			if got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	// Set and map lists compare regardless of order; atomic lists in order.
	ports := st.Fields["spec"].Type.Fields["ports"].Type
	a := []any{map[string]any{"name": "a", "port": int64(1)}, map[string]any{"name": "b", "port": int64(2)}}
	b := []any{map[string]any{"name": "b", "port": int64(2)}, map[string]any{"name": "a", "port": int64(1)}}
	c := []any{map[string]any{"name": "b", "port": int64(3)}, map[string]any{"name": "a", "port": int64(1)}}
	if Value(a, ports).Equal(Value(b, ports)) != types.True || Value(a, ports).Equal(Value(c, ports)) != types.False {
		t.Error("map list equality")
	}
	atomic := NewListType(StringType, -1)
	if Value([]any{"a", "b"}, atomic).Equal(Value([]any{"b", "a"}, atomic)) != types.False {
		t.Error("atomic lists are ordered")
	}
	// Data that does not fit the schema fails to evaluate rather than panicking.
	bad := map[string]any{"spec": map[string]any{"replicas": "three"}}
	if _, errText := eval(t, env, "self.spec.replicas > 1", Activation{"self": Value(bad, st)}); !strings.Contains(errText, "invalid data, expected int") {
		t.Errorf("mistyped data: %q", errText)
	}
}

func TestCosts(t *testing.T) {
	var s apiextensionsv1.JSONSchemaProps
	json.Unmarshal([]byte(`{"type":"object","properties":{
		"unbounded":{"type":"array","items":{"type":"string"}},
		"bounded":{"type":"array","maxItems":10,"items":{"type":"string","maxLength":10}}}}`), &s)
	st := SchemaType(&s, false, UniqueTypeName("selfType"))
	env, err := NewEnv(Variable{Name: "self", Type: st})
	if err != nil {
		t.Fatal(err)
	}
	// Static estimates follow the schema's bounds.
	quadratic := func(f string) uint64 {
		p, err := env.Compile(fmt.Sprintf("self.%s.all(a, self.%s.all(b, a == b))", f, f))
		if err != nil {
			t.Fatal(err)
		}
		return p.MaxCost
	}
	if c := quadratic("bounded"); c > 1000 {
		t.Errorf("bounded estimate %d", c)
	}
	if c := quadratic("unbounded"); c < StaticCostLimit {
		t.Errorf("unbounded estimate %d is within the limit", c)
	}
	if got := CostFactor(uint64(StaticCostLimit)*3, StaticCostLimit); got != "3.0x" {
		t.Errorf("CostFactor: %s", got)
	}
	if got := CostFactor(StaticCostLimit+StaticCostLimit/20, StaticCostLimit); got != "1.050000x" {
		t.Errorf("CostFactor: %s", got)
	}

	// At runtime one expression may spend PerCallLimit.
	items := make([]any, 2000)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	self := Activation{"self": Value(map[string]any{"unbounded": items}, st)}
	p, err := env.Compile("self.unbounded.all(a, self.unbounded.all(b, a != b || a == b))")
	if err != nil {
		t.Fatal(err)
	}
	_, spent, err := p.Eval(context.Background(), self)
	if !IsCostLimitError(err) || spent == 0 {
		t.Errorf("expensive expression: spent %d, err %v", spent, err)
	}

	// An evaluation shares its budget among expressions.
	c, err := NewAdmissionCompiler(false, false)
	if err != nil {
		t.Fatal(err)
	}
	cheap, err := c.Compile("object.items.all(x, x > 0)", BoolResult...)
	if err != nil {
		t.Fatal(err)
	}
	list := make([]any, 1000)
	for i := range list {
		list[i] = int64(i + 1)
	}
	obj, _ := ObjectValue(&unstructured.Unstructured{Object: map[string]any{"items": list}})
	ev, err := c.NewEvaluation(context.Background(), &AdmissionInput{Object: obj, Request: &Request{}}, RuntimeBudget)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Eval(cheap); err != nil {
		t.Fatal(err)
	}
	once := RuntimeBudget - ev.Remaining()
	ev, _ = c.NewEvaluation(context.Background(), &AdmissionInput{Object: obj, Request: &Request{}}, once*3/2)
	if v, err := ev.Eval(cheap); err != nil || v != types.True {
		t.Fatalf("first evaluation: %v %v", v, err)
	}
	if _, err := ev.Eval(cheap); err == nil || !err.Exhausted || err.Detail != OutOfBudget {
		t.Errorf("second evaluation: %v", err)
	}
}

func TestAdmissionExpressions(t *testing.T) {
	c, err := NewAdmissionCompiler(true, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CompileVariable("limit", "int(params.data.max)"); err != nil {
		t.Fatal(err)
	}
	if err := c.CompileVariable("broken", "object.spec.replicas +"); err == nil {
		t.Fatal("a broken variable compiled")
	}
	if err := c.CompileVariable("replicas", "object.spec.replicas"); err != nil {
		t.Fatal(err)
	}
	obj, _ := ObjectValue(&unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "web"}, "spec": map[string]any{"replicas": int64(4)}}})
	params, _ := ObjectValue(&corev1.ConfigMap{Data: map[string]string{"max": "3"}})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", UID: "u1", Labels: map[string]string{"env": "prod"}, CreationTimestamp: metav1.Unix(1700000000, 0)},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	req := &Request{Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		Resource: metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Name: "web", Namespace: "prod",
		Operation: "CREATE", Username: "alice", Groups: []string{"devs"}, Extra: map[string][]string{"k": {"v"}},
		Options: &metav1.CreateOptions{FieldManager: "kubectl"}}
	for _, tc := range []struct {
		expr string
		want any
	}{
		{"variables.replicas > variables.limit", true},
		{"variables.limit + 1", int64(4)},
		{"request.kind.kind + ' ' + request.resource.resource + ' ' + request.operation + ' ' + request.userInfo.username", "Deployment deployments CREATE alice"},
		{"request.userInfo.groups[0] + request.userInfo.extra['k'][0] + request.namespace + string(request.dryRun) + request.subResource", "devsvprodfalse"},
		{"request.options.fieldManager", "kubectl"},
		{"namespaceObject.metadata.labels.env + namespaceObject.metadata.name + namespaceObject.metadata.UID + namespaceObject.status.phase", "prodprodu1Active"},
		{"namespaceObject.metadata.creationTimestamp == timestamp('2023-11-14T22:13:20Z')", true},
		{"oldObject == null && object.metadata.name == 'web'", true},
		{"request.nope", errPrefix + "undefined field 'nope'"},
		{"authorizer.group('').resource('pods').check('get').allowed()", errPrefix + "undeclared reference to 'authorizer'"},
		{"variables.broken > 1", errPrefix + `composited variable "broken" fails to compile: compilation failed`},
		{"variables.replicas", errPrefix + "must evaluate to bool but got dyn"},
		{"variables.limit == 3 ? 'a' : 1", errPrefix + "found no matching overload"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			ev, err := c.NewEvaluation(context.Background(), &AdmissionInput{Object: obj, Params: params, HasParams: true, Request: req, Namespace: ns}, RuntimeBudget)
			if err != nil {
				t.Fatal(err)
			}
			want := BoolResult
			if _, ok := tc.want.(bool); !ok {
				want = nil
			}
			var got any
			errText := ""
			var p *Program
			if want != nil {
				p, err = c.Compile(tc.expr, want...)
			} else if p, err = c.env.Compile(tc.expr); err == nil && strings.HasPrefix(fmt.Sprint(tc.want), errPrefix) && strings.Contains(fmt.Sprint(tc.want), "must evaluate to bool") {
				_, err = c.Compile(tc.expr, BoolResult...)
			}
			if err != nil {
				errText = err.Error()
			} else if v, evalErr := ev.Eval(p); evalErr != nil {
				errText = evalErr.Error()
			} else {
				got = goValue(v)
			}
			if w, ok := tc.want.(string); ok && strings.HasPrefix(w, errPrefix) {
				if !strings.Contains(errText, strings.TrimPrefix(w, errPrefix)) {
					t.Errorf("got %v (error %q), want an error containing %q", got, errText, strings.TrimPrefix(w, errPrefix))
				}
				return
			}
			if errText != "" {
				t.Fatalf("error: %s", errText)
			}
			if got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestCompileCache(t *testing.T) {
	env, err := NewEnv(Variable{Name: "x", Type: IntType})
	if err != nil {
		t.Fatal(err)
	}
	a, err := env.Compile("x > 1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := env.Compile("x > 1")
	if a != b {
		t.Error("the second compilation was not served from the cache")
	}
	if _, err := env.Compile("x >"); err == nil || !strings.HasPrefix(err.Error(), "compilation failed: ERROR: <input>:1:4: Syntax error") {
		t.Errorf("syntax error: %v", err)
	}
}

// TestConcurrentEvaluation evaluates shared programs from many goroutines (run with -race).
func TestConcurrentEvaluation(t *testing.T) {
	c, err := NewAdmissionCompiler(false, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CompileVariable("n", "object.spec.replicas * 2"); err != nil {
		t.Fatal(err)
	}
	p, err := c.Compile("variables.n > 2 && quantity('1Gi').isGreaterThan(quantity('1Mi'))", BoolResult...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for i := 0; i < 8; i++ {
		go func(i int) {
			obj, _ := ObjectValue(&unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"replicas": int64(i)}}})
			ev, err := c.NewEvaluation(context.Background(), &AdmissionInput{Object: obj, Request: &Request{}}, RuntimeBudget)
			if err != nil {
				done <- err
				return
			}
			v, evalErr := ev.Eval(p)
			if evalErr != nil {
				done <- evalErr
				return
			}
			if (v == types.True) != (i*2 > 2) {
				done <- fmt.Errorf("%d: %v", i, v)
				return
			}
			done <- nil
		}(i)
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
