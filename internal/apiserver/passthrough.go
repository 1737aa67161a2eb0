package apiserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kijabi/kijabi/internal/storage"
)

// Protobuf passthrough. Built-in objects are stored as Kubernetes' protobuf encoding of the
// kind they are served as: the magic "k8s\x00", then a runtime.Unknown message holding the
// kind (field 1) and the object's own message (field 2). A protobuf client asking for that
// kind can be sent those bytes nearly as they are, with no decoding or encoding: gets, list
// items and watch events of the watch cache then cost a copy.
//
// One thing differs between stored and served objects: the resourceVersion, which is not
// stored (it is the etcd revision). Protobuf merges a message field that occurs twice, and
// a string field's last occurrence wins, so appending to the object's message one more
// metadata field (field 1) holding only resourceVersion (ObjectMeta field 6) gives a message
// that every protobuf decoder reads as the stored object with that resourceVersion. Lists
// are runtime.Unknown around a message with ListMeta (field 1) and the items (field 2),
// built the same way.
//
// Clients of object metadata only (metadata informers, as the garbage collector's, ask for
// PartialObjectMetadata) are served from the stored bytes too: a PartialObjectMetadata
// message is an object message's metadata field (field 1 in every Kubernetes kind) alone,
// so it is cut out of the stored object, with no decoding either.

var protoMagic = []byte("k8s\x00")

var errNotStoredProto = errors.New("apiserver: stored object is not a protobuf runtime.Unknown")

// unknownFields returns the type (runtime.TypeMeta message) and the raw object message of a
// stored object.
func unknownFields(data []byte) (typeMeta, raw []byte, err error) {
	typeMeta, raw, _, err = envelopeFields(data)
	return typeMeta, raw, err
}

// envelopeFields parses a protobuf envelope: the magic, then a runtime.Unknown message. It
// returns its type and raw object messages, and whether it holds anything else (a content
// encoding or type that is not empty, other fields).
func envelopeFields(data []byte) (typeMeta, raw []byte, other bool, err error) {
	b, ok := bytes.CutPrefix(data, protoMagic)
	if !ok {
		return nil, nil, false, errNotStoredProto
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, false, errNotStoredProto
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, nil, false, errNotStoredProto
			}
			switch {
			case num == 1:
				typeMeta = v
			case num == 2:
				raw = v
			case (num == 3 || num == 4) && len(v) == 0:
			default:
				other = true
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, nil, false, errNotStoredProto
		}
		other = true
		b = b[m:]
	}
	if raw == nil {
		return nil, nil, false, errNotStoredProto
	}
	return typeMeta, raw, other, nil
}

// versionField is an object message's extra metadata field setting its resourceVersion.
func versionField(rev int64) []byte {
	rv := strconv.FormatInt(rev, 10)
	meta := protowire.AppendTag(nil, 6, protowire.BytesType)
	meta = protowire.AppendString(meta, rv)
	out := protowire.AppendTag(make([]byte, 0, len(meta)+4), 1, protowire.BytesType)
	return protowire.AppendBytes(out, meta)
}

// appendUnknown appends a runtime.Unknown with the given type and an object message made of
// the parts, as Kubernetes' protobuf serializer writes it.
func appendUnknown(b, typeMeta []byte, parts ...[]byte) []byte {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	b = append(b, protoMagic...)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, typeMeta)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	for _, p := range parts {
		b = append(b, p...)
	}
	// contentEncoding and contentType, empty.
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendVarint(b, 0)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	return protowire.AppendVarint(b, 0)
}

// storedObject is the protobuf response for a stored object.
func storedObject(o storage.StoredObject) ([]byte, error) {
	typeMeta, raw, err := unknownFields(o.Data)
	if err != nil {
		return nil, err
	}
	rv := versionField(o.Revision)
	return appendUnknown(make([]byte, 0, len(o.Data)+len(rv)+8), typeMeta, raw, rv), nil
}

// typeMetaMessage is the runtime.TypeMeta message of a kind.
func typeMetaMessage(gvk schema.GroupVersionKind) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendString(b, gvk.GroupVersion().String())
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, gvk.Kind)
}

// metadataFields returns the metadata field(s) (field 1, tag included) of an object message:
// the whole of a PartialObjectMetadata message for the object.
func metadataFields(raw []byte) ([]byte, error) {
	var out []byte
	for b := raw; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, errNotStoredProto
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, errNotStoredProto
		}
		if num == 1 {
			out = append(out, b[:n+m]...)
		}
		b = b[n+m:]
	}
	return out, nil
}

