package design

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// EngineConfig configures an Engine.
type EngineConfig struct {
	// Definitions are the SLAs, OLAs and underpinning contracts declared in
	// code: seed data, written as definition records of each tenant at its
	// first Sync (see SaveDefinition) and from then on kept there, where
	// admins edit, retire and add definitions at run time.
	Definitions []Definition
	// Dictionary declares the custom fields of the records definitions run
	// on, which their conditions may name ("custom.<name>"); nil declares
	// none.
	Dictionary *storage.Dictionary
	// Calendars are the business calendars definitions name, declared in
	// code: seed data, like Definitions, written as calendar records of
	// each tenant (with their first version) at its first Sync and from
	// then on kept there, where SaveCalendar edits them. A calendar whose
	// holidays are no whole holiday sets (calendar.Calendar.Spec) has no
	// JSON form and stays code only. A definition without one runs round
	// the clock.
	Calendars []*calendar.Calendar
	// Clock tells the time of the clocks' events; the system clock when nil.
	Clock itsm.Clock
	// Authorizer checks the engine's writes; itsm.DefaultAuthorizer() when nil.
	Authorizer itsm.Authorizer
	// Actor is who the engine writes as. It needs the importer right, so
	// that clock events carry the time of the record event that moved them
	// (default: "sla-engine" with the importer role).
	Actor itsm.Actor
	// Name tells engines sharing a store apart; it names the checkpoint
	// (default "sla").
	Name string
	// BatchSize is how many events Sync reads at a time (default 500).
	BatchSize int
	// Instance names this engine among the engines checking one store; it
	// owns the leases Check takes (default: a random id, unique per Engine).
	Instance string
	// LeaseTTL is how long a lease Check takes on a due clock lasts before
	// another engine may take it over (default DefaultLeaseTTL).
	LeaseTTL time.Duration
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none. When it
	// is an SLAObserver too, it is told of the warnings and breaches Check
	// and Sync raise.
	Telemetry storage.Observer
}

// DefaultLeaseTTL is how long a clock Check claimed stays its own: long
// enough for one check, short enough that a crashed engine's clocks are
// soon checked by another.
const DefaultLeaseTTL = time.Minute

// Engine runs SLA clocks from the domain event log. Sync consumes the log
// incrementally from a checkpoint kept in the store and moves each record's
// clocks by replaying that record's history, so it is exact whether the
// record's transitions were live or imported with backdated times. Check
// raises warnings and breaches that fall due with time alone. It is safe
// for concurrent use; engines sharing a store and a Name share the
// checkpoint, so several application instances may each run Sync and Check
// (see Sync and Check).
type Engine struct {
	backend   storage.Backend
	defs      []Definition
	byKind    map[string][]int
	calendars map[string]*calendar.Calendar
	always    *calendar.Calendar
	clocks    *storage.Records[SLAClock, *SLAClock]
	points    *storage.Collection[checkpoint, *checkpoint]
	pointID   string
	name      string
	mu        sync.Mutex
	consumers map[string]*stream.Consumer // by tenant
	actor     itsm.Actor
	clock     itsm.Clock
	batch     int
	leases    *storage.Collection[lease, *lease]
	instance  string
	leaseTTL  time.Duration
	reg       *registry
	sla       SLAObserver      // nil: not observed
	observer  storage.Observer // EngineConfig.Telemetry; nil: none
	// positions of the fields Due reads in a clock document's Fields
	fState, fDefinition, fTaskKind, fTaskID, fDue, fNextCheck int
}

// checkpoint is the engine's position in the event log as engines of
// older releases kept it. Sync now keeps its position in its
// stream.Consumer's document; it reads this one only to resume from it on
// a store that has no consumer checkpoint yet.
type checkpoint struct {
	itsm.Record
	Seq int64 `json:"seq"`
}

// CheckpointKind is the document kind of engine checkpoints of older
// releases, read once to resume from (see Sync). The checkpoint and lease
// of Sync now live in a stream.ConsumerKind document named
// "sla_engine/" + EngineConfig.Name.
const CheckpointKind = "sla_checkpoint"

