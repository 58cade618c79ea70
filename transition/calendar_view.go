package transition

import (
	"context"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// CalendarView is the change calendar of a period as a change manager's
// portal shows it in one call: every open change planned over the period
// with its collisions and the windows it falls into, and the maintenance
// and freeze windows of the period.
type CalendarView struct {
	From    time.Time       `json:"from"`
	To      time.Time       `json:"to"`
	Depth   int             `json:"depth"`   // the collision depth asked for
	Entries []CalendarEntry `json:"entries"` // ordered by planned start, as Calendar orders changes
	Windows []*ChangeWindow `json:"windows"` // active maintenance then freeze windows overlapping the period, by start
}

// CalendarEntry is one change of a CalendarView.
type CalendarEntry struct {
	Change *Change `json:"change"`
	// Collisions is what Changes.Collisions answers for the change at the
	// view's depth.
	Collisions []Collision `json:"collisions,omitempty"`
	// Freezes are the active freeze windows, global or of the change's
	// services, that its planned window overlaps (a non-emergency change
	// there was scheduled before the freeze, or is not scheduled yet).
	Freezes []*ChangeWindow `json:"freezes,omitempty"`
	// Maintenance are the active maintenance windows, global or of its
	// services, that its planned window overlaps; InMaintenance says one of
	// them holds the whole planned window.
	Maintenance   []*ChangeWindow `json:"maintenance,omitempty"`
	InMaintenance bool            `json:"in_maintenance"`
}

// CalendarView returns the calendar of [from, to) with, for every change,
// its collisions at depth (0: the same CIs only) and its windows. It reads
// in batches rather than per change: the changes and windows with one query
// each, the CMDB neighbourhood of all the changes' CIs one level at a time
// (or from the Graph when the host configured one), and the affected-CI
// rows of all those CIs a thousand per query; only a colliding change
// planned outside the period costs a read of its own, for its number.
func (m *Changes) CalendarView(ctx context.Context, from, to time.Time, depth int) (*CalendarView, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("change calendar: nil context")
	}
	if depth < 0 || depth > storage.MaxTraverseDepth {
		return nil, (&itsm.ValidationError{Kind: "change calendar"}).Add("depth", "must be within 0..64")
	}
	if depth > 0 && m.cfg.CMDB == nil {
		return nil, (&itsm.ValidationError{Kind: "change calendar"}).Add("depth", "a depth needs a CMDB in ChangesConfig")
	}
	changes, windows, err := m.Calendar(ctx, from, to)
	if err != nil {
		return nil, err
	}
	v := &CalendarView{From: from, To: to, Depth: depth, Windows: windows, Entries: make([]CalendarEntry, len(changes))}
	if len(changes) == 0 {
		return v, nil
	}
	// The span every change of the view covers: collisions and windows
	// of a change running past the period lie in it.
	spanFrom, spanTo := changes[0].PlannedStart, changes[0].PlannedEnd
	for _, c := range changes {
		spanFrom = minTime(spanFrom, c.PlannedStart)
		spanTo = maxTime(spanTo, c.PlannedEnd)
	}
	spanWindows := windows
	if spanFrom.Before(from) || spanTo.After(to) {
		if spanWindows, err = m.windowsBetween(ctx, spanFrom, spanTo); err != nil {
			return nil, err
		}
	}
	dists, err := m.distances(ctx, changes, depth)
	if err != nil {
		return nil, err
	}
	rows, err := m.rowsOn(ctx, dists, spanFrom, spanTo)
	if err != nil {
		return nil, err
	}
	numbers := changeNumbers{m: m, known: make(map[string]string, len(changes))}
	for _, c := range changes {
		numbers.known[c.ID] = c.Number
	}
	for i, c := range changes {
		e := CalendarEntry{Change: c}
		for ci, d := range dists[i] {
			for _, r := range rows[ci] {
				if r.ChangeID == c.ID || !r.PlannedStart.Before(c.PlannedEnd) || !r.PlannedEnd.After(c.PlannedStart) {
					continue
				}
				col, err := numbers.collision(ctx, r, d)
				if err != nil {
					return nil, err
				}
				e.Collisions = append(e.Collisions, col)
			}
		}
		sortCollisions(e.Collisions)
		services := c.windowServices()
		for _, w := range spanWindows {
			if !w.Start.Before(c.PlannedEnd) || !w.End.After(c.PlannedStart) || w.ServiceID != "" && !slices.Contains(services, w.ServiceID) {
				continue
			}
			if w.WindowType == WindowFreeze {
				e.Freezes = append(e.Freezes, w)
				continue
			}
			e.Maintenance = append(e.Maintenance, w)
			if !w.Start.After(c.PlannedStart) && !w.End.Before(c.PlannedEnd) {
				e.InMaintenance = true
			}
		}
		v.Entries[i] = e
	}
	return v, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sortCollisions orders collisions by distance, then change number, then
// CI, as Collisions returns them.
func sortCollisions(out []Collision) {
	slices.SortFunc(out, func(a, b Collision) int {
		if a.Distance != b.Distance {
			return a.Distance - b.Distance
		}
		if a.Number != b.Number {
			return cmpString(a.Number, b.Number)
		}
		return cmpString(a.CIID, b.CIID)
	})
}

// windowsBetween returns the active maintenance windows, then the freeze
// windows, overlapping [from, to), each by start.
func (m *Changes) windowsBetween(ctx context.Context, from, to time.Time) ([]*ChangeWindow, error) {
	var out []*ChangeWindow
	for _, kind := range []string{WindowMaintenance, WindowFreeze} {
		ws, err := m.windows.All(ctx, storage.Query{Filters: []storage.Filter{storage.Eq("window_type", storage.String(kind)),
			storage.Eq("state", storage.String(WindowActive)), storage.Lt("start", storage.Time(to)), storage.Gt("end", storage.Time(from))},
			Sort: []storage.Sort{{Field: "start"}}, Limit: storage.MaxLimit})
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	return out, nil
}

// distances returns, per change, the distance of every CI within depth of
// its CIs (0 for its own), the smaller of the upstream and downstream walks,
// as Collisions computes it. It walks the Graph when the host gave one, the
// store's native traversal per change when it has one, and otherwise reads
// the neighbourhood of all the changes together, level by level.
func (m *Changes) distances(ctx context.Context, changes []*Change, depth int) ([]map[string]int, error) {
	out := make([]map[string]int, len(changes))
	for i, c := range changes {
		out[i] = make(map[string]int, len(c.CIIDs))
		for _, ci := range c.CIIDs {
			out[i][ci] = 0
		}
	}
	if depth == 0 {
		return out, nil
	}
	_, native := m.backend.(storage.Traverser)
	for _, dir := range []storage.Direction{Upstream, Downstream} {
		var walk func(start []string) ([]storage.Hop, error)
		switch {
		case m.cfg.Graph != nil:
			walk = func(start []string) ([]storage.Hop, error) { return m.cfg.Graph.Traverse(start, dir, nil, depth, 0) }
		case native:
			// One native walk (a recursive query) per change beats
			// reading the union's neighbourhood a hundred CIs at a time.
			walk = func(start []string) ([]storage.Hop, error) { return m.neighbours(ctx, start, dir, depth) }
		default:
			adj, err := m.neighbourhood(ctx, changes, dir, depth)
			if err != nil {
				return nil, err
			}
			walk = func(start []string) ([]storage.Hop, error) { return adj.walk(start, depth), nil }
		}
		for i, c := range changes {
			if len(c.CIIDs) == 0 {
				continue
			}
			hops, err := walk(c.CIIDs)
			if err != nil {
				return nil, err
			}
			for _, h := range hops {
				if d, ok := out[i][h.ID]; !ok || h.Depth < d {
					out[i][h.ID] = h.Depth
				}
			}
		}
	}
	return out, nil
}

// viewChunk is how many CIs one query of the view asks for. Far below
// storage.MaxInValues on purpose: a hundred CIs' relationships or rows fit
// in one page, so a SQL store runs the search once instead of once per page
// (each page re-runs it and sorts past the cursor), and the memory store
// checks each candidate against a hundred values rather than a thousand.
const viewChunk = 100

// adjacency is the part of the CMDB graph one direction of the view's
// walks can reach: the neighbours of every CI within depth-1 of any
// change's CIs.
type adjacency map[string][]string

// neighbourhood reads the adjacency the changes' walks in dir need, one
// level at a time from all their CIs together, a thousand CIs per query.
func (m *Changes) neighbourhood(ctx context.Context, changes []*Change, dir storage.Direction, depth int) (adjacency, error) {
	near, far := EdgeUpstream, EdgeDownstream
	if dir == Upstream {
		near, far = far, near
	}
	schema := m.cfg.CMDB.rels.Collection().Schema()
	fi := schema.FieldIndex(far)
	adj := adjacency{}
	var frontier []string
	for _, c := range changes {
		for _, ci := range c.CIIDs {
			if _, ok := adj[ci]; !ok {
				adj[ci] = nil
				frontier = append(frontier, ci)
			}
		}
	}
	for level := 0; level < depth && len(frontier) > 0; level++ {
		slices.Sort(frontier)
		var next []string
		for chunk := range slices.Chunk(frontier, viewChunk) {
			vals := make([]storage.Value, len(chunk))
			for i, id := range chunk {
				vals[i] = storage.String(id)
			}
			q := storage.Query{Kind: KindRelationship, Filters: []storage.Filter{storage.In(near, vals...)}, Limit: storage.MaxLimit}
			nearIdx := schema.FieldIndex(near)
			for {
				page, err := m.backend.Query(ctx, q)
				if err != nil {
					return nil, err
				}
				for _, d := range page.Docs {
					u, v := d.Fields[nearIdx].Str(), d.Fields[fi].Str()
					if v == "" {
						continue
					}
					adj[u] = append(adj[u], v)
					if _, ok := adj[v]; !ok && level+1 < depth {
						adj[v] = nil
						next = append(next, v)
					}
				}
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
			}
		}
		frontier = next
	}
	return adj, nil
}

// walk is a breadth-first search over the adjacency: each CI reached once,
// at its smallest depth (start CIs excluded).
func (a adjacency) walk(start []string, depth int) []storage.Hop {
	seen := make(map[string]bool, len(start))
	for _, s := range start {
		seen[s] = true
	}
	frontier := slices.Clone(start)
	var hops []storage.Hop
	for d := 1; d <= depth && len(frontier) > 0; d++ {
		var next []string
		for _, u := range frontier {
			for _, v := range a[u] {
				if !seen[v] {
					seen[v] = true
					next = append(next, v)
					hops = append(hops, storage.Hop{ID: v, Depth: d, Parent: u})
				}
			}
		}
		frontier = next
	}
	return hops
}

// rowsOn reads the active affected-CI rows whose planned window overlaps
// [from, to), the span of the view's changes, and keeps those on a CI of
// the distance maps, by CI. One query by time rather than one per hundred
// CIs: the rows overlapping the span are about as many as the changes of
// the view, while the CIs within depth of them are many more.
func (m *Changes) rowsOn(ctx context.Context, dists []map[string]int, from, to time.Time) (map[string][]*ChangeCI, error) {
	set := map[string]bool{}
	for _, d := range dists {
		for ci := range d {
			set[ci] = true
		}
	}
	rows, err := m.changeCIs.All(ctx, storage.Query{Filters: []storage.Filter{
		storage.Lt("planned_start", storage.Time(to)), storage.Gt("planned_end", storage.Time(from))}, Limit: storage.MaxLimit})
	if err != nil {
		return nil, err
	}
	out := map[string][]*ChangeCI{}
	for _, r := range rows {
		if r.State == RelActive && set[r.CIID] {
			out[r.CIID] = append(out[r.CIID], r)
		}
	}
	return out, nil
}
