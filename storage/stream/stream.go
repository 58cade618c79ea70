// Package stream turns the event log into reactions: named consumers that
// hand events to a Handler in Seq order, at least once, leased to one
// instance at a time with their checkpoint in the store, and the deliveries
// built on them (subscriptions, signed webhooks, NATS JetStream, the host's
// notifier).
package stream

import (
	"context"

	"github.com/pillars-itsm/pillars/itsm"
)

// Handler processes one batch of events, in Seq order. Returning nil
// acknowledges the whole batch: the consumer's checkpoint moves past its
// last event. Returning an error acknowledges nothing; the batch is handed
// in again after a backoff, so a handler must tolerate seeing an event more
// than once (at-least-once delivery).
type Handler interface {
	Handle(ctx context.Context, events []itsm.Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, events []itsm.Event) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, events []itsm.Event) error { return f(ctx, events) }