// lease is an engine's claim on one due clock, so that of several engines
// checking one store only one warns or breaches it. It is bookkeeping, not
// a record with a history: its id is the clock's, it is written with a
// version check (Collection.Put) and deleted in the unit of work that
// writes the checked clock, so a lease lost to a takeover makes that write
// fail.
type lease struct {
	itsm.Record
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// LeaseKind is the document kind of the leases Check takes on due clocks.
const LeaseKind = "sla_lease"

var idSpace = uuid.MustParse("6f0c3a52-4a0e-4d7e-9a43-3f1c2b9e8d10")

// NewEngine validates the definitions and registers the clock kinds with
// the backend. Every name the engine would store (definition ids, names,
// kinds, states, hold reasons, services, groups, calendar names, and the
// configuration's Name, Instance and Actor.ID) must be at most MaxText
// bytes of valid UTF-8 without NUL: anything else is refused here with
// ErrInvalid naming it, not met later by every Sync.
func NewEngine(ctx context.Context, b storage.Backend, cfg EngineConfig) (*Engine, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("sla engine: context and backend are required")
	}
	e := &Engine{backend: b, byKind: map[string][]int{}, calendars: map[string]*calendar.Calendar{},
		actor: cfg.Actor, clock: cfg.Clock, batch: cfg.BatchSize, instance: cfg.Instance, leaseTTL: cfg.LeaseTTL}
	e.sla, _ = cfg.Telemetry.(SLAObserver)
	e.observer = cfg.Telemetry
	if e.instance == "" {
		e.instance = uuid.NewString()
	}
	for _, f := range []struct{ name, val string }{{"name", cfg.Name}, {"instance", cfg.Instance}, {"actor id", cfg.Actor.ID}} {
		if p := textProblem(f.val); p != "" {
			return nil, itsm.Invalidf("sla engine: %s %.64q %s", f.name, f.val, p)
		}
	}
	if e.leaseTTL < 0 {
		return nil, itsm.Invalidf("sla engine: lease TTL %s is negative", e.leaseTTL)
	}
	if e.leaseTTL == 0 {
		e.leaseTTL = DefaultLeaseTTL
	}
	if e.clock == nil {
		e.clock = itsm.SystemClock{}
	}
	if e.actor.ID == "" {
		e.actor = itsm.Actor{ID: "sla-engine", Name: "SLA engine", Roles: []string{itsm.RoleImporter}}
	}
	if e.batch <= 0 {
		e.batch = 500
	}
	name := cfg.Name
	if name == "" {
		name = "sla"
	}
	e.pointID = uuid.NewSHA1(idSpace, []byte("checkpoint/"+name)).String()
	e.name, e.consumers = name, map[string]*stream.Consumer{}
	known := map[string]bool{}
	for i, c := range cfg.Calendars {
		if c == nil {
			return nil, itsm.Invalidf("sla engine: calendars[%d] is nil", i)
		}
		if p := textProblem(c.Name()); p != "" {
			return nil, itsm.Invalidf("sla engine: calendars[%d]: name %.64q %s", i, c.Name(), p)
		}
		if known[c.Name()] {
			return nil, itsm.Invalidf("sla engine: two calendars are named %q", c.Name())
		}
		known[c.Name()] = true
		e.calendars[c.Name()] = c
	}
	var all [7][]calendar.Range
	for d := range all {
		all[d] = []calendar.Range{{Start: 0, End: calendar.MinutesPerDay}}
	}
	always, err := calendar.Compile(calendar.Config{Name: "24x7", Week: all})
	if err != nil {
		return nil, err
	}
	e.always = always
	custom := func(kind string) func(string) bool {
		return func(name string) bool {
			return slices.ContainsFunc(cfg.Dictionary.Fields(itsm.DefaultTenant, kind), func(f storage.CustomField) bool { return f.Name == name })
		}
	}
	for _, d := range cfg.Definitions {
		nd, err := d.normalizeWith(known, custom(d.Kind))
		if err != nil {
			return nil, err
		}
		// Refused here, before anything is written, as SaveDefinition
		// refuses them at run time: a tenant would otherwise be seeded
		// with two clocks of one kind on a record.
		for i := range e.defs {
			o := &e.defs[i]
			if o.ID == nd.ID {
				return nil, (&itsm.ValidationError{Kind: DefinitionKind, ID: nd.ID}).Add("id",
					"is used twice in EngineConfig.Definitions")
			}
			if nd.overlaps(o) {
				return nil, (&itsm.ValidationError{Kind: DefinitionKind, ID: nd.ID}).Add("conditions",
					fmt.Sprintf("overlaps definition %q of EngineConfig.Definitions: a record could run two %s %s clocks", o.ID, nd.Type, nd.Metric))
			}
		}
		e.byKind[nd.Kind] = append(e.byKind[nd.Kind], len(e.defs))
		e.defs = append(e.defs, nd)
	}
	m, err := clockLifecycle().Compile()
	if err != nil {
		return nil, err
	}
	if e.reg, err = newRegistry(ctx, b, cfg); err != nil {
		return nil, err
	}
	coll := clockCollection()
	if err := coll.Register(ctx, b); err != nil {
		return nil, err
	}
	e.points = storage.NewCollection[checkpoint](CheckpointKind)
	if err := e.points.Register(ctx, b); err != nil {
		return nil, err
	}
	e.leases = storage.NewCollection[lease](LeaseKind, storage.TimeField("until", func(l *lease) time.Time { return l.Until }))
	if err := e.leases.Register(ctx, b); err != nil {
		return nil, err
	}
	sc := coll.Schema()
	e.fState, e.fDefinition, e.fTaskKind = sc.FieldIndex("state"), sc.FieldIndex("definition_id"), sc.FieldIndex("task_kind")
	e.fTaskID, e.fDue, e.fNextCheck = sc.FieldIndex("task_id"), sc.FieldIndex("due_at"), sc.FieldIndex("next_check_at")
	e.clocks, err = storage.NewRecords(b, coll, m, storage.RecordsConfig{Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry})
	if err != nil {
		return nil, err
	}
	// The code's definitions are seeded into the tenant of ctx now (the
	// default one when ctx names none), so that a store's first Sync or
	// command writes nothing the host did not ask for; other tenants are
	// seeded at their first Sync.
	if tenant, err := storage.TenantOf(ctx, false); err == nil && len(e.defs) > 0 {
		if err := e.seed(ctx, tenant); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Clocks returns the command runner of clock records, for reads and
// history.
func (e *Engine) Clocks() *storage.Records[SLAClock, *SLAClock] { return e.clocks }

// Definitions returns the definitions declared in code
// (EngineConfig.Definitions), with their defaults filled: the seed data.
// The definitions a tenant runs are its records (DefinitionRecords).
func (e *Engine) Definitions() []Definition { return slices.Clone(e.defs) }

// ClockID returns the id of the clock of a record under a definition: a
// name-based UUID, so the engine finds it without a query.
func ClockID(kind, recordID, definitionID string) string {
	return uuid.NewSHA1(idSpace, []byte(kind+"/"+recordID+"/"+definitionID)).String()
}

func (e *Engine) calendarOf(d *Definition) *calendar.Calendar {
	if d.Calendar == "" {
		return e.always
	}
	return e.calendars[d.Calendar]
}

// Checkpoint returns the sequence number of the last event Sync consumed
// in the tenant of ctx.
func (e *Engine) Checkpoint(ctx context.Context) (int64, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("sla engine: nil context")
	}
	c, err := e.consumer(ctx)
	if err != nil {
		return 0, err
	}
	return c.Checkpoint(ctx)
}

// oldCheckpoint reads the checkpoint an engine kept before it ran on a
// stream.Consumer (a document of CheckpointKind), so that a store that
// has one resumes from it.
func (e *Engine) oldCheckpoint(ctx context.Context) (int64, error) {
	cp, err := e.points.Get(ctx, e.backend, e.pointID)
	if errors.Is(err, itsm.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return cp.Seq, nil
}

// consumer returns the engine's stream consumer of the tenant of ctx,
// made on first use: the engine serves one tenant per call, as the records
// whose histories it replays and the clocks it writes belong to it.
func (e *Engine) consumer(ctx context.Context) (*stream.Consumer, error) {
	tenant, err := storage.TenantOf(ctx, false)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.consumers[tenant]; c != nil {
		return c, nil
	}
	tctx := itsm.WithTenant(ctx, tenant)
	from, err := e.oldCheckpoint(tctx)
	if err != nil {
		return nil, err
	}
	c, err := stream.NewConsumer(tctx, e.backend, stream.ConsumerConfig{
		Name: "sla_engine/" + e.name, TxHandler: stream.TxHandlerFunc(e.handleTx), Batch: min(e.batch, stream.MaxBatch),
		Lease: max(e.leaseTTL, stream.MinLease), Clock: e.clock, Instance: e.instance, Tenant: tenant, From: from})
	if err != nil {
		return nil, err
	}
	e.consumers[tenant] = c
	return c, nil
}

// handledKey carries a *syncBatch from Sync to handleTx.
type handledKey struct{}

// syncBatch is what a committed unit of Sync's hands back: the count of
// record events it handled and the SLA thresholds its replays raised
// (Sync reports them to the SLAObserver only once the unit is committed,
// so a unit run again after a conflict counts nothing twice).
type syncBatch struct {
	handled int
	reached []slaReached
}

// slaReached is a threshold a clock of a definition reached (0: breach).
type slaReached struct {
	def       string
	threshold int
}

// setKey carries the definitions Sync loaded to handleTx.
type setKey struct{}

// Sync consumes the event log of the tenant of ctx from the checkpoint to
// its end and moves the clocks of every record an event concerns; it
// returns how many record events of the definitions' kinds it handled (the
// clocks' own events are consumed and skipped). It runs on a
// stream.Consumer with a TxHandler: each batch of events is handled in one
// unit of work with the checkpoint, so a failure leaves the engine where
// it was and Sync can simply be called again. A record event outside a
// calendar's horizon is an error that stops Sync at its batch until the
// calendar is widened: the engine refuses to guess a clock.
//
// Engines sharing a store and a Name share the checkpoint and a lease
// (EngineConfig.LeaseTTL, owned by EngineConfig.Instance): while another
// engine holds it, Sync returns at once (that engine is consuming); once
// it runs out, the next Sync takes over. A unit that lost a race with
// Check's write of a clock is run again on fresh reads, so instances may
// all run Sync and Check. A checkpoint document of an engine of an older
// release (CheckpointKind) is where a store without a consumer checkpoint
// resumes.
func (e *Engine) Sync(ctx context.Context) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("sla engine: nil context")
	}
	ctx = itsm.WithActor(ctx, e.actor)
	c, err := e.consumer(ctx)
	if err != nil {
		return 0, err
	}
	set, _, err := e.load(ctx)
	if err != nil {
		return 0, err
	}
	ctx = context.WithValue(ctx, setKey{}, set)
	total, conflicts, busy := 0, 0, 0
	for {
		var batch syncBatch
		n, err := c.RunOnce(context.WithValue(ctx, handledKey{}, &batch))
		switch {
		case err == nil && n == 0:
			return total, nil
		case err == nil:
			total += batch.handled
			for _, r := range batch.reached {
				e.sla.SLAReached(ctx, r.def, r.threshold)
			}
			conflicts, busy = 0, 0
		case errors.Is(err, stream.ErrLeased), errors.Is(err, stream.ErrLeaseLost):
			return total, nil // another engine is consuming
		case errors.Is(err, itsm.ErrBusy) && busy < maxBusy:
			busy++
			if err := pause(ctx, busyWait); err != nil {
				return total, err
			}
		case errors.Is(err, itsm.ErrConflict) && conflicts < 8:
			conflicts++ // a clock Check wrote meanwhile: run the batch again
		default:
			return total, err
		}
	}
}

