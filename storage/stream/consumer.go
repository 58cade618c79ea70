package stream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// TxHandler processes one batch of events inside the unit of work that
// moves the consumer's checkpoint past them: what it writes through tx
// commits together with the checkpoint or not at all, so its effects in the
// store happen exactly once. Returning an error (or panicking) rolls the
// unit back; the batch is handed in again after a backoff. It may read the
// backend (Get, History), never Update it.
type TxHandler interface {
	HandleTx(ctx context.Context, tx storage.Tx, events []itsm.Event) error
}

// TxHandlerFunc adapts a function to TxHandler.
type TxHandlerFunc func(ctx context.Context, tx storage.Tx, events []itsm.Event) error

// HandleTx calls f.
func (f TxHandlerFunc) HandleTx(ctx context.Context, tx storage.Tx, events []itsm.Event) error {
	return f(ctx, tx, events)
}

// ConsumerKind is the document kind of consumer checkpoints and leases.
// Each named consumer has one document of this kind, in the tenant of the
// consumer (ConsumerConfig.Tenant, or itsm.DefaultTenant for a consumer of
// every tenant), written with optimistic versions through the Backend, so
// the consumer runs on every store with no capability of its own.
const ConsumerKind = "stream_consumer"

// Defaults of ConsumerConfig.
const (
	DefaultBatch      = 500
	MaxBatch          = 100000
	DefaultLease      = 30 * time.Second
	DefaultPoll       = time.Second
	DefaultBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff = time.Minute
	// MinLease is the shortest Lease: the holder renews it every third of
	// it while a handler runs.
	MinLease = 3 * time.Millisecond
	// MaxName bounds a consumer's Name and Instance, in bytes: room for a
	// prefix and a name of storage.MaxStringValue bytes.
	MaxName = 2 * storage.MaxStringValue
)

// ConsumerConfig configures a Consumer. Every field but Name and one of
// Handler and TxHandler has a usable zero value.
type ConsumerConfig struct {
	// Name identifies the consumer in the store: instances with the same
	// Name (and Tenant) share one checkpoint and one lease. NUL-free UTF-8
	// of at most MaxName bytes; required.
	Name string
	// Handler receives batches at least once; the checkpoint moves after
	// it returns nil. Exactly one of Handler and TxHandler is set.
	Handler Handler
	// TxHandler receives batches inside the unit of work that moves the
	// checkpoint (exactly once for what it writes in the store).
	TxHandler TxHandler
	// Batch is the most events handed in one call (default DefaultBatch,
	// at most MaxBatch).
	Batch int
	// Lease is how long a claim on the consumer lasts: another instance
	// takes over once it has run out. The holder renews it while it works
	// (every batch, and every Lease/3 while a Handler runs). A TxHandler's
	// unit must finish within it. Default DefaultLease.
	Lease time.Duration
	// Poll is how long Start waits before reading again when the log is
	// read to its end, another instance holds the lease, or the store asks
	// to retry shortly (itsm.ErrBusy). Default DefaultPoll.
	Poll time.Duration
	// Backoff is the wait after a first failure of the handler; it doubles
	// with each failure in a row up to MaxBackoff, and a random part of up
	// to half of it is taken off (jitter), so instances do not retry in
	// step. Defaults DefaultBackoff and DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Clock tells the time of leases; itsm.SystemClock when nil.
	Clock itsm.Clock
	// Instance names this instance among those sharing the consumer; it is
	// the owner written in the lease (default: a random id).
	Instance string
	// Tenant scopes the consumer to one tenant's events, its document kept
	// in that tenant; handlers get a context of that tenant. Empty: the
	// consumer reads every tenant's events (storage.AllTenants), each
	// carrying its Tenant, and keeps its document in itsm.DefaultTenant;
	// handlers get the caller's context and scope what they do for an
	// event with itsm.WithTenant(ctx, event.Tenant). A TxHandler's unit of
	// work belongs to the consumer's tenant.
	Tenant string
	// From is the Seq the consumer starts after when the store holds no
	// checkpoint for it yet: 0 reads the log from its start; a checkpoint
	// carried over from an older document, or the Seq a projection was
	// built up to, starts later.
	From int64
	// Local keeps the checkpoint in this Consumer value only, with no
	// document and no lease, so every instance handles every event: for
	// in-memory projections (indexes) that each instance keeps for itself.
	// A Local consumer takes a Handler, not a TxHandler.
	Local bool
	// InPlace hands the Handler the store's own events where the store can
	// (storage.ScanEvents) instead of copies: they are valid only during
	// the call and must not be changed or kept (their strings may be), and
	// a batch may be shorter than Batch. For projections catching up on a
	// long log.
	InPlace bool
	// Wait waits for d or until ctx is done, returning ctx's error then;
	// Start waits through it between polls and retries, and the lease
	// renewer between renewals. Default: a timer. Tests pass one that
	// drives a fake clock.
	Wait func(ctx context.Context, d time.Duration) error
	// Observer, when set, watches every batch handed to the handler (and a
	// webhook's failed deliveries): see Observer and storage/telemetry.
	Observer Observer
}

