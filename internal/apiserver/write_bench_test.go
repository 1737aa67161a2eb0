package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/kijabi/kijabi/internal/storage"
)

// BenchmarkWrite drives the API server's handler (ServeHTTP, as the HTTP server calls it)
// with the writes a pod's life brings in a scale run, encoded in protobuf as client-go
// components send them: the create, the scheduler's pods/binding and Scheduled Event, the
// node's first pods/status update, and an update of the pod. Storage is a real embedded etcd
// (without fsync): its work is part of ns/op, as it is part of the server's CPU.
//
//	go test ./internal/apiserver -run XXX -bench Write -benchmem -cpuprofile /tmp/cpu.out
func BenchmarkWrite(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	backend, err := storage.OpenEmbedded(ctx, storage.EmbeddedConfig{Dir: b.TempDir(), UnsafeNoFsync: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	defer func() {
		cancel() // the watch caches stop before etcd does
		backend.Close()
	}()
	s, err := New(Config{Storage: backend, Log: slog.New(slog.DiscardHandler), CompactionInterval: -1,
		AdvertiseAddress: net.ParseIP("10.0.0.1"), Port: 6443})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	wb := &writeBench{s: s, proto: protobuf.NewSerializer(s.scheme, s.scheme)}
	// The OpenAPI documents are built in the background at start: wait for them, and warm up,
	// so that neither counts in the first sub-benchmark.
	s.openapi.mu.Lock()
	ready := s.openapi.ready
	s.openapi.mu.Unlock()
	<-ready
	// The namespace's default service account, as the controller manager makes it.
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	wb.do(b, http.MethodPost, "/api/v1/namespaces/default/serviceaccounts", wb.encode(b, sa), http.StatusCreated)
	wb.createPods(b, "warmup", 200)

	b.Run("PodCreate", func(b *testing.B) {
		run := wb.nextRun()
		bodies := make([][]byte, b.N)
		for i := range bodies {
			bodies[i] = wb.encode(b, benchPod(fmt.Sprintf("create-%d-%d", run, i)))
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			wb.do(b, http.MethodPost, "/api/v1/namespaces/default/pods", bodies[i], http.StatusCreated)
		}
	})

	b.Run("PodBinding", func(b *testing.B) {
		names := wb.createPods(b, "bind", b.N)
		bodies := make([][]byte, b.N)
		for i, name := range names {
			bodies[i] = wb.encode(b, &corev1.Binding{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Binding"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
				Target:     corev1.ObjectReference{Kind: "Node", Name: "node-1"}})
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			wb.do(b, http.MethodPost, "/api/v1/namespaces/default/pods/"+names[i]+"/binding", bodies[i], http.StatusCreated)
		}
	})

	b.Run("EventCreate", func(b *testing.B) {
		run := wb.nextRun()
		bodies := make([][]byte, b.N)
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		for i := range bodies {
			pod := fmt.Sprintf("pod-%d-%d", run, i)
			bodies[i] = wb.encode(b, &corev1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
				ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod, now.UnixNano()+int64(i)), Namespace: "default"},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "default", Name: pod, UID: "0c5f3a2e-6f1b-4c43-9d54-5f1b8e2a7c11", ResourceVersion: "1234"},
				Reason:         "Scheduled", Message: "Successfully assigned default/" + pod + " to node-1", Type: corev1.EventTypeNormal,
				Source: corev1.EventSource{Component: "default-scheduler"}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
				ReportingController: "default-scheduler", ReportingInstance: "default-scheduler-host", Action: "Scheduling"})
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			wb.do(b, http.MethodPost, "/api/v1/namespaces/default/events", bodies[i], http.StatusCreated)
		}
	})

	b.Run("PodStatus", func(b *testing.B) {
		names := wb.createPods(b, "status", b.N)
		bodies := make([][]byte, b.N)
		for i, name := range names {
			pod := wb.getPod(b, name)
			pod.Spec.NodeName = "node-1"
			pod.Status = benchRunningStatus(pod)
			bodies[i] = wb.encode(b, pod)
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			wb.do(b, http.MethodPut, "/api/v1/namespaces/default/pods/"+names[i]+"/status", bodies[i], http.StatusOK)
		}
	})

	b.Run("PodUpdate", func(b *testing.B) {
		names := wb.createPods(b, "update", b.N)
		bodies := make([][]byte, b.N)
		for i, name := range names {
			pod := wb.getPod(b, name)
			pod.Labels["tier"] = "front"
			pod.Annotations = map[string]string{"example.com/revision": "2"}
			bodies[i] = wb.encode(b, pod)
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			wb.do(b, http.MethodPut, "/api/v1/namespaces/default/pods/"+names[i], bodies[i], http.StatusOK)
		}
	})
}