// maxBusy and busyWait bound how long Sync waits for a store that asks to
// retry shortly (itsm.ErrBusy) before returning its error.
const (
	maxBusy  = 100
	busyWait = 20 * time.Millisecond
)

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// handleTx moves, in the consumer's unit of work, the clocks of every
// record event of the batch of the definitions' kinds.
func (e *Engine) handleTx(ctx context.Context, tx storage.Tx, evs []itsm.Event) error {
	set, _ := ctx.Value(setKey{}).(*defSet)
	if set == nil {
		var err error
		if set, _, err = e.load(ctx); err != nil {
			return err
		}
	}
	batch, _ := ctx.Value(handledKey{}).(*syncBatch)
	if batch != nil {
		batch.reached = batch.reached[:0] // a unit run again starts over
	}
	handled := 0
	for _, ev := range evs {
		if len(set.byKind[ev.Kind]) == 0 {
			continue
		}
		if err := e.handle(ctx, tx, set, ev); err != nil {
			return err
		}
		handled++
	}
	if batch != nil {
		batch.handled = handled
	}
	return nil
}

// handle replays the history of ev's record up to ev and writes each
// definition's clock through tx.
func (e *Engine) handle(ctx context.Context, tx storage.Tx, set *defSet, ev itsm.Event) error {
	hist, err := e.backend.History(ctx, ev.Kind, ev.RecordID)
	if err != nil {
		return err
	}
	upto := slices.IndexFunc(hist, func(h itsm.Event) bool { return h.RecordVersion > ev.RecordVersion })
	if upto >= 0 {
		hist = hist[:upto]
	}
	for _, cur := range set.byKind[ev.Kind] {
		id := ClockID(ev.Kind, ev.RecordID, cur.id)
		stored, err := e.clocks.Collection().Get(ctx, tx, id)
		if errors.Is(err, itsm.ErrNotFound) {
			stored, err = nil, nil
		}
		if err != nil {
			return err
		}
		rd := cur
		switch {
		case stored == nil && !cur.active:
			continue // a retired definition starts no clock
		case stored != nil && (stored.DefinitionVersion != cur.version || stored.CalendarVersion != cur.calVersion):
			// The clock keeps the versions it started under.
			d, cal, err := e.clockRules(ctx, tx, set.tenant, stored)
			if err != nil {
				return err
			}
			rd = &runDef{id: cur.id, active: cur.active, version: stored.DefinitionVersion, def: d, cal: cal, calVersion: stored.CalendarVersion}
		}
		tl, err := replay(rd.def, rd.cal, hist)
		if err != nil {
			return fmt.Errorf("sla %s on %s %s: %w", rd.id, ev.Kind, ev.RecordID, err)
		}
		cmd := storage.Command{Reason: fmt.Sprintf("%s %s: %s", ev.Kind, ev.Number, ev.Name), At: ev.At}
		if (stored != nil && ev.At.Before(stored.UpdatedAt)) || ev.At.After(e.clock.Now()) {
			cmd.At = time.Time{} // the clock's fields still carry the true times
		}
		if err := e.write(ctx, tx, ev, rd, tl, stored, cmd); err != nil {
			return err
		}
	}
	return nil
}

