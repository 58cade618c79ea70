package itsm

// RecordFreeAuthorizer is implemented by Authorizers that can tell when
// their decision on an action does not depend on the record: for an actor
// allowed the action on the kind at all, every record of it is allowed.
// A ReadScoper whose reads are record-free has its read rules expressed
// wholly by its Scope, so a store may count an actor's records with the
// scope as a filter instead of checking every record
// (storage.Records.Count).
type RecordFreeAuthorizer interface {
	RecordFree(kind, action string) bool
}

// RecordFree reports whether the decision on kind:action depends on the
// actor's roles alone: no rule is added for it (AddRule with the kind or
// "*" and the action or "*").
func (r *RoleAuthorizer) RecordFree(kind, action string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, nr := range r.rules {
		if (nr.kind == "*" || nr.kind == kind) && (nr.action == "*" || nr.action == action) {
			return false
		}
	}
	return true
}
