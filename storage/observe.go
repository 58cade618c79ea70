package storage

import (
	"context"
	"errors"

	"github.com/pillars-itsm/pillars/itsm"
)

// Observer watches the commands Records runs, for tracing, metrics and
// logs (package storage/telemetry implements it with OpenTelemetry). It is
// optional: a Records without one (RecordsConfig.Observer nil) pays one
// nil check per command.
//
// Command is called when a command (Create, Fire, Change or their Tx
// forms) starts, before anything is read; a command run by another (Fire
// retrying FireTx's work) is observed once. The context it returns is the one the command runs under, so an
// observer can put a span in it and the store calls below become its
// children; done is called once, when the command has ended, with its
// outcome. Observers must be safe for concurrent use and must not call
// the Records they observe.
type Observer interface {
	Command(ctx context.Context, c CommandInfo) (context.Context, func(CommandResult))
}

// CommandInfo names a command as it starts.
type CommandInfo struct {
	Kind  string // the record kind
	Event string // the lifecycle event; itsm.EventCreate, or itsm.EventUpdate for Change
	ID    string // the record's id; empty on a Create that draws a new one
	// Tx is the caller's unit of work for the Tx forms (CreateTx, FireTx,
	// ChangeTx), nil otherwise: an observer that wrapped the backend may
	// recognise its own Tx and nest the command under the unit.
	Tx Tx
}

// CommandResult is a command's outcome.
type CommandResult struct {
	ID, Number string // the record's id and human number, when known
	Attempts   int    // units of work run: more than 1 when a conflict was retried
	Err        error  // nil when the command was applied
}

// Outcome classifies a command's error for metrics and logs:
//   - "applied": no error;
//   - "refused": the command was refused by the rules (forbidden, invalid,
//     not found, a lifecycle or guard refusal); RefusedBy says by what;
//   - "conflict": a version conflict that retries did not resolve, or an
//     If-Match that no longer held;
//   - "failed": anything else, such as a database failure.
func Outcome(err error) string {
	switch {
	case err == nil:
		return "applied"
	case errors.Is(err, itsm.ErrConflict):
		return "conflict"
	case RefusedBy(err) != "":
		return "refused"
	}
	return "failed"
}

// RefusedBy names what refused a command: "guard:<name>" for a lifecycle
// guard, "lifecycle" for an event the state does not allow, "forbidden",
// "invalid", "not_found", or "" when err is not a refusal.
func RefusedBy(err error) string {
	var te *itsm.TransitionError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te) && te.Guard != "":
		return "guard:" + te.Guard
	case errors.Is(err, itsm.ErrInvalidTransition):
		return "lifecycle"
	case errors.Is(err, itsm.ErrForbidden):
		return "forbidden"
	case errors.Is(err, itsm.ErrInvalid):
		return "invalid"
	case errors.Is(err, itsm.ErrNotFound):
		return "not_found"
	}
	return ""
}

// observe starts an observed command when the Records has an Observer; it
// returns ctx unchanged and a nil done otherwise.
func (r *Records[T, P]) observe(ctx context.Context, tx Tx, event, id string) (context.Context, func(CommandResult)) {
	if r.cfg.Observer == nil || ctx == nil {
		return ctx, nil
	}
	return r.cfg.Observer.Command(ctx, CommandInfo{Kind: r.coll.Kind(), Event: event, ID: id, Tx: tx})
}

// observed reports a command's outcome to done (nil: nothing to report).
func observed[P interface{ Meta() *itsm.Record }](done func(CommandResult), rec P, isNil bool, attempts int, err error) {
	if done == nil {
		return
	}
	res := CommandResult{Attempts: attempts, Err: err}
	if !isNil {
		m := rec.Meta()
		res.ID, res.Number = m.ID, m.Number
	}
	done(res)
}

// createObserved is Create under the Observer.
func (r *Records[T, P]) createObserved(ctx context.Context, rec P, cmd Command) error {
	octx, done := r.observe(ctx, nil, itsm.EventCreate, rec.Meta().ID)
	err := r.backend.Update(octx, func(tx Tx) error { return r.createTx(octx, tx, rec, cmd) })
	observed(done, rec, false, 1, err)
	return err
}

// retryObserved is retry's loop, under the Observer when there is one
// (counting the attempts); without one it costs what the loop alone does.
func (r *Records[T, P]) retryObserved(ctx context.Context, event, id string, fn func(context.Context, Tx) (P, error)) (P, error) {
	octx, done := r.observe(ctx, nil, event, id)
	var run struct { // one allocation for both
		out      P
		attempts int
	}
	err := Retry(octx, r.backend, max(r.cfg.Retries, 0)+1, func(tx Tx) error {
		run.attempts++
		var err error
		run.out, err = fn(octx, tx)
		return err
	})
	observed(done, run.out, run.out == nil, run.attempts, err)
	return run.out, err
}
