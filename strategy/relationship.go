package strategy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// CustomerKind is the record kind of customers (business units), numbered
// CUST0000001.
const CustomerKind = "customer"

// MaxScores bounds the satisfaction scores one customer record keeps.
const MaxScores = 2000

// Customer is a business unit the provider serves: the services it
// consumes and the satisfaction scores its surveys return, as business
// relationship management keeps them.
type Customer struct {
	itsm.Record
	Name     string              `json:"name"`
	Contact  string              `json:"contact,omitempty"` // the business relationship manager's counterpart
	Services []string            `json:"services,omitempty"`
	Scores   []SatisfactionScore `json:"scores,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// SatisfactionScore is one survey answer: a score from 1 (very
// dissatisfied) to 5 (very satisfied) for one service.
type SatisfactionScore struct {
	ServiceID string    `json:"service_id"`
	Score     int       `json:"score"`
	Survey    string    `json:"survey,omitempty"`
	At        time.Time `json:"at"`
}

// Validate checks the customer's fields.
func (c *Customer) Validate() error {
	v := &itsm.ValidationError{Kind: CustomerKind, ID: c.ID}
	if strings.TrimSpace(c.Name) == "" {
		v.Add("name", "is required")
	}
	checkNames(v, "name", c.Name)
	checkFree(v, "contact", c.Contact)
	for i, id := range c.Services {
		if id == "" || slices.Contains(c.Services[:i], id) {
			v.Add("services", fmt.Sprintf("entry %d is empty or repeated", i+1))
		}
		checkNames(v, fmt.Sprintf("services[%d]", i), id)
	}
	if len(c.Scores) > MaxScores {
		v.Add("scores", fmt.Sprintf("at most %d scores per customer", MaxScores))
	}
	for i, sc := range c.Scores {
		checkFree(v, fmt.Sprintf("scores[%d].survey", i), sc.Survey)
		if sc.Score < 1 || sc.Score > 5 {
			v.Add(fmt.Sprintf("scores[%d]", i), fmt.Sprintf("score %d outside 1..5", sc.Score))
		} else if !slices.Contains(c.Services, sc.ServiceID) {
			v.Add(fmt.Sprintf("scores[%d]", i), fmt.Sprintf("service %s is not consumed by the customer", sc.ServiceID))
		}
	}
	return v.Err()
}

// AddCustomer records a customer; the services it consumes must be in the
// portfolio.
func (s *Strategy) AddCustomer(ctx context.Context, c *Customer, cmd storage.Command) error {
	if c == nil {
		return itsm.Invalidf("%s: nil record", CustomerKind)
	}
	return s.backend.Update(ctx, func(tx storage.Tx) error {
		if err := s.servicesExist(ctx, tx, c.Services); err != nil {
			return err
		}
		return s.customers.CreateTx(ctx, tx, c, cmd)
	})
}

// Consume records that the customer consumes a portfolio service.
func (s *Strategy) Consume(ctx context.Context, customerID, serviceID string, cmd storage.Command) (*Customer, error) {
	var out *Customer
	err := s.backend.Update(ctx, func(tx storage.Tx) error {
		if err := s.servicesExist(ctx, tx, []string{serviceID}); err != nil {
			return err
		}
		var err error
		out, err = s.customers.ChangeTx(ctx, tx, customerID, cmd, func(c *Customer) error {
			if !slices.Contains(c.Services, serviceID) {
				c.Services = append(c.Services, serviceID)
			}
			return nil
		})
		return err
	})
	return out, err
}

// RecordSatisfaction adds a survey score for a service the customer
// consumes, at the clock's now.
func (s *Strategy) RecordSatisfaction(ctx context.Context, customerID, serviceID string, score int, survey string, cmd storage.Command) (*Customer, error) {
	at := itsm.NormalizeTime(s.clock.Now())
	return s.customers.Change(ctx, customerID, cmd, func(c *Customer) error {
		c.Scores = append(c.Scores, SatisfactionScore{ServiceID: serviceID, Score: score, Survey: survey, At: at})
		return nil
	})
}

// Customer returns a customer.
func (s *Strategy) Customer(ctx context.Context, id string) (*Customer, error) {
	return s.customers.Get(ctx, id)
}

// Satisfaction is the mean survey score of one service for a customer.
type Satisfaction struct {
	ServiceID string
	Responses int
	// Mean is the mean score; 0 when there are no responses.
	Mean float64
}

// Satisfaction returns the customer's mean score per consumed service, in
// the order the services were added. Services without answers have
// Responses 0 and Mean 0.
func (c *Customer) Satisfaction() []Satisfaction {
	out := make([]Satisfaction, 0, len(c.Services))
	for _, svc := range c.Services {
		s := Satisfaction{ServiceID: svc}
		sum := 0
		for _, sc := range c.Scores {
			if sc.ServiceID == svc {
				s.Responses++
				sum += sc.Score
			}
		}
		if s.Responses > 0 {
			s.Mean = float64(sum) / float64(s.Responses)
		}
		out = append(out, s)
	}
	return out
}
