package peliqan

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSubAccountCreatedAt: created_at decodes from ISO 8601 text or Unix
// seconds; null or "" leave it zero; an odd value leaves it zero and is
// kept in Extra; a zero CreatedAt is not written back.
func TestSubAccountCreatedAt(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, time.January, 5, 9, 0, 0, 0, time.UTC)
	for body, exp := range map[string]time.Time{
		`{"id": 1, "created_at": "2026-01-05T09:00:00.000000Z"}`: want,
		`{"id": 1, "created_at": "2026-01-05T10:00:00+01:00"}`:   want,
		`{"id": 1, "created_at": "2026-01-05 09:00:00"}`:         want,
		`{"id": 1, "created_at": 1767603600}`:                    want,
		`{"id": 1, "created_at": null}`:                          {},
		`{"id": 1, "created_at": ""}`:                            {},
		`{"id": 1}`:                                              {},
	} {
		var sa SubAccount
		require.NoError(t, json.Unmarshal([]byte(body), &sa), body)
		assert.True(t, exp.Equal(sa.CreatedAt), "%s: %s", body, sa.CreatedAt)
		assert.NotContains(t, sa.Extra, "created_at", body)
	}
	var sa SubAccount
	require.NoError(t, json.Unmarshal([]byte(`{"id": 1, "created_at": "last tuesday"}`), &sa))
	assert.True(t, sa.CreatedAt.IsZero())
	assert.JSONEq(t, `"last tuesday"`, string(sa.Extra["created_at"]))

	out, err := json.Marshal(SubAccount{ID: 1})
	require.NoError(t, err)
	assert.NotContains(t, string(out), "created_at")
}

// TestActivityTimesFromRaw: a connection's creation and last sync, and a
// script run's latest time, under the names seen.
func TestActivityTimesFromRaw(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	created, last := serverTimes(json.RawMessage(`{"id": 3, "created_at": "2026-01-05T09:00:00Z", "last_sync_at": "2026-01-05T10:00:00Z"}`))
	assert.Equal(t, t1, created)
	assert.Equal(t, t2, last)
	created, last = serverTimes(json.RawMessage(`{"id": 3, "created_on": "2026-01-05T09:00:00Z", "last_sync_at": null}`))
	assert.Equal(t, t1, created)
	assert.True(t, last.IsZero())
	created, last = serverTimes(json.RawMessage(`{"id": 3, "created_at": {"odd": true}}`))
	assert.True(t, created.IsZero())
	assert.True(t, last.IsZero())
	created, _ = serverTimes(json.RawMessage(`not json`))
	assert.True(t, created.IsZero())

	for raw, want := range map[string]time.Time{
		`{"created_at": "2026-01-05T09:00:00Z", "finished_at": "2026-01-05T10:00:00Z"}`: t2,
		`{"created_at": "2026-01-05T09:00:00Z", "finished_at": null}`:                   t1,
		`{"started_at": "2026-01-05T10:00:00Z"}`:                                        t2,
		`{"timestamp_start": "2026-01-05T09:00:00Z", "timestamp_end": 1767607200}`:      t2,
		`{"ended_at": "2026-01-05T10:00:00Z", "created_at": "garbage"}`:                 t2,
		`{"id": 4}`: {},
	} {
		assert.True(t, want.Equal(scriptRunTime(json.RawMessage(raw))), raw)
	}
}

// TestConfirmation: only the zero value (dry run) and Confirmed are
// accepted.
func TestConfirmation(t *testing.T) {
	t.Parallel()
	apply, err := Confirmation("").apply()
	assert.NoError(t, err)
	assert.False(t, apply)
	apply, err = Confirmed.apply()
	assert.NoError(t, err)
	assert.True(t, apply)
	for _, c := range []Confirmation{"yes", "true", "1", "CONFIRMED", "confirmed "} {
		apply, err := c.apply()
		assert.ErrorIs(t, err, ErrInvalidArgument, c)
		assert.False(t, apply, c)
	}
}

// TestLicenseLine: days left and state around the window's edges.
func TestLicenseLine(t *testing.T) {
	t.Parallel()
	today := NewDate(2026, time.March, 1)
	line := func(exp *Date) CustomerLicense {
		return licenseLine(&SubAccount{ID: 1, License: "pro", ExpiresOn: exp}, today, 30)
	}
	d := func(y int, m time.Month, day int) *Date { v := NewDate(y, m, day); return &v }
	for _, c := range []struct {
		exp   *Date
		days  int
		state LicenseState
	}{
		{nil, 0, LicenseNoExpiry},
		{&Date{}, 0, LicenseNoExpiry},
		{d(2026, time.February, 28), -1, LicenseExpired},
		{d(2026, time.March, 1), 0, LicenseExpiring},
		{d(2026, time.March, 31), 30, LicenseExpiring},
		{d(2026, time.April, 1), 31, LicenseValid},
		{d(2027, time.March, 1), 365, LicenseValid},
		{d(2025, time.March, 1), -365, LicenseExpired},
	} {
		l := line(c.exp)
		assert.Equal(t, c.days, l.DaysLeft, "%v", c.exp)
		assert.Equal(t, c.state, l.State, "%v", c.exp)
	}
	// Across a DST change in the report's zone the count stays in days.
	assert.Equal(t, 31, daysBetween(NewDate(2026, time.March, 1), NewDate(2026, time.April, 1)))
}

