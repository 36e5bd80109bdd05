package peliqan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Match them with errors.Is; an *APIError matches the
// category of its status code, so
//
//	if errors.Is(err, peliqan.ErrNotFound) { ... }
//
// works whatever the body said.
var (
	// ErrInvalidArgument: input refused before any request was sent (empty
	// id, missing external_id, negative page size, bad option).
	ErrInvalidArgument = errors.New("peliqan: invalid argument")

	ErrNotFound     = errors.New("peliqan: not found")            // 404
	ErrUnauthorized = errors.New("peliqan: unauthorized")         // 401
	ErrForbidden    = errors.New("peliqan: forbidden")            // 403
	ErrConflict     = errors.New("peliqan: conflict")             // 409
	ErrRateLimited  = errors.New("peliqan: rate limited")         // 429
	ErrValidation   = errors.New("peliqan: request not accepted") // 400, 422
	ErrServer       = errors.New("peliqan: server error")         // 5xx

	// ErrMalformedResponse: a success status whose body could not be decoded
	// (HTML, truncated JSON, an unexpected shape). Returned inside a
	// *DecodeError.
	ErrMalformedResponse = errors.New("peliqan: malformed response")
	// ErrResponseTooLarge: a body past the client's limit
	// (WithMaxResponseBytes). Returned inside a *DecodeError.
	ErrResponseTooLarge = errors.New("peliqan: response too large")
	// ErrTimeout: one attempt took longer than the per-attempt timeout
	// (WithTimeout). The caller's context deadline is reported as
	// context.DeadlineExceeded instead.
	ErrTimeout = errors.New("peliqan: attempt timed out")
)

// ArgumentError names the argument that was refused before any request was
// sent. It matches ErrInvalidArgument.
type ArgumentError struct {
	Name   string // the field or parameter, e.g. "external_id"
	Reason string
}

// Error describes the failure without any token.
func (e *ArgumentError) Error() string {
	return "peliqan: invalid argument " + e.Name + ": " + e.Reason
}

// Is reports whether target is ErrInvalidArgument.
func (e *ArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

func invalidArg(name, format string, args ...any) error {
	return &ArgumentError{Name: name, Reason: fmt.Sprintf(format, args...)}
}

// ErrorCode is Peliqan's machine-readable error code (the "error" member of
// an error body). It is an open set: unknown codes are kept as they are.
type ErrorCode string

// Error codes seen in Peliqan's own client.
const (
	CodePipelineRunTimeout      ErrorCode = "ERROR_PIPELINE_RUN_TIMEOUT"
	CodeInterfaceRunTimeout     ErrorCode = "ERROR_INTERFACE_RUN_TIMEOUT"
	CodeSchemaAlreadyExists     ErrorCode = "ERROR_SCHEMA_ALREADY_EXISTS"
	CodeSchemaDoesNotExist      ErrorCode = "ERROR_SCHEMA_DOES_NOT_EXIST"
	CodeTableDoesNotExist       ErrorCode = "ERROR_TABLE_DOES_NOT_EXIST"
	CodeDatabaseDoesNotExist    ErrorCode = "ERROR_DATABASE_DOES_NOT_EXIST"
	CodeApplicationDoesNotExist ErrorCode = "ERROR_APPLICATION_DOES_NOT_EXIST"
)

// IsKnown reports whether c is one of the codes declared above.
func (c ErrorCode) IsKnown() bool {
	switch c {
	case CodePipelineRunTimeout, CodeInterfaceRunTimeout, CodeSchemaAlreadyExists,
		CodeSchemaDoesNotExist, CodeTableDoesNotExist, CodeDatabaseDoesNotExist,
		CodeApplicationDoesNotExist:
		return true
	}
	return false
}

// APIError is a non-2xx answer from the service.
type APIError struct {
	StatusCode int
	Code       ErrorCode       // the body's "error" member, if any
	Message    string          // the best human-readable message found
	Detail     json.RawMessage // the body's "detail" member as sent
	TraceID    string          // from a tuple-string detail ("TraceId: ...")
	Method     string
	Path       string // the request path, without the query string
	Attempts   int    // requests sent for this call, retries included
	// RetryAfter is the server's Retry-After, when it sent one. A call that
	// stopped because the wait exceeded RetryPolicy.MaxRetryAfter carries it
	// here.
	RetryAfter time.Duration
	Body       []byte // the raw body, capped at 1 MiB
}

// Error describes the failure without any token.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("peliqan: ")
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	fmt.Fprintf(&b, ": %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(string(e.Code))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	var extra []string
	if e.TraceID != "" {
		extra = append(extra, "trace_id="+e.TraceID)
	}
	if e.RetryAfter > 0 {
		extra = append(extra, "retry_after="+e.RetryAfter.String())
	}
	if e.Attempts > 1 {
		extra = append(extra, fmt.Sprintf("attempts=%d", e.Attempts))
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, ", ") + ")")
	}
	return b.String()
}

// Is matches the sentinel of e's status category.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrValidation:
		return e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnprocessableEntity
	case ErrServer:
		return e.StatusCode >= 500
	}
	return false
}

// DecodeError is a success status whose body could not be used. Err is
// ErrResponseTooLarge or wraps the decoder's error; the whole value also
// matches ErrMalformedResponse.
type DecodeError struct {
	Method      string
	Path        string
	StatusCode  int
	ContentType string
	Err         error
}

// Error describes the failure without any token.
func (e *DecodeError) Error() string {
	ct := ""
	if e.ContentType != "" {
		ct = " (" + e.ContentType + ")"
	}
	return fmt.Sprintf("peliqan: %s %s: %d response%s could not be decoded: %v", e.Method, e.Path, e.StatusCode, ct, e.Err)
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMalformedResponse.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformedResponse }

// TransportError is a request that got no usable answer: the connection
// failed, was reset, or an attempt timed out, after every retry the policy
// allowed. For a POST or PATCH the server may still have acted.
type TransportError struct {
	Method   string
	Path     string
	Attempts int
	Err      error
}

// Error describes the failure without any token.
func (e *TransportError) Error() string {
	s := fmt.Sprintf("peliqan: %s %s: %v", e.Method, e.Path, e.Err)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (attempts=%d)", e.Attempts)
	}
	return s
}

// Unwrap returns the underlying error.
func (e *TransportError) Unwrap() error { return e.Err }

// errorBodyLimit caps how much of an error body is read and kept.
const errorBodyLimit = 1 << 20

// newAPIError decodes a Peliqan error body in any of its forms:
//
//	{"error": "CODE", "detail": "text"}
//	{"error": "CODE", "detail": {"message", "description", "type", "operation", "stack_trace"}}
//	{"detail": "({'error': 'CODE', 'message': '...'}, 'TraceId: abc')"}   (a Python tuple as a string)
//	{"field": ["This field is required."]}                                (Django REST validation)
//	<html>...</html>                                                       (a proxy's page)
func newAPIError(status int, body []byte) *APIError {
	e := &APIError{StatusCode: status, Body: body}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		e.Message = nonJSONMessage(body)
		return e
	}
	if raw, ok := top["error"]; ok {
		var code string
		if json.Unmarshal(raw, &code) == nil {
			e.Code = ErrorCode(code)
		}
	}
	for _, k := range []string{"message", "msg"} {
		if e.Message == "" {
			e.Message = jsonString(top[k])
		}
	}
	if raw, ok := top["detail"]; ok {
		e.Detail = raw
		decodeDetail(e, raw)
	}
	if e.Message == "" && e.Code == "" && e.Detail == nil {
		e.Message = fieldErrors(top)
	}
	return e
}

func decodeDetail(e *APIError, raw json.RawMessage) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	switch raw[0] {
	case '"':
		s := jsonString(raw)
		if strings.HasPrefix(strings.TrimSpace(s), "(") && strings.Contains(s, "TraceId") {
			decodeTupleDetail(e, s)
			return
		}
		setIfEmpty(&e.Message, s)
	case '{':
		var d struct {
			Message     string `json:"message"`
			Description string `json:"description"`
			Type        string `json:"type"`
			Operation   string `json:"operation"`
			Error       string `json:"error"`
			TraceID     string `json:"trace_id"`
		}
		if json.Unmarshal(raw, &d) != nil {
			return
		}
		setIfEmpty(&e.Message, d.Message)
		setIfEmpty(&e.Message, d.Description)
		setIfEmpty(&e.Message, d.Type)
		setIfEmpty(&e.TraceID, d.TraceID)
		if e.Code == "" && d.Error != "" {
			e.Code = ErrorCode(d.Error)
		}
	case '[':
		var list []string
		if json.Unmarshal(raw, &list) == nil {
			setIfEmpty(&e.Message, strings.Join(list, "; "))
		}
	}
}

var (
	tupleTraceRe = regexp.MustCompile(`TraceId:\s*([^'"\s)]+)`)
	tupleCodeRe  = regexp.MustCompile(`['"]error['"]\s*:\s*['"]([^'"]+)['"]`)
	tupleMsgRe   = regexp.MustCompile(`['"](message|detail|description)['"]\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")`)
)

// decodeTupleDetail reads the Python-literal "(error_dict, 'TraceId: id')"
// form best-effort, without evaluating it.
func decodeTupleDetail(e *APIError, s string) {
	if m := tupleTraceRe.FindStringSubmatch(s); m != nil {
		e.TraceID = m[1]
	}
	if m := tupleCodeRe.FindStringSubmatch(s); m != nil && e.Code == "" {
		e.Code = ErrorCode(m[1])
	}
	if m := tupleMsgRe.FindStringSubmatch(s); m != nil {
		msg := m[2]
		if msg == "" {
			msg = m[3]
		}
		setIfEmpty(&e.Message, msg)
	}
	if e.Message == "" {
		setIfEmpty(&e.Message, s)
	}
}

// fieldErrors renders a Django REST validation body ({"field": ["msg"]}).
func fieldErrors(top map[string]json.RawMessage) string {
	var parts []string
	for k, raw := range top {
		var msgs []string
		if json.Unmarshal(raw, &msgs) == nil && len(msgs) > 0 {
			parts = append(parts, k+": "+strings.Join(msgs, " "))
		} else if s := jsonString(raw); s != "" {
			parts = append(parts, k+": "+s)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// nonJSONMessage summarises a body that is not JSON (an HTML 502 page, plain
// text) in one short line.
func nonJSONMessage(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	// Byte-wise ASCII lowering keeps offsets: strings.ToLower turns each
	// invalid UTF-8 byte into a 3-byte U+FFFD, and its indexes would not fit s.
	lower := func(s string) string {
		b := []byte(s)
		for k, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[k] = c + ('a' - 'A')
			}
		}
		return string(b)
	}
	if i := strings.Index(lower(s), "<title>"); i >= 0 {
		rest := s[i+len("<title>"):]
		if j := strings.Index(lower(rest), "</title>"); j >= 0 {
			return "non-JSON body: " + strings.TrimSpace(rest[:j])
		}
	}
	if strings.HasPrefix(s, "<") {
		return "non-JSON body (HTML)"
	}
	const max = 200
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return "non-JSON body: " + strings.Join(strings.Fields(s), " ")
}

func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}
