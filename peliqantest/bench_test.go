package peliqantest

import (
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// benchGet measures one route of the fake over loopback with a plain
// client, reporting requests and rows per second.
func benchGet(b *testing.B, srv *Fake, p string, q url.Values, tok string, rowsPerReq int) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	u := srv.URL() + p + "?" + q.Encode()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "JWT "+tok)
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatal(res.Status)
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "req/s")
	if rowsPerReq > 0 {
		b.ReportMetric(float64(b.N*rowsPerReq)/sec, "rows/s")
	}
}

func BenchmarkFakeListRows1000(b *testing.B) {
	srv, err := New(WithFixture(Fixture{SubAccounts: []SubAccountFixture{{ExternalID: "b", Connections: []ConnectionFixture{{
		Name: "big", Tables: []TableFixture{{Name: "t", Fields: contactsTable.Fields, GeneratedRows: 1_000_000}},
	}}}}}))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	sa := srv.Seeded().SubAccounts[0]
	tok, _ := srv.TenantToken(sa.ID, false)
	benchGet(b, srv, mustPath(routes.ListRows, sa.Connections[0].Tables[0].String()),
		url.Values{"size": {"1000"}, "page": {"500"}, "user_field_names": {"true"}}, tok, 1000)
}

func BenchmarkFakeListServers(b *testing.B) {
	srv, err := New(WithFixture(Generate(1, 1, 5, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	tok, _ := srv.TenantToken(srv.Seeded().SubAccounts[0].ID, false)
	benchGet(b, srv, mustPath(routes.ListServers), nil, tok, 0)
}

func mustPath(name string, params ...string) string {
	p, err := routes.MustLookup(name).Expand(params...)
	if err != nil {
		panic(err)
	}
	return p
}
