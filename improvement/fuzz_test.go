package improvement

import (
	"bytes"
	"compress/flate"
	"encoding/gob"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
)

// FuzzDecodeState: a corrupt checkpoint decodes to an error or a state,
// never a panic.
//
// With deflate set, the input is the gob stream and is compressed before it
// is decoded, so the fuzzer mutates the state's encoding itself; mutated
// compressed bytes would almost never get past the decompressor. Without
// it, the input is the stored bytes, for the decompressor's own errors. The
// seeds are a state of two events and the empty one, about 1 KB of gob
// each: small enough to minimise quickly, so the budget goes on executions.
func FuzzDecodeState(f *testing.F) {
	e, _ := NewDetached(Config{})
	e.Apply(parseEvents("incident|create|new|service_id=\"a\";priority=2\nincident|resolve|resolved|"))
	for _, st := range []*state{e.st, newState()} {
		var raw bytes.Buffer
		if err := gob.NewEncoder(&raw).Encode(st); err != nil {
			f.Fatal(err)
		}
		f.Add(raw.Bytes(), true)
	}
	good, _ := encodeState(e.st)
	f.Add(good, false)
	f.Add([]byte{}, false)
	f.Add([]byte("not flate"), false)
	f.Fuzz(func(t *testing.T, data []byte, deflate bool) {
		if deflate {
			var buf bytes.Buffer
			zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
			_, _ = zw.Write(data)
			_ = zw.Close()
			data = buf.Bytes()
		}
		st, err := decodeState(data, snapshotFormat)
		if err == nil && st == nil {
			t.Fatal("no state and no error")
		}
	})
}

// parseEvents reads one event per line, "kind|name|to|field=json;field=json";
// every event is of one record per kind.
func parseEvents(s string) []itsm.Event {
	var out []itsm.Event
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i, line := range strings.Split(s, "\n") {
		parts := strings.SplitN(line, "|", 4)
		if len(parts) < 4 {
			continue
		}
		ev := itsm.Event{Seq: int64(i + 1), Kind: parts[0], RecordID: "r-" + parts[0], Name: parts[1], To: parts[2],
			At: at.Add(time.Duration(i) * 7 * time.Minute)}
		if ev.Name == "hold" { // out-of-order times must be harmless
			ev.At = ev.At.Add(-48 * time.Hour)
		}
		for _, kv := range strings.Split(parts[3], ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				ev.Changes = append(ev.Changes, itsm.FieldChange{Field: k, To: v})
			}
		}
		out = append(out, ev)
	}
	return out
}

// applySeeds are the logs FuzzApply and FuzzApplySplit start from: an
// incident resolved, reopened and closed; an SLA clock created before its
// ticket; a change linked by an incident and unlinked, and a request; odd
// values.
var applySeeds = []string{
	"incident|create|new|service_id=\"a\";assignment_group=\"g\";priority=2\nincident|start|in_progress|assigned_to=\"x\"\n" +
		"incident|resolve|resolved|\nincident|reopen|in_progress|\nincident|resolve|resolved|\nincident|close|closed|",
	"task_sla|create|in_progress|task_id=\"r-incident\"\nincident|create|new|priority=\"3\"\ntask_sla|complete|completed|has_breached=true\n" +
		"task_sla|restart|in_progress|\ntask_sla|cancel|cancelled|",
	"change|create|new|type=\"emergency\";review_outcome=\"successful\"\nincident|create|new|caused_by_change_id=\"r-change\"\n" +
		"change|close|closed|\nincident|update||caused_by_change_id=null\nrequest|create|submitted|\nrequest|x|closed_complete|",
	"incident|create|new|service_id=\"\\u0041\";priority=99999999999\nincident|hold|on_hold|\nincident|cancel|canceled|",
}

// FuzzApply feeds arbitrary event sequences and field values (the engine
// parses JSON values from Changes): it never panics, and every KPI by every
// slice and period answers with finite values.
func FuzzApply(f *testing.F) {
	for _, in := range applySeeds {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := NewDetached(Config{Calendar: halfDay{}})
		if err != nil {
			t.Fatal(err)
		}
		e.Apply(parseEvents(in))
		for _, k := range KPIs() {
			for _, by := range [][]Dimension{nil, {ByService, ByGroup, ByPriority}} {
				if k == MTBF && by != nil {
					by = []Dimension{ByService}
				}
				for _, p := range []Period{PeriodNone, PeriodDay, PeriodMonth} {
					res, err := e.Compute(Query{KPI: k, By: by, Period: p})
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range res.Rows {
						if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
							t.Fatalf("%s: value %v", k, r.Value)
						}
					}
				}
			}
		}
	})
}

type halfDay struct{}

func (halfDay) Between(a, b time.Time) (time.Duration, error) { return b.Sub(a) / 2, nil }

// TestSLAClockStages follows a design-pillar clock (its stage is its state;
// "canceled" with one l) through completion, reopening, cancellation and a
// restart: only the final completion counts.
func TestSLAClockStages(t *testing.T) {
	e, err := NewDetached(Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.Apply(parseEvents(strings.Join([]string{
		`incident|create|new|priority=1`,
		`task_sla|create|in_progress|task_id="r-incident";has_breached=false`,
		`task_sla|complete|completed|`,
		`task_sla|reopen|in_progress|`,
		`task_sla|cancel|canceled|`,
		`task_sla|restart|in_progress|`,
		`task_sla|update||has_breached=true`,
		`task_sla|complete|completed|`,
	}, "\n")))
	res, err := e.Compute(Query{KPI: SLACompliance, By: []Dimension{ByPriority}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0].Count != 1 || res.Rows[0].Hits != 0 || res.Rows[0].Priority != 1 {
		t.Fatalf("want one breached P1 clock, got %+v", res.Rows)
	}
}

// TestSLAMetricsFilter counts only the clocks of the configured metrics.
func TestSLAMetricsFilter(t *testing.T) {
	log := parseEvents(strings.Join([]string{
		`task_sla|create|in_progress|task_id="x";metric="response";priority=1`,
		`task_sla|complete|completed|`,
	}, "\n"))
	log2 := parseEvents(`task_sla|create|in_progress|task_id="y";metric="resolution";priority=1` + "\n" + `task_sla|complete|completed|has_breached=true`)
	for i := range log2 {
		log2[i].Seq += 10
		log2[i].RecordID = "r-second"
	}
	for _, tt := range []struct {
		metrics []string
		count   int64
	}{{nil, 2}, {[]string{"resolution"}, 1}, {[]string{"response", "resolution"}, 2}, {[]string{"other"}, 0}} {
		e, err := NewDetached(Config{SLA: SLAInput{Metrics: tt.metrics}})
		if err != nil {
			t.Fatal(err)
		}
		e.Apply(log)
		e.Apply(log2)
		res, err := e.Compute(Query{KPI: SLACompliance})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, r := range res.Rows {
			n += r.Count
		}
		if n != tt.count {
			t.Fatalf("metrics %v: %d clocks counted, want %d", tt.metrics, n, tt.count)
		}
	}
}
