// Package telemetry instruments Pillars with OpenTelemetry traces and
// metrics and with structured logs, as middleware the host installs: it
// takes a TracerProvider, a MeterProvider and a *slog.Logger as arguments,
// reads nothing global, and does nothing for what is not given.
//
// It imports the OpenTelemetry API only; the host chooses and configures
// the SDK (exporters, sampling, views).
//
//   - Instrument wraps a storage.Backend: a span and a latency measurement
//     per store call (adapter, operation, rows), keeping every optional
//     capability of the store (storage.Traverser, storage.BulkImporter,
//     storage.EventScanner) and adding none it lacks.
//   - A *Telemetry is a storage.Observer (RecordsConfig.Observer and the
//     Telemetry field of every pillar Config): a span per command (kind,
//     event, record number, outcome, what refused it, attempts), the
//     command latency histogram, conflict and retry counters, and logs
//     (refusals at debug, conflicts at warn, failures at error, each with
//     its trace id).
//   - It is a stream.Observer too (ConsumerConfig.Observer): a span per
//     consumer batch and counters of events handled, failed batches and
//     failed webhook deliveries; ObserveLag reports consumers' lag.
//   - SLAReached counts SLA warnings and breaches (the SLA engine calls it
//     through its Telemetry field).
//
// Metric names: pillars.command.duration (s; kind, event, outcome),
// pillars.command.conflicts and pillars.command.retries (kind, event),
// pillars.store.duration (s; adapter, operation, outcome; Backend calls
// made outside a command, a unit of work as a whole: a command's store
// calls are its duration, measured once),
// pillars.stream.batch.duration (s; consumer, outcome),
// pillars.stream.events (consumer), pillars.stream.lag (consumer),
// pillars.sla.warnings and pillars.sla.breaches (definition),
// pillars.delivery.failures (receiver, dead_lettered).
package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/pillars-itsm/pillars"

// Config holds what the host gives. Every field is optional: a nil
// provider records nothing of its signal, a nil Logger logs nothing.
type Config struct {
	// TracerProvider makes the tracer for spans.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meter for metrics.
	MeterProvider metric.MeterProvider
	// Logger receives the logs on-call wants: refused commands at debug,
	// conflicts left after retries at warn, failures at error.
	Logger *slog.Logger
	// Adapter names the store in spans and metrics (pillars.store.adapter);
	// default: the package name of the backend's type ("memory",
	// "sqlite", "postgres").
	Adapter string
}

// Telemetry records what the library does through the providers of a
// Config. It is a storage.Observer and a stream.Observer; make it with
// New and share it: it is safe for concurrent use.
type Telemetry struct {
	cfg               Config
	tracer            trace.Tracer
	meter             metric.Meter
	tracing, metering bool

	cmdDuration   metric.Float64Histogram
	conflicts     metric.Int64Counter
	retries       metric.Int64Counter
	storeDuration metric.Float64Histogram
	batchDuration metric.Float64Histogram
	streamEvents  metric.Int64Counter
	slaWarnings   metric.Int64Counter
	slaBreaches   metric.Int64Counter
	deliveryFails metric.Int64Counter

	internal, client, consumer []trace.SpanStartOption // span kinds, built once: an option passed alone would be allocated per span

	// The caches below are built on first use, so the hot paths allocate
	// none of it; each holds at most maxCached entries (kinds, events,
	// consumers are few; a caller inventing event names must not grow
	// them without bound).
	sets  sync.Map // setKey → *attrSet
	cmds  sync.Map // cmdKey → *cmdEntry
	nSets atomic.Int64
	nCmds atomic.Int64
}

// maxCached bounds each cache of attribute sets; past it, sets are built
// per call (correct, only slower).
const maxCached = 4096

// setKey identifies an attribute set: the metric's letter and up to three
// values.
type setKey struct {
	m       byte
	a, b, c string
}

