package strategy_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/sqlite"
	"github.com/pillars-itsm/pillars/strategy"
)

// TestOtherStores runs the portfolio, the budget overlap rule under
// concurrent writers and a charge-back on SQLite, and on PostgreSQL when
// PILLARS_POSTGRES_DSN is set.
func TestOtherStores(t *testing.T) {
	stores := map[string]func(t *testing.T) storage.Backend{
		"sqlite": func(t *testing.T) storage.Backend {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pillars.db"))
			require.NoError(t, err)
			return st
		},
	}
	if _, ok := pgtest.DSN(); ok {
		stores["postgres"] = func(t *testing.T) storage.Backend {
			st, _ := pgtest.Open(t, "strategy_test")
			return st
		}
	} else {
		t.Log("PILLARS_POSTGRES_DSN is not set: PostgreSQL skipped")
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			defer b.Close()
			s, err := strategy.New(context.Background(), b, strategy.Config{Clock: itsm.NewFakeClock(jan)})
			require.NoError(t, err)
			svc := &strategy.Service{Name: "email", Owner: "olga", BusinessCase: strategy.BusinessCase{Summary: "mail"}}
			require.NoError(t, s.ProposeService(agent, svc, storage.Command{}))
			_, err = s.PublishService(agent, svc.ID, "", storage.Command{Reason: "live"})
			require.NoError(t, err)
			list, _, err := s.Portfolio(agent, strategy.Catalogue, storage.Paging{})
			require.NoError(t, err)
			require.Len(t, list, 1)

			const writers = 6
			var wg sync.WaitGroup
			errs := make([]error, writers)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := jan.AddDate(0, 0, w)
					errs[w] = s.SetBudget(agent, &strategy.Budget{ServiceID: svc.ID, PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0), Amount: strategy.M(1, "EUR")}, storage.Command{})
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				} else {
					require.ErrorIs(t, err, itsm.ErrConflict)
				}
			}
			assert.Equal(t, 1, ok, "exactly one of the overlapping budgets is written")

			m := &strategy.CostModel{ServiceID: svc.ID, Name: "m", Currency: "EUR", Unit: "users",
				Items: []strategy.CostItem{{Name: "base", Type: strategy.Fixed, Amount: strategy.M(100_00, "EUR")}}}
			require.NoError(t, s.DefineCostModel(agent, m, storage.Command{}))
			a, c := &strategy.Customer{Name: "A", Services: []string{svc.ID}}, &strategy.Customer{Name: "B", Services: []string{svc.ID}}
			require.NoError(t, s.AddCustomer(agent, a, storage.Command{}))
			require.NoError(t, s.AddCustomer(agent, c, storage.Command{}))
			charges, _, err := s.ChargeBack(agent, m.ID, []strategy.Usage{{a.ID, 2}, {c.ID, 1}})
			require.NoError(t, err)
			assert.Equal(t, strategy.M(66_67, "EUR"), charges[0].Total)
			assert.Equal(t, strategy.M(33_33, "EUR"), charges[1].Total)
		})
	}
}