// Stats is what a Consumer has done since it was made, as this instance
// saw it.
type Stats struct {
	Name, Instance string
	// Checkpoint is the Seq of the last event acknowledged, as last read
	// or written by this instance.
	Checkpoint int64
	// Events and Batches count what this instance handed and had
	// acknowledged.
	Events, Batches int64
	// Failures counts handler failures (errors and panics); Consecutive
	// those since the last success.
	Failures    int64
	Consecutive int
	// Takeovers counts the times this instance took the lease.
	Takeovers int64
	// Holder tells whether this instance held the lease at its last
	// attempt.
	Holder bool
	// Running tells whether Start's loop runs.
	Running bool
	// LastError is the last failure, nil after a success.
	LastError error
}

// ErrLeased is returned by RunOnce when another instance holds the
// consumer's lease: that instance is doing the work. It matches
// itsm.ErrConflict.
var ErrLeased = fmt.Errorf("stream consumer: another instance holds the lease: %w", itsm.ErrConflict)

// ErrLeaseLost is returned when the lease ran out and another instance
// took the consumer over while this one handled a batch: the checkpoint
// was not moved (the batch will be handed to the new holder). It matches
// itsm.ErrConflict.
var ErrLeaseLost = fmt.Errorf("stream consumer: the lease was lost to another instance; the checkpoint was not moved: %w", itsm.ErrConflict)

// PanicError is a handler panic, recovered and treated as a failure.
type PanicError struct {
	Value any
	Stack []byte
}

// Error says that the handler panicked, and with what.
func (e *PanicError) Error() string {
	return fmt.Sprintf("stream consumer: handler panicked: %v", e.Value)
}

// HandlerError is a handler's failure (an error, or a *PanicError) on
// the batch of events First..Last (their Seq); errors.Is and errors.As
// reach Err through it.
type HandlerError struct {
	Consumer    string
	First, Last int64
	Err         error
}

// Error names the consumer, the batch and the handler's error.
func (e *HandlerError) Error() string {
	return fmt.Sprintf("stream consumer %s: events %d..%d: %v", e.Consumer, e.First, e.Last, e.Err)
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }

