package itsm

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The sentinel errors of Pillars. Every error returned by the kernel, the
// storage contract, the adapters and the pillars matches one of them with
// errors.Is; typed errors below carry the detail and are reached with
// errors.As.
var (
	// ErrNotFound reports that a record, document or sequence does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports a write against a stale version or an existing key.
	// Retrying after reading the current version is the usual answer.
	ErrConflict = errors.New("conflict")
	// ErrInvalidTransition reports an event that the record's lifecycle does
	// not allow from its current state, or that a guard refused.
	ErrInvalidTransition = errors.New("invalid transition")
	// ErrForbidden reports a command without an actor, or by an actor who
	// lacks the right to perform it.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid reports malformed input: a missing or bad field, an unknown
	// kind, an undeclared query field, a broken definition.
	ErrInvalid = errors.New("invalid")
	// ErrBusy reports that the store cannot answer yet because of work in
	// flight, for example a log reader waiting for a unit of work that drew
	// its sequence number and has not committed. Retry shortly; nothing is
	// wrong with the data or the store. A failure of the database itself
	// (down, unreachable) matches none of the sentinels.
	ErrBusy = errors.New("busy")
)

// TransitionError explains why a lifecycle event was refused. It matches
// ErrInvalidTransition and, through Unwrap, whatever the refusing guard's
// own error matches (ErrInvalid for a *ValidationError).
type TransitionError struct {
	Kind   string // record kind, for example "incident"
	ID     string // record id, empty before the record exists
	Number string // human number, when known
	From   string // the state the record was in
	Event  string // the event that was refused
	Guard  string // the name of the guard that refused, empty if the event was not allowed at all
	Reason string // the reason given by the guard or the engine
	Err    error  // the guard's own error, nil when the engine refused
}

func (e *TransitionError) Error() string {
	who := e.Kind
	if e.Number != "" {
		who += " " + e.Number
	} else if e.ID != "" {
		who += " " + e.ID
	}
	msg := fmt.Sprintf("%s: event %q refused in state %q", who, e.Event, e.From)
	if e.Guard != "" {
		msg += " by guard " + e.Guard
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes a TransitionError match ErrInvalidTransition.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// Unwrap returns the refusing guard's error, so errors.Is and errors.As
// reach it (a *ValidationError naming the missing field).
func (e *TransitionError) Unwrap() error { return e.Err }

// ValidationError lists the fields of a record or request that are wrong,
// each with a message a person can act on. It matches ErrInvalid.
type ValidationError struct {
	Kind   string            // record kind or input name
	ID     string            // record id when known
	Fields map[string]string // field name -> problem
}

// Add records a problem with a field and returns the error for chaining.
func (e *ValidationError) Add(field, problem string) *ValidationError {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	e.Fields[field] = problem
	return e
}

// Err returns e when it holds at least one problem, nil otherwise, so a
// validator can build a ValidationError and return e.Err() at the end.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for n := range e.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + e.Fields[n]
	}
	who := e.Kind
	if e.ID != "" {
		who += " " + e.ID
	}
	if who == "" {
		return "invalid: " + strings.Join(parts, "; ")
	}
	return fmt.Sprintf("invalid %s: %s", who, strings.Join(parts, "; "))
}

// Is makes a ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Invalidf returns an error matching ErrInvalid with a formatted message.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// NotFoundError names the record that does not exist. It matches ErrNotFound.
type NotFoundError struct {
	Kind string
	ID   string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %s: not found", e.Kind, e.ID) }

// Is makes a NotFoundError match ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ConflictError names the record whose version was stale. It matches
// ErrConflict.
type ConflictError struct {
	Kind     string
	ID       string
	Expected int64 // the version the writer held
	Actual   int64 // the version stored, when known (0: not known)
}

func (e *ConflictError) Error() string {
	if e.Actual != 0 {
		return fmt.Sprintf("%s %s: conflict: version %d is stale, the record is at version %d", e.Kind, e.ID, e.Expected, e.Actual)
	}
	if e.Expected == 0 {
		return fmt.Sprintf("%s %s: conflict: already exists", e.Kind, e.ID)
	}
	return fmt.Sprintf("%s %s: conflict: version %d is stale", e.Kind, e.ID, e.Expected)
}

// Is makes a ConflictError match ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ForbiddenError names the actor and the action that was refused. It matches
// ErrForbidden.
type ForbiddenError struct {
	Actor  string // actor id, empty when the context had none
	Kind   string
	Action string
	Reason string
}

func (e *ForbiddenError) Error() string {
	var msg string
	if e.Actor == "" {
		msg = fmt.Sprintf("forbidden: %s %s", e.Action, e.Kind)
	} else {
		msg = fmt.Sprintf("forbidden: %s may not %s %s", e.Actor, e.Action, e.Kind)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes a ForbiddenError match ErrForbidden.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }
