package strategy

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"

	"github.com/pillars-itsm/pillars/itsm"
)

// Money is an amount in integer minor units (cents for EUR and USD, yen for
// JPY) of an ISO 4217 currency. There are no floats anywhere in the
// financial model: sums are exact, divisions round half away from zero, and
// splits hand out the remainder so the parts add up to the whole.
type Money struct {
	Amount   int64  `json:"amount"`   // minor units
	Currency string `json:"currency"` // ISO 4217 code, three upper-case letters
}

// M returns amount minor units of currency.
func M(amount int64, currency string) Money { return Money{Amount: amount, Currency: currency} }

// String formats the amount with two decimals, "1234.50 EUR". (The minor
// unit is taken as a hundredth, which holds for most currencies.)
func (m Money) String() string {
	sign, a := "", m.Amount
	if a < 0 {
		sign = "-"
	}
	u := new(big.Int).Abs(big.NewInt(a))
	q, r := new(big.Int).QuoRem(u, big.NewInt(100), new(big.Int))
	return fmt.Sprintf("%s%s.%02d %s", sign, q.String(), r.Int64(), m.Currency)
}

// validCurrency reports whether c looks like an ISO 4217 code.
func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// Check returns ErrInvalid when the currency is not an ISO 4217-like code.
func (m Money) Check() error {
	if !validCurrency(m.Currency) {
		return itsm.Invalidf("money %d: currency %q is not a three-letter ISO 4217 code", m.Amount, m.Currency)
	}
	return nil
}

// Add returns m + o. Mixed currencies and overflow are ErrInvalid.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, itsm.Invalidf("money: cannot add %s to %s (mixed currencies)", o.Currency, m.Currency)
	}
	s := m.Amount + o.Amount
	if (o.Amount > 0 && s < m.Amount) || (o.Amount < 0 && s > m.Amount) {
		return Money{}, itsm.Invalidf("money: %s + %s overflows", m, o)
	}
	return Money{Amount: s, Currency: m.Currency}, nil
}

// Sub returns m - o. Mixed currencies and overflow are ErrInvalid.
func (m Money) Sub(o Money) (Money, error) {
	if o.Amount == math.MinInt64 {
		return Money{}, itsm.Invalidf("money: %s - %s overflows", m, o)
	}
	return m.Add(Money{Amount: -o.Amount, Currency: o.Currency})
}

// Mul returns m × n. Overflow is ErrInvalid.
func (m Money) Mul(n int64) (Money, error) {
	p := new(big.Int).Mul(big.NewInt(m.Amount), big.NewInt(n))
	if !p.IsInt64() {
		return Money{}, itsm.Invalidf("money: %s × %d overflows", m, n)
	}
	return Money{Amount: p.Int64(), Currency: m.Currency}, nil
}

// Div returns m / n rounded half away from zero. n must be positive.
func (m Money) Div(n int64) (Money, error) {
	if n <= 0 {
		return Money{}, itsm.Invalidf("money: cannot divide %s by %d", m, n)
	}
	return Money{Amount: divRound(m.Amount, n), Currency: m.Currency}, nil
}

func divRound(a, n int64) int64 {
	q, r := a/n, a%n
	if r < 0 {
		r = -r
	}
	if r >= n-r { // 2r >= n without overflow
		if a < 0 {
			return q - 1
		}
		return q + 1
	}
	return q
}

// Split divides m in proportion to weights (non-negative, not all zero) so
// that the parts add up to m exactly: each part is rounded down and the
// remaining minor units go to the largest remainders (ties to the earlier
// part).
func (m Money) Split(weights []int64) ([]Money, error) {
	var total int64
	for i, w := range weights {
		if w < 0 {
			return nil, itsm.Invalidf("money: weight %d is negative (%d)", i+1, w)
		}
		if total+w < total {
			return nil, itsm.Invalidf("money: weights overflow")
		}
		total += w
	}
	if total == 0 {
		return nil, itsm.Invalidf("money: cannot split %s by weights that are all zero", m)
	}
	parts := make([]Money, len(weights))
	rems := make([]int64, len(weights)) // each < total, so it fits
	abs := m.Amount
	if abs < 0 {
		abs = -abs // MinInt64 stays negative and takes the big path
	}
	fast := abs >= 0 && (abs == 0 || abs <= math.MaxInt64/total)
	var given int64
	var amount, bt *big.Int
	if !fast {
		amount, bt = big.NewInt(m.Amount), big.NewInt(total)
	}
	for i, w := range weights {
		var q, r int64
		if fast {
			p := m.Amount * w // |p| <= |amount| * total fits
			q, r = p/total, p%total
			if r < 0 { // floor division
				q, r = q-1, r+total
			}
		} else {
			bq, br := new(big.Int), new(big.Int)
			bq.DivMod(new(big.Int).Mul(amount, big.NewInt(w)), bt, br) // Euclidean: br >= 0
			q, r = bq.Int64(), br.Int64()
		}
		parts[i] = Money{Amount: q, Currency: m.Currency}
		rems[i] = r
		given += q
	}
	// 0 <= left < len(weights): one more minor unit each to the largest
	// remainders, ties to the earlier part.
	left := m.Amount - given
	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rems[b], rems[a]) })
	for _, i := range order[:left] {
		parts[i].Amount++
	}
	return parts, nil
}
