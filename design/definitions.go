package design

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// The record kinds of SLA definitions and business calendars kept in the
// store, and of the snapshot of each of their versions that running clocks
// go on reading after the record changes.
const (
	DefinitionKind        = "sla_definition"
	CalendarKind          = "sla_calendar"
	DefinitionVersionKind = "sla_definition_version"
	CalendarVersionKind   = "sla_calendar_version"
)

// The states of a definition record: an active definition starts clocks;
// a retired one starts none, while the clocks it started run on under the
// version they started with.
const (
	DefinitionActive  = "active"
	DefinitionRetired = "retired"
)

// SLADefinition is a Definition kept as a record of the design pillar, per
// tenant: each save is a new version with its event in the audit trail.
// Its record id derives from the tenant and the definition's ID
// (DefinitionRecordID), so Definition.ID stays the stable name clocks
// refer to; renaming is a change of Definition.Name.
type SLADefinition struct {
	itsm.Record
	Definition Definition `json:"definition"`
}

// Validate checks what a definition record needs without the engine: the
// full check (calendars, custom fields, overlaps) is SaveDefinition's.
func (r *SLADefinition) Validate() error {
	verr := &itsm.ValidationError{Kind: DefinitionKind, ID: r.Definition.ID}
	if r.Definition.ID == "" {
		verr.Add("definition.id", "is required")
	}
	return verr.Err()
}

// SLACalendar is a business calendar kept as a record of the design
// pillar, per tenant, in its JSON form (calendar.Spec): hours, zone,
// holidays and closures. Its record id derives from the tenant and the
// calendar's name (CalendarRecordID).
type SLACalendar struct {
	itsm.Record
	Spec calendar.Spec `json:"spec"`
}

// Validate compiles the calendar.
func (r *SLACalendar) Validate() error {
	_, err := compileSpec(r.Spec)
	return err
}

// definitionVersion is the immutable snapshot of one version of a
// definition record.
type definitionVersion struct {
	itsm.Record
	Definition Definition `json:"definition"`
}

// calendarVersion is the immutable snapshot of one version of a calendar
// record.
type calendarVersion struct {
	itsm.Record
	Spec calendar.Spec `json:"spec"`
}

// ClockPolicy is what a change of a definition or calendar does to the
// clocks already running under it.
type ClockPolicy string

// The clock policies.
const (
	// KeepVersion leaves running clocks on the version they started
	// under; clocks that start after the change run under the new one.
	KeepVersion ClockPolicy = "keep"
	// RecomputeClocks replays the history of the record of every running
	// (or paused) clock under the new version, so each ends as a clock
	// that ran under it from the start, paused time included.
	RecomputeClocks ClockPolicy = "recompute"
)

// DefinitionRecordID returns the record id of the definition named id in
// tenant (itsm.DefaultTenant when empty).
func DefinitionRecordID(tenant, id string) string {
	return uuid.NewSHA1(idSpace, []byte("sla_definition/"+tenantName(tenant)+"/"+id)).String()
}

// CalendarRecordID returns the record id of the calendar named name in
// tenant (itsm.DefaultTenant when empty).
func CalendarRecordID(tenant, name string) string {
	return uuid.NewSHA1(idSpace, []byte("sla_calendar/"+tenantName(tenant)+"/"+name)).String()
}

func tenantName(t string) string {
	if t == "" {
		return itsm.DefaultTenant
	}
	return t
}

func versionID(kind, tenant, name string, version int64) string {
	return uuid.NewSHA1(idSpace, []byte(kind+"/"+tenantName(tenant)+"/"+name+"/"+strconv.FormatInt(version, 10))).String()
}

func compileSpec(s calendar.Spec) (*calendar.Calendar, error) {
	cfg, err := s.Config()
	if err != nil {
		return nil, err
	}
	return calendar.Compile(cfg)
}

// runDef is one definition of a tenant as Sync runs it: its current
// version, compiled, and whether it is still active.
type runDef struct {
	id         string
	active     bool
	version    int64
	def        *Definition
	cal        *calendar.Calendar
	calVersion int64
}

