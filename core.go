package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/internal/wire"
)

const levelInfo = slog.LevelInfo

// core is the one request/response engine every method goes through: it
// builds the URL from the routes table, authenticates, sends through the
// retry layer, maps failures to typed errors and decodes the answer. It is
// immutable after construction; clients that share a transport share a core
// value copied with another token source.
type core struct {
	base        string // scheme://host[/base-path], escaped, no trailing slash
	rc          *retryablehttp.Client
	policy      RetryPolicy
	logger      *slog.Logger
	userAgent   string
	timeout     time.Duration
	maxResponse int64
	tokens      tokenSource
	hook        *CallHook // nil: no hook, and no cost
	limiter     Limiter   // nil: requests are not paced
	host        string    // the base URL's host and port, for a hook
	port        int
}

// withTokens returns a copy of c that authenticates with ts; the transport,
// retry layer and options are shared.
func (c *core) withTokens(ts tokenSource) *core {
	cp := *c
	cp.tokens = ts
	return &cp
}

// call is one API operation, described by a route from the table.
type call struct {
	route  *routes.Route
	params []string   // path parameters, in template order
	query  url.Values // may be nil
	body   any        // nil, []byte/json.RawMessage (sent as is), or a value encoded as JSON
	out    any        // nil, *[]byte / *json.RawMessage (raw), or a pointer decoded from JSON
	// decode, when set, replaces out: it gets the whole success body.
	decode func([]byte) error
	// stream, when set, gets the success response with its body unread and
	// must consume it; the core closes it afterwards.
	stream func(*http.Response) error
	// resp, when set, is filled like a WithResponse option (without the
	// option's cost, for the SDK's own methods).
	resp *Response
}

// callState is the per-call state the retry layer and the attempt transport
// read from the request context. It is that context itself: the caller's
// context, with the state as its stateKey value (one allocation fewer per
// request than context.WithValue).
type callState struct {
	context.Context // the caller's, set by send

	method, path string
	retry        bool
	no429Retry   bool    // a 429 goes back to the caller at once (withoutRateLimitRetry)
	limiter      Limiter // waited for before each attempt
	sideEffect   bool
	buffer       bool
	timeout      time.Duration
	maxBody      int64
	attempts     int
	maybeApplied bool // an attempt failed in a way the server may have acted on

	// Only with a CallHook: what the Attempt hook is told, and the waits.
	hook      *CallHook
	info      CallInfo
	lastEnd   time.Time
	retryWait time.Duration
}

type stateKey struct{}

// Value answers stateKey with the state and anything else from the
// caller's context.
func (st *callState) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return st
	}
	return st.Context.Value(key)
}

func stateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(stateKey{}).(*callState)
	return st
}

// Response describes the HTTP exchange behind a call. Ask for it with
// WithResponse.
type Response struct {
	StatusCode int
	Header     http.Header
	Method     string
	Path       string
	// Attempts counts the requests sent for the call: retries and a token
	// refresh replay included.
	Attempts int
	// Duration is the whole call, back-off waits included.
	Duration time.Duration
}

// RequestOption changes one call. Every method takes them last.
type RequestOption func(*callOptions) error

type callOptions struct {
	header     http.Header
	resps      []*Response
	noRetry    bool
	no429Retry bool
	timeout    time.Duration
}

// WithHeader adds a header to one call. Authorization, Host, Content-Length
// and User-Agent are set by the client and refused here.
func WithHeader(key, value string) RequestOption {
	return func(o *callOptions) error {
		if !validHeaderName(key) {
			return invalidArg("header", "%q is not a valid header name", key)
		}
		k := http.CanonicalHeaderKey(key)
		switch k {
		case "Authorization", "Host", "Content-Length", "User-Agent", "Transfer-Encoding":
			return invalidArg("header", "%q cannot be set per call", key)
		}
		if !validHeaderValue(value) {
			return invalidArg("header", "the value of %q has control characters", key)
		}
		if o.header == nil {
			o.header = http.Header{}
		}
		o.header.Add(k, value)
		return nil
	}
}

