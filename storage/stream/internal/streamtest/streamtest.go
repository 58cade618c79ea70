// Package streamtest holds what the stream packages' tests share: a small
// record kind with an audience and an internal field, and a pump that runs
// a handler over the log without a consumer.
package streamtest

import (
	"context"
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Kind is the test record kind.
const Kind = "ticket"

// Ticket is the test record: callers read their own, agents their
// group's; Notes is internal.
type Ticket struct {
	itsm.Record
	Title    string `json:"title"`
	CallerID string `json:"caller_id"`
	Group    string `json:"group,omitempty"`
	Priority int64  `json:"priority"`
	Notes    string `json:"notes,omitempty"`
}

// Records is the test kind's command runner.
type Records = storage.Records[Ticket, *Ticket]

// Open registers the ticket kind on b and returns its records.
func Open(ctx context.Context, b storage.Backend) (*Records, error) {
	m, err := itsm.NewLifecycle[*Ticket](Kind).
		Initial("new").States("in_progress").Final("resolved").
		Event("start", "in_progress", "new").
		Event("resolve", "resolved", "new", "in_progress").
		Compile()
	if err != nil {
		return nil, err
	}
	coll := storage.NewCollection[Ticket](Kind,
		storage.IntField("priority", func(t *Ticket) int64 { return t.Priority }),
		storage.StringField("caller_id", func(t *Ticket) string { return t.CallerID }),
		storage.StringField("group", func(t *Ticket) string { return t.Group }),
	).WithAudience(itsm.Audience{Owner: "caller_id", Group: "group"}).WithInternal("notes")
	if err := coll.Register(ctx, b); err != nil {
		return nil, err
	}
	return storage.NewRecords(b, coll, m, storage.RecordsConfig{Prefix: "TKT"})
}

// Agent is an agent of group desk.
func Agent() itsm.Actor {
	return itsm.Actor{ID: "agent-1", Roles: []string{"agent"}, Groups: []string{"desk"}}
}

// Caller is the caller every ticket of Create is for.
func Caller() itsm.Actor { return itsm.Actor{ID: "caller-1", Roles: []string{"caller"}} }

// Manager reads every ticket, internal fields included.
func Manager() itsm.Actor { return itsm.Actor{ID: "manager-1", Roles: []string{itsm.RoleManager}} }

// Create writes n tickets as the agent, for the caller, in group desk.
func Create(ctx context.Context, r *Records, n int) ([]*Ticket, error) {
	actx := itsm.WithActor(ctx, Agent())
	out := make([]*Ticket, 0, n)
	for i := range n {
		t := &Ticket{Title: fmt.Sprintf("ticket %d", i), CallerID: Caller().ID, Group: "desk", Priority: int64(i%4 + 1), Notes: "secret"}
		if err := r.Create(actx, t, storage.Command{}); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Pump hands h every event after after, in batches of batch, as a consumer
// would, until the log is read; it returns the last Seq handed in. A
// handler error stops it.
func Pump(ctx context.Context, b storage.Backend, h interface {
	Handle(context.Context, []itsm.Event) error
}, after int64, batch int) (int64, error) {
	for {
		evs, err := b.ReadEvents(storage.AllTenants(ctx), after, batch)
		if err != nil {
			return after, err
		}
		if len(evs) == 0 {
			return after, nil
		}
		if err := h.Handle(ctx, evs); err != nil {
			return after, err
		}
		after = evs[len(evs)-1].Seq
	}
}
