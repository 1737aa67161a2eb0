package apiserver

import (
	"bytes"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// storageCodec stores objects as Kubernetes' protobuf envelope: "k8s\x00", then a
// runtime.Unknown holding the object's type and its message.
//
// Every write encodes an object and nearly every write and watch decodes one, so both avoid
// the serializer's extra copies. Encoding writes the envelope once into a buffer of the
// right size, which becomes the stored bytes (the serializer's writer interface would copy
// it twice more). Decoding reads the envelope in place and unmarshals the object's message
// straight from the stored bytes, where the serializer first copies the message out of the
// envelope: generated Unmarshal methods copy every string and byte field they keep, so
// nothing decoded shares memory with the stored bytes. Anything but an envelope of the
// codec's own kind, with no content encoding, into an object of the kind's Go type, goes
// through the serializer.
type storageCodec struct {
	gvk    schema.GroupVersionKind
	proto  *protobuf.Serializer
	scheme *runtime.Scheme // nil: every decode goes through the serializer

	once     sync.Once
	typeMeta []byte       // the stored envelope's TypeMeta message for gvk
	goType   reflect.Type // the Go type of gvk's objects (nil: not a generated protobuf type)
}

func (c *storageCodec) init() {
	c.once.Do(func() {
		c.typeMeta = typeMetaMessage(c.gvk)
		if c.scheme == nil {
			return
		}
		if obj, err := c.scheme.New(c.gvk); err == nil {
			if _, ok := obj.(protoUnmarshaler); ok {
				c.goType = reflect.TypeOf(obj)
			}
		}
	})
}

// protoUnmarshaler is what generated Kubernetes types implement.
type protoUnmarshaler interface {
	Reset()
	Unmarshal([]byte) error
}

func (c *storageCodec) Encode(obj runtime.Object) ([]byte, error) {
	kind := obj.GetObjectKind()
	old := kind.GroupVersionKind()
	kind.SetGroupVersionKind(c.gvk)
	defer kind.SetGroupVersionKind(old)
	var w ownedWriter
	if err := c.proto.EncodeWithAllocator(obj, &w, &runtime.SimpleAllocator{}); err != nil {
		return nil, err
	}
	return w.b, nil
}

// ownedWriter keeps what is written to it. The first write's slice is kept as it is, not
// copied: Encode's allocator is its own, so the buffer the serializer writes from belongs to
// nobody else.
type ownedWriter struct{ b []byte }

func (w *ownedWriter) Write(p []byte) (int, error) {
	if w.b == nil {
		w.b = p[:len(p):len(p)]
	} else {
		w.b = append(w.b, p...)
	}
	return len(p), nil
}

func (c *storageCodec) Decode(data []byte, into runtime.Object) error {
	c.init()
	if c.goType != nil && reflect.TypeOf(into) == c.goType {
		if typeMeta, raw, ok := ownEnvelope(data); ok && bytes.Equal(typeMeta, c.typeMeta) {
			u := into.(protoUnmarshaler)
			u.Reset()
			if err := u.Unmarshal(raw); err != nil {
				return err
			}
			into.GetObjectKind().SetGroupVersionKind(c.gvk)
			return nil
		}
	}
	_, _, err := c.proto.Decode(data, &c.gvk, into)
	return err
}

// ownEnvelope returns the TypeMeta and object messages of a stored envelope, ok only when
// it has nothing else but empty content encoding and type (as this server writes it).
func ownEnvelope(data []byte) (typeMeta, raw []byte, ok bool) {
	typeMeta, raw, other, err := envelopeFields(data)
	return typeMeta, raw, err == nil && !other
}

// decodeOwnEnvelope decodes a protobuf request body into into (a new object of kind
// expect) straight from the body's bytes, as storageCodec.Decode does stored objects, when
// the body is an envelope naming exactly that kind. It reports false, having changed
// nothing that matters, for anything else: the serializer then decides (and words the
// errors).
func decodeOwnEnvelope(data []byte, expect schema.GroupVersionKind, into runtime.Object) bool {
	u, ok := into.(protoUnmarshaler)
	if !ok {
		return false
	}
	typeMeta, raw, ok := ownEnvelope(data)
	if !ok || !bytes.Equal(typeMeta, typeMetaMessage(expect)) {
		return false
	}
	u.Reset()
	if err := u.Unmarshal(raw); err != nil {
		u.Reset()
		return false
	}
	into.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return true
}
