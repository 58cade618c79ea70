package design

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// The record kinds of the catalogue.
const (
	ServiceKind     = "service"
	OfferingKind    = "service_offering"
	CatalogItemKind = "catalog_item"
)

// Service lifecycle states, shared with the strategy pillar's portfolio:
// a service is proposed in the pipeline, offered from the catalogue, and
// finally retired.
const (
	ServicePipeline  = "pipeline"
	ServiceCatalogue = "catalogue"
	ServiceRetired   = "retired"
)

// Publication states of offerings and catalogue items.
const (
	Draft     = "draft"
	Published = "published"
	Withdrawn = "retired"
)

// ServiceType tells business services (what customers consume) from
// technical ones (what supports them).
type ServiceType string

// The service types.
const (
	BusinessService  ServiceType = "business"
	TechnicalService ServiceType = "technical"
)

// Criticality ranks services by business impact, as ServiceNow's
// business_criticality does: 1 is the most critical, 4 the least.
type Criticality int

// Money is an amount in minor units (cents) of an ISO 4217 currency.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Service is a service of the catalogue (ServiceNow's cmdb_ci_service,
// iTop's Service): its owner, the group that supports it, its criticality,
// and the services it depends on.
type Service struct {
	itsm.Record
	Name               string      `json:"name"`
	Description        string      `json:"description,omitempty"`
	Type               ServiceType `json:"type"`
	Owner              string      `json:"owner"`
	SupportGroup       string      `json:"support_group"`
	Criticality        Criticality `json:"criticality"`
	DependsOn          []string    `json:"depends_on,omitempty"`
	AvailabilityTarget float64     `json:"availability_target,omitempty"` // percent, e.g. 99.9

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the service's fields.
func (s *Service) Validate() error {
	verr := &itsm.ValidationError{Kind: ServiceKind, ID: s.ID}
	checkTexts(verr, "name", s.Name, "owner", s.Owner, "support_group", s.SupportGroup)
	if s.Name == "" {
		verr.Add("name", "is required")
	}
	if s.Type != BusinessService && s.Type != TechnicalService {
		verr.Add("type", fmt.Sprintf("%q is not business or technical", s.Type))
	}
	if s.Owner == "" {
		verr.Add("owner", "is required")
	}
	if s.SupportGroup == "" {
		verr.Add("support_group", "is required")
	}
	if s.Criticality < 1 || s.Criticality > 4 {
		verr.Add("criticality", fmt.Sprintf("%d is outside 1 (most critical)..4", s.Criticality))
	}
	if s.AvailabilityTarget < 0 || s.AvailabilityTarget > 100 || s.AvailabilityTarget != s.AvailabilityTarget {
		verr.Add("availability_target", "must be a percentage within 0..100")
	}
	if slices.Contains(s.DependsOn, s.ID) && s.ID != "" {
		verr.Add("depends_on", "a service cannot depend on itself")
	}
	return verr.Err()
}

// Offering is a packaged level of a service for a set of consumers
// (ServiceNow's service offering): "Email – Gold for executives".
type Offering struct {
	itsm.Record
	ServiceID          string   `json:"service_id"`
	Name               string   `json:"name"`
	Description        string   `json:"description,omitempty"`
	Audience           []string `json:"audience,omitempty"` // groups or companies entitled
	SupportCalendar    string   `json:"support_calendar,omitempty"`
	AvailabilityTarget float64  `json:"availability_target,omitempty"`
	Price              Money    `json:"price"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the offering's fields.
func (o *Offering) Validate() error {
	verr := &itsm.ValidationError{Kind: OfferingKind, ID: o.ID}
	checkTexts(verr, "name", o.Name, "service_id", o.ServiceID, "support_calendar", o.SupportCalendar)
	if o.ServiceID == "" {
		verr.Add("service_id", "is required")
	}
	if o.Name == "" {
		verr.Add("name", "is required")
	}
	if o.AvailabilityTarget < 0 || o.AvailabilityTarget > 100 || o.AvailabilityTarget != o.AvailabilityTarget {
		verr.Add("availability_target", "must be a percentage within 0..100")
	}
	checkMoney(verr, "price", o.Price)
	return verr.Err()
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

func checkMoney(verr *itsm.ValidationError, field string, m Money) {
	if m.Amount < 0 {
		verr.Add(field, "amount must not be negative")
	}
	if m.Amount != 0 && !currencyCode.MatchString(m.Currency) {
		verr.Add(field, fmt.Sprintf("currency %q is not an ISO 4217 code", m.Currency))
	}
}

// FieldType is the type of a form field of a catalogue item.
type FieldType string

// The form field types.
const (
	FieldText   FieldType = "text"
	FieldNumber FieldType = "number"
	FieldBool   FieldType = "bool"
	FieldChoice FieldType = "choice"
	FieldDate   FieldType = "date"
	FieldEmail  FieldType = "email"
)

// FormField is one question a requester answers when ordering an item
// (ServiceNow's variable).
type FormField struct {
	Name      string    `json:"name"`
	Label     string    `json:"label"`
	Type      FieldType `json:"type"`
	Required  bool      `json:"required,omitempty"`
	Choices   []string  `json:"choices,omitempty"`    // choice fields
	Min       *float64  `json:"min,omitempty"`        // number fields
	Max       *float64  `json:"max,omitempty"`        // number fields
	MaxLength int       `json:"max_length,omitempty"` // text fields
	Pattern   string    `json:"pattern,omitempty"`    // text fields, a Go regular expression the whole value must match
}

// TaskTemplate is a fulfilment task an ordered item creates, in Order
// (tasks of the same order run in parallel).
type TaskTemplate struct {
	Name            string `json:"name"`
	AssignmentGroup string `json:"assignment_group"`
	Order           int    `json:"order"`
}

// CatalogItem is what can be ordered from the catalogue (ServiceNow's
// sc_cat_item, Jira Service Management's request type): the form to fill,
// whether it needs approval and from whom, and the fulfilment tasks it
// creates. An ordered item is the operation pillar's request_item.
type CatalogItem struct {
	itsm.Record
	Name             string      `json:"name"`
	ShortDescription string      `json:"short_description,omitempty"`
	Category         string      `json:"category,omitempty"`
	ServiceID        string      `json:"service_id"`
	OfferingID       string      `json:"offering_id,omitempty"`
	Fields           []FormField `json:"fields,omitempty"`
	ApprovalRequired bool        `json:"approval_required"`
	ApproverGroup    string      `json:"approver_group,omitempty"`
	// RequiredApprovals is how many members of the approver group must
	// approve (0 means 1).
	RequiredApprovals int            `json:"required_approvals,omitempty"`
	Tasks             []TaskTemplate `json:"tasks,omitempty"`
	Price             Money          `json:"price"`
	DeliveryTime      time.Duration  `json:"delivery_time,omitempty"` // business time promised

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

var fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Validate checks the item and its form definition.
func (c *CatalogItem) Validate() error {
	verr := &itsm.ValidationError{Kind: CatalogItemKind, ID: c.ID}
	checkTexts(verr, "name", c.Name, "category", c.Category, "service_id", c.ServiceID, "offering_id", c.OfferingID,
		"approver_group", c.ApproverGroup)
	if c.Name == "" {
		verr.Add("name", "is required")
	}
	if c.ServiceID == "" {
		verr.Add("service_id", "is required")
	}
	if c.ApprovalRequired && c.ApproverGroup == "" {
		verr.Add("approver_group", "is required when approval is required")
	}
	if c.RequiredApprovals < 0 {
		verr.Add("required_approvals", "must not be negative")
	}
	if c.DeliveryTime < 0 {
		verr.Add("delivery_time", "must not be negative")
	}
	checkMoney(verr, "price", c.Price)
	seen := map[string]bool{}
	for i, f := range c.Fields {
		key := fmt.Sprintf("fields[%d]", i)
		switch {
		case !fieldName.MatchString(f.Name):
			verr.Add(key, fmt.Sprintf("name %q is not a lower-case identifier", f.Name))
		case seen[f.Name]:
			verr.Add(key, fmt.Sprintf("name %q is used twice", f.Name))
		}
		seen[f.Name] = true
		switch f.Type {
		case FieldText:
			if f.Pattern != "" {
				if _, err := regexp.Compile(f.Pattern); err != nil {
					verr.Add(key, fmt.Sprintf("pattern does not compile: %v", err))
				}
			}
		case FieldChoice:
			if len(f.Choices) == 0 {
				verr.Add(key, "a choice field needs choices")
			}
		case FieldNumber:
			if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
				verr.Add(key, "min is above max")
			}
		case FieldBool, FieldDate, FieldEmail:
		default:
			verr.Add(key, fmt.Sprintf("type %q is not text, number, bool, choice, date or email", f.Type))
		}
	}
	for i, t := range c.Tasks {
		if t.Name == "" || t.AssignmentGroup == "" {
			verr.Add(fmt.Sprintf("tasks[%d]", i), "name and assignment group are required")
		}
	}
	return verr.Err()
}

// CheckOrder validates the answers of an order against the item's form:
// required fields, types, choices, bounds, lengths and patterns, and no
// answer to a question the form does not ask. Problems are reported per
// field as "variables.<name>".
func (c *CatalogItem) CheckOrder(values map[string]string) error {
	who := c.Number
	if who == "" {
		who = c.ID
	}
	verr := &itsm.ValidationError{Kind: CatalogItemKind, ID: who}
	for name := range values {
		if !slices.ContainsFunc(c.Fields, func(f FormField) bool { return f.Name == name }) {
			verr.Add("variables."+name, "the form has no such field")
		}
	}
	for _, f := range c.Fields {
		key := "variables." + f.Name
		v, ok := values[f.Name]
		if !ok || v == "" {
			if f.Required {
				verr.Add(key, "is required")
			}
			continue
		}
		switch f.Type {
		case FieldText:
			if f.MaxLength > 0 && len([]rune(v)) > f.MaxLength {
				verr.Add(key, fmt.Sprintf("is longer than %d characters", f.MaxLength))
			} else if f.Pattern != "" {
				re, err := regexp.Compile(`^(?:` + f.Pattern + `)$`)
				if err != nil || !re.MatchString(v) {
					verr.Add(key, fmt.Sprintf("does not match %s", f.Pattern))
				}
			}
		case FieldNumber:
			n, err := strconv.ParseFloat(v, 64)
			switch {
			case err != nil || n != n:
				verr.Add(key, fmt.Sprintf("%q is not a number", v))
			case f.Min != nil && n < *f.Min:
				verr.Add(key, fmt.Sprintf("is below %g", *f.Min))
			case f.Max != nil && n > *f.Max:
				verr.Add(key, fmt.Sprintf("is above %g", *f.Max))
			}
		case FieldBool:
			if _, err := strconv.ParseBool(v); err != nil {
				verr.Add(key, fmt.Sprintf("%q is not true or false", v))
			}
		case FieldChoice:
			if !slices.Contains(f.Choices, v) {
				verr.Add(key, fmt.Sprintf("%q is not one of %v", v, f.Choices))
			}
		case FieldDate:
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				verr.Add(key, fmt.Sprintf("%q is not a date (YYYY-MM-DD)", v))
			}
		case FieldEmail:
			if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
				verr.Add(key, fmt.Sprintf("%q is not an email address", v))
			}
		}
	}
	return verr.Err()
}

// CatalogueConfig configures a Catalogue.
type CatalogueConfig struct {
	Clock      itsm.Clock      // system clock when nil
	Authorizer itsm.Authorizer // itsm.DefaultAuthorizer() when nil
	// Dictionary declares the host's custom fields on services, offerings and
	// catalogue items, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// Catalogue manages services, offerings and catalogue items. Each is a
// record kind with its own lifecycle run through storage.Records, so every
// change is one domain event.
type Catalogue struct {
	services  *storage.Records[Service, *Service]
	offerings *storage.Records[Offering, *Offering]
	items     *storage.Records[CatalogItem, *CatalogItem]
}

// ServiceLifecycle is the default service lifecycle, with the strategy
// pillar's portfolio names: pipeline -charter-> catalogue, retire from
// either to retired, revive from retired back to the pipeline.
func ServiceLifecycle() *itsm.Lifecycle[*Service] {
	return itsm.NewLifecycle[*Service](ServiceKind).
		Initial(ServicePipeline).States(ServiceCatalogue, ServiceRetired).
		Event("charter", ServiceCatalogue, ServicePipeline).
		Event("retire", ServiceRetired, ServicePipeline, ServiceCatalogue).
		Event("revive", ServicePipeline, ServiceRetired)
}

func publication[T any](kind string) *itsm.Lifecycle[T] {
	return itsm.NewLifecycle[T](kind).
		Initial(Draft).States(Published).Final(Withdrawn).
		Event("publish", Published, Draft).
		Event("unpublish", Draft, Published).
		Event("retire", Withdrawn, Draft, Published)
}

// NewCatalogue registers the catalogue's kinds with the backend.
func NewCatalogue(ctx context.Context, b storage.Backend, cfg CatalogueConfig) (*Catalogue, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("catalogue: context and backend are required")
	}
	rc := storage.RecordsConfig{Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry}
	sm, err := ServiceLifecycle().Compile()
	if err != nil {
		return nil, err
	}
	svcColl := storage.NewCollection[Service](ServiceKind,
		storage.StringField("type", func(s *Service) string { return string(s.Type) }),
		storage.StringField("support_group", func(s *Service) string { return s.SupportGroup }),
		storage.StringField("name", func(s *Service) string { return s.Name }),
	).WithIndex("by_state_name", "state", "name").WithDictionary(cfg.Dictionary)
	if err := svcColl.Register(ctx, b); err != nil {
		return nil, err
	}
	// Services go unnumbered, as in ServiceNow's cmdb_ci_service (the
	// strategy pillar's portfolio entries carry the SVC numbers).
	c := &Catalogue{}
	if c.services, err = storage.NewRecords(b, svcColl, sm, rc); err != nil {
		return nil, err
	}
	om, err := publication[*Offering](OfferingKind).Compile()
	if err != nil {
		return nil, err
	}
	offColl := storage.NewCollection[Offering](OfferingKind,
		storage.StringField("service_id", func(o *Offering) string { return o.ServiceID })).WithDictionary(cfg.Dictionary)
	if err := offColl.Register(ctx, b); err != nil {
		return nil, err
	}
	rc.Prefix = "SOF"
	if c.offerings, err = storage.NewRecords(b, offColl, om, rc); err != nil {
		return nil, err
	}
	im, err := publication[*CatalogItem](CatalogItemKind).Compile()
	if err != nil {
		return nil, err
	}
	itemColl := storage.NewCollection[CatalogItem](CatalogItemKind,
		storage.StringField("service_id", func(i *CatalogItem) string { return i.ServiceID }),
		storage.StringField("category", func(i *CatalogItem) string { return i.Category }),
		storage.StringField("name", func(i *CatalogItem) string { return i.Name }),
	).WithIndex("by_state_category_name", "state", "category", "name").WithDictionary(cfg.Dictionary)
	if err := itemColl.Register(ctx, b); err != nil {
		return nil, err
	}
	rc.Prefix = "CAT"
	if c.items, err = storage.NewRecords(b, itemColl, im, rc); err != nil {
		return nil, err
	}
	return c, nil
}

// Services returns the command runner of services (create, fire charter /
// retire / revive, change, history).
func (c *Catalogue) Services() *storage.Records[Service, *Service] { return c.services }

// Offerings returns the command runner of offerings.
func (c *Catalogue) Offerings() *storage.Records[Offering, *Offering] { return c.offerings }

// Items returns the command runner of catalogue items.
func (c *Catalogue) Items() *storage.Records[CatalogItem, *CatalogItem] { return c.items }

// AddOffering creates an offering of an existing, not retired service.
func (c *Catalogue) AddOffering(ctx context.Context, o *Offering, cmd storage.Command) error {
	if o == nil {
		return itsm.Invalidf("%s: nil record", OfferingKind)
	}
	if err := c.liveService(ctx, o.ServiceID, OfferingKind); err != nil {
		return err
	}
	return c.offerings.Create(ctx, o, cmd)
}

// AddItem creates a catalogue item of an existing, not retired service
// (and offering of that service, when it names one).
func (c *Catalogue) AddItem(ctx context.Context, it *CatalogItem, cmd storage.Command) error {
	if it == nil {
		return itsm.Invalidf("%s: nil record", CatalogItemKind)
	}
	if err := c.liveService(ctx, it.ServiceID, CatalogItemKind); err != nil {
		return err
	}
	if it.OfferingID != "" {
		o, err := c.offerings.Get(ctx, it.OfferingID)
		if err != nil {
			return (&itsm.ValidationError{Kind: CatalogItemKind}).Add("offering_id", fmt.Sprintf("offering %q: %v", it.OfferingID, err))
		}
		if o.ServiceID != it.ServiceID {
			return (&itsm.ValidationError{Kind: CatalogItemKind}).Add("offering_id", "the offering belongs to another service")
		}
	}
	return c.items.Create(ctx, it, cmd)
}

func (c *Catalogue) liveService(ctx context.Context, id, kind string) error {
	if id == "" {
		return (&itsm.ValidationError{Kind: kind}).Add("service_id", "is required")
	}
	s, err := c.services.Get(ctx, id)
	if err != nil {
		return (&itsm.ValidationError{Kind: kind}).Add("service_id", fmt.Sprintf("service %q: %v", id, err))
	}
	if s.State == ServiceRetired {
		return (&itsm.ValidationError{Kind: kind}).Add("service_id", fmt.Sprintf("service %q is retired", s.Name))
	}
	return nil
}

// ServiceState returns a service's lifecycle state (pipeline, catalogue,
// retired): what the strategy pillar's portfolio reads.
func (c *Catalogue) ServiceState(ctx context.Context, serviceID string) (string, error) {
	s, err := c.services.Get(ctx, serviceID)
	if err != nil {
		return "", err
	}
	return s.State, nil
}

// ServicesIn lists the services in a lifecycle state by name, one page at a
// time.
func (c *Catalogue) ServicesIn(ctx context.Context, state string, p storage.Paging) ([]*Service, string, error) {
	if !slices.Contains(c.services.Machine().States(), state) {
		return nil, "", (&itsm.ValidationError{Kind: ServiceKind}).Add("state", fmt.Sprintf("%.64q is not a service state", state))
	}
	return c.services.Query(ctx, storage.Query{Filters: []storage.Filter{storage.Eq("state", storage.String(state))},
		Sort: []storage.Sort{{Field: "name"}}, Limit: p.Limit, Cursor: p.Cursor})
}

// PublishedItems lists the published items of a category by name, one
// page at a time; an empty category lists every published item by
// category, then name. Both run on an index (state, category, name). An
// item is orderable when Orderable also finds its service in the
// catalogue.
func (c *Catalogue) PublishedItems(ctx context.Context, category string, p storage.Paging) ([]*CatalogItem, string, error) {
	q := storage.Query{Filters: []storage.Filter{storage.Eq("state", storage.String(Published))},
		Sort: []storage.Sort{{Field: "category"}, {Field: "name"}}, Limit: p.Limit, Cursor: p.Cursor}
	if category != "" {
		q.Filters = append(q.Filters, storage.Eq("category", storage.String(category)))
		q.Sort = []storage.Sort{{Field: "name"}}
	}
	return c.items.Query(ctx, q)
}

// The getters below are what the operation pillar reads when it raises a
// request: they take and return plain values, so operation declares them in
// its own interface without importing this package.

// Orderable returns nil when the item is published and its service is in
// the catalogue, and an error matching ErrInvalid (or ErrNotFound) naming
// the reason otherwise.
func (c *Catalogue) Orderable(ctx context.Context, itemID string) error {
	it, err := c.items.Get(ctx, itemID)
	if err != nil {
		return err
	}
	if it.State != Published {
		return itsm.Invalidf("%s %s is %s, not published", CatalogItemKind, it.Number, it.State)
	}
	s, err := c.services.Get(ctx, it.ServiceID)
	if err != nil {
		return err
	}
	if s.State != ServiceCatalogue {
		return itsm.Invalidf("%s %s: service %q is %s, not in the catalogue", CatalogItemKind, it.Number, s.Name, s.State)
	}
	return nil
}

// ValidateOrder checks an order's answers against the item's form.
func (c *Catalogue) ValidateOrder(ctx context.Context, itemID string, values map[string]string) error {
	it, err := c.items.Get(ctx, itemID)
	if err != nil {
		return err
	}
	return it.CheckOrder(values)
}

// ItemApproval tells whether ordering the item needs approval, and by which
// group.
func (c *Catalogue) ItemApproval(ctx context.Context, itemID string) (required bool, approverGroup string, err error) {
	it, err := c.items.Get(ctx, itemID)
	if err != nil {
		return false, "", err
	}
	return it.ApprovalRequired, it.ApproverGroup, nil
}

// ItemApprovals returns how many approvals from the approver group the item
// needs: 0 when it needs none.
func (c *Catalogue) ItemApprovals(ctx context.Context, itemID string) (group string, count int, err error) {
	it, err := c.items.Get(ctx, itemID)
	if err != nil || !it.ApprovalRequired {
		return "", 0, err
	}
	return it.ApproverGroup, max(it.RequiredApprovals, 1), nil
}

// ItemService returns the service (and offering, if any) an item belongs
// to, which the request records as service_id.
func (c *Catalogue) ItemService(ctx context.Context, itemID string) (serviceID, offeringID string, err error) {
	it, err := c.items.Get(ctx, itemID)
	if err != nil {
		return "", "", err
	}
	return it.ServiceID, it.OfferingID, nil
}

// ItemTasks returns the fulfilment tasks an ordered item creates, sorted by
// order: parallel slices of task names, assignment groups and orders.
func (c *Catalogue) ItemTasks(ctx context.Context, itemID string) (names, groups []string, orders []int, err error) {
	it, err := c.items.Get(ctx, itemID)
	if err != nil {
		return nil, nil, nil, err
	}
	tasks := slices.Clone(it.Tasks)
	slices.SortStableFunc(tasks, func(a, b TaskTemplate) int { return a.Order - b.Order })
	for _, t := range tasks {
		names = append(names, t.Name)
		groups = append(groups, t.AssignmentGroup)
		orders = append(orders, t.Order)
	}
	return names, groups, orders, nil
}
