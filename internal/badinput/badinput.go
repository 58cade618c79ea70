// Package badinput is the scaffolding the pillars' bad-input suites share
// (issue 18): the bad values every suite tries, the snapshot of a store
// that proves a refused call wrote nothing, the classification of one
// call, the totals line each suite logs, and the check that every
// exported method has rows. Each pillar keeps its own rows and fixture;
// this package holds what the suites have in common, so the rule a row
// must meet (no panic, a sentinel error, the store as it was) is written
// once.
//
// It is for the module's tests only.
package badinput

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// Bad values every suite tries.
const (
	// NotUTF8 is text that is not UTF-8.
	NotUTF8 = "bad\xff\xfe"
	// WithNUL is text holding a NUL byte.
	WithNUL = "a\x00b"
	// UnknownID is a well-formed id no record has.
	UnknownID = "00000000-0000-0000-0000-000000000000"
	// NilCtxPrefix starts the name of a row run with a nil context.
	NilCtxPrefix = "nil ctx/"
)

// Huge is text of 1 MiB and a byte, past every text bound.
func Huge() string { return strings.Repeat("x", 1<<20+1) }

// FarFuture is the last day of year 9999.
func FarFuture() time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }

// FarPast is a nanosecond into year 1: not the zero time, yet no real one.
func FarPast() time.Time { return time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC) }

// Text is one bad text value and the name its rows carry.
type Text struct {
	Name  string
	Value string
}

// Texts are the bad texts every text field meets: empty, over 1 MiB, not
// UTF-8 and holding NUL.
func Texts() []Text {
	return []Text{{"empty", ""}, {"1 MiB+", Huge()}, {"invalid UTF-8", NotUTF8}, {"NUL", WithNUL}}
}

// Sentinels are the kernel's errors a refusal must match one of.
func Sentinels() []error {
	return []error{itsm.ErrNotFound, itsm.ErrConflict, itsm.ErrInvalidTransition, itsm.ErrForbidden, itsm.ErrInvalid}
}

// MatchesSentinel reports whether err matches one of Sentinels.
func MatchesSentinel(err error) bool {
	for _, s := range Sentinels() {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// Snapshot is every document of some kinds and the whole event log of a
// store: two snapshots equal when nothing was written in between.
type Snapshot struct {
	Docs   map[string][]storage.Document
	Events []itsm.Event
}

// Take reads the snapshot of kinds on s in the default tenant.
func Take(t testing.TB, s storage.Backend, kinds ...string) Snapshot {
	t.Helper()
	ctx := context.Background()
	out := Snapshot{Docs: map[string][]storage.Document{}}
	for _, k := range kinds {
		q := storage.Query{Kind: k, Limit: storage.MaxLimit}
		for {
			page, err := s.Query(ctx, q)
			require.NoError(t, err)
			out.Docs[k] = append(out.Docs[k], page.Docs...)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	var after int64
	for {
		evs, err := s.ReadEvents(ctx, after, 1000)
		require.NoError(t, err)
		out.Events = append(out.Events, evs...)
		if len(evs) < 1000 {
			return out
		}
		after = evs[len(evs)-1].Seq
	}
}

// Outcome classifies what one bad call did.
type Outcome string

// The outcomes of a bad call; only Clear passes.
const (
	Clear      Outcome = "clear error"
	Panic      Outcome = "panic"
	HalfWrite  Outcome = "half-write"
	Accepted   Outcome = "accepted"
	NoSentinel Outcome = "no sentinel"
)

// Try makes call between two snapshots, recovering a panic, and
// classifies it: a panic; a write with an error (half-write) or without
// (accepted); no error; an error matching no sentinel; or a clear error.
// An entry point that answers instead of failing (answers true) passes
// when it returns nil and writes nothing: call checks the answer.
func Try(snapshot func() Snapshot, answers bool, call func() error) (Outcome, string) {
	before := snapshot()
	var err error
	panicked := func() (p any) {
		defer func() { p = recover() }()
		err = call()
		return nil
	}()
	if panicked != nil {
		return Panic, fmt.Sprint(panicked)
	}
	changed := !assert.ObjectsAreEqual(before, snapshot())
	switch {
	case changed && err != nil:
		return HalfWrite, err.Error()
	case changed:
		return Accepted, "wrote"
	case err == nil && answers:
		return Clear, "answered"
	case err == nil:
		return Accepted, "nothing written"
	case !answers && MatchesSentinel(err):
		return Clear, err.Error()
	}
	return NoSentinel, err.Error()
}

// Ctx is the context a row runs with: ctx, or nil for a row named with
// NilCtxPrefix.
func Ctx(row string, ctx context.Context) context.Context {
	if strings.HasPrefix(row, NilCtxPrefix) {
		return nil
	}
	return ctx
}

// Totals counts a suite's outcomes for the line it logs.
type Totals struct {
	suite string
	count map[Outcome]int
	tried int
}

// NewTotals starts the totals of the suite named.
func NewTotals(suite string) *Totals { return &Totals{suite: suite, count: map[Outcome]int{}} }

// Check counts one row's outcome and asserts it is Clear. A row that names
// a known open problem, and still fails, is counted and skipped.
func (s *Totals) Check(t *testing.T, known string, got Outcome, detail string) {
	t.Helper()
	s.tried++
	s.count[got]++
	if known != "" && got != Clear {
		t.Skipf("known: %s (%s: %s)", known, got, detail)
	}
	assert.Equal(t, Clear, got, "%s", detail)
}

// Log writes the suite's totals line.
func (s *Totals) Log(t testing.TB) {
	t.Helper()
	t.Logf("%s bad-input suite: %d tried, %d clear error, %d panic, %d half-write, %d accepted, %d no sentinel",
		s.suite, s.tried, s.count[Clear], s.count[Panic], s.count[HalfWrite], s.count[Accepted], s.count[NoSentinel])
}

// Entry is the entry point a row aims at: its name without NilCtxPrefix,
// up to the first slash ("Desk.OpenIncident/empty title" aims at
// "Desk.OpenIncident").
func Entry(row string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(row, NilCtxPrefix), "/")
	return name
}

// Methods are the exported methods of each value's type, as
// "Type.Method" (the type without its pointer).
func Methods(values ...any) []string {
	var out []string
	for _, v := range values {
		typ := reflect.TypeOf(v)
		name := typ.Name()
		if typ.Kind() == reflect.Pointer {
			name = typ.Elem().Name()
		}
		for i := range typ.NumMethod() {
			out = append(out, name+"."+typ.Method(i).Name)
		}
	}
	return out
}

// AssertCovered asserts that every entry point in entries that exempt does
// not name has rows among rows (their names).
func AssertCovered(t testing.TB, rows, entries []string, exempt map[string]bool) {
	t.Helper()
	covered := map[string]bool{}
	for _, r := range rows {
		covered[Entry(r)] = true
	}
	for _, e := range entries {
		if !exempt[e] {
			assert.True(t, covered[e], "%s has no rows in the bad-input table", e)
		}
	}
}

// SQLite opens a SQLite store on a temporary file, closed when the test
// ends; options are passed on.
func SQLite(t testing.TB, options ...sqlite.Option) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pillars.db"), options...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}
