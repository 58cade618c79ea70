package transition

import (
	"context"
	"fmt"
	"slices"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Template states and events: a template is drafted, approved once by the
// CAB (which pre-approves every standard change made from it), and retired.
const (
	TemplateDraft        = "draft"
	TemplateApproved     = "approved"
	TemplateRetired      = "retired"
	TemplateEventApprove = "approve"
	TemplateEventRetire  = "retire"
)

// ChangeTemplate is a pre-approved standard change (ServiceNow's standard
// change template): a low-risk, routine change whose plans are fixed.
type ChangeTemplate struct {
	itsm.Record
	Name               string `json:"name"`
	ShortDescription   string `json:"short_description"`
	Description        string `json:"description,omitempty"`
	Category           string `json:"category,omitempty"`
	AssignmentGroup    string `json:"assignment_group,omitempty"`
	Risk               string `json:"risk"`
	ImplementationPlan string `json:"implementation_plan"`
	BackoutPlan        string `json:"backout_plan"`
	TestPlan           string `json:"test_plan,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the template's fields: a standard change is low or
// moderate risk and has its plans written down.
func (t *ChangeTemplate) Validate() error {
	ve := &itsm.ValidationError{Kind: KindChangeTemplate, ID: t.ID}
	checkFields(ve, t)
	if t.Name == "" {
		ve.Add("name", "is required")
	}
	if t.ShortDescription == "" {
		ve.Add("short_description", "is required")
	}
	if !slices.Contains([]string{RiskLow, RiskModerate}, t.Risk) {
		ve.Add("risk", fmt.Sprintf("%q: a standard change is low or moderate risk", t.Risk))
	}
	if t.ImplementationPlan == "" {
		ve.Add("implementation_plan", "is required")
	}
	if t.BackoutPlan == "" {
		ve.Add("backout_plan", "is required")
	}
	return ve.Err()
}

// TemplateLifecycle returns the template lifecycle: draft → approved →
// retired (a draft may be retired too).
func TemplateLifecycle() *itsm.Lifecycle[*ChangeTemplate] {
	return itsm.NewLifecycle[*ChangeTemplate](KindChangeTemplate).
		Initial(TemplateDraft).States(TemplateApproved).Final(TemplateRetired).
		Event(TemplateEventApprove, TemplateApproved, TemplateDraft).
		Event(TemplateEventRetire, TemplateRetired, TemplateDraft, TemplateApproved)
}

// TemplateCollection declares how templates are stored, indexed by name.
func TemplateCollection() *storage.Collection[ChangeTemplate, *ChangeTemplate] {
	return storage.NewCollection[ChangeTemplate](KindChangeTemplate,
		storage.StringField("name", func(t *ChangeTemplate) string { return t.Name }))
}

// CreateTemplate drafts a standard change template.
func (m *Changes) CreateTemplate(ctx context.Context, t *ChangeTemplate, cmd storage.Command) error {
	return m.templates.Create(ctx, t, cmd)
}

// FireTemplate applies approve or retire to a template.
func (m *Changes) FireTemplate(ctx context.Context, id, event string, cmd storage.Command) (*ChangeTemplate, error) {
	if err := needEvent(KindChangeTemplate, id, event); err != nil {
		return nil, err
	}
	return m.templates.Fire(ctx, id, event, cmd, nil)
}

// CreateStandard raises a standard change from an approved template: the
// template's descriptions, plans and risk are copied, and the change is
// pre-approved (no CAB). c carries what the requester adds: affected CIs,
// planned window, service, assignee.
func (m *Changes) CreateStandard(ctx context.Context, templateID string, c *Change, cmd storage.Command) error {
	if c == nil || ctx == nil {
		return itsm.Invalidf("change: nil change or context")
	}
	t, err := m.templates.Get(ctx, templateID)
	if err != nil {
		return err
	}
	if t.State != TemplateApproved {
		return (&itsm.ValidationError{Kind: KindChange}).Add("template_id", fmt.Sprintf("template %s is %s, not approved", t.Number, t.State))
	}
	c.Type, c.TemplateID, c.Risk = TypeStandard, t.ID, t.Risk
	c.Approval, c.Approvals = ApprovalApproved, nil
	if c.ShortDescription == "" {
		c.ShortDescription = t.ShortDescription
	}
	if c.Description == "" {
		c.Description = t.Description
	}
	if c.Category == "" {
		c.Category = t.Category
	}
	if c.AssignmentGroup == "" {
		c.AssignmentGroup = t.AssignmentGroup
	}
	c.ImplementationPlan, c.BackoutPlan, c.TestPlan = t.ImplementationPlan, t.BackoutPlan, t.TestPlan
	return m.create(ctx, c, cmd)
}
