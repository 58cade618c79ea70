package storage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

type searchFixture struct {
	accessFixture
	svc *storage.SearchService
}

func newSearchFixture(t *testing.T) searchFixture {
	t.Helper()
	f := newAccessFixture(t, nil, nil)
	svc, err := storage.NewSearchService(f.store, storage.TextSource(f.recs, "title", "comments", "work_notes"))
	require.NoError(t, err)
	return searchFixture{accessFixture: f, svc: svc}
}

// catchUp hands the service every event, as a stream consumer would.
func (f searchFixture) catchUp(t *testing.T) {
	t.Helper()
	evs, err := f.store.ReadEvents(storage.AllTenants(context.Background()), 0, 10000)
	require.NoError(t, err)
	require.NoError(t, f.svc.Handle(context.Background(), evs))
}

func (f searchFixture) numbers(t *testing.T, ctx context.Context, q string) []string {
	t.Helper()
	hits, _, err := f.svc.Search(ctx, q, nil, storage.Paging{})
	require.NoError(t, err)
	var out []string
	for _, h := range hits {
		out = append(out, h.Number)
	}
	return out
}

func TestSearchAuthorisesEveryHitAsGet(t *testing.T) {
	f := newSearchFixture(t)
	vpn := &call{Title: "VPN drops every hour", CallerID: "carl", Group: "network",
		Comments: []string{"happens at the office"}, WorkNotes: []string{"caller is a VIP"}}
	require.NoError(t, f.recs.Create(as(netAnn), vpn, storage.Command{}))
	printer := &call{Title: "Printer jams", CallerID: "cora", Group: "network"}
	require.NoError(t, f.recs.Create(as(netAnn), printer, storage.Command{}))
	f.catchUp(t)

	tests := []struct {
		name  string
		ctx   context.Context
		query string
		want  []string
	}{
		{"agent finds by title", as(netAnn), "vpn", []string{vpn.Number}},
		{"prefix of the last word", as(netAnn), "vpn dro", []string{vpn.Number}},
		{"comment text", as(carl), "office", []string{vpn.Number}},
		{"caller finds their own", as(carl), "vpn", []string{vpn.Number}},
		{"another caller finds nothing", as(cora), "vpn", nil},
		{"agent of another group finds nothing", as(dbDan), "vpn", nil},
		{"work note for the desk", as(netAnn), "vip", []string{vpn.Number}},
		{"work note hidden from the caller", as(carl), "vip", nil},
		{"every word must match", as(netAnn), "vpn printer", nil},
		{"number goes straight to the record", as(carl), strings.ToLower(vpn.Number), []string{vpn.Number}},
		{"number of a record the actor may not read", as(cora), vpn.Number, nil},
		{"FTS5 syntax is text", as(netAnn), `vpn" OR printer* NEAR(x) {title}: ^`, nil},
		{"tsquery operators are text", as(netAnn), `vpn & !printer | (jams) <-> :*`, nil},
		{"quoted operators around a word", as(netAnn), `"printer"*`, []string{printer.Number}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, f.numbers(t, tt.ctx, tt.query))
		})
	}
	hits, _, err := f.svc.Search(as(netAnn), vpn.Number, nil, storage.Paging{})
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.True(t, hits[0].Exact)
	assert.Equal(t, vpn.Title, hits[0].Title)
}

