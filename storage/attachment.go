package storage

// This file holds attachments: files kept beside a record. The content
// goes to a BlobStore (a directory, the database, or a host's object
// storage); the metadata is a record of kind "attachment" with its own
// lifecycle and hash-chained events, so who added or removed what, when,
// is audited like any other write.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
)

// BlobStore keeps attachment content under a key (a UUID the caller
// chooses), separately per tenant (TenantOf the context). PutBlob writes the
// whole content or nothing; OpenBlob of a missing key is ErrNotFound;
// DeleteBlob of a missing key is no error. A host plugs object storage in
// by implementing it.
type BlobStore interface {
	PutBlob(ctx context.Context, key string, content []byte) error
	OpenBlob(ctx context.Context, key string) (io.ReadCloser, error)
	DeleteBlob(ctx context.Context, key string) error
}

// DirBlobStore is a BlobStore in a directory of the file system: one file
// per blob under a directory per tenant, written to a temporary file,
// synced and renamed into place.
type DirBlobStore struct{ dir string }

// NewDirBlobStore returns a blob store in dir, creating it when missing.
func NewDirBlobStore(dir string) (*DirBlobStore, error) {
	if dir == "" {
		return nil, itsm.Invalidf("blobs: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	return &DirBlobStore{dir: dir}, nil
}

func (d *DirBlobStore) path(ctx context.Context, key string) (string, error) {
	if ctx == nil {
		return "", itsm.Invalidf("blobs: nil context")
	}
	tenant, err := TenantOf(ctx, false)
	if err != nil {
		return "", err
	}
	if !itsm.ValidID(key) {
		return "", itsm.Invalidf("blobs: key %q is not a UUID", key)
	}
	return filepath.Join(d.dir, tenant, key), nil
}

// PutBlob implements BlobStore.
func (d *DirBlobStore) PutBlob(ctx context.Context, key string, content []byte) error {
	p, err := d.path(ctx, key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("blobs: put %s: %w", key, err)
	}
	return nil
}

// OpenBlob implements BlobStore.
func (d *DirBlobStore) OpenBlob(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(ctx, key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &itsm.NotFoundError{Kind: "blob", ID: key}
	}
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	return f, nil
}

// DeleteBlob implements BlobStore.
func (d *DirBlobStore) DeleteBlob(ctx context.Context, key string) error {
	p, err := d.path(ctx, key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blobs: %w", err)
	}
	return nil
}

// KindBlob is the document kind DocBlobStore keeps content in.
const KindBlob = "attachment_blob"

// DocBlobStore is a BlobStore in the Backend itself: content is split
// into chunks of DocBlobChunk bytes, each a document of kind KindBlob
// (base64 in its data, within MaxDocumentSize), listed by a head document
// under the blob's key, all written and deleted in one unit of work. It
// needs nothing besides the store and backs up with it; a host with large
// or many files prefers a DirBlobStore or object storage.
type DocBlobStore struct{ b Backend }

// DocBlobChunk is how many bytes of content one chunk document holds.
const DocBlobChunk = 512 << 10

// NewDocBlobStore registers KindBlob on b and returns the blob store.
func NewDocBlobStore(ctx context.Context, b Backend) (*DocBlobStore, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("blobs: nil context or backend")
	}
	if err := b.Register(ctx, Schema{Kind: KindBlob}); err != nil {
		return nil, err
	}
	return &DocBlobStore{b: b}, nil
}

type docBlobHead struct {
	Size   int64    `json:"size"`
	Chunks []string `json:"chunks"` // ids of the chunk documents, in order
}

type docBlobChunk struct {
	Content []byte `json:"content"` // base64 in JSON
}

// chunkID derives the id of a blob's n-th chunk from its key: a UUID of
// version 8 made from a SHA-256, so it never collides with a key.
func chunkID(key string, n int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", key, n)))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func checkBlobKey(ctx context.Context, key string) error {
	if ctx == nil || !itsm.ValidID(key) {
		return itsm.Invalidf("blobs: nil context or key %q is not a UUID", key)
	}
	return nil
}

// PutBlob implements BlobStore.
func (d *DocBlobStore) PutBlob(ctx context.Context, key string, content []byte) error {
	if err := checkBlobKey(ctx, key); err != nil {
		return err
	}
	head := docBlobHead{Size: int64(len(content))}
	var docs []Document
	for i := 0; i == 0 || i*DocBlobChunk < len(content); i++ {
		chunk := content[i*DocBlobChunk : min(len(content), (i+1)*DocBlobChunk)]
		data, err := json.Marshal(docBlobChunk{Content: chunk})
		if err != nil {
			return err
		}
		id := chunkID(key, i)
		head.Chunks = append(head.Chunks, id)
		docs = append(docs, Document{Kind: KindBlob, ID: id, Version: 1, Data: data})
	}
	data, err := json.Marshal(head)
	if err != nil {
		return err
	}
	docs = append(docs, Document{Kind: KindBlob, ID: key, Version: 1, Data: data})
	return d.b.Update(ctx, func(tx Tx) error {
		for _, doc := range docs {
			if err := tx.Put(ctx, doc, 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// OpenBlob implements BlobStore.
func (d *DocBlobStore) OpenBlob(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkBlobKey(ctx, key); err != nil {
		return nil, err
	}
	doc, err := d.b.Get(ctx, KindBlob, key)
	if err != nil {
		return nil, err
	}
	var head docBlobHead
	if err := json.Unmarshal(doc.Data, &head); err != nil {
		return nil, fmt.Errorf("blobs: %s is corrupt: %w: %v", key, itsm.ErrInvalid, err)
	}
	out := make([]byte, 0, head.Size)
	for _, id := range head.Chunks {
		c, err := d.b.Get(ctx, KindBlob, id)
		if err != nil {
			return nil, err
		}
		var chunk docBlobChunk
		if err := json.Unmarshal(c.Data, &chunk); err != nil {
			return nil, fmt.Errorf("blobs: %s is corrupt: %w: %v", key, itsm.ErrInvalid, err)
		}
		out = append(out, chunk.Content...)
	}
	return io.NopCloser(bytes.NewReader(out)), nil
}

// DeleteBlob implements BlobStore.
func (d *DocBlobStore) DeleteBlob(ctx context.Context, key string) error {
	if err := checkBlobKey(ctx, key); err != nil {
		return err
	}
	return d.b.Update(ctx, func(tx Tx) error {
		doc, err := tx.Get(ctx, KindBlob, key)
		if errors.Is(err, itsm.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var head docBlobHead
		if err := json.Unmarshal(doc.Data, &head); err != nil {
			return fmt.Errorf("blobs: %s is corrupt: %w: %v", key, itsm.ErrInvalid, err)
		}
		for _, id := range head.Chunks {
			c, err := tx.Get(ctx, KindBlob, id)
			if errors.Is(err, itsm.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := tx.Delete(ctx, KindBlob, id, c.Version); err != nil {
				return err
			}
		}
		return tx.Delete(ctx, KindBlob, key, doc.Version)
	})
}

// KindAttachment is the record kind of attachment metadata.
const KindAttachment = "attachment"

// The attachment lifecycle: stored until removed; the removal is an event
// of the record, so it is audited, and the record stays as its trace.
const (
	AttachmentStored  = "stored"
	AttachmentRemoved = "removed"
	// AttachmentEventRemove removes an attachment.
	AttachmentEventRemove = "remove"
	// ActionRemoveAttachment is what an actor needs on the parent record's
	// kind to remove an attachment someone else added.
	ActionRemoveAttachment = "remove_attachment"
)

// Attachment is the metadata of a file attached to a record. Its create
// event records who added it and when.
type Attachment struct {
	itsm.Record
	RecordKind  string `json:"record_kind"`
	RecordID    string `json:"record_id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"` // hex
	AddedBy     string `json:"added_by"`
}

// AttachmentPolicy bounds what may be attached.
type AttachmentPolicy struct {
	// MaxSize is the largest content in bytes (default 10 MiB).
	MaxSize int64
	// Types are the content types allowed, as sniffed from the content
	// (http.DetectContentType), without parameters. Default: PNG, JPEG,
	// GIF, WebP, PDF, plain text.
	Types []string
}

// Bounds of an attachment's name.
const MaxAttachmentName = 255

func (p AttachmentPolicy) withDefaults() AttachmentPolicy {
	if p.MaxSize == 0 {
		p.MaxSize = 10 << 20
	}
	if len(p.Types) == 0 {
		p.Types = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
	}
	return p
}

// AttachmentParent is a record kind attachments may belong to: it decides
// whether the actor in ctx may read the record (as Records.Get does) and
// returns it for authorisation. Build one with AttachTo.
type AttachmentParent interface {
	Kind() string
	Read(ctx context.Context, id string) (any, error)
}

// AttachTo makes the records of r parents of attachments: an actor reads,
// adds and lists the attachments of a record exactly when r.Get gives them
// the record.
func AttachTo[T any, P interface {
	*T
	itsm.Entity
}](r *Records[T, P]) AttachmentParent {
	return attachParent[T, P]{r}
}

type attachParent[T any, P interface {
	*T
	itsm.Entity
}] struct{ r *Records[T, P] }

func (p attachParent[T, P]) Kind() string { return p.r.coll.Kind() }
func (p attachParent[T, P]) Read(ctx context.Context, id string) (any, error) {
	return p.r.Get(ctx, id)
}

// AttachmentsConfig configures Attachments.
type AttachmentsConfig struct {
	Blobs   BlobStore          // required
	Parents []AttachmentParent // the kinds attachments may belong to; required
	Policy  AttachmentPolicy
	// Authorizer decides ActionRemoveAttachment on a parent record for an
	// actor removing someone else's attachment; itsm.DefaultAuthorizer()
	// when nil.
	Authorizer itsm.Authorizer
	Clock      itsm.Clock
}

// Attachments keeps files beside records: content in a BlobStore, metadata
// as records of KindAttachment. Reads follow the parent record: an actor
// who may read the record reads, adds and lists its attachments. It is
// safe for concurrent use.
type Attachments struct {
	recs    *Records[Attachment, *Attachment]
	blobs   BlobStore
	policy  AttachmentPolicy
	parents map[string]AttachmentParent
	authz   itsm.Authorizer
	clock   itsm.Clock
}

// NewAttachments registers KindAttachment on b and returns the service.
func NewAttachments(ctx context.Context, b Backend, cfg AttachmentsConfig) (*Attachments, error) {
	if ctx == nil || b == nil || cfg.Blobs == nil || len(cfg.Parents) == 0 {
		return nil, itsm.Invalidf("attachments: context, backend, blob store and parents are required")
	}
	a := &Attachments{blobs: cfg.Blobs, policy: cfg.Policy.withDefaults(), parents: map[string]AttachmentParent{}, authz: cfg.Authorizer}
	if a.policy.MaxSize < 0 {
		return nil, itsm.Invalidf("attachments: max size %d is negative", a.policy.MaxSize)
	}
	if a.authz == nil {
		a.authz = itsm.DefaultAuthorizer()
	}
	if a.clock = cfg.Clock; a.clock == nil {
		a.clock = itsm.SystemClock{}
	}
	for _, p := range cfg.Parents {
		if p == nil {
			return nil, itsm.Invalidf("attachments: nil parent")
		}
		a.parents[p.Kind()] = p
	}
	m, err := itsm.NewLifecycle[*Attachment](KindAttachment).Initial(AttachmentStored).Final(AttachmentRemoved).
		Event(AttachmentEventRemove, AttachmentRemoved, AttachmentStored).Compile()
	if err != nil {
		return nil, err
	}
	coll := NewCollection[Attachment](KindAttachment,
		StringField("record_kind", func(x *Attachment) string { return x.RecordKind }),
		StringField("record_id", func(x *Attachment) string { return x.RecordID }),
	).WithIndex("attachment_parent", "record_kind", "record_id", "state", "created_at")
	if err := coll.Register(ctx, b); err != nil {
		return nil, err
	}
	a.recs, err = NewRecords(b, coll, m, RecordsConfig{Authorizer: attachmentAuthorizer{a}, Clock: cfg.Clock})
	return a, err
}

// Records returns the attachment records, for History and Verify.
func (a *Attachments) Records() *Records[Attachment, *Attachment] { return a.recs }

// attachmentAuthorizer authorises attachment records through their parent.
type attachmentAuthorizer struct{ a *Attachments }

func (z attachmentAuthorizer) Authorize(ctx context.Context, req itsm.AccessRequest) error {
	refuse := func(reason string) error {
		return &itsm.ForbiddenError{Actor: req.Actor.ID, Kind: KindAttachment, Action: req.Action, Reason: reason}
	}
	att, _ := req.Record.(*Attachment)
	switch {
	case req.Action == itsm.ActionRead && att == nil:
		return nil // the scope: each attachment is judged by its parent
	case att == nil:
		return refuse("no attachment")
	}
	p := z.a.parents[att.RecordKind]
	if p == nil {
		return refuse("attachments of " + att.RecordKind + " are not kept")
	}
	parent, err := p.Read(ctx, att.RecordID)
	if err != nil {
		if errors.Is(err, itsm.ErrForbidden) || errors.Is(err, itsm.ErrNotFound) {
			return refuse("the actor may not read " + att.RecordKind + " " + att.RecordID)
		}
		return err
	}
	switch req.Action {
	case itsm.ActionRead, itsm.ActionReadInternal, itsm.ActionCreate:
		return nil
	case AttachmentEventRemove:
		if att.AddedBy == req.Actor.ID {
			return nil
		}
		return itsm.Authorize(ctx, z.a.authz, att.RecordKind, ActionRemoveAttachment, parent)
	}
	return refuse("attachments are added and removed, never edited")
}

// checkName refuses names that are not a plain file name.
func checkName(name string) error {
	bad := func(problem string) error { return (&itsm.ValidationError{Kind: KindAttachment}).Add("name", problem) }
	switch {
	case name == "" || len(name) > MaxAttachmentName:
		return bad(fmt.Sprintf("must be 1..%d bytes", MaxAttachmentName))
	case !utf8.ValidString(name):
		return bad("must be UTF-8")
	case strings.ContainsAny(name, `/\`):
		return bad("must not hold a path separator")
	case name == "." || name == ".." || strings.TrimSpace(name) != name:
		return bad("must be a file name without leading or trailing spaces")
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }):
		return bad("must not hold control characters")
	}
	return nil
}

// Add attaches content to the record of kind with id for the actor in ctx,
// who must be able to read the record. The content is read up to the
// policy's MaxSize (one byte more is an error), its type is sniffed from
// the bytes and must be allowed; declaredType, when not empty, must agree
// with it. The blob is written first and the metadata record after; when
// the metadata write fails the blob is deleted again, so a refusal leaves
// nothing behind. Bad input is an *itsm.ValidationError (ErrInvalid).
func (a *Attachments) Add(ctx context.Context, kind, id, name, declaredType string, content io.Reader) (*Attachment, error) {
	if ctx == nil || content == nil {
		return nil, itsm.Invalidf("attachments: nil context or content")
	}
	bad := func(field, problem string) error {
		return (&itsm.ValidationError{Kind: KindAttachment}).Add(field, problem)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	p := a.parents[kind]
	if p == nil {
		return nil, bad("record_kind", fmt.Sprintf("%q takes no attachments", kind))
	}
	if _, err := p.Read(ctx, id); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(content, a.policy.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("attachments: reading the content: %w", err)
	}
	switch {
	case int64(len(data)) > a.policy.MaxSize:
		return nil, bad("size", fmt.Sprintf("is over %d bytes", a.policy.MaxSize))
	case len(data) == 0:
		return nil, bad("size", "is 0: the content is empty")
	}
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	if !slices.Contains(a.policy.Types, sniffed) {
		return nil, bad("content_type", fmt.Sprintf("the content is %s, which is not allowed", sniffed))
	}
	if declaredType != "" {
		declared, _, err := mime.ParseMediaType(declaredType)
		if err != nil || declared != sniffed {
			return nil, bad("content_type", fmt.Sprintf("declared %q, but the content is %s", declaredType, sniffed))
		}
	}
	sum := sha256.Sum256(data)
	actor, _ := itsm.ActorFrom(ctx)
	att := &Attachment{RecordKind: kind, RecordID: id, Name: name, Size: int64(len(data)),
		ContentType: sniffed, SHA256: hex.EncodeToString(sum[:]), AddedBy: actor.ID}
	att.ID = itsm.NewID()
	if err := itsm.Authorize(ctx, a.recs.cfg.Authorizer, KindAttachment, itsm.ActionCreate, att); err != nil {
		return nil, err // before any byte is written
	}
	if err := a.blobs.PutBlob(ctx, att.ID, data); err != nil {
		return nil, err
	}
	if err := a.recs.Create(ctx, att, Command{}); err != nil {
		// The metadata is not written: take the blob back (with a context
		// that outlives a cancelled one).
		if derr := a.blobs.DeleteBlob(context.WithoutCancel(ctx), att.ID); derr != nil {
			return nil, errors.Join(err, fmt.Errorf("attachments: blob %s left behind: %w", att.ID, derr))
		}
		return nil, err
	}
	return att, nil
}

// Get returns an attachment's metadata for an actor who may read its
// record.
func (a *Attachments) Get(ctx context.Context, id string) (*Attachment, error) {
	return a.recs.Get(ctx, id)
}

// Open returns an attachment's metadata and content for an actor who may
// read its record; the caller closes the content. A removed attachment is
// ErrNotFound.
func (a *Attachments) Open(ctx context.Context, id string) (*Attachment, io.ReadCloser, error) {
	att, err := a.recs.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if att.State == AttachmentRemoved {
		return nil, nil, &itsm.NotFoundError{Kind: KindAttachment, ID: id}
	}
	rc, err := a.blobs.OpenBlob(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return att, rc, nil
}

// List returns one page of the attachments of a record that are not
// removed, oldest first, for an actor who may read the record.
func (a *Attachments) List(ctx context.Context, kind, id string, p Paging) ([]*Attachment, string, error) {
	if ctx == nil {
		return nil, "", itsm.Invalidf("attachments: nil context")
	}
	parent := a.parents[kind]
	if parent == nil {
		return nil, "", itsm.Invalidf("attachments: %q takes no attachments", kind)
	}
	limit, err := p.ResolveLimit()
	if err != nil {
		return nil, "", err
	}
	if _, err := parent.Read(ctx, id); err != nil {
		return nil, "", err
	}
	return a.recs.Query(ctx, Query{Filters: []Filter{Eq("record_kind", String(kind)), Eq("record_id", String(id)), Eq("state", String(AttachmentStored))},
		Sort: []Sort{{Field: "created_at"}}, Limit: limit, Cursor: p.Cursor})
}

// Remove removes an attachment: its record moves to AttachmentRemoved with
// an event naming the actor and cmd's reason (the audit trail), then the
// content is deleted. The actor who added it may remove it; anyone else
// needs ActionRemoveAttachment on the parent record's kind. When the
// content cannot be deleted the record stays removed and the error says
// which blob was left behind.
func (a *Attachments) Remove(ctx context.Context, id string, cmd Command) error {
	if _, err := a.recs.Fire(ctx, id, AttachmentEventRemove, cmd, nil); err != nil {
		return err
	}
	if err := a.blobs.DeleteBlob(ctx, id); err != nil {
		return fmt.Errorf("attachments: %s removed, its blob left behind: %w", id, err)
	}
	return nil
}
