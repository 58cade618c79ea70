package migrate

import (
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"

	"github.com/pillars-itsm/pillars/operation"
)

// SourceServiceNow is the source name ServiceNow imports are keyed by.
const SourceServiceNow = "servicenow"

// ServiceNow reads a CSV export of ServiceNow's incident table with its
// history: one row per update of an incident, each carrying the record's
// fields as they were after the update (the shape of an incident audit or
// event-log export). Columns, by their ServiceNow names (any order, extra
// columns ignored; "?" and "NULL" are no value):
//
//   - number (required): the incident's key and its kept number when
//     KeepNumbers is set;
//   - sys_updated_on (required; sys_updated_at in older exports): when the
//     update happened; sys_updated_by who made it;
//   - state or incident_state: a code (1 New, 2 In Progress, 3 On Hold,
//     4 Awaiting User Info, 5 Awaiting Evidence, 6 Resolved, 7 Closed,
//     8 Canceled) or a display value, mapped through States;
//   - opened_at, opened_by, caller_id, short_description, description:
//     the record as opened (from its earliest row; opened_at defaults to
//     the earliest update, short_description to "ServiceNow <number>");
//   - priority, impact, urgency ("2 - Medium" or "2"), category,
//     subcategory, assignment_group, assigned_to, hold_reason
//     (on_hold_reason);
//   - close_code (closed_code in older exports; mapped through CloseCodes)
//     and close_notes at the resolution;
//   - comments and work_notes: the journal entry added by the update
//     (a row repeating the previous row's text adds nothing).
//
// resolved_at, closed_at, reassignment_count and reopen_count are read by
// the import from the history itself, not from the columns: Pillars counts
// and stamps what the rows record.
type ServiceNow struct {
	// States maps state display names; nil: ServiceNowStates().
	States operation.StateMap
	// CloseCodes maps close_code values to resolution codes; nil:
	// ServiceNowCloseCodes(). A value it lacks becomes a lower-case
	// identifier ("code 5" -> "code_5"), which the desk's lifecycle
	// refuses unless the host declares it (ExtraResolutionCodes).
	CloseCodes map[string]string
	// MissingNotes, when set, stands for empty close_notes at a
	// resolution (public logs often export none); empty: such a
	// resolution is refused by the resolution_code_and_notes rule.
	MissingNotes string
	// KeepNumbers keeps ServiceNow's numbers (INC0010001) as the
	// incidents' numbers; they must not collide with the desk's own.
	KeepNumbers bool
	// TimeLayouts and Location read the times (DefaultTimeLayouts, UTC).
	TimeLayouts []string
	Location    *time.Location
}

// ServiceNowStates returns the default map of ServiceNow incident states:
// New -> new; In Progress and Active -> in_progress; On Hold and Awaiting
// User Info / Evidence -> on_hold (awaiting_caller), Awaiting Problem ->
// on_hold (awaiting_problem), Awaiting Vendor -> on_hold
// (awaiting_vendor), Awaiting Change -> on_hold (awaiting_change);
// Resolved -> resolved; Closed -> closed; Canceled and Cancelled ->
// canceled. State codes are read as their display names first.
//
// A state the map lacks is a per-row error naming it; a placeholder some
// logs write (such as "-100") is mapped to "" to keep the state:
//
//	states := migrate.ServiceNowStates()
//	states["-100"] = ""
//	incs, err := migrate.ServiceNow{States: states}.Read(file)
func ServiceNowStates() operation.StateMap {
	return operation.StateMap{
		"New": operation.StateNew, "In Progress": operation.StateInProgress, "Active": operation.StateInProgress,
		"On Hold":            operation.StateOnHold + ":" + operation.HoldAwaitingCaller,
		"Awaiting User Info": operation.StateOnHold + ":" + operation.HoldAwaitingCaller,
		"Awaiting Evidence":  operation.StateOnHold + ":" + operation.HoldAwaitingCaller,
		"Awaiting Problem":   operation.StateOnHold + ":" + operation.HoldAwaitingProblem,
		"Awaiting Vendor":    operation.StateOnHold + ":" + operation.HoldAwaitingVendor,
		"Awaiting Change":    operation.StateOnHold + ":" + operation.HoldAwaitingChange,
		"Resolved":           operation.StateResolved, "Closed": operation.StateClosed,
		"Canceled": operation.StateCanceled, "Cancelled": operation.StateCanceled,
	}
}

