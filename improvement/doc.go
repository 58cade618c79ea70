// Package improvement is the Continual Service Improvement pillar: KPIs
// computed incrementally from the domain event log (MTTA, MTTR, SLA
// compliance, reopen rate, change success rate, ...), the CSI register with
// its own lifecycle, and reports as data and charts.
//
// The package is being built; see the project's issues for its scope.
package improvement