// Consumer hands the event log to a handler in Seq order, in batches, at
// least once (exactly once for a TxHandler's writes), from a named
// checkpoint kept in the store and leased to one instance at a time. Make
// one with NewConsumer; drive it with RunOnce, or Start it in the
// background and Stop it. It is safe for concurrent use; calls that handle
// events run one at a time.
type Consumer struct {
	b       storage.Backend
	cfg     ConsumerConfig
	id      string // document id
	docs    *storage.Collection[consumerDoc, *consumerDoc]
	readCtx func(context.Context) context.Context
	docCtx  func(context.Context) context.Context

	run sync.Mutex // one batch at a time

	mu      sync.Mutex // guards what follows
	cur     consumerDoc
	have    bool // cur was read or written by this instance and is its lease
	stats   Stats
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

// consumerDoc is the stored checkpoint and lease of a consumer.
type consumerDoc struct {
	itsm.Record
	Name  string    `json:"name"`
	Seq   int64     `json:"seq"`
	Owner string    `json:"owner,omitempty"`
	Until time.Time `json:"until"`
}

var consumerSpace = uuid.MustParse("0b8f3a6e-5d21-4c1e-9f7a-2e6d4c8b1a90")

// ConsumerID returns the id of the document holding the checkpoint and
// lease of the consumer named name, of one tenant (ConsumerConfig.Tenant)
// or of every tenant (""). Ids are unique across tenants, so the tenant is
// part of it.
func ConsumerID(tenant, name string) string {
	return uuid.NewSHA1(consumerSpace, []byte("consumer/"+tenant+"/"+name)).String()
}

func textProblem(s string) string {
	switch {
	case len(s) > MaxName:
		return fmt.Sprintf("is longer than %d bytes", MaxName)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL byte"
	}
	return ""
}

// NewConsumer checks cfg and, unless it is Local, registers ConsumerKind
// with b. A bad field is ErrInvalid naming it. Nothing is read or written
// until the consumer runs.
func NewConsumer(ctx context.Context, b storage.Backend, cfg ConsumerConfig) (*Consumer, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("stream consumer: context and backend are required")
	}
	if cfg.Name == "" {
		return nil, itsm.Invalidf("stream consumer: a name is required")
	}
	for _, f := range []struct{ name, val string }{{"name", cfg.Name}, {"instance", cfg.Instance}} {
		if p := textProblem(f.val); p != "" {
			return nil, itsm.Invalidf("stream consumer: %s %.64q %s", f.name, f.val, p)
		}
	}
	if cfg.Tenant != "" {
		if err := itsm.CheckTenant(cfg.Tenant); err != nil {
			return nil, err
		}
	}
	switch {
	case (cfg.Handler == nil) == (cfg.TxHandler == nil):
		return nil, itsm.Invalidf("stream consumer %s: set exactly one of Handler and TxHandler", cfg.Name)
	case cfg.Local && cfg.TxHandler != nil:
		return nil, itsm.Invalidf("stream consumer %s: a Local consumer keeps no checkpoint in the store for a TxHandler to commit with; give it a Handler", cfg.Name)
	case cfg.InPlace && cfg.TxHandler != nil:
		return nil, itsm.Invalidf("stream consumer %s: InPlace is for a Handler", cfg.Name)
	case cfg.Batch < 0 || cfg.Batch > MaxBatch:
		return nil, itsm.Invalidf("stream consumer %s: batch %d outside 0..%d", cfg.Name, cfg.Batch, MaxBatch)
	case cfg.Lease < 0, cfg.Poll < 0, cfg.Backoff < 0, cfg.MaxBackoff < 0:
		return nil, itsm.Invalidf("stream consumer %s: lease, poll and backoff durations must not be negative", cfg.Name)
	case cfg.Lease > 0 && cfg.Lease < MinLease:
		return nil, itsm.Invalidf("stream consumer %s: lease %s is shorter than %s", cfg.Name, cfg.Lease, MinLease)
	case cfg.From < 0:
		return nil, itsm.Invalidf("stream consumer %s: from %d is negative", cfg.Name, cfg.From)
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.Backoff)
	if cfg.Clock == nil {
		cfg.Clock = itsm.SystemClock{}
	}
	if cfg.Instance == "" {
		cfg.Instance = uuid.NewString()
	}
	if cfg.Wait == nil {
		cfg.Wait = timerWait
	}
	c := &Consumer{b: b, cfg: cfg, id: ConsumerID(cfg.Tenant, cfg.Name), docs: storage.NewCollection[consumerDoc](ConsumerKind)}
	tenant := cfg.Tenant
	if tenant == "" {
		tenant = itsm.DefaultTenant
	}
	c.docCtx = func(ctx context.Context) context.Context { return itsm.WithTenant(ctx, tenant) }
	c.readCtx = c.docCtx
	if cfg.Tenant == "" {
		c.readCtx = func(ctx context.Context) context.Context { return storage.AllTenants(itsm.WithTenant(ctx, tenant)) }
	}
	c.stats = Stats{Name: cfg.Name, Instance: cfg.Instance, Checkpoint: cfg.From}
	c.cur.Seq = cfg.From
	if !cfg.Local {
		if err := c.docs.Register(c.docCtx(ctx), b); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func timerWait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Name returns the consumer's name.
func (c *Consumer) Name() string { return c.cfg.Name }

// Stats returns what the consumer has done so far.
func (c *Consumer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Checkpoint returns the Seq of the last event acknowledged: the stored
// checkpoint (From while there is none), or a Local consumer's own.
func (c *Consumer) Checkpoint(ctx context.Context) (int64, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("stream consumer: nil context")
	}
	if c.cfg.Local {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.cur.Seq, nil
	}
	d, err := c.docs.Get(c.docCtx(ctx), c.b, c.id)
	if errors.Is(err, itsm.ErrNotFound) {
		return c.cfg.From, nil
	}
	if err != nil {
		return 0, err
	}
	return d.Seq, nil
}

// Lag returns how many events of the consumer's scope follow its
// checkpoint. It reads them (through storage.ScanEvents), so it is for
// monitoring now and then, not for every event.
func (c *Consumer) Lag(ctx context.Context) (int64, error) {
	cp, err := c.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	err = storage.ScanEvents(c.readCtx(ctx), c.b, cp, 1<<62, func(evs []itsm.Event) error {
		n += int64(len(evs))
		return nil
	})
	return n, err
}

// RunOnce hands the next batch after the checkpoint to the handler and
// moves the checkpoint past it; it returns how many events were
// acknowledged (0 when the log is read to its end). It first claims or
// renews the lease: ErrLeased when another instance holds it. A handler
// error or panic is returned as a *HandlerError (a panic inside it as a
// *PanicError) and leaves the checkpoint where it was; so does
// ErrLeaseLost. Neither ErrLeased nor ErrLeaseLost counts as a failure in
// Stats; Start polls after them rather than backing off. A store asking
// to retry (itsm.ErrBusy) is returned as it is. In InPlace mode one call
// hands up to Batch events in the runs the store gives.
func (c *Consumer) RunOnce(ctx context.Context) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("stream consumer: nil context")
	}
	c.run.Lock()
	defer c.run.Unlock()
	n, err := c.runOnce(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.stats.Consecutive, c.stats.LastError = 0, nil
	case errors.Is(err, ErrLeased) || errors.Is(err, ErrLeaseLost) || errors.Is(err, itsm.ErrBusy) || ctx.Err() != nil:
	default:
		c.stats.Failures++
		c.stats.Consecutive++
		c.stats.LastError = err
	}
	return n, err
}

