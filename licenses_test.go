package peliqan_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// licenseT0 is the day the licence fixture is seeded on.
var licenseT0 = time.Date(2026, time.March, 1, 10, 0, 0, 0, time.UTC)

// licenseFixture: customers with licences expired, expiring, far off and
// open-ended; acme and hooli expire on the same day.
func licenseFixture() peliqantest.Fixture {
	d := func(m time.Month, day int) peliqan.Date { return peliqan.NewDate(2026, m, day) }
	return peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "acme", License: "pro", ExpiresOn: d(time.March, 20)},
		{ExternalID: "globex", License: "pro", ExpiresOn: d(time.May, 15)},
		{ExternalID: "initech", License: "free_trial"},
		{ExternalID: "umbrella", License: "free_trial", ExpiresOn: d(time.March, 10)},
		{ExternalID: "hooli", License: "pro", ExpiresOn: d(time.March, 20)},
		{ExternalID: "stark", License: "enterprise", ExpiresOn: d(time.February, 20)},
		{ExternalID: "wayne", License: "pro", ExpiresOn: d(time.December, 31)},
	}}
}

// reportsFake starts a fake on a manual clock at t0 with f, and a partner
// client for it.
func reportsFake(t *testing.T, t0 time.Time, f peliqantest.Fixture) (*peliqantest.Fake, *peliqantest.ManualClock, *peliqan.PartnerClient) {
	t.Helper()
	clk := peliqantest.NewManualClock(t0)
	fake := peliqantest.NewFake(t, peliqantest.WithClock(clk.Now), peliqantest.WithFixture(f))
	p, err := fake.PartnerClient()
	require.NoError(t, err)
	return fake, clk, p
}

