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
)

// call is a record with an audience (who it is for, which group works it)
// and an internal member, as an incident has.
type call struct {
	itsm.Record
	Title     string   `json:"title"`
	CallerID  string   `json:"caller_id"`
	Group     string   `json:"group,omitempty"`
	Priority  int64    `json:"priority"`
	Comments  []string `json:"comments,omitempty"`
	WorkNotes []string `json:"work_notes,omitempty"`
	Code      string   `json:"code,omitempty"`
}

type accessFixture struct {
	store *memory.Store
	recs  *storage.Records[call, *call]
}

func newAccessFixture(t *testing.T, az itsm.Authorizer, check func(context.Context, any, any) error) accessFixture {
	t.Helper()
	m, err := itsm.NewLifecycle[*call]("call").Initial("open").States("resolved").Final("closed").
		Event("resolve", "resolved", "open").Event("reopen", "open", "resolved").Event("close", "closed", "resolved").
		Compile()
	require.NoError(t, err)
	coll := storage.NewCollection[call]("call",
		storage.StringField("caller_id", func(c *call) string { return c.CallerID }),
		storage.StringField("group", func(c *call) string { return c.Group }),
		storage.IntField("priority", func(c *call) int64 { return c.Priority }),
	).WithAudience(itsm.Audience{Owner: "caller_id", Group: "group"}).
		WithInternal("work_notes").
		WithAction("comment", "comments").
		WithEventInputs("resolve", "code")
	store := memory.New()
	require.NoError(t, coll.Register(context.Background(), store))
	if az == nil {
		az = itsm.DefaultAuthorizer().Grant("caller", "call:comment", "call:reopen")
	}
	recs, err := storage.NewRecords(store, coll, m, storage.RecordsConfig{Prefix: "CALL", Authorizer: az, Check: check})
	require.NoError(t, err)
	return accessFixture{store: store, recs: recs}
}

var (
	carl    = itsm.Actor{ID: "carl", Roles: []string{"caller"}}
	cora    = itsm.Actor{ID: "cora", Roles: []string{"caller"}}
	netAnn  = itsm.Actor{ID: "ann", Roles: []string{"agent"}, Groups: []string{"network"}}
	dbDan   = itsm.Actor{ID: "dan", Roles: []string{"agent"}, Groups: []string{"database"}}
	admin   = itsm.Actor{ID: "root", Roles: []string{"admin"}}
	manager = itsm.Actor{ID: "mia", Roles: []string{itsm.RoleManager}}
)

func TestRecordsReadsAreAuthorisedPerRecord(t *testing.T) {
	f := newAccessFixture(t, nil, nil)
	c := &call{Title: "VPN", CallerID: "carl", Group: "network", WorkNotes: []string{"caller is a VIP"}}
	require.NoError(t, f.recs.Create(as(netAnn), c, storage.Command{}))

	tests := []struct {
		name      string
		ctx       context.Context
		readable  bool
		seesNotes bool
	}{
		{"no actor", context.Background(), false, false},
		{"the caller", as(carl), true, false},
		{"another caller", as(cora), false, false},
		{"an agent of the group", as(netAnn), true, true},
		{"an agent outside it", as(dbDan), false, false},
		{"a manager", as(manager), true, true},
		{"an admin", as(admin), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.recs.Get(tt.ctx, c.ID)
			hist, herr := f.recs.History(tt.ctx, c.ID)
			list, lerr := f.recs.All(tt.ctx, storage.Query{})
			if !tt.readable {
				assert.ErrorIs(t, err, itsm.ErrForbidden)
				assert.Nil(t, got)
				assert.ErrorIs(t, herr, itsm.ErrForbidden)
				assert.Nil(t, hist)
				assert.ErrorIs(t, f.recs.Verify(tt.ctx, c.ID), itsm.ErrForbidden)
				if lerr == nil {
					assert.Empty(t, list, "a list never holds a record the actor may not read")
				} else {
					assert.ErrorIs(t, lerr, itsm.ErrForbidden)
				}
				return
			}
			require.NoError(t, err)
			require.NoError(t, herr)
			require.NoError(t, lerr)
			require.Len(t, list, 1)
			assert.NoError(t, f.recs.Verify(tt.ctx, c.ID), "the chain verifies whatever the actor sees")
			noted := func(evs []itsm.Event) bool {
				for _, ev := range evs {
					for _, ch := range ev.Changes {
						if ch.Field == "work_notes" {
							return true
						}
					}
				}
				return false
			}
			if tt.seesNotes {
				assert.Equal(t, []string{"caller is a VIP"}, got.WorkNotes)
				assert.Equal(t, []string{"caller is a VIP"}, list[0].WorkNotes)
				assert.True(t, noted(hist))
			} else {
				assert.Empty(t, got.WorkNotes, "internal members are blanked")
				assert.Empty(t, list[0].WorkNotes)
				assert.False(t, noted(hist), "nor are they in the history")
				assert.Equal(t, "VPN", got.Title)
			}
		})
	}
}

