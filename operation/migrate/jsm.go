package migrate

import (
	"io"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/operation"
)

// SourceJSM is the source name Jira Service Management imports are keyed
// by.
const SourceJSM = "jsm"

// JSM reads Jira Service Management's issue CSV export ("Export Excel CSV
// (all fields)"): one row per issue. Columns, by their Jira names:
//
//   - Issue key (required): the key;
//   - Summary, Reporter (the caller and the opener), Created (required),
//     Updated, Resolved, Status (mapped through States), Priority (mapped
//     through Priorities to impact and urgency), Assignee, Resolution
//     (mapped through Resolutions);
//   - Comment, repeated: "date;author;body", each a comment at its own
//     time by its own author;
//   - "Custom field (Name)": imported into Incident.Custom under the name
//     CustomFields gives it (columns it does not name are left out).
//
// The export holds an issue's current state, not its workflow history: an
// issue becomes the incident opened at Created by the Reporter, assigned
// at Created when it has an Assignee, with its comments at their times,
// and moved to its Status at Resolved (or Updated when not resolved; a
// Closed issue is resolved at Resolved and closed at Updated). The
// resolution's notes say which Jira resolution it was.
type JSM struct {
	// States maps Status names; nil: JSMStates().
	States operation.StateMap
	// Priorities maps Priority names to impact and urgency; nil:
	// JSMPriorities().
	Priorities map[string][2]int
	// Resolutions maps Resolution names to resolution codes; nil:
	// JSMResolutions(). A name it lacks becomes a lower-case identifier.
	Resolutions map[string]string
	// Group is the assignment group of an assigned issue (the CSV has no
	// group column); default "service_desk".
	Group string
	// CustomFields maps a custom field's column name (X in "Custom field
	// (X)") to the desk's custom field name; nil: no custom field is read.
	CustomFields map[string]string
	// TimeLayouts and Location read the times (DefaultTimeLayouts, UTC).
	TimeLayouts []string
	Location    *time.Location
}

// JSMStates returns the default map of Jira Service Management statuses:
// Open, To Do, Waiting for support -> new; In Progress, Work in progress,
// Escalated -> in_progress; Waiting for customer, Pending -> on_hold
// (awaiting_caller); Waiting for vendor -> on_hold (awaiting_vendor);
// Resolved, Done -> resolved; Closed -> closed; Canceled, Cancelled,
// Declined -> canceled.
func JSMStates() operation.StateMap {
	return operation.StateMap{
		"Open": operation.StateNew, "To Do": operation.StateNew, "Waiting for support": operation.StateNew,
		"In Progress": operation.StateInProgress, "Work in progress": operation.StateInProgress, "Escalated": operation.StateInProgress,
		"Waiting for customer": operation.StateOnHold + ":" + operation.HoldAwaitingCaller,
		"Pending":              operation.StateOnHold + ":" + operation.HoldAwaitingCaller,
		"Waiting for vendor":   operation.StateOnHold + ":" + operation.HoldAwaitingVendor,
		"Resolved":             operation.StateResolved, "Done": operation.StateResolved, "Closed": operation.StateClosed,
		"Canceled": operation.StateCanceled, "Cancelled": operation.StateCanceled, "Declined": operation.StateCanceled,
	}
}

// JSMPriorities returns the default map of Jira priorities to impact and
// urgency on the default matrix: Highest (1,1) priority 1, High (1,2) 2,
// Medium (2,2) 3, Low (2,3) 4, Lowest (3,3) 5.
func JSMPriorities() map[string][2]int {
	return map[string][2]int{"Highest": {1, 1}, "High": {1, 2}, "Medium": {2, 2}, "Low": {2, 3}, "Lowest": {3, 3}}
}

// JSMResolutions returns the default map of Jira resolutions: Done, Fixed
// -> solved_permanently; Workaround -> solved_workaround; Cannot
// Reproduce -> not_solved_not_reproducible; Won't Do, Won't Fix, Declined
// -> not_solved_too_costly; Duplicate -> solved_permanently.
func JSMResolutions() map[string]string {
	return map[string]string{"Done": operation.ResolvedPermanently, "Fixed": operation.ResolvedPermanently,
		"Workaround": operation.ResolvedWorkaround, "Cannot Reproduce": operation.NotSolvedNotReproducible,
		"Won't Do": operation.NotSolvedTooCostly, "Won't Fix": operation.NotSolvedTooCostly, "Declined": operation.NotSolvedTooCostly,
		"Duplicate": operation.ResolvedPermanently}
}

// Options returns the import options for this reader's incidents: its
// state map and the source name "jsm".
func (j JSM) Options() operation.ImportOptions {
	return operation.ImportOptions{States: j.states(), Source: SourceJSM}
}

func (j JSM) states() operation.StateMap {
	if j.States == nil {
		return JSMStates()
	}
	return j.States
}