// validHeaderName reports whether name is an RFC 9110 token: no spaces,
// separators, control or non-ASCII characters.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether value has no control characters other
// than horizontal tab (so it can neither split a header nor be refused by
// net/http after a request was already counted as sent).
func validHeaderValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// WithResponse fills *r with the status, headers, attempts and duration of
// the call, on success and on API errors alike.
func WithResponse(r *Response) RequestOption {
	return func(o *callOptions) error {
		if r == nil {
			return invalidArg("WithResponse", "nil *Response")
		}
		o.resps = append(o.resps, r)
		return nil
	}
}

// WithoutRetry sends the call once whatever the client's RetryPolicy. Use it
// with Do for a GET you know triggers work on the server.
func WithoutRetry() RequestOption {
	return func(o *callOptions) error { o.noRetry = true; return nil }
}

// WithAttemptTimeout overrides the client's per-attempt timeout (WithTimeout)
// for one call; 0 means no per-attempt timeout (the context still bounds it).
func WithAttemptTimeout(d time.Duration) RequestOption {
	return func(o *callOptions) error {
		if d < 0 {
			return invalidArg("WithAttemptTimeout", "negative duration %s", d)
		}
		o.timeout = d
		return nil
	}
}

func applyCallOptions(opts []RequestOption) (callOptions, error) {
	if len(opts) == 0 {
		return callOptions{timeout: -1}, nil // before co: options make it escape
	}
	co := callOptions{timeout: -1}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&co); err != nil {
			return co, err
		}
	}
	return co, nil
}

// request is a call resolved to the wire: method, escaped path, query, body.
type request struct {
	route      *routes.Route // nil for a Do path the SDK does not know
	method     string
	path       string // escaped, starts with "/"
	rawQuery   string
	body       []byte
	hasBody    bool
	retry      bool
	sideEffect bool
}

