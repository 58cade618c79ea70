package transition

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// AttrType is the type of a CI class attribute.
type AttrType string

// The attribute types. Values are kept in CI.Attributes in their canonical
// JSON form: strings, int64, float64, bool, and times as RFC 3339 strings in
// UTC.
const (
	AttrString AttrType = "string"
	AttrInt    AttrType = "int"
	AttrFloat  AttrType = "float"
	AttrBool   AttrType = "bool"
	AttrTime   AttrType = "time"
)

// Attribute declares one typed attribute of a CI class (ServiceNow's
// dictionary entry on a cmdb_ci table, iTop's attribute definition).
type Attribute struct {
	Name     string   // lower-case identifier, the key in CI.Attributes
	Type     AttrType // AttrString, AttrInt, AttrFloat, AttrBool or AttrTime
	Required bool     // the attribute must be present
	Choices  []string // for AttrString: the allowed values, empty for free text
}

// Class is a CI class: a name, the class it extends, and the attributes it
// adds. A class inherits every attribute of its ancestors, and a CI of a
// class "is a" CI of each ancestor (a linux_server is a server is hardware).
type Class struct {
	Name       string
	Parent     string // empty only for the root class "ci"
	Label      string // what people call it, "Linux server"
	Attributes []Attribute
}

// The built-in CI classes, ServiceNow's and iTop's common ground. Hosts add
// their own with Classes.Define.
const (
	ClassCI              = "ci"               // the root class
	ClassHardware        = "hardware"         // physical or virtual hardware
	ClassServer          = "server"           // a server (ServiceNow cmdb_ci_server)
	ClassVirtualMachine  = "virtual_machine"  // a virtual machine, a kind of server
	ClassNetworkDevice   = "network_device"   // switch, router, firewall, load balancer
	ClassStorageDevice   = "storage_device"   // SAN, NAS
	ClassApplication     = "application"      // an installed application or middleware
	ClassDatabase        = "database"         // a database instance
	ClassCluster         = "cluster"          // a group of CIs serving as one
	ClassBusinessService = "business_service" // what the business consumes (ServiceNow cmdb_ci_service)
)

// Classes is the CI class model: the built-in classes plus the host's. It is
// safe for concurrent use; a CMDB reads it on every CI write.
type Classes struct {
	mu      sync.RWMutex
	classes map[string]*Class
}

// DefaultClasses returns the built-in class model, ready for a host to
// extend.
func DefaultClasses() *Classes {
	c := &Classes{classes: map[string]*Class{}}
	for _, cl := range []Class{
		{Name: ClassCI, Label: "Configuration item"},
		{Name: ClassHardware, Parent: ClassCI, Label: "Hardware", Attributes: []Attribute{
			{Name: "serial_number", Type: AttrString},
			{Name: "manufacturer", Type: AttrString},
			{Name: "model", Type: AttrString},
			{Name: "location", Type: AttrString},
		}},
		{Name: ClassServer, Parent: ClassHardware, Label: "Server", Attributes: []Attribute{
			{Name: "os", Type: AttrString},
			{Name: "os_version", Type: AttrString},
			{Name: "cpu_count", Type: AttrInt},
			{Name: "ram_mb", Type: AttrInt},
			{Name: "ip_address", Type: AttrString},
			{Name: "fqdn", Type: AttrString},
		}},
		{Name: ClassVirtualMachine, Parent: ClassServer, Label: "Virtual machine", Attributes: []Attribute{
			{Name: "hypervisor", Type: AttrString},
		}},
		{Name: ClassNetworkDevice, Parent: ClassHardware, Label: "Network device", Attributes: []Attribute{
			{Name: "device_type", Type: AttrString, Choices: []string{"switch", "router", "firewall", "load_balancer", "access_point"}},
			{Name: "ports", Type: AttrInt},
			{Name: "ip_address", Type: AttrString},
		}},
		{Name: ClassStorageDevice, Parent: ClassHardware, Label: "Storage device", Attributes: []Attribute{
			{Name: "capacity_gb", Type: AttrFloat},
		}},
		{Name: ClassApplication, Parent: ClassCI, Label: "Application", Attributes: []Attribute{
			{Name: "version", Type: AttrString},
			{Name: "vendor", Type: AttrString},
		}},
		{Name: ClassDatabase, Parent: ClassCI, Label: "Database", Attributes: []Attribute{
			{Name: "engine", Type: AttrString},
			{Name: "version", Type: AttrString},
			{Name: "port", Type: AttrInt},
		}},
		{Name: ClassCluster, Parent: ClassCI, Label: "Cluster", Attributes: []Attribute{
			{Name: "cluster_type", Type: AttrString},
		}},
		{Name: ClassBusinessService, Parent: ClassCI, Label: "Business service", Attributes: []Attribute{
			{Name: "service_classification", Type: AttrString, Choices: []string{"business_service", "technical_service", "shared_service"}},
		}},
	} {
		cl := cl
		c.classes[cl.Name] = &cl
	}
	return c
}

