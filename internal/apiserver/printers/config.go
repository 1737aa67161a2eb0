package printers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func configMapPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
		ageColumn(),
	}, func(cm *corev1.ConfigMap, now time.Time) []interface{} {
		return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), since(cm.CreationTimestamp, now)}
	})
}

func secretPrinter() Printer {
	doc := corev1.Secret{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Type", "string", doc["type"]),
		column("Data", "string", doc["data"]),
		ageColumn(),
	}, func(s *corev1.Secret, now time.Time) []interface{} {
		// Data written as stringData is merged into data when the secret is stored.
		keys := len(s.Data)
		for k := range s.StringData {
			if _, dup := s.Data[k]; !dup {
				keys++
			}
		}
		return []interface{}{s.Name, string(s.Type), int64(keys), since(s.CreationTimestamp, now)}
	})
}

// serviceAccountPrinter has no Secrets column: Kubernetes dropped it along with auto-generated
// token secrets.
func serviceAccountPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		ageColumn(),
	}, func(sa *corev1.ServiceAccount, now time.Time) []interface{} {
		return []interface{}{sa.Name, since(sa.CreationTimestamp, now)}
	})
}

func resourceQuotaPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
		column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
		ageColumn(),
	}, func(q *corev1.ResourceQuota, now time.Time) []interface{} {
		requests, limits := resourceQuotaColumns(q)
		return []interface{}{q.Name, requests, limits, since(q.CreationTimestamp, now)}
	})
}

// sortedKeys returns the keys of a quantity map in order.
func sortedKeys(m corev1.ResourceList) []corev1.ResourceName {
	keys := make([]corev1.ResourceName, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// resourceQuotaColumns splits "name: used/hard" pairs between the Request and Limit columns.
func resourceQuotaColumns(q *corev1.ResourceQuota) (requests, limits string) {
	var req, lim []string
	for _, name := range sortedKeys(q.Status.Hard) {
		used, hard := q.Status.Used[name], q.Status.Hard[name]
		entry := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if strings.HasPrefix(string(name), "limits.") {
			lim = append(lim, entry)
		} else {
			req = append(req, entry)
		}
	}
	return strings.Join(req, ", "), strings.Join(lim, ", ")
}
