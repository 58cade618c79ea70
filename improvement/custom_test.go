package improvement_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// regional is an incident with custom values, as the operation pillar's.
type regional struct {
	itsm.Record
	ShortDescription string      `json:"short_description"`
	Priority         int         `json:"priority"`
	Custom           itsm.Values `json:"custom,omitempty"`
}

func TestComputeByCustom(t *testing.T) {
	ctx := context.Background()
	dict, err := storage.ParseDictionary([]byte(`{"kinds": {"incident": {"fields": [
	  {"name": "region", "type": "enum", "values": ["emea", "apac"], "indexed": true}]}}}`))
	require.NoError(t, err)
	store := memory.New()
	clock := itsm.NewFakeClock(day0)
	m, err := itsm.NewLifecycle[*regional]("incident").Initial("new").States("resolved").Final("closed").
		Event("resolve", "resolved", "new").Event("close", "closed", "resolved").Compile()
	require.NoError(t, err)
	coll := storage.NewCollection[regional]("incident").WithDictionary(dict)
	require.NoError(t, coll.Register(ctx, store))
	recs, err := storage.NewRecords(store, coll, m, storage.RecordsConfig{Prefix: "INC", Clock: clock})
	require.NoError(t, err)

	// emea: resolved in 1h and 3h; apac: in 2h, moved from emea on the
	// way; one incident without a region, resolved in 10h.
	open := func(region string) *regional {
		r := &regional{ShortDescription: "x", Priority: 3}
		if region != "" {
			r.Custom.SetString("region", region)
		}
		require.NoError(t, recs.Create(agent, r, storage.Command{}))
		return r
	}
	a, b, c, d := open("emea"), open("emea"), open("emea"), open("")
	resolve := func(r *regional, after time.Duration) {
		clock.Set(day0.Add(after))
		_, err := recs.Fire(agent, r.ID, "resolve", storage.Command{}, nil)
		require.NoError(t, err)
	}
	clock.Set(day0.Add(30 * time.Minute))
	_, err = recs.Change(agent, c.ID, storage.Command{}, func(r *regional) error { r.Custom.SetString("region", "apac"); return nil })
	require.NoError(t, err)
	resolve(a, time.Hour)
	resolve(c, 2*time.Hour)
	resolve(b, 3*time.Hour)
	resolve(d, 10*time.Hour)

	evs, err := store.ReadEvents(ctx, 0, 1000)
	require.NoError(t, err)
	got, err := improvement.ComputeByCustom(improvement.Config{}, evs, "region", improvement.Query{KPI: improvement.MTTR})
	require.NoError(t, err)
	require.Len(t, got, 3)
	hours := map[string]float64{}
	counts := map[string]int64{}
	for _, r := range got {
		require.Len(t, r.Result.Rows, 1, r.Value)
		hours[r.Value] = r.Result.Rows[0].Value
		counts[r.Value] = r.Result.Rows[0].Count
	}
	assert.Equal(t, []string{"", "apac", "emea"}, []string{got[0].Value, got[1].Value, got[2].Value})
	assert.InDelta(t, 2.0, hours["emea"], 1e-9)
	assert.InDelta(t, 2.0, hours["apac"], 1e-9)
	assert.InDelta(t, 10.0, hours[""], 1e-9)
	assert.Equal(t, map[string]int64{"": 1, "apac": 1, "emea": 2}, counts)

	for _, bad := range []struct {
		field string
		q     improvement.Query
	}{{"Region", improvement.Query{KPI: improvement.MTTR}}, {"", improvement.Query{KPI: improvement.MTTR}},
		{"region", improvement.Query{KPI: "nope"}}} {
		_, err := improvement.ComputeByCustom(improvement.Config{}, evs, bad.field, bad.q)
		assert.ErrorIs(t, err, itsm.ErrInvalid)
	}
	none, err := improvement.ComputeByCustom(improvement.Config{}, nil, "region", improvement.Query{KPI: improvement.MTTR})
	require.NoError(t, err)
	assert.Empty(t, none)
}
