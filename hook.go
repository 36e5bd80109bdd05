package peliqan

import (
	"context"
	"errors"
	"time"
)

// CallHook observes every API call a client makes: a metrics or tracing
// system attaches here (the otel module of this repository does). Each
// field is optional. The hook is told the route, never a token, an
// external id, a query or a body.
//
// For one call the order is: Start once, Attempt once per request sent
// (retries and a 401 replay included), End once. The hooks run on the
// calling goroutine, inside the call: keep them fast.
type CallHook struct {
	// Start is called before the first attempt. The context it returns
	// (nil: unchanged) is the one the call and the other hooks use, so a
	// span started here is the parent of anything the transport traces.
	Start func(ctx context.Context, call CallInfo) context.Context
	// Attempt is called when an attempt has its answer or its error.
	Attempt func(ctx context.Context, call CallInfo, a AttemptInfo)
	// End is called once when the call returns.
	End func(ctx context.Context, call CallInfo, r CallResult)
}

// CallInfo names a call by its route, never by its concrete path.
type CallInfo struct {
	// Route is the route's name in the SDK's table (RouteSyncServer, ...),
	// or "" for a Do call on a path the SDK does not know.
	Route string
	// Method is the HTTP method.
	Method string
	// PathTemplate is the route's path with its parameters as "{name}"
	// ("/api/servers/{id}/syncdb/"), or "" for an unknown Do path (whose
	// concrete path might carry ids).
	PathTemplate string
	// ServerAddress and ServerPort are the base URL's host and port (the
	// scheme's default when it names none).
	ServerAddress string
	ServerPort    int
}

// AttemptInfo describes one request sent for a call.
type AttemptInfo struct {
	// Attempt counts from 1 across retries and a 401 replay.
	Attempt int
	// StatusCode is the answer's status; 0 when the attempt got none.
	StatusCode int
	// Err is the transport error of an attempt that got no answer, as a
	// *TransportError naming the path without its query.
	Err error
	// Retrying reports that the SDK will send another attempt (after a
	// back-off wait).
	Retrying bool
}

// CallResult is how a call ended.
type CallResult struct {
	// StatusCode is the last answer's status; 0 when there was none.
	StatusCode int
	// Attempts counts the requests sent: retries and a 401 replay included.
	Attempts int
	// Duration is the whole call, back-off waits included.
	Duration time.Duration
	// RetryWait is the time spent waiting between attempts.
	RetryWait time.Duration
	// TokenRefreshed reports that a 401 was answered by fetching a new
	// identity token and replaying the request once.
	TokenRefreshed bool
	// Err is what the call returned (nil on success). ErrorKind names its
	// kind for a metric label or a span attribute. Its text is for people:
	// it may quote the server's answer or, for a tenant call whose identity
	// token could not be fetched, name the customer; record the kind and
	// the typed fields, not the text, where those must not go.
	Err error
}

// WithCallHook sets the client's CallHook (a hook with no function set is
// refused). Tenant clients made by PartnerClient.SubAccount share it.
func WithCallHook(h CallHook) Option {
	return func(c *config) error {
		if h.Start == nil && h.Attempt == nil && h.End == nil {
			return invalidArg("WithCallHook", "no hook function is set")
		}
		c.hook = &h
		return nil
	}
}

// ErrorKind names the kind of an error the SDK returned, for a metric label
// or a span attribute: "" for nil, then "invalid_argument", "canceled",
// "deadline_exceeded", "timeout", "rate_limited", "unauthorized",
// "forbidden", "not_found", "conflict", "validation", "server",
// "malformed_response", "response_too_large", "api" (another status),
// "transport" (no answer) or "other". The set is closed and stable.
func ErrorKind(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	var ae *APIError
	var te *TransportError
	switch {
	case errors.As(err, &ae):
		return "api"
	case errors.As(err, &te):
		return "transport"
	}
	return "other"
}

// errorKinds is ErrorKind's table, most specific first (a timeout is also a
// transport error; a 429 is also an API error).
var errorKinds = [...]struct {
	err  error
	name string
}{
	{ErrInvalidArgument, "invalid_argument"},
	{context.Canceled, "canceled"},
	{context.DeadlineExceeded, "deadline_exceeded"},
	{ErrTimeout, "timeout"},
	{ErrRateLimited, "rate_limited"},
	{ErrUnauthorized, "unauthorized"},
	{ErrForbidden, "forbidden"},
	{ErrNotFound, "not_found"},
	{ErrConflict, "conflict"},
	{ErrValidation, "validation"},
	{ErrServer, "server"},
	{ErrResponseTooLarge, "response_too_large"},
	{ErrMalformedResponse, "malformed_response"},
}

// callInfo names req for a hook.
func (c *core) callInfo(req *request) CallInfo {
	ci := CallInfo{Method: req.method, ServerAddress: c.host, ServerPort: c.port}
	if req.route != nil {
		ci.Route, ci.PathTemplate = req.route.Name, req.route.Path
	}
	return ci
}