func TestSearchRefusesBadQueries(t *testing.T) {
	f := newSearchFixture(t)
	tests := []struct {
		name  string
		query string
		p     storage.Paging
	}{
		{"10 KB", strings.Repeat("a ", 5<<10), storage.Paging{}},
		{"just over the bound", strings.Repeat("x", storage.MaxSearchQuery+1), storage.Paging{}},
		{"no words", `"* () -- :*`, storage.Paging{}},
		{"too many words", strings.Repeat("w ", storage.MaxSearchTerms+1), storage.Paging{}},
		{"NUL", "vpn\x00", storage.Paging{}},
		{"not UTF-8", "vpn\xff", storage.Paging{}},
		{"limit", "vpn", storage.Paging{Limit: -1}},
		{"forged cursor", "vpn", storage.Paging{Cursor: "czE6MTox"}},
		{"garbage cursor", "vpn", storage.Paging{Cursor: "%%%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.svc.Search(as(netAnn), tt.query, nil, tt.p)
			assert.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
	_, _, err := f.svc.Search(as(netAnn), "vpn", []string{"nosuchkind"}, storage.Paging{})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, _, err = f.svc.Search(nil, "vpn", nil, storage.Paging{}) //nolint:staticcheck // a nil context is bad input
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestSearchPagesWithoutOverlapAndBindsTheCursor(t *testing.T) {
	f := newSearchFixture(t)
	for i := range 7 {
		c := &call{Title: fmt.Sprintf("disk full on host %d", i), CallerID: "carl", Group: "network"}
		require.NoError(t, f.recs.Create(as(netAnn), c, storage.Command{}))
	}
	f.catchUp(t)
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		hits, next, err := f.svc.Search(as(netAnn), "disk", nil, storage.Paging{Limit: 3, Cursor: cursor})
		require.NoError(t, err)
		pages++
		for _, h := range hits {
			assert.False(t, seen[h.ID], "hit %s on two pages", h.Number)
			seen[h.ID] = true
		}
		if next == "" {
			break
		}
		cursor = next
		_, _, err = f.svc.Search(itsm.WithTenant(as(netAnn), "acme"), "disk", nil, storage.Paging{Limit: 3, Cursor: cursor})
		assert.ErrorIs(t, err, itsm.ErrInvalid, "a cursor of one tenant under another")
		_, _, err = f.svc.Search(as(netAnn), "host", nil, storage.Paging{Limit: 3, Cursor: cursor})
		assert.ErrorIs(t, err, itsm.ErrInvalid, "a cursor of one query with another")
	}
	assert.Len(t, seen, 7)
	assert.Equal(t, 3, pages)
}

func TestSearchIsTenantScopedAndFollowsWrites(t *testing.T) {
	f := newSearchFixture(t)
	acme := func(a itsm.Actor) context.Context { return itsm.WithTenant(as(a), "acme") }
	c := &call{Title: "mailbox quota", CallerID: "carl", Group: "network"}
	require.NoError(t, f.recs.Create(acme(netAnn), c, storage.Command{}))
	f.catchUp(t)
	assert.Equal(t, []string{c.Number}, f.numbers(t, acme(netAnn), "mailbox"))
	assert.Nil(t, f.numbers(t, as(netAnn), "mailbox"), "the default tenant sees none of acme's")

	c, err := f.recs.Change(acme(netAnn), c.ID, storage.Command{}, func(x *call) error { x.Title = "calendar sync"; return nil })
	require.NoError(t, err)
	f.catchUp(t)
	assert.Nil(t, f.numbers(t, acme(netAnn), "mailbox"), "the old title is gone")
	assert.Equal(t, []string{c.Number}, f.numbers(t, acme(netAnn), "calendar"))

	// A record deleted behind the index's back is not handed out, and its
	// entry goes once its delete is handled.
	require.NoError(t, f.store.Update(itsm.WithTenant(context.Background(), "acme"), func(tx storage.Tx) error {
		return tx.Delete(context.Background(), "call", c.ID, c.Version)
	}))
	assert.Nil(t, f.numbers(t, acme(netAnn), "calendar"))
	require.NoError(t, f.svc.Handle(context.Background(), []itsm.Event{{Kind: "call", RecordID: c.ID, Tenant: "acme"}}))
	hits, err := f.svc.Index().SearchText(itsm.WithTenant(context.Background(), "acme"), storage.TextQuery{Kinds: []string{"call"}, Terms: []string{"calendar"}, Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, hits)

	n, err := f.svc.Reindex(itsm.WithTenant(context.Background(), "acme"))
	require.NoError(t, err)
	assert.Equal(t, 0, n)
}

func TestTextQueryCheckRefusesEngineSyntax(t *testing.T) {
	idx := storage.NewMemoryTextIndex()
	for _, term := range []string{`a"b`, "x*", "a b", "", "A", strings.Repeat("z", storage.MaxTermBytes+1)} {
		_, err := idx.SearchText(context.Background(), storage.TextQuery{Kinds: []string{"call"}, Terms: []string{term}, Limit: 1})
		assert.ErrorIs(t, err, itsm.ErrInvalid, "term %q", term)
	}
	err := idx.IndexText(context.Background(), []storage.TextEntry{{Kind: "call", ID: "not-a-uuid"}})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestMemoryTextIndexConformance(t *testing.T) {
	storagetest.TextIndex(t, func(t *testing.T) storage.TextIndexer { return storage.NewMemoryTextIndex() })
}

func TestMemorySearchServiceEndToEnd(t *testing.T) {
	storagetest.SearchScale(t, memory.New(), 2000)
}

// Writers and readers of the in-memory index at once (run with -race).
func TestMemoryTextIndexConcurrent(t *testing.T) {
	idx := storage.NewMemoryTextIndex()
	ctx := context.Background()
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range 200 {
				e := storage.TextEntry{Kind: "call", ID: itsm.NewID(), Title: fmt.Sprintf("disk %d full", w*1000+i)}
				if err := idx.IndexText(ctx, []storage.TextEntry{e}); err != nil {
					done <- err
					return
				}
				if _, err := idx.SearchText(ctx, storage.TextQuery{Kinds: []string{"call"}, Terms: []string{"disk"}, Limit: 5}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		require.NoError(t, <-done)
	}
	hits, err := idx.SearchText(ctx, storage.TextQuery{Kinds: []string{"call"}, Terms: []string{"full"}, Limit: storage.MaxLimit})
	require.NoError(t, err)
	assert.Len(t, hits, min(800, storage.MaxLimit))
}