// Define adds a class, or, when a class of that name exists, adds the given
// attributes to it (the host extends a built-in class). It refuses, with
// ErrInvalid, bad names, an unknown parent, a changed parent, an attribute
// declared twice along the class chain, and unknown attribute types.
func (c *Classes) Define(cl Class) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !storage.ValidName(cl.Name) {
		return itsm.Invalidf("ci class %q: name is not a lower-case identifier", cl.Name)
	}
	existing := c.classes[cl.Name]
	if existing != nil && cl.Parent != "" && cl.Parent != existing.Parent {
		return itsm.Invalidf("ci class %s: parent is %q, cannot change it to %q", cl.Name, existing.Parent, cl.Parent)
	}
	if existing == nil {
		if cl.Parent == "" {
			return itsm.Invalidf("ci class %s: a new class needs a parent (the root is %q)", cl.Name, ClassCI)
		}
		if c.classes[cl.Parent] == nil {
			return itsm.Invalidf("ci class %s: unknown parent class %q", cl.Name, cl.Parent)
		}
	}
	parent := cl.Parent
	if existing != nil {
		parent = existing.Parent
	}
	known := map[string]bool{}
	for p := parent; p != ""; p = c.classes[p].Parent {
		for _, a := range c.classes[p].Attributes {
			known[a.Name] = true
		}
	}
	if existing != nil {
		for _, a := range existing.Attributes {
			known[a.Name] = true
		}
	}
	for _, a := range cl.Attributes {
		switch {
		case !storage.ValidName(a.Name):
			return itsm.Invalidf("ci class %s: attribute name %q is not a lower-case identifier", cl.Name, a.Name)
		case known[a.Name]:
			return itsm.Invalidf("ci class %s: attribute %q is already declared on the class or an ancestor", cl.Name, a.Name)
		case !slices.Contains([]AttrType{AttrString, AttrInt, AttrFloat, AttrBool, AttrTime}, a.Type):
			return itsm.Invalidf("ci class %s: attribute %q has unknown type %q", cl.Name, a.Name, a.Type)
		case len(a.Choices) > 0 && a.Type != AttrString:
			return itsm.Invalidf("ci class %s: attribute %q has choices but is not a string", cl.Name, a.Name)
		}
		known[a.Name] = true
	}
	if existing != nil {
		cp := *existing
		cp.Attributes = append(slices.Clone(existing.Attributes), cl.Attributes...)
		if cl.Label != "" {
			cp.Label = cl.Label
		}
		c.classes[cl.Name] = &cp
		return nil
	}
	cp := cl
	cp.Attributes = slices.Clone(cl.Attributes)
	c.classes[cl.Name] = &cp
	return nil
}

// Class returns a copy of the named class and whether it exists.
func (c *Classes) Class(name string) (Class, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cl, ok := c.classes[name]
	if !ok {
		return Class{}, false
	}
	cp := *cl
	cp.Attributes = slices.Clone(cl.Attributes)
	return cp, true
}

// Names returns every class name, sorted.
func (c *Classes) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.classes))
	for n := range c.classes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// IsA reports whether class is ancestor or descends from it.
