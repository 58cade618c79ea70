// Package storagetest is the conformance suite of the storage contract. Every
// adapter (memory, SQLite, Postgres, and yours) runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Backend {
//			b, err := mystore.Open(...) // an isolated store for this test
//			require.NoError(t, err)
//			t.Cleanup(func() { dropEverything() }) // optional: runs after Close
//			return b
//		})
//	}
//
// The suite checks every behaviour the doc comments of storage.Backend and
// storage.Tx promise: schema registration, document round trips and
// optimistic versions, queries and cursor pagination against a reference
// computed with storage.Plan, units of work (commit, error, panic), sequences
// and their advance past kept numbers, unique human numbers, the event log and its hash chains, the optional capabilities with their
// generic fallbacks, concurrency (no lost updates, no duplicate sequence
// values, no skipped events) and bad input.
//
// It branches only on what a backend declares: optional interfaces
// (storage.Traverser, storage.BulkImporter, storage.Counter) are compared against the generic
// fallback, and Options tune the load. It never looks at an adapter's name or
// error text; errors are checked with errors.Is against the itsm sentinels.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Option tunes a Run.
type Option func(*config)

type config struct {
	light       bool
	parallel    bool
	unsupported map[string]bool
	reopen      func(t *testing.T, b storage.Backend) storage.Backend
}

// The areas an adapter may declare Unsupported while it works its way to
// the whole contract.
const (
	// AreaTenancy is the area proving that tenants are kept apart
	// (storage.Backend, "Tenancy").
	AreaTenancy = "Tenancy"
	// AreaSchemaChange is the area proving that Register migrates a kind
	// registered before (storage.Backend, "Schema changes").
	AreaSchemaChange = "SchemaChange"
)

// Unsupported skips the named areas (AreaTenancy, AreaSchemaChange), each
// of their tests reported as skipped with the reason that the backend
// declares it does not keep that part of the contract yet. A complete
// adapter declares nothing; an unknown area fails the run.
func Unsupported(areas ...string) Option {
	return func(c *config) {
		if c.unsupported == nil {
			c.unsupported = map[string]bool{}
		}
		for _, a := range areas {
			c.unsupported[a] = true
		}
	}
}

// Light runs the heavy tests (pagination over thousands of documents,
// 16 writers x 500 increments, concurrent sequences and events) with smaller
// counts. Run applies it by itself under go test -short.
func Light() Option { return func(c *config) { c.light = true } }

// Sequential runs every test one after the other instead of in parallel, for
// a backend that cannot open many isolated stores at once.
func Sequential() Option { return func(c *config) { c.parallel = false } }

// Run runs the whole conformance suite against the backends newBackend
// returns.
//
// newBackend is called once per test (often from parallel tests at once) with
// that test's *testing.T, and must return a new, isolated, empty store: its
// own database file, schema or key prefix. The suite closes each backend with
// Close when its test ends (t.Cleanup); clean-ups the factory registers
// itself, such as dropping a schema, run after that Close. On top of this
// isolation the suite uses fresh kind, id and sequence names in every test,
// so tests never collide even on a shared database.
//
// Call it from a single test function; the suite's tests appear as subtests
// such as TestConformance/Documents/StaleVersion, so -run selects among them.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend, opts ...Option) {
	t.Helper()
	h := &harness{newBackend: newBackend, cfg: config{parallel: true}}
	for _, o := range opts {
		o(&h.cfg)
	}
	if testing.Short() {
		h.cfg.light = true
	}
	for a := range h.cfg.unsupported {
		if a != AreaTenancy && a != AreaSchemaChange {
			t.Fatalf("storagetest: Unsupported(%q): no such area", a)
		}
	}
	t.Run("Register", h.testRegister)
	t.Run("Documents", h.testDocuments)
	t.Run("Query", h.testQuery)
	t.Run("CompositeOnly", h.testCompositeOnly)
	t.Run("Pagination", h.testPagination)
	t.Run("UnitOfWork", h.testUnitOfWork)
	t.Run("Sequences", h.testSequences)
	t.Run("Numbers", h.testNumbers)
	t.Run("Events", h.testEvents)
	t.Run("Traverse", h.testTraverse)
	t.Run("Import", h.testImport)
	t.Run("Count", h.testCount)
	t.Run("Concurrency", h.testConcurrency)
	t.Run("BadInput", h.testBadInput)
	t.Run(AreaTenancy, h.area(AreaTenancy, h.testTenancy))
	t.Run(AreaSchemaChange, h.area(AreaSchemaChange, h.testSchemaChange))
}

