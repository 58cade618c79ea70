// Package transition is the Service Transition pillar: change enablement
// (standard, normal and emergency changes with risk, approvals and the change
// calendar), the CMDB (configuration items, typed relationships, impact
// analysis, baselines), release and deployment, and knowledge articles.
//
// The package is being built; see the project's issues for its scope.
package transition