// writes lists the requests that were not reads, as "METHOD path".
func writes(fake *peliqantest.Fake) []string {
	var out []string
	for _, r := range fake.Requests() {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

type licenseRow struct {
	ext   string
	days  int
	state peliqan.LicenseState
}

func licenseRows(rep *peliqan.LicenseReport) []licenseRow {
	out := make([]licenseRow, len(rep.Customers))
	for i, c := range rep.Customers {
		out[i] = licenseRow{c.SubAccount.ExternalID, c.DaysLeft, c.State}
	}
	return out
}

// TestLicenseReportFollowsTheFakeClock: moving the fake's clock past expiry
// dates moves customers from valid to expiring to expired; the report is
// sorted most urgent first (longest expired first, same-day expiries by
// id, no expiry last) and counts days from the day of Now.
func TestLicenseReportFollowsTheFakeClock(t *testing.T) {
	t.Parallel()
	fake, clk, p := reportsFake(t, licenseT0, licenseFixture())
	ctx := context.Background()
	report := func(o *peliqan.LicenseReportOptions) *peliqan.LicenseReport {
		t.Helper()
		if o == nil {
			o = &peliqan.LicenseReportOptions{}
		}
		o.Now = clk.Now
		rep, err := p.LicenseReport(ctx, o)
		require.NoError(t, err)
		return rep
	}

	rep := report(nil)
	assert.Equal(t, peliqan.NewDate(2026, time.March, 1), rep.Today)
	assert.Equal(t, 30, rep.WithinDays)
	assert.Equal(t, []licenseRow{
		{"stark", -9, peliqan.LicenseExpired},
		{"umbrella", 9, peliqan.LicenseExpiring},
		{"acme", 19, peliqan.LicenseExpiring},
		{"hooli", 19, peliqan.LicenseExpiring},
		{"globex", 75, peliqan.LicenseValid},
		{"wayne", 305, peliqan.LicenseValid},
		{"initech", 0, peliqan.LicenseNoExpiry},
	}, licenseRows(rep))
	assert.Equal(t, 1, rep.Count(peliqan.LicenseExpired))
	assert.Equal(t, 3, rep.Count(peliqan.LicenseExpiring))
	first := rep.Customers[0]
	assert.Equal(t, "enterprise", first.License)
	assert.Equal(t, peliqan.NewDate(2026, time.February, 20), first.ExpiresOn)
	assert.Equal(t, "stark", first.SubAccount.ExternalID)
	assert.Empty(t, first.Partner)
	assert.NoError(t, rep.Err())

	clk.Advance(15 * 24 * time.Hour) // 2026-03-16
	assert.Equal(t, []licenseRow{
		{"stark", -24, peliqan.LicenseExpired},
		{"umbrella", -6, peliqan.LicenseExpired},
		{"acme", 4, peliqan.LicenseExpiring},
		{"hooli", 4, peliqan.LicenseExpiring},
		{"globex", 60, peliqan.LicenseValid},
		{"wayne", 290, peliqan.LicenseValid},
		{"initech", 0, peliqan.LicenseNoExpiry},
	}, licenseRows(report(nil)))

	// The expiry day itself is the last valid day.
	clk.Advance(time.Date(2026, time.March, 20, 23, 59, 0, 0, time.UTC).Sub(clk.Now()))
	rows := licenseRows(report(&peliqan.LicenseReportOptions{License: "pro"}))
	assert.Equal(t, licenseRow{"acme", 0, peliqan.LicenseExpiring}, rows[0])
	clk.Advance(time.Minute)
	rows = licenseRows(report(&peliqan.LicenseReportOptions{License: "pro"}))
	assert.Equal(t, licenseRow{"acme", -1, peliqan.LicenseExpired}, rows[0])

	clk.Advance(time.Date(2026, time.May, 16, 8, 0, 0, 0, time.UTC).Sub(clk.Now()))
	rep = report(nil)
	assert.Equal(t, 5, rep.Count(peliqan.LicenseExpired))
	assert.Equal(t, 0, rep.Count(peliqan.LicenseExpiring))
	assert.Equal(t, 1, rep.Count(peliqan.LicenseValid))
	assert.Equal(t, 1, rep.Count(peliqan.LicenseNoExpiry))

	assert.Empty(t, writes(fake), "a report only reads")
}

// TestLicenseReportFilters: by licence, expiring only, a predicate, and a
// narrower window.
func TestLicenseReportFilters(t *testing.T) {
	t.Parallel()
	_, clk, p := reportsFake(t, licenseT0, licenseFixture())
	ctx := context.Background()
	exts := func(o *peliqan.LicenseReportOptions) []string {
		t.Helper()
		o.Now = clk.Now
		rep, err := p.LicenseReport(ctx, o)
		require.NoError(t, err)
		var out []string
		for _, c := range rep.Customers {
			out = append(out, c.SubAccount.ExternalID)
		}
		return out
	}
	assert.Equal(t, []string{"acme", "hooli", "globex", "wayne"}, exts(&peliqan.LicenseReportOptions{License: "pro"}))
	assert.Equal(t, []string{"stark", "umbrella", "acme", "hooli"}, exts(&peliqan.LicenseReportOptions{ExpiringOnly: true}))
	assert.Equal(t, []string{"acme", "hooli"}, exts(&peliqan.LicenseReportOptions{License: "pro", ExpiringOnly: true}))
	assert.Equal(t, []string{"stark", "umbrella"}, exts(&peliqan.LicenseReportOptions{ExpiringOnly: true, WithinDays: 10}))
	assert.Equal(t, []string{"globex", "wayne"}, exts(&peliqan.LicenseReportOptions{
		Filter: func(c *peliqan.CustomerLicense) bool { return c.DaysLeft > 30 }}))
	assert.Equal(t, []string{"initech"}, exts(&peliqan.LicenseReportOptions{
		Filter: func(c *peliqan.CustomerLicense) bool { return c.State == peliqan.LicenseNoExpiry }}))
	// Small pages: every customer once, whatever the page size.
	assert.Len(t, exts(&peliqan.LicenseReportOptions{PageSize: 2}), 7)
}

// TestLicenseReportRefusesBadOptions: refused before any request.
func TestLicenseReportRefusesBadOptions(t *testing.T) {
	t.Parallel()
	fake, _, p := reportsFake(t, licenseT0, licenseFixture())
	for name, o := range map[string]*peliqan.LicenseReportOptions{
		"negative window": {WithinDays: -1},
		"negative page":   {PageSize: -1},
		"huge page":       {PageSize: 1001},
	} {
		_, err := p.LicenseReport(context.Background(), o)
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, name)
	}
	assert.Empty(t, fake.Requests())
}

// TestLicenseReportListingFails: a failed listing is the error, with no
// report.
func TestLicenseReportListingFails(t *testing.T) {
	t.Parallel()
	fake, clk, p := reportsFake(t, licenseT0, licenseFixture())
	fake.FailNext(peliqan.RouteListSubAccounts, 10, peliqantest.StatusFault(503, ""))
	rep, err := p.LicenseReport(context.Background(), &peliqan.LicenseReportOptions{Now: clk.Now})
	assert.Nil(t, rep)
	assert.ErrorIs(t, err, peliqan.ErrServer)
}

type changeRow struct {
	ext     string
	outcome peliqan.LicenseChangeOutcome
	before  string
	after   string
}

func changeRows(rep *peliqan.LicenseChangeReport) []changeRow {
	out := make([]changeRow, len(rep.Results))
	for i, r := range rep.Results {
		ext, _ := r.Ref.ExternalID()
		if r.SubAccount != nil {
			ext = r.SubAccount.ExternalID
		}
		out[i] = changeRow{ext, r.Outcome, r.Before.String(), r.After.String()}
	}
	return out
}

func isPro(sa *peliqan.SubAccount) bool { return sa.License == "pro" }

// TestChangeLicensesDryRunSendsNoWrites: without Confirmed, nothing but
// reads reaches the server, and the report says what would change.
func TestChangeLicensesDryRunSendsNoWrites(t *testing.T) {
	t.Parallel()
	fake, _, p := reportsFake(t, licenseT0, licenseFixture())
	ctx := context.Background()
	change := peliqan.LicenseChange{Match: isPro, ExpiresOn: peliqan.NewDate(2026, time.December, 31)}
	for _, o := range []*peliqan.LicenseChangeOptions{nil, {}, {Concurrency: 1}} {
		rep, err := p.ChangeLicenses(ctx, change, o)
		require.NoError(t, err)
		assert.True(t, rep.DryRun)
		assert.Equal(t, []changeRow{
			{"acme", peliqan.LicenseWouldChange, "pro until 2026-03-20", "pro until 2026-12-31"},
			{"globex", peliqan.LicenseWouldChange, "pro until 2026-05-15", "pro until 2026-12-31"},
			{"hooli", peliqan.LicenseWouldChange, "pro until 2026-03-20", "pro until 2026-12-31"},
			{"wayne", peliqan.LicenseUnchanged, "pro until 2026-12-31", "pro until 2026-12-31"},
		}, changeRows(rep))
		assert.NoError(t, rep.Err())
	}
	assert.Empty(t, writes(fake), "a dry run sends no write")
	assert.Zero(t, fake.Count(peliqan.RouteUpdateSubAccount))
	sa, err := p.GetSubAccount(ctx, peliqan.ByExternalID("acme"))
	require.NoError(t, err)
	assert.Equal(t, "2026-03-20", sa.ExpiresOn.String(), "nothing changed")
}

// TestChangeLicensesConfirmedWritesWhatTheDryRunListed: the confirmed run
// sends one PUT per customer the dry run listed as would-change, and no
// other write; each PUT carries only the field that differs. A second run
// changes nothing and sends no write.
func TestChangeLicensesConfirmedWritesWhatTheDryRunListed(t *testing.T) {
	t.Parallel()
	fake, _, p := reportsFake(t, licenseT0, licenseFixture())
	ctx := context.Background()
	change := peliqan.LicenseChange{Match: isPro, ExpiresOn: peliqan.NewDate(2026, time.December, 31)}

	dry, err := p.ChangeLicenses(ctx, change, nil)
	require.NoError(t, err)
	var planned []string
	for _, r := range dry.Results {
		if r.Outcome == peliqan.LicenseWouldChange {
			planned = append(planned, "PUT /api/partner/sub-accounts/"+r.SubAccount.ID.String()+"/")
		}
	}
	require.Len(t, planned, 3)
	fake.ResetRecords()

	rep, err := p.ChangeLicenses(ctx, change, &peliqan.LicenseChangeOptions{Confirm: peliqan.Confirmed})
	require.NoError(t, err)
	assert.False(t, rep.DryRun)
	assert.Equal(t, []changeRow{
		{"acme", peliqan.LicenseChanged, "pro until 2026-03-20", "pro until 2026-12-31"},
		{"globex", peliqan.LicenseChanged, "pro until 2026-05-15", "pro until 2026-12-31"},
		{"hooli", peliqan.LicenseChanged, "pro until 2026-03-20", "pro until 2026-12-31"},
		{"wayne", peliqan.LicenseUnchanged, "pro until 2026-12-31", "pro until 2026-12-31"},
	}, changeRows(rep))
	got := writes(fake)
	slices.Sort(got)
	slices.Sort(planned)
	assert.Equal(t, planned, got, "exactly the writes the dry run listed")
	for _, r := range fake.Requests() {
		if r.Method == http.MethodPut {
			assert.JSONEq(t, `{"expires_on": "2026-12-31"}`, string(r.Body), "only the field that differs is sent")
		}
	}
	for _, ext := range []string{"acme", "globex", "hooli"} {
		sa, err := p.GetSubAccount(ctx, peliqan.ByExternalID(ext))
		require.NoError(t, err)
		assert.Equal(t, "2026-12-31", sa.ExpiresOn.String(), ext)
		assert.Equal(t, "pro", sa.License, ext)
	}

	fake.ResetRecords()
	again, err := p.ChangeLicenses(ctx, change, &peliqan.LicenseChangeOptions{Confirm: peliqan.Confirmed})
	require.NoError(t, err)
	assert.Equal(t, 4, again.Count(peliqan.LicenseUnchanged), "a second run changes nothing")
	assert.Empty(t, writes(fake))
}

// TestChangeLicensesByRefs: named customers keep their order; an unknown
// one fails alone; a licence change and a cleared expiry send exactly
// those fields.
func TestChangeLicensesByRefs(t *testing.T) {
	t.Parallel()
	fake, _, p := reportsFake(t, licenseT0, licenseFixture())
	ctx := context.Background()
	change := peliqan.LicenseChange{
		SubAccounts:    []peliqan.SubAccountRef{peliqan.ByExternalID("initech"), peliqan.ByExternalID("ghost"), peliqan.ByExternalID("stark")},
		License:        "pro",
		ClearExpiresOn: true,
	}
	rep, err := p.ChangeLicenses(ctx, change, &peliqan.LicenseChangeOptions{Confirm: peliqan.Confirmed, Concurrency: 1})
	require.NoError(t, err)
	assert.Equal(t, []changeRow{
		{"initech", peliqan.LicenseChanged, "free_trial, no expiry", "pro, no expiry"},
		{"ghost", peliqan.LicenseChangeFailed, "(no licence), no expiry", "(no licence), no expiry"},
		{"stark", peliqan.LicenseChanged, "enterprise until 2026-02-20", "pro, no expiry"},
	}, changeRows(rep))
	assert.Nil(t, rep.Results[1].SubAccount)
	assert.ErrorIs(t, rep.Results[1].Err, peliqan.ErrNotFound)
	assert.ErrorIs(t, rep.Err(), peliqan.ErrNotFound)
	assert.Contains(t, rep.Err().Error(), "ghost")
	assert.Equal(t, 1, rep.Count(peliqan.LicenseChangeFailed))

	var bodies []string
	for _, r := range fake.Requests() {
		if r.Method == http.MethodPut {
			bodies = append(bodies, string(r.Body))
		}
	}
	require.Len(t, bodies, 2)
	assert.JSONEq(t, `{"license": "pro"}`, bodies[0])
	assert.JSONEq(t, `{"license": "pro", "expires_on": null}`, bodies[1])
	sa, err := p.GetSubAccount(ctx, peliqan.ByExternalID("stark"))
	require.NoError(t, err)
	assert.Nil(t, sa.ExpiresOn)
	assert.Equal(t, "pro", sa.License)
}

// TestChangeLicensesFailedUpdateIsRetriedByRunningAgain: an update that
// fails is that customer's failure; the others change; running again
// changes only the one that failed.
func TestChangeLicensesFailedUpdateIsRetriedByRunningAgain(t *testing.T) {
	t.Parallel()
	fake, _, p := reportsFake(t, licenseT0, licenseFixture())
	ctx := context.Background()
	// The selection does not depend on the licence, so the second run sees
	// the same four customers.
	sel := func(sa *peliqan.SubAccount) bool {
		return slices.Contains([]string{"acme", "globex", "hooli", "wayne"}, sa.ExternalID)
	}
	change := peliqan.LicenseChange{Match: sel, License: "enterprise"}
	confirmed := &peliqan.LicenseChangeOptions{Confirm: peliqan.Confirmed, Concurrency: 1}
	fake.FailNext(peliqan.RouteUpdateSubAccount, 3, peliqantest.StatusFault(503, "")) // every attempt of one PUT

	rep, err := p.ChangeLicenses(ctx, change, confirmed)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Count(peliqan.LicenseChanged))
	require.Equal(t, 1, rep.Count(peliqan.LicenseChangeFailed))
	assert.ErrorIs(t, rep.Err(), peliqan.ErrServer)
	failed := rep.Results[slices.IndexFunc(rep.Results, func(r peliqan.LicenseChangeResult) bool {
		return r.Outcome == peliqan.LicenseChangeFailed
	})]

	fake.ResetRecords()
	again, err := p.ChangeLicenses(ctx, change, confirmed)
	require.NoError(t, err)
	assert.Equal(t, 1, again.Count(peliqan.LicenseChanged))
	assert.Equal(t, 3, again.Count(peliqan.LicenseUnchanged))
	assert.Equal(t, []string{"PUT /api/partner/sub-accounts/" + failed.SubAccount.ID.String() + "/"}, writes(fake))
}

