package telemetry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/telemetry"
)

// TestIncidentLifecycleSpans runs one incident from open to close (with a
// refused resolve) on an instrumented store and asserts the span tree.
func TestIncidentLifecycleSpans(t *testing.T) {
	k := newKit(t)
	ctx := context.Background()
	clock := itsm.NewFakeClock(day)
	store := telemetry.Instrument(memory.New(), k.config())
	desk, err := operation.New(ctx, store, operation.Config{Clock: clock, Directory: itsm.StaticDirectory{"network": {"ann"}}, Telemetry: k.tel})
	require.NoError(t, err)
	k.spans.Reset()
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}, Groups: []string{"network"}})
	caller := itsm.WithActor(ctx, itsm.Actor{ID: "carl", Roles: []string{"caller"}})

	inc := &operation.Incident{ShortDescription: "VPN drops", Impact: 1, Urgency: 2}
	require.NoError(t, desk.OpenIncident(caller, inc, storage.Command{}))
	_, err = desk.AssignIncident(agent, inc.ID, "network", "ann", storage.Command{})
	require.NoError(t, err)
	_, err = desk.StartIncident(agent, inc.ID, storage.Command{})
	require.NoError(t, err)
	_, err = desk.ResolveIncident(agent, inc.ID, "", "", storage.Command{})
	require.True(t, errors.Is(err, itsm.ErrInvalidTransition), "resolve without a code is refused: %v", err)
	_, err = desk.ResolveIncident(agent, inc.ID, operation.ResolvedWorkaround, "MTU lowered", storage.Command{})
	require.NoError(t, err)
	_, err = desk.CloseIncident(caller, inc.ID, storage.Command{})
	require.NoError(t, err)

	want := `store.Update
  incident.create [outcome=applied]
    store.tx.NextSequence
    store.tx.Put [store.rows=1]
    store.tx.Append [store.rows=1]
incident.update [outcome=applied]
  store.Update
    store.tx.Get [store.rows=1]
    store.tx.Put [store.rows=1]
    store.tx.Append [store.rows=1]
incident.start [outcome=applied]
  store.Update
    store.tx.Get [store.rows=1]
    store.tx.Put [store.rows=1]
    store.tx.Append [store.rows=1]
store.Update
  incident.resolve [outcome=refused refused_by=guard:resolution_code_and_notes]
    store.tx.Get [store.rows=1]
store.Update
  incident.resolve [outcome=applied]
    store.tx.Get [store.rows=1]
    store.tx.Put [store.rows=1]
    store.tx.Append [store.rows=1]
  store.tx.Query [store.rows=0]
incident.close [outcome=applied]
  store.Update
    store.tx.Get [store.rows=1]
    store.tx.Put [store.rows=1]
    store.tx.Append [store.rows=1]
`
	spans := k.spans.GetSpans()
	assert.Equal(t, want, tree(spans, func(tracetest.SpanStub) bool { return true }))
	// One trace per command: every span of a command shares its trace id.
	traces := map[string]bool{}
	for _, s := range spans {
		traces[s.SpanContext.TraceID().String()] = true
		if !strings.HasPrefix(s.Name, "incident.") {
			continue
		}
		assert.Equal(t, "incident", attr(s.Attributes, "pillars.kind"), s.Name)
		assert.Equal(t, inc.ID, attr(s.Attributes, "pillars.record.id"), s.Name)
		if attr(s.Attributes, "pillars.outcome") == "applied" {
			assert.Equal(t, inc.Number, attr(s.Attributes, "pillars.record.number"), s.Name)
		}
	}
	assert.Len(t, traces, 6, "six commands, six traces")
}
