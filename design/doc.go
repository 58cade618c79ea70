// Package design is the Service Design pillar: the service catalogue with
// offerings and request items, SLA/OLA/UC definitions with targets by
// priority, business calendars, the SLA clock per record, availability and
// capacity targets, and suppliers with their contracts.
//
// The package is being built; see the project's issues for its scope.
package design
