package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Example runs the whole five-pillar story on the in-memory store, as
// `go run ./examples/quickstart` does, with the chart written to a temporary
// directory (shown as $TMP).
func Example() {
	dir, err := os.MkdirTemp("", "quickstart")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	var out bytes.Buffer
	if err := run(context.Background(), &out, options{ChartPath: filepath.Join(dir, "sla.svg")}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(out.String(), dir, "$TMP"))
	// Output:
	// == Strategy and design: portfolio, catalogue, SLA ==
	// portfolio SVC0000001 Payroll: catalogue (benefit 250000.00 EUR/yr, cost 90000.00 EUR/yr); design catalogue: catalogue business service, support payroll_support
	// cost model "Payroll support": 1500.00 EUR fixed + 45.00 EUR per incident; budget Nov 2026: 1700.00 EUR; objective "Pay every employee on time" with 2 KPI measures
	// SLA incident-response   on office hours: P1 15m0s, P2 30m0s, P3 1h0m0s
	// SLA incident-resolution on office hours: P1 1h0m0s, P2 4h0m0s, P3 8h0m0s
	// == Transition: CMDB and a normal change ==
	// CMDB: 4 CIs, 3 relationships; dbhost01 failing affects 3 CIs, service Payroll via dbhost01 > payroll-db > payroll-app > Payroll
	// CHG0000001 authorize refused in assess by guard risk_assessed: a normal change needs a risk assessment before authorisation (ErrInvalidTransition true)
	// CHG0000001 risk moderate (score 5, 1 service impacted); requester's approval forbidden; CAB approved -> scheduled
	// CHG0000001 implemented 10:00-10:40, review successful, closed
	// == Operation: a day at the service desk ==
	// incident lifecycle, from new:
	//   new         accepts start, hold, resolve, cancel, propose_major, accept_major, reject_major
	//   in_progress accepts hold, resolve, cancel, propose_major, accept_major, reject_major
	//   on_hold     accepts hold, resume, resolve, cancel, propose_major, accept_major, reject_major
	//   resolved    accepts reopen, close
	//   final: closed, canceled
	// carl resolving INC0000001: forbidden: carl may not resolve incident: no role grants incident:resolve
	// INC0000001 P1 closed      payroll_support "Payroll portal down for all users"     major
	// INC0000002 P3 resolved    payroll_support "Payslip PDF is blank"                  reopened 1
	// INC0000003 P4 resolved    payroll_support "Cannot log in to payroll self-service" held awaiting_caller
	// INC0000004 P5 resolved                    "Where do I change my tax code?"
	// INC0000005 P3 in_progress payroll_support "Export to the bank times out"          problem
	// INC0000006 P4 in_progress dba             "Export to the bank times out"          reassigned 1, problem
	// PRB0000001 root_cause_analysis "full table scan on the export table"; KE0000001 published workaround "run the export after 18:00"; linked INC0000005, INC0000006
	// == Improvement: SLA results, KPIs, CSI ==
	// SLA INC0000001 P1  response   completed    0h05   33% met | resolution completed    1h17  128% BREACHED
	// SLA INC0000002 P3  response   completed    0h12   20% met | resolution completed    2h42   34% met
	// SLA INC0000003 P4  response   completed    0h17   14% met | resolution completed    0h37    4% met
	// SLA INC0000004 P5  response   completed    0h02    1% met | resolution completed    0h02    0% met
	// SLA INC0000005 P3  response   completed    0h03    5% met | resolution in_progress  0h26    5% running
	// SLA INC0000006 P4  response   completed    0h03    2% met | resolution in_progress  0h23    2% running
	// KPIs of Mon 30 Nov 2026 from 117 logged events:
	//   incident_volume           6        n=6     mtta                      0.12 h   n=6
	//   mttr                      2.24 h   n=4     mttr_business             2.24 h   n=4
	//   sla_compliance            90.0 %   n=10    reopen_rate               25.0 %   n=4
	//   first_contact_resolution  50.0 %   n=4     group_reassignment_rate   0.0 %    n=4
	//   backlog                   2        n=2     backlog_age               3.98 h   n=2
	//   change_success_rate       100.0 %  n=1     change_volume             1        n=1
	// budget Nov 2026: 1700.00 EUR; 6 incidents cost 1770.00 EUR (295.00 EUR each); variance -70.00 EUR
	// objective "Pay every employee on time", active: sla_compliance 90.0 % (target 95.0 %) MISSED; mttr 2.24 h (target 2.00 h) MISSED
	// CSI CSI0000001 "Improve Payroll incidents resolved within SLA": approved, baseline 90.0 % -> target 95.0 %, step 3 "Gather the data"
	// SLA compliance by priority: P1 50% (1/2), P3 100% (3/3), P4 100% (3/3), P5 100% (2/2)
	// chart: $TMP/sla.svg
	// == Audit ==
	// 120 events over 38 records verified, every hash chain intact:
	//   budget 1, business_objective 2, change 9, change_ci 2, ci 8, ci_relationship 3
	//   cost_model 1, improvement 2, incident 30, known_error 2, portfolio_service 2, problem 5
	//   service 2, sla_calendar 1, sla_definition 2, task_sla 48
	// after editing entry 3 of INC0000001: chain broken at entry 3 (hash does not match content (entry edited)), ErrConflict true
}