// write brings the stored clock to the replayed timeline.
func (e *Engine) write(ctx context.Context, tx storage.Tx, ev itsm.Event, rd *runDef, tl timeline, stored *SLAClock, cmd storage.Command) error {
	d, cal := rd.def, rd.cal
	id := ClockID(ev.Kind, ev.RecordID, d.ID)
	if !tl.started && stored == nil {
		return nil
	}
	want := &SLAClock{}
	if stored != nil {
		*want = *stored
		want.Warnings = slices.Clone(stored.Warnings)
	}
	at := tl.lastAt
	if tl.stage == StageInProgress && stored != nil && stored.EvaluatedAt.After(at) && stored.ResetCount == tl.resets {
		at = stored.EvaluatedAt // do not take back warnings Check already raised
	}
	// Warnings are recomputed from the replay: an imported history may show
	// that a warning Check raised on partial history was never reached.
	// A running clock is evaluated no earlier than Check last did, so the
	// warnings it raised stay.
	want.Warnings = nil
	fill(want, d, ev, tl)
	want.DefinitionVersion, want.CalendarVersion = rd.version, rd.calVersion
	if err := settle(want, d, cal, at); err != nil {
		return fmt.Errorf("sla %s on %s %s: %w", d.ID, ev.Kind, ev.RecordID, err)
	}
	e.raised(ctx, stored, want)
	// expect is the version each step must find: a clock another engine
	// wrote after stored was read is a conflict (the unit is run again on
	// fresh reads), not a transition the fresh state refuses.
	expect := int64(0)
	if stored != nil {
		expect = stored.Version
	}
	apply := func(c *SLAClock) error {
		if c.Version != expect {
			return &itsm.ConflictError{Kind: ClockKind, ID: id, Expected: expect}
		}
		state, version, head, created, updated, number := c.State, c.Version, c.Head, c.CreatedAt, c.UpdatedAt, c.Number
		*c = *want
		c.State, c.Version, c.Head, c.CreatedAt, c.UpdatedAt, c.Number = state, version, head, created, updated, number
		c.ID = id
		return nil
	}
	from := StageInProgress
	if stored == nil {
		rec := &SLAClock{}
		_ = apply(rec)
		rec.Version, rec.State = 0, ""
		if err := e.clocks.CreateTx(ctx, tx, rec, cmd); err != nil {
			return err
		}
		expect = rec.Version
	} else {
		from = stored.State
	}
	path := clockPath(from, tl.stage)
	if len(path) == 0 {
		_, err := e.clocks.ChangeTx(ctx, tx, id, cmd, apply)
		return err
	}
	for _, event := range path {
		if _, err := e.clocks.FireTx(ctx, tx, id, event, cmd, apply); err != nil {
			return err
		}
		expect++
	}
	return nil
}

// fill copies the replayed timeline into c.
func fill(c *SLAClock, d *Definition, ev itsm.Event, tl timeline) {
	c.State = tl.stage // settle reads it; the runner keeps the stored state
	c.DefinitionID, c.Type, c.Metric = d.ID, d.Type, d.Metric
	c.TaskKind, c.TaskID, c.TaskNumber = ev.Kind, ev.RecordID, ev.Number
	c.Priority, c.ServiceID, c.AssignmentGroup = tl.subject.priority, tl.subject.service, tl.subject.group
	c.Calendar = d.Calendar
	c.Target = tl.target
	c.StartTime, c.StopTime = tl.start, tl.stop
	c.RunningSince, c.PausedAt = tl.runningSince, tl.pausedAt
	c.ElapsedBefore = tl.elapsedBefore
	c.Breached, c.BreachedAt = tl.breached, tl.breachedAt
	c.ResetCount = tl.resets
}

// threshold returns ceil(target * pct / 100) without overflow.
func threshold(target time.Duration, pct int) time.Duration {
	hi, lo := bits.Mul64(uint64(target), uint64(pct))
	q, r := bits.Div64(hi, lo, 100)
	if r > 0 {
		q++
	}
	return time.Duration(q)
}

