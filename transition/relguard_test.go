package transition_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

// allStores is memory plus the persistent stores of stores().
func allStores(t *testing.T) map[string]storage.Backend {
	out := stores(t)
	out["memory"] = memory.New()
	return out
}

// TestRelateConcurrentWritersOneWins starts N goroutines at once, each
// relating a pair that the others' relationships forbid (one end of
// cardinality 1, the same pair twice, the two halves of a cycle), and checks
// on every store that exactly one relationship is written and every loser
// is refused with ErrInvalid or ErrConflict.
func TestRelateConcurrentWritersOneWins(t *testing.T) {
	const n = 8
	cases := []struct {
		name string
		typ  transition.RelationshipType
		// pairs returns the (parent, child) each goroutine relates, given
		// the CIs (and may relate some first).
		pairs func(t *testing.T, e *env, ci []string) [][2]string
	}{
		{"max one per child", transition.RelationshipType{Name: "backed_up_by", Reverse: "backs_up", MaxPerChild: 1},
			func(_ *testing.T, _ *env, ci []string) [][2]string {
				var out [][2]string
				for i := range n {
					out = append(out, [2]string{ci[i+1], ci[0]}) // n parents into one child
				}
				return out
			}},
		{"max one per parent", transition.RelationshipType{Name: "assigned_to", Reverse: "assignee_of", MaxPerParent: 1},
			func(_ *testing.T, _ *env, ci []string) [][2]string {
				var out [][2]string
				for i := range n {
					out = append(out, [2]string{ci[0], ci[i+1]})
				}
				return out
			}},
		{"same pair", transition.RelationshipType{Name: "peers_with", Reverse: "peered_by"},
			func(_ *testing.T, _ *env, ci []string) [][2]string {
				var out [][2]string
				for range n {
					out = append(out, [2]string{ci[0], ci[1]})
				}
				return out
			}},
		{"two halves of a cycle", transition.RelationshipType{Name: "feeds", Reverse: "fed_by", Acyclic: true},
			func(_ *testing.T, _ *env, ci []string) [][2]string {
				var out [][2]string
				for i := range n {
					if i%2 == 0 {
						out = append(out, [2]string{ci[0], ci[1]})
					} else {
						out = append(out, [2]string{ci[1], ci[0]})
					}
				}
				return out
			}},
		{"cycle closed by relationships with no end in common", transition.RelationshipType{Name: "flows_to", Reverse: "flows_from", Acyclic: true},
			func(t *testing.T, e *env, ci []string) [][2]string {
				// b→c and d→a exist; a→b and c→d each close a→b→c→d→a.
				e.rel(t, ci[1], "flows_to", ci[2])
				e.rel(t, ci[3], "flows_to", ci[0])
				var out [][2]string
				for i := range n {
					if i%2 == 0 {
						out = append(out, [2]string{ci[0], ci[1]})
					} else {
						out = append(out, [2]string{ci[2], ci[3]})
					}
				}
				return out
			}},
	}
	for name, st := range allStores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnvOn(t, st)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					require.NoError(t, e.cmdb.RelationshipTypes().Define(tc.typ, e.cmdb.Classes()))
					ci := make([]string, n+1)
					for i := range ci {
						ci[i] = e.ci(t, "node", transition.ClassServer)
					}
					pairs := tc.pairs(t, e, ci)
					before, err := countActive(e, tc.typ.Name, ci)
					require.NoError(t, err)

					start := make(chan struct{})
					errs := make([]error, len(pairs))
					var wg sync.WaitGroup
					for i, p := range pairs {
						wg.Go(func() {
							<-start
							_, errs[i] = e.cmdb.Relate(as(agent), p[0], tc.typ.Name, p[1], storage.Command{})
						})
					}
					close(start)
					wg.Wait()

					wins := 0
					for _, err := range errs {
						switch {
						case err == nil:
							wins++
						case errors.Is(err, itsm.ErrInvalid), errors.Is(err, itsm.ErrConflict):
						default:
							t.Errorf("unexpected refusal: %v", err)
						}
					}
					assert.Equal(t, 1, wins, "errors: %v", errs)
					after, err := countActive(e, tc.typ.Name, ci)
					require.NoError(t, err)
					assert.Equal(t, before+1, after)
				})
			}
		})
	}
}

// countActive counts the active relationships of typ with a parent among
// the CIs.
func countActive(e *env, typ string, cis []string) (int, error) {
	seen := map[string]bool{}
	for _, id := range cis {
		rs, err := e.cmdb.Relationships(as(admin), id)
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if r.Type == typ {
				seen[r.ID] = true
			}
		}
	}
	return len(seen), nil
}

// TestRelateTxConflictsWithoutRetry shows what a caller of RelateTx sees: a
// unit that read the guard before a concurrent unit committed fails with
// ErrConflict and leaves nothing behind; run again, it is refused by the
// check it now sees.
func TestRelateTxConflictsWithoutRetry(t *testing.T) {
	ctx := as(agent)
	e := newEnv(t)
	require.NoError(t, e.cmdb.RelationshipTypes().Define(transition.RelationshipType{Name: "backed_up_by", MaxPerChild: 1}, nil))
	a, b, target := e.ci(t, "a", transition.ClassServer), e.ci(t, "b", transition.ClassServer), e.ci(t, "t", transition.ClassServer)

	err := e.store.Update(ctx, func(tx storage.Tx) error {
		if _, err := e.cmdb.RelateTx(ctx, tx, a, "backed_up_by", target, storage.Command{}); err != nil {
			return err
		}
		// A concurrent writer commits into the same end meanwhile.
		e.rel(t, b, "backed_up_by", target)
		return nil
	})
	require.ErrorIs(t, err, itsm.ErrConflict)
	n, err := countActive(e, "backed_up_by", []string{a, b})
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	_, err = e.cmdb.Relate(ctx, a, "backed_up_by", target, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	assert.Contains(t, err.Error(), "cardinality")
}

// TestRelateConcurrentWithGraph runs the cycle race with the graph index
// answering the cycle check (CMDB.UseGraph): the index is trusted only when
// it has applied the type's last guarded relationship, so exactly one of
// the racing halves of a cycle still wins.
func TestRelateConcurrentWithGraph(t *testing.T) {
	for name, st := range allStores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnvOn(t, st)
			ci := make([]string, 4)
			for i := range ci {
				ci[i] = e.ci(t, "node", transition.ClassServer)
			}
			e.rel(t, ci[1], transition.RelDependsOn, ci[2])
			e.rel(t, ci[3], transition.RelDependsOn, ci[0])
			g, err := transition.LoadGraph(as(admin), e.cmdb)
			require.NoError(t, err)
			e.cmdb.UseGraph(g)
			start := make(chan struct{})
			errs := make([]error, 8)
			var wg sync.WaitGroup
			for i := range errs {
				p, c := ci[0], ci[1]
				if i%2 == 1 {
					p, c = ci[2], ci[3]
				}
				wg.Go(func() {
					<-start
					_, errs[i] = e.cmdb.Relate(as(agent), p, transition.RelDependsOn, c, storage.Command{})
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for _, err := range errs {
				if err == nil {
					wins++
				} else if !errors.Is(err, itsm.ErrInvalid) && !errors.Is(err, itsm.ErrConflict) {
					t.Errorf("unexpected refusal: %v", err)
				}
			}
			assert.Equal(t, 1, wins, "errors: %v", errs)
			n, err := countActive(e, transition.RelDependsOn, ci)
			require.NoError(t, err)
			assert.Equal(t, 3, n)
		})
	}
}
