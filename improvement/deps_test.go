package improvement_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoPlotDependency: a host importing improvement does not link
// gonum/plot and its fonts; charts live in improvement/chart (issue 17).
func TestNoPlotDependency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		assert.False(t, strings.HasPrefix(dep, "gonum.org/") || strings.Contains(dep, "/improvement/chart"),
			"improvement depends on %s", dep)
	}
}
