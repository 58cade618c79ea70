// Package operation is the Service Operation pillar: what a service desk
// runs every day, on any Pillars store.
//
// Build a Desk with New over a storage.Backend and a Config; every record
// kind goes through storage.Records, so each accepted transition or change
// writes one hash-chained domain event with the record.
//
// # Incidents (INC)
//
// Incident carries the fields a ServiceNow or Jira Service Management user
// expects (caller, service, CI, category, impact, urgency, priority,
// assignment group and assignee, reassignment and reopen counts, work notes
// and comments, resolution code and notes, first response / resolved /
// closed times). Priority comes from impact × urgency through a
// PriorityMatrix (DefaultPriorityMatrix: 3×3 → 1 critical .. 5 planning);
// OverridePriority records a reason. IncidentLifecycle returns the default
// lifecycle (new, in_progress, on_hold with a hold reason, resolved, closed,
// canceled) for hosts to extend before compiling. The commands:
// OpenIncident, AssignIncident (counts reassignments, checks the assignee
// through the host's Directory), UpdateIncident, StartIncident,
// HoldIncident, ResumeIncident, ResolveIncident (resolves open children in
// the same unit of work), ReopenIncident (within the reopen window),
// CloseIncident (the caller's confirmation), CloseResolved (auto-close,
// called by the host's scheduler with now), CancelIncident, AddWorkNote,
// AddComment, LinkChild, and the major-incident approval ProposeMajor,
// AcceptMajor, RejectMajor. Queues, paginated: MyOpenIncidents,
// UnassignedInMyGroups and the caller's MyRequestedIncidents (open first)
// are walks of a declared composite index per group and state, merged, so a
// SQL store reads a page and no more; BreachingSoon (every incident) and
// BreachingSoonInMyGroups (the agent's groups, through the Directory) read
// the SLA pillar's SLAWatcher.
//
// # Problems (PRB) and known errors (KE)
//
// ProblemLifecycle: new → assess → root_cause_analysis → fix_in_progress →
// resolved → closed. OpenProblem, UpdateProblem, MoveProblem,
// LinkIncidentToProblem, PublishKnownError (the problem's workaround as a
// published KnownError; incidents opened with its id get the workaround),
// ResolveProblem (resolves or notifies the linked open incidents in the same
// unit of work).
//
// # Service requests (REQ) and fulfilment tasks (SCTASK)
//
// SubmitRequest orders a catalogue item through the host's Catalog (plain
// getters the design pillar's *design.Catalogue satisfies as it is): the
// requester's answers travel as Request.Variables and are validated by the
// catalogue (its *itsm.ValidationError, per field, and nothing written when
// refused); the item's tasks are copied into Request.Plan. The request waits
// for approval when the item needs it (ApproveRequest, RejectRequest; the
// requester cannot approve their own request), then runs its RequestTask
// records stage by stage in the item's order (tasks of one order in
// parallel, the next order once they are closed), and closes
// (closed_complete or closed_incomplete) when its last stage closes
// (CompleteTask, CloseTaskIncomplete). CancelRequest skips the open tasks.
//
// # Events and alerts (ALR)
//
// Ingest takes a MonitorEvent: repeats with one dedup key fold into one
// Alert (count, first and last seen), the AlertRule raises an incident at or
// above a severity (or joins the incident of an alert sharing an upstream
// CI, through the CMDB interface), a clearing event closes the alert and,
// when the rule says so, resolves the incident. A repeated event id with a
// changed payload is refused.
//
// # Escalation
//
// EscalationRule escalates open incidents by priority and age (notify,
// reassign, raise priority): wall-clock age, working time on a Calendar
// (design/calendar's *Calendar), or the share of their SLA targets used
// (SLAPercent, read through SLAProgress); Escalate applies them, recording
// each as an event, and notifies through the host's Notifier.
//
// # Notifications
//
// Notifications returns the handler that turns the desk's event log into
// Notifier calls (assignment, state changes, comments to the caller,
// approvals requested); the host runs it as a named consumer of the log
// (storage/stream), so a notification survives a crash and never holds a
// command up.
//
// # Import
//
// ImportIncidents loads incidents from another tool with their history as
// backdated lifecycle events, mapping foreign states through a StateMap;
// each incident is all or nothing and refusals name record, row and reason.
// Good incidents are written ImportBatchSize to a unit of work.
package operation
