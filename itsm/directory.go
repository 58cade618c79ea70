package itsm

import (
	"context"
	"slices"
)

// Directory answers who belongs to which group. The host implements it over
// its identity system (LDAP, SCIM, a table); every pillar that needs group
// membership takes this one interface.
//
// The two methods are the union of what the pillars ask: the service desk
// (operation) asks IsMember to refuse an assignee outside the assignment
// group and to scope an agent's queues; change enablement (transition) asks
// Members to count an "all" or "N of M" approval quorum. StaticDirectory is
// an implementation over a fixed map, for tests and small hosts.
type Directory interface {
	// IsMember reports whether user belongs to group.
	IsMember(ctx context.Context, group, user string) (bool, error)
	// Members returns the ids of the group's members (none for an unknown
	// group). The caller may modify the slice.
	Members(ctx context.Context, group string) ([]string, error)
}

// StaticDirectory is a Directory from a map of group to member ids. It is
// safe for concurrent use as long as the map is not modified.
type StaticDirectory map[string][]string

// IsMember reports whether user is listed in group.
func (d StaticDirectory) IsMember(_ context.Context, group, user string) (bool, error) {
	return slices.Contains(d[group], user), nil
}

// Members returns a copy of the group's members.
func (d StaticDirectory) Members(_ context.Context, group string) ([]string, error) {
	return slices.Clone(d[group]), nil
}
