package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
)

// FieldSpec ties an indexed field to the getter that reads it from a record
// of type T. Build them with StringField, IntField and TimeField.
type FieldSpec[T any] struct {
	field Field
	get   func(*T) Value
}

// CompositeOnly returns the spec declaring its field Field.CompositeOnly:
// no index of its own, served through the composite indexes naming it.
func (f FieldSpec[T]) CompositeOnly() FieldSpec[T] {
	f.field.CompositeOnly = true
	return f
}

// StringField declares an indexed string field read by get.
func StringField[T any](name string, get func(*T) string) FieldSpec[T] {
	return FieldSpec[T]{Field{Name: name, Type: TypeString}, func(t *T) Value { return String(get(t)) }}
}

// IntField declares an indexed integer field read by get.
func IntField[T any](name string, get func(*T) int64) FieldSpec[T] {
	return FieldSpec[T]{Field{Name: name, Type: TypeInt}, func(t *T) Value { return Int(get(t)) }}
}

// TimeField declares an indexed time field read by get (microsecond
// precision).
func TimeField[T any](name string, get func(*T) time.Time) FieldSpec[T] {
	return FieldSpec[T]{Field{Name: name, Type: TypeTime}, func(t *T) Value { return Time(get(t)) }}
}

// Getter reads one document; Backend and Tx both satisfy it, so typed reads
// work inside and outside a unit of work.
type Getter interface {
	Get(ctx context.Context, kind, id string) (Document, error)
}

// Querier runs queries; Backend and Tx both satisfy it.
type Querier interface {
	Query(ctx context.Context, q Query) (Page, error)
}

// Collection maps a record struct T (which embeds itsm.Record) to documents:
// JSON data plus the indexed fields its queues need. Every collection
// indexes the shared fields "number", "state", "created_at" and "updated_at"
// without being asked. Build it once at start-up; it is then read-only and
// safe for concurrent use.
//
// The type parameter P is inferred: storage.NewCollection[Incident](...)
// gives a *Collection[Incident, *Incident].
type Collection[T any, P interface {
	*T
	itsm.Entity
}] struct {
	schema Schema
	fields []FieldSpec[T]
}

// NewCollection declares the kind stored as records of type T, with its
// indexed fields.
func NewCollection[T any, P interface {
	*T
	itsm.Entity
}](kind string, fields ...FieldSpec[T]) *Collection[T, P] {
	meta := func(t *T) *itsm.Record { return P(t).Meta() }
	shared := []FieldSpec[T]{
		StringField("number", func(t *T) string { return meta(t).Number }),
		StringField("state", func(t *T) string { return meta(t).State }),
		TimeField("created_at", func(t *T) time.Time { return meta(t).CreatedAt }),
		TimeField("updated_at", func(t *T) time.Time { return meta(t).UpdatedAt }),
	}
	c := &Collection[T, P]{schema: Schema{Kind: kind}}
	for _, f := range append(shared, fields...) {
		c.fields = append(c.fields, f)
		c.schema.Fields = append(c.schema.Fields, f.field)
	}
	return c
}

// WithIndex declares a composite index (a queue's equality fields, then its
// ordering) and returns the collection for chaining.
func (c *Collection[T, P]) WithIndex(name string, fields ...string) *Collection[T, P] {
	c.schema.Indexes = append(c.schema.Indexes, Index{Name: name, Fields: fields})
	return c
}

// Kind returns the record kind.
func (c *Collection[T, P]) Kind() string { return c.schema.Kind }

// Schema returns the declaration the backend receives.
func (c *Collection[T, P]) Schema() Schema { return c.schema }

// Register validates the schema and declares it to the backend.
func (c *Collection[T, P]) Register(ctx context.Context, b Backend) error {
	if err := c.schema.Validate(); err != nil {
		return err
	}
	return b.Register(ctx, c.schema)
}

// Encode turns a record into a document at the record's Version.
func (c *Collection[T, P]) Encode(rec P) (Document, error) {
	if rec == nil {
		return Document{}, itsm.Invalidf("%s: nil record", c.schema.Kind)
	}
	data, err := c.marshal(rec)
	if err != nil {
		return Document{}, err
	}
	return c.document(rec, data), nil
}

func (c *Collection[T, P]) marshal(rec P) ([]byte, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, itsm.Invalidf("%s %s: cannot encode: %v", c.schema.Kind, rec.Meta().ID, err)
	}
	return data, nil
}

// document builds rec's document around its already encoded data.
func (c *Collection[T, P]) document(rec P, data []byte) Document {
	d := Document{Kind: c.schema.Kind, ID: rec.Meta().ID, Version: rec.Meta().Version, Data: data,
		Fields: make([]Value, len(c.fields))}
	for i, f := range c.fields {
		d.Fields[i] = f.get((*T)(rec))
	}
	return d
}

// Decode turns a document back into a record. The document's id and version
// win over what its data says.
func (c *Collection[T, P]) Decode(d Document) (P, error) {
	rec := P(new(T))
	if err := json.Unmarshal(d.Data, rec); err != nil {
		return nil, fmt.Errorf("%s %s: stored data is corrupt: %w: %v", d.Kind, d.ID, itsm.ErrInvalid, err)
	}
	rec.Meta().ID = d.ID
	rec.Meta().Version = d.Version
	return rec, nil
}

// Get reads one record through a Backend or a Tx.
func (c *Collection[T, P]) Get(ctx context.Context, g Getter, id string) (P, error) {
	d, err := g.Get(ctx, c.schema.Kind, id)
	if err != nil {
		return nil, err
	}
	return c.Decode(d)
}

// Query runs q (its Kind is set to the collection's) and decodes one page.
// It returns the records and the cursor of the next page, empty on the
// last.
func (c *Collection[T, P]) Query(ctx context.Context, qr Querier, q Query) ([]P, string, error) {
	q.Kind = c.schema.Kind
	page, err := qr.Query(ctx, q)
	if err != nil {
		return nil, "", err
	}
	out := make([]P, 0, len(page.Docs))
	for _, d := range page.Docs {
		rec, err := c.Decode(d)
		if err != nil {
			return nil, "", err
		}
		out = append(out, rec)
	}
	return out, page.Next, nil
}

// All runs q page by page (q.Limit is the page size) and returns every
// matching record, for the bounded sets a command needs whole: a release's
// deployments, the windows over a period.
func (c *Collection[T, P]) All(ctx context.Context, qr Querier, q Query) ([]P, error) {
	var out []P
	for {
		page, next, err := c.Query(ctx, qr, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}

// Put writes rec at Version+1, expecting the stored version to be
// rec.Version (0 for a new record), and advances rec.Version on success.
func (c *Collection[T, P]) Put(ctx context.Context, tx Tx, rec P) error {
	if rec == nil {
		return itsm.Invalidf("%s: nil record", c.schema.Kind)
	}
	expected := rec.Meta().Version
	rec.Meta().Version = expected + 1
	d, err := c.Encode(rec)
	if err == nil {
		err = tx.Put(ctx, d, expected)
	}
	if err != nil {
		rec.Meta().Version = expected
		return err
	}
	return nil
}
