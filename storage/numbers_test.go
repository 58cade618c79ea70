package storage_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

func TestNumberValue(t *testing.T) {
	cases := []struct {
		prefix, number string
		want           int64
		ok             bool
	}{
		{"INC", "INC0000042", 42, true},
		{"INC", itsm.FormatNumber("INC", 1234567), 1234567, true},
		{"INC", "INC12345678", 12345678, true},
		{"INC", "INC42", 42, true},
		{"INC", "INC0", 0, true},
		{"X1", "X10000042", 42, true}, // a prefix ending in a digit
		{"INC", "LEGACY-7", 0, false},
		{"INC", "CHG0000042", 0, false},
		{"INC", "INC", 0, false},
		{"INC", "INC42a", 0, false},
		{"INC", "INC-42", 0, false},
		{"INC", " INC0000042", 0, false},
		{"INC", "INC1234567890123456789", 0, false}, // more digits than an int64 holds
		{"INC", "", 0, false},
		{"", "0000042", 0, false},
	}
	for _, c := range cases {
		n, ok := storage.NumberValue(c.prefix, c.number)
		require.Equal(t, c.ok, ok, "%q %q", c.prefix, c.number)
		require.Equal(t, c.want, n, "%q %q", c.prefix, c.number)
	}
}

func TestKeepNumbers(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		what    string
		numbers []string
		next    int64 // the next value drawn after keeping them, from a sequence at 10
	}{
		{"none", nil, 11},
		{"below the sequence", []string{"INC0000003"}, 11},
		{"at the sequence", []string{"INC0000010"}, 11},
		{"past it", []string{"INC0000042"}, 43},
		{"the highest of several", []string{"INC0000050", "INC0000042", "LEGACY-99"}, 51},
		{"another format only", []string{"LEGACY-99", "CHG0000099", ""}, 11},
	}
	for _, c := range cases {
		s := memory.New()
		var next int64
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			for range 10 {
				if _, err := tx.NextSequence(ctx, "incident"); err != nil {
					return err
				}
			}
			if err := storage.KeepNumbers(ctx, tx, "incident", "INC", c.numbers...); err != nil {
				return err
			}
			var err error
			next, err = tx.NextSequence(ctx, "incident")
			return err
		}), c.what)
		require.Equal(t, c.next, next, c.what)
	}
}