// TestSortActivity: unreadable first, then unknown, then the longest idle;
// ties by partner and id.
func TestSortActivity(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lines := []CustomerActivity{
		{SubAccount: SubAccount{ID: 5}, Status: ActivityActive, LastActivity: t0.Add(48 * time.Hour)},
		{SubAccount: SubAccount{ID: 4}, Status: ActivityInactive, LastActivity: t0},
		{SubAccount: SubAccount{ID: 3}, Status: ActivityUnknown},
		{SubAccount: SubAccount{ID: 2}, Status: ActivityUnreadable, LastActivity: t0.Add(time.Hour)},
		{SubAccount: SubAccount{ID: 1}, Status: ActivityInactive, LastActivity: t0, Partner: "b"},
		{SubAccount: SubAccount{ID: 9}, Status: ActivityInactive, LastActivity: t0, Partner: "a"},
	}
	sortActivity(lines)
	var ids []ID
	for _, l := range lines {
		ids = append(ids, l.SubAccount.ID)
	}
	assert.Equal(t, []ID{2, 3, 4, 9, 1, 5}, ids)
}

// TestCloseSkipsUnknownActivity: a customer with nothing that carries a
// time (no connection, no script, and no created_at on the account) is
// ActivityUnknown: listed by InactiveCustomers, never closed. The customer
// beside it, created years ago, is closed.
func TestCloseSkipsUnknownActivity(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder("GET", "https://api.test/api/partner/sub-accounts/", httpmock.NewStringResponder(200,
		`{"data": [{"id": 1, "external_id": "ghost"}, {"id": 2, "external_id": "old", "created_at": "2020-01-01T00:00:00Z"}], "next": null}`))
	mt.RegisterResponder("GET", "https://api.test/api/partner/sub-account/identity/", func(r *http.Request) (*http.Response, error) {
		return httpmock.NewStringResponse(200, `{"token": "tok-`+r.URL.Query().Get("account_id")+`"}`), nil
	})
	mt.RegisterResponder("GET", "https://api.test/api/servers/", httpmock.NewStringResponder(200, `[]`))
	mt.RegisterResponder("GET", "https://api.test/api/interfaces/", httpmock.NewStringResponder(200, `[]`))
	mt.RegisterResponder("DELETE", "https://api.test/api/partner/sub-accounts/2/", httpmock.NewStringResponder(204, ``))
	p, err := NewPartnerClient(testPartnerToken, WithBaseURL("https://api.test"), WithHTTPClient(&http.Client{Transport: mt}),
		WithRetryPolicy(fastRetries(1)))
	require.NoError(t, err)
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

	ina, err := p.InactiveCustomers(context.Background(), &InactivityOptions{Now: now})
	require.NoError(t, err)
	require.Len(t, ina.Customers, 2)
	assert.Equal(t, "ghost", ina.Customers[0].SubAccount.ExternalID)
	assert.Equal(t, ActivityUnknown, ina.Customers[0].Status)
	assert.True(t, ina.Customers[0].LastActivity.IsZero())
	assert.Zero(t, ina.Customers[0].Idle)
	assert.Equal(t, ActivityInactive, ina.Customers[1].Status)
	assert.Equal(t, ActivityFromAccount, ina.Customers[1].Source)

	rep, err := p.CloseInactiveCustomers(context.Background(), &CloseInactiveOptions{Confirm: Confirmed, InactivityOptions: InactivityOptions{Now: now}})
	require.NoError(t, err)
	require.Len(t, rep.Results, 2)
	assert.Equal(t, CloseSkipped, rep.Results[0].Outcome)
	assert.NoError(t, rep.Results[0].Err)
	assert.Equal(t, CloseClosed, rep.Results[1].Outcome)
	assert.NoError(t, rep.Err())
	calls := mt.GetCallCountInfo()
	assert.Equal(t, 1, calls["DELETE https://api.test/api/partner/sub-accounts/2/"])
	assert.Equal(t, 1, mt.GetTotalCallCount()-calls["GET https://api.test/api/partner/sub-accounts/"]-
		calls["GET https://api.test/api/partner/sub-account/identity/"]-calls["GET https://api.test/api/servers/"]-
		calls["GET https://api.test/api/interfaces/"], "one write in all: the delete of the old customer")
}
