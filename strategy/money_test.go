package strategy_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/strategy"
)

func TestMoney(t *testing.T) {
	eur := func(n int64) strategy.Money { return strategy.M(n, "EUR") }
	tests := []struct {
		name string
		got  func() (strategy.Money, error)
		want strategy.Money
		err  error
	}{
		{"add", func() (strategy.Money, error) { return eur(150).Add(eur(275)) }, eur(425), nil},
		{"sub", func() (strategy.Money, error) { return eur(150).Sub(eur(275)) }, eur(-125), nil},
		{"mul", func() (strategy.Money, error) { return eur(450).Mul(3) }, eur(1350), nil},
		{"div rounds half away from zero", func() (strategy.Money, error) { return eur(5).Div(2) }, eur(3), nil},
		{"div of a negative amount", func() (strategy.Money, error) { return eur(-5).Div(2) }, eur(-3), nil},
		{"div rounds down below half", func() (strategy.Money, error) { return eur(401350).Div(3) }, eur(133783), nil},
		{"mixed currencies", func() (strategy.Money, error) { return eur(1).Add(strategy.M(1, "USD")) }, strategy.Money{}, itsm.ErrInvalid},
		{"add overflow", func() (strategy.Money, error) { return eur(math.MaxInt64).Add(eur(1)) }, strategy.Money{}, itsm.ErrInvalid},
		{"sub overflow", func() (strategy.Money, error) { return eur(0).Sub(eur(math.MinInt64)) }, strategy.Money{}, itsm.ErrInvalid},
		{"mul overflow", func() (strategy.Money, error) { return eur(math.MaxInt64 / 2).Mul(3) }, strategy.Money{}, itsm.ErrInvalid},
		{"div by zero", func() (strategy.Money, error) { return eur(1).Div(0) }, strategy.Money{}, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, "-1.05 EUR", eur(-105).String())
	assert.Equal(t, "-92233720368547758.08 EUR", eur(math.MinInt64).String())
	require.ErrorIs(t, strategy.M(1, "eur").Check(), itsm.ErrInvalid)
	_, err := eur(1).Split([]int64{0, 0})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = eur(1).Split([]int64{-1, 2})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	parts, err := eur(100).Split([]int64{1, 1, 1})
	require.NoError(t, err)
	assert.Equal(t, []strategy.Money{eur(34), eur(33), eur(33)}, parts)
}

// FuzzSplit: the parts of any split add up to the whole, each within one
// minor unit of its exact share.
func FuzzSplit(f *testing.F) {
	f.Add(int64(100), int64(1), int64(1), int64(1))
	f.Add(int64(-7), int64(3), int64(0), int64(5))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64/3), int64(1), int64(2))
	f.Fuzz(func(t *testing.T, amount, a, b, c int64) {
		parts, err := strategy.M(amount, "EUR").Split([]int64{a, b, c})
		if err != nil {
			require.ErrorIs(t, err, itsm.ErrInvalid)
			return
		}
		var sum int64
		for _, p := range parts {
			sum += p.Amount
		}
		require.Equal(t, amount, sum)
		total := float64(a) + float64(b) + float64(c)
		for i, w := range []int64{a, b, c} {
			exact := float64(amount) * float64(w) / total
			require.InDelta(t, exact, float64(parts[i].Amount), 1+math.Abs(exact)*1e-12, "part %d", i)
		}
	})
}