func (c *Consumer) runOnce(ctx context.Context) (int, error) {
	if c.cfg.Local {
		c.mu.Lock()
		after := c.cur.Seq
		c.mu.Unlock()
		return c.deliver(ctx, after, func(_ context.Context, evs []itsm.Event) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.cur.Seq = evs[len(evs)-1].Seq
			c.stats.Checkpoint = c.cur.Seq
			return nil
		})
	}
	cur, err := c.claim(ctx)
	if err != nil {
		return 0, err
	}
	if c.cfg.TxHandler != nil {
		evs, err := c.b.ReadEvents(c.readCtx(ctx), cur.Seq, c.cfg.Batch)
		if err != nil || len(evs) == 0 {
			return 0, err
		}
		if err := c.observe(ctx, evs, func(ctx context.Context) error { return c.commitTx(ctx, evs) }); err != nil {
			return 0, err
		}
		c.count(len(evs))
		return len(evs), nil
	}
	return c.deliver(ctx, cur.Seq, c.ack)
}

// deliver reads the events after after and hands them to the Handler,
// calling ack after each batch it acknowledged.
func (c *Consumer) deliver(ctx context.Context, after int64, ack func(context.Context, []itsm.Event) error) (int, error) {
	n := 0
	one := func(evs []itsm.Event) error {
		if len(evs) == 0 {
			return nil
		}
		err := c.observe(ctx, evs, func(ctx context.Context) error {
			if err := c.handle(ctx, evs); err != nil {
				return err
			}
			return ack(context.WithoutCancel(ctx), evs)
		})
		if err != nil {
			return err
		}
		n += len(evs)
		c.count(len(evs))
		return nil
	}
	if c.cfg.InPlace {
		return n, storage.ScanEvents(c.readCtx(ctx), c.b, after, c.cfg.Batch, one)
	}
	evs, err := c.b.ReadEvents(c.readCtx(ctx), after, c.cfg.Batch)
	if err != nil {
		return 0, err
	}
	return n, one(evs)
}

func (c *Consumer) count(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Events += int64(n)
	c.stats.Batches++
}

