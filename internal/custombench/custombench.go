// Package custombench is the fixture the SQLite and PostgreSQL benchmarks
// of a page on indexed custom fields share: a record kind with custom
// values, its schema as the dictionary makes it, and its documents.
package custombench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Kind is the benchmark's record kind.
const Kind = "request"

// Request is a record kind with custom values, as a host declares its own.
type Request struct {
	itsm.Record
	Title  string      `json:"title"`
	Custom itsm.Values `json:"custom,omitempty"`
}

// Regions returns the values of the indexed enum field region.
func Regions() []string {
	return []string{"emea", "apac", "amer", "latam", "anz", "nordics", "dach", "benelux", "iberia", "india"}
}

// Schema returns the schema of Kind as the dictionary makes it: the
// collection's own fields (number, state, created_at, updated_at), then the
// indexed custom fields region (enum, a string) and cost (decimal at scale
// 2, an integer in cents), with the dictionary's composite index
// region_cost. It fails when the custom fields do not join the schema
// under their own names, in that order.
func Schema() (storage.Schema, *storage.Dictionary, error) {
	dict, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{Kind: {
		Fields: []storage.CustomField{
			{Name: "region", Type: storage.CustomEnum, Values: Regions(), Indexed: true},
			{Name: "cost", Type: storage.CustomDecimal, Scale: 2, Indexed: true},
		},
		Indexes: []storage.CustomIndex{{Name: "region_cost", Fields: []string{"region", "cost"}}},
	}}})
	if err != nil {
		return storage.Schema{}, nil, err
	}
	sch := storage.NewCollection[Request](Kind).WithDictionary(dict).Schema()
	names := make([]string, len(sch.Fields))
	for i, f := range sch.Fields {
		names[i] = f.Name
	}
	if want := []string{"number", "state", "created_at", "updated_at", "region", "cost"}; !slices.Equal(names, want) {
		return storage.Schema{}, nil, fmt.Errorf("custombench: schema fields %v, want %v: indexed custom fields join the schema under their own names", names, want)
	}
	return sch, dict, nil
}

// Doc returns request i, created start+i seconds, with a random region and
// cost; its fields are in the order of Schema's.
func Doc(r *rand.Rand, regions []string, i int, start time.Time) storage.Document {
	id := fmt.Sprintf("r%07d", i)
	region := regions[r.IntN(len(regions))]
	cents := int64(r.IntN(10_000_000))
	at := start.Add(time.Duration(i) * time.Second)
	data := fmt.Sprintf(`{"id":%q,"number":"REQ%07d","state":"new","title":"request %d","custom":{"region":%q,"cost":"%d.%02d"}}`,
		id, i, i, region, cents/100, cents%100)
	return storage.Document{Kind: Kind, ID: id, Version: 1, Data: []byte(data), Fields: []storage.Value{
		storage.String(fmt.Sprintf("REQ%07d", i)), storage.String("new"), storage.Time(at), storage.Time(at),
		storage.String(region), storage.Int(cents)}}
}
