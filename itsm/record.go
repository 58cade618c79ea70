package itsm

import "time"

// Record is the part every stored record shares. Pillars embed it in their
// record structs (Incident, Change, ...); the storage layer reads and writes
// it through Meta.
type Record struct {
	ID        string    `json:"id"`
	Number    string    `json:"number,omitempty"`
	State     string    `json:"state,omitempty"`
	Version   int64     `json:"version"`    // optimistic concurrency version, 1 after creation
	Head      string    `json:"head"`       // hash of the record's newest event, see Verify
	CreatedAt time.Time `json:"created_at"` // occurrence time of the creation (backdated on import)
	UpdatedAt time.Time `json:"updated_at"` // occurrence time of the newest event
}

// Meta returns the record itself; it lets generic code reach the shared part
// of any struct that embeds Record.
func (r *Record) Meta() *Record { return r }

// Entity is any record struct embedding Record (through a pointer receiver).
type Entity interface {
	Meta() *Record
}