// attrSet is an attribute set ready for the metric calls: the option
// slices are passed as they are (a variadic argument built per call would
// be allocated, the instruments being interfaces).
type attrSet struct {
	rec []metric.RecordOption
	add []metric.AddOption
}

func newAttrSet(kv ...attribute.KeyValue) *attrSet {
	o := metric.WithAttributeSet(attribute.NewSet(kv...))
	return &attrSet{rec: []metric.RecordOption{o}, add: []metric.AddOption{o}}
}

// cmdKey names a command's kind and event.
type cmdKey struct{ kind, event string }

// cmdEntry is what a command of a kind and event needs, built once: its
// span name and its attribute sets.
type cmdEntry struct {
	kind, event string
	name        string      // the span name, kind.event
	outcomes    [4]*attrSet // command duration: applied, refused, conflict, failed
	kindEvent   *attrSet    // conflicts and retries
}

// outcomeIndex is storage.Outcome's answer as an index into
// cmdEntry.outcomes.
func outcomeIndex(outcome string) int {
	switch outcome {
	case "applied":
		return 0
	case "refused":
		return 1
	case "conflict":
		return 2
	}
	return 3
}

var (
	_ storage.Observer = (*Telemetry)(nil)
	_ stream.Observer  = (*Telemetry)(nil)
)

