package operation_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// walk pages through a queue with pages of size and returns the numbers.
func walk(t *testing.T, size int, page func(storage.Paging) ([]*operation.Incident, string, error)) []string {
	t.Helper()
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 500, "the queue does not end")
		incs, next, err := page(storage.Paging{Limit: size, Cursor: cursor})
		require.NoError(t, err)
		require.LessOrEqual(t, len(incs), size)
		for _, x := range incs {
			got = append(got, x.Number)
		}
		if next == "" {
			return got
		}
		cursor = next
	}
}

// The caller's list holds exactly their incidents, open ones first, each
// group newest first (ties by id), whatever the page size.
func TestMyRequestedIncidents(t *testing.T) {
	f := newFixture(t)
	cora := itsm.Actor{ID: "cora", Roles: []string{"caller"}}
	type row struct {
		open bool
		at   time.Time
		id   string
		num  string
	}
	var rows []row
	for i := range 30 {
		if i%4 == 0 {
			f.clock.Advance(time.Minute) // several incidents share an opened time
		}
		caller := "carl"
		if i%5 == 4 {
			caller = "cora"
		}
		inc := f.open(t, func(x *operation.Incident) { x.CallerID = caller })
		var err error
		switch i % 6 {
		case 1:
			_, err = f.desk.StartIncident(as(ann), inc.ID, storage.Command{})
		case 2:
			_, err = f.desk.HoldIncident(as(ann), inc.ID, operation.HoldAwaitingCaller, storage.Command{})
		case 3:
			_, err = f.desk.ResolveIncident(as(ann), inc.ID, operation.ResolvedPermanently, "x", storage.Command{})
		case 4:
			_, err = f.desk.CancelIncident(as(ann), inc.ID, storage.Command{Reason: "duplicate"})
		case 5:
			if _, err = f.desk.ResolveIncident(as(ann), inc.ID, operation.ResolvedPermanently, "x", storage.Command{}); err == nil {
				_, err = f.desk.CloseIncident(as(ann), inc.ID, storage.Command{})
			}
		}
		require.NoError(t, err)
		if caller == "carl" {
			rows = append(rows, row{i%6 < 3, inc.CreatedAt, inc.ID, inc.Number})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if a.open != b.open {
			if a.open {
				return -1
			}
			return 1
		}
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	var want []string
	for _, r := range rows {
		want = append(want, r.num)
	}
	for _, size := range []int{1, 2, 5, 9, 50} {
		got := walk(t, size, func(p storage.Paging) ([]*operation.Incident, string, error) {
			return f.desk.MyRequestedIncidents(as(carl), p)
		})
		assert.Equal(t, want, got, "page size %d", size)
	}
	coras := walk(t, 50, func(p storage.Paging) ([]*operation.Incident, string, error) {
		return f.desk.MyRequestedIncidents(as(cora), p)
	})
	assert.Len(t, coras, 6)
	assert.Empty(t, slices.DeleteFunc(coras, func(n string) bool { return !slices.Contains(want, n) }), "no incident of carl's")

	_, _, err := f.desk.MyRequestedIncidents(context.Background(), storage.Paging{})
	require.ErrorIs(t, err, itsm.ErrForbidden)
	_, _, err = f.desk.MyRequestedIncidents(as(carl), storage.Paging{Limit: storage.MaxLimit + 1})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	// A cursor of another queue (another number of index walks) is refused.
	for range 2 {
		f.open(t, func(x *operation.Incident) { x.AssignmentGroup, x.AssignedTo = "network", "ann" })
	}
	_, next, err := f.desk.MyOpenIncidents(as(ann), storage.Paging{Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, next)
	_, _, err = f.desk.MyRequestedIncidents(as(carl), storage.Paging{Cursor: next})
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// pagedWatcher serves fixed ids a page at a time, as the SLA engine does.
type pagedWatcher struct {
	ids   []string
	fail  error
	calls *int
}

func (w pagedWatcher) BreachingBefore(_ context.Context, kind string, _ time.Time, p storage.Paging) ([]string, string, error) {
	limit, cursor := p.Limit, p.Cursor
	if w.calls != nil {
		*w.calls++
	}
	if w.fail != nil {
		return nil, "", w.fail
	}
	if kind != operation.KindIncident || limit < 1 {
		return nil, "", itsm.Invalidf("bad call: kind %q limit %d", kind, limit)
	}
	start := 0
	if cursor != "" {
		start, _ = strconv.Atoi(cursor)
	}
	end := min(start+limit, len(w.ids))
	next := ""
	if end < len(w.ids) {
		next = strconv.Itoa(end)
	}
	return w.ids[start:end], next, nil
}

// failingDirectory fails every membership question.
type failingDirectory struct{}

func (failingDirectory) IsMember(context.Context, string, string) (bool, error) {
	return false, errors.New("directory down")
}

func (failingDirectory) Members(context.Context, string) ([]string, error) {
	return nil, errors.New("directory down")
}

// An agent's breaching-soon queue keeps the SLA pillar's order but only the
// open incidents of the agent's groups that the agent may read, whatever
// the page size. Membership is the actor's groups, as for every read: an
// incident assigned to ann in a group she is not in is not hers to read.
func TestBreachingSoonInMyGroups(t *testing.T) {
	// Incidents are opened without a directory check: "other" has no
	// members but ann.
	f := newFixture(t, func(c *operation.Config) { c.Directory = nil })
	type spec struct {
		group, who string
		resolve    bool
	}
	specs := []spec{{"network", "", false}, {"servers", "", false}, {"other", "ann", false}, {"network", "", true},
		{"other", "", false}, {"servers", "bob", false}, {"", "", false}}
	var ids []string
	var nobodys string            // an open incident of group "other", not assigned
	want := map[string][]string{} // actor -> numbers in SLA order
	mineFor := map[string]func(s spec) bool{
		"ann": func(s spec) bool { return s.group == "network" },
		"bob": func(s spec) bool { return s.group == "network" || s.group == "servers" },
		// dan has no groups on his actor: the Directory says he is in
		// servers, but reads follow the actor's groups.
		"dan": func(s spec) bool { return false },
	}
	for i := range 60 {
		s := specs[i%len(specs)]
		inc := f.open(t, func(x *operation.Incident) { x.AssignmentGroup, x.AssignedTo = s.group, s.who })
		if s.resolve {
			_, err := f.desk.ResolveIncident(as(ann), inc.ID, operation.ResolvedPermanently, "x", storage.Command{})
			require.NoError(t, err)
		}
		ids = append(ids, inc.ID)
		if s.group == "other" && s.who == "" {
			nobodys = inc.ID
		}
		if i%9 == 0 {
			ids = append(ids, inc.ID, itsm.NewID()) // a second clock, and a record deleted meanwhile
		}
		for who, mine := range mineFor {
			if !s.resolve && mine(s) {
				want[who] = append(want[who], inc.Number)
			}
		}
	}
	dir := directory{"network": {"ann", "bob"}, "servers": {"bob", "dan"}}
	desk, err := operation.New(context.Background(), f.store, operation.Config{Clock: f.clock, Directory: dir, SLA: pagedWatcher{ids: ids}})
	require.NoError(t, err)
	actors := map[string]itsm.Actor{"ann": ann, "bob": bob, "dan": {ID: "dan", Roles: []string{"agent"}}}
	for who, a := range actors {
		for _, size := range []int{1, 4, 50} {
			got := walk(t, size, func(p storage.Paging) ([]*operation.Incident, string, error) {
				return desk.BreachingSoonInMyGroups(as(a), time.Hour, p)
			})
			// A record with two clocks may show on two pages, as in the SLA
			// pillar's own list; keep the first.
			var uniq []string
			for _, n := range got {
				if !slices.Contains(uniq, n) {
					uniq = append(uniq, n)
				}
			}
			assert.Equal(t, want[who], uniq, "%s, page size %d", who, size)
		}
	}

	// Far down the SLA list: a page reads a bounded number of SLA pages,
	// may come back empty with a cursor, and the walk still ends.
	var far []string
	for range 300 {
		far = append(far, nobodys)
	}
	calls := 0
	desk2, err := operation.New(context.Background(), f.store, operation.Config{Clock: f.clock, SLA: pagedWatcher{ids: append(far, ids[0]), calls: &calls}})
	require.NoError(t, err)
	page, next, err := desk2.BreachingSoonInMyGroups(as(ann), time.Hour, storage.Paging{Limit: 5})
	require.NoError(t, err)
	assert.Empty(t, page)
	assert.NotEmpty(t, next)
	assert.LessOrEqual(t, calls, 20, "one queue page reads a bounded number of SLA pages")
	got := walk(t, 5, func(p storage.Paging) ([]*operation.Incident, string, error) {
		return desk2.BreachingSoonInMyGroups(as(ann), time.Hour, p)
	})
	require.Len(t, got, 1)

	// Refusals.
	_, _, err = f.desk.BreachingSoonInMyGroups(as(ann), time.Hour, storage.Paging{})
	require.ErrorIs(t, err, itsm.ErrInvalid, "no SLA watcher configured")
	_, _, err = desk.BreachingSoonInMyGroups(context.Background(), time.Hour, storage.Paging{})
	require.ErrorIs(t, err, itsm.ErrForbidden)
	_, _, err = desk.BreachingSoonInMyGroups(as(ann), time.Hour, storage.Paging{Limit: -1})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	down := errors.New("sla store down")
	desk3, err := operation.New(context.Background(), f.store, operation.Config{Clock: f.clock, SLA: pagedWatcher{fail: down}})
	require.NoError(t, err)
	_, _, err = desk3.BreachingSoonInMyGroups(as(ann), time.Hour, storage.Paging{})
	require.ErrorIs(t, err, down)
}