func (c *Classes) IsA(class, ancestor string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.isA(class, ancestor)
}

func (c *Classes) isA(class, ancestor string) bool {
	for p := class; p != ""; {
		if p == ancestor {
			return true
		}
		cl := c.classes[p]
		if cl == nil {
			return false
		}
		p = cl.Parent
	}
	return false
}

// Descendants returns ancestor and every class that descends from it,
// sorted.
func (c *Classes) Descendants(ancestor string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for n := range c.classes {
		if c.isA(n, ancestor) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Attributes returns every attribute of the class, ancestors' first.
func (c *Classes) Attributes(class string) ([]Attribute, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.attributes(class)
}

func (c *Classes) attributes(class string) ([]Attribute, error) {
	if class == "" {
		return nil, itsm.Invalidf("ci class: a class name is required")
	}
	var chain []*Class
	for p := class; p != ""; {
		cl := c.classes[p]
		if cl == nil {
			return nil, itsm.Invalidf("ci class %q is not defined", class)
		}
		chain = append(chain, cl)
		p = cl.Parent
	}
	var out []Attribute
	for i := len(chain) - 1; i >= 0; i-- {
		out = append(out, chain[i].Attributes...)
	}
	return out, nil
}

// check validates and normalises a CI's class and attributes in place.
func (c *Classes) check(ci *CI, ve *itsm.ValidationError) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	attrs, err := c.attributes(ci.Class)
	if err != nil {
		ve.Add("class", fmt.Sprintf("%q is not a defined CI class", ci.Class))
		return
	}
	decl := make(map[string]Attribute, len(attrs))
	for _, a := range attrs {
		decl[a.Name] = a
		if _, ok := ci.Attributes[a.Name]; a.Required && !ok {
			ve.Add("attributes."+a.Name, "is required for class "+ci.Class)
		}
	}
	for name, v := range ci.Attributes {
		a, ok := decl[name]
		if !ok {
			ve.Add("attributes."+name, "is not an attribute of class "+ci.Class)
			continue
		}
		nv, err := normalizeAttr(a, v)
		if err != nil {
			ve.Add("attributes."+name, err.Error())
			continue
		}
		ci.Attributes[name] = nv
	}
}

// normalizeAttr returns v in the canonical form of the attribute's type.
func normalizeAttr(a Attribute, v any) (any, error) {
	switch a.Type {
	case AttrString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %T", v)
		}
		if len(a.Choices) > 0 && !slices.Contains(a.Choices, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(a.Choices, ", "))
		}
		return s, nil
	case AttrInt:
		switch n := v.(type) {
		case int:
			return int64(n), nil
		case int32:
			return int64(n), nil
		case int64:
			return n, nil
		case float64:
			if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
				return nil, fmt.Errorf("want an integer, got %v", n)
			}
			return int64(n), nil
		case json.Number:
			i, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("want an integer, got %s", n)
			}
			return i, nil
		}
		return nil, fmt.Errorf("want an integer, got %T", v)
	case AttrFloat:
		switch n := v.(type) {
		case int:
			return float64(n), nil
		case int64:
			return float64(n), nil
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				return nil, fmt.Errorf("want a finite number, got %v", n)
			}
			return n, nil
		case json.Number:
			f, err := n.Float64()
			if err != nil {
				return nil, fmt.Errorf("want a number, got %s", n)
			}
			return f, nil
		}
		return nil, fmt.Errorf("want a number, got %T", v)
	case AttrBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %T", v)
		}
		return b, nil
	case AttrTime:
		switch t := v.(type) {
		case time.Time:
			return t.UTC().Format(time.RFC3339Nano), nil
		case string:
			p, err := time.Parse(time.RFC3339Nano, t)
			if err != nil {
				return nil, fmt.Errorf("want an RFC 3339 time, got %q", t)
			}
			return p.UTC().Format(time.RFC3339Nano), nil
		}
		return nil, fmt.Errorf("want a time, got %T", v)
	}
	return nil, fmt.Errorf("unknown attribute type %q", a.Type)
}