// serviceNowCodes are the incident state codes of ServiceNow.
var serviceNowCodes = map[string]string{"1": "New", "2": "In Progress", "3": "On Hold", "4": "Awaiting User Info",
	"5": "Awaiting Evidence", "6": "Resolved", "7": "Closed", "8": "Canceled"}

// serviceNowHolds are the codes and names of on_hold_reason.
var serviceNowHolds = map[string]string{"1": operation.HoldAwaitingCaller, "3": operation.HoldAwaitingProblem,
	"4": operation.HoldAwaitingVendor, "5": operation.HoldAwaitingChange, "awaiting caller": operation.HoldAwaitingCaller,
	"awaiting problem": operation.HoldAwaitingProblem, "awaiting vendor": operation.HoldAwaitingVendor,
	"awaiting change": operation.HoldAwaitingChange}

// ServiceNowCloseCodes returns the default map of ServiceNow close codes
// to resolution codes.
func ServiceNowCloseCodes() map[string]string {
	return map[string]string{
		"Solved (Permanently)":          operation.ResolvedPermanently,
		"Solved (Work Around)":          operation.ResolvedWorkaround,
		"Solved Remotely (Permanently)": operation.ResolvedRemotely,
		"Solved Remotely (Work Around)": operation.ResolvedRemotely,
		"Not Solved (Not Reproducible)": operation.NotSolvedNotReproducible,
		"Not Solved (Too Costly)":       operation.NotSolvedTooCostly,
		"Closed/Resolved by Caller":     operation.ClosedByCaller,
		"Resolved by caller":            operation.ClosedByCaller,
	}
}

// Options returns the import options for this reader's incidents: its
// state map and the source name "servicenow".
func (s ServiceNow) Options() operation.ImportOptions {
	return operation.ImportOptions{States: s.states(), Source: SourceServiceNow}
}

func (s ServiceNow) states() operation.StateMap {
	if s.States == nil {
		return ServiceNowStates()
	}
	return s.States
}