// doInto runs cl and decodes its success body into a new T: the shape of
// every "get/create/update one object" method.
func doInto[T any](ctx context.Context, c *core, cl *call, opts []RequestOption) (*T, error) {
	out := new(T)
	cl.out = out
	if err := c.do(ctx, cl, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// do runs a call from the routes table.
func (c *core) do(ctx context.Context, cl *call, opts []RequestOption) error {
	co, err := applyCallOptions(opts)
	if err != nil {
		return err
	}
	path, err := cl.route.Expand(cl.params...)
	if err != nil {
		return &ArgumentError{Name: "path", Reason: strings.TrimPrefix(err.Error(), routes.ErrBadParam.Error()+": ")}
	}
	req := request{route: cl.route, method: cl.route.Method, path: path, retry: cl.route.Retry, sideEffect: cl.route.SideEffect}
	if len(cl.query) > 0 {
		req.rawQuery = cl.query.Encode()
	}
	if cl.body != nil {
		if req.body, err = encodeBody(cl.body); err != nil {
			return err
		}
		req.hasBody = true
	}
	return c.exec(ctx, &req, &co, cl)
}

func encodeBody(body any) ([]byte, error) {
	switch b := body.(type) {
	case []byte:
		return b, nil
	case json.RawMessage:
		return b, nil
	case io.Reader:
		return io.ReadAll(b)
	}
	data, err := wire.Marshal(body)
	if err != nil {
		return nil, invalidArg("body", "cannot be encoded as JSON: %v", err)
	}
	return data, nil
}

// exec runs one call, told to the client's CallHook when it has one.
func (c *core) exec(ctx context.Context, req *request, co *callOptions, cl *call) error {
	if ctx == nil {
		return invalidArg("ctx", "nil context")
	}
	if c.hook == nil {
		return c.run(ctx, req, co, cl, nil)
	}
	info := c.callInfo(req)
	if c.hook.Start != nil {
		if hctx := c.hook.Start(ctx, info); hctx != nil {
			ctx = hctx
		}
	}
	start := time.Now()
	var res CallResult
	res.Err = c.run(ctx, req, co, cl, &res)
	if c.hook.End != nil {
		res.Duration = time.Since(start)
		c.hook.End(ctx, info, res)
	}
	return res.Err
}

// run sends req with the client's token, replays it once with a fresh token
// after a 401 when the token source can refresh, and hands the answer to cl.
// With a hook, res gets the figures the hook is told.
func (c *core) run(ctx context.Context, req *request, co *callOptions, cl *call, res *CallResult) error {
	start := time.Now()
	tok, err := c.tokens.token(ctx)
	if err != nil {
		return err
	}
	st := c.newState(req, co, cl)
	resp, err := c.send(ctx, req, co, st, tok)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		// A request answered 401 was not acted on: replaying it once with a
		// fresh token is safe for every route, side-effect GETs included.
		fresh, rerr := c.tokens.refresh(ctx, tok)
		switch {
		case rerr == nil:
			drainClose(resp.Body)
			prev := st
			st = c.newState(req, co, cl)
			st.attempts, st.retryWait = prev.attempts, prev.retryWait
			resp, err = c.send(ctx, req, co, st, fresh)
			tok = fresh
			if res != nil {
				res.TokenRefreshed = true
			}
		case !errors.Is(rerr, errNoRefresh):
			drainClose(resp.Body)
			return rerr
		}
	}
	if res != nil {
		res.Attempts, res.RetryWait = st.attempts, st.retryWait
		if resp != nil {
			res.StatusCode = resp.StatusCode
		}
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		c.logFailed(ctx, req, st.attempts, err)
		if errors.Is(err, errBodyTooLarge) {
			return &DecodeError{Method: req.method, Path: req.path, StatusCode: http.StatusOK, Err: ErrResponseTooLarge}
		}
		return &TransportError{Method: req.method, Path: req.path, Attempts: st.attempts, Err: unwrapURLError(err)}
	}
	defer drainClose(resp.Body)
	if len(co.resps) > 0 || (cl != nil && cl.resp != nil) {
		r := Response{StatusCode: resp.StatusCode, Header: resp.Header, Method: req.method,
			Path: req.path, Attempts: st.attempts, Duration: time.Since(start)}
		for _, p := range co.resps {
			*p = r
		}
		if cl != nil && cl.resp != nil {
			*cl.resp = r
		}
	}
	c.logDone(ctx, req, resp.StatusCode, st.attempts, start)
	status := resp.StatusCode
	if status == http.StatusNotFound && req.method == http.MethodDelete && st.attempts > 1 && st.maybeApplied {
		// An earlier attempt may have deleted it; the retry's 404 is the
		// outcome the caller asked for.
		return nil
	}
	if status < 200 || status > 299 {
		return c.apiError(req, resp, st, tok)
	}
	return c.decodeSuccess(req, resp, cl)
}

func (c *core) newState(req *request, co *callOptions, cl *call) *callState {
	st := &callState{
		method: req.method, path: req.path,
		retry:      req.retry && !co.noRetry,
		sideEffect: req.sideEffect,
		buffer:     cl == nil || cl.stream == nil,
		timeout:    c.timeout,
		maxBody:    c.maxResponse,
		hook:       c.hook,
		limiter:    c.limiter,
		no429Retry: co.no429Retry,
	}
	if c.hook != nil {
		st.info = c.callInfo(req)
	}
	if co.timeout >= 0 {
		st.timeout = co.timeout
	}
	return st
}

// send is one pass through the retry layer.
func (c *core) send(ctx context.Context, req *request, co *callOptions, st *callState, tok string) (*http.Response, error) {
	u := c.base + req.path
	if req.rawQuery != "" {
		u += "?" + req.rawQuery
	}
	var body any
	if req.hasBody {
		body = req.body
	}
	st.Context = ctx
	rreq, err := retryablehttp.NewRequestWithContext(st, req.method, u, body)
	if err != nil {
		return nil, invalidArg("path", "cannot build request: %v", err)
	}
	h := rreq.Header
	for k, vs := range co.header {
		h[k] = vs
	}
	// The client's headers share one backing array (as Header.Clone does):
	// one allocation, not one per header.
	vals := make([]string, 0, 4)
	set := func(key, value string) {
		vals = append(vals, value)
		h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set("Authorization", "JWT "+tok)
	set("User-Agent", c.userAgent)
	if h.Get("Accept") == "" {
		set("Accept", "application/json")
	}
	if req.hasBody && h.Get("Content-Type") == "" {
		set("Content-Type", "application/json")
	}
	return c.rc.Do(rreq)
}

func (c *core) decodeSuccess(req *request, resp *http.Response, cl *call) error {
	if cl.stream != nil {
		if err := cl.stream(resp); err != nil {
			// Stopped early (a break, a bad row, a failure): close without
			// draining, because the rest may never come.
			_ = resp.Body.Close()
			return err
		}
		return nil
	}
	bb, _ := resp.Body.(*bufferedBody)
	var data []byte
	if bb != nil {
		data = bb.data
	}
	if cl.decode == nil && cl.out == nil {
		return nil
	}
	if cl.decode != nil {
		if err := cl.decode(data); err != nil {
			return c.decodeError(req, resp, err)
		}
		return nil
	}
	switch out := cl.out.(type) {
	case *[]byte:
		*out = append((*out)[:0], data...)
		return nil
	case *json.RawMessage:
		if len(bytes.TrimSpace(data)) > 0 && !json.Valid(data) {
			return c.decodeError(req, resp, errors.New("body is not valid JSON"))
		}
		*out = append((*out)[:0], data...)
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil // 204 or an empty 200: nothing to decode
	}
	if err := unmarshalJSON(data, cl.out); err != nil {
		return c.decodeError(req, resp, err)
	}
	return nil
}

// unmarshalJSON is json.Unmarshal, with the same results and errors. For a
// type that decodes itself (most of the SDK's), a valid body goes straight
// to its UnmarshalJSON: encoding/json would scan it twice before the call.
func unmarshalJSON(data []byte, out any) error {
	if u, ok := out.(json.Unmarshaler); ok && json.Valid(data) {
		return u.UnmarshalJSON(trimJSONSpace(data))
	}
	return json.Unmarshal(data, out)
}

// trimJSONSpace trims the whitespace JSON allows around a value (not
// bytes.TrimSpace's wider set), leaving what encoding/json hands an
// UnmarshalJSON method.
func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func (c *core) decodeError(req *request, resp *http.Response, err error) error {
	var ae *ArgumentError
	if errors.As(err, &ae) {
		return err
	}
	return &DecodeError{Method: req.method, Path: req.path, StatusCode: resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"), Err: err}
}

func (c *core) apiError(req *request, resp *http.Response, st *callState, tok string) error {
	var body []byte
	if bb, ok := resp.Body.(*bufferedBody); ok {
		body = bb.data
	} else {
		body, _ = wire.ReadCapped(resp.Body, errorBodyLimit, resp.ContentLength)
	}
	body = redact(body, tok)
	e := newAPIError(resp.StatusCode, body)
	e.Method, e.Path, e.Attempts = req.method, req.path, st.attempts
	if ra, ok := parseRetryAfter(resp.Header, time.Now()); ok {
		e.RetryAfter = ra
	}
	return e
}

// redact removes a token from a body the server echoed it in, so it cannot
// reach an error message or a log.
func redact(body []byte, tok string) []byte {
	if tok == "" || !strings.Contains(string(body), tok) {
		return body
	}
	return []byte(strings.ReplaceAll(string(body), tok, "[REDACTED]"))
}

// The log lines use the caller's context, so a trace-aware handler can
// correlate them with the caller's span.

func (c *core) logDone(ctx context.Context, req *request, status, attempts int, start time.Time) {
	if !c.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	c.logger.DebugContext(ctx, "peliqan: request", "method", req.method, "path", req.path,
		"status", status, "attempts", attempts, "duration", time.Since(start))
}

func (c *core) logFailed(ctx context.Context, req *request, attempts int, err error) {
	if !c.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	c.logger.DebugContext(ctx, "peliqan: request failed", "method", req.method, "path", req.path,
		"attempts", attempts, "error", logError(err))
}

// logError is how every log line shows a transport error: without the
// *url.Error's URL, whose query may carry an external_id.
func logError(err error) string { return unwrapURLError(err).Error() }

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
