package transition

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Window kinds.
const (
	WindowMaintenance = "maintenance" // when changes may be implemented
	WindowFreeze      = "freeze"      // blackout: no change but emergencies
)

// Window states and the event that withdraws one.
const (
	WindowActive        = "active"
	WindowWithdrawn     = "withdrawn"
	WindowEventWithdraw = "withdraw"
)

// ChangeWindow is a maintenance window or a freeze (blackout) window on the
// change calendar, for one service or, with an empty ServiceID, for all.
// ServiceID is matched against a change's service_id and against the
// business service CIs its risk assessment found impacted.
type ChangeWindow struct {
	itsm.Record
	Name       string    `json:"name"`
	WindowType string    `json:"window_type"` // maintenance or freeze
	ServiceID  string    `json:"service_id,omitempty"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Reason     string    `json:"reason,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the window's fields.
func (w *ChangeWindow) Validate() error {
	ve := &itsm.ValidationError{Kind: KindChangeWindow, ID: w.ID}
	checkFields(ve, w)
	if w.Name == "" {
		ve.Add("name", "is required")
	}
	if w.WindowType != WindowMaintenance && w.WindowType != WindowFreeze {
		ve.Add("window_type", fmt.Sprintf("%q is not maintenance or freeze", w.WindowType))
	}
	if w.Start.IsZero() || !w.End.After(w.Start) {
		ve.Add("end", "a window needs a start and an end after it")
	}
	return ve.Err()
}

// WindowLifecycle returns the window lifecycle: active, then withdrawn.
func WindowLifecycle() *itsm.Lifecycle[*ChangeWindow] {
	return itsm.NewLifecycle[*ChangeWindow](KindChangeWindow).
		Initial(WindowActive).Final(WindowWithdrawn).
		Event(WindowEventWithdraw, WindowWithdrawn, WindowActive)
}

// WindowCollection declares how windows are stored.
func WindowCollection() *storage.Collection[ChangeWindow, *ChangeWindow] {
	return storage.NewCollection[ChangeWindow](KindChangeWindow,
		storage.StringField("window_type", func(w *ChangeWindow) string { return w.WindowType }),
		storage.StringField("service_id", func(w *ChangeWindow) string { return w.ServiceID }),
		storage.TimeField("start", func(w *ChangeWindow) time.Time { return w.Start }),
		storage.TimeField("end", func(w *ChangeWindow) time.Time { return w.End }),
	)
}

// ChangeCI is one CI affected by an open, planned change, with the change's
// planned window: the row collision detection queries. Rows follow their
// change: they are written in the same unit of work as every change write,
// and removed when the change closes, is canceled or loses the CI.
type ChangeCI struct {
	itsm.Record
	ChangeID     string    `json:"change_id"`
	CIID         string    `json:"ci_id"`
	PlannedStart time.Time `json:"planned_start"`
	PlannedEnd   time.Time `json:"planned_end"`
}

// ChangeCILifecycle returns the lifecycle of affected-CI rows: active, then
// removed.
func ChangeCILifecycle() *itsm.Lifecycle[*ChangeCI] {
	return itsm.NewLifecycle[*ChangeCI](KindChangeCI).
		Initial(RelActive).Final(RelRemoved).
		Event(RelEventRemove, RelRemoved, RelActive)
}

// ChangeCICollection declares how affected-CI rows are stored; ci_id is
// empty once a row is removed, so collision queries never see it.
func ChangeCICollection() *storage.Collection[ChangeCI, *ChangeCI] {
	return storage.NewCollection[ChangeCI](KindChangeCI,
		storage.StringField("change_id", func(r *ChangeCI) string { return r.ChangeID }),
		storage.StringField("ci_id", func(r *ChangeCI) string {
			if r.State == RelRemoved {
				return ""
			}
			return r.CIID
		}),
		storage.TimeField("planned_start", func(r *ChangeCI) time.Time { return r.PlannedStart }),
		storage.TimeField("planned_end", func(r *ChangeCI) time.Time { return r.PlannedEnd }),
	)
}

// CreateWindow puts a maintenance or freeze window on the calendar.
func (m *Changes) CreateWindow(ctx context.Context, w *ChangeWindow, cmd storage.Command) error {
	if w != nil {
		w.Start, w.End = itsm.NormalizeTime(w.Start), itsm.NormalizeTime(w.End)
	}
	return m.windows.Create(ctx, w, cmd)
}

// WithdrawWindow takes a window off the calendar.
func (m *Changes) WithdrawWindow(ctx context.Context, id string, cmd storage.Command) (*ChangeWindow, error) {
	return m.windows.Fire(ctx, id, WindowEventWithdraw, cmd, nil)
}

// Windows returns the active windows of a kind (maintenance or freeze) that
// overlap [from, to) and apply to any of the services ("" for the global
// ones is always included).
func (m *Changes) Windows(ctx context.Context, kind string, from, to time.Time, services ...string) ([]*ChangeWindow, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("change window: nil context")
	}
	if kind != WindowMaintenance && kind != WindowFreeze {
		return nil, (&itsm.ValidationError{Kind: KindChangeWindow}).Add("window_type", fmt.Sprintf("%q is not maintenance or freeze", kind))
	}
	if from.IsZero() || !from.Before(to) {
		return nil, (&itsm.ValidationError{Kind: KindChangeWindow}).Add("to", "must be after a non-zero from")
	}
	svc := []storage.Value{storage.String("")}
	for _, s := range services {
		if s != "" {
			svc = append(svc, storage.String(s))
		}
	}
	q := storage.Query{Filters: []storage.Filter{
		storage.Eq("window_type", storage.String(kind)), storage.Eq("state", storage.String(WindowActive)),
		storage.In("service_id", svc...),
		storage.Lt("start", storage.Time(to)), storage.Gt("end", storage.Time(from)),
	}, Sort: []storage.Sort{{Field: "start"}}, Limit: storage.MaxLimit}
	return m.windows.All(ctx, q)
}

