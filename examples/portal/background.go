package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// Consumer names of the portal's background work on the event log.
const (
	enginesConsumer       = "portal_engines"
	notificationsConsumer = "portal_notifications"
	searchConsumer        = "portal_search"
)

// searchHandler keeps the library's search index current from the log;
// a host's own Searcher keeps itself, so the handler then acknowledges.
func (s *Server) searchHandler() stream.Handler {
	if s.text == nil {
		return stream.HandlerFunc(func(context.Context, []itsm.Event) error { return nil })
	}
	return stream.HandlerFunc(s.text.Handle)
}

// Background is the portal's work on the event stream: the SLA and KPI
// engines catching up with the log and the desk's notifications, each a
// named consumer of the log (its checkpoint in the store), so no page
// request ever waits for a catch-up. Stop ends them.
type Background struct {
	consumers []*stream.Consumer
}

// StartBackground starts the consumers; poll is how often an idle consumer
// reads the log again (0: the stream default, a second).
func (s *Server) StartBackground(ctx context.Context, poll time.Duration) (*Background, error) {
	bg := &Background{}
	for _, c := range []struct {
		name string
		h    stream.Handler
	}{
		{enginesConsumer, stream.HandlerFunc(func(ctx context.Context, _ []itsm.Event) error {
			// The engines read the log from their own checkpoints: a batch
			// of new events is the signal to catch up.
			return s.syncEngines(itsm.WithActor(ctx, escalator))
		})},
		{notificationsConsumer, s.desk.Notifications()},
		{searchConsumer, s.searchHandler()},
	} {
		con, err := stream.NewConsumer(ctx, s.desk.Backend(), stream.ConsumerConfig{Name: c.name, Handler: c.h, Poll: poll, Clock: s.clock, Instance: s.instance})
		if err != nil {
			_ = bg.Stop(ctx)
			return nil, fmt.Errorf("portal: consumer %s: %w", c.name, err)
		}
		if err := con.Start(ctx); err != nil {
			_ = bg.Stop(ctx)
			return nil, fmt.Errorf("portal: start %s: %w", c.name, err)
		}
		bg.consumers = append(bg.consumers, con)
	}
	return bg, nil
}

// Stop stops every consumer, waiting for the batch in hand.
func (bg *Background) Stop(ctx context.Context) error {
	var errs []error
	for _, c := range bg.consumers {
		errs = append(errs, c.Stop(ctx))
	}
	return errors.Join(errs...)
}

// CatchUp brings the SLA clocks and KPIs up to the log and delivers the
// notifications due, once, in the caller's goroutine: what the background
// consumers do, for tests and tools that need it done now.
func (s *Server) CatchUp(ctx context.Context) error {
	s.catchMu.Lock()
	defer s.catchMu.Unlock()
	if err := s.syncEngines(itsm.WithActor(ctx, escalator)); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		h    stream.Handler
	}{{notificationsConsumer, s.desk.Notifications()}, {searchConsumer, s.searchHandler()}} {
		con, err := stream.NewConsumer(ctx, s.desk.Backend(), stream.ConsumerConfig{Name: c.name,
			Handler: c.h, Clock: s.clock, Instance: s.instance})
		if err != nil {
			return err
		}
		for {
			n, err := con.RunOnce(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
	}
	return nil
}

// maxInbox is how many notifications the in-app inbox shows a person,
// newest first.
const maxInbox = 50

// KindNotification is the portal's record of one in-app notification to
// one person: the inbox lives in the portal's store, so a restart keeps it.
const KindNotification = "portal_notification"

// notificationSchema declares the inbox's records: a person's
// notifications are found by recipient, newest (highest seq) first.
func notificationSchema() storage.Schema {
	return storage.Schema{Kind: KindNotification,
		Fields:  []storage.Field{{Name: "recipient", Type: storage.TypeString}, {Name: "seq", Type: storage.TypeInt}},
		Indexes: []storage.Index{{Name: "portal_inbox", Fields: []string{"recipient", "seq"}}}}
}

// storedNotification is a notification as the inbox keeps it, with one
// recipient and when it was delivered.
type storedNotification struct {
	operation.Notification
	At time.Time `json:"at"`
}

// inbox holds the in-app notifications of each person as records in the
// portal's store. A notification of an event (EventID) is filed once per
// event, topic and recipient however often the log hands the event out:
// its record id derives from them, and a unit of work that finds the
// record already there files nothing.
type inbox struct {
	b     storage.Backend
	clock itsm.Clock
}

// newInbox registers the inbox's kind on b.
func newInbox(ctx context.Context, b storage.Backend, clock itsm.Clock) (*inbox, error) {
	if err := b.Register(ctx, notificationSchema()); err != nil {
		return nil, err
	}
	return &inbox{b: b, clock: clock}, nil
}

// notificationID is the record id of a notification's copy for user: a
// hash of its event, topic and recipient, or of a fresh random key when it
// came from no event (each delivery then counts).
func notificationID(n operation.Notification, user string) string {
	key := n.EventID
	if key == "" {
		key = itsm.NewID()
	}
	sum := sha256.Sum256([]byte(key + "\x00" + n.Topic + "\x00" + user))
	return hex.EncodeToString(sum[:16])
}

// add files a notification for each recipient (a group reaches its
// members) in one unit of work: all of them or, on an error, none, so the
// stream hands the event out again.
func (in *inbox) add(ctx context.Context, n operation.Notification, members func(string) []string) error {
	var to []string
	for _, x := range n.To {
		if m := members(x); len(m) > 0 {
			to = append(to, m...)
		} else {
			to = append(to, x)
		}
	}
	slices.Sort(to)
	to = slices.Compact(to)
	at := in.clock.Now().UTC()
	return in.b.Update(ctx, func(tx storage.Tx) error {
		for _, u := range to {
			if u == "" {
				continue
			}
			id := notificationID(n, u)
			if _, err := tx.Get(ctx, KindNotification, id); err == nil {
				continue // delivered before
			} else if !errors.Is(err, itsm.ErrNotFound) {
				return err
			}
			one := n
			one.To = []string{u}
			data, err := json.Marshal(storedNotification{Notification: one, At: at})
			if err != nil {
				return err
			}
			seq, err := tx.NextSequence(ctx, KindNotification)
			if err != nil {
				return err
			}
			if err := tx.Put(ctx, storage.Document{Kind: KindNotification, ID: id, Version: 1, Data: data,
				Fields: []storage.Value{storage.String(u), storage.Int(seq)}}, 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// of returns a person's latest notifications, newest first.
func (in *inbox) of(ctx context.Context, user string) ([]operation.Notification, error) {
	page, err := in.b.Query(ctx, storage.Query{Kind: KindNotification, Filters: []storage.Filter{storage.Eq("recipient", storage.String(user))},
		Sort: []storage.Sort{{Field: "seq", Desc: true}}, Limit: maxInbox})
	if err != nil {
		return nil, err
	}
	out := make([]operation.Notification, 0, len(page.Docs))
	for _, d := range page.Docs {
		var n storedNotification
		if err := json.Unmarshal(d.Data, &n); err != nil {
			return nil, fmt.Errorf("portal: notification %s is corrupt: %w", d.ID, err)
		}
		out = append(out, n.Notification)
	}
	return out, nil
}
