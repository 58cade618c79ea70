package operation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// randomHistory builds an incident with a random history: repeated states,
// reopens after close, holds with known and unknown reasons, resolutions
// with and without their code, field changes, comments and work notes,
// rows with equal times and rows given out of order; with custom, the
// custom fields of deskFields set, changed and removed along the way.
func randomHistory(r *rand.Rand, ref string, base time.Time, custom bool) operation.ImportIncident {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	in := operation.ImportIncident{Ref: ref, OpenedAt: base, OpenedBy: pick("jane", "ann", ""),
		Incident: operation.Incident{ShortDescription: "Imported " + ref, CallerID: "carl", Impact: 1 + r.IntN(3), Urgency: 1 + r.IntN(3)}}
	if r.IntN(4) == 0 {
		in.Incident.Priority = 1 + r.IntN(5)
	}
	if custom {
		in.Incident.Custom.SetString("region", pick("emea", "apac"))
	}
	at := base
	for range r.IntN(12) {
		if r.IntN(4) > 0 { // else: the time of the row before
			at = at.Add(time.Duration(1+r.IntN(900)) * time.Minute)
		}
		row := operation.ImportRow{At: at, Actor: pick("jane", "ann", "bob", ""),
			State: pick("Work in progress", "Work in progress", "Waiting for customer", "Pending", "Resolved", "Resolved", "Closed", "", "")}
		if r.IntN(40) == 0 { // refused rows, now and then
			row.State = pick("Open", "Canceled", "Unknown")
		}
		if r.IntN(3) == 0 || (row.State == "Waiting for customer" || row.State == "Pending") && r.IntN(20) > 0 {
			row.HoldReason = pick(operation.HoldAwaitingCaller, operation.HoldAwaitingVendor, operation.HoldAwaitingChange)
			if r.IntN(20) == 0 {
				row.HoldReason = "bogus"
			}
		}
		if (row.State == "Resolved" || row.State == "Closed") && r.IntN(20) > 0 {
			row.ResolutionCode, row.ResolutionNotes = pick(operation.ResolvedPermanently, operation.ResolvedWorkaround), "notes "+ref
		}
		if r.IntN(3) == 0 {
			row.AssignmentGroup = pick("network", "desktop", "")
			row.AssignedTo = pick("ann", "bob", "")
		}
		if r.IntN(4) == 0 {
			row.Impact, row.Urgency = r.IntN(4), r.IntN(4)
		}
		if r.IntN(6) == 0 {
			row.Priority = 1 + r.IntN(5)
		}
		if r.IntN(4) == 0 {
			row.Category, row.Subcategory = pick("network", "hardware"), pick("", "vpn")
		}
		if r.IntN(4) == 0 {
			row.Comment = "comment at " + at.Format(time.Kitchen)
		}
		if r.IntN(4) == 0 {
			row.WorkNote = "note " + ref
		}
		if r.IntN(20) > 0 {
			row.Reason = "because"
		}
		if custom && r.IntN(3) == 0 {
			row.Custom = itsm.Values{}
			row.Custom.SetString("region", pick("emea", "apac", "amer"))
			if r.IntN(30) == 0 {
				row.Custom.SetString("region", "mars") // refused by the dictionary
			}
			switch r.IntN(4) {
			case 0:
				row.Custom.SetInt("outage_minutes", int64(r.IntN(600)))
			case 1:
				row.Custom["outage_minutes"] = json.RawMessage("null")
			case 2:
				row.Custom.SetBool("vip", r.IntN(2) == 0)
			default:
				row.Custom.SetString("root_cause_hint", "hint "+ref)
			}
		}
		in.History = append(in.History, row)
	}
	// Out of order as given; the import sorts them (stable).
	for range r.IntN(3) {
		if n := len(in.History); n > 1 {
			i, j := r.IntN(n), r.IntN(n)
			in.History[i], in.History[j] = in.History[j], in.History[i]
		}
	}
	return in
}

