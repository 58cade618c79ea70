package operation

import (
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
)

// Priorities run from 1 (critical) to 5 (planning), as in ServiceNow.
const (
	PriorityCritical = 1
	PriorityHigh     = 2
	PriorityModerate = 3
	PriorityLow      = 4
	PriorityPlanning = 5
)

// PriorityName returns the label of a priority ("1 - Critical"), or "" for
// a value outside 1..5.
func PriorityName(p int) string {
	names := [...]string{"", "1 - Critical", "2 - High", "3 - Moderate", "4 - Low", "5 - Planning"}
	if p < 1 || p > 5 {
		return ""
	}
	return names[p]
}

// PriorityMatrix derives priority from impact and urgency. Impact and urgency
// run from 1 (highest) to the matrix's size; every cell is a priority 1..5.
// A matrix is immutable once built and safe for concurrent use.
type PriorityMatrix struct {
	cells [][]int // cells[impact-1][urgency-1]
}

// NewPriorityMatrix builds a matrix from its rows: cells[i][u] is the
// priority for impact i+1 and urgency u+1. Every row must have the same
// length and every cell must lie in 1..5; otherwise the error matches
// itsm.ErrInvalid.
func NewPriorityMatrix(cells [][]int) (*PriorityMatrix, error) {
	if len(cells) == 0 || len(cells) > 9 || len(cells[0]) == 0 || len(cells[0]) > 9 {
		return nil, itsm.Invalidf("priority matrix: want 1..9 impact rows of 1..9 urgency cells")
	}
	out := make([][]int, len(cells))
	for i, row := range cells {
		if len(row) != len(cells[0]) {
			return nil, itsm.Invalidf("priority matrix: impact row %d has %d cells, want %d", i+1, len(row), len(cells[0]))
		}
		for u, p := range row {
			if p < 1 || p > 5 {
				return nil, itsm.Invalidf("priority matrix: impact %d urgency %d gives priority %d, want 1..5", i+1, u+1, p)
			}
		}
		out[i] = append([]int(nil), row...)
	}
	return &PriorityMatrix{cells: out}, nil
}

// DefaultPriorityMatrix returns the common 3×3 matrix: impact and urgency
// 1 (high), 2 (medium), 3 (low) giving priorities 1 (critical) to 5
// (planning).
//
//	            urgency 1  2  3
//	impact 1            1  2  3
//	impact 2            2  3  4
//	impact 3            3  4  5
func DefaultPriorityMatrix() *PriorityMatrix {
	return &PriorityMatrix{cells: [][]int{{1, 2, 3}, {2, 3, 4}, {3, 4, 5}}}
}

// Impacts returns the number of impact levels: 0 for a matrix not built by
// NewPriorityMatrix or DefaultPriorityMatrix.
func (m *PriorityMatrix) Impacts() int {
	if m == nil {
		return 0
	}
	return len(m.cells)
}

// Urgencies returns the number of urgency levels: 0 for a matrix not built
// by NewPriorityMatrix or DefaultPriorityMatrix.
func (m *PriorityMatrix) Urgencies() int {
	if m.Impacts() == 0 {
		return 0
	}
	return len(m.cells[0])
}

// Priority returns the priority for impact and urgency, or a
// *itsm.ValidationError naming the value out of range (every value, for
// an empty matrix).
func (m *PriorityMatrix) Priority(impact, urgency int) (int, error) {
	ve := &itsm.ValidationError{Kind: KindIncident}
	if impact < 1 || impact > m.Impacts() {
		ve.Add("impact", fmt.Sprintf("%d is not a known impact (1..%d)", impact, m.Impacts()))
	}
	if urgency < 1 || urgency > m.Urgencies() {
		ve.Add("urgency", fmt.Sprintf("%d is not a known urgency (1..%d)", urgency, m.Urgencies()))
	}
	if err := ve.Err(); err != nil {
		return 0, err
	}
	return m.cells[impact-1][urgency-1], nil
}
