package transition

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Impact directions. Upstream follows dependency backwards, from a CI to
// everything that depends on it: what a failure or a change of the CI
// impacts, up to the business services. Downstream follows it forwards, to
// everything the CI depends on: where the cause of a service's trouble may
// sit.
const (
	Upstream   = storage.Up
	Downstream = storage.Down
)

// ImpactQuery asks what is affected by (Upstream) or what supports
// (Downstream) a set of CIs.
type ImpactQuery struct {
	CIs       []string          // the CIs to start from
	Direction storage.Direction // Upstream or Downstream
	Types     []string          // relationship types to follow; empty follows all
	MaxDepth  int               // 1..64; 0 means 64
	Limit     int               // stop after this many CIs; 0 means storage.MaxTraverseHops
}

// PathStep is one step of an impact path: the CI reached and the
// relationship (id and type) followed to reach it. The first step of a path
// is a starting CI, with no relationship.
type PathStep struct {
	CI           string `json:"ci"`
	Relationship string `json:"relationship,omitempty"`
	Type         string `json:"type,omitempty"`
}

// AffectedCI is one CI reached by an impact analysis, at its smallest depth,
// with the CI and relationship through which it was reached.
type AffectedCI struct {
	ID           string `json:"id"`
	Class        string `json:"class"`
	Depth        int    `json:"depth"`
	Via          string `json:"via"`          // the CI one level closer to the start
	Relationship string `json:"relationship"` // the relationship followed from Via
	Type         string `json:"type"`
}

// AffectedService is a business service reached by an impact analysis, with
// the path from a starting CI to it.
type AffectedService struct {
	ID                  string     `json:"id"`
	Name                string     `json:"name,omitempty"`
	ServiceID           string     `json:"service_id,omitempty"`
	BusinessCriticality int64      `json:"business_criticality,omitempty"`
	Depth               int        `json:"depth"`
	Path                []PathStep `json:"path"`
}

// Impact is the answer of an impact analysis: every CI reached, ordered by
// depth then id, and the business services among them. Truncated is true
// when the limit stopped the walk.
type Impact struct {
	Affected  []AffectedCI      `json:"affected"`
	Services  []AffectedService `json:"services"`
	Truncated bool              `json:"truncated"`
}

func (q *ImpactQuery) check() error {
	ve := &itsm.ValidationError{Kind: "impact query"}
	if len(q.CIs) == 0 {
		ve.Add("cis", "at least one CI is required")
	}
	if slices.Contains(q.CIs, "") {
		ve.Add("cis", "an empty CI id")
	}
	if q.Direction != Upstream && q.Direction != Downstream {
		ve.Add("direction", "must be Upstream or Downstream")
	}
	if q.MaxDepth == 0 {
		q.MaxDepth = storage.MaxTraverseDepth
	}
	if q.MaxDepth < 1 || q.MaxDepth > storage.MaxTraverseDepth {
		ve.Add("max_depth", "must be within 1..64")
	}
	if q.Limit < 0 || q.Limit > storage.MaxTraverseHops {
		ve.Add("limit", "must be within 0..1000000")
	}
	if len(q.Types) > storage.MaxInValues {
		ve.Add("types", "too many relationship types")
	}
	return ve.Err()
}

// Impact runs an impact analysis on the store through storage.Traverse (the
// backend's native traversal when it has one, a breadth-first search over
// queries otherwise). For large CMDBs keep a Graph and use Graph.Impact,
// which answers the same.
func (c *CMDB) Impact(ctx context.Context, q ImpactQuery) (*Impact, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("impact: nil context")
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	if err := c.checkTypes(q.Types); err != nil {
		return nil, err
	}
	if err := c.checkStarts(ctx, q.CIs); err != nil {
		return nil, err
	}
	hops, err := storage.Traverse(ctx, c.backend, c.traverseParams(q.CIs, q.Direction, q.Types, q.MaxDepth, q.Limit))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(hops))
	for i, h := range hops {
		ids[i] = h.ID
	}
	cis, err := c.cisByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	classOf := func(id string) (string, error) {
		if ci, ok := cis[id]; ok {
			return ci.Class, nil
		}
		return "", nil
	}
	return c.buildImpact(ctx, q, hops, classOf, cis)
}

