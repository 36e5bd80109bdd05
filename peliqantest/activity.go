package peliqantest

import (
	"encoding/json"
	"fmt"
)

// What the SDK's partner reports read, and where the fake keeps it:
//   - a sub-account's licence and expiry (SubAccountFixture.License and
//     ExpiresOn, UpdateSubAccount) and its created_at;
//   - a connection's created_at and last_sync_at, and each pipeline run's
//     timestamp_start and timestamp_end;
//   - each script run's created_at and finished_at.
//
// Every timestamp comes from the fake's clock (WithClock), so a test moves
// a ManualClock past an expiry date or past 90 days without activity and
// reads the reports as they would be then.

// checkExpiry refuses an expiry that is not a calendar date.
func (f *SubAccountFixture) checkExpiry() error {
	if f.ExpiresOn.IsZero() {
		return nil
	}
	if _, err := f.ExpiresOn.MarshalJSON(); err != nil {
		return fmt.Errorf("peliqantest: sub-account %q: expires_on %04d-%02d-%02d is not a calendar date",
			f.ExternalID, f.ExpiresOn.Year, int(f.ExpiresOn.Month), f.ExpiresOn.Day)
	}
	return nil
}

// expiresOn is the fixture's expiry as the partner routes send it: nil
// (null) when it has none.
func (f *SubAccountFixture) expiresOn() *string {
	if f.ExpiresOn.IsZero() {
		return nil
	}
	s := f.ExpiresOn.String()
	return &s
}

// presentString is a member that may be a string or null, and whose
// absence differs from null: "expires_on": null removes an expiry, a body
// without the member leaves it.
type presentString struct {
	sent bool
	v    *string
}

// UnmarshalJSON is called for a member that is present, null included.
func (p *presentString) UnmarshalJSON(b []byte) error {
	p.sent = true
	if string(b) == "null" {
		p.v = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p.v = &s
	return nil
}
