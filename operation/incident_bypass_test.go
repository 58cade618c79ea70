package operation_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// TestGenericRunnerKeepsIncidentInvariants tries every lifecycle-owned
// field through the generic runners a host or an agent reaches with
// desk.Incidents(): each forged write is refused with ErrInvalid naming the
// field, and nothing is written.
func TestGenericRunnerKeepsIncidentInvariants(t *testing.T) {
	change := []struct {
		name   string
		field  string
		mutate func(*operation.Incident)
	}{
		{"priority set directly", "priority", func(i *operation.Incident) { i.Priority = 1 }},
		{"impact without the matrix's priority", "priority", func(i *operation.Incident) { i.Impact = 1 }},
		{"reassignment count reset", "reassignment_count", func(i *operation.Incident) { i.ReassignmentCount = 0 }},
		{"reassigned without counting", "reassignment_count", func(i *operation.Incident) { i.AssignedTo = "ann" }},
		{"assignee outside the group", "assigned_to", func(i *operation.Incident) { i.AssignedTo, i.ReassignmentCount = "eve", 2 }},
		{"reopen count", "reopen_count", func(i *operation.Incident) { i.ReopenCount = 5 }},
		{"reopen count by one", "reopen_count", func(i *operation.Incident) { i.ReopenCount++ }},
		{"created time backdated", "created_at", func(i *operation.Incident) { i.CreatedAt = i.CreatedAt.Add(-48 * time.Hour) }},
		{"caller changed", "caller_id", func(i *operation.Incident) { i.CallerID = "mallory" }},
		{"opened by changed", "opened_by", func(i *operation.Incident) { i.OpenedBy = "mallory" }},
		{"number changed", "number", func(i *operation.Incident) { i.Number = "INC9999999" }},
		{"marked major", "major", func(i *operation.Incident) { i.Major = true }},
		{"major state forged", "major", func(i *operation.Incident) { i.MajorState, i.MajorProposedBy = operation.MajorAccepted, "ann" }},
		{"work notes erased", "work_notes", func(i *operation.Incident) { i.WorkNotes = nil }},
		{"work note forged", "work_notes", func(i *operation.Incident) {
			i.WorkNotes = append(i.WorkNotes, operation.Note{Author: "dora", Text: "approved"})
		}},
		{"comments erased", "work_notes", func(i *operation.Incident) { i.Comments = nil }},
		{"hold reason", "hold_reason", func(i *operation.Incident) { i.HoldReason = operation.HoldAwaitingVendor }},
		{"resolution", "resolution_code", func(i *operation.Incident) { i.ResolutionCode = operation.ResolvedRemotely }},
		{"resolved time", "resolution_code", func(i *operation.Incident) { i.ResolvedAt = t0 }},
		{"first response", "first_response_at", func(i *operation.Incident) { i.FirstResponseAt = time.Time{} }},
		{"escalations", "escalations", func(i *operation.Incident) { i.Escalations = []string{"p1"} }},
		{"parent", "parent_id", func(i *operation.Incident) { i.ParentID = itsm.NewID() }},
		{"children", "parent_id", func(i *operation.Incident) { i.Children = 7 }},
		{"workaround", "parent_id", func(i *operation.Incident) { i.Workaround = "reboot" }},
	}
	f := newFixture(t)
	inc := f.open(t, func(i *operation.Incident) { i.AssignmentGroup, i.AssignedTo = "network", "ann" })
	_, err := f.desk.AssignIncident(as(ann), inc.ID, "network", "bob", storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.AddWorkNote(as(ann), inc.ID, "checked the VPN concentrator", storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.AddComment(as(ann), inc.ID, "looking into it", storage.Command{})
	require.NoError(t, err)
	ctx := as(bob)
	for _, tt := range change {
		t.Run("change/"+tt.name, func(t *testing.T) {
			before := f.snapshot(t)
			_, err := f.desk.Incidents().Change(ctx, inc.ID, storage.Command{}, func(i *operation.Incident) error {
				tt.mutate(i)
				return nil
			})
			require.ErrorIs(t, err, itsm.ErrInvalid)
			var ve *itsm.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Contains(t, ve.Fields, tt.field)
			assert.Equal(t, before, f.snapshot(t), "a refused write writes nothing")
		})
	}

	// A lifecycle event does not carry a forged field with it.
	t.Run("fire/start carrying major", func(t *testing.T) {
		before := f.snapshot(t)
		_, err := f.desk.Incidents().Fire(ctx, inc.ID, operation.EventStart, storage.Command{}, func(i *operation.Incident) error {
			i.Major = true
			return nil
		})
		require.ErrorIs(t, err, itsm.ErrInvalid)
		assert.Equal(t, before, f.snapshot(t))
	})
	t.Run("fire/hold carrying a resolution", func(t *testing.T) {
		before := f.snapshot(t)
		_, err := f.desk.Incidents().Fire(ctx, inc.ID, operation.EventHold, storage.Command{}, func(i *operation.Incident) error {
			i.HoldReason, i.ResolutionNotes = operation.HoldAwaitingCaller, "forged"
			return nil
		})
		require.ErrorIs(t, err, itsm.ErrInvalid)
		assert.Equal(t, before, f.snapshot(t))
	})

	// What keeps the invariants passes through the generic runner too.
	t.Run("allowed", func(t *testing.T) {
		got, err := f.desk.Incidents().Change(ctx, inc.ID, storage.Command{}, func(i *operation.Incident) error {
			i.Description = "drops every ten minutes"
			i.Impact, i.Priority = 1, 2 // the matrix's for 1 x 2
			i.AssignedTo, i.ReassignmentCount = "ann", i.ReassignmentCount+1
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 2, got.ReassignmentCount)
		got, err = f.desk.Incidents().Fire(ctx, inc.ID, operation.EventHold, storage.Command{}, func(i *operation.Incident) error {
			i.HoldReason = operation.HoldAwaitingCaller
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, operation.StateOnHold, got.State)
	})

	create := []struct {
		name   string
		field  string
		mutate func(*operation.Incident)
	}{
		{"opened by another", "opened_by", func(i *operation.Incident) { i.OpenedBy = "mallory" }},
		{"counts", "reopen_count", func(i *operation.Incident) { i.ReopenCount = 3 }},
		{"reassignments", "reassignment_count", func(i *operation.Incident) { i.ReassignmentCount = 3 }},
		{"major", "major", func(i *operation.Incident) { i.Major, i.MajorState = true, operation.MajorAccepted }},
		{"work notes", "work_notes", func(i *operation.Incident) { i.WorkNotes = []operation.Note{{Author: "dora", Text: "forged"}} }},
		{"resolution", "resolution_code", func(i *operation.Incident) { i.ResolutionCode = operation.ResolvedRemotely }},
		{"priority", "priority", func(i *operation.Incident) { i.Priority = 1 }},
		{"assignee outside the group", "assigned_to", func(i *operation.Incident) { i.AssignmentGroup, i.AssignedTo = "network", "eve" }},
		{"unchecked parent", "parent_id", func(i *operation.Incident) { i.ParentID = inc.ID }},
	}
	for _, tt := range create {
		t.Run("create/"+tt.name, func(t *testing.T) {
			before := f.snapshot(t)
			rec := &operation.Incident{ShortDescription: "forged", CallerID: "carl", OpenedBy: "bob", Impact: 2, Urgency: 2, Priority: 3}
			tt.mutate(rec)
			err := f.desk.Incidents().Create(ctx, rec, storage.Command{})
			require.ErrorIs(t, err, itsm.ErrInvalid)
			var ve *itsm.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Contains(t, ve.Fields, tt.field)
			assert.Equal(t, before, f.snapshot(t))
		})
	}
	t.Run("create/allowed", func(t *testing.T) {
		rec := &operation.Incident{ShortDescription: "plain", CallerID: "carl", OpenedBy: "bob", Impact: 2, Urgency: 2, Priority: 3}
		require.NoError(t, f.desk.Incidents().Create(ctx, rec, storage.Command{}))
	})
}

// TestDeskCommandsPassTheWriteCheck runs each desk command that writes a
// lifecycle-owned field once: the check lets the desk's own changes
// through, and the returned record carries no leftover mark.
func TestDeskCommandsPassTheWriteCheck(t *testing.T) {
	f := newFixture(t, func(c *operation.Config) {
		c.Escalation = []operation.EscalationRule{{Name: "stale", Priorities: []int{2}, After: time.Hour, ReassignTo: "servers", RaisePriority: true}}
	})
	inc := f.open(t, func(i *operation.Incident) { i.AssignmentGroup = "network" })
	parent := f.open(t)
	steps := []struct {
		name string
		run  func() (*operation.Incident, error)
	}{
		{"take", func() (*operation.Incident, error) {
			return f.desk.TakeIncident(as(ann), inc.ID, false, storage.Command{})
		}},
		{"work note", func() (*operation.Incident, error) {
			return f.desk.AddWorkNote(as(ann), inc.ID, "n", storage.Command{})
		}},
		{"comment", func() (*operation.Incident, error) {
			return f.desk.AddComment(as(carl), inc.ID, "c", storage.Command{})
		}},
		{"override", func() (*operation.Incident, error) {
			return f.desk.OverridePriority(as(ann), inc.ID, 2, "VIP", storage.Command{})
		}},
		{"link child", func() (*operation.Incident, error) {
			return f.desk.LinkChild(as(ann), parent.ID, inc.ID, storage.Command{})
		}},
		{"hold", func() (*operation.Incident, error) {
			return f.desk.HoldIncident(as(ann), inc.ID, operation.HoldAwaitingVendor, storage.Command{})
		}},
		{"propose major", func() (*operation.Incident, error) { return f.desk.ProposeMajor(as(ann), inc.ID, storage.Command{}) }},
		{"accept major", func() (*operation.Incident, error) { return f.desk.AcceptMajor(as(dora), inc.ID, storage.Command{}) }},
		{"resume", func() (*operation.Incident, error) { return f.desk.ResumeIncident(as(ann), inc.ID, storage.Command{}) }},
		{"resolve", func() (*operation.Incident, error) {
			return f.desk.ResolveIncident(as(ann), parent.ID, operation.ResolvedRemotely, "fixed", storage.Command{})
		}},
		{"reopen", func() (*operation.Incident, error) { return f.desk.ReopenIncident(as(carl), inc.ID, storage.Command{}) }},
		{"escalate", func() (*operation.Incident, error) {
			f.clock.Set(t0.Add(2 * time.Hour))
			if _, err := f.desk.Escalate(as(system), f.clock.Now()); err != nil {
				return nil, err
			}
			return f.desk.Incidents().Get(as(reader), inc.ID)
		}},
	}
	for _, s := range steps {
		got, err := s.run()
		require.NoError(t, err, s.name)
		stored, err := f.desk.Incidents().Get(as(reader), got.ID)
		require.NoError(t, err)
		if s.name == "comment" || s.name == "reopen" {
			stored.WorkNotes = nil // the caller's steps hand back no work notes (TestWritesReturnWhatTheActorMayRead)
		}
		assert.Equal(t, stored, got, "%s: the returned record is the stored one", s.name)
	}
	got, err := f.desk.Incidents().Get(as(reader), inc.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, got.ReopenCount)
	assert.True(t, got.Major)
	assert.Equal(t, parent.ID, got.ParentID)
	assert.Equal(t, []string{"stale"}, got.Escalations)
	assert.Equal(t, 1, got.Priority)
	assert.Equal(t, "servers", got.AssignmentGroup)
	assert.Equal(t, 1, got.ReassignmentCount)
}