func TestRecordsListsKeepFullPages(t *testing.T) {
	// Callers are scoped by a filter the store applies: 60 of carl's calls
	// among 60 of cora's still give carl pages of 50.
	f := newAccessFixture(t, nil, nil)
	for i := range 120 {
		who := []string{"carl", "cora"}[i%2]
		require.NoError(t, f.recs.Create(as(netAnn), &call{Title: fmt.Sprint("call ", i), CallerID: who, Group: "network", Priority: int64(i % 4)}, storage.Command{}))
	}
	q := storage.Query{Sort: []storage.Sort{{Field: "priority"}}, Limit: 50}
	page, next, err := f.recs.Query(as(carl), q)
	require.NoError(t, err)
	require.Len(t, page, 50)
	require.NotEmpty(t, next)
	for _, c := range page {
		assert.Equal(t, "carl", c.CallerID)
	}
	q.Cursor = next
	rest, next, err := f.recs.Query(as(carl), q)
	require.NoError(t, err)
	assert.Len(t, rest, 10)
	assert.Empty(t, next)

	// A host rule that cannot be a filter is applied after the query, and
	// the page is refilled from the following ones.
	az := itsm.DefaultAuthorizer()
	az.AddRule("call", itsm.ActionRead, func(_ context.Context, req itsm.AccessRequest) string {
		if c, ok := req.Record.(*call); ok && c.Priority == 0 {
			return "priority 0 calls are restricted"
		}
		return ""
	})
	g := newAccessFixture(t, az, nil)
	for i := range 120 {
		require.NoError(t, g.recs.Create(as(netAnn), &call{Title: fmt.Sprint("call ", i), CallerID: "carl", Group: "network", Priority: int64(i % 4)}, storage.Command{}))
	}
	seen := map[string]bool{}
	q = storage.Query{Limit: 50}
	for pages := 0; ; pages++ {
		page, next, err := g.recs.Query(as(carl), q)
		require.NoError(t, err)
		if next != "" {
			assert.Len(t, page, 50, "a page that is not the last is full")
		}
		for _, c := range page {
			assert.NotZero(t, c.Priority)
			assert.False(t, seen[c.ID], "no record twice across pages")
			seen[c.ID] = true
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	assert.Len(t, seen, 90)
}

func TestRecordsWritesAreAuthorisedByWhatTheyChange(t *testing.T) {
	f := newAccessFixture(t, nil, nil)
	c := &call{Title: "VPN", CallerID: "carl", Group: "network", Priority: 3}
	require.NoError(t, f.recs.Create(as(netAnn), c, storage.Command{}))
	other := &call{Title: "mail", CallerID: "cora", Group: "network"}
	require.NoError(t, f.recs.Create(as(netAnn), other, storage.Command{}))

	edits := []struct {
		name   string
		actor  itsm.Actor
		id     string
		mutate func(*call) error
		want   error
	}{
		{"a caller comments on their own call", carl, c.ID, func(c *call) error { c.Comments = append(c.Comments, "still down"); return nil }, nil},
		{"a caller raises the priority with a comment", carl, c.ID, func(c *call) error {
			c.Comments, c.Priority = append(c.Comments, "urgent!"), 1
			return nil
		}, itsm.ErrForbidden},
		{"a caller moves the call to another caller", carl, c.ID, func(c *call) error { c.CallerID = "cora"; return nil }, itsm.ErrForbidden},
		{"a caller comments on another's call", carl, other.ID, func(c *call) error { c.Comments = append(c.Comments, "x"); return nil }, itsm.ErrForbidden},
		{"an agent outside the group edits", dbDan, c.ID, func(c *call) error { c.Priority = 1; return nil }, itsm.ErrForbidden},
		{"an agent of the group edits", netAnn, c.ID, func(c *call) error { c.Priority = 2; return nil }, nil},
	}
	for _, tt := range edits {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, f.store)
			_, err := f.recs.Change(as(tt.actor), tt.id, storage.Command{}, tt.mutate)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, before, snapshot(t, f.store), "a refused write writes nothing")
		})
	}

	// An event carries only its declared inputs: a caller allowed to reopen
	// cannot rewrite the call with it.
	_, err := f.recs.Fire(as(netAnn), c.ID, "resolve", storage.Command{}, func(c *call) error { c.Code = "fixed"; return nil })
	require.NoError(t, err)
	before := snapshot(t, f.store)
	_, err = f.recs.Fire(as(carl), c.ID, "reopen", storage.Command{}, func(c *call) error { c.Priority = 1; return nil })
	require.ErrorIs(t, err, itsm.ErrForbidden)
	assert.Equal(t, before, snapshot(t, f.store))
	_, err = f.recs.Fire(as(carl), c.ID, "reopen", storage.Command{Reason: "not fixed"}, nil)
	require.NoError(t, err)
}

