package storage

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pillars-itsm/pillars/itsm"
)

type cloneNote struct {
	Text string
	Tags []string
}

type cloneRec struct {
	itsm.Record
	Title  string
	At     time.Time
	Notes  []cloneNote
	Custom itsm.Values
	Ptr    *cloneNote
	ByName map[string][]string
	Raw    json.RawMessage
	hidden int
}

// A clone shares nothing a command could change with the original.
func TestClonerCopiesDeeply(t *testing.T) {
	orig := &cloneRec{Title: "a", At: time.Unix(5, 0), Notes: []cloneNote{{"n", []string{"x"}}},
		Custom: itsm.Values{"k": json.RawMessage(`"v"`)}, Ptr: &cloneNote{Text: "p"},
		ByName: map[string][]string{"a": {"1"}}, Raw: json.RawMessage(`1`), hidden: 7}
	orig.ID = "id"
	c := newCloner[cloneRec, *cloneRec]().clone(orig)
	assert.Equal(t, orig, c)
	c.Notes[0].Tags[0] = "changed"
	c.Notes = append(c.Notes, cloneNote{Text: "more"})
	c.Custom["k"][1] = 'w'
	c.Custom["new"] = json.RawMessage(`1`)
	c.Ptr.Text = "q"
	c.ByName["a"][0] = "2"
	c.Raw[0] = '2'
	assert.Equal(t, "x", orig.Notes[0].Tags[0])
	assert.Len(t, orig.Notes, 1)
	assert.Equal(t, `"v"`, string(orig.Custom["k"]))
	assert.False(t, orig.Custom.Has("new"))
	assert.Equal(t, "p", orig.Ptr.Text)
	assert.Equal(t, "1", orig.ByName["a"][0])
	assert.Equal(t, "1", string(orig.Raw))
	assert.Nil(t, newCloner[cloneRec, *cloneRec]().clone(&cloneRec{}).Notes, "nil stays nil")
}

// The planned text check finds what validText finds, with the same path.
func TestTextCheckIsValidText(t *testing.T) {
	bad := "a\x00b"
	tests := []struct {
		name string
		rec  cloneRec
	}{
		{"valid", cloneRec{Title: "ok", Notes: []cloneNote{{"n", []string{"x"}}}}},
		{"field", cloneRec{Title: bad}},
		{"embedded", cloneRec{Record: itsm.Record{State: bad}}},
		{"slice element", cloneRec{Notes: []cloneNote{{"ok", nil}, {"ok", []string{"x", "\xff"}}}}},
		{"pointer", cloneRec{Ptr: &cloneNote{Text: bad}}},
		{"map key", cloneRec{ByName: map[string][]string{bad: nil}}},
		{"map value", cloneRec{ByName: map[string][]string{"k": {bad}}}},
		{"custom", cloneRec{Custom: itsm.Values{"k": json.RawMessage(`"\u0000"`)}}},
	}
	check := newTextCheck(reflect.TypeFor[cloneRec]())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantPath, wantOK := validText(reflect.ValueOf(&tt.rec).Elem())
			path, ok := check(reflect.ValueOf(&tt.rec).Elem())
			assert.Equal(t, wantOK, ok)
			assert.Equal(t, wantPath, path)
			assert.Equal(t, tt.name == "valid", ok)
		})
	}
	assert.Nil(t, newTextCheck(reflect.TypeFor[struct{ N int }]()), "no strings, nothing to check")
}
