package telemetry

import (
	"context"
	"reflect"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Instrument wraps b so that every store call gets a span (a child of the
// command or batch in ctx; none inside a span not sampled) and every
// Backend call made outside a Records command a pillars.store.duration
// measurement (a unit of work as a whole; its Tx calls are spans only; a
// command's calls are in its pillars.command.duration). The
// wrapper has exactly the optional capabilities of b (storage.Traverser,
// storage.BulkImporter, storage.EventScanner): a store's fast paths stay
// in use, and none is claimed that the store lacks. Without a
// TracerProvider and a MeterProvider it returns b itself.
//
// Adapter authors: a wrapper hides every optional interface it does not
// declare again; when storage gains a capability, this wrapper must learn
// it (TestInstrumentKeepsCapabilities lists them).
func Instrument(b storage.Backend, cfg Config) storage.Backend {
	t, err := New(cfg)
	if err != nil {
		// The instruments' names and options are constant and valid; a
		// provider refusing them gets the store unwrapped rather than none.
		return b
	}
	return t.Backend(b)
}

// Backend wraps b as Instrument does, with t's providers.
func (t *Telemetry) Backend(b storage.Backend) storage.Backend {
	if b == nil || !t.tracing && !t.metering {
		return b
	}
	name := t.cfg.Adapter
	if name == "" {
		name = adapterName(b)
	}
	w := &backend{inner: b, t: t, adapter: name}
	tr, isT := b.(storage.Traverser)
	bi, isB := b.(storage.BulkImporter)
	sc, isS := b.(storage.EventScanner)
	tm, bm, sm := traverser{w, tr}, importer{w, bi}, scanner{w, sc}
	switch {
	case isT && isB && isS:
		return struct {
			*backend
			traverser
			importer
			scanner
		}{w, tm, bm, sm}
	case isT && isB:
		return struct {
			*backend
			traverser
			importer
		}{w, tm, bm}
	case isT && isS:
		return struct {
			*backend
			traverser
			scanner
		}{w, tm, sm}
	case isB && isS:
		return struct {
			*backend
			importer
			scanner
		}{w, bm, sm}
	case isT:
		return struct {
			*backend
			traverser
		}{w, tm}
	case isB:
		return struct {
			*backend
			importer
		}{w, bm}
	case isS:
		return struct {
			*backend
			scanner
		}{w, sm}
	}
	return w
}

// adapterName is the package name of b's type: "memory" for *memory.Store.
func adapterName(b storage.Backend) string {
	t := reflect.TypeOf(b)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	p := t.PkgPath()
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	if p == "" {
		return t.String()
	}
	return p
}

// backend is the instrumented Backend; the capability types below add the
// optional interfaces the inner one has.
type backend struct {
	inner   storage.Backend
	t       *Telemetry
	adapter string
}

// Unwrap returns the store the wrapper instruments.
func (b *backend) Unwrap() storage.Backend { return b.inner }

// call is one store call in flight.
type call struct {
	ctx   context.Context
	span  trace.Span
	start time.Time
	op    string
	timed bool // measured: a Backend call made outside a command
}

// start begins a Backend call; name is the span name, "store." and the
// operation (a constant: no name is built per call).
func (b *backend) start(ctx context.Context, name string) call {
	return b.begin(ctx, name, b.t.metering && (ctx == nil || !inCommand(ctx)))
}

func (b *backend) begin(ctx context.Context, name string, timed bool) call {
	c := call{ctx: ctx, op: strings.TrimPrefix(name, "store.")}
	if timed {
		c.start, c.timed = time.Now(), true
	}
	// A call inside a span that is not recorded (not sampled) gets no span
	// of its own: a parent-based sampler would drop it, and starting it
	// costs as much as the call on a fast store. A call with no span
	// around it starts a trace of its own.
	if b.t.tracing && ctx != nil && !unsampledParent(ctx) {
		c.ctx, c.span = b.t.tracer.Start(ctx, name, b.t.client...)
		if c.span.IsRecording() {
			c.span.SetAttributes(attribute.String("pillars.store.adapter", b.adapter), attribute.String("pillars.store.operation", c.op))
		}
	}
	return c
}

// unsampledParent reports whether ctx holds a span that is not recording.
func unsampledParent(ctx context.Context) bool {
	s := trace.SpanFromContext(ctx)
	return s.SpanContext().IsValid() && !s.IsRecording()
}

// end records the call's outcome; rows < 0 is not reported.
func (b *backend) end(c call, rows int, err error) {
	if c.timed {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		mctx := c.ctx
		if mctx == nil {
			mctx = context.Background()
		}
		b.t.storeDuration.Record(mctx, time.Since(c.start).Seconds(), b.t.measure(setKey{'o', b.adapter, c.op, outcome}, func() []attribute.KeyValue {
			return []attribute.KeyValue{attribute.String("adapter", b.adapter), attribute.String("operation", c.op), attribute.String("outcome", outcome)}
		}).rec...)
	}
	if c.span == nil {
		return
	}
	if c.span.IsRecording() {
		if rows >= 0 {
			c.span.SetAttributes(attribute.Int("pillars.store.rows", rows))
		}
		if err != nil {
			c.span.RecordError(err)
			if storage.RefusedBy(err) == "" { // not found, invalid: the caller's answer, not the store's failure
				c.span.SetStatus(codes.Error, err.Error())
			}
		}
	}
	c.span.End()
}

// Register implements storage.Backend.
func (b *backend) Register(ctx context.Context, s storage.Schema) error {
	c := b.start(ctx, "store.Register")
	err := b.inner.Register(c.ctx, s)
	b.end(c, -1, err)
	return err
}

// Get implements storage.Backend.
func (b *backend) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	c := b.start(ctx, "store.Get")
	d, err := b.inner.Get(c.ctx, kind, id)
	b.end(c, one(err), err)
	return d, err
}

// Query implements storage.Backend.
func (b *backend) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	c := b.start(ctx, "store.Query")
	p, err := b.inner.Query(c.ctx, q)
	b.end(c, len(p.Docs), err)
	return p, err
}

