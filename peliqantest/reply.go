package peliqantest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// call is one authenticated request on its way through a handler.
type call struct {
	s      *Fake
	r      *http.Request
	route  routes.Route
	params []string
	query  url.Values
	body   []byte
	base   string // scheme://host, for next/previous links
	now    time.Time
	acct   *account
	claims *claims
	waited bool // the handler already asked for its one server-side wait
	// started is the run a blocking sync started before its wait, so the
	// second pass answers for it instead of starting another.
	started *pipelineRun
}

// reply is a handler's answer, built before anything is written so a fault
// can mangle it.
type reply struct {
	status      int
	body        []byte
	contentType string
	header      http.Header
	// wait asks the dispatcher to release the lock, wait this long, and run
	// the handler once more (status routes with a timeout).
	wait time.Duration
}

type handlerFunc func(*call) reply

// handlers maps every route of the table to its handler; a test checks that
// none is missing.
var handlers map[string]handlerFunc

func init() {
	handlers = map[string]handlerFunc{}
	for _, m := range []map[string]handlerFunc{partnerHandlers(), serverHandlers(), dataHandlers(), lookupHandlers(), scriptHandlers()} {
		for k, v := range m {
			// A handler may be written ahead of its row in the routes table
			// (a route another branch adds); it serves once the row exists.
			if _, ok := routes.Lookup(k); ok {
				handlers[k] = v
			}
		}
	}
}

// ok answers with the route's own success code and v as JSON.
func (c *call) ok(v any) reply {
	if c.route.Success == http.StatusNoContent {
		return reply{status: http.StatusNoContent}
	}
	return jsonReply(c.route.Success, v)
}

func jsonReply(status int, v any) reply {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return detail(http.StatusInternalServerError, "peliqantest: encoding the answer: "+err.Error())
	}
	return reply{status: status, body: bytes.TrimSuffix(buf.Bytes(), []byte("\n"))}
}

// detail is Django REST framework's plain error: {"detail": "..."}.
func detail(status int, msg string) reply {
	return jsonReply(status, map[string]string{"detail": msg})
}

// notFound is DRF's answer for a missing object, also used for another
// tenant's objects (scope errors surface as 404 at Peliqan).
func notFound() reply { return detail(http.StatusNotFound, "Not found.") }

// fieldErrors is DRF's validation error: {"field": ["message"]}.
func fieldErrors(kv ...string) reply {
	m := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return jsonReply(http.StatusBadRequest, m)
}

func required(field string) reply { return fieldErrors(field, "This field is required.") }

// peliqanError is Peliqan's service error: an "error" code and a "detail"
// that is a Python tuple rendered as a string, carrying a TraceId.
func (c *call) peliqanError(status int, code, msg string) reply {
	return jsonReply(status, map[string]string{
		"error":  code,
		"detail": tupleDetail(code, msg, c.s.st.traceID()),
	})
}

// tupleDetail renders "({'error': 'CODE', 'message': 'msg'}, 'TraceId: id')".
func tupleDetail(code, msg, trace string) string {
	return fmt.Sprintf("({'error': %s, 'message': %s}, 'TraceId: %s')", pyString(code), pyString(msg), trace)
}

// pyString renders s as Python's repr would (single quotes).
func pyString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

func writeReply(w http.ResponseWriter, rep reply) {
	for k, vs := range rep.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if rep.status == http.StatusNoContent {
		w.WriteHeader(rep.status)
		return
	}
	ct := rep.contentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// decodeBody reads a JSON object body; an empty body is an empty object.
func (c *call) decodeBody(v any) (reply, bool) {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return reply{}, true
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return detail(http.StatusBadRequest, "JSON parse error - "+err.Error()), false
	}
	return reply{}, true
}

// idParam reads the n-th path parameter as a positive integer id. Django's
// <int:id> converters 404 on anything else.
func (c *call) idParam(n int) (int64, bool) {
	if n >= len(c.params) {
		return 0, false
	}
	id, err := strconv.ParseInt(c.params[n], 10, 64)
	return id, err == nil && id > 0
}

// intQuery reads a positive integer query parameter; def when absent.
func (c *call) intQuery(name string, def int) (int, bool) {
	v := c.query.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

func boolQuery(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// pageParams reads page and per_page (or page_size) for the {data, next}
// lists (defaults 1 and 10, as Peliqan's own client sends).
func (c *call) pageParams() (page, per int, bad reply, ok bool) {
	page, ok1 := c.intQuery("page", 1)
	perKey := "per_page"
	if c.query.Get(perKey) == "" && c.query.Get("page_size") != "" {
		perKey = "page_size" // some of Peliqan's own tooling sends this
	}
	per, ok2 := c.intQuery(perKey, 10)
	if !ok1 || page < 1 {
		return 0, 0, fieldErrors("page", "A valid positive integer is required."), false
	}
	if !ok2 || per < 1 || per > 1000 {
		return 0, 0, fieldErrors("per_page", "Ensure this value is between 1 and 1000."), false
	}
	return page, per, reply{}, true
}

// dataPage is a {data, next} list: next is the following page number, or
// null on the last page.
type dataPage struct {
	Data any  `json:"data"`
	Next *int `json:"next"`
}

// pageOf slices items for the {data, next} lists.
func pageOf[T any](items []T, page, per int) dataPage {
	start := (page - 1) * per
	if start > len(items) {
		start = len(items)
	}
	end := min(start+per, len(items))
	p := dataPage{Data: items[start:end]}
	if p.Data == nil || end == start {
		p.Data = []T{}
	}
	if end < len(items) {
		n := page + 1
		p.Next = &n
	}
	return p
}

// kv is one member of an ordered JSON object.
type kv struct {
	k string
	v any
}

// object is a JSON object that keeps its member order (rows read better
// with "id" first and the fields in table order).
type object []kv

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// timeFormat is how Django REST framework renders datetimes.
const timeFormat = "2006-01-02T15:04:05.000000Z"

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }

func tsPtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := ts(t)
	return &s
}