// Read reads the export. The incidents come in the order their numbers
// first appear; rows of one incident may be in any order. The error, when
// rows were left out, is an operation.ImportErrors naming each (Row is the
// CSV line); another error means the input is not such an export.
func (s ServiceNow) Read(r io.Reader) ([]operation.ImportIncident, error) {
	if s.TimeLayouts == nil {
		s.TimeLayouts = DefaultTimeLayouts() // once per Read, not per field
	}
	t, err := readTable(r)
	if err != nil {
		return nil, err
	}
	// Public event logs name some columns as older releases did.
	t.alias("sys_updated_on", "sys_updated_at")
	t.alias("close_code", "closed_code")
	t.alias("opened_by", "sys_created_by")
	for _, c := range []string{"number", "sys_updated_on"} {
		if !t.has(c) {
			return nil, errMissingColumn("servicenow", c)
		}
	}
	stateCol := "state"
	if !t.has(stateCol) {
		stateCol = "incident_state"
	}
	states := s.states()
	codes := s.CloseCodes
	if codes == nil {
		codes = ServiceNowCloseCodes()
	}
	type acc struct {
		inc     operation.ImportIncident
		lines   []int
		bad     bool
		opened  string
		comment string
		note    string
	}
	var order []string
	byRef := map[string]*acc{}
	var errs operation.ImportErrors
	for n, row := range t.rows {
		line := t.lines[n]
		ref := t.get(row, "number")
		if ref == "" {
			errs = append(errs, rowError("", line, "source_key", "line %d: no number", line))
			continue
		}
		a := byRef[ref]
		if a == nil {
			a = &acc{inc: operation.ImportIncident{Ref: ref}}
			byRef[ref] = a
			order = append(order, ref)
		}
		fail := func(rule, format string, args ...any) {
			errs = append(errs, rowError(ref, line, rule, format, args...))
			a.bad = true
		}
		at, ok := parseTime(t.get(row, "sys_updated_on"), s.TimeLayouts, s.Location)
		if !ok {
			fail("time", "sys_updated_on %q is not a time in a known layout", t.get(row, "sys_updated_on"))
			continue
		}
		state := t.get(row, stateCol)
		if name, ok := serviceNowCodes[state]; ok {
			state = name
		}
		if _, ok := states[state]; state != "" && !ok {
			fail("state_map", "ServiceNow state %q is not in the state map", state)
			continue
		}
		if v := t.get(row, "opened_at"); v != "" && a.opened == "" {
			a.opened = v
		}
		if a.inc.Incident.ShortDescription == "" {
			a.inc.Incident.ShortDescription = t.get(row, "short_description")
			a.inc.Incident.Description = t.get(row, "description")
			a.inc.Incident.CallerID = t.get(row, "caller_id")
			a.inc.OpenedBy = t.get(row, "opened_by")
		}
		ir := operation.ImportRow{At: at, Actor: t.get(row, "sys_updated_by"), State: state,
			AssignmentGroup: t.get(row, "assignment_group"), AssignedTo: t.get(row, "assigned_to"),
			Impact: leadingInt(t.get(row, "impact")), Urgency: leadingInt(t.get(row, "urgency")), Priority: leadingInt(t.get(row, "priority")),
			Category: t.get(row, "category"), Subcategory: t.get(row, "subcategory")}
		if ir.AssignmentGroup == "" {
			ir.AssignedTo = "" // an assignee without a group is not an assignment Pillars keeps
		}
		hold := t.get(row, "hold_reason")
		if hold == "" {
			hold = t.get(row, "on_hold_reason")
		}
		if h, ok := serviceNowHolds[hold]; ok {
			ir.HoldReason = h
		} else if h, ok := serviceNowHolds[strings.ToLower(hold)]; ok {
			ir.HoldReason = h
		} else if hold != "" {
			ir.HoldReason = identifier(hold)
		}
		if code := t.get(row, "close_code"); code != "" {
			if c, ok := codes[code]; ok {
				ir.ResolutionCode = c
			} else {
				ir.ResolutionCode = identifier(code)
			}
		}
		ir.ResolutionNotes = t.get(row, "close_notes")
		if ir.ResolutionNotes == "" {
			ir.ResolutionNotes = s.MissingNotes
		}
		if target, _, _ := strings.Cut(states[state], ":"); target == operation.StateCanceled {
			// Canceling needs a reason: the notes, else the comment.
			ir.Reason = cmpOr(t.get(row, "close_notes"), cmpOr(t.get(row, "comments"), "canceled in ServiceNow"))
		}
		if c := t.get(row, "comments"); c != "" && c != a.comment {
			ir.Comment, a.comment = c, c
		}
		if w := t.get(row, "work_notes"); w != "" && w != a.note {
			ir.WorkNote, a.note = w, w
		}
		a.inc.History = append(a.inc.History, ir)
		a.lines = append(a.lines, line)
	}
	out := make([]operation.ImportIncident, 0, len(order))
	for _, ref := range order {
		a := byRef[ref]
		if a.bad || len(a.inc.History) == 0 {
			continue
		}
		first := slices.MinFunc(a.inc.History, func(x, y operation.ImportRow) int { return x.At.Compare(y.At) })
		a.inc.OpenedAt = first.At
		if a.opened != "" {
			opened, ok := parseTime(a.opened, s.TimeLayouts, s.Location)
			if !ok {
				errs = append(errs, rowError(ref, a.lines[0], "time", "opened_at %q is not a time in a known layout", a.opened))
				continue
			}
			a.inc.OpenedAt = opened
		}
		// The record opens with the fields of its earliest row.
		a.inc.Incident.Impact, a.inc.Incident.Urgency, a.inc.Incident.Priority = first.Impact, first.Urgency, first.Priority
		a.inc.Incident.Category, a.inc.Incident.Subcategory = first.Category, first.Subcategory
		if a.inc.Incident.Impact == 0 {
			a.inc.Incident.Impact = 3
		}
		if a.inc.Incident.Urgency == 0 {
			a.inc.Incident.Urgency = 3
		}
		if a.inc.Incident.ShortDescription == "" {
			a.inc.Incident.ShortDescription = "ServiceNow " + ref // event logs often export none
		}
		if s.KeepNumbers {
			a.inc.Incident.Number = ref
		}
		out = append(out, a.inc)
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

func errMissingColumn(tool, col string) error {
	return itsm.Invalidf("migrate %s: the export has no %q column", tool, col)
}
