package itsm_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

func TestValues(t *testing.T) {
	var v itsm.Values
	assert.False(t, v.Has("a"))
	v.SetString("s", "héllo \"there\"")
	v.SetInt("n", -42)
	v.SetBool("b", true)
	at := time.Date(2026, 11, 2, 9, 0, 0, 123456789, time.FixedZone("x", 3600))
	v.SetTime("t", at)
	v.SetDate("d", at)
	require.NoError(t, v.Set("f", 1.5))
	assert.Error(t, v.Set("bad", make(chan int)))
	v["null"] = json.RawMessage("null")

	s, ok := v.Str("s")
	assert.True(t, ok)
	assert.Equal(t, "héllo \"there\"", s)
	n, ok := v.Int("n")
	assert.True(t, ok)
	assert.Equal(t, int64(-42), n)
	b, ok := v.Bool("b")
	assert.True(t, b && ok)
	tm, ok := v.Time("t")
	assert.True(t, ok)
	assert.Equal(t, time.Date(2026, 11, 2, 8, 0, 0, 123456000, time.UTC), tm)
	d, ok := v.Date("d")
	assert.True(t, ok)
	assert.Equal(t, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), d)
	assert.False(t, v.Has("null"))
	assert.False(t, v.Has("bad"))

	// A getter of another shape, or of a missing name, reports false.
	for _, ok := range []bool{
		func() bool { _, ok := v.Str("n"); return ok }(),
		func() bool { _, ok := v.Int("s"); return ok }(),
		func() bool { _, ok := v.Bool("n"); return ok }(),
		func() bool { _, ok := v.Time("s"); return ok }(),
		func() bool { _, ok := v.Date("t"); return ok }(),
		func() bool { _, ok := v.Str("missing"); return ok }(),
	} {
		assert.False(t, ok)
	}

	c := v.Clone()
	c.SetString("s", "changed")
	c.Delete("n")
	s, _ = v.Str("s")
	assert.Equal(t, "héllo \"there\"", s, "a clone shares nothing")
	assert.True(t, v.Has("n"))
	assert.Nil(t, itsm.Values(nil).Clone())
}
