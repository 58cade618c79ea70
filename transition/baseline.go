package transition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// MaxBaselineItems bounds the CIs plus relationships of one baseline.
// Baselines larger than BaselinePartItems are stored in parts, so the bound
// is the cost of taking and diffing one, not a document size.
const MaxBaselineItems = 1_000_000

// BaselinePartItems is how many items (scope CIs, CIs and relationships)
// one stored part of a baseline holds: about half a megabyte, well under
// storage.MaxDocumentSize. A baseline with no more items keeps them in its
// own document, as before parts existed.
const BaselinePartItems = 10_000

// Baseline states and event.
const (
	BaselineCurrent      = "current"
	BaselineArchived     = "archived"
	BaselineEventArchive = "archive"
)

// BaselineItem pins one record of a baseline at a version. The record's
// content at that version is rebuilt from its hash-chained events, so a
// baseline stores references, not copies, and cannot drift from history.
type BaselineItem struct {
	ID      string `json:"id"`
	Version int64  `json:"v"`
}

// BaselineScope says which CIs a baseline covers: the listed CIs, plus
// (when Depth > 0) every CI reached from them within Depth in Direction.
// Relationships between covered CIs are included.
type BaselineScope struct {
	CIs       []string          `json:"cis"`
	Depth     int               `json:"depth,omitempty"`
	Direction storage.Direction `json:"direction,omitempty"`
}

// Baseline is a named snapshot of a set of CIs and their relationships
// (ServiceNow's CMDB baseline), numbered BL0000001.
type Baseline struct {
	itsm.Record
	Name          string         `json:"name"`
	Description   string         `json:"description,omitempty"`
	Scope         BaselineScope  `json:"scope"`
	TakenAt       time.Time      `json:"taken_at"`
	CIs           []BaselineItem `json:"cis"`
	Relationships []BaselineItem `json:"relationships"`
	// Parts lists the stored parts of a large baseline (more than
	// BaselinePartItems items), in order. The baseline document then holds
	// no scope CIs, CIs or relationships itself; the parts (kind
	// "cmdb_baseline_part") do, written in the same unit of work, and each
	// part's hash here (so in the create event's hash chain) pins its
	// content. Reading a baseline through the CMDB fills Scope.CIs, CIs and
	// Relationships from the parts.
	Parts []BaselinePart `json:"parts,omitempty"`
}

// BaselinePart describes one stored part of a large baseline: how many
// items of each list it holds and the SHA-256 of its content.
type BaselinePart struct {
	ScopeCIs      int    `json:"scope_cis,omitempty"`
	CIs           int    `json:"cis,omitempty"`
	Relationships int    `json:"relationships,omitempty"`
	Hash          string `json:"hash"`
}

// Validate checks the baseline's own fields.
func (b *Baseline) Validate() error {
	ve := &itsm.ValidationError{Kind: KindBaseline, ID: b.ID}
	walkFields(ve, "name", reflect.ValueOf(b.Name))
	walkFields(ve, "description", reflect.ValueOf(b.Description))
	if b.Name == "" {
		ve.Add("name", "is required")
	}
	n := len(b.CIs) + len(b.Relationships)
	for _, p := range b.Parts {
		n += p.CIs + p.Relationships
	}
	if n > MaxBaselineItems {
		ve.Add("cis", fmt.Sprintf("%d items, at most %d per baseline", n, MaxBaselineItems))
	}
	return ve.Err()
}

// BaselineLifecycle returns the baseline lifecycle: current, then archived.
func BaselineLifecycle() *itsm.Lifecycle[*Baseline] {
	return itsm.NewLifecycle[*Baseline](KindBaseline).
		Initial(BaselineCurrent).Final(BaselineArchived).
		Event(BaselineEventArchive, BaselineArchived, BaselineCurrent)
}

// BaselineCollection declares how baselines are stored, indexed by name.
func BaselineCollection() *storage.Collection[Baseline, *Baseline] {
	return storage.NewCollection[Baseline](KindBaseline,
		storage.StringField("name", func(b *Baseline) string { return b.Name }))
}

func (s *BaselineScope) check() error {
	ve := &itsm.ValidationError{Kind: "baseline scope"}
	if len(s.CIs) == 0 {
		ve.Add("cis", "at least one CI is required")
	}
	if slices.Contains(s.CIs, "") {
		ve.Add("cis", "an empty CI id")
	}
	if s.Depth < 0 || s.Depth > storage.MaxTraverseDepth {
		ve.Add("depth", "must be within 0..64")
	}
	if s.Depth > 0 && s.Direction != Upstream && s.Direction != Downstream {
		ve.Add("direction", "must be Upstream or Downstream when depth is set")
	}
	return ve.Err()
}

