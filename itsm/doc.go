// Package itsm is the kernel every Pillars pillar builds on.
//
// It holds what all record kinds share and nothing that knows about a
// particular pillar or store:
//
//   - who acts: [Actor] carried in a [context.Context], checked by one
//     [Authorizer] (the default is [RoleAuthorizer]);
//   - time: the [Clock] interface with [SystemClock] and [FakeClock];
//   - errors: the sentinels [ErrNotFound], [ErrConflict],
//     [ErrInvalidTransition], [ErrForbidden] and [ErrInvalid], wrapped by
//     typed errors that carry detail ([TransitionError], [ValidationError],
//     [DefinitionError]);
//   - identity: [NewID] (UUID v7) and [FormatNumber] for human numbers such as
//     INC0001042;
//   - lifecycles: [Lifecycle] declares the states and events of a record kind,
//     [Lifecycle.Compile] validates it once into an immutable [Machine] that
//     every record of the kind shares;
//   - the audit trail: [Event], one per accepted transition or change,
//     hash-chained per record and checked by [Verify].
//
// The storage contract lives in package storage, which imports this one.
package itsm
