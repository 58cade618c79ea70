package main

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/operation"
)

// funcs are the helpers the templates use. html/template escapes every value
// they return: no user string reaches the page unescaped.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("Mon 2 Jan 15:04 UTC")
	},
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

// parsePages parses the layout with each page into its own template set,
// with the helpers of funcs and the server's own (extra: people's names).
func parsePages(extra template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
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
