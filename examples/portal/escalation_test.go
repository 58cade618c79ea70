package main

import (
	"bytes"
	"context"
	"log"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
)

// The SLA engine is the desk's SLAProgress as it is: escalation by SLA
// percentage reads the clocks of a page of incidents in one query.
var _ operation.SLAProgress = (*design.Engine)(nil)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The scheduler's escalation warns the service desk when an incident has
// used three quarters of its SLA target, once, recorded on the incident's
// history and delivered through the notifier.
func TestEscalationBySLA(t *testing.T) {
	d := newDesk(t)
	var logs syncBuffer
	d.srv.logger = log.New(&logs, "", 0)
	ctx := context.Background()
	carl := d.as("carl")
	r := carl.post("/incidents", url.Values{"short_description": {"Mail is slow"}, "impact": {"2"}, "urgency": {"2"}})
	require.Equal(t, 303, r.status, text(r.body))
	id := r.location[len("/incidents/"):]
	inc := d.incident(id)
	require.Equal(t, 3, inc.Priority, "a P3's response target is one hour")

	steps := []struct {
		advance time.Duration
		want    []string
	}{
		{30 * time.Minute, nil},
		{14 * time.Minute, nil}, // 44 minutes: 73% of the response target
		{2 * time.Minute, []string{"sla_warning"}},
		{time.Hour, []string{"sla_warning"}}, // once per incident
	}
	for _, st := range steps {
		d.clock.Advance(st.advance)
		_, err := d.srv.Escalate(ctx)
		require.NoError(t, err)
		assert.Equal(t, st.want, d.incident(id).Escalations, "at %s", d.clock.Now().Format(time.Kitchen))
	}
	assert.Contains(t, logs.String(), "notify [service_desk]: "+inc.Number+" escalated (sla_warning): Mail is slow")
	assert.Contains(t, logs.String(), "of its SLA target used")
	page := text(d.as("ann").get("/incidents/" + id).body)
	assert.Contains(t, page, "update New New escalation escalation: sla_warning")

	// The queues flag it next to its SLA countdown; the incident that did
	// not escalate has no flag.
	ann := d.as("ann")
	r = d.as("cora").post("/incidents", url.Values{"short_description": {"Fresh"}, "impact": {"3"}, "urgency": {"3"}})
	require.Equal(t, 303, r.status, text(r.body))
	fresh := d.incident(r.location[len("/incidents/"):])
	for _, path := range []string{"/queue", "/incidents?state=open"} {
		rows := queueRows(ann.get(path).body)
		require.Contains(t, rows, inc.Number, path)
		assert.Contains(t, rows[inc.Number], "breached", path)
		assert.Contains(t, rows[inc.Number], "⬆ Escalated: SLA warning", path)
		require.Empty(t, fresh.Escalations)
		require.Contains(t, rows, fresh.Number, path)
		assert.NotContains(t, rows[fresh.Number], "Escalated", path)
	}

	// The SLA pillar's view of the incident's clocks, as the desk reads it.
	pcts, err := d.srv.sla.SLAPercentages(itsm.WithActor(ctx, escalator), operation.KindIncident, []string{id, "unknown"}, d.clock.Now())
	require.NoError(t, err)
	assert.Len(t, pcts, 1)
	assert.InDelta(t, 106*100.0/60, pcts[id], 0.01, "106 minutes of a one-hour response target")
}

// queueRows returns the text of each incident row of a list page by the
// incident's number.
func queueRows(html string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<tr><td><a href="/incidents/[^"]+">(INC\d+)</a>.*?</tr>`).FindAllStringSubmatch(html, -1) {
		out[m[1]] = text(m[0])
	}
	return out
}
