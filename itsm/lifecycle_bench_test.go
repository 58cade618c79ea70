package itsm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/looplab/fsm"

	"github.com/pillars-itsm/pillars/itsm"
)

// The lifecycle benchmarks compare against looplab/fsm in the same run:
//
//	go test -run x -bench Lifecycle -benchmem ./itsm
//
// Decide (guard included) is measured against a bare fsm Event on a reused
// FSM, and CheckState (what a record needs before its first decision)
// against fsm.NewFSM on the same definition.

var errNoCode = errors.New("a resolution code is required")

func benchMachine(b *testing.B) *itsm.Machine[*ticket] {
	m, err := ticketLifecycle().
		Guard("hold", "has_reason", func(_ context.Context, t *ticket, _ itsm.Transition) error {
			if t.ResolutionCode == "never" {
				return errNoCode
			}
			return nil
		}).Compile()
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkLifecycleDecide(b *testing.B) {
	m := benchMachine(b)
	ctx := context.Background()
	rec := &ticket{}
	state := "in_progress"
	events := [2]string{"hold", "resume"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tr, err := m.Decide(ctx, rec, itsm.Transition{Event: events[i&1], From: state})
		if err != nil {
			b.Fatal(err)
		}
		state = tr.To
	}
}

func BenchmarkLifecycleBaselineFSMEvent(b *testing.B) {
	m := benchMachine(b)
	f := m.FSM("in_progress")
	ctx := context.Background()
	events := [2]string{"hold", "resume"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := f.Event(ctx, events[i&1]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLifecyclePrepareRecord(b *testing.B) {
	m := benchMachine(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.CheckState("on_hold"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLifecycleBaselineFSMNew(b *testing.B) {
	m := benchMachine(b)
	var events fsm.Events
	for _, s := range m.States() {
		for _, ev := range m.Events() {
			if to, ok := m.Target(s, ev); ok {
				events = append(events, fsm.EventDesc{Name: ev, Src: []string{s}, Dst: to})
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = fsm.NewFSM("on_hold", events, nil)
	}
}