// defSet is the definitions of one tenant, by kind, as last loaded.
type defSet struct {
	tenant    string
	all       []*runDef
	byKind    map[string][]*runDef
	calendars map[string]int64 // current version of each record calendar
}

func (s *defSet) find(id string) *runDef {
	for _, rd := range s.all {
		if rd.id == id {
			return rd
		}
	}
	return nil
}

// verKey names one version of a definition or calendar of a tenant.
type verKey struct {
	tenant, name string
	version      int64
}

// registry holds the engine's definition and calendar records and a cache
// of their compiled versions (immutable once written, so never stale).
type registry struct {
	defs    *storage.Records[SLADefinition, *SLADefinition]
	cals    *storage.Records[SLACalendar, *SLACalendar]
	defVers *storage.Collection[definitionVersion, *definitionVersion]
	calVers *storage.Collection[calendarVersion, *calendarVersion]
	dict    *storage.Dictionary
	auth    itsm.Authorizer // what the engine's own writes of clocks are authorised by

	mu     sync.RWMutex
	vdefs  map[verKey]*Definition
	vcals  map[verKey]*calendar.Calendar
	seeded map[string]bool
	sets   map[string]*defSet // by tenant, as last loaded
}

func definitionLifecycle() *itsm.Lifecycle[*SLADefinition] {
	return itsm.NewLifecycle[*SLADefinition](DefinitionKind).Initial(DefinitionActive).States(DefinitionRetired).
		Event("retire", DefinitionRetired, DefinitionActive).
		Event("reactivate", DefinitionActive, DefinitionRetired)
}

func calendarLifecycle() *itsm.Lifecycle[*SLACalendar] {
	return itsm.NewLifecycle[*SLACalendar](CalendarKind).Initial(DefinitionActive).States(DefinitionRetired).
		Event("retire", DefinitionRetired, DefinitionActive).
		Event("reactivate", DefinitionActive, DefinitionRetired)
}

// newRegistry registers the definition and calendar kinds.
func newRegistry(ctx context.Context, b storage.Backend, cfg EngineConfig) (*registry, error) {
	r := &registry{dict: cfg.Dictionary, vdefs: map[verKey]*Definition{}, vcals: map[verKey]*calendar.Calendar{}, seeded: map[string]bool{}, sets: map[string]*defSet{}}
	dc := storage.NewCollection[SLADefinition](DefinitionKind)
	cc := storage.NewCollection[SLACalendar](CalendarKind)
	r.defVers = storage.NewCollection[definitionVersion](DefinitionVersionKind)
	r.calVers = storage.NewCollection[calendarVersion](CalendarVersionKind)
	for _, reg := range []interface {
		Register(context.Context, storage.Backend) error
	}{dc, cc, r.defVers, r.calVers} {
		if err := reg.Register(ctx, b); err != nil {
			return nil, err
		}
	}
	dm, err := definitionLifecycle().Compile()
	if err != nil {
		return nil, err
	}
	cm, err := calendarLifecycle().Compile()
	if err != nil {
		return nil, err
	}
	if r.auth = cfg.Authorizer; r.auth == nil {
		r.auth = itsm.DefaultAuthorizer()
	}
	rc := storage.RecordsConfig{Clock: cfg.Clock, Authorizer: cfg.Authorizer}
	if r.defs, err = storage.NewRecords(b, dc, dm, rc); err != nil {
		return nil, err
	}
	if r.cals, err = storage.NewRecords(b, cc, cm, rc); err != nil {
		return nil, err
	}
	return r, nil
}

// DefinitionRecords returns the command runner of definition records, for
// reads and their audit history (write them with SaveDefinition and
// RetireDefinition).
func (e *Engine) DefinitionRecords() *storage.Records[SLADefinition, *SLADefinition] {
	return e.reg.defs
}

