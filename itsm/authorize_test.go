package itsm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

func TestRoleAuthorizer(t *testing.T) {
	az := itsm.NewRoleAuthorizer().
		Grant("agent", "incident:*", "*:read").
		Grant("caller", "incident:create").
		Grant("approver", "change:approve").
		AddRule("change", "approve", func(_ context.Context, req itsm.AccessRequest) string {
			if req.Record == req.Actor.ID {
				return "the requester may not approve their own change"
			}
			return ""
		})
	tests := []struct {
		name   string
		actor  *itsm.Actor
		kind   string
		action string
		record any
		allow  bool
		reason string
	}{
		{"no actor", nil, "incident", "create", nil, false, "no actor in context"},
		{"actor without id", &itsm.Actor{Roles: []string{"agent"}}, "incident", "create", nil, false, "no actor in context"},
		{"agent resolves", &itsm.Actor{ID: "ann", Roles: []string{"agent"}}, "incident", "resolve", nil, true, ""},
		{"agent reads changes", &itsm.Actor{ID: "ann", Roles: []string{"agent"}}, "change", "read", nil, true, ""},
		{"agent may not approve", &itsm.Actor{ID: "ann", Roles: []string{"agent"}}, "change", "approve", nil, false, "no role grants change:approve"},
		{"caller creates", &itsm.Actor{ID: "cal", Roles: []string{"caller"}}, "incident", "create", nil, true, ""},
		{"caller may not resolve", &itsm.Actor{ID: "cal", Roles: []string{"caller"}}, "incident", "resolve", nil, false, "no role grants"},
		{"approver approves", &itsm.Actor{ID: "bob", Roles: []string{"approver"}}, "change", "approve", "alice", true, ""},
		{"requester may not approve own change", &itsm.Actor{ID: "bob", Roles: []string{"approver"}}, "change", "approve", "bob", false, "requester may not approve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.actor != nil {
				ctx = itsm.WithActor(ctx, *tt.actor)
			}
			err := itsm.Authorize(ctx, az, tt.kind, tt.action, tt.record)
			if tt.allow {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, itsm.ErrForbidden)
			var fe *itsm.ForbiddenError
			require.ErrorAs(t, err, &fe)
			assert.Contains(t, fe.Error(), tt.reason)
		})
	}
}

func TestDefaultAuthorizerKeepsImportToImporters(t *testing.T) {
	az := itsm.DefaultAuthorizer()
	ctx := context.Background()
	for _, tt := range []struct {
		roles  []string
		action string
		allow  bool
	}{
		{[]string{"agent"}, "resolve", true},
		{[]string{"agent"}, itsm.ActionImport, false},
		{[]string{"importer"}, itsm.ActionImport, true},
		{[]string{"admin"}, itsm.ActionImport, true},
		{[]string{"caller"}, itsm.ActionCreate, true},
		{[]string{"caller"}, "resolve", false},
		{nil, itsm.ActionRead, false},
	} {
		err := az.Authorize(ctx, itsm.AccessRequest{Actor: itsm.Actor{ID: "x", Roles: tt.roles}, Kind: "incident", Action: tt.action})
		if tt.allow {
			assert.NoError(t, err, "%v %s", tt.roles, tt.action)
		} else {
			assert.ErrorIs(t, err, itsm.ErrForbidden, "%v %s", tt.roles, tt.action)
		}
	}
}

type denyAll struct{}

func (denyAll) Authorize(context.Context, itsm.AccessRequest) error { return assert.AnError }

func TestAuthorizeWrapsForeignRefusals(t *testing.T) {
	ctx := itsm.WithActor(context.Background(), itsm.Actor{ID: "ann"})
	err := itsm.Authorize(ctx, denyAll{}, "incident", "create", nil)
	require.ErrorIs(t, err, itsm.ErrForbidden, "a host authorizer's plain error still reads as forbidden")
	assert.Contains(t, err.Error(), assert.AnError.Error())
	assert.NoError(t, itsm.Authorize(ctx, nil, "incident", "create", nil))
	//nolint:staticcheck // a nil context must not panic
	_, ok := itsm.ActorFrom(nil)
	assert.False(t, ok)
}

func TestNumbersAndIDs(t *testing.T) {
	assert.Equal(t, "INC0001042", itsm.FormatNumber("INC", 1042))
	assert.Equal(t, "CHG12345678", itsm.FormatNumber("CHG", 12345678))
	p, n, err := itsm.ParseNumber("PRB0000311")
	require.NoError(t, err)
	assert.Equal(t, "PRB", p)
	assert.Equal(t, int64(311), n)
	for _, bad := range []string{"", "INC", "0001", " INC1", "INC99999999999999999999"} {
		_, _, err := itsm.ParseNumber(bad)
		assert.ErrorIs(t, err, itsm.ErrInvalid, bad)
	}
	a, b := itsm.NewID(), itsm.NewID()
	assert.True(t, itsm.ValidID(a))
	assert.NotEqual(t, a, b)
	assert.Less(t, a, b, "v7 ids sort by creation time")
	assert.False(t, itsm.ValidID("not-an-id"))
}

func TestFakeClock(t *testing.T) {
	start := itsm.NormalizeTime(itsm.SystemClock{}.Now())
	c := itsm.NewFakeClock(start)
	assert.Equal(t, start, c.Now())
	assert.Equal(t, start.Add(90*60e9), c.Advance(90*60e9))
	c.Set(start)
	assert.Equal(t, start, c.Now())
}
