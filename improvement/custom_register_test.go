package improvement_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func TestCSIItemCustomFields(t *testing.T) {
	k := newKit(t)
	dict, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{
		improvement.ItemKind: {Fields: []storage.CustomField{{Name: "savings", Type: storage.CustomDecimal, Scale: 2, Min: "0"}}}}})
	require.NoError(t, err)
	reg, err := improvement.NewRegister(context.Background(), k.store, improvement.RegisterConfig{Clock: k.clock, Dictionary: dict})
	require.NoError(t, err)
	it := &improvement.Item{Title: "Cut email resolution time", ServiceID: "email", Owner: "olga", KPI: improvement.MTTR, Target: 2, Step: 1}
	it.Custom.SetString("savings", "-3")
	err = reg.Records().Create(agent, it, storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields, "custom.savings")
	it = &improvement.Item{Title: "Cut email resolution time", ServiceID: "email", Owner: "olga", KPI: improvement.MTTR, Target: 2, Step: 1}
	it.Custom.SetString("savings", "1200.5")
	require.NoError(t, reg.Records().Create(agent, it, storage.Command{}))
	s, _ := it.Custom.Str("savings")
	assert.Equal(t, "1200.50", s)
}
