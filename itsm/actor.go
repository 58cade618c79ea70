package itsm

import (
	"context"
	"slices"
)

// Actor is the person or system performing a command.
type Actor struct {
	ID     string   `json:"id"`
	Name   string   `json:"name,omitempty"`
	Roles  []string `json:"roles,omitempty"`  // role names, checked by the Authorizer
	Groups []string `json:"groups,omitempty"` // assignment groups the actor belongs to
}

// HasRole reports whether the actor holds role.
func (a Actor) HasRole(role string) bool { return slices.Contains(a.Roles, role) }

// InGroup reports whether the actor is a member of group.
func (a Actor) InGroup(group string) bool { return slices.Contains(a.Groups, group) }

type actorKey struct{}

// WithActor returns a context carrying a. Every command reads its actor from
// the context it is given.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor carried by ctx and whether there was one with a
// non-empty id. A nil context carries no actor.
func ActorFrom(ctx context.Context) (Actor, bool) {
	if ctx == nil {
		return Actor{}, false
	}
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok && a.ID != ""
}