// partialGVK is the kind of a PartialObjectMetadata(List) response in meta.k8s.io/version.
func partialGVK(version string, list bool) schema.GroupVersionKind {
	if list {
		return metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList").GroupKind().WithVersion(version)
	}
	return metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata").GroupKind().WithVersion(version)
}

// storedPartial is the protobuf PartialObjectMetadata response (meta.k8s.io/version) for a
// stored object.
func storedPartial(o storage.StoredObject, version string) ([]byte, error) {
	_, raw, err := unknownFields(o.Data)
	if err != nil {
		return nil, err
	}
	md, err := metadataFields(raw)
	if err != nil {
		return nil, err
	}
	rv := versionField(o.Revision)
	return appendUnknown(make([]byte, 0, len(md)+len(rv)+64), typeMetaMessage(partialGVK(version, false)), md, rv), nil
}

// storedList is the protobuf response for a list of stored objects of kind listGVK; with
// partial, a PartialObjectMetadataList of them (listGVK its kind).
func storedList(listGVK schema.GroupVersionKind, lm *metav1.ListMeta, items []storage.StoredObject, partial bool) ([]byte, error) {
	lmData, err := lm.Marshal()
	if err != nil {
		return nil, err
	}
	parts := make([][]byte, 0, 3*len(items)+1)
	head := protowire.AppendTag(nil, 1, protowire.BytesType)
	parts = append(parts, protowire.AppendBytes(head, lmData))
	size := 0
	for _, it := range items {
		_, raw, err := unknownFields(it.Data)
		if err != nil {
			return nil, err
		}
		if partial {
			if raw, err = metadataFields(raw); err != nil {
				return nil, err
			}
		}
		rv := versionField(it.Revision)
		tag := protowire.AppendTag(nil, 2, protowire.BytesType)
		tag = protowire.AppendVarint(tag, uint64(len(raw)+len(rv)))
		parts = append(parts, tag, raw, rv)
		size += len(tag) + len(raw) + len(rv)
	}
	return appendUnknown(make([]byte, 0, size+len(lmData)+64), typeMetaMessage(listGVK), parts...), nil
}

// wantsStored reports whether a response in representation t may be built from stored
// bytes: the object itself, or its PartialObjectMetadata, in protobuf.
func (r *resource) wantsStored(t target) bool {
	if !r.stored || t.info.MediaType != runtime.ContentTypeProtobuf {
		return false
	}
	switch t.as {
	case "":
		return true
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		// meta.k8s.io/v1 only: v1beta1's list message numbers its fields otherwise.
		return t.asGroup == metav1.GroupName && t.asVersion == "v1"
	}
	return false
}

// encodeStored is the response in representation t (wantsStored) for a stored object.
func encodeStored(t target, o storage.StoredObject) ([]byte, error) {
	if t.as != "" {
		return storedPartial(o, t.asVersion)
	}
	return storedObject(o)
}

// encodeStoredList is the list response in representation t (wantsStored) for stored objects
// of the resource.
func (r *resource) encodeStoredList(t target, lm *metav1.ListMeta, items []storage.StoredObject) ([]byte, error) {
	if t.as != "" {
		return storedList(partialGVK(t.asVersion, true), lm, items, true)
	}
	return storedList(r.listGVK, lm, items, false)
}

// writeEncoded writes a response already encoded in representation t.
func writeEncoded(w http.ResponseWriter, r *http.Request, code int, t target, data []byte) {
	w.Header().Set("Content-Type", t.info.MediaType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// protoWatchFrame is a protobuf watch stream's frame for one event: the length of the
// message (4 bytes, big-endian, as the length-delimited framer writes it), then a
// metav1.WatchEvent message with the event's type (field 1) and its object's encoding as a
// RawExtension (field 2, holding raw in its field 1) — the bytes the stream serializer
// writes, built in one buffer of the right size.
func protoWatchFrame(typ watch.EventType, raw []byte) []byte {
	ext := 0
	if raw != nil {
		ext = protowire.SizeTag(1) + protowire.SizeBytes(len(raw))
	}
	size := protowire.SizeTag(1) + protowire.SizeBytes(len(typ)) + protowire.SizeTag(2) + protowire.SizeBytes(ext)
	b := make([]byte, 4, 4+size)
	binary.BigEndian.PutUint32(b, uint32(size))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, string(typ))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(ext))
	if raw == nil {
		return b
	}
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}
