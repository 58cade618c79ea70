package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// WithTelemetry connects pgx's query tracer (NewQueryTracer) to the
// providers on the pool Open makes: a span per statement, a child of the
// span in the statement's context (the store call's, under
// storage/telemetry), and the histogram pillars.postgres.query.duration.
// Either provider may be nil. A pool given to New keeps its own
// ConnConfig.Tracer: set NewQueryTracer there.
func WithTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) Option {
	return func(c *config) {
		if tp != nil || mp != nil {
			c.tracer = NewQueryTracer(tp, mp)
		}
	}
}

// NewQueryTracer returns a pgx.QueryTracer that records statements with the
// providers (either may be nil). Statements inside a span that is not
// recording (not sampled) get no span of their own; a statement with no
// span around it starts a trace. It is a pgx.BatchTracer too: a batch is
// one span, its statements events of it.
func NewQueryTracer(tp trace.TracerProvider, mp metric.MeterProvider) pgx.QueryTracer {
	q := &queryTracer{}
	if tp != nil {
		q.tracer = tp.Tracer("github.com/pillars-itsm/pillars/storage/postgres")
	}
	if mp != nil {
		h, err := mp.Meter("github.com/pillars-itsm/pillars/storage/postgres").Float64Histogram("pillars.postgres.query.duration",
			metric.WithUnit("s"), metric.WithDescription("Duration of PostgreSQL statements the store runs, by outcome."))
		if err == nil {
			q.duration = h
			q.ok = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "ok")))
			q.failed = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "error")))
		}
	}
	return q
}

type queryTracer struct {
	tracer     trace.Tracer
	duration   metric.Float64Histogram
	ok, failed metric.MeasurementOption
}

type queryKey struct{}

type queryStart struct {
	at   time.Time
	span trace.Span
}

// TraceQueryStart implements pgx.QueryTracer.
func (q *queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	st := &queryStart{at: time.Now()}
	if q.tracer != nil {
		parent := trace.SpanFromContext(ctx)
		if !parent.SpanContext().IsValid() || parent.IsRecording() {
			ctx, st.span = q.tracer.Start(ctx, "postgres.query", trace.WithSpanKind(trace.SpanKindClient))
			if st.span.IsRecording() {
				st.span.SetAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.query.text", data.SQL),
					attribute.Int("db.query.args", len(data.Args)))
			}
		}
	}
	return context.WithValue(ctx, queryKey{}, st)
}

// TraceQueryEnd implements pgx.QueryTracer.
func (q *queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	st, _ := ctx.Value(queryKey{}).(*queryStart)
	if st == nil {
		return
	}
	if q.duration != nil {
		o := q.ok
		if data.Err != nil {
			o = q.failed
		}
		q.duration.Record(ctx, time.Since(st.at).Seconds(), o)
	}
	if st.span != nil {
		if st.span.IsRecording() {
			st.span.SetAttributes(attribute.Int64("db.response.rows", data.CommandTag.RowsAffected()))
			if data.Err != nil {
				st.span.RecordError(data.Err)
				st.span.SetStatus(codes.Error, data.Err.Error())
			}
		}
		st.span.End()
	}
}

// TraceBatchStart implements pgx.BatchTracer: a batch (the store sends its
// role and tenant settings with a statement in one) is one span and one
// measurement.
func (q *queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	st := &queryStart{at: time.Now()}
	if q.tracer != nil {
		parent := trace.SpanFromContext(ctx)
		if !parent.SpanContext().IsValid() || parent.IsRecording() {
			ctx, st.span = q.tracer.Start(ctx, "postgres.batch", trace.WithSpanKind(trace.SpanKindClient))
			if st.span.IsRecording() && data.Batch != nil {
				st.span.SetAttributes(attribute.String("db.system.name", "postgresql"), attribute.Int("db.operation.batch.size", data.Batch.Len()))
			}
		}
	}
	return context.WithValue(ctx, queryKey{}, st)
}

// TraceBatchQuery implements pgx.BatchTracer: each statement is an event
// of the batch's span.
func (q *queryTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	st, _ := ctx.Value(queryKey{}).(*queryStart)
	if st == nil || st.span == nil || !st.span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("db.query.text", data.SQL), attribute.Int64("db.response.rows", data.CommandTag.RowsAffected())}
	if data.Err != nil {
		attrs = append(attrs, attribute.String("error", data.Err.Error()))
	}
	st.span.AddEvent("query", trace.WithAttributes(attrs...))
}

// TraceBatchEnd implements pgx.BatchTracer.
func (q *queryTracer) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	q.TraceQueryEnd(ctx, conn, pgx.TraceQueryEndData{Err: data.Err})
}
