// Package controller holds kijabi's controllers. Each subpackage is one controller that talks
// to the API server only through client-go, like any other client: shared informers and
// listers to read, typed, metadata or dynamic clients to write, and a rate-limited work queue
// of object keys between the two. Controllers never import each other or the API server.
package controller
