package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstartTellsTheStory(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	s := out.String()
	for _, want := range []string{
		"stateDiagram-v2",
		"[*] --> new",
		`INC0000001 "VPN drops every ten minutes" is new`,
		"start    -> in_progress",
		"resolve  refused: forbidden: carl may not resolve incident",
		"hold     -> on_hold",
		"resume   -> in_progress",
		`event "resolve" refused in state "in_progress" by guard needs_resolution: resolving requires a resolution code and notes`,
		"errors.Is(err, itsm.ErrInvalidTransition) = true",
		"resolve  -> resolved",
		"chain verified",
		"after editing entry 3: incident",
		"hash does not match content (entry edited)",
	} {
		assert.Contains(t, s, want)
	}
}