// New builds the tracer and the instruments once. It fails only when the
// MeterProvider refuses an instrument.
func New(cfg Config) (*Telemetry, error) {
	t := &Telemetry{cfg: cfg, tracing: cfg.TracerProvider != nil, metering: cfg.MeterProvider != nil,
		internal: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)},
		client:   []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)},
		consumer: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}}
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	t.tracer = tp.Tracer(ScopeName)
	t.meter = mp.Meter(ScopeName)
	m := t.meter
	var errs []error
	hist := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
		errs = append(errs, err)
		return h
	}
	counter := func(name, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	t.cmdDuration = hist("pillars.command.duration", "Duration of Records commands (Create, Fire, Change), by kind, event and outcome.")
	t.conflicts = counter("pillars.command.conflicts", "Version conflicts met by commands (each conflicting unit of work).")
	t.retries = counter("pillars.command.retries", "Units of work run again after a version conflict.")
	t.storeDuration = hist("pillars.store.duration", "Duration of storage Backend calls made outside commands, by adapter, operation and outcome.")
	t.batchDuration = hist("pillars.stream.batch.duration", "Duration of stream consumer batches, by consumer and outcome.")
	t.streamEvents = counter("pillars.stream.events", "Events acknowledged by stream consumers.")
	t.slaWarnings = counter("pillars.sla.warnings", "SLA warning thresholds reached.")
	t.slaBreaches = counter("pillars.sla.breaches", "SLA clocks breached.")
	t.deliveryFails = counter("pillars.delivery.failures", "Failed delivery attempts to receivers (webhooks), retried or dead-lettered.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// Enabled reports whether any provider or logger was given.
func (t *Telemetry) Enabled() bool {
	return t != nil && (t.tracing || t.metering || t.cfg.Logger != nil)
}

// measure returns the cached attribute set for key, building it from
// attrs the first time (attrs is not kept: a closure passed here stays on
// the caller's stack).
func (t *Telemetry) measure(key setKey, attrs func() []attribute.KeyValue) *attrSet {
	if o, ok := t.sets.Load(key); ok {
		return o.(*attrSet)
	}
	o := newAttrSet(attrs()...)
	if t.nSets.Load() >= maxCached {
		return o
	}
	if prev, loaded := t.sets.LoadOrStore(key, o); loaded {
		return prev.(*attrSet)
	}
	t.nSets.Add(1)
	return o
}

// command returns the cached entry of a kind and event.
func (t *Telemetry) command(kind, event string) *cmdEntry {
	key := cmdKey{kind, event}
	if e, ok := t.cmds.Load(key); ok {
		return e.(*cmdEntry)
	}
	e := &cmdEntry{kind: kind, event: event, name: kind + "." + event,
		kindEvent: newAttrSet(attribute.String("kind", kind), attribute.String("event", event))}
	for i, o := range [...]string{"applied", "refused", "conflict", "failed"} {
		e.outcomes[i] = newAttrSet(attribute.String("kind", kind), attribute.String("event", event), attribute.String("outcome", o))
	}
	if t.nCmds.Load() >= maxCached {
		return e
	}
	if prev, loaded := t.cmds.LoadOrStore(key, e); loaded {
		return prev.(*cmdEntry)
	}
	t.nCmds.Add(1)
	return e
}

// commandCtxKey marks a context as a command's (see inCommand).
type commandCtxKey struct{}

// command is a command in flight. It is also the context the command runs
// under: the tracer's (with the command's span, if any) marked as a
// command's, so that the store calls below it are not measured again (the
// command's duration holds them), at the cost of one allocation rather
// than a measurement per call.
type command struct {
	context.Context
	t     *Telemetry
	e     *cmdEntry
	id    string // the record id given at the start
	span  trace.Span
	start time.Time
}

// Value implements context.Context.
func (c *command) Value(key any) any {
	if key == (commandCtxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// inCommand reports whether ctx is a command's (or below one).
func inCommand(ctx context.Context) bool {
	return ctx.Value(commandCtxKey{}) != nil
}

// Command starts the span of a Records command; done ends it and records
// its metrics and logs. It implements storage.Observer.
//
// Per command it costs one span start (none of its attributes are built
// when the span is not recorded), two clock reads and one histogram
// measurement with an attribute set built once per kind, event and
// outcome.
func (t *Telemetry) Command(ctx context.Context, c storage.CommandInfo) (context.Context, func(storage.CommandResult)) {
	if !t.tracing && !t.metering && t.cfg.Logger == nil {
		return ctx, noCommand
	}
	cmd := &command{t: t, e: t.command(c.Kind, c.Event), id: c.ID}
	if t.metering {
		cmd.start = time.Now()
	}
	if t.tracing {
		if u, ok := c.Tx.(*unit); ok {
			ctx = u.nest(ctx) // a Tx form: the command runs inside the unit
		}
		ctx, cmd.span = t.tracer.Start(ctx, cmd.e.name, t.internal...)
		if cmd.span.IsRecording() {
			cmd.span.SetAttributes(attribute.String("pillars.kind", c.Kind), attribute.String("pillars.event", c.Event))
			if c.ID != "" {
				cmd.span.SetAttributes(attribute.String("pillars.record.id", c.ID))
			}
		}
	}
	cmd.Context = ctx
	return cmd, cmd.done
}

// done ends the command: its metrics, its span, its log.
func (c *command) done(r storage.CommandResult) {
	t := c.t
	ctx := c.Context
	outcome := storage.Outcome(r.Err)
	if t.metering {
		t.cmdDuration.Record(ctx, time.Since(c.start).Seconds(), c.e.outcomes[outcomeIndex(outcome)].rec...)
		conflicts := r.Attempts - 1
		if outcome == "conflict" && r.Attempts > 0 {
			conflicts++
		}
		if conflicts > 0 {
			t.conflicts.Add(ctx, int64(conflicts), c.e.kindEvent.add...)
		}
		if r.Attempts > 1 {
			t.retries.Add(ctx, int64(r.Attempts-1), c.e.kindEvent.add...)
		}
	}
	if span := c.span; span != nil {
		if span.IsRecording() {
			attrs := []attribute.KeyValue{attribute.String("pillars.outcome", outcome), attribute.Int("pillars.attempts", r.Attempts),
				attribute.Bool("pillars.retried", r.Attempts > 1)}
			if r.ID != "" && c.id == "" {
				attrs = append(attrs, attribute.String("pillars.record.id", r.ID))
			}
			if r.Number != "" {
				attrs = append(attrs, attribute.String("pillars.record.number", r.Number))
			}
			if by := storage.RefusedBy(r.Err); by != "" {
				attrs = append(attrs, attribute.String("pillars.refused_by", by))
			}
			span.SetAttributes(attrs...)
			switch outcome {
			case "failed", "conflict":
				span.RecordError(r.Err)
				span.SetStatus(codes.Error, r.Err.Error())
			case "refused":
				span.SetStatus(codes.Unset, "")
			}
		}
		span.End()
	}
	if t.cfg.Logger != nil && r.Err != nil {
		t.logCommand(ctx, storage.CommandInfo{Kind: c.e.kind, Event: c.e.event, ID: c.id}, r, outcome)
	}
}

// noCommand ends an unobserved command.
func noCommand(storage.CommandResult) {}

// logCommand logs a command that did not apply: refusals at debug,
// conflicts at warn, failures at error, with the trace id.
func (t *Telemetry) logCommand(ctx context.Context, c storage.CommandInfo, r storage.CommandResult, outcome string) {
	level, msg := slog.LevelError, "command failed"
	switch outcome {
	case "refused":
		level, msg = slog.LevelDebug, "command refused"
	case "conflict":
		level, msg = slog.LevelWarn, "command conflicted"
	}
	if !t.cfg.Logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("kind", c.Kind), slog.String("event", c.Event), slog.String("outcome", outcome),
		slog.Int("attempts", r.Attempts), slog.String("error", r.Err.Error())}
	if id := r.ID; id != "" || c.ID != "" {
		if id == "" {
			id = c.ID
		}
		attrs = append(attrs, slog.String("record_id", id))
	}
	if r.Number != "" {
		attrs = append(attrs, slog.String("number", r.Number))
	}
	if by := storage.RefusedBy(r.Err); by != "" {
		attrs = append(attrs, slog.String("refused_by", by))
	}
	t.cfg.Logger.LogAttrs(ctx, level, msg, append(attrs, traceAttrs(ctx)...)...)
}

// traceAttrs returns the trace and span ids of ctx's span, if any.
func traceAttrs(ctx context.Context) []slog.Attr {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []slog.Attr{slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String())}
}

// Batch starts the span of a consumer batch; done ends it and records the
// batch's metrics and, for a failure, an error log. It implements
// stream.Observer.
func (t *Telemetry) Batch(ctx context.Context, b stream.BatchInfo) (context.Context, func(stream.BatchResult)) {
	start := time.Now()
	var span trace.Span
	if t.tracing {
		ctx, span = t.tracer.Start(ctx, "stream.batch "+b.Consumer, t.consumer...)
		if span.IsRecording() {
			span.SetAttributes(attribute.String("pillars.consumer", b.Consumer), attribute.Int("pillars.batch.events", b.Events),
				attribute.Int64("pillars.batch.first_seq", b.First), attribute.Int64("pillars.batch.last_seq", b.Last))
		}
	}
	return ctx, func(r stream.BatchResult) {
		outcome := "ok"
		if r.Err != nil {
			outcome = "error"
		}
		if t.metering {
			t.batchDuration.Record(ctx, time.Since(start).Seconds(), t.measure(setKey{m: 'b', a: b.Consumer, b: outcome}, func() []attribute.KeyValue {
				return []attribute.KeyValue{attribute.String("consumer", b.Consumer), attribute.String("outcome", outcome)}
			}).rec...)
			if r.Err == nil {
				t.streamEvents.Add(ctx, int64(b.Events), t.measure(setKey{m: 'e', a: b.Consumer}, func() []attribute.KeyValue {
					return []attribute.KeyValue{attribute.String("consumer", b.Consumer)}
				}).add...)
			}
		}
		if span != nil {
			if r.Err != nil {
				span.RecordError(r.Err)
				span.SetStatus(codes.Error, r.Err.Error())
			}
			span.End()
		}
		if r.Err != nil && t.cfg.Logger != nil {
			t.cfg.Logger.LogAttrs(ctx, slog.LevelError, "stream batch failed", append([]slog.Attr{slog.String("consumer", b.Consumer),
				slog.Int64("first_seq", b.First), slog.Int64("last_seq", b.Last), slog.String("error", r.Err.Error())}, traceAttrs(ctx)...)...)
		}
	}
}

// DeliveryFailed counts a failed delivery attempt and logs it: at warn
// while it will be retried, at error once the event is dead-lettered. It
// implements stream.Observer.
func (t *Telemetry) DeliveryFailed(ctx context.Context, f stream.DeliveryFailure) {
	if t.metering {
		dead := "false"
		if f.DeadLettered {
			dead = "true"
		}
		t.deliveryFails.Add(ctx, 1, t.measure(setKey{m: 'd', a: f.Receiver, b: dead}, func() []attribute.KeyValue {
			return []attribute.KeyValue{attribute.String("receiver", f.Receiver), attribute.Bool("dead_lettered", f.DeadLettered)}
		}).add...)
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("delivery failed", trace.WithAttributes(attribute.String("pillars.receiver", f.Receiver),
			attribute.String("pillars.event.id", f.Event.ID), attribute.Int("pillars.attempt", f.Attempt), attribute.Int("http.status", f.Status),
			attribute.Bool("pillars.dead_lettered", f.DeadLettered)))
	}
	if t.cfg.Logger != nil {
		level := slog.LevelWarn
		if f.DeadLettered {
			level = slog.LevelError
		}
		var msg string
		if f.Err != nil {
			msg = f.Err.Error()
		}
		t.cfg.Logger.LogAttrs(ctx, level, "delivery failed", append([]slog.Attr{slog.String("receiver", f.Receiver),
			slog.String("event_id", f.Event.ID), slog.Int64("seq", f.Event.Seq), slog.Int("attempt", f.Attempt), slog.Int("status", f.Status),
			slog.Bool("dead_lettered", f.DeadLettered), slog.String("error", msg)}, traceAttrs(ctx)...)...)
	}
}

// SLAReached counts an SLA clock of the definition reaching a warning
// threshold (threshold, percent of its target) or, with threshold 0, its
// breach; a breach is also logged at warn.
func (t *Telemetry) SLAReached(ctx context.Context, definition string, threshold int) {
	if t.metering {
		def := t.measure(setKey{m: 's', a: definition}, func() []attribute.KeyValue { return []attribute.KeyValue{attribute.String("definition", definition)} })
		if threshold == 0 {
			t.slaBreaches.Add(ctx, 1, def.add...)
		} else {
			t.slaWarnings.Add(ctx, 1, def.add...)
		}
	}
	if threshold == 0 && t.cfg.Logger != nil {
		t.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "sla breached", append([]slog.Attr{slog.String("definition", definition)}, traceAttrs(ctx)...)...)
	}
}

// ObserveLag reports the lag of the consumers (stream.Consumer.Lag: the
// events after their checkpoints) as the gauge pillars.stream.lag, read
// when the metrics are collected. Unregister the returned registration to
// stop. Lag reads the log, so keep the collection interval reasonable.
func (t *Telemetry) ObserveLag(consumers ...*stream.Consumer) (metric.Registration, error) {
	g, err := t.meter.Int64ObservableGauge("pillars.stream.lag", metric.WithDescription("Events of a stream consumer's scope after its checkpoint."))
	if err != nil {
		return nil, err
	}
	return t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		var errs []error
		for _, c := range consumers {
			n, err := c.Lag(ctx)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			o.ObserveInt64(g, n, metric.WithAttributes(attribute.String("consumer", c.Name())))
		}
		return errors.Join(errs...)
	}, g)
}
