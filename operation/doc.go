// Package operation is the Service Operation pillar: incidents, problems and
// known errors, service requests with approvals and fulfilment tasks,
// events and alerts correlated into incidents, and escalation rules.
//
// The package is being built; see the project's issues for its scope.
package operation
