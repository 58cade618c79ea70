package itsm

import (
	"context"
	"errors"
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
	mu     sync.RWMutex
	grants map[string]map[string]bool // role -> permission set
	rules  []namedRule
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
	candidates := [...]string{
		req.Kind + ":" + req.Action, req.Kind + ":*", "*:" + req.Action, "*:*", "*",
	}
	for _, role := range req.Actor.Roles {
		set := r.grants[role]
		for _, c := range candidates {
			if set[c] {
				return true
			}
		}
	}
	return false
}

// DefaultAuthorizer returns the role rules Pillars ships with: "admin" may do
// everything, "agent" may create, update, read and move any record through
// its lifecycle except imports, "caller" may create and read, and "importer"
// may create, update and import history. Hosts usually start from it and add
// grants and rules.
func DefaultAuthorizer() *RoleAuthorizer {
	a := NewRoleAuthorizer().
		Grant("admin", "*").
		Grant("agent", "*:*").
		Grant("caller", "*:"+ActionCreate, "*:"+ActionRead).
		Grant(RoleImporter, "*:*")
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
