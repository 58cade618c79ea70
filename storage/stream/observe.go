package stream

import (
	"context"

	"github.com/pillars-itsm/pillars/itsm"
)

// Observer watches what the event stream does, for tracing, metrics and
// logs (package storage/telemetry implements it with OpenTelemetry). It is
// optional (ConsumerConfig.Observer); a consumer without one pays a nil
// check per batch. Observers must be safe for concurrent use.
type Observer interface {
	// Batch is called before a non-empty batch is handed to the handler.
	// The context it returns is the one the handler runs under, so an
	// observer can put a span in it; done is called once the batch is
	// acknowledged or has failed.
	Batch(ctx context.Context, b BatchInfo) (context.Context, func(BatchResult))
	// DeliveryFailed is called on every failed attempt to deliver an
	// event to a receiver (webhook.Webhook), retried or dead-lettered.
	DeliveryFailed(ctx context.Context, f DeliveryFailure)
}

// BatchInfo describes a batch as it is handed in.
type BatchInfo struct {
	Consumer    string // ConsumerConfig.Name
	Events      int    // how many events
	First, Last int64  // their Seq range
}

// BatchResult is a batch's outcome: nil Err when it was acknowledged (the
// checkpoint moved to BatchInfo.Last).
type BatchResult struct {
	Err error
}

// DeliveryFailure is one failed delivery attempt.
type DeliveryFailure struct {
	Receiver     string     // the receiver's name (the webhook's)
	Event        itsm.Event // the event not delivered
	Attempt      int        // 1 for the first attempt
	Status       int        // the receiver's HTTP status, 0 when it gave none
	Err          error      // what failed
	DeadLettered bool       // given up on: no more attempts
}

// observe runs fn, a batch's handling, under the Observer when there is one.
func (c *Consumer) observe(ctx context.Context, evs []itsm.Event, fn func(context.Context) error) error {
	o := c.cfg.Observer
	if o == nil {
		return fn(ctx)
	}
	ctx, done := o.Batch(ctx, BatchInfo{Consumer: c.cfg.Name, Events: len(evs), First: evs[0].Seq, Last: evs[len(evs)-1].Seq})
	err := fn(ctx)
	done(BatchResult{Err: err})
	return err
}
