package peliqan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// ID identifies a Peliqan object (a sub-account, connection, table, script,
// run...). It decodes from a JSON number or a numeric string, since the API
// sends both, and encodes as a number.
type ID int64

// ParseID reads a decimal id.
func ParseID(s string) (ID, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, invalidArg("id", "%q is not a positive integer", s)
	}
	return ID(n), nil
}

// String returns the decimal form.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// UnmarshalJSON accepts 12, "12" and null (0).
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*id = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*id = 0
			return nil
		}
		b = []byte(s)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("peliqan: id %q is not an integer", b)
	}
	*id = ID(n)
	return nil
}

// MarshalJSON writes the id as a JSON number.
func (id ID) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, int64(id), 10), nil }

// param renders id as a path parameter, refusing the zero value so a missing
// id is caught before any request.
func (id ID) param(name string) (string, error) {
	if id <= 0 {
		return "", invalidArg(name, "must be a positive id (got %d)", int64(id))
	}
	return id.String(), nil
}
