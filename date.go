package peliqan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Date is a calendar day without a time or zone, such as a license expiry.
// It is sent as "YYYY-MM-DD"; the zero Date is sent as null.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// NewDate returns the date y-m-d (not normalised: NewDate(2026, 2, 30) is
// refused when sent).
func NewDate(y int, m time.Month, d int) Date { return Date{Year: y, Month: m, Day: d} }

// DateOf returns the day t falls on in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate reads "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("peliqan: date %q is not YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// IsZero reports whether d is the zero Date (no date).
func (d Date) IsZero() bool { return d == Date{} }

// String returns "YYYY-MM-DD", or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// In returns midnight at the start of d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// valid reports whether d is a real calendar day in years 1..9999.
func (d Date) valid() bool {
	return d.Year >= 1 && d.Year <= 9999 && DateOf(d.In(time.UTC)) == d
}

// MarshalJSON writes "YYYY-MM-DD", or null for the zero Date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	if !d.valid() {
		return nil, fmt.Errorf("peliqan: %04d-%02d-%02d is not a calendar date", d.Year, int(d.Month), d.Day)
	}
	return []byte(`"` + d.String() + `"`), nil
}

// UnmarshalJSON reads "YYYY-MM-DD", a timestamp (its date part, in the
// timestamp's own offset), "" or null (the zero Date).
func (d *Date) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("peliqan: date must be a string: %w", err)
	}
	if s == "" {
		*d = Date{}
		return nil
	}
	for _, layout := range []string{time.DateOnly, time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			*d = DateOf(t)
			return nil
		}
	}
	return fmt.Errorf("peliqan: date %q is not YYYY-MM-DD", s)
}
