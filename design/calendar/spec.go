package calendar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/at"
	"github.com/rickar/cal/v2/be"
	"github.com/rickar/cal/v2/ca"
	"github.com/rickar/cal/v2/ch"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/dk"
	"github.com/rickar/cal/v2/es"
	"github.com/rickar/cal/v2/fr"
	"github.com/rickar/cal/v2/gb"
	"github.com/rickar/cal/v2/ie"
	"github.com/rickar/cal/v2/it"
	"github.com/rickar/cal/v2/jp"
	"github.com/rickar/cal/v2/nl"
	"github.com/rickar/cal/v2/no"
	"github.com/rickar/cal/v2/nz"
	"github.com/rickar/cal/v2/pl"
	"github.com/rickar/cal/v2/se"
	"github.com/rickar/cal/v2/us"

	"github.com/pillars-itsm/pillars/itsm"
)

// HolidaySet returns the public holidays of a country as github.com/rickar/cal/v2
// computes them, by ISO 3166 code in lower case ("us", "gb", "de", ...), and
// false for a code it does not carry.
func HolidaySet(code string) ([]*cal.Holiday, bool) {
	h, ok := holidaySets[code]
	return h, ok
}

// HolidaySetCodes lists the codes HolidaySet knows, sorted.
func HolidaySetCodes() []string {
	codes := make([]string, 0, len(holidaySets))
	for c := range holidaySets {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}

var holidaySets = map[string][]*cal.Holiday{
	"at": at.Holidays, "be": be.Holidays, "ca": ca.Holidays, "ch": ch.Holidays,
	"de": de.Holidays, "dk": dk.Holidays, "es": es.Holidays, "fr": fr.Holidays,
	"gb": gb.Holidays, "ie": ie.Holidays, "it": it.Holidays, "jp": jp.Holidays,
	"nl": nl.Holidays, "no": no.Holidays, "nz": nz.Holidays, "pl": pl.Holidays,
	"se": se.Holidays, "us": us.Holidays,
}

// Spec is the JSON form of a calendar, as a host keeps it in configuration:
//
//	{"name": "uk-office", "time_zone": "Europe/London",
//	 "hours": {"mon": ["09:00-12:30", "13:30-17:30"], "tue": ["09:00-17:30"]},
//	 "holidays": ["2026-12-24"], "holiday_sets": ["gb"],
//	 "closures": [{"start": "2026-08-03T12:00:00Z", "end": "2026-08-03T17:00:00Z", "reason": "office move"}]}
//
// Weekday keys are sun, mon, tue, wed, thu, fri, sat.
type Spec struct {
	Name        string              `json:"name"`
	TimeZone    string              `json:"time_zone"`
	Hours       map[string][]string `json:"hours"`
	Holidays    []string            `json:"holidays,omitempty"`
	HolidaySets []string            `json:"holiday_sets,omitempty"`
	Closures    []SpecClosure       `json:"closures,omitempty"`
	FromYear    int                 `json:"from_year,omitempty"`
	ToYear      int                 `json:"to_year,omitempty"`
}

// SpecClosure is a closure in a Spec, with RFC 3339 times.
type SpecClosure struct {
	Start  string `json:"start"`
	End    string `json:"end"`
	Reason string `json:"reason,omitempty"`
}

// MaxSpecSize bounds the JSON a Parse accepts.
const MaxSpecSize = 1 << 20

// Parse decodes a JSON Spec (unknown fields, a key given twice and text
// that is not UTF-8 are refused) and compiles it. Every problem matches
// itsm.ErrInvalid and names its field. The spec is at most MaxSpecSize
// bytes and compiles to at most MaxIntervals intervals (see Compile).
func Parse(data []byte) (*Calendar, error) {
	if len(data) > MaxSpecSize {
		return nil, itsm.Invalidf("calendar spec: %d bytes, more than %d", len(data), MaxSpecSize)
	}
	if !utf8.Valid(data) {
		// encoding/json would turn the bad bytes into U+FFFD silently.
		return nil, itsm.Invalidf("calendar spec: not valid UTF-8")
	}
	if field := duplicateKey(data); field != "" {
		return nil, (&itsm.ValidationError{Kind: "calendar"}).Add(field,
			"the key appears twice (keys match case-insensitively); the last would silently win")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, itsm.Invalidf("calendar spec: %v", err)
	}
	if dec.More() {
		return nil, itsm.Invalidf("calendar spec: trailing data after the object")
	}
	cfg, err := s.Config()
	if err != nil {
		return nil, err
	}
	return Compile(cfg)
}

// Config turns the spec into a Config, checking the texts it holds.
func (s Spec) Config() (Config, error) {
	cfg := Config{Name: s.Name, TimeZone: s.TimeZone, FromYear: s.FromYear, ToYear: s.ToYear}
	verr := &itsm.ValidationError{Kind: "calendar", ID: s.Name}
	var seen [7]string
	for key, ranges := range s.Hours {
		wd := slices.Index(weekdayKeys[:], strings.ToLower(key))
		if wd < 0 {
			verr.Add("hours."+key, "not a weekday (sun, mon, tue, wed, thu, fri, sat)")
			continue
		}
		if seen[wd] != "" {
			a, b := min(seen[wd], key), max(seen[wd], key)
			verr.Add("hours."+weekdayKeys[wd], fmt.Sprintf("given twice, as %q and %q", a, b))
			continue
		}
		seen[wd] = key
		for _, r := range ranges {
			rg, err := ParseRange(r)
			if err != nil {
				verr.Add("hours."+key, err.Error())
				continue
			}
			cfg.Week[wd] = append(cfg.Week[wd], rg)
		}
	}
	for i, h := range s.Holidays {
		d, err := ParseDate(h)
		if err != nil {
			verr.Add(fmt.Sprintf("holidays[%d]", i), err.Error())
			continue
		}
		cfg.Holidays = append(cfg.Holidays, d)
	}
	for i, code := range s.HolidaySets {
		set, ok := HolidaySet(strings.ToLower(code))
		if !ok {
			verr.Add(fmt.Sprintf("holiday_sets[%d]", i), fmt.Sprintf("unknown holiday set %q (known: %s)", code, strings.Join(HolidaySetCodes(), ", ")))
			continue
		}
		cfg.HolidaySets = append(cfg.HolidaySets, set...)
	}
	for i, c := range s.Closures {
		a, err1 := time.Parse(time.RFC3339Nano, c.Start)
		b, err2 := time.Parse(time.RFC3339Nano, c.End)
		if err1 != nil || err2 != nil {
			verr.Add(fmt.Sprintf("closures[%d]", i), "start and end must be RFC 3339 times")
			continue
		}
		cfg.Closures = append(cfg.Closures, Closure{Start: a, End: b, Reason: c.Reason})
	}
	return cfg, verr.Err()
}

// duplicateKey returns the path ("hours.mon") of the first object key that
// appears twice in one object of the JSON document data, comparing keys as
// encoding/json matches them to struct fields (case-insensitively), or ""
// when there is none. A document that is not JSON gives "": the decoder
// reports that.
func duplicateKey(data []byte) string {
	type frame struct {
		obj     bool
		wantKey bool
		key     string
		keys    map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(data))
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			top := stack[n-1]
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
			} else if key, ok := tok.(string); ok {
				folded := foldKey(key)
				top.key, top.wantKey = key, false
				if top.keys[folded] {
					path := make([]string, 0, len(stack))
					for _, f := range stack {
						if f.obj {
							path = append(path, f.key)
						}
					}
					return strings.Join(path, ".")
				}
				top.keys[folded] = true
			}
		} else {
			switch tok {
			case json.Delim('{'):
				stack = append(stack, &frame{obj: true, wantKey: true, keys: map[string]bool{}})
			case json.Delim('['):
				stack = append(stack, &frame{})
			case json.Delim(']'):
				stack = stack[:len(stack)-1]
				valueDone()
			default:
				valueDone()
			}
		}
		if len(stack) == 0 {
			return "" // the first value is complete
		}
	}
}

