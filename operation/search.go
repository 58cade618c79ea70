package operation

import "github.com/pillars-itsm/pillars/storage"

// SearchSources returns what storage.NewSearchService searches of the desk:
// incidents (short description, description, resolution notes, comments,
// and work notes as internal text), problems (short description,
// description, root cause, workaround, fix notes) and requests (short
// description, description). Every hit is authorised through the desk's
// records, as their Get is.
func SearchSources(d *Desk) []storage.SearchSource {
	if d == nil {
		return nil
	}
	return []storage.SearchSource{
		storage.TextSource(d.Incidents(), "short_description", "description", "resolution_notes", "comments", "work_notes"),
		storage.TextSource(d.Problems(), "short_description", "description", "root_cause", "workaround", "fix_notes"),
		storage.TextSource(d.Requests(), "short_description", "description"),
	}
}
