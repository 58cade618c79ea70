package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

func changeBase() Schema {
	return Schema{Kind: "ticket",
		Fields:  []Field{{Name: "grp", Type: TypeString}, {Name: "prio", Type: TypeInt}, {Name: "opened", Type: TypeTime}},
		Indexes: []Index{{Name: "queue", Fields: []string{"grp", "prio"}}}}
}

func TestCompareSchemas(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Schema)
		want   SchemaDiff
		err    *SchemaChangeError
	}{
		{name: "same", change: func(*Schema) {}},
		{name: "added field", change: func(s *Schema) { s.Fields = append(s.Fields, Field{Name: "cost", Type: TypeInt}) },
			want: SchemaDiff{AddedFields: []Field{{Name: "cost", Type: TypeInt}}}},
		{name: "removed field and its index", change: func(s *Schema) { s.Fields = s.Fields[1:]; s.Indexes = nil },
			want: SchemaDiff{RemovedFields: []Field{{Name: "grp", Type: TypeString}}, RemovedIndexes: []Index{{Name: "queue", Fields: []string{"grp", "prio"}}}}},
		{name: "reordered", change: func(s *Schema) { s.Fields[0], s.Fields[2] = s.Fields[2], s.Fields[0] },
			want: SchemaDiff{Reordered: true}},
		{name: "added in front is no reorder", change: func(s *Schema) { s.Fields = append([]Field{{Name: "a", Type: TypeTime}}, s.Fields...) },
			want: SchemaDiff{AddedFields: []Field{{Name: "a", Type: TypeTime}}}},
		{name: "index fields changed", change: func(s *Schema) { s.Indexes[0].Fields = []string{"prio", "grp"} },
			want: SchemaDiff{AddedIndexes: []Index{{Name: "queue", Fields: []string{"prio", "grp"}}}, RemovedIndexes: []Index{{Name: "queue", Fields: []string{"grp", "prio"}}}}},
		{name: "composite only", change: func(s *Schema) { s.Fields[1].CompositeOnly = true },
			want: SchemaDiff{OwnIndexChanged: []Field{{Name: "prio", Type: TypeInt, CompositeOnly: true}}}},
		{name: "type change", change: func(s *Schema) { s.Fields[2].Type = TypeInt },
			err: &SchemaChangeError{Kind: "ticket", Field: "opened", From: TypeTime, To: TypeInt}},
		{name: "type change with an addition", change: func(s *Schema) {
			s.Fields = append(s.Fields, Field{Name: "x", Type: TypeInt})
			s.Fields[0].Type = TypeInt
		}, err: &SchemaChangeError{Kind: "ticket", Field: "grp", From: TypeString, To: TypeInt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := changeBase()
			next.Indexes = []Index{{Name: "queue", Fields: []string{"grp", "prio"}}}
			tt.change(&next)
			require.NoError(t, next.Validate())
			got, err := CompareSchemas(changeBase(), next)
			if tt.err != nil {
				require.ErrorIs(t, err, itsm.ErrConflict)
				var sce *SchemaChangeError
				require.True(t, errors.As(err, &sce))
				assert.Equal(t, *tt.err, *sce)
				assert.Contains(t, err.Error(), tt.err.Field)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, next.Equal(changeBase()), got.Empty())
		})
	}
	_, err := CompareSchemas(changeBase(), Schema{Kind: "other"})
	require.ErrorIs(t, err, itsm.ErrInvalid, "another kind")
}

func TestSchemaChangeErrorMessage(t *testing.T) {
	err := &SchemaChangeError{Kind: "incident", Field: "cost", From: TypeInt, To: TypeString}
	assert.Equal(t, `schema incident: conflict: field "cost" is registered as int and cannot become string; declare a field with a new name instead`, err.Error())
}

func TestZeroValueAndConvertFields(t *testing.T) {
	assert.Equal(t, String(""), ZeroValue(TypeString))
	assert.Equal(t, Int(0), ZeroValue(TypeInt))
	assert.True(t, ZeroValue(TypeTime).Time().IsZero())
	assert.Equal(t, Time(time.Time{}), ZeroValue(TypeTime))

	old := changeBase()
	next := Schema{Kind: "ticket", Fields: []Field{{Name: "opened", Type: TypeTime}, {Name: "cost", Type: TypeInt}, {Name: "grp", Type: TypeString}}}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got := ConvertFields(old, next, []Value{String("g"), Int(3), Time(at)})
	assert.Equal(t, []Value{Time(at), Int(0), String("g")}, got, "kept by name, added as zero, removed dropped")
	short := []Value{String("g")}
	assert.Equal(t, short, ConvertFields(old, next, short), "a mismatched slice is returned unchanged")
}

func TestCursorBoundToTenant(t *testing.T) {
	s := changeBase()
	q := Query{Kind: "ticket", Sort: []Sort{{Field: "prio"}}, Limit: 1}
	d := Document{Kind: "ticket", ID: "a", Version: 1, Fields: []Value{String("g"), Int(1), TimeMicros(0)}}
	tests := []struct {
		name          string
		issued, under string
		ok            bool
	}{
		{"same tenant", "acme", "acme", true},
		{"default and empty are one", "", itsm.DefaultTenant, true},
		{"another tenant", "acme", "globex", false},
		{"tenant to default", "acme", itsm.DefaultTenant, false},
		{"default to tenant", itsm.DefaultTenant, "acme", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.CheckQueryFor(tt.issued, q)
			require.NoError(t, err)
			q2 := q
			q2.Cursor = p.NextCursor(d)
			p2, err := s.CheckQueryFor(tt.under, q2)
			if !tt.ok {
				require.ErrorIs(t, err, itsm.ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "a", p2.AfterID)
		})
	}
	// CheckQuery is the default tenant's, and its cursors are unchanged.
	p, err := s.CheckQuery(q)
	require.NoError(t, err)
	assert.Equal(t, itsm.DefaultTenant, p.Tenant)
}
