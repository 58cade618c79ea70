package itsm

import (
	"context"
	"slices"
)

// ActionReadInternal is what an actor needs, besides ActionRead, to see a
// record's internal fields (an incident's work notes): fields a kind
// declares internal are blanked in the records, history and events handed
// to an actor without it.
const ActionReadInternal = "read_internal"

// RoleManager is the role the default rules let read every record of every
// kind (service desk and change managers).
const RoleManager = "manager"

// RoleSystem is the role of the host's own automation (monitoring, the
// auto-close job, integrations): the default rules let it do and read
// everything but import backdated history.
const RoleSystem = "system"

// Audience names the indexed fields that say whom a record is for and who
// works on it. A kind declares it once (storage.Collection.WithAudience) and
// the read rules are expressed on it, so that a store can apply them as a
// query filter. An empty name means the kind has no such field.
type Audience struct {
	Owner string // the person the record is for: an incident's caller_id, a request's requested_for
	Group string // the group that works it: assignment_group
	// CoOwner is a second person the record is for (a request's
	// requested_by, who ordered for someone else): a JSON member, not
	// necessarily indexed. Reading one record honours it; lists scoped to
	// the owner show the records of Owner only, so their pages stay full.
	CoOwner string
}

// Scope is what an actor may read of one kind, as a condition a store can
// filter on: every record, or the records whose Field holds one of Values.
// The zero Scope allows nothing.
type Scope struct {
	All    bool
	Field  string
	Values []string
}

// Allows reports whether a record whose scoped field holds value is in the
// scope.
func (s Scope) Allows(value string) bool {
	return s.All || s.Field != "" && slices.Contains(s.Values, value)
}

// ReadScoper is implemented by Authorizers that can express which records
// of a kind an actor may read as a Scope. Lists then ask the store only for
// those records, so a page of 50 stays a page of 50; every record is still
// checked with Authorize for ActionRead, which may refuse more. An
// Authorizer without it scopes nothing: lists read every record and keep
// those Authorize allows, reading further pages to fill the one asked for.
type ReadScoper interface {
	ReadScope(ctx context.Context, actor Actor, kind string, aud Audience) (Scope, error)
}

// Read scopes a RoleAuthorizer gives a role (ScopeReads).
const (
	// ReadAll lets the role read every record of a kind it may read.
	ReadAll = "all"
	// ReadGroups lets the role read the records worked by one of its groups
	// and the records no group works yet (the triage queue); on kinds whose
	// Audience names no group, every record.
	ReadGroups = "groups"
	// ReadOwn lets the role read the records that are for the actor; on
	// kinds whose Audience names a group but no owner (a request's
	// fulfilment tasks), none.
	ReadOwn = "own"
)

// readScopeRank orders the scopes from narrowest to broadest: an actor
// holding several roles reads with the broadest. Unknown names rank 0.
func readScopeRank(scope string) int {
	switch scope {
	case ReadOwn:
		return 1
	case ReadGroups:
		return 2
	case ReadAll:
		return 3
	}
	return 0
}

// ScopeReads gives roles a read scope (ReadAll, ReadGroups or ReadOwn) and
// returns the authorizer for chaining. A role that may read a kind but has
// no read scope reads every record of it. An actor with several roles reads
// with the broadest of their scopes. An unknown scope name is ignored by
// ReadScope, which then allows nothing for that role.
func (r *RoleAuthorizer) ScopeReads(scope string, roles ...string) *RoleAuthorizer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.readScopes == nil {
		r.readScopes = map[string]string{}
	}
	for _, role := range roles {
		r.readScopes[role] = scope
	}
	return r
}

// ReadScope returns the records of kind actor may read under the roles'
// read scopes (ScopeReads), counting only roles that grant read on the
// kind. Kinds without an Audience (services, CIs, knowledge) are read
// whole by every such role.
func (r *RoleAuthorizer) ReadScope(_ context.Context, actor Actor, kind string, aud Audience) (Scope, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	best := 0
	for _, role := range actor.Roles {
		if !r.roleGrants(role, kind, ActionRead) {
			continue // this role adds nothing to what the actor may read
		}
		s, ok := r.readScopes[role]
		if !ok {
			s = ReadAll
		}
		best = max(best, readScopeRank(s))
	}
	switch {
	case best == 0:
		return Scope{}, nil
	case best == readScopeRank(ReadAll), aud == Audience{},
		best == readScopeRank(ReadGroups) && aud.Group == "":
		return Scope{All: true}, nil
	case best == readScopeRank(ReadGroups):
		return Scope{Field: aud.Group, Values: append(slices.Clone(actor.Groups), "")}, nil
	case best == readScopeRank(ReadOwn):
		return Scope{Field: aud.Owner, Values: []string{actor.ID}}, nil
	}
	return Scope{}, nil
}