// importRun is what one import left: its reports, the incidents and the
// log, with ids and hashes made comparable across runs.
type importRun struct {
	reports []string
	docs    []string
	events  []itsm.Event
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// canonical reads the store after an import and replaces every record and
// event id by one named after its place (ids are random), then seals the
// chains again over the new ids, so that two runs that wrote the same
// records and events read the same, hashes included. Each chain is
// verified against its record's head before.
func canonical(t *testing.T, f fixture, reports []operation.ImportReport) importRun {
	t.Helper()
	ctx := context.Background()
	var out importRun
	for _, rep := range reports {
		line := fmt.Sprintf("imported %d updated %d skipped %d events %d", rep.Imported, rep.Updated, rep.Skipped, rep.Events)
		for _, e := range rep.Errors {
			line += fmt.Sprintf("\n%s row %d [%s] %s", e.Record, e.Row, e.Rule, uuidRE.ReplaceAllString(e.Reason, "<id>"))
		}
		out.reports = append(out.reports, line)
	}
	docs, evs := tenantRows(t, f.store, ctx)
	slices.SortFunc(docs, func(a, b storage.Document) int { return strings.Compare(numberOf(t, a), numberOf(t, b)) })
	ids := map[string]string{}
	rename := func(id string) string {
		if c, ok := ids[id]; ok {
			return c
		}
		c := fmt.Sprintf("00000000-0000-7000-8000-%012d", len(ids))
		ids[id] = c
		return c
	}
	for _, d := range docs {
		rename(d.ID)
	}
	chains := map[string][]itsm.Event{}
	for _, e := range evs {
		e.Seq = 0
		chains[e.RecordID] = append(chains[e.RecordID], e)
	}
	heads := map[string]string{}
	for _, d := range docs {
		chain := chains[d.ID]
		inc, err := f.desk.Incidents().Collection().Decode(d)
		require.NoError(t, err)
		require.NoError(t, itsm.Verify(chain, inc.Head), "chain of %s", inc.Number)
		prev := ""
		for i := range chain {
			chain[i].ID, chain[i].RecordID = rename(chain[i].ID), rename(chain[i].RecordID)
			chain[i].Changes = slices.Clone(chain[i].Changes)
			for j := range chain[i].Changes {
				c := &chain[i].Changes[j]
				c.From = strings.ReplaceAll(c.From, d.ID, ids[d.ID])
				c.To = strings.ReplaceAll(c.To, d.ID, ids[d.ID])
			}
			itsm.Seal(&chain[i], prev)
			prev = chain[i].Hash
		}
		heads[inc.Head] = prev
		out.events = append(out.events, chain...)
	}
	for _, d := range docs {
		data := string(d.Data)
		for old, c := range ids {
			data = strings.ReplaceAll(data, old, c)
		}
		for old, h := range heads {
			data = strings.ReplaceAll(data, old, h)
		}
		out.docs = append(out.docs, fmt.Sprintf("v%d %s", d.Version, data))
	}
	return out
}

// numberOf returns the human number among d's indexed fields.
func numberOf(t *testing.T, d storage.Document) string {
	for _, v := range d.Fields {
		if s := v.Str(); strings.HasPrefix(s, operation.PrefixIncident) {
			return s
		}
	}
	t.Fatalf("document %s has no number", d.ID)
	return ""
}

// The fold Import runs each incident's history in writes the very
// documents and events, hashes included, that running the history command
// by command (reading, decoding, encoding and diffing the record on every
// event) writes, and refuses the same rows for the same reasons: over
// random histories, a second import of more rows (ImportUpdate), and a
// dry run.
func TestImportFoldMatchesPerEvent(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 21))
			custom := seed%2 == 1
			incs := make([]operation.ImportIncident, 40)
			for i := range incs {
				incs[i] = randomHistory(r, fmt.Sprintf("R-%d", i), t0.Add(time.Duration(i)*time.Hour), custom)
			}
			// The second import adds rows after the first's (and some
			// before them, refused) to every incident.
			more := make([]operation.ImportIncident, len(incs))
			for i, in := range incs {
				more[i] = in
				more[i].History = slices.Clone(in.History)
				extra := randomHistory(r, in.Ref, t0.Add(60*24*time.Hour), custom)
				more[i].History = append(more[i].History, extra.History...)
			}
			run := func(opts func(operation.ImportOptions) operation.ImportOptions) importRun {
				f := newFixtureOn(t, memory.New())
				if custom {
					f = customFixture(t)
				}
				f.clock.Set(t0.Add(365 * 24 * time.Hour))
				ctx := as(migrate)
				var reps []operation.ImportReport
				for _, o := range []operation.ImportOptions{
					{States: jiraStates, Source: "jsm", BatchSize: 7, DryRun: true},
					{States: jiraStates, Source: "jsm", BatchSize: 7},
				} {
					rep, err := f.desk.Import(ctx, incs, opts(o))
					require.NoError(t, err)
					reps = append(reps, rep)
				}
				rep, err := f.desk.Import(ctx, more, opts(operation.ImportOptions{States: jiraStates, Source: "jsm", Mode: operation.ImportUpdate}))
				require.NoError(t, err)
				reps = append(reps, rep)
				return canonical(t, f, reps)
			}
			folded := run(func(o operation.ImportOptions) operation.ImportOptions { return o })
			perEvent := run(operation.ImportPerEvent)
			require.NotEmpty(t, folded.events)
			reopens := 0
			for _, e := range folded.events {
				if e.Name == operation.EventReopen {
					reopens++
				}
			}
			t.Logf("events %d reopens %d reports %q", len(folded.events), reopens, folded.reports)
			assert.Equal(t, perEvent.reports, folded.reports)
			assert.Equal(t, perEvent.docs, folded.docs)
			assert.Equal(t, perEvent.events, folded.events)
		})
	}
}
