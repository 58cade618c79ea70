// Package strategy is the Service Strategy pillar: the service portfolio
// (pipeline, catalogue, retired) with business cases, business objectives and
// the services that support them, demand records, and the financial model
// (cost per service, budgets, charge-back).
//
// The package is being built; see the project's issues for its scope.
package strategy