type writeBench struct {
	s     *Server
	proto *protobuf.Serializer
	runs  int
}

func (wb *writeBench) nextRun() int {
	wb.runs++
	return wb.runs
}

// do sends one request through the server's handler, as a client-go component does.
func (wb *writeBench) do(b *testing.B, method, path string, body []byte, want int) []byte {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", runtime.ContentTypeProtobuf)
	r.Header.Set("Accept", runtime.ContentTypeProtobuf+", "+runtime.ContentTypeJSON)
	r.Header.Set("User-Agent", "kijabi-bench/v0.0.0 (linux/amd64) kubernetes/bench")
	w := httptest.NewRecorder()
	wb.s.ServeHTTP(w, r)
	if w.Code != want {
		b.Fatalf("%s %s: %d, want %d: %s", method, path, w.Code, want, w.Body.String())
	}
	return w.Body.Bytes()
}

func (wb *writeBench) encode(b *testing.B, obj runtime.Object) []byte {
	var buf bytes.Buffer
	if err := wb.proto.Encode(obj, &buf); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// createPods creates n pods (outside the timed part) and returns their names.
func (wb *writeBench) createPods(b *testing.B, prefix string, n int) []string {
	run := wb.nextRun()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d-%d", prefix, run, i)
		wb.do(b, http.MethodPost, "/api/v1/namespaces/default/pods", wb.encode(b, benchPod(names[i])), http.StatusCreated)
	}
	return names
}

func (wb *writeBench) getPod(b *testing.B, name string) *corev1.Pod {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods/"+name, nil)
	r.Header.Set("Accept", runtime.ContentTypeProtobuf)
	w := httptest.NewRecorder()
	wb.s.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("get %s: %d %s", name, w.Code, w.Body.String())
	}
	data, _ := io.ReadAll(w.Body)
	obj, _, err := wb.proto.Decode(data, nil, &corev1.Pod{})
	if err != nil {
		b.Fatal(err)
	}
	return obj.(*corev1.Pod)
}

// benchPod is a bare pod as the scale benchmark creates it.
func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kijabi.local/busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("10m")}}}}}}
}

// benchRunningStatus is the status a simulated node writes when it starts pod.
func benchRunningStatus(pod *corev1.Pod) corev1.PodStatus {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	st := *pod.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	st.HostIP, st.HostIPs = "10.0.0.1", []corev1.HostIP{{IP: "10.0.0.1"}}
	st.PodIP, st.PodIPs = "10.128.0.7", []corev1.PodIP{{IP: "10.128.0.7"}}
	st.StartTime = &now
	st.ObservedGeneration = pod.Generation
	st.Conditions = nil
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now, ObservedGeneration: pod.Generation})
	}
	started := true
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "sim://" + c.Image,
			ContainerID: "sim://" + string(pod.UID) + "-" + c.Name, Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}})
	}
	return st
}

// reportCPU reports the process's CPU time (user and system, all goroutines: etcd's and
// the garbage collector's too) per operation from now until the returned function runs: on
// a shared machine it varies less than ns/op, and it leaves out time spent waiting.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
