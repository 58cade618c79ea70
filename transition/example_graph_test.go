package transition_test

import (
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

// The graph index is loaded once from the event log and refreshed after
// writes; it answers impact queries exactly as the store does.
func ExampleLoadGraph() {
	ctx := as(admin)
	store := memory.New()
	cmdb, err := transition.NewCMDB(ctx, store, transition.CMDBConfig{})
	if err != nil {
		panic(err)
	}
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	newCI := func(name, class string) string {
		ci := &transition.CI{Name: name, Class: class}
		if err := cmdb.CreateInstalledCI(agent, ci, storage.Command{}); err != nil {
			panic(err)
		}
		return ci.ID
	}
	mail := newCI("E-mail", transition.ClassBusinessService)
	exch := newCI("exchange01", transition.ClassServer)
	if _, err := cmdb.Relate(agent, mail, transition.RelRunsOn, exch, storage.Command{}); err != nil {
		panic(err)
	}
	g, err := transition.LoadGraph(ctx, cmdb)
	if err != nil {
		panic(err)
	}
	san := newCI("san01", transition.ClassStorageDevice)
	if _, err := cmdb.Relate(agent, exch, transition.RelDependsOn, san, storage.Command{}); err != nil {
		panic(err)
	}
	n, err := g.Refresh(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("events applied:", n)
	imp, err := g.Impact(ctx, cmdb, transition.ImpactQuery{CIs: []string{san}, Direction: transition.Upstream})
	if err != nil {
		panic(err)
	}
	fmt.Println("CIs affected:", len(imp.Affected), "services:", imp.Services[0].Name, "at depth", imp.Services[0].Depth)
	st := g.Stats()
	fmt.Println("graph:", st.CIs, "CIs,", st.Relationships, "relationships")
	// Output:
	// events applied: 3
	// CIs affected: 2 services: E-mail at depth 2
	// graph: 3 CIs, 2 relationships
}

// Published articles are found by words and by the prefix being typed.
func ExampleSearchIndex_Search() {
	ctx := as(admin)
	store := memory.New()
	kb, err := transition.NewKnowledge(ctx, store, transition.KnowledgeConfig{})
	if err != nil {
		panic(err)
	}
	author := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	reviewer := itsm.WithActor(ctx, itsm.Actor{ID: "rob", Roles: []string{"agent"}})
	for _, a := range []*transition.Article{
		{Title: "Reset a VPN token", Body: "Use the self-service portal.", OwnedBy: "ann"},
		{Title: "VPN drops every ten minutes", Body: "Lower the MTU of the VPN adapter to 1400.", OwnedBy: "ann"},
		{Title: "Printer jams", Body: "Open tray 2.", OwnedBy: "ann"},
	} {
		if err := kb.Records().Create(author, a, storage.Command{}); err != nil {
			panic(err)
		}
		if _, err := kb.Records().Fire(author, a.ID, transition.ArticleEventSubmit, storage.Command{}, nil); err != nil {
			panic(err)
		}
		if _, err := kb.Records().Fire(reviewer, a.ID, transition.ArticleEventPublish, storage.Command{}, nil); err != nil {
			panic(err)
		}
	}
	idx, err := transition.NewSearchIndex(ctx, store, transition.SearchIndexConfig{})
	if err != nil {
		panic(err)
	}
	hits, err := idx.Search("vpn mt", 10)
	if err != nil {
		panic(err)
	}
	for _, h := range hits {
		fmt.Println(h.Number, h.Title)
	}
	// Output:
	// KB0000002 VPN drops every ten minutes
}