// area returns the test of an area, skipped when the backend declares it
// Unsupported.
func (h *harness) area(name string, test func(*testing.T)) func(*testing.T) {
	return func(t *testing.T) {
		if h.cfg.unsupported[name] {
			t.Skipf("storagetest: the backend declares area %s Unsupported", name)
		}
		test(t)
	}
}

type harness struct {
	newBackend func(t *testing.T) storage.Backend
	cfg        config
}

// scale returns full, or light under Light.
func (h *harness) scale(full, light int) int {
	if h.cfg.light {
		return light
	}
	return full
}

// env is the bundle every test works with: a fresh backend, a context and a
// namespace for names.
type env struct {
	t   *testing.T
	ctx context.Context
	b   storage.Backend
}

// setup marks t parallel (unless Sequential) and returns a fresh backend.
func (h *harness) setup(t *testing.T) *env {
	t.Helper()
	if h.cfg.parallel {
		t.Parallel()
	}
	return h.open(t)
}

// open returns a fresh backend without marking t parallel.
func (h *harness) open(t *testing.T) *env {
	t.Helper()
	b := h.newBackend(t)
	require.NotNil(t, b, "newBackend returned nil")
	t.Cleanup(func() { assert.NoError(t, b.Close(), "Close") })
	return &env{t: t, ctx: t.Context(), b: b}
}

// parallel marks a subtest of a shared env parallel unless Sequential.
func (h *harness) parallel(t *testing.T) {
	if h.cfg.parallel {
		t.Parallel()
	}
}

var (
	nameSeq   atomic.Int64
	nameToken = strconv.FormatUint(rand.Uint64()%(36*36*36*36*36), 36)
)

// name returns a fresh lower-case identifier starting with base, unique in
// this process and, with high probability, across processes sharing a
// database.
func name(base string) string {
	return fmt.Sprintf("%s_%s_%d", base, nameToken, nameSeq.Add(1))
}

// Field shorthands.
func fString(n string) storage.Field { return storage.Field{Name: n, Type: storage.TypeString} }
func fInt(n string) storage.Field    { return storage.Field{Name: n, Type: storage.TypeInt} }
func fTime(n string) storage.Field   { return storage.Field{Name: n, Type: storage.TypeTime} }

// register registers s and fails the test on error.
func (e *env) register(s storage.Schema) storage.Schema {
	e.t.Helper()
	require.NoError(e.t, e.b.Register(e.ctx, s), "Register %s", s.Kind)
	return s
}

// docSchema registers a fresh kind with a string, an int and a time field.
func (e *env) docSchema(base string) storage.Schema {
	return e.register(storage.Schema{Kind: name(base), Fields: []storage.Field{fString("s"), fInt("n"), fTime("at")}})
}

// sdoc builds a document of a docSchema kind.
func sdoc(kind, id string, version int64, data string, s string, n int64, at time.Time) storage.Document {
	return storage.Document{Kind: kind, ID: id, Version: version, Data: []byte(data),
		Fields: []storage.Value{storage.String(s), storage.Int(n), storage.Time(at)}}
}

// create writes new documents (expected version 0) in one unit of work.
func (e *env) create(docs ...storage.Document) {
	e.t.Helper()
	require.NoError(e.t, e.b.Update(e.ctx, func(tx storage.Tx) error {
		for _, d := range docs {
			if err := tx.Put(e.ctx, d, 0); err != nil {
				return err
			}
		}
		return nil
	}))
}

// createMany writes new documents in units of at most batch documents.
func (e *env) createMany(docs []storage.Document, batch int) {
	e.t.Helper()
	for chunk := range slices.Chunk(docs, batch) {
		e.create(chunk...)
	}
}

// update replaces a document at expected and fails the test on error.
func (e *env) update(d storage.Document, expected int64) {
	e.t.Helper()
	require.NoError(e.t, e.putErr(d, expected), "Put %s %s at %d", d.Kind, d.ID, expected)
}

// putErr writes d at expected in its own unit and returns the error.
func (e *env) putErr(d storage.Document, expected int64) error {
	return e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.Put(e.ctx, d, expected) })
}

