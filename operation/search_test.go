package operation_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// The desk's incidents are searched with their work notes for the desk
// only, kept current by a stream consumer.
func TestSearchSourcesOfTheDesk(t *testing.T) {
	f := newFixture(t)
	svc, err := storage.NewSearchService(f.store, operation.SearchSources(f.desk)...)
	require.NoError(t, err)
	c, err := stream.NewConsumer(context.Background(), f.store, stream.ConsumerConfig{Name: "search", Handler: svc})
	require.NoError(t, err)

	inc := f.open(t, func(x *operation.Incident) { x.CallerID, x.ShortDescription = "carl", "VPN drops every hour" })
	_, err = f.desk.AddWorkNote(as(ann), inc.ID, "caller is a VIP", storage.Command{})
	require.NoError(t, err)
	_, err = c.RunOnce(context.Background())
	require.NoError(t, err)

	find := func(ctx context.Context, q string) []string {
		hits, _, err := svc.Search(ctx, q, nil, storage.Paging{})
		require.NoError(t, err)
		var out []string
		for _, h := range hits {
			out = append(out, h.Number)
		}
		return out
	}
	assert.Equal(t, []string{inc.Number}, find(as(carl), "vpn"))
	assert.Equal(t, []string{inc.Number}, find(as(ann), "vip"))
	assert.Nil(t, find(as(carl), "vip"), "work notes are the desk's")
	assert.Equal(t, []string{inc.Number}, find(as(carl), inc.Number))
}
