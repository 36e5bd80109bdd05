// Package wire holds the encoding helpers the SDK core shares: query strings
// (go-querystring), JSON bodies without HTML escaping, bounded body reads and
// tolerant list decoding.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/go-querystring/query"
)

// Query encodes a struct tagged with `url:"..."` (go-querystring). A nil
// pointer, a nil interface or url.Values are accepted as they are.
func Query(opts any) (url.Values, error) {
	switch v := opts.(type) {
	case nil:
		return nil, nil
	case url.Values:
		return v, nil
	}
	rv := reflect.ValueOf(opts)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, nil
	}
	return query.Values(opts)
}

// Marshal encodes v as JSON without HTML escaping ("<", ">" and "&" are sent
// as they are: SQL and script code contain them) and without the trailing
// newline json.Encoder adds.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ErrTooLarge is returned by ReadCapped when the body exceeds its limit.
var ErrTooLarge = errors.New("body exceeds the size limit")

// ReadCapped reads all of r, but at most limit bytes. A longer body yields
// the first limit bytes and ErrTooLarge. sizeHint (a Content-Length, or -1)
// sizes the buffer when it is within the limit: the body is then read into
// exactly that much, and one more read checks that it ends there.
func ReadCapped(r io.Reader, limit, sizeHint int64) ([]byte, error) {
	if sizeHint >= 0 && sizeHint <= limit {
		buf := make([]byte, sizeHint, sizeHint+1) // the spare byte probes for more
		n := 0
		for n < len(buf) {
			m, err := r.Read(buf[n:])
			n += m
			switch {
			case err == io.EOF:
				return buf[:n], nil // shorter than announced, cleanly: that is the body
			case err != nil:
				return buf[:n], err
			}
		}
		// Read to EOF, so that net/http can reuse the connection at once.
		m, err := r.Read(buf[n : n+1])
		for m == 0 && err == nil {
			m, err = r.Read(buf[n : n+1])
		}
		switch {
		case m > 0:
			return readCappedRest(r, buf[:n+1], limit)
		case err == io.EOF:
			return buf, nil
		}
		return buf, err
	}
	return readCappedRest(r, nil, limit)
}

// readCappedRest reads r after head, up to limit bytes in all.
func readCappedRest(r io.Reader, head []byte, limit int64) ([]byte, error) {
	buf := bytes.NewBuffer(head)
	lr := io.LimitedReader{R: r, N: limit + 1 - int64(len(head))}
	_, err := buf.ReadFrom(&lr)
	if err != nil {
		return buf.Bytes(), err
	}
	if int64(buf.Len()) > limit {
		return buf.Bytes()[:limit], ErrTooLarge
	}
	return buf.Bytes(), nil
}

// Shape is how a list response was wrapped.
type Shape int

const (
	// Array is a bare JSON array.
	Array Shape = iota + 1
	// Data is {"data": [...], "next": ...}.
	Data
	// Results is {"count", "next", "previous", "results": [...]}.
	Results
)

// List is a decoded list response in any of the three shapes.
type List[T any] struct {
	Items []T
	Shape Shape
	// Next is the raw "next" member; nil when absent.
	Next json.RawMessage
	// Count is the "count" member, or -1 when absent.
	Count int
}

type envelope[T any] struct {
	Data    *[]T            `json:"data"`
	Results *[]T            `json:"results"`
	Next    json.RawMessage `json:"next"`
	Count   *int            `json:"count"`
}

// ErrNotAList reports a JSON body that is neither an array nor an object
// holding "data" or "results".
var ErrNotAList = errors.New("response is not a list")

// DecodeList decodes a bare array, {data, next} or {count, next, previous,
// results} in one pass.
func DecodeList[T any](body []byte) (List[T], error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return List[T]{}, io.ErrUnexpectedEOF
	}
	switch trimmed[0] {
	case '[':
		var items []T
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return List[T]{}, err
		}
		return List[T]{Items: items, Shape: Array, Count: -1}, nil
	case '{':
		var env envelope[T]
		if err := json.Unmarshal(trimmed, &env); err != nil {
			return List[T]{}, err
		}
		out := List[T]{Next: env.Next, Count: -1}
		if env.Count != nil {
			out.Count = *env.Count
		}
		switch {
		case env.Data != nil:
			out.Items, out.Shape = *env.Data, Data
		case env.Results != nil:
			out.Items, out.Shape = *env.Results, Results
		default:
			if isNull(env.Next) && env.Count == nil {
				return List[T]{}, ErrNotAList
			}
			out.Shape = Data // {"next": null} or {"count": 0}: an empty page
		}
		return out, nil
	}
	return List[T]{}, fmt.Errorf("%w: starts with %q", ErrNotAList, trimmed[0])
}

// PageKeys are the query parameters a "next" link may carry that the SDK
// will copy into its own rebuilt request. Nothing else from the link is used.
var PageKeys = []string{"page", "per_page", "page_size", "size", "offset", "limit", "cursor"}

// ParseNext reads a "next" member. more is false when next is absent, null,
// false, "", or 0. When more is true, params holds the page parameters the
// link names (it may be empty: the caller then asks for the following page
// number). A next link's host and path are ignored on purpose: the request is
// rebuilt from the routes table, so the token never goes where a response
// points.
func ParseNext(raw json.RawMessage) (params url.Values, more bool, err error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, false, nil
	}
	switch raw[0] {
	case 't':
		return nil, true, nil
	case 'f':
		return nil, false, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false, err
		}
		return parseNextString(s)
	default:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return nil, false, fmt.Errorf("next: %w", err)
		}
		if n <= 0 {
			return nil, false, nil
		}
		return url.Values{"page": {strconv.FormatInt(n, 10)}}, true, nil
	}
}

func parseNextString(s string) (url.Values, bool, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "0", "false", "null", "None":
		return nil, false, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return nil, false, nil
		}
		return url.Values{"page": {s}}, true, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, false, fmt.Errorf("next: %w", err)
	}
	q := u.Query()
	out := url.Values{}
	for _, k := range PageKeys {
		if v, ok := q[k]; ok && len(v) > 0 {
			out[k] = v[:1]
		}
	}
	return out, true, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}