// get returns a committed document, failing the test when it is missing.
func (e *env) get(kind, id string) storage.Document {
	e.t.Helper()
	d, err := e.b.Get(e.ctx, kind, id)
	require.NoError(e.t, err, "Get %s %s", kind, id)
	return d
}

// requireMissing checks that a document does not exist.
func (e *env) requireMissing(kind, id string) {
	e.t.Helper()
	_, err := e.b.Get(e.ctx, kind, id)
	require.ErrorIs(e.t, err, itsm.ErrNotFound, "Get %s %s", kind, id)
}

// requireDoc checks that the stored document equals want.
func (e *env) requireDoc(want storage.Document) {
	e.t.Helper()
	requireSameDoc(e.t, want, e.get(want.Kind, want.ID))
}

// requireSameDoc compares documents; nil and empty Data are the same.
func requireSameDoc(t testing.TB, want, got storage.Document, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, want.Kind, got.Kind, msgAndArgs...)
	require.Equal(t, want.ID, got.ID, msgAndArgs...)
	require.Equal(t, want.Version, got.Version, msgAndArgs...)
	require.Equal(t, len(want.Data), len(got.Data), msgAndArgs...)
	if len(want.Data) > 0 {
		require.Equal(t, want.Data, got.Data, msgAndArgs...)
	}
	require.Equal(t, len(want.Fields), len(got.Fields), msgAndArgs...)
	for i := range want.Fields {
		require.Equal(t, want.Fields[i], got.Fields[i], "field %d %#v != %#v %v", i, want.Fields[i], got.Fields[i], fmt.Sprint(msgAndArgs...))
	}
}

// queryAll pages through q and returns every document, checking the shape
// of each page on the way.
func (e *env) queryAll(q storage.Query, maxDocs int) []storage.Document {
	e.t.Helper()
	return queryAll(e.t, e.ctx, e.b.Query, q, maxDocs)
}

func queryAll(t testing.TB, ctx context.Context, query func(context.Context, storage.Query) (storage.Page, error), q storage.Query, maxDocs int) []storage.Document {
	t.Helper()
	limit := q.Limit
	if limit == 0 {
		limit = storage.DefaultLimit
	}
	var all []storage.Document
	for pages := 0; ; pages++ {
		require.LessOrEqual(t, pages, maxDocs/limit+2, "pagination does not end")
		page, err := query(ctx, q)
		require.NoError(t, err, "Query page %d", pages)
		require.LessOrEqual(t, len(page.Docs), limit, "page %d is larger than the limit", pages)
		if page.Next != "" {
			require.Len(t, page.Docs, limit, "page %d has a Next cursor but is not full", pages)
		}
		if len(page.Docs) == 0 && pages > 0 {
			require.Empty(t, page.Next, "an empty page must be the last")
		}
		all = append(all, page.Docs...)
		if page.Next == "" {
			return all
		}
		q.Cursor = page.Next
	}
}

func ids(docs []storage.Document) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

// reference returns the documents of all that q selects, in q's order,
// computed with the contract's own Plan.
func reference(t testing.TB, s storage.Schema, q storage.Query, all []storage.Document) []storage.Document {
	t.Helper()
	q.Cursor = ""
	plan, err := s.CheckQuery(q)
	require.NoError(t, err, "reference plan")
	var out []storage.Document
	for _, d := range all {
		if plan.Matches(d) {
			out = append(out, d)
		}
	}
	sortDocs(plan, out)
	return out
}

// sortDocs sorts documents in the plan's order.
func sortDocs(plan storage.Plan, docs []storage.Document) {
	slices.SortFunc(docs, func(a, b storage.Document) int {
		switch {
		case plan.Less(a, b):
			return -1
		case plan.Less(b, a):
			return 1
		}
		return 0
	})
}

// requireErrorIsOneOf checks that err matches one of the targets.
func requireErrorIsOneOf(t testing.TB, err error, targets []error, msgAndArgs ...any) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			return
		}
	}
	require.Failf(t, "unexpected error", "got %v, want one of %v %s", err, targets, fmt.Sprint(msgAndArgs...))
}

// noPanic calls fn and fails the test, instead of crashing, when it panics.
func noPanic(t testing.TB, what string, fn func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}

// errBoom is the error units of work return to roll back.
var errBoom = errors.New("storagetest: boom")

// plainBackend hides every optional interface of the backend it wraps, so
// the generic fallbacks of package storage run against it.
type plainBackend struct{ storage.Backend }