// foldKey folds a key's case as encoding/json matches keys to fields.
func foldKey(k string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, k)
}

// loadLocation loads an IANA zone, refusing the host-dependent "Local".
func loadLocation(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, fmt.Errorf("the host's local zone is not allowed")
	}
	return time.LoadLocation(name)
}

// Spec returns the calendar in its JSON form, as Compile was given it: a
// Spec whose Config compiles to a calendar with the same working time, so
// a calendar declared in code can be kept as data. Holidays from a
// Config's HolidaySets are named by their sets' codes; holidays that are
// not whole sets of HolidaySet have no JSON form, and are ErrInvalid.
func (c *Calendar) Spec() (Spec, error) {
	cfg := c.cfg
	s := Spec{Name: cfg.Name, TimeZone: cfg.TimeZone, FromYear: cfg.FromYear, ToYear: cfg.ToYear, Hours: map[string][]string{}}
	for d, ranges := range cfg.Week {
		for _, r := range ranges {
			s.Hours[weekdayKeys[d]] = append(s.Hours[weekdayKeys[d]], r.Start.String()+"-"+r.End.String())
		}
	}
	for _, d := range cfg.Holidays {
		s.Holidays = append(s.Holidays, d.String())
	}
	codes := HolidaySetCodes()
	for rest := cfg.HolidaySets; len(rest) > 0; {
		i := slices.IndexFunc(codes, func(code string) bool {
			set := holidaySets[code]
			return len(set) > 0 && len(rest) >= len(set) && slices.Equal(rest[:len(set)], set)
		})
		if i < 0 {
			return Spec{}, itsm.Invalidf("calendar %s: its holiday sets are not whole sets of HolidaySet: no JSON form", c.name)
		}
		s.HolidaySets = append(s.HolidaySets, codes[i])
		rest = rest[len(holidaySets[codes[i]]):]
	}
	for _, cl := range cfg.Closures {
		s.Closures = append(s.Closures, SpecClosure{Start: cl.Start.Format(time.RFC3339Nano), End: cl.End.Format(time.RFC3339Nano), Reason: cl.Reason})
	}
	return s, nil
}