func (c *Change) windowServices() []string {
	return append([]string{c.ServiceID}, c.ImpactedServices...)
}

// freezeGuard refuses to schedule a non-emergency change whose planned
// window overlaps an active freeze window of its services or a global one.
func (m *Changes) freezeGuard(ctx context.Context, c *Change, _ itsm.Transition) error {
	if c.Type == TypeEmergency || c.PlannedStart.IsZero() {
		return nil
	}
	ws, err := m.Windows(ctx, WindowFreeze, c.PlannedStart, c.PlannedEnd, c.windowServices()...)
	if err != nil {
		return err
	}
	if len(ws) > 0 {
		w := ws[0]
		scope := "all services"
		if w.ServiceID != "" {
			scope = "service " + w.ServiceID
		}
		return fmt.Errorf("the planned window overlaps freeze %q (%s to %s, %s); only an emergency change may be scheduled into a freeze",
			w.Name, w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339), scope)
	}
	return nil
}

// maintenanceGuard, when the host requires it, refuses to schedule a normal
// change outside the maintenance windows of its services.
func (m *Changes) maintenanceGuard(ctx context.Context, c *Change, _ itsm.Transition) error {
	if !m.cfg.RequireMaintenanceWindow || c.Type != TypeNormal || c.PlannedStart.IsZero() {
		return nil
	}
	ws, err := m.Windows(ctx, WindowMaintenance, c.PlannedStart, c.PlannedEnd, c.windowServices()...)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if !w.Start.After(c.PlannedStart) && !w.End.Before(c.PlannedEnd) {
			return nil
		}
	}
	return fmt.Errorf("the planned window %s to %s is not inside a maintenance window", c.PlannedStart.Format(time.RFC3339), c.PlannedEnd.Format(time.RFC3339))
}

// syncCIs makes the affected-CI rows of the change match it: one active row
// per CI while the change is open and planned, none otherwise.
func (m *Changes) syncCIs(ctx context.Context, tx storage.Tx, c *Change) error {
	want := map[string]bool{}
	if c.Open() && !c.PlannedStart.IsZero() {
		for _, id := range c.CIIDs {
			want[id] = true
		}
	}
	// The state is checked here, not filtered on: a store without
	// statistics (SQLite) may pick the state index and walk every row.
	all, err := m.changeCIs.Collection().All(ctx, tx, storage.Query{Filters: []storage.Filter{storage.Eq("change_id", storage.String(c.ID))}, Limit: storage.MaxLimit})
	if err != nil {
		return err
	}
	var rows []*ChangeCI
	for _, r := range all {
		if r.State == RelActive {
			rows = append(rows, r)
		}
	}
	start, end := itsm.NormalizeTime(c.PlannedStart), itsm.NormalizeTime(c.PlannedEnd)
	for _, r := range rows {
		switch {
		case !want[r.CIID]:
			if _, err := m.changeCIs.FireTx(ctx, tx, r.ID, RelEventRemove, storage.Command{}, nil); err != nil {
				return err
			}
		case !r.PlannedStart.Equal(start) || !r.PlannedEnd.Equal(end):
			if _, err := m.changeCIs.ChangeTx(ctx, tx, r.ID, storage.Command{}, func(x *ChangeCI) error {
				x.PlannedStart, x.PlannedEnd = start, end
				return nil
			}); err != nil {
				return err
			}
		}
		delete(want, r.CIID)
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := m.changeCIs.CreateTx(ctx, tx, &ChangeCI{ChangeID: c.ID, CIID: id, PlannedStart: start, PlannedEnd: end}, storage.Command{}); err != nil {
			return err
		}
	}
	return nil
}

// Collision is another open change planned over an overlapping window on a
// CI the change touches or one connected to it.
type Collision struct {
	ChangeID     string    `json:"change_id"`
	Number       string    `json:"number"`
	CIID         string    `json:"ci_id"`    // the other change's CI
	Distance     int       `json:"distance"` // 0: a CI both changes touch; n: connected n relationships away
	PlannedStart time.Time `json:"planned_start"`
	PlannedEnd   time.Time `json:"planned_end"`
}

