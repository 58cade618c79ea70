package itsm

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// Well-known actions checked through the Authorizer, besides lifecycle event
// names (an event "resolve" is checked as the action "resolve").
const (
	ActionCreate = "create" // create a record
	ActionUpdate = "update" // change fields without a state change
	ActionRead   = "read"   // read records
	ActionImport = "import" // carry an explicit, backdated occurrence time
)

// RoleImporter is the role the default rules allow to import history with
// backdated occurrence times.
const RoleImporter = "importer"

// AccessRequest is what an Authorizer decides on.
type AccessRequest struct {
	Actor  Actor
	Kind   string // record kind, for example "incident"
	Action string // ActionCreate, ActionUpdate, a lifecycle event name, ...
	Record any    // the record concerned, when there is one (nil on create checks before build)
}

// Authorizer decides whether a request may proceed. It returns nil to allow,
// or an error matching ErrForbidden to refuse. Hosts plug in their own to use
// an existing policy engine; RoleAuthorizer is the default.
type Authorizer interface {
	Authorize(ctx context.Context, req AccessRequest) error
}

// Rule is an extra check run by RoleAuthorizer after the role grant matched,
// for rules such as "the requester of a change may not approve it". It
// returns a non-empty reason to refuse.
type Rule func(ctx context.Context, req AccessRequest) (refuse string)

// RoleAuthorizer is the default Authorizer: roles grant permissions written
// "kind:action", where either part may be "*" ("incident:*", "*:read", "*").
// Rules added with AddRule run after a grant matched. The zero value refuses
// everything; it is safe for concurrent use once configured.
type RoleAuthorizer struct {
	mu         sync.RWMutex
	grants     map[string]map[string]bool // role -> permission set
	readScopes map[string]string          // role -> ReadAll, ReadGroups or ReadOwn
	rules      []namedRule
}

type namedRule struct {
	kind, action string
	rule         Rule
}

// NewRoleAuthorizer returns an empty RoleAuthorizer.
func NewRoleAuthorizer() *RoleAuthorizer {
	return &RoleAuthorizer{grants: map[string]map[string]bool{}}
}

// Grant gives role the permissions and returns the authorizer for chaining.
func (r *RoleAuthorizer) Grant(role string, permissions ...string) *RoleAuthorizer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.grants == nil {
		r.grants = map[string]map[string]bool{}
	}
	set := r.grants[role]
	if set == nil {
		set = map[string]bool{}
		r.grants[role] = set
	}
	for _, p := range permissions {
		set[p] = true
	}
	return r
}

// AddRule adds a rule checked for requests on kind and action ("*" matches
// any) after a role grant allowed them.
func (r *RoleAuthorizer) AddRule(kind, action string, rule Rule) *RoleAuthorizer {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules = append(r.rules, namedRule{kind: kind, action: action, rule: rule})
	return r
}

// Authorize allows the request when one of the actor's roles grants
// kind:action and no rule refuses it.
func (r *RoleAuthorizer) Authorize(ctx context.Context, req AccessRequest) error {
	if req.Actor.ID == "" {
		return &ForbiddenError{Kind: req.Kind, Action: req.Action, Reason: "no actor in context"}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.granted(req) {
		return &ForbiddenError{Actor: req.Actor.ID, Kind: req.Kind, Action: req.Action,
			Reason: "no role grants " + req.Kind + ":" + req.Action}
	}
	for _, nr := range r.rules {
		if (nr.kind == "*" || nr.kind == req.Kind) && (nr.action == "*" || nr.action == req.Action) {
			if why := nr.rule(ctx, req); why != "" {
				return &ForbiddenError{Actor: req.Actor.ID, Kind: req.Kind, Action: req.Action, Reason: why}
			}
		}
	}
	return nil
}

func (r *RoleAuthorizer) granted(req AccessRequest) bool {
	for _, role := range req.Actor.Roles {
		if r.roleGrants(role, req.Kind, req.Action) {
			return true
		}
	}
	return false
}

// roleGrants reports whether role holds kind:action, directly or through a
// wildcard. It looks the permissions up without building strings.
func (r *RoleAuthorizer) roleGrants(role, kind, action string) bool {
	set := r.grants[role]
	if len(set) == 0 {
		return false
	}
	if set["*"] || set["*:*"] {
		return true
	}
	for p := range set {
		k, a, ok := strings.Cut(p, ":")
		if ok && (k == kind || k == "*") && (a == action || a == "*") {
			return true
		}
	}
	return false
}

// DefaultAuthorizer returns the role rules Pillars ships with. Hosts
// usually start from it and add grants, read scopes and rules.
//
//	role      may                                                  reads (kinds with an Audience)
//	admin     everything                                           every record, internal fields included
//	manager   read                                                 every record, internal fields included
//	agent     create, update, read and every lifecycle event;      the records of their groups and the
//	          not import                                           unassigned ones, internal fields included
//	caller    create and read                                      their own records, internal fields hidden
//	system    everything but imports                               every record
//	importer  everything, imports of backdated history included    every record
//
// Kinds without an Audience (services, CIs, knowledge) are read whole by
// every role allowed to read them; a caller reads none of a kind whose
// Audience names a group but no owner.
func DefaultAuthorizer() *RoleAuthorizer {
	a := NewRoleAuthorizer().
		Grant("admin", "*").
		Grant(RoleManager, "*:"+ActionRead, "*:"+ActionReadInternal).
		Grant("agent", "*:*").
		Grant("caller", "*:"+ActionCreate, "*:"+ActionRead).
		Grant(RoleSystem, "*:*").
		Grant(RoleImporter, "*:*").
		ScopeReads(ReadAll, "admin", RoleManager, RoleSystem, RoleImporter).
		ScopeReads(ReadGroups, "agent").
		ScopeReads(ReadOwn, "caller")
	// Agents hold "*:*", which would include import; keep import to the
	// importer and admin roles.
	a.AddRule("*", ActionImport, func(_ context.Context, req AccessRequest) string {
		if req.Actor.HasRole(RoleImporter) || req.Actor.HasRole("admin") {
			return ""
		}
		return "only the " + RoleImporter + " role may record backdated history"
	})
	return a
}

// Authorize checks req with az, filling req.Actor from ctx. A nil az allows
// everything that has an actor; a missing actor is always forbidden.
func Authorize(ctx context.Context, az Authorizer, kind, action string, record any) error {
	a, ok := ActorFrom(ctx)
	if !ok {
		return &ForbiddenError{Kind: kind, Action: action, Reason: "no actor in context"}
	}
	if az == nil {
		return nil
	}
	if err := az.Authorize(ctx, AccessRequest{Actor: a, Kind: kind, Action: action, Record: record}); err != nil {
		if !errors.Is(err, ErrForbidden) {
			return &ForbiddenError{Actor: a.ID, Kind: kind, Action: action, Reason: err.Error()}
		}
		return err
	}
	return nil
}