// CalendarRecords returns the command runner of calendar records, for
// reads and their audit history (write them with SaveCalendar).
func (e *Engine) CalendarRecords() *storage.Records[SLACalendar, *SLACalendar] { return e.reg.cals }

// customOf returns whether kind's records of tenant have the custom field.
func (e *Engine) customOf(tenant, kind string) func(string) bool {
	return func(name string) bool {
		return slices.ContainsFunc(e.reg.dict.Fields(tenantName(tenant), kind), func(f storage.CustomField) bool { return f.Name == name })
	}
}

// seed writes the calendars and definitions declared in EngineConfig as
// records of the tenant of ctx, once per tenant and engine: one already
// kept there (edited by an admin since) is left as it is. A code
// definition that overlaps an active definition the tenant saved (another
// id) is refused with an *itsm.ValidationError naming both, as
// SaveDefinition refuses one, and is not written: every call that loads
// the tenant's definitions fails with it until one of them is retired or
// narrowed, instead of records running two clocks of one type and metric.
func (e *Engine) seed(ctx context.Context, tenant string) error {
	e.reg.mu.RLock()
	done := e.reg.seeded[tenant]
	e.reg.mu.RUnlock()
	if done {
		return nil
	}
	ctx = itsm.WithActor(ctx, e.actor)
	for _, name := range slices.Sorted(maps.Keys(e.calendars)) {
		spec, err := e.calendars[name].Spec()
		if err != nil {
			continue // holidays with no JSON form: the calendar stays code only
		}
		err = e.backend.Update(ctx, func(tx storage.Tx) error {
			rec := &SLACalendar{Record: itsm.Record{ID: CalendarRecordID(tenant, name)}, Spec: spec}
			if _, err := e.reg.cals.Collection().Get(ctx, tx, rec.ID); err == nil {
				return nil
			} else if !errors.Is(err, itsm.ErrNotFound) {
				return err
			}
			if err := e.reg.cals.CreateTx(ctx, tx, rec, storage.Command{Reason: "seeded from EngineConfig.Calendars"}); err != nil {
				return err
			}
			return e.reg.calVers.Put(ctx, tx, &calendarVersion{Record: itsm.Record{ID: versionID(CalendarKind, tenant, name, rec.Version)}, Spec: spec})
		})
		if err != nil && !errors.Is(err, itsm.ErrConflict) { // a conflict: another engine seeded it
			return fmt.Errorf("sla engine: seeding calendar %s: %w", name, err)
		}
	}
	saved, err := e.savedDefinitions(ctx)
	if err != nil {
		return fmt.Errorf("sla engine: seeding definitions: %w", err)
	}
	for i := range e.defs {
		d := e.defs[i]
		err := e.backend.Update(ctx, func(tx storage.Tx) error {
			rec := &SLADefinition{Record: itsm.Record{ID: DefinitionRecordID(tenant, d.ID)}, Definition: d}
			if _, err := e.reg.defs.Collection().Get(ctx, tx, rec.ID); err == nil {
				return nil
			} else if !errors.Is(err, itsm.ErrNotFound) {
				return err
			}
			// NewEngine checked the code's definitions among themselves;
			// the tenant's own, saved since, are checked here, before one
			// of the code's joins them.
			for _, o := range saved {
				if o.State == DefinitionActive && o.Definition.ID != d.ID && d.overlaps(&o.Definition) {
					return (&itsm.ValidationError{Kind: DefinitionKind, ID: d.ID}).Add("conditions",
						fmt.Sprintf("definition %q of EngineConfig.Definitions overlaps the tenant's active definition %q: a record could run two %s %s clocks (retire or narrow one of them)",
							d.ID, o.Definition.ID, d.Type, d.Metric))
				}
			}
			if err := e.reg.defs.CreateTx(ctx, tx, rec, storage.Command{Reason: "seeded from EngineConfig.Definitions"}); err != nil {
				return err
			}
			return e.reg.defVers.Put(ctx, tx, &definitionVersion{Record: itsm.Record{ID: versionID(DefinitionKind, tenant, d.ID, rec.Version)}, Definition: d})
		})
		if err != nil && !errors.Is(err, itsm.ErrConflict) { // a conflict: another engine seeded it
			return fmt.Errorf("sla engine: seeding definition %s: %w", d.ID, err)
		}
	}
	e.reg.mu.Lock()
	e.reg.seeded[tenant] = true
	e.reg.mu.Unlock()
	return nil
}

