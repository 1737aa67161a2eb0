package ingress

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedSource is a source of fixed objects.
type fixedSource struct {
	classes   []*networkingv1.IngressClass
	ingresses []*networkingv1.Ingress
	services  map[string]*corev1.Service
	slices    map[string][]*discoveryv1.EndpointSlice
	secrets   map[string]*corev1.Secret
}

func (s *fixedSource) IngressClasses() []*networkingv1.IngressClass { return s.classes }
func (s *fixedSource) Ingresses() []*networkingv1.Ingress           { return s.ingresses }
func (s *fixedSource) Service(ns, name string) *corev1.Service      { return s.services[ns+"/"+name] }
func (s *fixedSource) EndpointSlices(ns, svc string) []*discoveryv1.EndpointSlice {
	return s.slices[ns+"/"+svc]
}
func (s *fixedSource) Secret(ns, name string) *corev1.Secret { return s.secrets[ns+"/"+name] }

// loadCase reads a testdata file: Kubernetes objects as YAML documents, and requests in
// comment lines "#> host path" (or "#> tls servername").
func loadCase(t *testing.T, file string) (*fixedSource, []string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	src := &fixedSource{services: map[string]*corev1.Service{}, slices: map[string][]*discoveryv1.EndpointSlice{}, secrets: map[string]*corev1.Secret{}}
	var requests []string
	for _, line := range strings.Split(string(data), "\n") {
		if r, ok := strings.CutPrefix(line, "#> "); ok {
			requests = append(requests, r)
		}
	}
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: document %d: %v", file, i, err)
		}
		switch o := obj.(type) {
		case *networkingv1.IngressClass:
			src.classes = append(src.classes, o)
		case *networkingv1.Ingress:
			o.Generation = 1
			src.ingresses = append(src.ingresses, o)
		case *corev1.Service:
			src.services[o.Namespace+"/"+o.Name] = o
		case *discoveryv1.EndpointSlice:
			k := o.Namespace + "/" + o.Labels[discoveryv1.LabelServiceName]
			src.slices[k] = append(src.slices[k], o)
		case *corev1.Secret:
			src.secrets[o.Namespace+"/"+o.Name] = o
		default:
			t.Fatalf("%s: document %d: unexpected %T", file, i, obj)
		}
	}
	return src, requests
}

// decide renders what the table does with a request line.
func decide(tb *table, req string) string {
	if name, ok := strings.CutPrefix(req, "tls "); ok {
		if e := tb.certificate(name); e != nil {
			return fmt.Sprintf("%s → secret %s (%s)", req, e.secret, e.from)
		}
		return req + " → fallback certificate"
	}
	host, p, _ := strings.Cut(req, " ")
	r, be := tb.match(normalizeHost(host), cleanPath(p))
	switch {
	case r != nil:
		return fmt.Sprintf("%s → %s %s %s %s (%s)", req, displayHost(r.host), r.pathType, r.path, be.describe(), r.from)
	case be != nil:
		return fmt.Sprintf("%s → default backend %s (%s)", req, be.describe(), tb.defaultFrom)
	}
	return req + " → 404"
}

func TestRouteTables(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, requests := loadCase(t, file)
			tb := buildTable(src, DefaultClassName, nil, nil)
			var out strings.Builder
			out.WriteString(tb.render())
			out.WriteString("---\n")
			for _, r := range requests {
				out.WriteString(decide(tb, r) + "\n")
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", golden, diff)
			}
		})
	}
}

// A rebuild keeps round-robin positions and parsed certificates, and the order of the
// objects in the caches does not change the table.
func TestRebuildStable(t *testing.T) {
	src, _ := loadCase(t, "testdata/classes.yaml")
	c1 := buildTable(src, DefaultClassName, nil, nil).render()
	for i, j := 0, len(src.ingresses)-1; i < j; i, j = i+1, j-1 {
		src.ingresses[i], src.ingresses[j] = src.ingresses[j], src.ingresses[i]
	}
	if c2 := buildTable(src, DefaultClassName, nil, nil).render(); c1 != c2 {
		t.Errorf("table depends on cache order:\n%s", cmp.Diff(c1, c2))
	}
}

func TestRoundRobinSurvivesRebuild(t *testing.T) {
	src, _ := loadCase(t, "testdata/basic.yaml")
	cnt := map[string]*atomic.Uint64{}
	tb := buildTable(src, DefaultClassName, cnt, nil)
	_, be := tb.match("a.example", "/")
	first, _ := be.pick()
	tb = buildTable(src, DefaultClassName, cnt, nil)
	_, be = tb.match("a.example", "/")
	second, _ := be.pick()
	if first == second {
		t.Errorf("round robin restarted after a rebuild: %s twice of %v", first, be.endpoints)
	}
	seen := map[string]int{}
	for range 3 * len(be.endpoints) {
		ep, _ := be.pick()
		seen[ep]++
	}
	for _, ep := range be.endpoints {
		if seen[ep] != 3 {
			t.Errorf("endpoint %s picked %d times of 3: %v", ep, seen[ep], seen)
		}
	}
}

func TestCertificatesCached(t *testing.T) {
	src, _ := loadCase(t, "testdata/tls.yaml")
	certs := map[string]cachedCert{}
	a := buildTable(src, DefaultClassName, nil, certs).certificate("a.example")
	b := buildTable(src, DefaultClassName, nil, certs).certificate("a.example")
	if a == nil || b == nil || a.cert != b.cert {
		t.Fatalf("certificate parsed again for an unchanged secret")
	}
	src.secrets["default/a-tls"] = src.secrets["default/a-tls"].DeepCopy()
	src.secrets["default/a-tls"].ResourceVersion = "2"
	if c := buildTable(src, DefaultClassName, nil, certs).certificate("a.example"); c.cert == a.cert {
		t.Errorf("certificate not parsed again after the secret changed")
	}
}