// snapshot lists the current versions of the CIs and relationships in
// scope, sorted by id.
func (c *CMDB) snapshot(ctx context.Context, s BaselineScope) (cis, rels []BaselineItem, err error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	ids := slices.Clone(s.CIs)
	if s.Depth > 0 {
		hops, err := storage.Traverse(ctx, c.backend, c.traverseParams(s.CIs, s.Direction, nil, s.Depth, min(MaxBaselineItems+1, storage.MaxTraverseHops)))
		if err != nil {
			return nil, nil, err
		}
		if len(hops) >= storage.MaxTraverseHops {
			return nil, nil, (&itsm.ValidationError{Kind: KindBaseline}).Add("scope", fmt.Sprintf("reaches more than %d CIs", MaxBaselineItems))
		}
		for _, h := range hops {
			ids = append(ids, h.ID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > MaxBaselineItems {
		return nil, nil, (&itsm.ValidationError{Kind: KindBaseline}).Add("scope", fmt.Sprintf("more than %d CIs", MaxBaselineItems))
	}
	in := map[string]bool{}
	got, err := c.cisByID(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		ci, ok := got[id]
		if !ok {
			return nil, nil, fmt.Errorf("baseline scope: %w", &itsm.NotFoundError{Kind: KindCI, ID: id})
		}
		cis = append(cis, BaselineItem{ID: id, Version: ci.Version})
		in[id] = true
	}
	// Every relationship between covered CIs has its parent among them: read
	// them by parent, a hundred parents per query, and keep the active ones
	// whose child is covered too. The state is checked here, not in the
	// query: nearly every relationship is active, and a store without
	// statistics (SQLite) would otherwise walk the state index, the whole
	// kind, for every page.
	//
	// A hundred parents per query keeps each answer (a few relationships
	// per CI) within one page, so a SQL store searches once rather than once
	// per page, and the memory store checks each candidate against a hundred
	// values, not a thousand.
	for chunk := range slices.Chunk(ids, 100) {
		vals := make([]storage.Value, len(chunk))
		for i, id := range chunk {
			vals[i] = storage.String(id)
		}
		rs, err := c.rels.All(ctx, storage.Query{Filters: []storage.Filter{storage.In("parent", vals...)}, Limit: storage.MaxLimit})
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rs {
			if r.State == RelActive && in[r.Child] {
				rels = append(rels, BaselineItem{ID: r.ID, Version: r.Version})
			}
		}
	}
	slices.SortFunc(rels, func(a, b BaselineItem) int { return cmpString(a.ID, b.ID) })
	if len(cis)+len(rels) > MaxBaselineItems {
		return nil, nil, (&itsm.ValidationError{Kind: KindBaseline}).Add("scope", fmt.Sprintf("more than %d CIs and relationships", MaxBaselineItems))
	}
	return cis, rels, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CreateBaseline snapshots the CIs and relationships in scope, pinning each
// at its current version.
func (c *CMDB) CreateBaseline(ctx context.Context, name, description string, scope BaselineScope, cmd storage.Command) (*Baseline, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("baseline: nil context")
	}
	cis, rels, err := c.snapshot(ctx, scope)
	if err != nil {
		return nil, err
	}
	scope.CIs = slices.Clone(scope.CIs)
	b := &Baseline{Name: name, Description: description, Scope: scope, TakenAt: itsm.NormalizeTime(c.clock.Now()), CIs: cis, Relationships: rels}
	if err := c.createBaseline(ctx, b, cmd); err != nil {
		return nil, err
	}
	return b, nil
}

// Baseline reads one baseline, with the content of its parts when it has
// them. A part that is missing or whose hash does not match is ErrConflict.
func (c *CMDB) Baseline(ctx context.Context, id string) (*Baseline, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("baseline: nil context")
	}
	b, err := c.baselines.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := c.loadParts(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

// ArchiveBaseline moves a baseline to archived.
func (c *CMDB) ArchiveBaseline(ctx context.Context, id string, cmd storage.Command) (*Baseline, error) {
	b, err := c.baselines.Fire(ctx, id, BaselineEventArchive, cmd, nil)
	if err != nil {
		return nil, err
	}
	if err := c.loadParts(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Diff kinds.
const (
	DiffAdded   = "added"
	DiffRemoved = "removed"
	DiffChanged = "changed"
)

// CIDiff is one CI that differs between two baselines: added, removed, or
// changed with the fields that changed (old and new values as JSON text).
type CIDiff struct {
	ID     string             `json:"id"`
	Name   string             `json:"name"`
	Change string             `json:"change"`
	Fields []itsm.FieldChange `json:"fields,omitempty"`
}

// RelationshipDiff is one relationship present on one side only.
type RelationshipDiff struct {
	ID     string `json:"id"`
	Parent string `json:"parent"`
	Type   string `json:"type"`
	Child  string `json:"child"`
	Change string `json:"change"`
}

// BaselineDiff is what changed from one baseline (From) to another or to
// now (To is "now"), CIs and relationships ordered by id.
type BaselineDiff struct {
	From          string             `json:"from"`
	To            string             `json:"to"`
	CIs           []CIDiff           `json:"cis"`
	Relationships []RelationshipDiff `json:"relationships"`
}

// Empty reports whether the two sides are the same.
func (d *BaselineDiff) Empty() bool { return len(d.CIs) == 0 && len(d.Relationships) == 0 }

// DiffBaselines compares baseline a with baseline b. Unknown baselines are
// ErrNotFound.
func (c *CMDB) DiffBaselines(ctx context.Context, a, b string) (*BaselineDiff, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("baseline: nil context")
	}
	ba, err := c.getBaseline(ctx, a)
	if err != nil {
		return nil, err
	}
	bb, err := c.getBaseline(ctx, b)
	if err != nil {
		return nil, err
	}
	return c.diff(ctx, ba.Number, bb.Number, ba.CIs, bb.CIs, ba.Relationships, bb.Relationships)
}

// DiffBaselineNow compares baseline a with the CMDB now, over the
// baseline's scope evaluated again (so CIs that joined the scope since show
// as added).
func (c *CMDB) DiffBaselineNow(ctx context.Context, a string) (*BaselineDiff, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("baseline: nil context")
	}
	ba, err := c.getBaseline(ctx, a)
	if err != nil {
		return nil, err
	}
	cis, rels, err := c.snapshot(ctx, ba.Scope)
	if err != nil {
		return nil, err
	}
	return c.diff(ctx, ba.Number, "now", ba.CIs, cis, ba.Relationships, rels)
}

func (c *CMDB) getBaseline(ctx context.Context, id string) (*Baseline, error) {
	b, err := c.Baseline(ctx, id)
	if errors.Is(err, itsm.ErrNotFound) {
		return nil, fmt.Errorf("baseline diff: %w", &itsm.NotFoundError{Kind: KindBaseline, ID: id})
	}
	return b, err
}

func (c *CMDB) diff(ctx context.Context, from, to string, ca, cb, ra, rb []BaselineItem) (*BaselineDiff, error) {
	d := &BaselineDiff{From: from, To: to}
	err := mergeItems(ca, cb, func(id string, va, vb int64) error {
		switch {
		case va == vb:
			return nil
		case va == 0 || vb == 0:
			v, kind := vb, DiffAdded
			if vb == 0 {
				v, kind = va, DiffRemoved
			}
			st, err := c.ciAtVersion(ctx, id, v)
			if err != nil {
				return err
			}
			d.CIs = append(d.CIs, CIDiff{ID: id, Name: jsonString(st["name"]), Change: kind})
			return nil
		}
		sa, err := c.ciAtVersion(ctx, id, va)
		if err != nil {
			return err
		}
		sb, err := c.ciAtVersion(ctx, id, vb)
		if err != nil {
			return err
		}
		if fs := diffFields(sa, sb); len(fs) > 0 {
			d.CIs = append(d.CIs, CIDiff{ID: id, Name: jsonString(sb["name"]), Change: DiffChanged, Fields: fs})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = mergeItems(ra, rb, func(id string, va, vb int64) error {
		if (va == 0) == (vb == 0) {
			return nil // on both sides: a relationship's ends and type never change
		}
		v, kind := vb, DiffAdded
		if vb == 0 {
			v, kind = va, DiffRemoved
		}
		st, err := atVersion(ctx, c.backend, KindRelationship, id, v)
		if err != nil {
			return err
		}
		d.Relationships = append(d.Relationships, RelationshipDiff{ID: id, Parent: jsonString(st["parent"]),
			Type: jsonString(st["type"]), Child: jsonString(st["child"]), Change: kind})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// mergeItems walks two id-sorted item lists together, calling fn with the
// version on each side (0 when absent).
func mergeItems(a, b []BaselineItem, fn func(id string, va, vb int64) error) error {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var err error
		switch {
		case j == len(b) || i < len(a) && a[i].ID < b[j].ID:
			err = fn(a[i].ID, a[i].Version, 0)
			i++
		case i == len(a) || b[j].ID < a[i].ID:
			err = fn(b[j].ID, 0, b[j].Version)
			j++
		default:
			err = fn(a[i].ID, a[i].Version, b[j].Version)
			i++
			j++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func jsonString(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}
