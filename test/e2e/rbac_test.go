package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kijabi/kijabi/internal/testserver"
)

// TestRBAC: the default roles exist, bindings grant what their roles hold and nothing
// else, service accounts start with no rights, nobody grants what they do not hold,
// impersonation is itself authorized, and aggregated roles follow their sources — driven
// by the real kubectl and by client-go with a service account's token, as users do.
func TestRBAC(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.Options{Controllers: true})
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	ctx := context.Background()

	// The default policy.
	out := k.run("get", "clusterroles", "cluster-admin", "admin", "edit", "view", "system:discovery", "system:node", "-o", "name")
	wantLines(t, "default cluster roles", out, "clusterrole.rbac.authorization.k8s.io/cluster-admin",
		"clusterrole.rbac.authorization.k8s.io/admin", "clusterrole.rbac.authorization.k8s.io/edit",
		"clusterrole.rbac.authorization.k8s.io/view", "clusterrole.rbac.authorization.k8s.io/system:discovery",
		"clusterrole.rbac.authorization.k8s.io/system:node")
	out = k.run("get", "clusterrolebinding", "cluster-admin", "-o", "jsonpath={.subjects[0].kind}/{.subjects[0].name} {.roleRef.name}")
	wantEqual(t, "cluster-admin binding", out, "Group/system:masters cluster-admin")
	// admin, edit and view are aggregated by the controller manager.
	poll(t, 30*time.Second, "view aggregated", func() (bool, error) {
		r, err := s.Client.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
		return err == nil && len(r.Rules) > 0, err
	})

	k.run("create", "namespace", "team")
	k.run("create", "serviceaccount", "bot", "-n", "team")
	const bot = "system:serviceaccount:team:bot"

	canI := func(want string, args ...string) {
		t.Helper()
		r := k.runIn("", nil, append([]string{"auth", "can-i"}, args...)...)
		if got := strings.TrimSpace(r.Stdout); got != want {
			t.Fatalf("kubectl auth can-i %s: %q (%v, %s), want %q", strings.Join(args, " "), got, r.Err, r.Stderr, want)
		}
	}
	// A new service account may do nothing but discovery and reviews of itself.
	canI("no", "list", "pods", "-n", "team", "--as", bot)
	canI("yes", "create", "selfsubjectaccessreviews.authorization.k8s.io", "--as", bot)

	// A Role and a RoleBinding, made with kubectl's generators.
	k.run("create", "role", "pod-reader", "-n", "team", "--verb=get,list,watch", "--resource=pods")
	k.run("create", "rolebinding", "bot-reads", "-n", "team", "--role=pod-reader", "--serviceaccount=team:bot")
	poll(t, 10*time.Second, "binding takes effect", func() (bool, error) {
		r := k.runIn("", nil, "auth", "can-i", "list", "pods", "-n", "team", "--as", bot)
		return strings.TrimSpace(r.Stdout) == "yes", nil
	})
	canI("no", "delete", "pods", "-n", "team", "--as", bot)
	canI("no", "list", "pods", "-n", "default", "--as", bot)
	canI("no", "list", "secrets", "-n", "team", "--as", bot)
	out = k.run("auth", "can-i", "--list", "-n", "team", "--as", bot)
	wantMatch(t, "can-i --list", out, `^pods\s+\[\]\s+\[\]\s+\[get list watch\]$`, `^selfsubjectaccessreviews.authorization.k8s.io\s+\[\]\s+\[\]\s+\[create\]$`)

	// The service account's own token, through client-go.
	token := strings.TrimSpace(k.run("create", "token", "bot", "-n", "team"))
	botClient := tokenClient(t, s.Config, token)
	if _, err := botClient.CoreV1().Pods("team").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("bot lists pods in team: %v", err)
	}
	_, err := botClient.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	wantForbidden(t, err, `pods is forbidden: User "system:serviceaccount:team:bot" cannot list resource "pods" in API group "" in the namespace "default"`)
	_, err = botClient.CoreV1().ConfigMaps("team").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	wantForbidden(t, err, `configmaps is forbidden: User "system:serviceaccount:team:bot" cannot create resource "configmaps" in API group "" in the namespace "team"`)
	_, err = botClient.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	wantForbidden(t, err, `nodes is forbidden: User "system:serviceaccount:team:bot" cannot list resource "nodes" in API group "" at the cluster scope`)
	if _, err := botClient.Discovery().ServerVersion(); err != nil {
		t.Errorf("bot reads /version: %v", err)
	}
	if _, err := botClient.Discovery().ServerGroups(); err != nil {
		t.Errorf("bot reads discovery: %v", err)
	}
	// Service accounts may read the issuer's discovery documents, whose key set names the key
	// that signed their token.
	raw, err := botClient.CoreV1().RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil || !strings.Contains(string(raw), `"issuer":"https://kubernetes.default.svc.cluster.local"`) ||
		!strings.Contains(string(raw), `/openid/v1/jwks"`) {
		t.Errorf("openid-configuration: %v %s", err, raw)
	}
	raw, err = botClient.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil || !strings.Contains(string(raw), `"kid":"`+tokenKeyID(t, token)+`"`) {
		t.Errorf("jwks: %v %s", err, raw)
	}
	if _, err := s.Client.CoreV1().ConfigMaps("team").Get(ctx, "x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused create left something behind: %v", err)
	}

	// Nobody grants what they do not hold: the bot may now write roles and bindings in
	// team, but only with rights it has.
	k.run("create", "role", "rbac-writer", "-n", "team", "--verb=create,update,get", "--resource=roles,rolebindings")
	k.run("create", "rolebinding", "bot-writes-rbac", "-n", "team", "--role=rbac-writer", "--serviceaccount=team:bot")
	poll(t, 10*time.Second, "second binding takes effect", func() (bool, error) {
		r := k.runIn("", nil, "auth", "can-i", "create", "roles", "-n", "team", "--as", bot)
		return strings.TrimSpace(r.Stdout) == "yes", nil
	})
	escalating := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deleter"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "delete"}}}}
	_, err = botClient.RbacV1().Roles("team").Create(ctx, escalating, metav1.CreateOptions{})
	wantForbidden(t, err, `roles.rbac.authorization.k8s.io "deleter" is forbidden: user "system:serviceaccount:team:bot"`)
	if err != nil && !strings.Contains(err.Error(), `{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}`) {
		t.Errorf("escalation error does not name the missing rule: %v", err)
	}
	held := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "getter"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}, ResourceNames: []string{"one"}}}}
	if _, err := botClient.RbacV1().Roles("team").Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Errorf("creating a role within the bot's rights: %v", err)
	}
	editBinding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bot-edits"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bot", Namespace: "team"}}}
	_, err = botClient.RbacV1().RoleBindings("team").Create(ctx, editBinding, metav1.CreateOptions{})
	wantForbidden(t, err, `rolebindings.rbac.authorization.k8s.io "bot-edits" is forbidden: user "system:serviceaccount:team:bot"`)
	readBinding := editBinding.DeepCopy()
	readBinding.Name, readBinding.RoleRef = "bot-reads-again", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"}
	if _, err := botClient.RbacV1().RoleBindings("team").Create(ctx, readBinding, metav1.CreateOptions{}); err != nil {
		t.Errorf("binding a role the bot holds: %v", err)
	}

	// Impersonation needs the impersonate verb: the admin has it, the bot does not.
	r := k.runIn("", nil, "get", "pods", "-n", "team", "--as", "alice")
	if r.Err == nil || !strings.Contains(r.Stderr, `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team"`) {
		t.Errorf("kubectl get pods --as alice: %v %s", r.Err, r.Stderr)
	}
	botAsAlice := rest.CopyConfig(botClient.config)
	botAsAlice.Impersonate = rest.ImpersonationConfig{UserName: "alice"}
	_, err = kubernetes.NewForConfigOrDie(botAsAlice).CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
	wantForbidden(t, err, `users "alice" is forbidden: User "system:serviceaccount:team:bot" cannot impersonate resource "users" in API group "" at the cluster scope`)
	k.run("create", "clusterrolebinding", "alice-views", "--clusterrole=view", "--user=alice")
	poll(t, 10*time.Second, "view binding takes effect", func() (bool, error) {
		r := k.runIn("", nil, "auth", "can-i", "list", "deployments.apps", "-n", "team", "--as", "alice")
		return strings.TrimSpace(r.Stdout) == "yes", nil
	})
	canI("no", "get", "secrets", "-n", "team", "--as", "alice")
	canI("no", "create", "deployments.apps", "-n", "team", "--as", "alice")
	canI("yes", "list", "pods", "-n", "team", "--as", "bob", "--as-group", "system:masters")

	// A role labelled to aggregate into view extends it.
	k.mustIn(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: lease-viewer
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "watch"]
`, "apply", "-f", "-")
	poll(t, 30*time.Second, "view aggregates lease-viewer", func() (bool, error) {
		r := k.runIn("", nil, "auth", "can-i", "list", "leases.coordination.k8s.io", "-n", "team", "--as", "alice")
		return strings.TrimSpace(r.Stdout) == "yes", nil
	})
	k.run("delete", "clusterrole", "lease-viewer")
	poll(t, 30*time.Second, "view drops lease-viewer", func() (bool, error) {
		r := k.runIn("", nil, "auth", "can-i", "list", "leases.coordination.k8s.io", "-n", "team", "--as", "alice")
		return strings.TrimSpace(r.Stdout) == "no", nil
	})

	// Deleting the binding takes the rights away again.
	k.run("delete", "rolebinding", "bot-reads", "bot-reads-again", "-n", "team")
	poll(t, 10*time.Second, "binding removal takes effect", func() (bool, error) {
		_, err := botClient.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
		return apierrors.IsForbidden(err), nil
	})
}

type tokenClientset struct {
	*kubernetes.Clientset
	config *rest.Config
}

// tokenClient is a client that authenticates with a bearer token only.
func tokenClient(t *testing.T, admin *rest.Config, token string) tokenClientset {
	t.Helper()
	cfg := &rest.Config{Host: admin.Host, BearerToken: token, QPS: 100, Burst: 200,
		TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData, CAFile: admin.CAFile}}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tokenClientset{Clientset: c, config: cfg}
}

// tokenKeyID is the kid in a JWT's header.
func tokenKeyID(t *testing.T, token string) string {
	t.Helper()
	header, _, _ := strings.Cut(token, ".")
	data, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(data, &h); err != nil || h.Kid == "" {
		t.Fatalf("token header %s: %v", data, err)
	}
	return h.Kid
}

func wantForbidden(t *testing.T, err error, message string) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Fatalf("want 403 Forbidden %q, got %v", message, err)
	}
	if !strings.Contains(err.Error(), message) {
		t.Fatalf("forbidden message:\ngot  %s\nwant %s", err.Error(), message)
	}
}

// TestTokenReview: a TokenReview (as webhook token authenticators and kube-rbac-proxy send it)
// tells who a token belongs to, and refuses forged tokens and foreign audiences.
func TestTokenReview(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	if _, err := s.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(s.MustKubectl(t, "create", "token", "robot"))
	review := func(token string, audiences ...string) authenticationv1.TokenReviewStatus {
		t.Helper()
		r, err := s.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	st := review(token)
	if !st.Authenticated || st.User.Username != "system:serviceaccount:default:robot" || !slices.Contains(st.User.Groups, "system:serviceaccounts:default") || len(st.Audiences) == 0 {
		t.Errorf("review of a valid token: %+v", st)
	}
	if st := review(token[:len(token)-4] + "AAAA"); st.Authenticated || st.Error == "" {
		t.Errorf("review of a forged token: %+v", st)
	}
	if st := review(token, "vault"); st.Authenticated || !strings.Contains(st.Error, "invalid for the target audiences") {
		t.Errorf("review for a foreign audience: %+v", st)
	}
	_, err := s.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("a review without a token: %v, want 422", err)
	}
}
