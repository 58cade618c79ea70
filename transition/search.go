package transition

import "github.com/pillars-itsm/pillars/storage"

// SearchSources returns what storage.NewSearchService searches of changes
// (short description, description, review notes) and knowledge articles
// (title and text); either may be nil. Every hit is authorised through the
// records, as their Get is.
func SearchSources(c *Changes, k *Knowledge) []storage.SearchSource {
	var out []storage.SearchSource
	if c != nil {
		out = append(out, storage.TextSource(c.Records(), "short_description", "description", "review_notes"))
	}
	if k != nil {
		out = append(out, storage.TextSource(k.Records(), "short_description", "text"))
	}
	return out
}
