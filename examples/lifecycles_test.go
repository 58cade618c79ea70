package examples

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/strategy"
	"github.com/pillars-itsm/pillars/transition"
)

var update = flag.Bool("update", false, "rewrite docs/lifecycles.md from the lifecycle definitions")

const lifecyclesDoc = "../docs/lifecycles.md"

type diagram struct {
	pillar, kind, mermaid string
}

// mermaid compiles a lifecycle and renders it, failing the test on a
// definition that does not compile.
func mermaid[T any](t *testing.T, pillar string, l *itsm.Lifecycle[T]) diagram {
	t.Helper()
	m, err := l.Compile()
	require.NoError(t, err, "%s %s", pillar, l.Kind())
	return diagram{pillar, l.Kind(), m.Mermaid()}
}

// TestLifecycleDiagramsAreCurrent regenerates every pillar's default
// lifecycle diagram and fails when docs/lifecycles.md is stale. Run
// `go test ./examples -run LifecycleDiagrams -update` after changing a
// lifecycle.
func TestLifecycleDiagramsAreCurrent(t *testing.T) {
	diagrams := []diagram{
		mermaid(t, "strategy", strategy.ServiceLifecycle()),
		mermaid(t, "strategy", strategy.ObjectiveLifecycle()),
		mermaid(t, "design", design.ServiceLifecycle()),
		mermaid(t, "transition", transition.ChangeLifecycle()),
		mermaid(t, "transition", transition.TemplateLifecycle()),
		mermaid(t, "transition", transition.WindowLifecycle()),
		mermaid(t, "transition", transition.CILifecycle()),
		mermaid(t, "transition", transition.RelationshipLifecycle()),
		mermaid(t, "transition", transition.BaselineLifecycle()),
		mermaid(t, "transition", transition.ReleaseLifecycle()),
		mermaid(t, "transition", transition.DeploymentLifecycle()),
		mermaid(t, "transition", transition.KnowledgeLifecycle()),
		mermaid(t, "transition", transition.CABLifecycle()),
		mermaid(t, "operation", operation.IncidentLifecycle(operation.IncidentPolicy{})),
		mermaid(t, "operation", operation.ProblemLifecycle()),
		mermaid(t, "operation", operation.KnownErrorLifecycle()),
		mermaid(t, "operation", operation.RequestLifecycle()),
		mermaid(t, "operation", operation.RequestTaskLifecycle()),
		mermaid(t, "operation", operation.AlertLifecycle()),
		mermaid(t, "improvement", improvement.ItemLifecycle()),
	}
	var b strings.Builder
	b.WriteString("# Lifecycles\n\nThe default lifecycle of every record kind, generated from its definition by\n" +
		"`go test ./examples -run LifecycleDiagrams -update`; the test fails when this file is stale.\n" +
		"Hosts extend a lifecycle by taking the builder (for example `operation.IncidentLifecycle`),\n" +
		"adding states, events and guards, and passing it in the pillar's Config before it compiles.\n\n" +
		"- `NotFinal(states...)` makes a final state ordinary again so events may leave it; Compile\n" +
		"  still refuses a state that is then neither final nor left by any event.\n" +
		"- The default guards and effects have names (shown in brackets below for guards; effects are\n" +
		"  listed in each builder's doc). `GuardFrom(event, from, name)` and `EffectFrom(event, from, name)`\n" +
		"  reuse one on another event; Compile reports a name that does not exist.\n" +
		"- A guard refusing for a field returns an `*itsm.ValidationError`; the `*itsm.TransitionError`\n" +
		"  wraps it, so the refusal matches `itsm.ErrInvalidTransition` and `itsm.ErrInvalid`.\n" +
		"  `itsm.NeedsReason` refuses on the field `reason` in every pillar.\n" +
		"- Guards measured from now (the incident reopen window) let backdated import rows through\n" +
		"  (`Transition.Import`) unless the import is strict (`Transition.Strict`): history is fact.\n\n" +
		"Closed incidents reopened within 30 days (operation's `Example_reopenClosedIncidents`):\n\n" +
		"```go\n" +
		"policy := operation.IncidentPolicy{ReopenWindow: 30 * 24 * time.Hour}\n" +
		"lifecycle := operation.IncidentLifecycle(policy).NotFinal(operation.StateClosed).\n" +
		"\tEvent(operation.EventReopen, operation.StateInProgress, operation.StateClosed)\n" +
		"desk, err := operation.New(ctx, store, operation.Config{Incident: policy, IncidentLifecycle: lifecycle})\n" +
		"```\n")
	for _, d := range diagrams {
		fmt.Fprintf(&b, "\n## %s: %s\n\n```mermaid\n%s```\n", d.pillar, d.kind, d.mermaid)
	}
	if *update {
		require.NoError(t, os.WriteFile(lifecyclesDoc, []byte(b.String()), 0o644))
	}
	got, err := os.ReadFile(lifecyclesDoc)
	require.NoError(t, err, "run with -update to create it")
	require.Equal(t, b.String(), string(got), "docs/lifecycles.md is stale: run go test ./examples -run LifecycleDiagrams -update")
}
