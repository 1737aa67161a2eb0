package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

// defaultReplicas is what API defaulting puts in an unset replicas field of the workload controllers.
const defaultReplicas = 1

func deploymentPrinter() Printer {
	status := extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "Number of the pod with ready state"),
		column("Up-to-date", "string", status["updatedReplicas"]),
		column("Available", "string", status["availableReplicas"]),
		ageColumn(),
		containersColumn(),
		imagesColumn(),
		wideColumn("Selector", "string", extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"]),
	}, func(d *appsv1.Deployment, now time.Time) []interface{} {
		names, images := containerCells(d.Spec.Template.Spec.Containers)
		// Unlike the other controllers, deployments print the selector without the "<none>" stand-in.
		selector := "<invalid>"
		if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			selector = sel.String()
		}
		return []interface{}{
			d.Name,
			fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, derefInt32(d.Spec.Replicas, defaultReplicas)),
			int64(d.Status.UpdatedReplicas),
			int64(d.Status.AvailableReplicas),
			since(d.CreationTimestamp, now),
			names, images, selector,
		}
	})
}

func replicaSetPrinter() Printer {
	spec := extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()
	status := extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", spec["replicas"]),
		column("Current", "integer", status["replicas"]),
		column("Ready", "integer", status["readyReplicas"]),
		ageColumn(),
		containersColumn(),
		imagesColumn(),
		wideColumn("Selector", "string", spec["selector"]),
	}, func(rs *appsv1.ReplicaSet, now time.Time) []interface{} {
		names, images := containerCells(rs.Spec.Template.Spec.Containers)
		return []interface{}{
			rs.Name,
			int64(derefInt32(rs.Spec.Replicas, defaultReplicas)),
			int64(rs.Status.Replicas),
			int64(rs.Status.ReadyReplicas),
			since(rs.CreationTimestamp, now),
			names, images, selectorOrNone(rs.Spec.Selector),
		}
	})
}

func replicationControllerPrinter() Printer {
	spec := corev1.ReplicationControllerSpec{}.SwaggerDoc()
	status := corev1.ReplicationControllerStatus{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", spec["replicas"]),
		column("Current", "integer", status["replicas"]),
		column("Ready", "integer", status["readyReplicas"]),
		ageColumn(),
		containersColumn(),
		imagesColumn(),
		wideColumn("Selector", "string", spec["selector"]),
	}, func(rc *corev1.ReplicationController, now time.Time) []interface{} {
		var containers []corev1.Container
		if rc.Spec.Template != nil {
			containers = rc.Spec.Template.Spec.Containers
		}
		names, images := containerCells(containers)
		return []interface{}{
			rc.Name,
			int64(derefInt32(rc.Spec.Replicas, defaultReplicas)),
			int64(rc.Status.Replicas),
			int64(rc.Status.ReadyReplicas),
			since(rc.CreationTimestamp, now),
			names, images, labels.FormatLabels(rc.Spec.Selector),
		}
	})
}

func daemonSetPrinter() Printer {
	status := extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", status["desiredNumberScheduled"]),
		column("Current", "integer", status["currentNumberScheduled"]),
		column("Ready", "integer", status["numberReady"]),
		column("Up-to-date", "integer", status["updatedNumberScheduled"]),
		column("Available", "integer", status["numberAvailable"]),
		column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageColumn(),
		containersColumn(),
		imagesColumn(),
		wideColumn("Selector", "string", extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
	}, func(ds *appsv1.DaemonSet, now time.Time) []interface{} {
		names, images := containerCells(ds.Spec.Template.Spec.Containers)
		return []interface{}{
			ds.Name,
			int64(ds.Status.DesiredNumberScheduled),
			int64(ds.Status.CurrentNumberScheduled),
			int64(ds.Status.NumberReady),
			int64(ds.Status.UpdatedNumberScheduled),
			int64(ds.Status.NumberAvailable),
			labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
			since(ds.CreationTimestamp, now),
			names, images, selectorOrNone(ds.Spec.Selector),
		}
	})
}

func statefulSetPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "Number of the pod with ready state"),
		ageColumn(),
		containersColumn(),
		imagesColumn(),
	}, func(ss *appsv1.StatefulSet, now time.Time) []interface{} {
		names, images := containerCells(ss.Spec.Template.Spec.Containers)
		return []interface{}{
			ss.Name,
			fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, derefInt32(ss.Spec.Replicas, defaultReplicas)),
			since(ss.CreationTimestamp, now),
			names, images,
		}
	})
}

func controllerRevisionPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Controller", "string", "Controller of the object"),
		column("Revision", "string", appsv1beta1.ControllerRevision{}.SwaggerDoc()["revision"]),
		ageColumn(),
	}, func(cr *appsv1.ControllerRevision, now time.Time) []interface{} {
		controller := none
		if ref := metav1.GetControllerOf(cr); ref != nil {
			controller = kindSlashName(ref.APIVersion, ref.Kind, ref.Name)
		}
		return []interface{}{cr.Name, controller, cr.Revision, since(cr.CreationTimestamp, now)}
	})
}

// kindSlashName renders a reference as kubectl names resources: "statefulset.apps/web", "pod/x".
func kindSlashName(apiVersion, kind, name string) string {
	gk := schema.GroupKind{Kind: kind}
	if gv, err := schema.ParseGroupVersion(apiVersion); err == nil {
		gk.Group = gv.Group
	}
	if gk.Empty() {
		return name
	}
	return strings.ToLower(gk.String()) + "/" + name
}

func jobPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", "Status of the job."),
		column("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
		column("Duration", "string", "Time required to complete the job."),
		ageColumn(),
		containersColumn(),
		imagesColumn(),
		wideColumn("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
	}, func(j *batchv1.Job, now time.Time) []interface{} {
		names, images := containerCells(j.Spec.Template.Spec.Containers)
		return []interface{}{
			j.Name,
			jobStatus(j),
			jobCompletions(j),
			jobDuration(j, now),
			since(j.CreationTimestamp, now),
			names, images, selectorOrNone(j.Spec.Selector),
		}
	})
}

// jobStatus names the job's state from its conditions, final states first.
func jobStatus(j *batchv1.Job) string {
	has := func(t batchv1.JobConditionType) bool {
		for _, c := range j.Status.Conditions {
			if c.Type == t {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	switch {
	case has(batchv1.JobComplete):
		return "Complete"
	case has(batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case has(batchv1.JobSuspended):
		return "Suspended"
	case has(batchv1.JobFailureTarget):
		return "FailureTarget"
	case has(batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	default:
		return "Running"
	}
}

// jobCompletions is "succeeded/completions"; a job without a completion count needs one success, and
// with parallelism above one says so ("0/1 of 3").
func jobCompletions(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	if p := derefInt32(j.Spec.Parallelism, 0); p > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, p)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

// jobDuration is how long the job ran (or has been running); empty before it starts.
func jobDuration(j *batchv1.Job, now time.Time) string {
	switch {
	case j.Status.StartTime == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
	default:
		return duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
}

func cronJobPrinter() Printer {
	spec := batchv1beta1.CronJobSpec{}.SwaggerDoc()
	status := batchv1beta1.CronJobStatus{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Schedule", "string", spec["schedule"]),
		column("Timezone", "string", spec["timeZone"]),
		column("Suspend", "boolean", spec["suspend"]),
		column("Active", "integer", status["active"]),
		column("Last Schedule", "string", status["lastScheduleTime"]),
		ageColumn(),
		containersColumn(),
		imagesColumn(),
		wideColumn("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
	}, func(cj *batchv1.CronJob, now time.Time) []interface{} {
		lastSchedule := none
		if cj.Status.LastScheduleTime != nil {
			lastSchedule = since(*cj.Status.LastScheduleTime, now)
		}
		template := &cj.Spec.JobTemplate.Spec
		names, images := containerCells(template.Template.Spec.Containers)
		return []interface{}{
			cj.Name,
			cj.Spec.Schedule,
			derefString(cj.Spec.TimeZone, none),
			boolPtr(cj.Spec.Suspend),
			int64(len(cj.Status.Active)),
			lastSchedule,
			since(cj.CreationTimestamp, now),
			names, images, selectorOrNone(template.Selector),
		}
	})
}
