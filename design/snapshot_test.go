package design_test

import (
	"testing"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/internal/badinput"
	"github.com/pillars-itsm/pillars/storage"
)

// snapshot is every document of the fixture's kinds and the whole event
// log, to show that a refused call wrote nothing.
type snapshot = badinput.Snapshot

// fixtureKinds are the kinds a design fixture's store holds.
var fixtureKinds = []string{"incident", design.ClockKind, design.CheckpointKind, design.LeaseKind}

func takeSnapshot(t testing.TB, s storage.Backend, kinds ...string) snapshot {
	t.Helper()
	return badinput.Take(t, s, kinds...)
}
