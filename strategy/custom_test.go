package strategy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/strategy"
)

func TestStrategyCustomFields(t *testing.T) {
	dict, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{
		strategy.ServiceKind: {Fields: []storage.CustomField{{Name: "tier", Type: storage.CustomInteger, Min: "1", Max: "3", Required: true, Indexed: true}}}}})
	require.NoError(t, err)
	s, err := strategy.New(context.Background(), memory.New(), strategy.Config{Dictionary: dict,
		Clock: itsm.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))})
	require.NoError(t, err)
	svc := &strategy.Service{Name: "email", Owner: "olga", BusinessCase: strategy.BusinessCase{Summary: "mail",
		ExpectedBenefit: strategy.M(5_00, "EUR"), ExpectedCost: strategy.M(1_00, "EUR")}}
	err = s.ProposeService(agent, svc, storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "is required", ve.Fields["custom.tier"])
	svc.Custom.SetInt("tier", 4)
	err = s.ProposeService(agent, svc, storage.Command{})
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields["custom.tier"], "outside")
	svc.Custom.SetInt("tier", 2)
	require.NoError(t, s.ProposeService(agent, svc, storage.Command{}))
	_, err = s.UpdateService(agent, svc.ID, storage.Command{}, func(x *strategy.Service) error { x.Custom.SetInt("tier", 0); return nil })
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields, "custom.tier")
}