// Update implements storage.Backend: the unit's Tx calls are children of
// its span.
func (b *backend) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	c := b.start(ctx, "store.Update")
	var err error
	if fn == nil || c.span == nil || !c.span.IsRecording() {
		// Unrecorded: Tx calls would get neither spans nor measurements,
		// so the store's own Tx is handed over as it is.
		err = b.inner.Update(c.ctx, fn)
	} else {
		err = b.inner.Update(c.ctx, func(tx storage.Tx) error {
			return fn(&unit{inner: tx, b: b, span: c.span, outer: spanID(ctx)})
		})
	}
	b.end(c, -1, err)
	return err
}

// ReadEvents implements storage.Backend.
func (b *backend) ReadEvents(ctx context.Context, after int64, limit int) ([]itsm.Event, error) {
	c := b.start(ctx, "store.ReadEvents")
	evs, err := b.inner.ReadEvents(c.ctx, after, limit)
	b.end(c, len(evs), err)
	return evs, err
}

// History implements storage.Backend.
func (b *backend) History(ctx context.Context, kind, id string) ([]itsm.Event, error) {
	c := b.start(ctx, "store.History")
	evs, err := b.inner.History(c.ctx, kind, id)
	b.end(c, len(evs), err)
	return evs, err
}

// Close implements storage.Backend.
func (b *backend) Close() error { return b.inner.Close() }

func one(err error) int {
	if err != nil {
		return 0
	}
	return 1
}

// unit is an instrumented Tx. Its calls get contexts from above the unit
// (the one Update was given): those are made children of the unit's span.
// A command run inside the unit (a Tx form) is nested under it the same
// way, and the calls it makes are its own children.
type unit struct {
	inner storage.Tx
	b     *backend
	span  trace.Span   // the unit's; nil when not tracing
	outer trace.SpanID // the span current when Update was called (zero: none)
}

// nest returns ctx with the unit's span current when ctx is from above the
// unit.
func (u *unit) nest(ctx context.Context) context.Context {
	if u.span != nil && ctx != nil && u.span.IsRecording() && spanID(ctx) == u.outer {
		return trace.ContextWithSpan(ctx, u.span)
	}
	return ctx
}