// savedDefinitions returns the definition records of the tenant of ctx.
func (e *Engine) savedDefinitions(ctx context.Context) ([]*SLADefinition, error) {
	docs, err := e.all(ctx, DefinitionKind)
	if err != nil {
		return nil, err
	}
	out := make([]*SLADefinition, len(docs))
	for i, doc := range docs {
		if out[i], err = e.reg.defs.Collection().Decode(doc); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// load reads the definitions and calendars of the tenant of ctx (seeding
// the code's definitions first) and compiles their current versions.
func (e *Engine) load(ctx context.Context) (*defSet, string, error) {
	tenant, err := storage.TenantOf(ctx, false)
	if err != nil {
		return nil, "", err
	}
	if err := e.seed(ctx, tenant); err != nil {
		return nil, "", err
	}
	set := &defSet{tenant: tenant, byKind: map[string][]*runDef{}, calendars: map[string]int64{}}
	calDocs, err := e.all(ctx, CalendarKind)
	if err != nil {
		return nil, "", err
	}
	for _, doc := range calDocs {
		c, err := e.reg.cals.Collection().Decode(doc)
		if err != nil {
			return nil, "", err
		}
		set.calendars[c.Spec.Name] = c.Version
	}
	defDocs, err := e.all(ctx, DefinitionKind)
	if err != nil {
		return nil, "", err
	}
	for _, doc := range defDocs {
		r, err := e.reg.defs.Collection().Decode(doc)
		if err != nil {
			return nil, "", err
		}
		k := verKey{tenant, r.Definition.ID, r.Version}
		e.reg.mu.Lock()
		d := e.reg.vdefs[k]
		if d == nil {
			d = &r.Definition // the current version is the record's own, normalized when saved
			e.reg.vdefs[k] = d
		}
		e.reg.mu.Unlock()
		calVersion := set.calendars[d.Calendar]
		cal, err := e.calendarAt(ctx, e.backend, tenant, d.Calendar, calVersion)
		if err != nil {
			return nil, "", err
		}
		rd := &runDef{id: d.ID, active: r.State == DefinitionActive, version: r.Version, def: d, cal: cal, calVersion: calVersion}
		set.all = append(set.all, rd)
		set.byKind[d.Kind] = append(set.byKind[d.Kind], rd)
	}
	e.reg.mu.Lock()
	e.reg.sets[tenant] = set
	e.reg.mu.Unlock()
	return set, tenant, nil
}

// all returns every document of kind in the tenant of ctx.
func (e *Engine) all(ctx context.Context, kind string) ([]storage.Document, error) {
	var out []storage.Document
	q := storage.Query{Kind: kind, Limit: storage.MaxLimit}
	for {
		page, err := e.backend.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Docs...)
		if page.Next == "" {
			return out, nil
		}
		q.Cursor = page.Next
	}
}

// definitionAt returns version v of the tenant's definition id, compiled:
// version 0 is the one declared in EngineConfig.Definitions. A version
// that is nowhere (a clock of a definition removed from the code and never
// kept as a record) is a definition with the default warnings, so that
// Check and Due go on serving its clock.
func (e *Engine) definitionAt(ctx context.Context, g storage.Getter, tenant, id string, v int64) (*Definition, error) {
	k := verKey{tenant, id, v}
	e.reg.mu.RLock()
	d := e.reg.vdefs[k]
	e.reg.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	if v == 0 {
		if i := slices.IndexFunc(e.defs, func(x Definition) bool { return x.ID == id }); i >= 0 {
			d = &e.defs[i]
		} else {
			d = &Definition{ID: id, Warnings: DefaultWarnings()}
		}
	} else {
		snap, err := e.reg.defVers.Get(ctx, g, versionID(DefinitionKind, tenant, id, v))
		switch {
		case errors.Is(err, itsm.ErrNotFound):
			d = &Definition{ID: id, Warnings: DefaultWarnings()}
		case err != nil:
			return nil, err
		default:
			d = &snap.Definition // normalized when it was saved
		}
	}
	e.reg.mu.Lock()
	e.reg.vdefs[k] = d
	e.reg.mu.Unlock()
	return d, nil
}

// calendarAt returns version v of the tenant's calendar name: round the
// clock for "", version 0 is the one given in EngineConfig.Calendars. A
// calendar that is nowhere runs round the clock.
func (e *Engine) calendarAt(ctx context.Context, g storage.Getter, tenant, name string, v int64) (*calendar.Calendar, error) {
	if name == "" {
		return e.always, nil
	}
	if v == 0 {
		if c := e.calendars[name]; c != nil {
			return c, nil
		}
		return e.always, nil
	}
	k := verKey{tenant, name, v}
	e.reg.mu.RLock()
	c := e.reg.vcals[k]
	e.reg.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	snap, err := e.reg.calVers.Get(ctx, g, versionID(CalendarKind, tenant, name, v))
	switch {
	case errors.Is(err, itsm.ErrNotFound):
		return e.always, nil
	case err != nil:
		return nil, err
	}
	if c, err = compileSpec(snap.Spec); err != nil {
		return nil, err
	}
	e.reg.mu.Lock()
	e.reg.vcals[k] = c
	e.reg.mu.Unlock()
	return c, nil
}

// clockRules returns the definition and calendar a stored clock runs
// under: the versions it keeps.
func (e *Engine) clockRules(ctx context.Context, g storage.Getter, tenant string, c *SLAClock) (*Definition, *calendar.Calendar, error) {
	d, err := e.definitionAt(ctx, g, tenant, c.DefinitionID, c.DefinitionVersion)
	if err != nil {
		return nil, nil, err
	}
	name := d.Calendar
	if d.Kind == "" { // a definition that is nowhere: the calendar the clock names
		name = c.Calendar
	}
	cal, err := e.calendarAt(ctx, g, tenant, name, c.CalendarVersion)
	if err != nil {
		return nil, nil, err
	}
	return d, cal, nil
}

func checkPolicy(p ClockPolicy) error {
	if p != KeepVersion && p != RecomputeClocks {
		return itsm.Invalidf("sla engine: clock policy %q is not %q or %q", p, KeepVersion, RecomputeClocks)
	}
	return nil
}

// SaveDefinition creates or changes the definition d.ID in the tenant of
// ctx, as the actor of ctx (authorised as any design command, on
// DefinitionKind): a new version of its record, with its event, and a
// snapshot of the version that clocks started under it keep reading. It
// is checked as NewEngine checks definitions, and more: a calendar that
// is neither given to the engine nor kept in the tenant, a condition on a
// field the kind does not have, a zero or negative target, and a
// definition that overlaps another active one of the tenant (same kind,
// type and metric, a shared priority and conditions that can hold
// together) are refused with an *itsm.ValidationError naming the
// definition, and nothing is written.
//
// policy says what happens to the clocks already running under the
// definition: KeepVersion leaves them on their version, RecomputeClocks
// recomputes them under the new one (see Recompute) and returns how many
// it wrote. A new definition, and a recomputing change of what starts a
// clock (kind, metric, conditions, priorities with a target, stop and
// cancel states, response signals), also start the clocks of the records
// that match it and have none, replayed from their histories as clocks
// that ran under it from the start (those counted too); this reads every
// record of the kind. A recompute that fails leaves the definition saved and the
// clocks it did not reach on their version: call Recompute again.
func (e *Engine) SaveDefinition(ctx context.Context, d Definition, policy ClockPolicy, cmd storage.Command) (*SLADefinition, int, error) {
	if ctx == nil {
		return nil, 0, itsm.Invalidf("sla engine: nil context")
	}
	if err := checkPolicy(policy); err != nil {
		return nil, 0, err
	}
	set, tenant, err := e.load(ctx)
	if err != nil {
		return nil, 0, err
	}
	known := map[string]bool{}
	for name := range e.calendars {
		known[name] = true
	}
	for name := range set.calendars {
		known[name] = true
	}
	nd, err := d.normalizeWith(known, e.customOf(tenant, d.Kind))
	if err != nil {
		return nil, 0, err
	}
	for _, o := range set.all {
		if o.id != nd.ID && o.active && nd.overlaps(o.def) {
			return nil, 0, (&itsm.ValidationError{Kind: DefinitionKind, ID: nd.ID}).Add("conditions",
				fmt.Sprintf("overlaps active definition %q: a record could run two %s %s clocks", o.id, nd.Type, nd.Metric))
		}
	}
	start := true // a record with no clock may start one under nd
	if was := set.find(nd.ID); was != nil {
		start = !sameStart(was.def, &nd)
	}
	rec := &SLADefinition{}
	created := false
	err = e.backend.Update(ctx, func(tx storage.Tx) error {
		id := DefinitionRecordID(tenant, nd.ID)
		was, err := e.reg.defs.Collection().Get(ctx, tx, id)
		created = false
		switch {
		case errors.Is(err, itsm.ErrNotFound):
			created = true
			rec = &SLADefinition{Record: itsm.Record{ID: id}, Definition: nd}
			err = e.reg.defs.CreateTx(ctx, tx, rec, cmd)
		case err == nil:
			rec, err = e.reg.defs.ChangeTx(ctx, tx, id, cmd, func(r *SLADefinition) error { r.Definition = nd; return nil })
			if err == nil && rec.Version == was.Version {
				return nil // no change: no new version
			}
		}
		if err != nil {
			return err
		}
		return e.reg.defVers.Put(ctx, tx, &definitionVersion{Record: itsm.Record{ID: versionID(DefinitionKind, tenant, nd.ID, rec.Version)}, Definition: nd})
	})
	if err != nil {
		return nil, 0, err
	}
	if policy == KeepVersion && !created {
		return rec, 0, nil
	}
	// A new definition starts the clocks of the open records it matches,
	// whatever the policy (no clock runs under it yet); a recompute also
	// starts those a change made match. A change that leaves alone what
	// decides whether a clock starts can start none: no record is read.
	set, _, err = e.load(ctx)
	if err != nil {
		return rec, 0, err
	}
	rd := set.find(nd.ID)
	if rd == nil {
		return rec, 0, &itsm.NotFoundError{Kind: DefinitionKind, ID: nd.ID}
	}
	n, err := e.recompute(ctx, set, []*runDef{rd}, policy == RecomputeClocks, created || start)
	return rec, n, err
}

// sameStart reports whether two versions of a definition start a clock on
// the same events of every record: the same kind, metric, stop and cancel
// states, response signals, conditions and priorities with a target (the
// targets themselves, the pause rules, the calendar and the warnings only
// change a clock once started).
func sameStart(a, b *Definition) bool {
	type start struct {
		Kind                    string
		Metric                  Metric
		Priorities, TargetsFor  []int
		Services, Groups        []string
		Conditions              []Condition
		StopStates, CancelState []string
		RespondOn               []ResponseSignal
	}
	of := func(d *Definition) start {
		return start{d.Kind, d.Metric, d.Priorities, slices.Sorted(maps.Keys(d.Targets)), d.Services, d.Groups,
			d.Conditions, d.StopStates, d.CancelStates, d.RespondOn}
	}
	return reflect.DeepEqual(of(a), of(b))
}

// RetireDefinition retires the definition id of the tenant of ctx: it
// starts no more clocks, while the clocks it started run on under the
// version they started with (Sync moves them, Check warns and breaches
// them). An unknown id is ErrNotFound, a retired one ErrInvalidTransition.
func (e *Engine) RetireDefinition(ctx context.Context, id string, cmd storage.Command) (*SLADefinition, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("sla engine: nil context")
	}
	if p := textProblem(id); p != "" || id == "" {
		return nil, (&itsm.ValidationError{Kind: DefinitionKind}).Add("id", "a definition id is required: "+p)
	}
	if _, _, err := e.load(ctx); err != nil {
		return nil, err
	}
	tenant, err := storage.TenantOf(ctx, false)
	if err != nil {
		return nil, err
	}
	var rec *SLADefinition
	err = e.backend.Update(ctx, func(tx storage.Tx) error {
		var err error
		if rec, err = e.reg.defs.FireTx(ctx, tx, DefinitionRecordID(tenant, id), "retire", cmd, nil); err != nil {
			return err
		}
		// The retired version runs the clocks Sync still moves: snapshot it
		// as every version is.
		return e.reg.defVers.Put(ctx, tx, &definitionVersion{Record: itsm.Record{ID: versionID(DefinitionKind, tenant, id, rec.Version)}, Definition: rec.Definition})
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// SaveCalendar creates or changes the calendar spec.Name in the tenant of
// ctx, as the actor of ctx: a new version of its record, and a snapshot
// that clocks running on it keep reading. A calendar given to the engine
// in code is a record seeded from it, changed here like any other. A spec
// that does not compile (a calendar with no working time among them) is
// refused with an *itsm.ValidationError and nothing is written. policy says what happens to the clocks running
// on it: KeepVersion leaves them on the version they started with,
// RecomputeClocks recomputes the running clocks of every definition that
// names the calendar on the new one and returns how many it wrote.
func (e *Engine) SaveCalendar(ctx context.Context, spec calendar.Spec, policy ClockPolicy, cmd storage.Command) (*SLACalendar, int, error) {
	if ctx == nil {
		return nil, 0, itsm.Invalidf("sla engine: nil context")
	}
	if err := checkPolicy(policy); err != nil {
		return nil, 0, err
	}
	if spec.Name == "" {
		return nil, 0, (&itsm.ValidationError{Kind: CalendarKind}).Add("name", "is required")
	}
	if _, err := compileSpec(spec); err != nil {
		return nil, 0, err
	}
	if _, _, err := e.load(ctx); err != nil {
		return nil, 0, err
	}
	tenant, err := storage.TenantOf(ctx, false)
	if err != nil {
		return nil, 0, err
	}
	rec := &SLACalendar{}
	err = e.backend.Update(ctx, func(tx storage.Tx) error {
		id := CalendarRecordID(tenant, spec.Name)
		was, err := e.reg.cals.Collection().Get(ctx, tx, id)
		switch {
		case errors.Is(err, itsm.ErrNotFound):
			rec = &SLACalendar{Record: itsm.Record{ID: id}, Spec: spec}
			err = e.reg.cals.CreateTx(ctx, tx, rec, cmd)
		case err == nil:
			rec, err = e.reg.cals.ChangeTx(ctx, tx, id, cmd, func(r *SLACalendar) error { r.Spec = spec; return nil })
			if err == nil && rec.Version == was.Version {
				return nil // no change: no new version
			}
		}
		if err != nil {
			return err
		}
		return e.reg.calVers.Put(ctx, tx, &calendarVersion{Record: itsm.Record{ID: versionID(CalendarKind, tenant, spec.Name, rec.Version)}, Spec: spec})
	})
	if err != nil || policy == KeepVersion {
		return rec, 0, err
	}
	set, _, err := e.load(ctx)
	if err != nil {
		return rec, 0, err
	}
	var defs []*runDef
	for _, rd := range set.all {
		if rd.def.Calendar == spec.Name {
			defs = append(defs, rd)
		}
	}
	n, err := e.recompute(ctx, set, defs, true, false)
	return rec, n, err
}
