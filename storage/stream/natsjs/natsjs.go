// Package natsjs publishes the event log to NATS JetStream: one message per
// event, in Seq order per batch, on the subject
//
//	<prefix>.<tenant>.<kind>.<event>      for example pillars.default.incident.resolve
//
// with the header Nats-Msg-Id set to the event's ID, so JetStream drops the
// copies an at-least-once consumer sends again after a failure (within the
// stream's Duplicates window; CreateStream sets it). Each Publisher runs as
// its own named consumer (storage/stream): a batch counts as delivered when
// JetStream has acknowledged every message of it; a failure (the server is
// down, an ack times out) leaves the checkpoint where it was and the batch
// is published again after a backoff.
//
// The message body is a stream.Payload. With a Reader it holds the event
// and the record as the subscription's actor may read them; without one
// (the host's own channel) it holds the event as stored, changes of
// internal fields included: give the stream's readers a Reader then.
package natsjs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// Defaults of Config and CreateStream.
const (
	DefaultPrefix     = "pillars"
	DefaultTimeout    = 10 * time.Second
	DefaultDuplicates = 10 * time.Minute
)

// Config configures a Publisher. Subscription, Kinds and JetStream are
// required.
type Config struct {
	// Subscription says which events are published (its Name names the
	// consumer); its Actor's own events are skipped, and with a Reader
	// records are read as that actor.
	Subscription stream.Subscription
	// Kinds is the catalogue the subscription is checked against.
	Kinds stream.Kinds
	// JetStream publishes; the host owns the connection (and its
	// reconnection options: nats.MaxReconnects(-1) rides out a server
	// restart).
	JetStream jetstream.JetStream
	// Prefix is the subjects' first tokens (default DefaultPrefix): NATS
	// subject tokens separated by dots, without wildcards or spaces.
	Prefix string
	// Reader, when set, puts the record as the subscription's actor may
	// read it in each message (and leaves out the changes of internal
	// fields); events it refuses are not published.
	Reader stream.Reader
	// Timeout bounds the wait for a batch's acknowledgements (default
	// DefaultTimeout).
	Timeout time.Duration
	// Consumer configures the consumer that runs the publisher (Batch,
	// Poll, Lease, Backoff, Tenant, ...); its Name and Handler are the
	// publisher's own.
	Consumer stream.ConsumerConfig
}

// Stats counts what a Publisher did in this process.
type Stats struct {
	Published  int64 // messages JetStream acknowledged as new
	Duplicates int64 // messages JetStream acknowledged as duplicates (sent again after a failure)
	Failures   int64 // batches that failed and will be sent again
	Skipped    int64 // events the Reader refused
}

// Publisher publishes a subscription's events to JetStream. Make it with
// New, Start it (or drive it with RunOnce) and Stop it. It is safe for
// concurrent use.
type Publisher struct {
	cfg      Config
	b        storage.Backend
	filter   *stream.Filter
	consumer *stream.Consumer

	published, duplicates, failures, skipped atomic.Int64
}

// New checks cfg and makes the publisher's consumer; nothing is published
// until it runs. A bad field is an error matching itsm.ErrInvalid naming
// it.
func New(ctx context.Context, b storage.Backend, cfg Config) (*Publisher, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("natsjs: context and backend are required")
	}
	f, err := cfg.Subscription.Compile(cfg.Kinds)
	if err != nil {
		return nil, fmt.Errorf("natsjs: %w", err)
	}
	name := cfg.Subscription.Name
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	switch {
	case cfg.JetStream == nil:
		return nil, itsm.Invalidf("natsjs %s: a JetStream is required (jetstream.New(nc))", name)
	case !validPrefix(cfg.Prefix):
		return nil, itsm.Invalidf("natsjs %s: prefix %q is not dot-separated subject tokens (letters, digits, '-', '_')", name, cfg.Prefix)
	case cfg.Timeout < 0:
		return nil, itsm.Invalidf("natsjs %s: timeout %s is negative", name, cfg.Timeout)
	case cfg.Consumer.Handler != nil || cfg.Consumer.TxHandler != nil || cfg.Consumer.Local:
		return nil, itsm.Invalidf("natsjs %s: the consumer's handler is the publisher's; leave Handler, TxHandler and Local unset", name)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	p := &Publisher{cfg: cfg, b: b, filter: f}
	cc := cfg.Consumer
	cc.Name, cc.Handler = name, p
	if p.consumer, err = stream.NewConsumer(ctx, b, cc); err != nil {
		return nil, fmt.Errorf("natsjs %s: %w", name, err)
	}
	return p, nil
}