// spanID is the id of ctx's current span, zero when none (ids compare
// safely where spans, of types unknown, may not).
func spanID(ctx context.Context) trace.SpanID {
	if ctx == nil {
		return trace.SpanID{}
	}
	return trace.SpanContextFromContext(ctx).SpanID()
}

// start begins a Tx call. Tx calls are not measured: the unit's Update is
// (with everything in it), and on SQL stores the statements are
// (postgres.WithTelemetry); measuring each in-memory call would cost as
// much as the call.
func (u *unit) start(ctx context.Context, name string) call {
	if u.span == nil || !u.span.IsRecording() {
		return call{ctx: ctx}
	}
	return u.b.begin(u.nest(ctx), name, false)
}

// Get implements storage.Tx.
func (u *unit) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	c := u.start(ctx, "store.tx.Get")
	d, err := u.inner.Get(c.ctx, kind, id)
	u.b.end(c, one(err), err)
	return d, err
}

// Query implements storage.Tx.
func (u *unit) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	c := u.start(ctx, "store.tx.Query")
	p, err := u.inner.Query(c.ctx, q)
	u.b.end(c, len(p.Docs), err)
	return p, err
}

// Put implements storage.Tx.
func (u *unit) Put(ctx context.Context, d storage.Document, expected int64) error {
	c := u.start(ctx, "store.tx.Put")
	err := u.inner.Put(c.ctx, d, expected)
	u.b.end(c, one(err), err)
	return err
}

// Delete implements storage.Tx.
func (u *unit) Delete(ctx context.Context, kind, id string, version int64) error {
	c := u.start(ctx, "store.tx.Delete")
	err := u.inner.Delete(c.ctx, kind, id, version)
	u.b.end(c, one(err), err)
	return err
}

// NextSequence implements storage.Tx.
func (u *unit) NextSequence(ctx context.Context, name string) (int64, error) {
	c := u.start(ctx, "store.tx.NextSequence")
	n, err := u.inner.NextSequence(c.ctx, name)
	u.b.end(c, -1, err)
	return n, err
}

// AdvanceSequence implements storage.Tx.
func (u *unit) AdvanceSequence(ctx context.Context, name string, atLeast int64) error {
	c := u.start(ctx, "store.tx.AdvanceSequence")
	err := u.inner.AdvanceSequence(c.ctx, name, atLeast)
	u.b.end(c, -1, err)
	return err
}

// Append implements storage.Tx.
func (u *unit) Append(ctx context.Context, events ...itsm.Event) error {
	c := u.start(ctx, "store.tx.Append")
	err := u.inner.Append(c.ctx, events...)
	u.b.end(c, len(events), err)
	return err
}

type traverser struct {
	b     *backend
	inner storage.Traverser
}

// Traverse implements storage.Traverser with the store's own traversal.
func (t traverser) Traverse(ctx context.Context, p storage.TraverseParams) ([]storage.Hop, error) {
	c := t.b.start(ctx, "store.Traverse")
	hops, err := t.inner.Traverse(c.ctx, p)
	t.b.end(c, len(hops), err)
	return hops, err
}

type importer struct {
	b     *backend
	inner storage.BulkImporter
}

// Import implements storage.BulkImporter with the store's own import.
func (i importer) Import(ctx context.Context, docs []storage.Document, events []itsm.Event) error {
	c := i.b.start(ctx, "store.Import")
	err := i.inner.Import(c.ctx, docs, events)
	i.b.end(c, len(docs)+len(events), err)
	return err
}

type scanner struct {
	b     *backend
	inner storage.EventScanner
}

// ScanEvents implements storage.EventScanner with the store's own scan.
func (s scanner) ScanEvents(ctx context.Context, after int64, limit int, fn func([]itsm.Event) error) error {
	c := s.b.start(ctx, "store.ScanEvents")
	n := 0
	count := fn
	if fn != nil {
		count = func(evs []itsm.Event) error { n += len(evs); return fn(evs) }
	}
	err := s.inner.ScanEvents(c.ctx, after, limit, count)
	s.b.end(c, n, err)
	return err
}
