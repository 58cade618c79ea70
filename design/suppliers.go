package design

import (
	"context"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// The record kinds of supplier management.
const (
	SupplierKind = "supplier"
	ContractKind = "contract"
)

// Contract states.
const (
	ContractDraft      = "draft"
	ContractActive     = "active"
	ContractExpired    = "expired"
	ContractTerminated = "terminated"
)

// Supplier is an external party the services depend on (ServiceNow's
// core_company with vendor set, iTop's Provider organisation).
type Supplier struct {
	itsm.Record
	Name     string `json:"name"`
	Contact  string `json:"contact,omitempty"`
	Category string `json:"category,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the supplier's fields.
func (s *Supplier) Validate() error {
	verr := &itsm.ValidationError{Kind: SupplierKind, ID: s.ID}
	checkTexts(verr, "name", s.Name, "contact", s.Contact, "category", s.Category)
	if s.Name == "" {
		verr.Add("name", "is required")
	}
	return verr.Err()
}

// Contract is an agreement with a supplier: its term, the notice needed to
// renew or end it, the underpinning contracts (UC definitions of the SLA
// engine) it carries and the services it supports.
type Contract struct {
	itsm.Record
	SupplierID     string        `json:"supplier_id"`
	Name           string        `json:"name"`
	Start          time.Time     `json:"start"`
	End            time.Time     `json:"end"`
	RenewalNotice  time.Duration `json:"renewal_notice"` // how long before End the decision is due
	RenewalDueAt   time.Time     `json:"renewal_due_at"` // End - RenewalNotice, kept for the index
	Underpinning   []string      `json:"underpinning_contracts,omitempty"`
	ServiceIDs     []string      `json:"service_ids,omitempty"`
	Value          Money         `json:"value"`
	RenewalCount   int           `json:"renewal_count,omitempty"`
	TerminatedNote string        `json:"terminated_note,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the contract's fields and keeps RenewalDueAt in step.
func (c *Contract) Validate() error {
	verr := &itsm.ValidationError{Kind: ContractKind, ID: c.ID}
	checkTexts(verr, "name", c.Name, "supplier_id", c.SupplierID)
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"start", c.Start}, {"end", c.End}} {
		if p := timeProblem(t.at); !t.at.IsZero() && p != "" {
			verr.Add(t.name, p)
		}
	}
	if c.SupplierID == "" {
		verr.Add("supplier_id", "is required")
	}
	if c.Name == "" {
		verr.Add("name", "is required")
	}
	if c.Start.IsZero() || c.End.IsZero() || !c.End.After(c.Start) {
		verr.Add("end", "start and end are required, end after start")
	}
	if c.RenewalNotice < 0 || (!c.End.IsZero() && !c.Start.IsZero() && c.RenewalNotice > c.End.Sub(c.Start)) {
		verr.Add("renewal_notice", "must lie within the contract's term")
	}
	checkMoney(verr, "value", c.Value)
	if err := verr.Err(); err != nil {
		return err
	}
	c.RenewalDueAt = c.End.Add(-c.RenewalNotice).UTC()
	return nil
}

// Suppliers manages suppliers and their contracts.
type Suppliers struct {
	suppliers *storage.Records[Supplier, *Supplier]
	contracts *storage.Records[Contract, *Contract]
}

