package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// Seeded is what Seed created, for tests and the start-up message.
type Seeded struct {
	EmailService, NetworkService string // design service ids
	LaptopItem                   string // catalogue item id
	SwitchCI, GatewayCI          string // CMDB CI ids
	FirmwareChange               string // a normal change waiting for the change manager
	PSUChange                    string // collides with the firmware change on the switch
	MigrationChange              string // planned inside the freeze
	FreezeWindow                 string
	Incident                     string // an open incident raised by carl
	TonerArticle, OutlookArticle string // published knowledge articles
	DraftArticle                 string // a knowledge article not yet published
}

// Seed fills an empty store with the demo desk: two services in the
// catalogue, an orderable laptop, two CIs, a freeze window, three changes
// (one awaiting approval, one colliding with it, one planned in the freeze)
// and an open incident. On a store that already has services it does
// nothing and returns false.
func (s *Server) Seed(ctx context.Context) (Seeded, bool, error) {
	var out Seeded
	admin := itsm.WithActor(ctx, itsm.Actor{ID: "admin", Name: "Portal seed", Roles: []string{"admin"}})
	existing, _, err := s.cat.ServicesIn(admin, design.ServiceCatalogue, storage.Paging{Limit: 1})
	if err != nil {
		return out, false, err
	}
	if len(existing) > 0 {
		return out, false, nil
	}
	as := func(id string) context.Context {
		return itsm.WithActor(ctx, s.byID[id].Actor)
	}
	none := storage.Command{}
	now := s.clock.Now().UTC()
	day := now.Truncate(24 * time.Hour)

	email := &design.Service{Name: "Email", Description: "Corporate mail and calendars", Type: design.BusinessService,
		Owner: "olga", SupportGroup: GroupServiceDesk, Criticality: 1}
	network := &design.Service{Name: "Network", Description: "Office LAN, Wi-Fi and VPN", Type: design.TechnicalService,
		Owner: "olga", SupportGroup: GroupNetwork, Criticality: 1}
	for _, svc := range []*design.Service{email, network} {
		if err := s.cat.Services().Create(admin, svc, none); err != nil {
			return out, false, fmt.Errorf("seed service %s: %w", svc.Name, err)
		}
		if _, err := s.cat.Services().Fire(admin, svc.ID, "charter", none, nil); err != nil {
			return out, false, fmt.Errorf("seed service %s: %w", svc.Name, err)
		}
	}
	one, three := 1.0, 3.0
	laptop := &design.CatalogItem{Name: "Laptop", ShortDescription: "A standard or developer laptop, delivered to your desk",
		Category: "hardware", ServiceID: email.ID,
		Fields: []design.FormField{
			{Name: "model", Label: "Model", Type: design.FieldChoice, Required: true, Choices: []string{"standard", "developer"}},
			{Name: "quantity", Label: "Quantity", Type: design.FieldNumber, Required: true, Min: &one, Max: &three},
			{Name: "justification", Label: "Business justification", Type: design.FieldText, Required: true, MaxLength: 200},
		},
		Tasks: []design.TaskTemplate{{Name: "Prepare the laptop", AssignmentGroup: GroupServiceDesk, Order: 1},
			{Name: "Deliver the laptop", AssignmentGroup: GroupServiceDesk, Order: 2}},
		Price: design.Money{Amount: 120000, Currency: "EUR"}}
	if err := s.cat.AddItem(admin, laptop, none); err != nil {
		return out, false, fmt.Errorf("seed item: %w", err)
	}
	if _, err := s.cat.Items().Fire(admin, laptop.ID, "publish", none, nil); err != nil {
		return out, false, fmt.Errorf("seed item: %w", err)
	}

	sw := &transition.CI{Name: "core-switch-1", Class: transition.ClassNetworkDevice, Environment: "production", SupportGroup: GroupNetwork}
	gw := &transition.CI{Name: "mail-gw01", Class: transition.ClassServer, Environment: "production", SupportGroup: GroupServiceDesk}
	for _, ci := range []*transition.CI{sw, gw} {
		if err := s.cmdb.CreateInstalledCI(admin, ci, none); err != nil {
			return out, false, fmt.Errorf("seed CI %s: %w", ci.Name, err)
		}
	}
	freeze := &transition.ChangeWindow{Name: "Year-end freeze", WindowType: transition.WindowFreeze,
		Start: day.AddDate(0, 0, 10), End: day.AddDate(0, 0, 17), Reason: "financial closing"}
	if err := s.changes.CreateWindow(admin, freeze, none); err != nil {
		return out, false, fmt.Errorf("seed freeze: %w", err)
	}

	// The firmware upgrade: assessed and waiting for the change manager.
	start := day.AddDate(0, 0, 2).Add(20 * time.Hour)
	firmware := &transition.Change{ShortDescription: "Upgrade core switch firmware", Type: transition.TypeNormal,
		ServiceID: network.ID, CIIDs: []string{sw.ID}, AssignmentGroup: GroupNetwork, AssignedTo: "rita",
		PlannedStart: start, PlannedEnd: start.Add(2 * time.Hour),
		ImplementationPlan: "Stage the image, reload in the window", BackoutPlan: "Boot the previous image"}
	rita := as("rita")
	if err := s.changes.Create(rita, firmware, none); err != nil {
		return out, false, fmt.Errorf("seed change: %w", err)
	}
	if _, err := s.changes.Fire(rita, firmware.ID, transition.ChangeEventAssess, none, nil); err != nil {
		return out, false, fmt.Errorf("seed change: %w", err)
	}
	if _, _, err := s.changes.AssessRisk(rita, firmware.ID, map[string]string{"outage": "partial", "tested": "yes", "backout": "yes", "done_before": "once"}, storage.Command{}); err != nil {
		return out, false, fmt.Errorf("seed change risk: %w", err)
	}
	if _, err := s.changes.Fire(rita, firmware.ID, transition.ChangeEventAuthorize, none, nil); err != nil {
		return out, false, fmt.Errorf("seed change: %w", err)
	}
	// A power supply swap on the same switch, overlapping: a collision.
	psu := &transition.Change{ShortDescription: "Replace switch power supply", Type: transition.TypeNormal,
		ServiceID: network.ID, CIIDs: []string{sw.ID}, AssignmentGroup: GroupNetwork, AssignedTo: "bob",
		PlannedStart: start.Add(time.Hour), PlannedEnd: start.Add(3 * time.Hour)}
	if err := s.changes.Create(as("bob"), psu, none); err != nil {
		return out, false, fmt.Errorf("seed change: %w", err)
	}
	// A mail gateway migration planned inside the freeze.
	mstart := day.AddDate(0, 0, 12).Add(19 * time.Hour)
	migration := &transition.Change{ShortDescription: "Migrate the mail gateway", Type: transition.TypeNormal,
		ServiceID: email.ID, CIIDs: []string{gw.ID}, PlannedStart: mstart, PlannedEnd: mstart.Add(4 * time.Hour)}
	if err := s.changes.Create(rita, migration, none); err != nil {
		return out, false, fmt.Errorf("seed change: %w", err)
	}

	// Knowledge: two published articles (written by Rita, published by
	// Mia: nobody publishes their own) and a draft.
	articles := []*transition.Article{
		{Title: "Blank or faded pages: replace the toner cartridge", OwnedBy: "rita", Category: "printing",
			Body: "Open the front cover, take out the toner cartridge and put in a new one from the supply room.\nThe first few pages may come out light."},
		{Title: "Outlook asks for the password again and again", OwnedBy: "rita", Category: "email",
			Body: "Close Outlook, open the Credential Manager, remove the saved Office credentials and start Outlook again.\nSign in once when asked."},
		{Title: "Toner suppliers compared (draft)", OwnedBy: "rita", Category: "printing",
			Body: "Internal notes on the blank pages some toner brands give; not for callers yet."},
	}
	for i, a := range articles {
		if err := s.kb.Records().Create(rita, a, none); err != nil {
			return out, false, fmt.Errorf("seed article: %w", err)
		}
		if i == 2 {
			break // the draft stays a draft
		}
		if _, err := s.kb.Records().Fire(rita, a.ID, transition.ArticleEventSubmit, none, nil); err != nil {
			return out, false, fmt.Errorf("seed article: %w", err)
		}
		if _, err := s.kb.Records().Fire(as("mia"), a.ID, transition.ArticleEventPublish, none, nil); err != nil {
			return out, false, fmt.Errorf("seed article: %w", err)
		}
	}

	inc := &operation.Incident{ShortDescription: "Outlook keeps asking for my password", Impact: 2, Urgency: 2,
		ServiceID: email.ID, AssignmentGroup: GroupServiceDesk, ContactType: "self_service"}
	if err := s.desk.OpenIncident(as("carl"), inc, none); err != nil {
		return out, false, fmt.Errorf("seed incident: %w", err)
	}
	return Seeded{EmailService: email.ID, NetworkService: network.ID, LaptopItem: laptop.ID, SwitchCI: sw.ID, GatewayCI: gw.ID,
		FirmwareChange: firmware.ID, PSUChange: psu.ID, MigrationChange: migration.ID, FreezeWindow: freeze.ID, Incident: inc.ID,
		TonerArticle: articles[0].ID, OutlookArticle: articles[1].ID, DraftArticle: articles[2].ID}, true, nil
}
