// Package strategy is the Service Strategy pillar: what services exist and
// why, what the business wants from them, how much they are used and what
// they cost.
//
//   - Service portfolio: Service entries move pipeline → catalogue → retired
//     (ServiceLifecycle), each move with a reason kept in the event log;
//     entering the catalogue needs an owner and a business case
//     (ProposeService, PublishService, RetireService, Portfolio).
//   - Business objectives: Objective links the outcomes the business wants
//     to the portfolio services that support them and to measures, which may
//     be KPIs of the improvement pillar (AddObjective, LinkService,
//     RecordMeasure, and RefreshMeasures from a KPISource such as the
//     improvement pillar's Engine); an objective is achieved only when every
//     measure meets its target.
//   - Demand management: Demand records the expected volume of a service per
//     period from a pattern of business activity, an ActivityPattern giving
//     the volume expected per slot (hour of day, weekday, hour of week, day
//     of month, month); CompareDemand sets it, in total and slot by slot,
//     against the volume a VolumeCounter (such as the improvement pillar's
//     Engine) measures, asked by the catalogue id the portfolio entry
//     records; a DailyVolumeCounter (the Engine is one) measures the slots of
//     whole-day patterns from one daily series per record.
//   - Financial management: Money is integer minor units with an ISO 4217
//     currency, never a float. CostModel holds a service's fixed and variable
//     cost items in one currency (Cost gives the total and the cost per unit
//     of demand), Budget a service's money per period (periods never
//     overlap), BudgetStatus sets each budget against the model's cost of the
//     measured demand, and ChargeBack splits a period's cost among customers
//     so the parts add up exactly.
//   - Business relationship management: Customer (a business unit) lists the
//     services it consumes and the satisfaction scores its surveys return
//     (AddCustomer, Consume, RecordSatisfaction, Customer.Satisfaction).
//
// Reference records (demand, cost models, budgets, customers) are archived
// with a reason rather than deleted (Archive). Every record goes through
// storage.Records on any store, so each change
// writes one hash-chained domain event; bad input returns an error matching
// an itsm sentinel and writes nothing.
package strategy