// Read reads the export. The error, when issues were left out, is an
// operation.ImportErrors naming each bad value (Row is the CSV line);
// another error means the input is not such an export.
func (j JSM) Read(r io.Reader) ([]operation.ImportIncident, error) {
	if j.TimeLayouts == nil {
		j.TimeLayouts = DefaultTimeLayouts() // once per Read, not per field
	}
	t, err := readTable(r)
	if err != nil {
		return nil, err
	}
	for _, c := range []string{"issue key", "created", "status"} {
		if !t.has(c) {
			return nil, errMissingColumn("jsm", c)
		}
	}
	states, prios, resolutions := j.states(), j.Priorities, j.Resolutions
	if prios == nil {
		prios = JSMPriorities()
	}
	if resolutions == nil {
		resolutions = JSMResolutions()
	}
	group := j.Group
	if group == "" {
		group = "service_desk"
	}
	custom := map[int]string{}
	for i, h := range t.names {
		h = strings.TrimSpace(h)
		if name, ok := strings.CutPrefix(h, "Custom field ("); ok && strings.HasSuffix(name, ")") {
			if to, ok := j.CustomFields[strings.TrimSuffix(name, ")")]; ok {
				custom[i] = to
			}
		}
	}
	var out []operation.ImportIncident
	var errs operation.ImportErrors
	for n, row := range t.rows {
		line := t.lines[n]
		key := t.get(row, "issue key")
		bad := false
		fail := func(rule, format string, args ...any) {
			errs = append(errs, rowError(key, line, rule, format, args...))
			bad = true
		}
		if key == "" {
			fail("source_key", "line %d: no Issue key", line)
			continue
		}
		when := func(col string, required bool) time.Time {
			v := t.get(row, col)
			if v == "" {
				if required {
					fail("time", "%s is required", col)
				}
				return time.Time{}
			}
			at, ok := parseTime(v, j.TimeLayouts, j.Location)
			if !ok {
				fail("time", "%s %q is not a time in a known layout", col, v)
			}
			return at
		}
		created, updated, resolved := when("created", true), when("updated", false), when("resolved", false)
		status := t.get(row, "status")
		target, known := states[status]
		if !known {
			fail("state_map", "Jira status %q is not in the state map", status)
		}
		reporter := t.get(row, "reporter")
		inc := operation.ImportIncident{Ref: key, OpenedAt: created, OpenedBy: reporter,
			Incident: operation.Incident{ShortDescription: t.get(row, "summary"), CallerID: reporter, Impact: 3, Urgency: 3}}
		if p := t.get(row, "priority"); p != "" {
			iu, ok := prios[p]
			if !ok {
				fail("priority", "Jira priority %q is not in the priority map", p)
			}
			inc.Incident.Impact, inc.Incident.Urgency = iu[0], iu[1]
		}
		for col, name := range custom {
			if col < len(row) {
				if v := clean(row[col]); v != "" {
					inc.Incident.Custom.SetString(name, v)
				}
			}
		}
		if a := t.get(row, "assignee"); a != "" {
			inc.History = append(inc.History, operation.ImportRow{At: created, Actor: reporter, AssignmentGroup: group, AssignedTo: a})
		}
		for _, col := range t.cols["comment"] {
			if col >= len(row) || clean(row[col]) == "" {
				continue
			}
			parts := strings.SplitN(row[col], ";", 3)
			if len(parts) != 3 {
				fail("comment", "comment %q is not \"date;author;body\"", short(row[col]))
				continue
			}
			at, ok := parseTime(strings.TrimSpace(parts[0]), j.TimeLayouts, j.Location)
			if !ok {
				fail("time", "comment date %q is not a time in a known layout", parts[0])
				continue
			}
			inc.History = append(inc.History, operation.ImportRow{At: at, Actor: strings.TrimSpace(parts[1]), Comment: parts[2]})
		}
		state, _, _ := strings.Cut(target, ":")
		res := t.get(row, "resolution")
		code := resolutions[res]
		if code == "" && res != "" {
			code = identifier(res)
		}
		notes := ""
		if res != "" {
			notes = "Resolved in Jira Service Management as " + res
		}
		end := updated
		if end.IsZero() {
			end = created
		}
		switch state {
		case operation.StateResolved, operation.StateClosed:
			at := resolved
			if at.IsZero() {
				at = end
			}
			resolvedName := status
			if state == operation.StateClosed {
				resolvedName = firstState(states, operation.StateResolved)
			}
			inc.History = append(inc.History, operation.ImportRow{At: at, State: resolvedName, ResolutionCode: code, ResolutionNotes: notes})
			if state == operation.StateClosed {
				inc.History = append(inc.History, operation.ImportRow{At: maxTime(at, end), State: status})
			}
		case operation.StateCanceled:
			inc.History = append(inc.History, operation.ImportRow{At: maxTime(resolved, end), State: status, Reason: cmpOr(notes, "canceled in Jira Service Management")})
		case "":
		default:
			if known {
				inc.History = append(inc.History, operation.ImportRow{At: end, State: status})
			}
		}
		if !bad {
			out = append(out, inc)
		}
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

// firstState returns the foreign name the map sends to state, the
// smallest when there are several.
func firstState(states operation.StateMap, state string) string {
	best := ""
	for k, v := range states {
		if s, _, _ := strings.Cut(v, ":"); s == state && (best == "" || k < best) {
			best = k
		}
	}
	return best
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