// SuppliersConfig configures Suppliers. The zero value works. Suppliers
// are numbered SUP…, contracts CNTR….
type SuppliersConfig struct {
	Clock      itsm.Clock      // tells the time of events; the system clock when nil
	Authorizer itsm.Authorizer // checks every command; itsm.DefaultAuthorizer() when nil
	// Retries is how many times a command re-reads a record and tries again
	// after a version conflict (0: storage.Records' default of 3; negative
	// disables).
	Retries int
	// Dictionary declares the host's custom fields on suppliers and contracts, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// NewSuppliers registers the supplier and contract kinds.
func NewSuppliers(ctx context.Context, b storage.Backend, cfg SuppliersConfig) (*Suppliers, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("suppliers: context and backend are required")
	}
	sm, err := itsm.NewLifecycle[*Supplier](SupplierKind).
		Initial("active").States("inactive").
		Event("deactivate", "inactive", "active").Event("activate", "active", "inactive").
		Compile()
	if err != nil {
		return nil, err
	}
	scoll := storage.NewCollection[Supplier](SupplierKind,
		storage.StringField("name", func(s *Supplier) string { return s.Name })).WithDictionary(cfg.Dictionary)
	if err := scoll.Register(ctx, b); err != nil {
		return nil, err
	}
	cm, err := itsm.NewLifecycle[*Contract](ContractKind).
		Initial(ContractDraft).States(ContractActive).Final(ContractExpired, ContractTerminated).
		Event("activate", ContractActive, ContractDraft).
		Event("renew", ContractActive, ContractActive).
		Event("expire", ContractExpired, ContractActive).
		Event("terminate", ContractTerminated, ContractDraft, ContractActive).
		Compile()
	if err != nil {
		return nil, err
	}
	ccoll := storage.NewCollection[Contract](ContractKind,
		storage.StringField("supplier_id", func(c *Contract) string { return c.SupplierID }),
		storage.TimeField("renewal_due_at", func(c *Contract) time.Time { return c.RenewalDueAt }),
	).WithIndex("by_state_renewal", "state", "renewal_due_at").WithDictionary(cfg.Dictionary)
	if err := ccoll.Register(ctx, b); err != nil {
		return nil, err
	}
	s := &Suppliers{}
	rc := storage.RecordsConfig{Prefix: "SUP", Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry, Retries: cfg.Retries}
	if s.suppliers, err = storage.NewRecords(b, scoll, sm, rc); err != nil {
		return nil, err
	}
	rc.Prefix = "CNTR"
	if s.contracts, err = storage.NewRecords(b, ccoll, cm, rc); err != nil {
		return nil, err
	}
	return s, nil
}

// Suppliers returns the command runner of suppliers.
func (s *Suppliers) Suppliers() *storage.Records[Supplier, *Supplier] { return s.suppliers }

// Contracts returns the command runner of contracts.
func (s *Suppliers) Contracts() *storage.Records[Contract, *Contract] { return s.contracts }

// AddContract creates a contract with an existing supplier.
func (s *Suppliers) AddContract(ctx context.Context, c *Contract, cmd storage.Command) error {
	if c == nil {
		return itsm.Invalidf("%s: nil record", ContractKind)
	}
	if c.SupplierID != "" {
		if _, err := s.suppliers.Get(ctx, c.SupplierID); err != nil {
			return (&itsm.ValidationError{Kind: ContractKind}).Add("supplier_id", fmt.Sprintf("supplier %q: %v", c.SupplierID, err))
		}
	}
	return s.contracts.Create(ctx, c, cmd)
}

// Renew extends an active contract to a new end (the renewal event).
func (s *Suppliers) Renew(ctx context.Context, id string, newEnd time.Time, cmd storage.Command) (*Contract, error) {
	return s.contracts.Fire(ctx, id, "renew", cmd, func(c *Contract) error {
		if !newEnd.After(c.End) {
			return (&itsm.ValidationError{Kind: ContractKind, ID: c.ID}).Add("end", "a renewal must move the end later")
		}
		c.End = newEnd.UTC()
		c.RenewalCount++
		return nil
	})
}

// DueForRenewal lists active contracts whose renewal decision is due by
// now (end minus notice), earliest first, by the (state, renewal_due_at)
// index.
func (s *Suppliers) DueForRenewal(ctx context.Context, now time.Time, p storage.Paging) ([]*Contract, string, error) {
	return s.contracts.Query(ctx, storage.Query{Filters: []storage.Filter{
		storage.Eq("state", storage.String(ContractActive)),
		storage.Lte("renewal_due_at", storage.Time(now))},
		Sort: []storage.Sort{{Field: "renewal_due_at"}}, Limit: p.Limit, Cursor: p.Cursor})
}
