package improvement_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
)

func TestSummaryAndTables(t *testing.T) {
	k := newKit(t)
	scenario(t, k)
	e := openSynced(t, k.store, improvement.Config{})
	s, err := e.Summary(day0, day0.AddDate(0, 0, 1))
	require.NoError(t, err)
	require.Len(t, s.Lines, len(improvement.KPIs())-1, "no business time without a calendar")
	mttr, ok := s.Line(improvement.MTTR)
	require.True(t, ok)
	assert.Equal(t, "3.75 h", mttr.Format())
	sla, _ := s.Line(improvement.SLACompliance)
	assert.Equal(t, "50.0 %", sla.Format())
	backlog, _ := s.Line(improvement.Backlog)
	assert.Equal(t, "1", backlog.Format())

	var text bytes.Buffer
	require.NoError(t, s.WriteText(&text))
	assert.Contains(t, text.String(), "mttr                       3.75 h")

	var buf bytes.Buffer
	require.NoError(t, s.WriteCSV(&buf))
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, []string{"kpi", "unit", "count", "hits", "value"}, recs[0])
	assert.Equal(t, []string{"mttr", "hours", "2", "0", "3.75"}, recs[2])

	res, err := e.Compute(improvement.Query{KPI: improvement.SLACompliance, By: []improvement.Dimension{improvement.ByPriority}})
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, res.WriteCSV(&buf))
	assert.Equal(t, "start,end,priority,count,hits,mean_seconds,value\n"+
		"2026-11-02,2026-11-03,1,1,0,0,0\n2026-11-02,2026-11-03,2,1,1,0,1\n", buf.String())

	buf.Reset()
	require.NoError(t, res.WriteJSON(&buf))
	back, err := improvement.ReadResultJSON(&buf)
	require.NoError(t, err)
	assert.Equal(t, res, back, "a result survives JSON")
}

func TestReadResultJSONRefusesBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"not json":       "{",
		"unknown kpi":    `{"kpi":"joy","unit":"ratio","rows":[]}`,
		"wrong unit":     `{"kpi":"mttr","unit":"ratio","rows":[]}`,
		"unknown slice":  `{"kpi":"mttr","unit":"hours","by":["region"],"rows":[]}`,
		"unknown field":  `{"kpi":"mttr","unit":"hours","rows":[],"extra":1}`,
		"hits > count":   `{"kpi":"reopen_rate","unit":"ratio","rows":[{"start":"2026-11-02T00:00:00Z","end":"2026-11-03T00:00:00Z","count":1,"hits":2,"value":2}]}`,
		"reversed dates": `{"kpi":"mttr","unit":"hours","rows":[{"start":"2026-11-03T00:00:00Z","end":"2026-11-02T00:00:00Z","count":1,"value":2}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := improvement.ReadResultJSON(strings.NewReader(in))
			require.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
}

func FuzzReadResultJSON(f *testing.F) {
	f.Add(`{"kpi":"mttr","unit":"hours","period":"day","by":["service"],"rows":[{"start":"2026-11-02T00:00:00Z","end":"2026-11-03T00:00:00Z","service":"email","count":2,"mean":13500000000000,"value":3.75}]}`)
	f.Add(`{"kpi":"backlog","unit":"count","rows":[]}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, in string) {
		res, err := improvement.ReadResultJSON(strings.NewReader(in))
		if err != nil {
			require.ErrorIs(t, err, itsm.ErrInvalid)
			return
		}
		// What was accepted writes and reads back the same.
		var buf bytes.Buffer
		require.NoError(t, res.WriteJSON(&buf))
		again, err := improvement.ReadResultJSON(&buf)
		require.NoError(t, err)
		require.Equal(t, len(res.Rows), len(again.Rows))
		require.NoError(t, res.WriteCSV(&bytes.Buffer{}))
	})
}
