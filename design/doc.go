// Package design is the Service Design pillar of Pillars.
//
// Service levels:
//
//   - Definition describes an SLA, an OLA or an underpinning contract
//     (AgreementType): the records it applies to (kind, priorities, services,
//     assignment groups), the business-time target per priority for a
//     Metric (Response or Resolution), the business calendar it runs on
//     (package design/calendar), the states that pause a resolution clock
//     (DefaultPause: on hold awaiting the caller or a vendor), the states
//     that stop or cancel it, whether a reopen resumes or resets it, and its
//     warning thresholds (DefaultWarnings: 50, 75 and 90 %). A response
//     clock never pauses: it stops at the first response, by default the
//     first of work starting, a comment to the caller and assignment to a
//     person (DefaultRespondOn).
//   - Engine runs one SLAClock (record kind "task_sla", ServiceNow's name) per
//     record and definition. Engine.Sync consumes the domain event log from a
//     checkpoint kept in the store and replays each touched record's
//     history, reading the agreed incident fields (priority, service_id,
//     assignment_group, hold_reason; caller_id, assigned_to and comments for
//     the first response) and states from the events, so clocks
//     are exact for live and for backdated imported transitions.
//     Engine.Check raises warnings and breaches that come due with time,
//     claiming each due clock with a lease so that several application
//     instances share the checking and warn once (EngineConfig.Instance,
//     LeaseTTL); Engine.Due finds the clocks to check by an indexed
//     next-check time and returns their indexed fields (DueClock),
//     Engine.BreachingSoon lists the records about to breach for the
//     operation pillar's queues, Engine.SLAPercentages gives the share of
//     their targets many records' clocks have used (one indexed query per
//     250 records; the operation pillar's SLAProgress), and
//     Engine.ClocksOf lists a record's clocks.
//
// Service catalogue:
//
//   - Service (business or technical; owner, support group, criticality;
//     lifecycle pipeline → catalogue → retired, as the strategy pillar's
//     portfolio names it), Offering (a package of a service for a set of
//     consumers) and CatalogItem (what can be ordered: form fields with
//     validation, approval and approver group, fulfilment task templates),
//     managed through Catalogue. The operation pillar reads catalogue items
//     through plain getters on Catalogue.
//
// Availability, capacity and suppliers:
//
//   - Availability records outages (planned or unplanned, directly or from a
//     major incident through SyncMajorIncidents) and Measure reports a
//     service's availability over a period in calendar time and in agreed
//     service time, with MTRS and MTBF.
//   - Capacity checks samples the host pushes against thresholds on named
//     metrics per service or CI; a crossing moves a Watch (warn, escalate,
//     clear), a domain event the operation pillar turns into an alert.
//   - Suppliers keeps suppliers and their contracts (term, renewal notice,
//     underpinning contracts, services); DueForRenewal lists the contracts
//     whose renewal decision is due.
//
// Every record kind goes through storage.Records, so each change writes one
// hash-chained domain event, and works unchanged on every store.
package design
