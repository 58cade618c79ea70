package design_test

import (
	"errors"
	"testing"

	"github.com/pillars-itsm/pillars/itsm"
)

// FuzzCheckOrder feeds arbitrary answers to a form: never a panic, and
// every refusal matches ErrInvalid.
func FuzzCheckOrder(f *testing.F) {
	f.Add("model", "13in", "quantity", "2")
	f.Add("cost_centre", "CC12", "deliver_to", "a@b")
	f.Add("needed_by", "2026-02-30", "docking", "yes")
	f.Add("quantity", "1e400", "x", "")
	item := laptopItem("svc")
	item.Number = "CAT0000001"
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		err := item.CheckOrder(map[string]string{k1: v1, k2: v2})
		if err != nil && !errors.Is(err, itsm.ErrInvalid) {
			t.Fatalf("refusal does not match ErrInvalid: %v", err)
		}
	})
}
