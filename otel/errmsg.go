package peliqanotel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	peliqan "github.com/peliqan-community/peliqan-go"
)

// exception describes err for a span's exception event from its structure
// only: the method, the route's path template, the status, a known error
// code, the innermost cause of a transport failure. Never the error's text:
// the SDK's wrappers may name an external id (a tenant's token fetch does)
// and a server's message may echo what it was sent.
func (in *instruments) exception(err error) (typ, msg string) {
	var (
		ae  *peliqan.APIError
		de  *peliqan.DecodeError
		te  *peliqan.TransportError
		arg *peliqan.ArgumentError
	)
	switch {
	case errors.As(err, &ae):
		msg = fmt.Sprintf("peliqan: %s: %d %s", in.request(ae.Method, ae.Path), ae.StatusCode, http.StatusText(ae.StatusCode))
		if ae.Code.IsKnown() {
			msg += ": " + string(ae.Code)
		}
		return fmt.Sprintf("%T", ae), msg
	case errors.As(err, &de):
		what := "response could not be decoded"
		if errors.Is(de, peliqan.ErrResponseTooLarge) {
			what = "response too large"
		}
		return fmt.Sprintf("%T", de), fmt.Sprintf("peliqan: %s: %d %s", in.request(de.Method, de.Path), de.StatusCode, what)
	case errors.As(err, &te):
		return fmt.Sprintf("%T", te), fmt.Sprintf("peliqan: %s: %s", in.request(te.Method, te.Path), innermost(te.Err))
	case errors.As(err, &arg):
		return fmt.Sprintf("%T", arg), "peliqan: invalid argument " + arg.Name
	case errors.Is(err, context.Canceled):
		return "context.Canceled", context.Canceled.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded", context.DeadlineExceeded.Error()
	}
	return "error", "peliqan: " + peliqan.ErrorKind(err)
}

// request is "METHOD template", or the method alone for a path no route of
// the SDK matches (a Do path may carry anything).
func (in *instruments) request(method, path string) string {
	if t := in.templates.match(method, path); t != "" {
		return method + " " + t
	}
	return method
}

// innermost is the text of the deepest error in err's chain ("connection
// reset by peer", "EOF"): the wrappers above it name the URL.
func innermost(err error) string {
	if err == nil {
		return "no answer"
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// templates matches concrete paths to the SDK's route templates.
type templates []routeTemplate

type routeTemplate struct {
	method, path string
	segs         []string
}

func newTemplates() templates {
	var ts templates
	for _, r := range peliqan.Routes() {
		ts = append(ts, routeTemplate{method: r.Method, path: r.Path, segs: strings.Split(r.Path, "/")})
	}
	return ts
}

// match returns the template of the route method and path belong to, or "".
func (ts templates) match(method, path string) string {
	segs := strings.Split(path, "/")
	for _, t := range ts {
		if t.method == method && segmentsMatch(t.segs, segs) {
			return t.path
		}
	}
	return ""
}

func segmentsMatch(tmpl, segs []string) bool {
	if len(tmpl) != len(segs) {
		return false
	}
	for i, s := range tmpl {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			if segs[i] == "" {
				return false
			}
			continue
		}
		if s != segs[i] {
			return false
		}
	}
	return true
}