func TestRecordsCommandChecks(t *testing.T) {
	refuseTitleChange := func(_ context.Context, before, after any) error {
		if b, ok := before.(*call); ok && b.Title != after.(*call).Title {
			return (&itsm.ValidationError{Kind: "call", ID: b.ID}).Add("title", "is set once")
		}
		return nil
	}
	f := newAccessFixture(t, nil, refuseTitleChange)
	c := &call{Title: "VPN", CallerID: "carl", Group: "network"}
	require.NoError(t, f.recs.Create(as(netAnn), c, storage.Command{}))

	tests := []struct {
		name   string
		cmd    storage.Command
		mutate func(*call) error
		want   error
	}{
		{"a stale version", storage.Command{IfVersion: c.Version + 5}, func(c *call) error { c.Priority = 1; return nil }, itsm.ErrConflict},
		{"a negative version", storage.Command{IfVersion: -1}, func(c *call) error { c.Priority = 1; return nil }, itsm.ErrInvalid},
		{"a reason over the bound", storage.Command{Reason: strings.Repeat("x", storage.MaxReason+1)}, func(c *call) error { c.Priority = 1; return nil }, itsm.ErrInvalid},
		{"a reason with NUL", storage.Command{Reason: "a\x00b"}, func(c *call) error { c.Priority = 1; return nil }, itsm.ErrInvalid},
		{"a reason not UTF-8", storage.Command{Reason: "\xff"}, func(c *call) error { c.Priority = 1; return nil }, itsm.ErrInvalid},
		{"text not UTF-8", storage.Command{}, func(c *call) error { c.Comments = append(c.Comments, "caf\xe9"); return nil }, itsm.ErrInvalid},
		{"text with NUL", storage.Command{}, func(c *call) error { c.Title = "a\x00b"; return nil }, itsm.ErrInvalid},
		{"an edit function that panics", storage.Command{}, func(*call) error { panic("boom") }, itsm.ErrInvalid},
		{"an invariant the host checks", storage.Command{}, func(c *call) error { c.Title = "renamed"; return nil }, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, f.store)
			_, err := f.recs.Change(as(netAnn), c.ID, tt.cmd, tt.mutate)
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, before, snapshot(t, f.store))
		})
	}
	got, err := f.recs.Change(as(netAnn), c.ID, storage.Command{IfVersion: c.Version, Reason: strings.Repeat("x", storage.MaxReason)},
		func(c *call) error { c.Priority = 1; return nil })
	require.NoError(t, err, "the version the caller saw, a reason at the bound")
	assert.Equal(t, c.Version+1, got.Version)
	require.ErrorIs(t, f.recs.Create(as(netAnn), &call{Title: "caf\xe9"}, storage.Command{}), itsm.ErrInvalid)
}

// snapshot is every document and event of the store, to compare before and
// after a refused command.
func snapshot(t *testing.T, s *memory.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	page, err := s.Query(ctx, storage.Query{Kind: "call", Limit: storage.MaxLimit})
	require.NoError(t, err)
	for _, d := range page.Docs {
		fmt.Fprintf(&b, "%s %d %s\n", d.ID, d.Version, d.Data)
	}
	evs, err := s.ReadEvents(ctx, 0, 10000)
	require.NoError(t, err)
	for _, ev := range evs {
		fmt.Fprintf(&b, "%d %s %s\n", ev.Seq, ev.RecordID, ev.Name)
	}
	return b.String()
}
