package design

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// MajorIncidentConfig configures how Availability turns major incidents
// into outages. The zero value reads the agreed incident names.
type MajorIncidentConfig struct {
	Kind       string   // record kind, default "incident"
	EndStates  []string // states that end the outage, default resolved, closed, canceled
	Checkpoint string   // name of the log checkpoint, default "availability"
	Actor      itsm.Actor
	BatchSize  int // events read at a time, default 500
}

func (c MajorIncidentConfig) withDefaults() MajorIncidentConfig {
	if c.Kind == "" {
		c.Kind = "incident"
	}
	if c.EndStates == nil {
		c.EndStates = []string{"resolved", "closed", "canceled"}
	}
	if c.Checkpoint == "" {
		c.Checkpoint = "availability"
	}
	if c.Actor.ID == "" {
		c.Actor = itsm.Actor{ID: "availability", Name: "Availability", Roles: []string{itsm.RoleImporter}}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	return c
}

// OutageIDFor returns the id of the outage recorded for a major incident.
func OutageIDFor(incidentID string) string {
	return uuid.NewSHA1(idSpace, []byte("outage/"+incidentID)).String()
}

// SyncMajorIncidents consumes the event log from its checkpoint and records
// an unplanned outage of the incident's service_id for every major
// incident: it begins when the incident is (or becomes) major while open,
// and ends when the incident reaches an end state or stops being major.
// Times are the events' occurrence times, so imported history gives the
// same outages. An incident without a service_id has no outage (there is
// nothing to attribute it to); a reopened major incident keeps its first
// outage. It returns how many incident events it handled.
func (a *Availability) SyncMajorIncidents(ctx context.Context, cfg MajorIncidentConfig) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("availability: nil context")
	}
	cfg = cfg.withDefaults()
	for _, f := range []struct{ name, val string }{{"kind", cfg.Kind}, {"checkpoint", cfg.Checkpoint}, {"actor id", cfg.Actor.ID}} {
		if p := textProblem(f.val); p != "" {
			return 0, itsm.Invalidf("availability: %s %.64q %s", f.name, f.val, p)
		}
	}
	b := a.outages.Backend()
	points := storage.NewCollection[checkpoint](CheckpointKind)
	if err := points.Register(ctx, b); err != nil {
		return 0, err
	}
	pointID := uuid.NewSHA1(idSpace, []byte("checkpoint/"+cfg.Checkpoint)).String()
	ctx = itsm.WithActor(ctx, cfg.Actor)
	after := int64(0)
	if cp, err := points.Get(ctx, b, pointID); err == nil {
		after = cp.Seq
	} else if !errors.Is(err, itsm.ErrNotFound) {
		return 0, err
	}
	put := func(tx storage.Tx, seq int64) error {
		cp, err := points.Get(ctx, tx, pointID)
		if errors.Is(err, itsm.ErrNotFound) {
			cp, err = &checkpoint{Record: itsm.Record{ID: pointID}}, nil
		}
		if err != nil {
			return err
		}
		cp.Seq = seq
		return points.Put(ctx, tx, cp)
	}
	n := 0
	for {
		evs, err := b.ReadEvents(ctx, after, cfg.BatchSize)
		if err != nil || len(evs) == 0 {
			return n, err
		}
		for _, ev := range evs {
			if ev.Kind == cfg.Kind {
				if err := b.Update(ctx, func(tx storage.Tx) error {
					if err := a.majorEvent(ctx, tx, ev, cfg); err != nil {
						return err
					}
					return put(tx, ev.Seq)
				}); err != nil {
					return n, err
				}
				n++
			}
			after = ev.Seq
		}
		if err := b.Update(ctx, func(tx storage.Tx) error { return put(tx, after) }); err != nil {
			return n, err
		}
		if len(evs) < cfg.BatchSize {
			return n, nil
		}
	}
}

func (a *Availability) majorEvent(ctx context.Context, tx storage.Tx, ev itsm.Event, cfg MajorIncidentConfig) error {
	var major, seen bool
	var service string
	for _, c := range ev.Changes {
		switch c.Field {
		case "major":
			major, seen = c.To == "true", true
		case "service_id":
			service = jsonString(c.To)
		}
	}
	id := OutageIDFor(ev.RecordID)
	o, err := a.outages.Collection().Get(ctx, tx, id)
	if errors.Is(err, itsm.ErrNotFound) {
		o, err = nil, nil
	}
	if err != nil {
		return err
	}
	ending := slices.Contains(cfg.EndStates, ev.To) || (seen && !major)
	if o != nil {
		if o.State == OutageOngoing && ending {
			cmd := storage.Command{Reason: ev.Number + ": " + ev.Name, At: ev.At}
			if ev.At.Before(o.UpdatedAt) {
				cmd.At = o.UpdatedAt
			}
			_, err := a.outages.FireTx(ctx, tx, id, "end", cmd, func(o *Outage) error {
				o.End = itsm.NormalizeTime(ev.At)
				if !o.End.After(o.Begin) {
					o.End = o.Begin.Add(itsm.TimePrecision)
				}
				return nil
			})
			return err
		}
		return nil
	}
	if ending {
		return nil
	}
	// Not yet an outage: fold the record's history to this event to learn
	// whether it is major and which service it concerns.
	if !seen || service == "" {
		hist, err := a.outages.Backend().History(ctx, ev.Kind, ev.RecordID)
		if err != nil {
			return err
		}
		major, service = false, ""
		for _, h := range hist {
			if h.RecordVersion > ev.RecordVersion {
				break
			}
			for _, c := range h.Changes {
				switch c.Field {
				case "major":
					major = c.To == "true"
				case "service_id":
					service = jsonString(c.To)
				}
			}
		}
	}
	if !major || service == "" {
		return nil
	}
	out := &Outage{Record: itsm.Record{ID: id}, ServiceID: service, Type: Unplanned, Begin: itsm.NormalizeTime(ev.At),
		IncidentID: ev.RecordID, Description: "major incident " + ev.Number}
	cmd := storage.Command{Reason: ev.Number + ": " + ev.Name, At: ev.At}
	if ev.At.After(a.clock.Now()) {
		cmd.At = time.Time{}
	}
	return a.outages.CreateTx(ctx, tx, out, cmd)
}
