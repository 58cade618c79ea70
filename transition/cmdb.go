package transition

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Record kinds of the CMDB.
const (
	KindCI           = "ci"              // configuration items
	KindRelationship = "ci_relationship" // typed CI relationships (ServiceNow cmdb_rel_ci)
	KindBaseline     = "cmdb_baseline"   // CMDB baselines
)

// CI lifecycle states (ServiceNow's install status, iTop's status).
const (
	CIOrdered       = "ordered"
	CIInstalled     = "installed"
	CIInMaintenance = "in_maintenance"
	CIRetired       = "retired"
)

// CI lifecycle events.
const (
	CIEventInstall          = "install"
	CIEventStartMaintenance = "start_maintenance"
	CIEventEndMaintenance   = "end_maintenance"
	CIEventRetire           = "retire"
)

// Relationship states and the event that removes one.
const (
	RelActive      = "active"
	RelRemoved     = "removed"
	RelEventRemove = "remove"
)

// CI is a configuration item: anything that must be managed to deliver a
// service (a server, an application, a database, a business service). Its
// class decides which typed attributes it carries.
type CI struct {
	itsm.Record
	Name         string `json:"name"`
	Class        string `json:"class"`
	Environment  string `json:"environment,omitempty"`   // production, test, development, ...
	SupportGroup string `json:"support_group,omitempty"` // the group that supports it
	OwnedBy      string `json:"owned_by,omitempty"`      // the accountable person
	// BusinessCriticality runs from 1 (most critical) to 4 (not critical),
	// as in ServiceNow; 0 is unset.
	BusinessCriticality int64 `json:"business_criticality,omitempty"`
	// ServiceID links a business_service CI to the service in the catalogue
	// (the design pillar's service id).
	ServiceID         string         `json:"service_id,omitempty"`
	MaintenanceReason string         `json:"maintenance_reason,omitempty"`
	InstalledAt       time.Time      `json:"installed_at,omitzero"`
	RetiredAt         time.Time      `json:"retired_at,omitzero"`
	Attributes        map[string]any `json:"attributes,omitempty"` // typed by the class

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the fields every CI needs, whatever its class.
func (c *CI) Validate() error {
	ve := &itsm.ValidationError{Kind: KindCI, ID: c.ID}
	checkFields(ve, c)
	if c.Name == "" {
		ve.Add("name", "is required")
	}
	if c.Class == "" {
		ve.Add("class", "is required")
	}
	if c.BusinessCriticality < 0 || c.BusinessCriticality > 4 {
		ve.Add("business_criticality", fmt.Sprintf("%d is outside 1..4 (0 for unset)", c.BusinessCriticality))
	}
	return ve.Err()
}

// Relationship is a typed, directed link between two CIs, read "parent Type
// child". Upstream and Downstream are derived from the type: Upstream is the
// end that depends on the other, so impact flows from Downstream to
// Upstream.
type Relationship struct {
	itsm.Record
	Parent     string `json:"parent"`
	Child      string `json:"child"`
	Type       string `json:"type"`
	Upstream   string `json:"upstream"`
	Downstream string `json:"downstream"`
	Note       string `json:"note,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the relationship's own fields.
func (r *Relationship) Validate() error {
	ve := &itsm.ValidationError{Kind: KindRelationship, ID: r.ID}
	checkFields(ve, r)
	if r.Parent == "" {
		ve.Add("parent", "is required")
	}
	if r.Child == "" {
		ve.Add("child", "is required")
	}
	if r.Parent != "" && r.Parent == r.Child {
		ve.Add("child", "a CI cannot be related to itself")
	}
	if r.Type == "" {
		ve.Add("type", "is required")
	}
	return ve.Err()
}

// CILifecycle returns the default CI lifecycle, for a host to extend before
// passing it in CMDBConfig: ordered → installed ⇄ in_maintenance, and
// retired from any of them. Starting maintenance needs a maintenance reason.
func CILifecycle() *itsm.Lifecycle[*CI] {
	return itsm.NewLifecycle[*CI](KindCI).
		Initial(CIOrdered).
		States(CIInstalled, CIInMaintenance).
		Final(CIRetired).
		Event(CIEventInstall, CIInstalled, CIOrdered).
		Event(CIEventStartMaintenance, CIInMaintenance, CIInstalled).
		Event(CIEventEndMaintenance, CIInstalled, CIInMaintenance).
		Event(CIEventRetire, CIRetired, CIOrdered, CIInstalled, CIInMaintenance).
		Guard(CIEventStartMaintenance, "needs_maintenance_reason", func(_ context.Context, c *CI, _ itsm.Transition) error {
			if c.MaintenanceReason == "" {
				return errors.New("a maintenance reason is required")
			}
			return nil
		}).
		Effect(CIEventInstall, "stamp_installed_at", itsm.StampAt(func(c *CI) *time.Time { return &c.InstalledAt })).
		Effect(CIEventEndMaintenance, "clear_maintenance_reason", func(_ context.Context, c *CI, _ itsm.Transition) error {
			c.MaintenanceReason = ""
			return nil
		}).
		Effect(CIEventRetire, "stamp_retired_at", itsm.StampAt(func(c *CI) *time.Time { return &c.RetiredAt }))
}

// RelationshipLifecycle returns the relationship lifecycle: active, then
// removed. A removed relationship stays as history but no traversal follows
// it.
func RelationshipLifecycle() *itsm.Lifecycle[*Relationship] {
	return itsm.NewLifecycle[*Relationship](KindRelationship).
		Initial(RelActive).Final(RelRemoved).
		Event(RelEventRemove, RelRemoved, RelActive)
}

// CICollection declares how CIs are stored: indexed by class, name,
// environment, support group and business criticality, with a composite
// index listing a class by name.
func CICollection() *storage.Collection[CI, *CI] {
	return storage.NewCollection[CI]("ci",
		// ci_key repeats the id as an indexed field, so a set of CIs is read
		// with In queries, a thousand per round trip, instead of one Get each.
		storage.StringField("ci_key", func(c *CI) string { return c.ID }),
		storage.StringField("name", func(c *CI) string { return c.Name }),
		storage.StringField("class", func(c *CI) string { return c.Class }),
		storage.StringField("environment", func(c *CI) string { return c.Environment }),
		storage.StringField("support_group", func(c *CI) string { return c.SupportGroup }),
		storage.StringField("service_id", func(c *CI) string { return c.ServiceID }),
		storage.IntField("business_criticality", func(c *CI) int64 { return c.BusinessCriticality }),
	).WithIndex("ci_by_class_name", "class", "name")
}

// Edge field names of relationship documents, for storage.Traverse.
const (
	EdgeUpstream   = "upstream"
	EdgeDownstream = "downstream"
	EdgeType       = "type"
)

// RelationshipCollection declares how relationships are stored. Besides
// parent, child and type, the indexed fields upstream and downstream hold
// the dependency ends of an active relationship and are empty once it is
// removed, so storage.Traverse (native or fallback) follows exactly the
// active relationships.
func RelationshipCollection() *storage.Collection[Relationship, *Relationship] {
	active := func(r *Relationship, id string) string {
		if r.State == RelRemoved {
			return ""
		}
		return id
	}
	return storage.NewCollection[Relationship]("ci_relationship",
		storage.StringField("parent", func(r *Relationship) string { return r.Parent }),
		storage.StringField("child", func(r *Relationship) string { return r.Child }),
		storage.StringField(EdgeType, func(r *Relationship) string { return r.Type }),
		storage.StringField(EdgeUpstream, func(r *Relationship) string { return active(r, r.Upstream) }),
		storage.StringField(EdgeDownstream, func(r *Relationship) string { return active(r, r.Downstream) }),
	)
}

// CMDBConfig configures a CMDB. Nil fields take the defaults.
type CMDBConfig struct {
	Classes               *Classes                       // DefaultClasses()
	RelationshipTypes     *RelationshipTypes             // DefaultRelationshipTypes()
	CILifecycle           *itsm.Lifecycle[*CI]           // CILifecycle()
	RelationshipLifecycle *itsm.Lifecycle[*Relationship] // RelationshipLifecycle()
	Clock                 itsm.Clock                     // the system clock
	Authorizer            itsm.Authorizer                // itsm.DefaultAuthorizer()
	BaselineLifecycle     *itsm.Lifecycle[*Baseline]     // BaselineLifecycle()
	// Dictionary declares the host's custom fields on CIs and relationships, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// CMDB is the configuration management database: CIs of typed classes,
// typed relationships between them, impact analysis, baselines and history.
// Every write goes through storage.Records, so each one is a domain event.
// It is safe for concurrent use.
type CMDB struct {
	backend   storage.Backend
	classes   *Classes
	types     *RelationshipTypes
	cis       *storage.Records[CI, *CI]
	rels      *storage.Records[Relationship, *Relationship]
	baselines *storage.Records[Baseline, *Baseline]
	clock     itsm.Clock
	graph     atomic.Pointer[Graph]
}

// UseGraph makes Relate check cycles on the graph index (refreshed before
// each unit of work) instead of walking the store, which on a large CMDB
// saves a query per level of the walk. The index is used only when it has
// applied the last relationship of the type written under the type's guard;
// otherwise the walk runs in the unit of work. Pass nil to walk the store
// again.
func (c *CMDB) UseGraph(g *Graph) { c.graph.Store(g) }

// NewCMDB registers the CMDB's record kinds on the backend and returns the
// CMDB.
func NewCMDB(ctx context.Context, b storage.Backend, cfg CMDBConfig) (*CMDB, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("cmdb: nil context")
	}
	if b == nil {
		return nil, itsm.Invalidf("cmdb: backend is required")
	}
	if cfg.Classes == nil {
		cfg.Classes = DefaultClasses()
	}
	if cfg.RelationshipTypes == nil {
		cfg.RelationshipTypes = DefaultRelationshipTypes()
	}
	if cfg.CILifecycle == nil {
		cfg.CILifecycle = CILifecycle()
	}
	if cfg.RelationshipLifecycle == nil {
		cfg.RelationshipLifecycle = RelationshipLifecycle()
	}
	if cfg.BaselineLifecycle == nil {
		cfg.BaselineLifecycle = BaselineLifecycle()
	}
	if cfg.Clock == nil {
		cfg.Clock = itsm.SystemClock{}
	}
	ciM, err := cfg.CILifecycle.Compile()
	if err != nil {
		return nil, err
	}
	relM, err := cfg.RelationshipLifecycle.Compile()
	if err != nil {
		return nil, err
	}
	blM, err := cfg.BaselineLifecycle.Compile()
	if err != nil {
		return nil, err
	}
	ciC, relC, blC := CICollection().WithDictionary(cfg.Dictionary), RelationshipCollection().WithDictionary(cfg.Dictionary), BaselineCollection()
	for _, reg := range []func(context.Context, storage.Backend) error{ciC.Register, relC.Register, blC.Register} {
		if err := reg(ctx, b); err != nil {
			return nil, err
		}
	}
	for _, s := range []storage.Schema{RelationshipGuardSchema(), BaselinePartSchema()} {
		if err := b.Register(ctx, s); err != nil {
			return nil, err
		}
	}
	rc := storage.RecordsConfig{Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry}
	c := &CMDB{backend: b, classes: cfg.Classes, types: cfg.RelationshipTypes, clock: cfg.Clock}
	if c.cis, err = storage.NewRecords(b, ciC, ciM, rc); err != nil {
		return nil, err
	}
	if c.rels, err = storage.NewRecords(b, relC, relM, rc); err != nil {
		return nil, err
	}
	rc.Prefix = "BL"
	if c.baselines, err = storage.NewRecords(b, blC, blM, rc); err != nil {
		return nil, err
	}
	return c, nil
}

// Backend returns the store the CMDB lives in.
func (c *CMDB) Backend() storage.Backend { return c.backend }

// Classes returns the class model.
func (c *CMDB) Classes() *Classes { return c.classes }

// RelationshipTypes returns the relationship types.
func (c *CMDB) RelationshipTypes() *RelationshipTypes { return c.types }

// CIRecords returns the command runner of CIs, for hosts that need its
// lower-level operations (FireTx, queries).
func (c *CMDB) CIRecords() *storage.Records[CI, *CI] { return c.cis }

// RelationshipRecords returns the command runner of relationships.
func (c *CMDB) RelationshipRecords() *storage.Records[Relationship, *Relationship] { return c.rels }

func (c *CMDB) checkCI(ci *CI) error {
	if ci == nil {
		return itsm.Invalidf("ci: nil record")
	}
	ve := &itsm.ValidationError{Kind: KindCI, ID: ci.ID}
	if ci.Attributes != nil {
		ci.Attributes = maps.Clone(ci.Attributes)
	}
	c.classes.check(ci, ve)
	return ve.Err()
}

// CreateCI stores a new CI in state "ordered" after checking its class and
// attributes (normalised to their canonical types).
func (c *CMDB) CreateCI(ctx context.Context, ci *CI, cmd storage.Command) error {
	if err := c.checkCI(ci); err != nil {
		return err
	}
	return c.cis.Create(ctx, ci, cmd)
}

// CreateInstalledCI stores a new CI and installs it in the same unit of
// work, as discovery does for CIs found running: two events, create and
// install.
func (c *CMDB) CreateInstalledCI(ctx context.Context, ci *CI, cmd storage.Command) error {
	if err := c.checkCI(ci); err != nil {
		return err
	}
	if ctx == nil {
		return itsm.Invalidf("ci: nil context")
	}
	var out *CI
	work := *ci
	err := c.backend.Update(ctx, func(tx storage.Tx) error {
		w := work
		if err := c.cis.CreateTx(ctx, tx, &w, cmd); err != nil {
			return err
		}
		var err error
		out, err = c.cis.FireTx(ctx, tx, w.ID, CIEventInstall, cmd, nil)
		return err
	})
	if err != nil {
		return err
	}
	*ci = *out
	return nil
}

// UpdateCI changes a CI's fields (not its state) through mutate and writes
// an update event listing what changed. Class and attributes are checked
// again.
func (c *CMDB) UpdateCI(ctx context.Context, id string, cmd storage.Command, mutate func(*CI) error) (*CI, error) {
	if mutate == nil {
		return nil, itsm.Invalidf("ci %s: update without a mutation", id)
	}
	return c.cis.Change(ctx, id, cmd, func(ci *CI) error {
		if err := mutate(ci); err != nil {
			return err
		}
		return c.checkCI(ci)
	})
}

// FireCI applies a lifecycle event (install, start_maintenance,
// end_maintenance, retire, or a host's own) to a CI.
func (c *CMDB) FireCI(ctx context.Context, id, event string, cmd storage.Command, mutate func(*CI) error) (*CI, error) {
	if err := needEvent(KindCI, id, event); err != nil {
		return nil, err
	}
	return c.cis.Fire(ctx, id, event, cmd, func(ci *CI) error {
		if mutate != nil {
			if err := mutate(ci); err != nil {
				return err
			}
		}
		return c.checkCI(ci)
	})
}

// CI reads one CI.
func (c *CMDB) CI(ctx context.Context, id string) (*CI, error) { return c.cis.Get(ctx, id) }

// Relationship reads one relationship.
func (c *CMDB) Relationship(ctx context.Context, id string) (*Relationship, error) {
	return c.rels.Get(ctx, id)
}

// Relate creates the relationship "parent typ child" after checking that
// both CIs exist and are not retired, the type exists and allows their
// classes, no identical active relationship exists (ErrConflict), the type's
// cardinality holds, and, for acyclic types, that it closes no cycle.
// Refusals match ErrNotFound, ErrConflict or ErrInvalid and write nothing.
//
// The checks are safe against concurrent writers: the unit of work reads a
// guard document (kind "ci_rel_guard") for each constrained end before
// checking and writes it back at the next version, so of two units relating
// into the same end (or, for an acyclic type, of the same type) one fails
// with a version conflict; Relate then runs again, up to eight times, and
// the new attempt sees the winner's relationship. See guardKeys for which
// guards a type takes.
func (c *CMDB) Relate(ctx context.Context, parent, typ, child string, cmd storage.Command) (*Relationship, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("ci_relationship: nil context")
	}
	for attempt := 0; ; attempt++ {
		var out *Relationship
		if g := c.graph.Load(); g != nil {
			// Refreshed before the unit starts, so that inside it the graph
			// can vouch for the type's last guarded relationship.
			if _, err := g.Refresh(ctx); err != nil {
				return nil, err
			}
		}
		err := c.backend.Update(ctx, func(tx storage.Tx) error {
			var err error
			out, err = c.RelateTx(ctx, tx, parent, typ, child, cmd)
			return err
		})
		if err == nil || !retryableConflict(err) || attempt >= relateRetries || ctx.Err() != nil {
			return out, err
		}
	}
}

// RelateTx is Relate inside a caller's unit of work, without retries: a
// concurrent writer of the same guard makes the unit fail with ErrConflict,
// and the caller runs it again.
func (c *CMDB) RelateTx(ctx context.Context, tx storage.Tx, parent, typ, child string, cmd storage.Command) (*Relationship, error) {
	if ctx == nil || tx == nil {
		return nil, itsm.Invalidf("%s: nil context or unit of work", KindRelationship)
	}
	rel := &Relationship{Parent: parent, Child: child, Type: typ}
	if err := rel.Validate(); err != nil {
		return nil, err
	}
	t, ok := c.types.Type(typ)
	if !ok {
		return nil, (&itsm.ValidationError{Kind: KindRelationship}).Add("type", fmt.Sprintf("%q is not a defined relationship type", typ))
	}
	// The guards are read before any check, so every check sees at least
	// what was committed when the guards were at the versions read.
	guards, err := readGuards(ctx, tx, guardKeys(t, parent, child))
	if err != nil {
		return nil, err
	}
	ends := [2]*CI{}
	for i, id := range []string{parent, child} {
		ci, err := c.cis.Collection().Get(ctx, tx, id)
		if err != nil {
			if errors.Is(err, itsm.ErrNotFound) {
				return nil, fmt.Errorf("ci_relationship %s %s %s: %w", parent, typ, child, &itsm.NotFoundError{Kind: KindCI, ID: id})
			}
			return nil, err
		}
		if ci.State == CIRetired {
			return nil, (&itsm.ValidationError{Kind: KindRelationship}).Add([]string{"parent", "child"}[i], fmt.Sprintf("CI %s (%s) is retired", ci.Name, id))
		}
		ends[i] = ci
	}
	for i, allowed := range [][]string{t.ParentClasses, t.ChildClasses} {
		if len(allowed) == 0 {
			continue
		}
		if !slices.ContainsFunc(allowed, func(a string) bool { return c.classes.IsA(ends[i].Class, a) }) {
			return nil, (&itsm.ValidationError{Kind: KindRelationship}).Add([]string{"parent", "child"}[i],
				fmt.Sprintf("class %s may not be the %s of %s (allowed: %v)", ends[i].Class, []string{"parent", "child"}[i], typ, allowed))
		}
	}
	// An identical active relationship is a conflict. The queries filter
	// on the CI ends only, which are selective, and check type and state
	// here: a store without statistics (SQLite) may otherwise pick the type
	// or state index and walk every relationship of the type.
	same, err := c.rels.Collection().All(ctx, tx, storage.Query{Filters: []storage.Filter{
		storage.Eq("parent", storage.String(parent)), storage.Eq("child", storage.String(child)),
	}, Limit: storage.MaxLimit})
	if err != nil {
		return nil, err
	}
	for _, r := range same {
		if r.Type == typ && r.State == RelActive {
			return nil, &duplicateError{fmt.Errorf("ci_relationship %s %s %s: %w", ends[0].Name, typ, ends[1].Name, &itsm.ConflictError{Kind: KindRelationship, ID: r.ID})}
		}
	}
	for _, card := range []struct {
		field, end string
		max        int
	}{{"parent", parent, t.MaxPerParent}, {"child", child, t.MaxPerChild}} {
		if card.max == 0 {
			continue
		}
		got, err := c.rels.Collection().All(ctx, tx, storage.Query{Filters: []storage.Filter{
			storage.Eq(card.field, storage.String(card.end)),
		}, Limit: storage.MaxLimit})
		if err != nil {
			return nil, err
		}
		n := 0
		for _, r := range got {
			if r.Type == typ && r.State == RelActive {
				n++
			}
		}
		if n >= card.max {
			return nil, (&itsm.ValidationError{Kind: KindRelationship}).Add(card.field,
				fmt.Sprintf("cardinality: a CI may be the %s of at most %d %s relationship(s); %s already is", card.field, card.max, typ, card.end))
		}
	}
	rel.Upstream, rel.Downstream = parent, child
	if t.ChildDepends {
		rel.Upstream, rel.Downstream = child, parent
	}
	if t.Acyclic {
		cyc, err := c.reaches(ctx, tx, rel.Downstream, rel.Upstream, typ, guards[0])
		if err != nil {
			return nil, err
		}
		if cyc {
			return nil, (&itsm.ValidationError{Kind: KindRelationship}).Add(EdgeType,
				fmt.Sprintf("%s %s %s would close a cycle, which %s forbids", ends[0].Name, typ, ends[1].Name, typ))
		}
	}
	if err := c.rels.CreateTx(ctx, tx, rel, cmd); err != nil {
		return nil, err
	}
	if err := writeGuards(ctx, tx, guards, rel.ID); err != nil {
		return nil, err
	}
	return rel, nil
}

// reaches reports whether target is reachable from start following
// downstream edges of typ, however deep. It reads through the unit of work,
// never through a second connection: a unit holding a guard must finish
// without waiting for the store's pool, which the units queued behind the
// guard may hold. The graph index answers instead when it has applied the
// last relationship written under the type's guard (so every relationship
// of the type committed before the guard was read).
func (c *CMDB) reaches(ctx context.Context, tx storage.Tx, start, target, typ string, guard heldGuard) (bool, error) {
	if start == target {
		return true, nil
	}
	if g := c.graph.Load(); g != nil && guard.version > 0 && g.hasEdge(guard.last) {
		return g.Reaches(start, target, []string{typ}), nil
	}
	schema := c.rels.Collection().Schema()
	dn, ty := schema.FieldIndex(EdgeDownstream), schema.FieldIndex(EdgeType)
	seen := map[string]bool{start: true}
	frontier := []string{start}
	for len(frontier) > 0 {
		var next []string
		for chunk := range slices.Chunk(frontier, storage.MaxInValues) {
			vals := make([]storage.Value, len(chunk))
			for i, id := range chunk {
				vals[i] = storage.String(id)
			}
			// The type is checked here rather than filtered on, for the
			// reason the duplicate check gives.
			q := storage.Query{Kind: KindRelationship, Filters: []storage.Filter{storage.In(EdgeUpstream, vals...)}, Limit: storage.MaxLimit}
			for {
				page, err := tx.Query(ctx, q)
				if err != nil {
					return false, err
				}
				for _, d := range page.Docs {
					if d.Fields[ty].Str() != typ {
						continue
					}
					v := d.Fields[dn].Str()
					if v == target {
						return true, nil
					}
					if v != "" && !seen[v] {
						seen[v] = true
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
	return false, nil
}

func (c *CMDB) traverseParams(start []string, dir storage.Direction, types []string, depth, limit int) storage.TraverseParams {
	return storage.TraverseParams{
		Edges: c.rels.Collection().Schema(), FromField: EdgeUpstream, ToField: EdgeDownstream, TypeField: EdgeType,
		Start: start, Direction: dir, Types: types, MaxDepth: depth, Limit: limit,
	}
}

// Unrelate removes a relationship: it moves to state "removed" (its history
// stays) and no traversal follows it any more.
func (c *CMDB) Unrelate(ctx context.Context, id string, cmd storage.Command) (*Relationship, error) {
	return c.rels.Fire(ctx, id, RelEventRemove, cmd, nil)
}

// Relationships returns the active relationships in which the CI is parent
// or child, parent side first.
func (c *CMDB) Relationships(ctx context.Context, ciID string) ([]*Relationship, error) {
	// The CI is read first: an unknown or unreadable CI is refused, not
	// answered with no relationships.
	if _, err := c.cis.Get(ctx, ciID); err != nil {
		return nil, err
	}
	var out []*Relationship
	for _, end := range []string{"parent", "child"} {
		// The state is checked here, not filtered on: see RelateTx.
		rs, err := c.rels.All(ctx, storage.Query{Filters: []storage.Filter{storage.Eq(end, storage.String(ciID))}, Limit: storage.MaxLimit})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.State == RelActive {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// cisByID reads the CIs with the given ids, a thousand per query; ids the
// CMDB does not hold are absent from the map.
func (c *CMDB) cisByID(ctx context.Context, ids []string) (map[string]*CI, error) {
	out := make(map[string]*CI, len(ids))
	for chunk := range slices.Chunk(ids, storage.MaxInValues) {
		vals := make([]storage.Value, len(chunk))
		for i, id := range chunk {
			vals[i] = storage.String(id)
		}
		q := storage.Query{Filters: []storage.Filter{storage.In("ci_key", vals...)}, Limit: storage.MaxLimit}
		for {
			page, next, err := c.cis.Query(ctx, q)
			if err != nil {
				return nil, err
			}
			for _, ci := range page {
				out[ci.ID] = ci
			}
			if next == "" {
				break
			}
			q.Cursor = next
		}
	}
	return out, nil
}
