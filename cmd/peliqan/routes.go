package main

import (
	"fmt"
	"strings"

	"github.com/peliqan-community/peliqan-go"
)

// routesHelp lists the API routes a command sends, for its help text,
// from the SDK's routes table (peliqan.Routes): method, path and where the
// path comes from. A command on an inferred route says so plainly.
func routesHelp(names []string) string {
	if len(names) == 0 {
		return ""
	}
	byName := map[string]peliqan.RouteInfo{}
	for _, r := range peliqan.Routes() {
		byName[r.Name] = r
	}
	var b strings.Builder
	var inferred []peliqan.RouteInfo
	b.WriteString("\n\nAPI routes (evidence from the SDK's routes table):\n")
	for _, n := range names {
		r, ok := byName[n]
		if !ok {
			// A name missing from the table is a bug in this program: the
			// route constants come from the same table.
			panic(fmt.Sprintf("routesHelp: unknown route %q", n))
		}
		fmt.Fprintf(&b, "  %-6s %s  (%s)\n", r.Method, r.Path, r.Evidence)
		if r.Evidence == "inferred" {
			inferred = append(inferred, r)
		}
	}
	for _, r := range inferred {
		msg := fmt.Sprintf("INFERRED ROUTE: %s %s is our best reading of Peliqan's docs, not confirmed against the service", r.Method, r.Path)
		if r.Note != "" {
			msg += " (" + r.Note + ")"
		}
		b.WriteString("\n" + wrap(msg+". It may be wrong.", 76) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// routePath fills a route's first {param} with id, for dry-run plans.
func routePath(name string, id peliqan.ID) (method, path string) {
	for _, r := range peliqan.Routes() {
		if r.Name != name {
			continue
		}
		p := r.Path
		if i := strings.IndexByte(p, '{'); i >= 0 {
			if j := strings.IndexByte(p[i:], '}'); j >= 0 {
				p = p[:i] + id.String() + p[i+j+1:]
			}
		}
		return r.Method, p
	}
	panic(fmt.Sprintf("routePath: unknown route %q", name))
}

// isInferred reports whether the named route's path is inferred.
func isInferred(name string) bool {
	for _, r := range peliqan.Routes() {
		if r.Name == name {
			return r.Evidence == "inferred"
		}
	}
	return false
}

// wrap breaks s into lines of at most width characters, between words.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		switch {
		case n == 0:
		case n+1+len(w) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
