package apiserver

import (
	"bytes"
	"reflect"

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
	gvk   schema.GroupVersionKind
	proto *protobuf.Serializer
	// typeMeta is the stored envelope's TypeMeta message for gvk; goType the Go type of
	// gvk's objects when they decode in place (nil: every decode goes through proto).
	typeMeta []byte
	goType   reflect.Type
}

// newStorageCodec returns the codec of gvk's objects; with a nil scheme every decode goes
// through the serializer.
func newStorageCodec(gvk schema.GroupVersionKind, proto *protobuf.Serializer, scheme *runtime.Scheme) *storageCodec {
	c := &storageCodec{gvk: gvk, proto: proto, typeMeta: typeMetaMessage(gvk)}
	if scheme != nil {
		if obj, err := scheme.New(gvk); err == nil {
			if _, ok := obj.(protoUnmarshaler); ok {
				c.goType = reflect.TypeOf(obj)
			}
		}
	}
	return c
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
	if c.goType != nil && reflect.TypeOf(into) == c.goType && decodeInPlace(data, c.typeMeta, into) {
		into.GetObjectKind().SetGroupVersionKind(c.gvk)
		return nil
	}
	_, _, err := c.proto.Decode(data, &c.gvk, into)
	return err
}

// decodeInPlace unmarshals into (a generated protobuf type) the object message of data, a
// protobuf envelope, straight from data's bytes, when the envelope holds nothing but that
// message and the TypeMeta message typeMeta (empty content encoding and type, as this
// server and client-go write them). It reports false, into left reset, for anything else —
// the serializer then decides, and words the errors. Stored objects and protobuf request
// bodies are decoded this way.
func decodeInPlace(data, typeMeta []byte, into runtime.Object) bool {
	u, ok := into.(protoUnmarshaler)
	if !ok {
		return false
	}
	tm, raw, other, err := envelopeFields(data)
	if err != nil || other || !bytes.Equal(tm, typeMeta) {
		return false
	}
	u.Reset()
	if err := u.Unmarshal(raw); err != nil {
		u.Reset()
		return false
	}
	return true
}
