// Package server is the kubelet's HTTPS API (port 10250): what the API server proxies
// `kubectl logs`, `exec`, `attach`, `port-forward` and `cp` to, served from a CRI runtime.
//
// # Endpoints
//
//	/healthz                                         ok (no authorization)
//	/pods                                            the node's pods (PodList JSON)
//	/containerLogs/{ns}/{pod}/{container}            a container's log
//	/exec/{ns}/{pod}[/{uid}]/{container}?command=…   a command in a running container
//	/attach/{ns}/{pod}[/{uid}]/{container}           the streams of a running container
//	/portForward/{ns}/{pod}[/{uid}]                  connections to a pod's ports
//	/stats/summary                                   CPU and memory of node and pods
//
// Every other request must present a client certificate the TLS configuration verifies
// (or pass Config.Authorize).
//
// # Finding containers
//
// Containers are found through CRI by the labels the kubelet puts on them
// (io.kubernetes.pod.namespace, .pod.name, .pod.uid when the pod is known, and
// .container.name), newest first by the restart count annotation, then creation time.
// Logs come from the newest instance that started; previous=true takes the exited
// instance before it. A container that never started answers the kubelet's
// `container "c" in pod "p" is waiting to start: <reason>`.
//
// # Logs
//
// The runtime writes CRI log files: `<RFC3339Nano> <stdout|stderr> <F|P> <text>` per
// line, P marking a piece of a long line that the following lines continue. ReadLogs
// joins them, applies tailLines (counting whole lines), sinceTime/sinceSeconds,
// timestamps and limitBytes, and with follow polls the file for growth and for rotation
// (the file renamed away and a new one created: the old one is read to its end first),
// ending when the container has stopped and everything is read, or the client leaves.
//
// # Streams
//
// CRI Exec, Attach and PortForward return a URL on the runtime's streaming server, which
// speaks SPDY and the old websocket channel protocols. Requests are served by protocol:
//
//   - websocket v5.channel.k8s.io (kubectl ≥ 1.30 exec/attach tries it first): the
//     channels are served here and relayed to the runtime with client-go's SPDY executor
//     (the stream translator the upstream API server runs), resize events included;
//   - websocket SPDY/3.1+portforward.k8s.io (kubectl port-forward tries it first): SPDY
//     framed in websocket messages; the runtime URL is upgraded to SPDY and the bytes are
//     copied unchanged both ways;
//   - anything else, SPDY included: a reverse proxy to the runtime URL.
//
// The API server only proxies upgrades, whatever the protocol, so all translation is here.
package server
