package transition

import (
	"fmt"
	"slices"
	"sort"

	"github.com/pillars-itsm/pillars/itsm"
)

// RiskOption is one answer to a risk question and the points it scores.
type RiskOption struct {
	Value string
	Label string
	Score int
}

// RiskQuestion is one question of the risk questionnaire.
type RiskQuestion struct {
	ID       string
	Text     string
	Options  []RiskOption
	Optional bool // may be left unanswered (scores 0)
}

// RiskModel is the host's risk assessment: a questionnaire whose answers
// score points, plus points for every business service the change impacts
// according to the CMDB (by the service's business criticality), mapped to
// a risk level by thresholds.
type RiskModel struct {
	Questions []RiskQuestion
	// ServicePoints gives the points per impacted business service by its
	// business criticality (1 most critical .. 4; 0 unset).
	ServicePoints map[int64]int
	// MaxImpactPoints caps the points the CMDB impact adds.
	MaxImpactPoints int
	// Thresholds are the scores at or above which a change is moderate,
	// high and very high risk; below the first it is low.
	Moderate, High, VeryHigh int
}

// DefaultRiskModel returns a questionnaire in the manner of ServiceNow's
// risk assessment.
func DefaultRiskModel() *RiskModel {
	return &RiskModel{
		Questions: []RiskQuestion{
			{ID: "outage", Text: "Will the change cause a service outage?", Options: []RiskOption{
				{Value: "none", Label: "No outage", Score: 0},
				{Value: "partial", Label: "Degraded or partial outage", Score: 3},
				{Value: "full", Label: "Full outage", Score: 6}}},
			{ID: "tested", Text: "Has the change been tested in a production-like environment?", Options: []RiskOption{
				{Value: "yes", Label: "Yes", Score: 0},
				{Value: "partly", Label: "Partly", Score: 2},
				{Value: "no", Label: "No", Score: 4}}},
			{ID: "backout", Text: "Is there a tested back-out plan?", Options: []RiskOption{
				{Value: "yes", Label: "Yes", Score: 0},
				{Value: "untested", Label: "Yes, untested", Score: 1},
				{Value: "no", Label: "No", Score: 4}}},
			{ID: "done_before", Text: "Has this change been done successfully before?", Options: []RiskOption{
				{Value: "often", Label: "Many times", Score: 0},
				{Value: "once", Label: "Once or twice", Score: 1},
				{Value: "never", Label: "Never", Score: 3}}},
		},
		ServicePoints:   map[int64]int{0: 1, 1: 4, 2: 3, 3: 2, 4: 1},
		MaxImpactPoints: 8,
		Moderate:        4, High: 9, VeryHigh: 14,
	}
}

// Check validates the model: unique question ids, each with options, and
// increasing thresholds.
func (m *RiskModel) Check() error {
	ve := &itsm.ValidationError{Kind: "risk model"}
	seen := map[string]bool{}
	for _, q := range m.Questions {
		if q.ID == "" || seen[q.ID] {
			ve.Add("questions", fmt.Sprintf("question id %q is empty or repeated", q.ID))
		}
		seen[q.ID] = true
		if len(q.Options) == 0 {
			ve.Add("questions."+q.ID, "has no options")
		}
	}
	if m.MaxImpactPoints < 0 {
		ve.Add("max_impact_points", fmt.Sprintf("%d is negative", m.MaxImpactPoints))
	}
	if !(0 < m.Moderate && m.Moderate < m.High && m.High < m.VeryHigh) {
		ve.Add("thresholds", fmt.Sprintf("want 0 < moderate (%d) < high (%d) < very high (%d)", m.Moderate, m.High, m.VeryHigh))
	}
	return ve.Err()
}

// RiskAssessment is a scored questionnaire.
type RiskAssessment struct {
	Risk           string   // low, moderate, high, very_high
	Score          int      // question points plus impact points
	QuestionPoints int      // from the questionnaire
	ImpactPoints   int      // from the impacted business services
	Services       []string // the impacted business service CIs, sorted
}

// Assess scores the answers (question id → option value) and the business
// services impacted. Unknown questions, unknown options and missing
// answers to required questions are ErrInvalid, naming each.
func (m *RiskModel) Assess(answers map[string]string, services []AffectedService) (RiskAssessment, error) {
	ve := &itsm.ValidationError{Kind: "risk assessment"}
	var out RiskAssessment
	for id := range answers {
		if !slices.ContainsFunc(m.Questions, func(q RiskQuestion) bool { return q.ID == id }) {
			ve.Add(id, "is not a question of the risk model")
		}
	}
	for _, q := range m.Questions {
		a, ok := answers[q.ID]
		if !ok {
			if !q.Optional {
				ve.Add(q.ID, "is not answered")
			}
			continue
		}
		i := slices.IndexFunc(q.Options, func(o RiskOption) bool { return o.Value == a })
		if i < 0 {
			ve.Add(q.ID, fmt.Sprintf("%q is not one of its options", a))
			continue
		}
		out.QuestionPoints += q.Options[i].Score
	}
	if err := ve.Err(); err != nil {
		return RiskAssessment{}, err
	}
	for _, s := range services {
		out.ImpactPoints += m.ServicePoints[s.BusinessCriticality]
		out.Services = append(out.Services, s.ID)
	}
	if m.MaxImpactPoints > 0 {
		out.ImpactPoints = min(out.ImpactPoints, m.MaxImpactPoints)
	}
	sort.Strings(out.Services)
	out.Score = out.QuestionPoints + out.ImpactPoints
	switch {
	case out.Score >= m.VeryHigh:
		out.Risk = RiskVeryHigh
	case out.Score >= m.High:
		out.Risk = RiskHigh
	case out.Score >= m.Moderate:
		out.Risk = RiskModerate
	default:
		out.Risk = RiskLow
	}
	return out, nil
}
