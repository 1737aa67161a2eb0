package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kijabi/kijabi/internal/storage"
)

// bookmarkInterval is how often a watch that allows bookmarks is sent one.
const bookmarkInterval = time.Minute

// watch serves a watch request: optionally the current state as ADDED events (for an unset
// or "0" resourceVersion, or sendInitialEvents=true, which ends it with a bookmark marked
// k8s.io/initial-events-end), then every change after the starting revision, filtered by the
// request's selectors, until the client goes, the timeout passes or storage reports an error.
func (s *Server) watch(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	q := r.URL.Query()
	sel, err := s.parseSelection(q, res)
	if err != nil {
		return err
	}
	if info.name != "" {
		// The legacy /watch/.../{name} form watches one object.
		sel.fields = andName(sel.fields, info.name)
	}
	// A watch streams single objects: metadata clients ask for them
	// as=PartialObjectMetadata (some older ones as the List kind).
	t, err := s.negotiate(r.Header.Get("Accept"), func(as, g, v string) bool {
		return g == "meta.k8s.io" && (v == "v1" || v == "v1beta1") &&
			(as == "Table" || as == "PartialObjectMetadata" || as == "PartialObjectMetadataList")
	})
	if err != nil {
		return err
	}
	if t.as == "PartialObjectMetadataList" {
		t.as = "PartialObjectMetadata"
	}
	if t.info.StreamSerializer == nil {
		return apierrors.NewBadRequest("the requested media type does not support streaming")
	}
	bookmarks := isTrue(q.Get("allowWatchBookmarks"))
	rv := q.Get("resourceVersion")
	var sendInitial *bool
	if v := q.Get("sendInitialEvents"); v != "" {
		b := isTrue(v)
		sendInitial = &b
		if q.Get("resourceVersionMatch") != string(metav1.ResourceVersionMatchNotOlderThan) {
			return apierrors.NewInvalid(res.gvk.GroupKind(), "", fieldErrorList("resourceVersionMatch", q.Get("resourceVersionMatch"),
				"sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
		}
		if b && !bookmarks {
			return apierrors.NewInvalid(res.gvk.GroupKind(), "", fieldErrorList("allowWatchBookmarks", "false",
				"sendInitialEvents requires setting allowWatchBookmarks to true"))
		}
	} else if q.Get("resourceVersionMatch") != "" {
		return apierrors.NewBadRequest("resourceVersionMatch is forbidden for watch")
	}
	timeout := time.Duration(1800+rand.IntN(1800)) * time.Second
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", ts))
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}

	var initial storage.ListResult
	var startRev int64
	withInitial := (sendInitial != nil && *sendInitial) || (sendInitial == nil && (rv == "" || rv == "0"))
	if withInitial {
		var minRev int64
		if rv != "" && rv != "0" {
			if minRev, err = strconv.ParseInt(rv, 10, 64); err != nil {
				return apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", rv))
			}
		}
		lo := storage.ListOptions{Stored: res.wantsStored(t)}
		if !sel.empty() {
			lo.Filter = func(o runtime.Object) bool { return sel.matches(res, o) }
		}
		list, err := res.store.List(ctx, res.store.Prefix(info.namespace), lo)
		if err != nil {
			return storageError(err, res.gr, "")
		}
		if list.Revision < minRev {
			return apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", minRev, list.Revision), 1)
		}
		initial, startRev = *list, list.Revision
		// Custom resources of a webhook-converted definition: the initial events in one
		// review.
		if err := s.crServedObjects(ctx, res, initial.Items); err != nil {
			return err
		}
	} else if rv == "" || rv == "0" {
		if startRev, err = res.store.CurrentRevision(ctx); err != nil {
			return storageError(err, res.gr, "")
		}
	} else {
		if startRev, err = strconv.ParseInt(rv, 10, 64); err != nil || startRev < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", rv))
		}
	}

	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	events := res.store.Watch(wctx, res.store.Prefix(info.namespace), startRev)

	framer := t.info.StreamSerializer.Framer.NewFrameWriter(w)
	flusher, _ := w.(http.Flusher)
	ct := t.info.MediaType
	if ct == runtime.ContentTypeProtobuf {
		ct += ";stream=watch"
	}
	if t.as != "" {
		ct = fmt.Sprintf("%s;as=%s;g=%s;v=%s", t.info.MediaType, t.as, t.asGroup, t.asVersion)
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	var buf bytes.Buffer
	// encode renders one object. Objects from storage are shared (the watch cache hands the
	// same object to every watcher), so it works on a copy.
	encode := func(obj runtime.Object) ([]byte, error) {
		out, err := s.transform(r, t, res, forResponse(r, obj))
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.info.Serializer.Encode(out, &b); err != nil {
			return nil, err
		}
		return bytes.TrimRight(b.Bytes(), "\n"), nil
	}
	// The versions of a custom resource share one store, so its events: the version is
	// part of the key.
	memoKey := res.gvk.Version + ";" + t.info.MediaType + ";" + t.as + ";" + t.asVersion + ";" + r.URL.Query().Get("includeObject")
	// Protobuf clients of the stored kind (or of its metadata) get the stored bytes (see
	// passthrough.go).
	stored := res.wantsStored(t)
	// frame renders one whole event as written on the stream (framing included) from the
	// object's encoding.
	frame := func(typ watch.EventType, raw []byte) ([]byte, error) {
		if t.info.MediaType == runtime.ContentTypeProtobuf {
			return protoWatchFrame(typ, raw), nil
		}
		var b bytes.Buffer
		b.Grow(len(raw) + 64)
		ev := &metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: raw}}
		if err := t.info.StreamSerializer.Serializer.Encode(ev, t.info.StreamSerializer.Framer.NewFrameWriter(&b)); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	// Written events are flushed before the loop below waits for more (whatever it skipped
	// meanwhile), so a watcher that is behind gets them in batches and none stays in the
	// buffer.
	dirty := false
	write := func(data []byte) error {
		if _, err := w.Write(data); err != nil {
			return err
		}
		dirty = true
		return nil
	}
	// sendObject writes one event for an object that is not a stored event's (initial
	// events).
	sendObject := func(typ watch.EventType, obj runtime.Object, so *storage.StoredObject) error {
		var raw []byte
		var err error
		if so != nil {
			raw, err = encodeStored(t, *so)
		} else {
			raw, err = encode(obj)
		}
		if err != nil {
			return err
		}
		data, err := frame(typ, raw)
		if err != nil {
			return err
		}
		return write(data)
	}
	// sendEvent writes a stored event as typ: its object, or with prev its previous object
	// at the event's revision (an object leaving a watch's selection). Its encoding is shared
	// by every watcher that sends it.
	sendEvent := func(typ watch.EventType, ev *storage.Event, prev bool) error {
		key := memoKey + ";" + string(typ)
		if prev {
			key += ";prev"
		}
		data, err := ev.Encoded(key, func() ([]byte, error) {
			var raw []byte
			var err error
			switch {
			case stored && prev:
				raw, err = encodeStored(t, storage.StoredObject{Data: ev.StoredPrev(), Revision: ev.Revision})
			case stored:
				raw, err = encodeStored(t, storage.StoredObject{Data: ev.Stored(), Revision: ev.Revision})
			case prev:
				var obj runtime.Object
				if obj, err = ev.PrevObject(); err != nil {
					return nil, err
				}
				obj = obj.DeepCopyObject()
				a, _ := meta.Accessor(obj)
				a.SetResourceVersion(strconv.FormatInt(ev.Revision, 10))
				raw, err = encode(obj)
			default:
				var obj runtime.Object
				if obj, err = ev.Object(); err != nil {
					return nil, err
				}
				raw, err = encode(obj)
			}
			if err != nil {
				return nil, err
			}
			return frame(typ, raw)
		})
		if err != nil {
			return err
		}
		return write(data)
	}
	bookmark := func(rev int64, initialEnd bool) error {
		obj := res.newObj()
		a, _ := meta.Accessor(obj)
		a.SetResourceVersion(strconv.FormatInt(rev, 10))
		if initialEnd {
			a.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		}
		obj.GetObjectKind().SetGroupVersionKind(res.gvk)
		// Bookmarks take the form the watcher asked for (a metadata informer can only
		// decode PartialObjectMetadata).
		raw, err := encode(obj)
		if err != nil {
			return err
		}
		ev := &metav1.WatchEvent{Type: string(watch.Bookmark), Object: runtime.RawExtension{Raw: raw}}
		if err := t.info.StreamSerializer.Serializer.Encode(ev, framer); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	for i := range initial.Keys {
		var err error
		if initial.Stored != nil {
			err = sendObject(watch.Added, nil, &initial.Stored[i])
		} else {
			err = sendObject(watch.Added, initial.Items[i], nil)
		}
		if err != nil {
			return nil
		}
	}
	if sendInitial != nil && *sendInitial {
		if err := bookmark(startRev, true); err != nil {
			return nil
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
	ticker := time.NewTicker(bookmarkInterval)
	defer ticker.Stop()
	lastRev := startRev
	for {
		if dirty && len(events) == 0 {
			if flusher != nil {
				flusher.Flush()
			}
			dirty = false
		}
		select {
		case <-wctx.Done():
			return nil
		case <-ticker.C:
			if bookmarks {
				// etcd answers with a progress mark on the event channel.
				_ = res.store.RequestProgress(wctx)
			}
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			switch ev.Type {
			case watch.Error:
				if wctx.Err() != nil {
					return nil
				}
				status := apierrors.NewInternalError(ev.Err).Status()
				if errors.Is(ev.Err, storage.ErrCompacted) {
					status = apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", startRev)).Status()
				}
				status.Kind, status.APIVersion = "Status", "v1"
				buf.Reset()
				_ = t.info.Serializer.Encode(&status, &buf)
				ev := &metav1.WatchEvent{Type: string(watch.Error), Object: runtime.RawExtension{Raw: bytes.TrimRight(buf.Bytes(), "\n")}}
				_ = t.info.StreamSerializer.Serializer.Encode(ev, framer)
				if flusher != nil {
					flusher.Flush()
				}
				return nil
			case watch.Bookmark:
				if bookmarks && ev.Revision > lastRev {
					lastRev = ev.Revision
					if err := bookmark(ev.Revision, false); err != nil {
						return nil
					}
				}
				continue
			}
			lastRev = ev.Revision
			typ, prev := ev.Type, false
			if !sel.empty() {
				var newMatch, oldMatch bool
				if ev.Type != watch.Deleted {
					obj, err := ev.Object()
					if err != nil {
						s.log.Warn("watch: undecodable object", "key", ev.Key, "err", err)
						continue
					}
					newMatch = sel.matches(res, obj)
				}
				if old, err := ev.PrevObject(); err != nil {
					s.log.Warn("watch: undecodable object", "key", ev.Key, "err", err)
					continue
				} else if old != nil {
					oldMatch = sel.matches(res, old)
				}
				switch {
				case ev.Type == watch.Deleted:
					if !oldMatch {
						continue
					}
				case newMatch && oldMatch:
					typ = watch.Modified
				case newMatch:
					typ = watch.Added
				case oldMatch:
					// The object left the selection: watchers see it deleted.
					typ, prev = watch.Deleted, true
				default:
					continue
				}
			}
			if err := sendEvent(typ, &ev, prev); err != nil {
				return nil
			}
		}
	}
}
