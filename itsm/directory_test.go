package itsm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

func TestStaticDirectory(t *testing.T) {
	dir := itsm.StaticDirectory{"network": {"ann", "bob"}, "empty": nil}
	tests := []struct {
		group, user string
		member      bool
		members     []string
	}{
		{group: "network", user: "ann", member: true, members: []string{"ann", "bob"}},
		{group: "network", user: "cara", member: false, members: []string{"ann", "bob"}},
		{group: "empty", user: "ann", member: false, members: nil},
		{group: "unknown", user: "ann", member: false, members: nil},
	}
	for _, tt := range tests {
		t.Run(tt.group+"/"+tt.user, func(t *testing.T) {
			ctx := context.Background()
			ok, err := dir.IsMember(ctx, tt.group, tt.user)
			require.NoError(t, err)
			assert.Equal(t, tt.member, ok)
			got, err := dir.Members(ctx, tt.group)
			require.NoError(t, err)
			assert.Equal(t, tt.members, got)
		})
	}
	// Members returns a copy: changing it leaves the directory alone.
	got, err := dir.Members(context.Background(), "network")
	require.NoError(t, err)
	got[0] = "mallory"
	ok, err := dir.IsMember(context.Background(), "network", "ann")
	require.NoError(t, err)
	assert.True(t, ok)
}