// checkStarts refuses starting CIs the CMDB does not hold.
func (c *CMDB) checkStarts(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := c.backend.Get(ctx, KindCI, id); err != nil {
			if errors.Is(err, itsm.ErrNotFound) {
				return fmt.Errorf("impact query: %w", &itsm.NotFoundError{Kind: KindCI, ID: id})
			}
			return err
		}
	}
	return nil
}

func (c *CMDB) checkTypes(types []string) error {
	for _, t := range types {
		if _, ok := c.types.Type(t); !ok {
			return (&itsm.ValidationError{Kind: "impact query"}).Add("types", "unknown relationship type "+t)
		}
	}
	return nil
}

// Impact runs an impact analysis on the graph; the CMDB c supplies the class
// model and the service details (name, criticality). It answers what
// CMDB.Impact answers on the store the graph projects, as of the graph's
// last Refresh.
func (g *Graph) Impact(ctx context.Context, c *CMDB, q ImpactQuery) (*Impact, error) {
	if ctx == nil || c == nil {
		return nil, itsm.Invalidf("impact: nil context or CMDB")
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	if err := c.checkTypes(q.Types); err != nil {
		return nil, err
	}
	if err := c.checkStarts(ctx, q.CIs); err != nil {
		return nil, err
	}
	hops, err := g.Traverse(q.CIs, q.Direction, q.Types, q.MaxDepth, q.Limit)
	if err != nil {
		return nil, err
	}
	classOf := func(id string) (string, error) {
		cl, _ := g.ClassOf(id)
		return cl, nil
	}
	return c.buildImpact(ctx, q, hops, classOf, nil)
}

// buildImpact turns hops into the answer; known holds CIs already read
// (nil: read the services it needs).
func (c *CMDB) buildImpact(ctx context.Context, q ImpactQuery, hops []storage.Hop, classOf func(string) (string, error), known map[string]*CI) (*Impact, error) {
	limit := q.Limit
	if limit == 0 {
		limit = storage.MaxTraverseHops
	}
	out := &Impact{Affected: make([]AffectedCI, len(hops)), Truncated: len(hops) >= limit}
	at := make(map[string]int, len(hops))
	for i, h := range hops {
		cl, err := classOf(h.ID)
		if err != nil && !errors.Is(err, itsm.ErrNotFound) {
			return nil, err
		}
		out.Affected[i] = AffectedCI{ID: h.ID, Class: cl, Depth: h.Depth, Via: h.Parent, Relationship: h.Edge, Type: h.Type}
		at[h.ID] = i
	}
	if known == nil {
		var svcIDs []string
		for _, a := range out.Affected {
			if c.classes.IsA(a.Class, ClassBusinessService) {
				svcIDs = append(svcIDs, a.ID)
			}
		}
		var err error
		if known, err = c.cisByID(ctx, svcIDs); err != nil {
			return nil, err
		}
	}
	for i, a := range out.Affected {
		if !c.classes.IsA(a.Class, ClassBusinessService) {
			continue
		}
		var path []PathStep
		for j := i; ; {
			h := out.Affected[j]
			path = append(path, PathStep{CI: h.ID, Relationship: h.Relationship, Type: h.Type})
			k, ok := at[h.Via]
			if !ok {
				path = append(path, PathStep{CI: h.Via})
				break
			}
			j = k
		}
		slices.Reverse(path)
		svc := AffectedService{ID: a.ID, Depth: a.Depth, Path: path}
		if ci, ok := known[a.ID]; ok {
			svc.Name, svc.ServiceID, svc.BusinessCriticality = ci.Name, ci.ServiceID, ci.BusinessCriticality
		}
		out.Services = append(out.Services, svc)
	}
	return out, nil
}
