package transition

import (
	"slices"
	"sort"
	"sync"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// RelationshipType declares a typed, directed CI relationship, read "parent
// Name child" one way and "child Reverse parent" the other, as ServiceNow's
// "Depends on::Used by" pairs are.
//
// Impact follows dependency: for most types the parent depends on the child
// (an application depends_on its database, runs_on its server), so a failure
// of the child impacts the parent. ChildDepends turns that round for types
// such as member_of (a server member_of a cluster: the cluster is what a
// failing member impacts).
type RelationshipType struct {
	Name    string // "depends_on"
	Reverse string // "used_by"
	// ChildDepends says the child depends on the parent rather than the
	// parent on the child.
	ChildDepends bool
	// Acyclic refuses a relationship that would close a cycle of this type.
	Acyclic bool
	// MaxPerParent and MaxPerChild bound how many active relationships of
	// this type one CI may have as parent and as child; 0 is unbounded
	// (cardinality: a virtual machine runs on one host).
	MaxPerParent int
	MaxPerChild  int
	// ParentClasses and ChildClasses restrict the classes (and their
	// descendants) each end may have; empty allows any class.
	ParentClasses []string
	ChildClasses  []string
}

// The built-in relationship types.
const (
	RelDependsOn   = "depends_on"   // parent depends on child; child used_by parent
	RelRunsOn      = "runs_on"      // parent runs on child; child hosts parent
	RelConnectedTo = "connected_to" // parent connected to child; cycles allowed
	RelMemberOf    = "member_of"    // parent is a member of child (server member_of cluster)
)

// RelationshipTypes is the set of relationship types a CMDB accepts. It is
// safe for concurrent use.
type RelationshipTypes struct {
	mu    sync.RWMutex
	types map[string]RelationshipType
}

// DefaultRelationshipTypes returns the built-in types: depends_on/used_by
// and runs_on/hosts (acyclic, parent depends on child), connected_to/
// connected_by (cycles allowed) and member_of/has_member (acyclic, the
// group depends on its members).
func DefaultRelationshipTypes() *RelationshipTypes {
	r := &RelationshipTypes{types: map[string]RelationshipType{}}
	for _, t := range []RelationshipType{
		{Name: RelDependsOn, Reverse: "used_by", Acyclic: true},
		{Name: RelRunsOn, Reverse: "hosts", Acyclic: true},
		{Name: RelConnectedTo, Reverse: "connected_by"},
		{Name: RelMemberOf, Reverse: "has_member", ChildDepends: true, Acyclic: true},
	} {
		r.types[t.Name] = t
	}
	return r
}

// Define adds or replaces a relationship type. Names must be lower-case
// identifiers and classes defined in classes (nil skips that check).
func (r *RelationshipTypes) Define(t RelationshipType, classes *Classes) error {
	if !storage.ValidName(t.Name) || t.Reverse != "" && !storage.ValidName(t.Reverse) {
		return itsm.Invalidf("relationship type %q/%q: names must be lower-case identifiers", t.Name, t.Reverse)
	}
	if t.MaxPerParent < 0 || t.MaxPerChild < 0 {
		return itsm.Invalidf("relationship type %s: negative cardinality", t.Name)
	}
	if classes != nil {
		for _, c := range append(slices.Clone(t.ParentClasses), t.ChildClasses...) {
			if _, ok := classes.Class(c); !ok {
				return itsm.Invalidf("relationship type %s: unknown class %q", t.Name, c)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.types) >= 255 {
		if _, ok := r.types[t.Name]; !ok {
			return itsm.Invalidf("relationship type %s: at most 255 types", t.Name)
		}
	}
	t.ParentClasses, t.ChildClasses = slices.Clone(t.ParentClasses), slices.Clone(t.ChildClasses)
	r.types[t.Name] = t
	return nil
}

// Type returns the named type and whether it exists.
func (r *RelationshipTypes) Type(name string) (RelationshipType, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[name]
	return t, ok
}

// Names returns the type names, sorted.
func (r *RelationshipTypes) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.types))
	for n := range r.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
