package main

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/pillars-itsm/pillars/operation"
)

// templateFuncs are the helpers the templates use, showing times in loc
// (the viewer's time zone). html/template escapes every value they return:
// no user string reaches the page unescaped.
func templateFuncs(loc *time.Location) template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(loc).Format("Mon 2 Jan 15:04 MST")
		},
		// day is a calendar day of the KPIs, which count UTC days: it is
		// not moved into the viewer's zone.
		"day":      func(t time.Time) string { return t.UTC().Format("Mon 2 Jan") },
		"priority": operation.PriorityName,
		"label":    func(s string) string { return strings.ReplaceAll(s, "_", " ") },
		"dur": func(d time.Duration) string {
			if d%time.Hour == 0 {
				return fmt.Sprintf("%dh", int(d.Hours()))
			}
			return d.Round(time.Minute).String()
		},
		"state":   stateLabel,
		"group":   groupLabel,
		"perpage": func() int { return perPage },
		"seq": func(from, to int) []int {
			var out []int
			for i := from; i <= to; i++ {
				out = append(out, i)
			}
			return out
		},
		"money": func(minor int64, cur string) string { return fmt.Sprintf("%d.%02d %s", minor/100, minor%100, cur) },
	}
}

// parsePages parses the layout with each page into its own template set,
// with the helpers of templateFuncs in loc and the server's own (extra:
// people's names).
func parsePages(loc *time.Location, extra template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := templateFuncs(loc)
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).Funcs(extra).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("portal: template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// maxZonePages bounds how many time zones' page sets the portal keeps
// parsed; past it the cache starts again (a zone's set parses in about a
// millisecond).
const maxZonePages = 32

// zonePages holds the pages parsed for each time zone in use: a template's
// helpers are fixed when it is parsed, and pages of several zones are
// rendered at once.
type zonePages struct {
	mu    sync.Mutex
	extra template.FuncMap
	byLoc map[string]map[string]*template.Template
}

// of returns the pages that show times in loc, parsing them the first
// time.
func (z *zonePages) of(loc *time.Location) (map[string]*template.Template, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if p, ok := z.byLoc[loc.String()]; ok {
		return p, nil
	}
	p, err := parsePages(loc, z.extra)
	if err != nil {
		return nil, err
	}
	if z.byLoc == nil || len(z.byLoc) >= maxZonePages {
		z.byLoc = map[string]map[string]*template.Template{}
	}
	z.byLoc[loc.String()] = p
	return p, nil
}