// Collisions lists the other open changes whose planned windows overlap
// the change's and that touch one of its CIs, or (with depth > 0) a CI
// connected to them within depth relationships in either direction. The
// list is ordered by distance, then change number, then CI.
func (m *Changes) Collisions(ctx context.Context, id string, depth int) ([]Collision, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("change: nil context")
	}
	if depth < 0 || depth > storage.MaxTraverseDepth {
		return nil, (&itsm.ValidationError{Kind: "collision check"}).Add("depth", "must be within 0..64")
	}
	c, err := m.changes.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.PlannedStart.IsZero() || len(c.CIIDs) == 0 {
		return nil, nil
	}
	dist := map[string]int{}
	for _, ci := range c.CIIDs {
		dist[ci] = 0
	}
	if depth > 0 {
		if m.cfg.CMDB == nil {
			return nil, (&itsm.ValidationError{Kind: "collision check"}).Add("depth", "a depth needs a CMDB in ChangesConfig")
		}
		for _, dir := range []storage.Direction{Upstream, Downstream} {
			hops, err := m.neighbours(ctx, c.CIIDs, dir, depth)
			if err != nil {
				return nil, err
			}
			for _, h := range hops {
				if d, ok := dist[h.ID]; !ok || h.Depth < d {
					dist[h.ID] = h.Depth
				}
			}
		}
	}
	cis := make([]string, 0, len(dist))
	for ci := range dist {
		cis = append(cis, ci)
	}
	slices.Sort(cis)
	var out []Collision
	numbers := changeNumbers{m: m, known: map[string]string{}}
	for chunk := range slices.Chunk(cis, storage.MaxInValues) {
		vals := make([]storage.Value, len(chunk))
		for i, ci := range chunk {
			vals[i] = storage.String(ci)
		}
		q := storage.Query{Filters: []storage.Filter{
			storage.In("ci_id", vals...),
			storage.Lt("planned_start", storage.Time(c.PlannedEnd)), storage.Gt("planned_end", storage.Time(c.PlannedStart)),
		}, Limit: storage.MaxLimit}
		for {
			rows, next, err := m.changeCIs.Query(ctx, q)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				if r.ChangeID == c.ID {
					continue
				}
				col, err := numbers.collision(ctx, r, dist[r.CIID])
				if err != nil {
					return nil, err
				}
				out = append(out, col)
			}
			if next == "" {
				break
			}
			q.Cursor = next
		}
	}
	sortCollisions(out)
	return out, nil
}

// changeNumbers names the changes a collision check finds, reading each
// one's human number from the store once.
type changeNumbers struct {
	m     *Changes
	known map[string]string // change id -> number
}

// collision describes the scheduled change of row r as a collision at the
// given CMDB distance.
func (n changeNumbers) collision(ctx context.Context, r *ChangeCI, distance int) (Collision, error) {
	num, ok := n.known[r.ChangeID]
	if !ok {
		other, err := n.m.changes.Get(ctx, r.ChangeID)
		if err != nil {
			return Collision{}, err
		}
		num = other.Number
		n.known[r.ChangeID] = num
	}
	return Collision{ChangeID: r.ChangeID, Number: num, CIID: r.CIID, Distance: distance,
		PlannedStart: r.PlannedStart, PlannedEnd: r.PlannedEnd}, nil
}

// neighbours walks the CMDB from the CIs, on the Graph when the host gave
// one, on the store otherwise.
func (m *Changes) neighbours(ctx context.Context, cis []string, dir storage.Direction, depth int) ([]storage.Hop, error) {
	if m.cfg.Graph != nil {
		return m.cfg.Graph.Traverse(cis, dir, nil, depth, 0)
	}
	return storage.Traverse(ctx, m.backend, m.cfg.CMDB.traverseParams(cis, dir, nil, depth, 0))
}

// Calendar returns the change calendar between from and to: the open
// changes whose planned windows overlap it (new to implement), ordered by
// planned start, and the active maintenance and freeze windows there.
// CalendarView adds each change's collisions and windows.
func (m *Changes) Calendar(ctx context.Context, from, to time.Time) ([]*Change, []*ChangeWindow, error) {
	if ctx == nil {
		return nil, nil, itsm.Invalidf("change calendar: nil context")
	}
	if !to.After(from) {
		return nil, nil, (&itsm.ValidationError{Kind: "change calendar"}).Add("to", "is not after from")
	}
	open := []storage.Value{}
	for _, s := range []string{ChangeNew, ChangeAssess, ChangeAuthorize, ChangeScheduled, ChangeImplement} {
		open = append(open, storage.String(s))
	}
	q := storage.Query{Filters: []storage.Filter{storage.In("state", open...),
		storage.Lt("planned_start", storage.Time(to)), storage.Gt("planned_end", storage.Time(from))},
		Sort: []storage.Sort{{Field: "planned_start"}}, Limit: storage.MaxLimit}
	var changes []*Change
	for {
		page, next, err := m.changes.Query(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		changes = append(changes, page...)
		if next == "" {
			break
		}
		q.Cursor = next
	}
	windows, err := m.windowsBetween(ctx, from, to)
	if err != nil {
		return nil, nil, err
	}
	return changes, windows, nil
}
