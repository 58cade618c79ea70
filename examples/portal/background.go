package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
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

// maxInbox is how many notifications the in-app inbox keeps per person.
const maxInbox = 50

// inbox holds the in-app notifications of each person, newest first, and
// drops a repeated event and topic (the log hands events out at least
// once). It lives in memory: a restart empties it, the log keeps the facts.
type inbox struct {
	mu   sync.Mutex
	byTo map[string][]operation.Notification
	seen map[string]bool
}

// add files a notification for each recipient; a group reaches its members.
func (in *inbox) add(n operation.Notification, members func(string) []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.byTo == nil {
		in.byTo, in.seen = map[string][]operation.Notification{}, map[string]bool{}
	}
	if n.EventID != "" {
		key := n.EventID + "/" + n.Topic
		if in.seen[key] {
			return
		}
		in.seen[key] = true
	}
	var to []string
	for _, x := range n.To {
		if m := members(x); len(m) > 0 {
			to = append(to, m...)
		} else {
			to = append(to, x)
		}
	}
	slices.Sort(to)
	for _, u := range slices.Compact(to) {
		l := append([]operation.Notification{n}, in.byTo[u]...)
		in.byTo[u] = l[:min(len(l), maxInbox)]
	}
}

// of returns a person's notifications, newest first.
func (in *inbox) of(user string) []operation.Notification {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.byTo[user])
}
