package stream

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/pillars-itsm/pillars/itsm"
)

// Payload is what a delivery sends a receiver: the event as the
// subscription's actor may see it (changes of internal fields left out
// unless the actor may read them) and the record as that actor may read it
// when it is delivered. Record is omitted when the delivery carries no
// record.
type Payload struct {
	Event  itsm.Event      `json:"event"`
	Record json.RawMessage `json:"record,omitempty"`
}

// Reader reads what the actor in ctx may see of an event: its record (as
// an authorised read hands it out, internal fields blanked) and the event
// itself with the changes of fields the actor may not read left out. The
// context carries the event's tenant. An actor who may not read the record
// gets an error matching itsm.ErrForbidden, a record that no longer exists
// one matching itsm.ErrNotFound; deliveries skip such events.
type Reader interface {
	Read(ctx context.Context, ev itsm.Event) (record any, visible itsm.Event, err error)
}

// Readers dispatches by record kind; it is a Reader. An event of a kind it
// holds no Reader for is ErrNotFound.
type Readers map[string]Reader

// Read calls the Reader of the event's kind.
func (rs Readers) Read(ctx context.Context, ev itsm.Event) (any, itsm.Event, error) {
	r, ok := rs[ev.Kind]
	if !ok || r == nil {
		return nil, itsm.Event{}, &itsm.NotFoundError{Kind: ev.Kind, ID: ev.RecordID}
	}
	return r.Read(ctx, ev)
}

// RecordSource is what RecordReader needs of a record kind: the authorised
// reads storage.Records has (Get blanks internal fields, History leaves
// their changes out, both for the actor in ctx).
type RecordSource[P any] interface {
	Get(ctx context.Context, id string) (P, error)
	History(ctx context.Context, id string) ([]itsm.Event, error)
}

// RecordReader returns the Reader of one kind over its authorised reads,
// for example RecordReader(desk.Incidents()). An event that changed fields
// is looked up in the record's history as the actor sees it, so the changes
// of internal fields are left out exactly as History leaves them out.
func RecordReader[P any](src RecordSource[P]) Reader {
	return recordReader[P]{src}
}

type recordReader[P any] struct{ src RecordSource[P] }

func (r recordReader[P]) Read(ctx context.Context, ev itsm.Event) (any, itsm.Event, error) {
	rec, err := r.src.Get(ctx, ev.RecordID)
	if err != nil {
		return nil, itsm.Event{}, err
	}
	if len(ev.Changes) == 0 {
		return rec, ev, nil
	}
	hist, err := r.src.History(ctx, ev.RecordID)
	if err != nil {
		return nil, itsm.Event{}, err
	}
	for _, h := range hist {
		if h.ID == ev.ID {
			h.Seq, h.Tenant = ev.Seq, ev.Tenant
			return rec, h, nil
		}
	}
	// The history does not hold it (it cannot be told which changes the
	// actor may see): hand out none of them.
	ev.Changes = nil
	return rec, ev, nil
}

// ReadPayload builds the payload of one event for the subscription's
// actor: it reads through r with the actor and the event's tenant in ctx.
// skip is true when the actor may not see the event (ErrForbidden) or the
// record is gone (ErrNotFound); other errors are returned.
func ReadPayload(ctx context.Context, r Reader, actor itsm.Actor, ev itsm.Event) (p Payload, skip bool, err error) {
	actx := itsm.WithTenant(itsm.WithActor(ctx, actor), tenantOf(ev))
	rec, visible, err := r.Read(actx, ev)
	if err != nil {
		if errors.Is(err, itsm.ErrForbidden) || errors.Is(err, itsm.ErrNotFound) {
			return Payload{}, true, nil
		}
		return Payload{}, false, err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return Payload{}, false, err
	}
	return Payload{Event: visible, Record: data}, false, nil
}