// settle evaluates a clock at time at: elapsed business time, percentage,
// warnings reached, breach, due time and the next time Check must look.
func settle(c *SLAClock, d *Definition, cal *calendar.Calendar, at time.Time) error {
	elapsed, err := c.elapsedAt(cal, at)
	if err != nil {
		return err
	}
	running := c.State == StageInProgress
	c.BusinessElapsed = elapsed
	c.Percentage = percentage(elapsed, c.Target)
	c.EvaluatedAt = at.UTC()
	for _, w := range d.Warnings {
		if elapsed >= threshold(c.Target, w) && !slices.Contains(c.Warnings, w) {
			c.Warnings = append(c.Warnings, w)
		}
	}
	slices.Sort(c.Warnings)
	c.DueAt, c.NextCheckAt = time.Time{}, time.Time{}
	if !running {
		return nil
	}
	switch {
	case c.ElapsedBefore < c.Target:
		due, err := cal.Add(c.RunningSince, c.Target-c.ElapsedBefore)
		if err != nil {
			return err
		}
		c.DueAt = due
	case c.Breached:
		c.DueAt = c.BreachedAt
	default:
		c.DueAt = c.RunningSince // resumed with the target used up exactly
	}
	// Breach is the first instant past the due time, as ServiceNow's
	// planned end: a clock checked (or stopped) after it has breached.
	if !c.Breached && at.After(c.DueAt) {
		c.Breached, c.BreachedAt = true, c.DueAt
	}
	next := time.Time{}
	consider := func(t time.Time) {
		t = roundUp(t)
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, w := range d.Warnings {
		if slices.Contains(c.Warnings, w) {
			continue
		}
		t, err := cal.Add(c.RunningSince, threshold(c.Target, w)-c.ElapsedBefore)
		if err != nil {
			return err
		}
		consider(t)
	}
	if !c.Breached {
		consider(c.DueAt.Add(time.Nanosecond)) // breach is the first instant past the due time
	}
	c.NextCheckAt = next
	return nil
}

// elapsedAt returns the business time the clock has used at time at: the
// time before it last started running, plus the calendar's business time
// since then while it runs (a paused or stopped clock does not advance).
func (c *SLAClock) elapsedAt(cal *calendar.Calendar, at time.Time) (time.Duration, error) {
	elapsed := c.ElapsedBefore
	if c.State == StageInProgress {
		b, err := cal.Between(c.RunningSince, at)
		if err != nil {
			return 0, err
		}
		elapsed += max(b, 0)
	}
	return elapsed, nil
}

// percentage is elapsed as a percentage of target, rounded to hundredths
// as the stored Percentage is.
func percentage(elapsed, target time.Duration) float64 {
	return float64(int64(float64(elapsed)/float64(target)*10000+0.5)) / 100
}

// roundUp rounds t up to the storage's time precision, so a check at the
// stored time never comes early.
func roundUp(t time.Time) time.Time {
	u := t.Truncate(itsm.TimePrecision)
	if u.Before(t) {
		u = u.Add(itsm.TimePrecision)
	}
	return u.UTC()
}

// replay computes a definition's clock from a record's history.
//
// A Response clock completes at the first response (a stop state or one of
// the definition's RespondOn signals) and only once: after a response it
// neither reopens nor starts again.
func replay(d *Definition, cal *calendar.Calendar, hist []itsm.Event) (timeline, error) {
	var tl timeline
	response := d.Metric == Response
	// Only a response clock stopped by comments needs to know who wrote the
	// notes an event adds; reading that decodes the whole comment thread.
	readComments := response && slices.Contains(d.RespondOn, RespondComment)
	readCustom := slices.ContainsFunc(d.Conditions, func(c Condition) bool { return strings.HasPrefix(c.Field, CustomPrefix) })
	answered := false
	for _, ev := range hist {
		applyChanges(&tl.subject, ev, readComments, readCustom)
		at := ev.At
		tl.lastAt, tl.number = at, ev.Number
		s := tl.subject
		target, applies := d.target(s)
		stop := slices.Contains(d.StopStates, s.state) || response && d.responded(s)
		wasAnswered := answered
		answered = answered || response && stop
		cancel := slices.Contains(d.CancelStates, s.state)
		pause := d.paused(s)
		closeSegment := func() error {
			if tl.stage != StageInProgress {
				return nil
			}
			b, err := cal.Between(tl.runningSince, at)
			if err != nil {
				return err
			}
			b = max(b, 0)
			if !tl.breached && tl.elapsedBefore+b >= tl.target {
				due, err := cal.Add(tl.runningSince, max(tl.target-tl.elapsedBefore, 0))
				if err != nil {
					return err
				}
				if at.After(due) {
					tl.breached, tl.breachedAt = true, due
				}
			}
			tl.elapsedBefore += b
			tl.runningSince = time.Time{}
			return nil
		}
		run := func() {
			if pause {
				tl.stage, tl.pausedAt, tl.runningSince = StagePaused, at, time.Time{}
			} else {
				tl.stage, tl.runningSince, tl.pausedAt = StageInProgress, at, time.Time{}
			}
		}
		switch tl.stage {
		case "", StageCanceled:
			if applies && !stop && !cancel && !wasAnswered {
				if tl.started {
					tl.resets++
				}
				tl = timeline{started: true, subject: s, target: target, start: at, resets: tl.resets, lastAt: at, number: ev.Number}
				run()
			}
		case StageInProgress, StagePaused:
			switch {
			case cancel || !applies:
				if err := closeSegment(); err != nil {
					return tl, err
				}
				tl.stage, tl.stop, tl.pausedAt = StageCanceled, at, time.Time{}
			case stop:
				if err := closeSegment(); err != nil {
					return tl, err
				}
				tl.stage, tl.stop, tl.pausedAt = StageCompleted, at, time.Time{}
			case pause && tl.stage == StageInProgress:
				if err := closeSegment(); err != nil {
					return tl, err
				}
				tl.stage, tl.pausedAt = StagePaused, at
			case !pause && tl.stage == StagePaused:
				tl.stage, tl.runningSince, tl.pausedAt = StageInProgress, at, time.Time{}
			}
			if applies {
				tl.target = target // a new priority brings its own target
			}
		case StageCompleted:
			if applies && !stop && !cancel && !response {
				if d.ResetOnReopen {
					tl.resets++
					tl.elapsedBefore, tl.start, tl.breached, tl.breachedAt = 0, at, false, time.Time{}
				}
				tl.target, tl.stop = target, time.Time{}
				run()
			}
		}
	}
	return tl, nil
}

// applyChanges folds one event into what the engine knows of its record;
// comments are read only when readComments is set.
func applyChanges(s *subject, ev itsm.Event, readComments, readCustom bool) {
	if ev.To != "" {
		s.state = ev.To
	}
	s.commented, s.assigned = false, false
	if s.tenant = ev.Tenant; s.tenant == "" {
		s.tenant = itsm.DefaultTenant
	}
	for _, c := range ev.Changes {
		if readCustom && strings.HasPrefix(c.Field, CustomPrefix) {
			if s.custom == nil {
				s.custom = map[string]string{}
			}
			s.custom[strings.TrimPrefix(c.Field, CustomPrefix)] = c.To
			continue
		}
		switch c.Field {
		case "caller_id":
			s.caller = jsonString(c.To)
		case "assigned_to":
			s.assigned = jsonString(c.To) != ""
		case "comments":
			if readComments {
				s.commented = commentedByOther(c, ev.Actor, s.caller)
			}
		case "priority":
			s.priority = jsonInt(c.To)
		case "service_id":
			s.service = jsonString(c.To)
		case "assignment_group":
			s.group = jsonString(c.To)
		case "hold_reason":
			s.holdReason = jsonString(c.To)
		}
	}
}

// commentedByOther reports whether a change of the comments field adds a
// note by someone other than the caller. Notes carry their author (the
// event's actor when they do not), so a history imported by a migration
// actor reads as the live one. A journal change (itsm.FieldChange.Appended, as
// the operation pillar writes comments) holds only the added notes and no
// From, so every note in it is new; a whole-array change adds the notes
// past the old array's length.
func commentedByOther(c itsm.FieldChange, actor, caller string) bool {
	type note struct {
		Author string `json:"author"`
	}
	var before, after []note
	if json.Unmarshal([]byte(c.To), &after) != nil {
		return false
	}
	if c.From != "" && json.Unmarshal([]byte(c.From), &before) != nil {
		return false
	}
	for _, n := range after[min(len(before), len(after)):] {
		if n.Author == "" {
			n.Author = actor
		}
		if n.Author != caller {
			return true
		}
	}
	return false
}

func jsonString(raw string) string {
	var s string
	if json.Unmarshal([]byte(raw), &s) != nil {
		return ""
	}
	return s
}

func jsonInt(raw string) int {
	n, err := strconv.Atoi(raw)
	if err != nil {
		var f float64
		if json.Unmarshal([]byte(raw), &f) != nil {
			return 0
		}
		return int(f)
	}
	return n
}

// DueClock is what Due returns of a clock that must be checked: the fields
// the store indexes, read without decoding the clock. Get the whole SLAClock
// from Clocks when it is needed.
type DueClock struct {
	ID           string
	Version      int64
	DefinitionID string
	TaskKind     string // the record's kind, "incident"
	TaskID       string // the record's id
	DueAt        time.Time
	NextCheckAt  time.Time // the warning or breach that makes it due
}

// Due returns running clocks whose next warning or breach is at or before
// now, earliest first, one page at a time: the work of Check. It is an
// indexed range query on (state, next_check_at), never a scan of every
// clock, and it returns the indexed fields only (no clock is decoded), so
// a page of 1,000 among 1,000,000 running clocks costs about what the
// store's query does.
func (e *Engine) Due(ctx context.Context, now time.Time, p storage.Paging) ([]DueClock, string, error) {
	if ctx == nil {
		return nil, "", itsm.Invalidf("sla engine: nil context")
	}
	page, err := e.backend.Query(ctx, storage.Query{
		Kind: ClockKind,
		Filters: []storage.Filter{
			storage.Eq("state", storage.String(StageInProgress)),
			storage.Gte("next_check_at", storage.Time(time.Unix(0, 0))),
			storage.Lte("next_check_at", storage.Time(now)),
		},
		Sort:  []storage.Sort{{Field: "next_check_at"}},
		Limit: p.Limit, Cursor: p.Cursor,
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]DueClock, len(page.Docs))
	for i, d := range page.Docs {
		if len(d.Fields) <= max(e.fState, e.fDefinition, e.fTaskKind, e.fTaskID, e.fDue, e.fNextCheck) {
			return nil, "", itsm.Invalidf("sla engine: clock %s came back without its indexed fields", d.ID)
		}
		out[i] = DueClock{ID: d.ID, Version: d.Version, DefinitionID: d.Fields[e.fDefinition].Str(),
			TaskKind: d.Fields[e.fTaskKind].Str(), TaskID: d.Fields[e.fTaskID].Str(),
			DueAt: d.Fields[e.fDue].Time(), NextCheckAt: d.Fields[e.fNextCheck].Time()}
	}
	return out, page.Next, nil
}

// Check raises the warnings and breaches due by now: it evaluates each due
// clock at now and writes it (an update event listing the warnings reached,
// has_breached and the new next check). It returns how many clocks it
// wrote.
//
// Several engines (one per application instance) may run Check on one
// store at once: each claims a page of due clocks with leases (a
// version-checked write of its Instance and an expiry LeaseTTL ahead on
// its SLAClock), skips the clocks another engine holds, and writes each clock
// in one unit of work with the deletion of its lease, re-reading it there
// and leaving it alone if it is no longer due. So every warning and breach
// is written once, by one engine; a lease whose engine died expires and is
// taken over, and the dead engine's late write fails with its lost lease.
//
// A zero now, or one outside the horizon of a calendar a definition runs
// on (where no clock can be evaluated), is ErrInvalid and writes nothing;
// a check that fails on a clock gives back the leases it still holds.
func (e *Engine) Check(ctx context.Context, now time.Time) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("sla engine: nil context")
	}
	if err := e.checkable(now); err != nil {
		return 0, err
	}
	ctx = itsm.WithActor(ctx, e.actor)
	tenant, err := storage.TenantOf(ctx, false)
	if err != nil {
		return 0, err
	}
	if err := e.sweep(ctx); err != nil {
		return 0, err
	}
	n := 0
	cursor := ""
	for {
		due, next, err := e.Due(ctx, now, storage.Paging{Limit: storage.MaxLimit, Cursor: cursor})
		if err != nil {
			return n, err
		}
		held, err := e.claim(ctx, due)
		if err != nil {
			return n, err
		}
		for i, h := range held {
			wrote, err := e.checkOne(ctx, tenant, h, now)
			if err != nil {
				// Leave no lease behind for a clock this check did not
				// write: the ones still held are given back.
				e.release(ctx, held[i:])
				return n, err
			}
			if wrote {
				n++
			}
		}
		if next == "" {
			return n, nil
		}
		cursor = next
	}
}

