package storage

import (
	"context"
	"strings"
)

// maxNumberDigits bounds the digits of a number's sequence value, so that it
// fits an int64.
const maxNumberDigits = 18

// NumberValue returns the sequence value of a human number written in
// prefix's format: the prefix, then 1 to 18 decimal digits, as
// itsm.FormatNumber writes them ("INC0000042" with prefix "INC" is 42). ok
// is false for an empty prefix and for a number in another format
// ("LEGACY-7", "CHG0000042", "INC42a"): such a number can never be drawn
// from the prefix's sequence.
func NumberValue(prefix, number string) (n int64, ok bool) {
	digits, found := strings.CutPrefix(number, prefix)
	if prefix == "" || !found || len(digits) == 0 || len(digits) > maxNumberDigits {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// KeepNumbers advances the named sequence past every number in numbers that
// is in prefix's format (see NumberValue), so that a number drawn from it
// later, formatted with prefix, is none of them: after keeping INC0000042
// the next new number is INC0000043 or later. Numbers in another format are
// kept as they are and move nothing; a sequence already past them is left
// alone. Records call it for a record created with a number it keeps; a
// host writing documents with Import calls it for the numbers it imported,
// in any unit of work (it takes effect at once, like NextSequence).
func KeepNumbers(ctx context.Context, tx Tx, sequence, prefix string, numbers ...string) error {
	var top int64
	for _, num := range numbers {
		if n, ok := NumberValue(prefix, num); ok {
			top = max(top, n)
		}
	}
	if top < 1 {
		return nil
	}
	return tx.AdvanceSequence(ctx, sequence, top)
}
