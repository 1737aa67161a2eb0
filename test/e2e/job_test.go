package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// TestJobIndexedPolicies covers the Job features of Kubernetes 1.33/1.34 through kubectl,
// on simulated nodes: backoffLimitPerIndex (an index that keeps failing is given up while
// the others complete), successPolicy (the Job completes once its leader index succeeded,
// stopping the rest), and the API server refusing invalid uses of them in upstream's words.
func TestJobIndexedPolicies(t *testing.T) {
	// A failed pod is recreated after 1 s instead of 10 s.
	s := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 2, JobPodFailureBackoff: time.Second})
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	ctx := context.Background()
	testutil.Poll(t, 30*time.Second, "2 nodes", func() (bool, error) {
		n, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(n.Items) == 2, err
	})
	jsonpath := func(job, path string) string {
		return k.run("get", "job", job, "-o", "jsonpath="+path)
	}

	t.Run("BackoffLimitPerIndex", func(t *testing.T) {
		// Index 1 fails every time (simnode.kijabi.io/fail-indexes); the others succeed.
		k.mustIn(`apiVersion: batch/v1
kind: Job
metadata: {name: per-index}
spec:
  completions: 4
  parallelism: 4
  completionMode: Indexed
  backoffLimitPerIndex: 1
  template:
    metadata:
      annotations: {simnode.kijabi.io/run-seconds: "0.5", simnode.kijabi.io/fail-indexes: "1"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: kijabi.local/busybox}]
`, "apply", "-f", "-")
		// One retry of index 1, after the controller's pod failure backoff.
		testutil.Poll(t, 90*time.Second, "job per-index Failed", func() (bool, error) {
			out := jsonpath("per-index", `{.status.conditions[?(@.type=="Failed")].reason}`)
			return out == "FailedIndexes", nil
		})
		got := jsonpath("per-index", `{.status.failedIndexes}|{.status.completedIndexes}|{.status.succeeded}|{.status.failed}|{.status.active}|{.status.terminating}|`+
			`{.status.conditions[?(@.type=="FailureTarget")].reason}|{.status.conditions[?(@.type=="Failed")].message}`)
		// status.active is 0, so omitted.
		if want := "1|0,2,3|3|2||0|FailedIndexes|Job has failed indexes"; got != want {
			t.Errorf("status: %s, want %s", got, want)
		}
		// Each pod of index 1 carries how often the index failed before it.
		counts := k.run("get", "pods", "-l", "batch.kubernetes.io/job-name=per-index,batch.kubernetes.io/job-completion-index=1",
			"-o", `jsonpath={range .items[*]}{.metadata.annotations.batch\.kubernetes\.io/job-index-failure-count}{" "}{end}`)
		if f := strings.Fields(counts); len(f) != 2 || !strings.Contains(counts, "0") || !strings.Contains(counts, "1") {
			t.Errorf("failure counts of index 1's pods: %q, want 0 and 1", counts)
		}
		desc := k.run("describe", "job", "per-index")
		flat := strings.Join(strings.Fields(desc), " ")
		for _, want := range []string{"Completion Mode: Indexed", "Completed Indexes: 0,2,3", "Pods Statuses: 0 Active (0 Ready) / 3 Succeeded / 2 Failed"} {
			if !strings.Contains(flat, want) {
				t.Errorf("kubectl describe job lacks %q:\n%s", want, desc)
			}
		}
	})

	t.Run("SuccessPolicy", func(t *testing.T) {
		// The workers would run for an hour; the Job succeeds with its leader, index 0.
		k.mustIn(`apiVersion: batch/v1
kind: Job
metadata: {name: leader}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  successPolicy:
    rules:
    - succeededIndexes: "0"
  template:
    metadata:
      annotations: {simnode.kijabi.io/run-seconds: "3600"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: kijabi.local/busybox}]
`, "apply", "-f", "-")
		var leader string
		testutil.Poll(t, 60*time.Second, "leader pod running", func() (bool, error) {
			leader = k.run("get", "pods", "-l", "batch.kubernetes.io/job-name=leader,batch.kubernetes.io/job-completion-index=0",
				"--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
			return leader != "" && !strings.Contains(leader, " "), nil
		})
		// The leader finishes now.
		k.run("annotate", "pod", leader, "simnode.kijabi.io/run-seconds=0", "--overwrite")
		testutil.Poll(t, 60*time.Second, "job leader Complete", func() (bool, error) {
			return jsonpath("leader", `{.status.conditions[?(@.type=="Complete")].status}`) == "True", nil
		})
		got := jsonpath("leader", `{.status.conditions[?(@.type=="SuccessCriteriaMet")].reason}|{.status.conditions[?(@.type=="SuccessCriteriaMet")].message}|`+
			`{.status.conditions[?(@.type=="Complete")].reason}|{.status.completedIndexes}|{.status.succeeded}|{.status.active}|{.status.terminating}`)
		if want := "SuccessPolicy|Matched rules at index 0|SuccessPolicy|0|1||0"; got != want {
			t.Errorf("status: %s, want %s", got, want)
		}
		// The workers were stopped.
		testutil.Poll(t, 30*time.Second, "workers gone", func() (bool, error) {
			out := k.run("get", "pods", "-l", "batch.kubernetes.io/job-name=leader", "--field-selector=status.phase=Running", "-o", "name")
			return out == "", nil
		})
	})

	t.Run("Validation", func(t *testing.T) {
		for _, tc := range []struct {
			name, spec string
			want       []string
		}{
			{"per-index needs Indexed", `
  backoffLimitPerIndex: 1
  maxFailedIndexes: 1`, []string{
				`spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode`,
				`spec.maxFailedIndexes: Invalid value: 1: requires indexed completion mode`,
			}},
			{"maxFailedIndexes above completions", `
  completionMode: Indexed
  backoffLimitPerIndex: 1
  maxFailedIndexes: 3`, []string{
				`spec.maxFailedIndexes: Invalid value: 3: must be less than or equal to completions`,
			}},
			{"maxFailedIndexes needs backoffLimitPerIndex", `
  completionMode: Indexed
  maxFailedIndexes: 1`, []string{
				`spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified`,
			}},
			{"FailIndex needs backoffLimitPerIndex", `
  completionMode: Indexed
  podFailurePolicy:
    rules:
    - action: FailIndex
      onExitCodes: {operator: In, values: [42]}`, []string{
				`spec.podFailurePolicy.rules[0].action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set`,
			}},
			{"successPolicy needs Indexed", `
  successPolicy:
    rules: [{succeededCount: 1}]`, []string{
				`spec.successPolicy: Invalid value:`, `requires indexed completion mode`,
			}},
			{"successPolicy rules", `
  completionMode: Indexed
  successPolicy:
    rules: [{succeededIndexes: "1-5"}, {succeededCount: 3}]`, []string{
				`spec.successPolicy.rules[0].succeededIndexes: Invalid value: "1-5": error parsing succeededIndexes: too large index: "5"`,
				`spec.successPolicy.rules[1].succeededCount: Invalid value: 3: must be less than or equal to 2 (the number of specified completions)`,
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stderr := k.refused(`apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  completions: 2`+tc.spec+`
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: kijabi.local/busybox}]
`, "apply", "-f", "-")
				if !strings.Contains(stderr, `The Job "bad" is invalid`) {
					t.Errorf("refusal: %s", stderr)
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("refusal lacks %q:\n%s", w, stderr)
					}
				}
			})
		}
	})
}
