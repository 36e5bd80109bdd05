package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
)

// A write the server accepted (it answered 2xx) always returns what it
// made. When the answer cannot be decoded in full (a member of an
// unexpected type, a body cut short, a URL that is not safe to hand on), the
// method returns the value as far as it could be read, its id first,
// together with a *DecodeError (matching ErrMalformedResponse). The write
// happened: a non-nil result beside an error means "made, but not all of
// the answer could be read", and repeating the call would make a second one.
// An error answer or no answer at all (*APIError, *TransportError) returns
// no result, as before.

// doWrite runs a write (a create, an update, a run) and decodes its answer
// into a new T, keeping what could be read when the answer does not decode
// in full (see above).
func doWrite[T any](ctx context.Context, c *core, cl *call, opts []RequestOption) (*T, error) {
	out := new(T)
	cl.out, cl.decode = nil, func(b []byte) error { return decodeAccepted(b, out) }
	if err := c.do(ctx, cl, opts); err != nil {
		if writeAccepted(err) {
			return out, err
		}
		return nil, err
	}
	return out, nil
}

// writeAccepted reports whether err is about the answer of a request the
// server accepted (a 2xx whose body could not be used), not about the
// request itself.
func writeAccepted(err error) bool {
	var de *DecodeError
	return errors.As(err, &de) && de.StatusCode >= 200 && de.StatusCode <= 299
}

// decodeAccepted decodes an answer as JSON into out, salvaging what it can
// when the whole does not decode (decodeSalvaging).
func decodeAccepted[T any](b []byte, out *T) error {
	return decodeSalvaging(b, out, func(b []byte, v *T) error { return json.Unmarshal(b, v) })
}

// decodeSalvaging decodes b into out with decode. When that fails, out is
// reset and gets instead every member of the JSON object b that decode
// accepts on its own, among the members complete before a body that broke
// off; the first error is returned. An empty body decodes to nothing.
func decodeSalvaging[T any](b []byte, out *T, decode func([]byte, *T) error) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	err := decode(b, out)
	if err == nil {
		return nil
	}
	var zero T
	*out = zero
	obj := salvageObject(b, func(member []byte) bool {
		var probe T
		return decode(member, &probe) == nil
	})
	if obj != nil {
		_ = decode(obj, out) // every member decodes alone; together is best effort
	}
	return err
}

// salvageObject reads b as a JSON object, possibly cut short, and returns
// the members keep accepts (keep sees each member as a one-member object),
// re-encoded as one object. Reading stops at the first member that is
// incomplete or malformed. It returns nil when b does not start as an
// object.
func salvageObject(b []byte, keep func(member []byte) bool) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	out := []byte{'{'}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		key, ok := tok.(string)
		if !ok {
			break // the closing '}'
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			break
		}
		// A value counts only once what follows it is seen: a number cut
		// short ("12" of "123") decodes too.
		rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")
		if len(rest) == 0 || (rest[0] != ',' && rest[0] != '}') {
			break
		}
		k, _ := json.Marshal(key)
		member := make([]byte, 0, len(k)+len(val)+3)
		member = append(append(append(append(append(member, '{'), k...), ':'), val...), '}')
		if !keep(member) {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, member[1:len(member)-1]...)
	}
	return append(out, '}')
}