func validPrefix(p string) bool {
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// token makes s one subject token: characters a subject cannot hold
// become '_' (tenants, kinds and event names are identifiers already).
func token(s string) string {
	if s == "" {
		return "_"
	}
	if validPrefix(s) && !strings.Contains(s, ".") {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Subject returns the subject an event is published on:
// <prefix>.<tenant>.<kind>.<event>.
func Subject(prefix string, ev itsm.Event) string {
	tenant := ev.Tenant
	if tenant == "" {
		tenant = itsm.DefaultTenant
	}
	return prefix + "." + token(tenant) + "." + token(ev.Kind) + "." + token(ev.Name)
}

// CreateStream creates (or updates) the JetStream stream named name that
// holds every subject under prefix, kept on disk, with a duplicate window
// of DefaultDuplicates: the window must outlast the longest outage the
// publisher retries through, or a batch sent again after it is stored
// twice. cfg, when not nil, is the starting configuration (retention,
// limits, replicas); its Name, Subjects and (when zero) Duplicates are set.
func CreateStream(ctx context.Context, js jetstream.JetStream, name, prefix string, cfg *jetstream.StreamConfig) (jetstream.Stream, error) {
	if ctx == nil || js == nil {
		return nil, itsm.Invalidf("natsjs: context and JetStream are required")
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !validPrefix(prefix) {
		return nil, itsm.Invalidf("natsjs: prefix %q is not dot-separated subject tokens", prefix)
	}
	if name == "" || strings.ContainsAny(name, ".*> \t\r\n/\\") {
		return nil, itsm.Invalidf("natsjs: stream name %q must be non-empty without '.', '*', '>', '/', '\\' or spaces", name)
	}
	sc := jetstream.StreamConfig{Storage: jetstream.FileStorage}
	if cfg != nil {
		sc = *cfg
	}
	sc.Name, sc.Subjects = name, []string{prefix + ".>"}
	if sc.Duplicates == 0 {
		sc.Duplicates = DefaultDuplicates
	}
	return js.CreateOrUpdateStream(ctx, sc)
}

// Name returns the publisher's name (its subscription's).
func (p *Publisher) Name() string { return p.cfg.Subscription.Name }

// Consumer returns the consumer that runs the publisher, for its Lag and
// Stats.
func (p *Publisher) Consumer() *stream.Consumer { return p.consumer }

// Start runs the publisher in the background (see stream.Consumer.Start).
func (p *Publisher) Start(ctx context.Context) error { return p.consumer.Start(ctx) }

// Stop stops the publisher (see stream.Consumer.Stop).
func (p *Publisher) Stop(ctx context.Context) error { return p.consumer.Stop(ctx) }

// RunOnce publishes the next batch (see stream.Consumer.RunOnce).
func (p *Publisher) RunOnce(ctx context.Context) (int, error) { return p.consumer.RunOnce(ctx) }

// Stats returns what the publisher did in this process.
func (p *Publisher) Stats() Stats {
	return Stats{Published: p.published.Load(), Duplicates: p.duplicates.Load(), Failures: p.failures.Load(), Skipped: p.skipped.Load()}
}

// Handle publishes the events of a batch the subscription passes, all at
// once, and returns nil when JetStream acknowledged every one: it is the
// publisher's consumer's Handler.
func (p *Publisher) Handle(ctx context.Context, events []itsm.Event) error {
	futures := make([]jetstream.PubAckFuture, 0, len(events))
	for _, ev := range events {
		ok, err := p.filter.Match(ctx, p.b, ev)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		payload := stream.Payload{Event: ev}
		if p.cfg.Reader != nil {
			var skip bool
			if payload, skip, err = stream.ReadPayload(ctx, p.cfg.Reader, p.cfg.Subscription.Actor, ev); err != nil {
				return err
			}
			if skip {
				p.skipped.Add(1)
				continue
			}
		}
		data, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		msg := nats.NewMsg(Subject(p.cfg.Prefix, ev))
		msg.Data = data
		msg.Header.Set(jetstream.MsgIDHeader, ev.ID)
		f, err := p.cfg.JetStream.PublishMsgAsync(msg)
		if err != nil {
			p.failures.Add(1)
			return fmt.Errorf("natsjs %s: publish event %d (%s): %w", p.Name(), ev.Seq, ev.ID, err)
		}
		futures = append(futures, f)
	}
	timer := time.NewTimer(p.cfg.Timeout)
	defer timer.Stop()
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				p.duplicates.Add(1)
			} else {
				p.published.Add(1)
			}
		case err := <-f.Err():
			p.failures.Add(1)
			return fmt.Errorf("natsjs %s: no acknowledgement for %s: %w", p.Name(), f.Msg().Header.Get(jetstream.MsgIDHeader), err)
		case <-timer.C:
			p.failures.Add(1)
			return fmt.Errorf("natsjs %s: no acknowledgement for %s within %s", p.Name(), f.Msg().Header.Get(jetstream.MsgIDHeader), p.cfg.Timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
