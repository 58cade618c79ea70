package operation_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/operation"
)

var update = flag.Bool("update", false, "rewrite the lifecycle diagrams in testdata")

// The default lifecycles render as Mermaid diagrams kept in testdata, so a
// change to a lifecycle shows up in review; go test -run Diagrams -update
// rewrites them.
func TestLifecycleDiagrams(t *testing.T) {
	mermaid := map[string]func() (string, error){
		"incident": func() (string, error) {
			m, err := operation.IncidentLifecycle(operation.IncidentPolicy{}).Compile()
			if err != nil {
				return "", err
			}
			return m.Mermaid(), nil
		},
		"problem":      func() (string, error) { m, err := operation.ProblemLifecycle().Compile(); return mer(m, err) },
		"known_error":  func() (string, error) { m, err := operation.KnownErrorLifecycle().Compile(); return mer(m, err) },
		"request":      func() (string, error) { m, err := operation.RequestLifecycle().Compile(); return mer(m, err) },
		"request_task": func() (string, error) { m, err := operation.RequestTaskLifecycle().Compile(); return mer(m, err) },
		"alert":        func() (string, error) { m, err := operation.AlertLifecycle().Compile(); return mer(m, err) },
	}
	for name, render := range mermaid {
		got, err := render()
		require.NoError(t, err, name)
		path := filepath.Join("testdata", name+".mmd")
		if *update {
			require.NoError(t, os.MkdirAll("testdata", 0o755))
			require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run go test -run Diagrams -update")
		assert.Equal(t, string(want), got, name)
	}
}

func mer[M interface{ Mermaid() string }](m M, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return m.Mermaid(), nil
}
