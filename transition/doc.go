// Package transition is the Service Transition pillar: the CMDB, change
// enablement, release and deployment, and knowledge. Every record goes
// through storage.Records, so every accepted write is one hash-chained
// domain event, and everything works unchanged on every store.
//
// # CMDB
//
//   - CI classes with typed attributes a host extends: Classes,
//     DefaultClasses, Class, Attribute (string, int, float, bool, time).
//   - Configuration items (kind "ci") with the lifecycle ordered →
//     installed ⇄ in_maintenance → retired: CI, CILifecycle, CMDB.CreateCI,
//     CMDB.CreateInstalledCI, CMDB.UpdateCI, CMDB.FireCI.
//   - Typed directed relationships (kind "ci_relationship", ServiceNow's
//     cmdb_rel_ci): depends_on/used_by, runs_on/hosts, connected_to/
//     connected_by, member_of/has_member, and the host's own
//     (RelationshipTypes); cardinality, class and cycle checks in
//     CMDB.Relate, safe against concurrent writers through version-checked
//     guard documents (kind "ci_rel_guard"); CMDB.Unrelate, after which no
//     traversal follows the relationship while its history keeps it.
//   - Impact analysis upstream (what depends on these CIs, up to the
//     business services) or downstream, with depth limit and
//     relationship-type filter, returning every CI reached with the path to
//     each business service: CMDB.Impact on the store (storage.Traverse: the
//     backend's native traversal or the generic one), Graph.Impact on an
//     in-memory index projected from the event log (LoadGraph,
//     Graph.Refresh), which gives the same answer in microseconds.
//   - Baselines (kind "cmdb_baseline", BL numbers) that pin CIs and
//     relationships at their versions, and diffs against another baseline
//     or now: CMDB.CreateBaseline, CMDB.DiffBaselines, CMDB.DiffBaselineNow.
//     Baselines over BaselinePartItems items are stored in hash-pinned parts
//     (kind "cmdb_baseline_part"), up to MaxBaselineItems.
//   - History: CMDB.CIAsOf rebuilds a CI as it stood at any time from its
//     verified event chain.
//
// # Change enablement
//
// Changes (kind "change", CHG numbers) are standard (from an approved
// ChangeTemplate, pre-approved), normal or emergency. The default
// lifecycle (ChangeLifecycle, extendable) is new → assess → authorize →
// scheduled → implement → review → closed, plus canceled; standard changes
// go new → scheduled, emergency changes new → authorize and may be
// implemented before approval with a recorded retrospective reason.
//
//   - Risk: a host-configured questionnaire (RiskModel) plus the business
//     services the CMDB finds impacted, scored into low, moderate, high or
//     very_high: Changes.AssessRisk.
//   - Approvals: approver groups per type and risk (ApprovalPolicy) with a
//     quorum of any, all or N of M (itsm.Directory), every decision recorded
//     with its comment; a rejection ends the change; the requester and the
//     implementer never approve their own change (SeparationOfDuties):
//     Changes.Approve, Changes.Reject.
//   - Calendar: maintenance and freeze windows per service or global
//     (ChangeWindow); scheduling into a freeze is refused unless emergency;
//     Changes.Collisions lists other open changes overlapping in time on the
//     same CIs or CIs connected within a depth, through the affected-CI rows
//     (kind "change_ci", ServiceNow's task_ci). Changes.CalendarView gives
//     a period's changes with their collisions and windows in one call.
//   - Review: outcome successful, failed or backed_out (Changes.Close) and
//     the incidents the change caused (Changes.LinkIncident).
//
// # Release and deployment
//
// Releases (kind "release", RLSE numbers) group changes through planning →
// build → test → deploy → review → closed; a release cannot enter deploy,
// nor start a deployment, while one of its changes is not authorised.
// Deployments (kind "deployment", DEP numbers) go per environment through
// planned → in_progress → deployed or failed → rolled_back: Releases.
//
// # Knowledge
//
// Articles (kind "knowledge", KB numbers) go draft → review → published →
// retired, with versions, owners, review dates and links to incidents,
// problems, known errors and CIs (Knowledge). SearchIndex is a ranked
// full-text search with prefix matching over the published articles,
// projected from the event log so it works on every store.
package transition