// handle calls the Handler with the panic recovered, renewing the lease
// every Lease/3 meanwhile; losing the lease cancels the handler's context.
func (c *Consumer) handle(ctx context.Context, evs []itsm.Event) error {
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !c.cfg.Local {
		done := make(chan struct{})
		defer func() { cancel(nil); <-done }()
		go func() {
			defer close(done)
			for c.cfg.Wait(hctx, c.cfg.Lease/3) == nil {
				if err := c.renew(hctx); err != nil {
					if errors.Is(err, ErrLeaseLost) {
						cancel(err)
					}
					return
				}
			}
		}()
	}
	err := safely(func() error { return c.cfg.Handler.Handle(c.handlerCtx(hctx), evs) })
	if err == nil && context.Cause(hctx) != nil && errors.Is(context.Cause(hctx), ErrLeaseLost) {
		return ErrLeaseLost
	}
	if err != nil {
		return &HandlerError{Consumer: c.cfg.Name, First: evs[0].Seq, Last: evs[len(evs)-1].Seq, Err: err}
	}
	return nil
}

// handlerCtx is the context a handler runs under: the consumer's tenant
// when it has one.
func (c *Consumer) handlerCtx(ctx context.Context) context.Context {
	if c.cfg.Tenant != "" {
		return c.docCtx(ctx)
	}
	return ctx
}

func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn()
}

// commitTx runs the TxHandler and the move of the checkpoint in one unit.
func (c *Consumer) commitTx(ctx context.Context, evs []itsm.Event) error {
	err := c.writeDoc(ctx, func(ctx context.Context, tx storage.Tx, d *consumerDoc) error {
		if err := safely(func() error { return c.cfg.TxHandler.HandleTx(c.handlerCtx(ctx), tx, evs) }); err != nil {
			return &HandlerError{Consumer: c.cfg.Name, First: evs[0].Seq, Last: evs[len(evs)-1].Seq, Err: err}
		}
		d.Seq = evs[len(evs)-1].Seq
		return nil
	})
	return err
}

// Start runs the consumer in the background until ctx is done or Stop is
// called: it hands batch after batch to the handler, waits Poll when the
// log is read to its end, another instance holds the lease or the store
// is busy, and backs off (see ConsumerConfig.Backoff) after a failure. A
// consumer already started is ErrConflict; one stopped is not started
// again (ErrInvalid): make a new one.
func (c *Consumer) Start(ctx context.Context) error {
	if ctx == nil {
		return itsm.Invalidf("stream consumer: nil context")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.stopped:
		return itsm.Invalidf("stream consumer %s: stopped; make a new one", c.cfg.Name)
	case c.done != nil:
		return fmt.Errorf("stream consumer %s: already started: %w", c.cfg.Name, itsm.ErrConflict)
	}
	runCtx, cancel := context.WithCancel(ctx)
	c.cancel, c.done = cancel, make(chan struct{})
	c.stats.Running = true
	go c.loop(runCtx, c.done)
	return nil
}

func (c *Consumer) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	defer func() {
		c.mu.Lock()
		c.stats.Running = false
		c.mu.Unlock()
	}()
	fails := 0
	for ctx.Err() == nil {
		n, err := c.RunOnce(ctx)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && n > 0:
			fails = 0
			continue
		case err == nil, errors.Is(err, ErrLeased), errors.Is(err, ErrLeaseLost), errors.Is(err, itsm.ErrBusy):
			fails = 0
			wait = c.cfg.Poll
		default:
			fails++
			wait = c.backoff(fails)
		}
		if c.cfg.Wait(ctx, wait) != nil {
			return
		}
	}
}

// backoff returns the wait after the k-th failure in a row: Backoff
// doubled k-1 times, at most MaxBackoff, less a random part of up to half.
func (c *Consumer) backoff(k int) time.Duration {
	d := c.cfg.Backoff
	for i := 1; i < k && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	if half := int64(d / 2); half > 0 {
		d -= time.Duration(rand.Int64N(half + 1))
	}
	return d
}

// Stop stops the loop Start began: the batch being handled is abandoned
// (its handler's context is cancelled; the checkpoint moves only if the
// handler still returned nil) and the lease is given up, so another
// instance takes over at once. It returns when the loop has ended, or with
// ctx's error when ctx is done first. Stopping a consumer never started,
// or stopped already, does nothing.
func (c *Consumer) Stop(ctx context.Context) error {
	if ctx == nil {
		return itsm.Invalidf("stream consumer: nil context")
	}
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.stopped = c.stopped || cancel != nil
	c.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !c.cfg.Local {
		c.release(ctx)
	}
	return nil
}