// checkable refuses, before anything is written, a time Check cannot
// evaluate clocks at: the zero time, or one outside the horizon of a
// calendar a definition runs on.
func (e *Engine) checkable(now time.Time) error {
	if now.IsZero() {
		return itsm.Invalidf("sla engine: check at the zero time")
	}
	for i := range e.defs {
		cal := e.calendarOf(&e.defs[i])
		if from, to := cal.Horizon(); now.Before(from) || !now.Before(to) {
			return itsm.Invalidf("sla engine: check at %s, outside the horizon %s..%s of calendar %s (definition %s)",
				now.UTC().Format(time.RFC3339), from.Format(time.RFC3339), to.Format(time.RFC3339), cal.Name(), e.defs[i].ID)
		}
	}
	return nil
}

// sweep deletes up to a page of leases that expired a whole LeaseTTL ago:
// those of an engine that died holding clocks that stopped being due (a
// lease on a clock still due is taken over and released by the next
// check). A lease written meanwhile stays (its version moved on).
func (e *Engine) sweep(ctx context.Context) error {
	page, err := e.backend.Query(ctx, storage.Query{Kind: LeaseKind,
		Filters: []storage.Filter{storage.Lt("until", storage.Time(e.clock.Now().Add(-e.leaseTTL)))},
		Sort:    []storage.Sort{{Field: "until"}}, Limit: storage.MaxLimit})
	if err != nil || len(page.Docs) == 0 {
		return err
	}
	err = e.backend.Update(ctx, func(tx storage.Tx) error {
		for _, d := range page.Docs {
			if err := tx.Delete(ctx, LeaseKind, d.ID, d.Version); err != nil && !errors.Is(err, itsm.ErrConflict) && !errors.Is(err, itsm.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, itsm.ErrConflict) || errors.Is(err, itsm.ErrNotFound) {
		return nil // another engine swept or claimed meanwhile; the next check sweeps again
	}
	return err
}

// held is a clock this engine holds a lease on, at the lease's version.
type held struct {
	clock        DueClock
	leaseVersion int64
}

// claim takes leases on the due clocks no other engine holds, in one unit
// of work, and returns those it took. A unit that loses a race with
// another engine's claim is run again on fresh reads.
func (e *Engine) claim(ctx context.Context, due []DueClock) ([]held, error) {
	if len(due) == 0 {
		return nil, nil
	}
	var out []held
	for attempt := 0; ; attempt++ {
		out = out[:0]
		now := e.clock.Now()
		err := e.backend.Update(ctx, func(tx storage.Tx) error {
			for _, c := range due {
				l, err := e.leases.Get(ctx, tx, c.ID)
				switch {
				case errors.Is(err, itsm.ErrNotFound):
					l = &lease{Record: itsm.Record{ID: c.ID}}
				case err != nil:
					return err
				case l.Owner != e.instance && now.Before(l.Until):
					continue // another engine's, still valid
				}
				l.Owner, l.Until = e.instance, now.Add(e.leaseTTL)
				if err := e.leases.Put(ctx, tx, l); errors.Is(err, itsm.ErrConflict) {
					continue // claimed under us; a later check sees it
				} else if err != nil {
					return err
				}
				out = append(out, held{clock: c, leaseVersion: l.Version})
			}
			return nil
		})
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, itsm.ErrConflict) || attempt >= 4 {
			if errors.Is(err, itsm.ErrConflict) {
				return nil, nil // contended: the other engines have these clocks
			}
			return nil, err
		}
	}
}

// release deletes the leases this engine still holds on clocks it gives
// up checking after an error, so the failed check leaves the store as it
// found it. It is best effort: a lease it cannot delete (taken over or
// swept meanwhile, or a store that fails) expires and is swept.
func (e *Engine) release(ctx context.Context, hs []held) {
	_ = e.backend.Update(ctx, func(tx storage.Tx) error {
		for _, h := range hs {
			err := tx.Delete(ctx, LeaseKind, h.clock.ID, h.leaseVersion)
			if err != nil && !errors.Is(err, itsm.ErrConflict) && !errors.Is(err, itsm.ErrNotFound) {
				return err
			}
		}
		return nil
	})
}

// errLeaseLost ends a unit of work whose lease another engine took over.
var errLeaseLost = errors.New("sla engine: lease lost")

// checkOne evaluates one claimed clock at now and writes it with the
// release of its lease, in one unit of work conditioned on the lease
// still being this engine's. It reports whether the clock was written.
func (e *Engine) checkOne(ctx context.Context, tenant string, h held, now time.Time) (bool, error) {
	for attempt := 0; ; attempt++ {
		var wrote, breached bool
		var warned int
		var after *SLAClock
		err := e.backend.Update(ctx, func(tx storage.Tx) error {
			l, err := e.leases.Get(ctx, tx, h.clock.ID)
			if errors.Is(err, itsm.ErrNotFound) || err == nil && (l.Owner != e.instance || l.Version != h.leaseVersion) {
				return errLeaseLost
			}
			if err != nil {
				return err
			}
			wrote, warned, breached = false, 0, false
			after, err = e.clocks.ChangeTx(ctx, tx, h.clock.ID, storage.Command{Reason: "sla check"}, func(c *SLAClock) error {
				if c.State != StageInProgress || c.NextCheckAt.IsZero() || c.NextCheckAt.After(now) {
					return nil // checked by another engine, moved by Sync, or stopped
				}
				d, cal, err := e.clockRules(ctx, tx, tenant, c)
				if err != nil {
					return err
				}
				wrote = true
				nw, nb := len(c.Warnings), c.Breached
				err = settle(c, d, cal, now)
				warned, breached = len(c.Warnings)-nw, c.Breached && !nb
				return err
			})
			if errors.Is(err, itsm.ErrNotFound) {
				err = nil
			}
			if err != nil {
				return err
			}
			err = tx.Delete(ctx, LeaseKind, l.ID, l.Version)
			if errors.Is(err, itsm.ErrNotFound) {
				return errLeaseLost // another engine swept the lease since it was read
			}
			return err
		})
		switch {
		case err == nil:
			if after != nil {
				e.observeSLA(ctx, after.DefinitionID, after, warned, breached)
			}
			if wrote && after != nil && !after.NextCheckAt.IsZero() && !after.NextCheckAt.After(now) {
				// Evaluating a clock at now always moves its next check
				// past now; one that stays due would be checked for ever.
				return true, fmt.Errorf("sla engine: clock %s stays due at %s after a check: %w",
					h.clock.ID, now.UTC().Format(time.RFC3339Nano), itsm.ErrConflict)
			}
			return wrote, nil
		case errors.Is(err, errLeaseLost):
			return false, nil
		case errors.Is(err, itsm.ErrConflict) && attempt < 4:
			continue // Sync or another engine wrote the clock: read it again
		default:
			return false, err
		}
	}
}

// BreachingSoon returns the ids of records with a running clock due after
// now and within the given time, soonest first, one page at a time: the
// "about to breach" queue, not yet breached. A record with several clocks
// may appear on two pages.
func (e *Engine) BreachingSoon(ctx context.Context, now time.Time, within time.Duration, p storage.Paging) ([]string, string, error) {
	if ctx == nil {
		return nil, "", itsm.Invalidf("sla engine: nil context")
	}
	if within <= 0 {
		return nil, "", (&itsm.ValidationError{Kind: ClockKind}).Add("within", "must be positive")
	}
	page, err := e.backend.Query(ctx, storage.Query{
		Kind: ClockKind,
		Filters: []storage.Filter{
			storage.Eq("state", storage.String(StageInProgress)),
			storage.Gt("due_at", storage.Time(now)),
			storage.Lte("due_at", storage.Time(now.Add(within))),
		},
		Sort:  []storage.Sort{{Field: "due_at"}},
		Limit: p.Limit, Cursor: p.Cursor,
	})
	if err != nil {
		return nil, "", err
	}
	return e.taskIDs(page)
}

// BreachingBefore returns the ids of records of kind with a running clock
// due at or before deadline (already overdue ones included), soonest first,
// one page at a time. It is the operation pillar's SLAWatcher.
func (e *Engine) BreachingBefore(ctx context.Context, kind string, deadline time.Time, p storage.Paging) ([]string, string, error) {
	if ctx == nil {
		return nil, "", itsm.Invalidf("sla engine: nil context")
	}
	if kind == "" {
		return nil, "", (&itsm.ValidationError{Kind: ClockKind}).Add("kind", "is required")
	}
	page, err := e.backend.Query(ctx, storage.Query{
		Kind: ClockKind,
		Filters: []storage.Filter{
			storage.Eq("state", storage.String(StageInProgress)),
			storage.Eq("task_kind", storage.String(kind)),
			storage.Lte("due_at", storage.Time(deadline)),
		},
		Sort:  []storage.Sort{{Field: "due_at"}},
		Limit: p.Limit, Cursor: p.Cursor,
	})
	if err != nil {
		return nil, "", err
	}
	return e.taskIDs(page)
}

// taskIDs returns the record ids of clock documents in order, each once
// per page (a record with two clocks on one page appears at the sooner),
// read from the indexed fields without decoding the clocks.
func (e *Engine) taskIDs(page storage.Page) ([]string, string, error) {
	ids := make([]string, 0, len(page.Docs))
	seen := make(map[string]bool, len(page.Docs))
	for _, d := range page.Docs {
		if e.fTaskID >= len(d.Fields) {
			return nil, "", itsm.Invalidf("sla engine: clock %s came back without its indexed fields", d.ID)
		}
		if id := d.Fields[e.fTaskID].Str(); !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, page.Next, nil
}

// ClocksOf returns the clocks of one record; an empty record id is
// ErrInvalid.
func (e *Engine) ClocksOf(ctx context.Context, recordID string) ([]*SLAClock, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("sla engine: nil context")
	}
	if recordID == "" {
		return nil, (&itsm.ValidationError{Kind: ClockKind}).Add("task_id", "a record id is required")
	}
	out, _, err := e.clocks.Query(ctx, storage.Query{
		Filters: []storage.Filter{storage.Eq("task_id", storage.String(recordID))},
		Limit:   storage.MaxLimit,
	})
	return out, err
}

// SLAObserver is told of the SLA warnings and breaches the engine raises,
// once each: by Check, or by Sync when its replay of a record's events
// reaches a threshold the stored clock had not (a record resolved after
// its breach before Check looked), once Sync's unit is committed; a
// *telemetry.Telemetry is one. EngineConfig.Telemetry is used as one when
// it implements it.
type SLAObserver interface {
	// SLAReached reports a clock of the definition reaching the warning
	// threshold (percent of its target), or breaching with threshold 0.
	SLAReached(ctx context.Context, definition string, threshold int)
}

// raised notes, for Sync to report once the unit is committed, the
// warnings and the breach the replayed clock want has that the stored one
// had not: a replay of events the clock already reflects raises nothing.
func (e *Engine) raised(ctx context.Context, stored, want *SLAClock) {
	batch, ok := ctx.Value(handledKey{}).(*syncBatch)
	if !ok || e.sla == nil {
		return
	}
	var had []int
	breached := false
	if stored != nil {
		had, breached = stored.Warnings, stored.Breached
	}
	for _, w := range want.Warnings {
		if !slices.Contains(had, w) {
			batch.reached = append(batch.reached, slaReached{want.DefinitionID, w})
		}
	}
	if want.Breached && !breached {
		batch.reached = append(batch.reached, slaReached{want.DefinitionID, 0})
	}
}

// observeSLA reports the warnings and the breach a committed check raised.
func (e *Engine) observeSLA(ctx context.Context, def string, after *SLAClock, warned int, breached bool) {
	if e.sla == nil || after == nil {
		return
	}
	if warned > 0 && warned <= len(after.Warnings) {
		for _, w := range after.Warnings[len(after.Warnings)-warned:] {
			e.sla.SLAReached(ctx, def, w)
		}
	}
	if breached {
		e.sla.SLAReached(ctx, def, 0)
	}
}
