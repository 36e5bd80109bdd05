// Package peliqanotel traces and measures the calls of a peliqan-go client
// with OpenTelemetry. It is a peliqan.CallHook:
//
//	h, err := peliqanotel.Hook() // the global tracer and meter providers
//	if err != nil { ... }
//	p, err := peliqan.NewPartnerClient(token, peliqan.WithCallHook(h))
//
// # Spans
//
// Every API call is one span of kind client, a child of the span in the
// caller's context, named after its route: "GET /api/servers/{id}/syncdb/"
// (the method alone for a Do call on a path the SDK does not know). Retries
// and a 401 replay stay inside that span, as events:
//
//   - "peliqan.retry": an attempt the SDK retries, with peliqan.attempt and
//     the attempt's http.response.status_code or error.type;
//   - "peliqan.token_refresh": an attempt answered 401 that the SDK replayed
//     with a fresh identity token.
//
// The span carries the HTTP client semantic-convention attributes that apply
// (http.request.method, url.template, http.response.status_code,
// http.request.resend_count, error.type) and peliqan.route, peliqan.attempts,
// peliqan.token_refreshed and peliqan.retry_wait (seconds). A failed call
// has status Error, error.type set to peliqan.ErrorKind of its error
// ("rate_limited", "timeout", ...) and an exception event. The token fetch
// of a tenant client is a call of its own: a child span of the call that
// needed the token.
//
// No token, external id, query or body reaches a span or a metric: the SDK
// tells the hook the route and path template only, and the exception
// message is rebuilt from the error's structure ("peliqan: GET
// /api/servers/{id}/: 404 Not Found", a known error code, the innermost cause
// of a transport failure), never from its text, which may name an external id
// (a failed token fetch) or echo what the server was sent.
//
// # Metrics
//
//   - peliqan.client.call.duration (histogram, s): the whole call, back-off
//     waits included;
//   - peliqan.client.calls (counter, {call});
//   - peliqan.client.attempts (counter, {attempt}): requests sent, retries
//     and 401 replays included.
//
// Each with the attributes peliqan.route (UnknownRoute for an unnamed Do
// path), http.request.method and peliqan.outcome ("ok" or the error kind).
// Their cardinality is bounded: the routes of peliqan.Routes, a closed set of
// methods and of error kinds.
package peliqanotel

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	peliqan "github.com/peliqan-community/peliqan-go"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/peliqan-community/peliqan-go/otel"

// UnknownRoute is the peliqan.route metric attribute of a Do call on a path
// the SDK does not know, and OutcomeOK the peliqan.outcome of a call that
// succeeded (a failed one has peliqan.ErrorKind of its error).
const (
	UnknownRoute = "_OTHER"
	OutcomeOK    = "ok"
)

// Metric names.
const (
	MetricCallDuration = "peliqan.client.call.duration"
	MetricCalls        = "peliqan.client.calls"
	MetricAttempts     = "peliqan.client.attempts"
)

// Event names on a call's span.
const (
	EventRetry        = "peliqan.retry"
	EventTokenRefresh = "peliqan.token_refresh"
)

// Attribute keys of this package (the HTTP ones come from semconv).
const (
	RouteKey          = attribute.Key("peliqan.route")
	AttemptsKey       = attribute.Key("peliqan.attempts")
	AttemptKey        = attribute.Key("peliqan.attempt")
	TokenRefreshedKey = attribute.Key("peliqan.token_refreshed")
	RetryWaitKey      = attribute.Key("peliqan.retry_wait")
	OutcomeKey        = attribute.Key("peliqan.outcome")
)

// durationBuckets are semconv's HTTP client buckets, stretched for the
// long polls of the sync status routes.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120}

// Option configures Hook.
type Option func(*config) error

type config struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
}

// WithTracerProvider sets the tracer provider (default: otel's global one).
// A nil provider is refused.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return invalidArg("WithTracerProvider", "nil provider")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (default: otel's global one). A
// nil provider is refused.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return invalidArg("WithMeterProvider", "nil provider")
		}
		c.mp = mp
		return nil
	}
}

func invalidArg(name, reason string) error {
	return &peliqan.ArgumentError{Name: name, Reason: reason}
}

// Hook returns a CallHook that traces and measures every call of the client
// it is given to with peliqan.WithCallHook. It does no I/O. The errors it
// returns match peliqan.ErrInvalidArgument, or come from the meter provider
// when it cannot create an instrument.
func Hook(opts ...Option) (peliqan.CallHook, error) {
	cfg := config{}
	for _, o := range opts {
		if o == nil {
			return peliqan.CallHook{}, invalidArg("Option", "nil option")
		}
		if err := o(&cfg); err != nil {
			return peliqan.CallHook{}, err
		}
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	in, err := newInstruments(cfg)
	if err != nil {
		return peliqan.CallHook{}, err
	}
	return peliqan.CallHook{Start: in.start, Attempt: in.attempt, End: in.end}, nil
}

type instruments struct {
	tracer    trace.Tracer
	templates templates
	duration  metric.Float64Histogram
	calls     metric.Int64Counter
	attempts  metric.Int64Counter
}

func newInstruments(cfg config) (*instruments, error) {
	in := &instruments{templates: newTemplates(), tracer: cfg.tp.Tracer(ScopeName,
		trace.WithInstrumentationVersion(peliqan.Version), trace.WithSchemaURL(semconv.SchemaURL))}
	meter := cfg.mp.Meter(ScopeName,
		metric.WithInstrumentationVersion(peliqan.Version), metric.WithSchemaURL(semconv.SchemaURL))
	var err error
	if in.duration, err = meter.Float64Histogram(MetricCallDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of Peliqan API calls, retries and back-off waits included."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	if in.calls, err = meter.Int64Counter(MetricCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Peliqan API calls.")); err != nil {
		return nil, err
	}
	if in.attempts, err = meter.Int64Counter(MetricAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("Requests sent for Peliqan API calls, retries and 401 replays included.")); err != nil {
		return nil, err
	}
	return in, nil
}

