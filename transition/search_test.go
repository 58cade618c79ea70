package transition_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// Knowledge articles are searched by title and text through their
// records' read rules.
func TestSearchSourcesOfKnowledge(t *testing.T) {
	e, kb := newKB(t)
	a := publish(t, kb, "Reset a VPN token", "Open the portal, choose Tokens, then Reset.")
	assert.Empty(t, transition.SearchSources(nil, nil))
	svc, err := storage.NewSearchService(e.store, transition.SearchSources(nil, kb)...)
	require.NoError(t, err)
	n, err := svc.Reindex(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	for _, q := range []string{"vpn", "portal tok", a.Number} {
		hits, _, err := svc.Search(as(agent), q, nil, storage.Paging{})
		require.NoError(t, err)
		require.Len(t, hits, 1, q)
		assert.Equal(t, a.ID, hits[0].ID)
	}
	hits, _, err := svc.Search(as(agent), "printer", nil, storage.Paging{})
	require.NoError(t, err)
	assert.Empty(t, hits)
}