// TestChangeLicensesRefusesBadInput: a confirmation other than Confirmed
// (a typo, "true", "yes") and an unclear change are refused before any
// request.
func TestChangeLicensesRefusesBadInput(t *testing.T) {
	t.Parallel()
	fake, _, p := reportsFake(t, licenseT0, licenseFixture())
	ctx := context.Background()
	ok := peliqan.LicenseChange{Match: isPro, License: "pro"}
	for _, c := range []peliqan.Confirmation{"yes", "true", "Confirmed", "confirm", " confirmed"} {
		_, err := p.ChangeLicenses(ctx, ok, &peliqan.LicenseChangeOptions{Confirm: c})
		var ae *peliqan.ArgumentError
		require.True(t, errors.As(err, &ae), "%q: %v", c, err)
		assert.Equal(t, "Confirm", ae.Name)
	}
	acme := []peliqan.SubAccountRef{peliqan.ByExternalID("acme")}
	for name, ch := range map[string]peliqan.LicenseChange{
		"no selection":      {License: "pro"},
		"both selections":   {SubAccounts: acme, Match: isPro, License: "pro"},
		"nothing to change": {SubAccounts: acme},
		"blank licence":     {SubAccounts: acme, License: "  "},
		"set and clear":     {SubAccounts: acme, ExpiresOn: peliqan.NewDate(2027, 1, 1), ClearExpiresOn: true},
		"impossible date":   {SubAccounts: acme, ExpiresOn: peliqan.NewDate(2027, 2, 30)},
		"zero ref":          {SubAccounts: []peliqan.SubAccountRef{{}}, License: "pro"},
		"ref twice":         {SubAccounts: append(acme, acme...), License: "pro"},
	} {
		_, err := p.ChangeLicenses(ctx, ch, nil)
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, name)
	}
	for name, o := range map[string]*peliqan.LicenseChangeOptions{
		"negative concurrency": {Concurrency: -1},
		"huge page":            {PageSize: 5000},
	} {
		_, err := p.ChangeLicenses(ctx, ok, o)
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, name)
	}
	assert.Empty(t, fake.Requests())
}

