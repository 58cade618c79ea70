package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/telemetry"
)

// ticket is a small record kind for workloads.
type ticket struct {
	itsm.Record
	Title string `json:"title"`
}

func openTickets(t testing.TB, b storage.Backend, o storage.Observer) *storage.Records[ticket, *ticket] {
	t.Helper()
	ctx := context.Background()
	m, err := itsm.NewLifecycle[*ticket]("ticket").
		Initial("new").States("in_progress", "resolved").
		Event("start", "in_progress", "new").
		Event("resolve", "resolved", "new", "in_progress").
		Event("reopen", "in_progress", "resolved").
		Compile()
	require.NoError(t, err)
	coll := storage.NewCollection[ticket]("ticket")
	require.NoError(t, coll.Register(ctx, b))
	r, err := storage.NewRecords(b, coll, m, storage.RecordsConfig{Prefix: "TKT", Observer: o})
	require.NoError(t, err)
	return r
}

// conflicting makes the next n Puts conflict, as a concurrent writer would.
type conflicting struct {
	storage.Backend
	n atomic.Int32
}

func (c *conflicting) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return c.Backend.Update(ctx, func(tx storage.Tx) error { return fn(conflictTx{tx, c}) })
}

type conflictTx struct {
	storage.Tx
	c *conflicting
}

func (t conflictTx) Put(ctx context.Context, d storage.Document, expected int64) error {
	if t.c.n.Add(-1) >= 0 {
		return &itsm.ConflictError{Kind: d.Kind, ID: d.ID, Expected: expected, Actual: expected + 1}
	}
	return t.Tx.Put(ctx, d, expected)
}

func histCounts(t *testing.T, data metricdata.Aggregation) map[string]uint64 {
	t.Helper()
	h, ok := data.(metricdata.Histogram[float64])
	require.True(t, ok, "a float64 histogram, not %T", data)
	out := map[string]uint64{}
	for _, p := range h.DataPoints {
		out[key(p.Attributes)] += p.Count
	}
	return out
}

func sums(t *testing.T, data metricdata.Aggregation) map[string]int64 {
	t.Helper()
	s, ok := data.(metricdata.Sum[int64])
	require.True(t, ok, "an int64 sum, not %T", data)
	out := map[string]int64{}
	for _, p := range s.DataPoints {
		out[key(p.Attributes)] += p.Value
	}
	return out
}

func key(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return strings.Join(parts, ",")
}

// TestMetricsAfterWorkload runs a known workload (3 creates, 2 starts of
// which one meets a conflict and is retried, one refused resolve, one
// forbidden start) and checks the metric values.
func TestMetricsAfterWorkload(t *testing.T) {
	k := newKit(t)
	var logs bytes.Buffer
	tel, err := telemetry.New(telemetry.Config{TracerProvider: k.tp, MeterProvider: k.mp,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	store := &conflicting{Backend: memory.New()}
	recs := openTickets(t, tel.Backend(store), tel)
	agent := itsm.WithActor(context.Background(), itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	var ids []string
	for range 3 {
		tk := &ticket{Title: "printer"}
		require.NoError(t, recs.Create(agent, tk, storage.Command{}))
		ids = append(ids, tk.ID)
	}
	_, err = recs.Fire(agent, ids[0], "start", storage.Command{}, nil)
	require.NoError(t, err)
	store.n.Store(1)
	_, err = recs.Fire(agent, ids[1], "start", storage.Command{}, nil)
	require.NoError(t, err, "retried after one conflict")
	_, err = recs.Fire(agent, ids[0], "start", storage.Command{}, nil)
	require.True(t, errors.Is(err, itsm.ErrInvalidTransition), "started already: %v", err)
	_, err = recs.Fire(context.Background(), ids[2], "start", storage.Command{}, nil)
	require.True(t, errors.Is(err, itsm.ErrForbidden), "no actor: %v", err)

	assert.Equal(t, map[string]uint64{
		"event=create,kind=ticket,outcome=applied": 3,
		"event=start,kind=ticket,outcome=applied":  2,
		"event=start,kind=ticket,outcome=refused":  2,
	}, histCounts(t, k.metric(t, "pillars.command.duration")))
	assert.Equal(t, map[string]int64{"event=start,kind=ticket": 1}, sums(t, k.metric(t, "pillars.command.conflicts")))
	assert.Equal(t, map[string]int64{"event=start,kind=ticket": 1}, sums(t, k.metric(t, "pillars.command.retries")))
	store.n.Store(0)

	// A command's store calls are in its duration, not measured again;
	// calls outside commands are, a unit of work as a whole.
	assert.Equal(t, map[string]uint64{"adapter=telemetry_test,operation=Register,outcome=ok": 1},
		histCounts(t, k.metric(t, "pillars.store.duration")), "the schema's registration only")
	_, err = recs.Get(agent, ids[0])
	require.NoError(t, err)
	_, err = recs.Get(agent, "no-such-id")
	require.Error(t, err)
	require.NoError(t, storage.Retry(agent, tel.Backend(store), 1, func(tx storage.Tx) error {
		_, err := tx.Get(agent, "ticket", ids[1])
		return err
	}))
	assert.Equal(t, map[string]uint64{
		"adapter=telemetry_test,operation=Register,outcome=ok": 1,
		"adapter=telemetry_test,operation=Get,outcome=ok":      1,
		"adapter=telemetry_test,operation=Get,outcome=error":   1,
		"adapter=telemetry_test,operation=Update,outcome=ok":   1,
	}, histCounts(t, k.metric(t, "pillars.store.duration")), "Tx calls are spans, not measurements")

	// The retried command's span says so.
	var retried int
	for _, s := range k.spans.GetSpans() {
		if s.Name == "ticket.start" && attr(s.Attributes, "pillars.retried") == "true" {
			retried++
			assert.Equal(t, "2", attr(s.Attributes, "pillars.attempts"))
		}
	}
	assert.Equal(t, 1, retried)

	// Refusals are logged at debug with what refused them and the trace id.
	var refused []map[string]any
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		if m["msg"] == "command refused" {
			refused = append(refused, m)
		}
	}
	require.Len(t, refused, 2)
	assert.Equal(t, "DEBUG", refused[0]["level"])
	assert.Equal(t, "lifecycle", refused[0]["refused_by"])
	assert.Equal(t, "forbidden", refused[1]["refused_by"])
	assert.Len(t, refused[0]["trace_id"], 32)
}

// TestFailureLoggedAtError logs a store failure at error, with the trace
// id of the command's span.
func TestFailureLoggedAtError(t *testing.T) {
	k := newKit(t)
	var logs bytes.Buffer
	tel, err := telemetry.New(telemetry.Config{TracerProvider: k.tp, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)
	store := &failing{Backend: memory.New()}
	recs := openTickets(t, tel.Backend(store), tel)
	agent := itsm.WithActor(context.Background(), itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	store.fail = true
	require.Error(t, recs.Create(agent, &ticket{Title: "x"}, storage.Command{}))
	var m map[string]any
	require.NoError(t, json.Unmarshal(logs.Bytes(), &m))
	assert.Equal(t, "ERROR", m["level"])
	assert.Equal(t, "command failed", m["msg"])
	spans := k.spans.GetSpans()
	require.NotEmpty(t, spans)
	assert.Equal(t, spans[len(spans)-1].SpanContext.TraceID().String(), m["trace_id"])
}

// failing fails every unit of work, as a lost database would.
type failing struct {
	storage.Backend
	fail bool
}

func (f *failing) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if f.fail {
		return errors.New("connection reset")
	}
	return f.Backend.Update(ctx, fn)
}