// callState is one call's span, kept in the context Start returns.
type callState struct {
	span trace.Span
	// held is the last attempt the SDK did not retry. Another attempt after
	// it can only be the replay of a 401 with a fresh token.
	held   peliqan.AttemptInfo
	heldAt time.Time
}

type stateKey struct{}

func (in *instruments) start(ctx context.Context, call peliqan.CallInfo) context.Context {
	method, original := normalizeMethod(call.Method)
	name := method
	if method == "_OTHER" {
		name = "HTTP"
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(method))
	if original {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(call.Method))
	}
	if call.PathTemplate != "" {
		name += " " + call.PathTemplate
		attrs = append(attrs, semconv.URLTemplate(call.PathTemplate))
	}
	if call.Route != "" {
		attrs = append(attrs, RouteKey.String(call.Route))
	}
	ctx, span := in.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return context.WithValue(ctx, stateKey{}, &callState{span: span})
}

func (in *instruments) attempt(ctx context.Context, _ peliqan.CallInfo, a peliqan.AttemptInfo) {
	st, _ := ctx.Value(stateKey{}).(*callState)
	if st == nil {
		return
	}
	if st.held.Attempt != 0 {
		st.span.AddEvent(EventTokenRefresh, trace.WithTimestamp(st.heldAt), trace.WithAttributes(attemptAttrs(st.held)...))
		st.held = peliqan.AttemptInfo{}
	}
	if a.Retrying {
		st.span.AddEvent(EventRetry, trace.WithAttributes(attemptAttrs(a)...))
		return
	}
	st.held, st.heldAt = peliqan.AttemptInfo{Attempt: a.Attempt, StatusCode: a.StatusCode, Err: a.Err}, time.Now()
}

// attemptAttrs describes one attempt by its number and its status or the
// kind of its error, never the error's text (it can name the concrete URL).
func attemptAttrs(a peliqan.AttemptInfo) []attribute.KeyValue {
	attrs := []attribute.KeyValue{AttemptKey.Int(a.Attempt)}
	switch {
	case a.StatusCode != 0:
		attrs = append(attrs, semconv.HTTPResponseStatusCode(a.StatusCode),
			semconv.ErrorTypeKey.String(strconv.Itoa(a.StatusCode)))
	case a.Err != nil:
		attrs = append(attrs, semconv.ErrorTypeKey.String(attemptErrorKind(a.Err)))
	}
	return attrs
}

// attemptErrorKind is ErrorKind for the raw transport error of one attempt,
// which the SDK has not yet wrapped in a *peliqan.TransportError.
func attemptErrorKind(err error) string {
	k := peliqan.ErrorKind(err)
	if k != "other" {
		return k
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return "timeout"
	}
	return "transport"
}

func (in *instruments) end(ctx context.Context, call peliqan.CallInfo, r peliqan.CallResult) {
	outcome := OutcomeOK
	kind := peliqan.ErrorKind(r.Err)
	if kind != "" {
		outcome = kind
	}
	if st, _ := ctx.Value(stateKey{}).(*callState); st != nil {
		in.endSpan(st.span, r, kind)
	}

	method, _ := normalizeMethod(call.Method)
	route := call.Route
	if route == "" {
		route = UnknownRoute
	}
	set := metric.WithAttributeSet(attribute.NewSet(RouteKey.String(route),
		semconv.HTTPRequestMethodKey.String(method), OutcomeKey.String(outcome)))
	in.duration.Record(ctx, r.Duration.Seconds(), set)
	in.calls.Add(ctx, 1, set)
	in.attempts.Add(ctx, int64(r.Attempts), set)
}

func (in *instruments) endSpan(span trace.Span, r peliqan.CallResult, kind string) {
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, AttemptsKey.Int(r.Attempts), TokenRefreshedKey.Bool(r.TokenRefreshed),
		RetryWaitKey.Float64(r.RetryWait.Seconds()))
	if r.StatusCode != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(r.StatusCode))
	}
	if r.Attempts > 1 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(r.Attempts-1))
	}
	if r.Err != nil {
		attrs = append(attrs, semconv.ErrorTypeKey.String(kind))
		if span.IsRecording() {
			typ, msg := in.exception(r.Err)
			span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
				semconv.ExceptionType(typ), semconv.ExceptionMessage(msg)))
		}
		span.SetStatus(codes.Error, kind)
	}
	span.SetAttributes(attrs...)
	span.End()
}

// normalizeMethod returns semconv's http.request.method: a known method, or
// "_OTHER" (true: the original must be kept in method_original).
func normalizeMethod(m string) (string, bool) {
	switch m {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE", "QUERY":
		return m, false
	}
	return "_OTHER", true
}