// failPage answers 503 to every request for page 2 of a list, and passes
// everything else to the loopback fake.
type failPage struct{ next http.RoundTripper }

func (f failPage) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("page") == "2" {
		return &http.Response{StatusCode: 503, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"detail": "unavailable"}`)), Request: r}, nil
	}
	return f.next.RoundTrip(r)
}

// TestChangeLicensesListingFailsBeforeAnyWrite: with Match, a listing that
// fails part way (its second page) returns the error and writes nothing,
// though the first page had matching customers.
func TestChangeLicensesListingFailsBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	fake, _, _ := reportsFake(t, licenseT0, licenseFixture())
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	p, err := fake.PartnerClient(peliqan.WithHTTPClient(&http.Client{Transport: failPage{tr}}))
	require.NoError(t, err)
	rep, err := p.ChangeLicenses(context.Background(), peliqan.LicenseChange{Match: isPro, License: "enterprise"},
		&peliqan.LicenseChangeOptions{Confirm: peliqan.Confirmed, PageSize: 2})
	assert.Nil(t, rep)
	assert.ErrorIs(t, err, peliqan.ErrServer)
	assert.Equal(t, 1, fake.Count(peliqan.RouteListSubAccounts), "page 1 reached the fake")
	assert.Empty(t, writes(fake))
}

// TestChangeLicensesDecodeErrorIsApplied: a PUT the server accepted whose
// answer is cut short counts as changed, with the *DecodeError beside it.
func TestChangeLicensesDecodeErrorIsApplied(t *testing.T) {
	t.Parallel()
	fake, _, p := reportsFake(t, licenseT0, licenseFixture())
	fake.FailNext(peliqan.RouteUpdateSubAccount, 1, peliqantest.TruncatedJSONFault())
	rep, err := p.ChangeLicenses(context.Background(), peliqan.LicenseChange{
		SubAccounts: []peliqan.SubAccountRef{peliqan.ByExternalID("acme")}, License: "enterprise"},
		&peliqan.LicenseChangeOptions{Confirm: peliqan.Confirmed})
	require.NoError(t, err)
	r := rep.Results[0]
	assert.Equal(t, peliqan.LicenseChanged, r.Outcome)
	var de *peliqan.DecodeError
	assert.True(t, errors.As(r.Err, &de), "%v", r.Err)
	assert.NoError(t, rep.Err(), "a change that was applied is not a failure")
	sa, err := p.GetSubAccount(context.Background(), peliqan.ByExternalID("acme"))
	require.NoError(t, err)
	assert.Equal(t, "enterprise", sa.License)
}
