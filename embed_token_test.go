package peliqan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const integrateURL = testBase + "/api/partner/sub-account/integrate/"

// demoUsers is the "session store" of the tests: the X-Session header names
// a logged-in user. identify never looks at the body.
var demoUsers = map[string]Integration{
	"sess-alice": {ExternalID: "cust_1001", FirstName: "Alice", LastName: "Martin", Email: "alice@acme.test", CompanyName: "Acme"},
	"sess-bob":   {ExternalID: "cust_2002", FirstName: "Bob", LastName: "Peeters", Email: "bob@wood.test", CompanyName: "Wood BV"},
	"sess-carol": {ExternalID: "cust_3003", FirstName: "Carol", LastName: "Janssens", Email: "carol@x.test", CompanyName: "X"},
	"sess-bad":   {ExternalID: "cust_4004", FirstName: "", LastName: "Nobody", Email: "not-an-email", CompanyName: "Y"},
}

var errBanned = fmt.Errorf("user is banned: %w", ErrForbidden)

func sessionIdentify(r *http.Request) (Integration, error) {
	s := r.Header.Get("X-Session")
	if s == "sess-banned" {
		return Integration{}, errBanned
	}
	in, ok := demoUsers[s]
	if !ok {
		return Integration{}, errors.New("no session for " + s)
	}
	return in, nil
}

// integrateRecorder answers the integrate route with a distinct opaque token
// per call and records the external_id of each request body.
type integrateRecorder struct {
	mu    sync.Mutex
	ids   []string
	calls atomic.Int32
}

func (rec *integrateRecorder) responder(r *http.Request) (*http.Response, error) {
	n := rec.calls.Add(1)
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return httpmock.NewStringResponse(400, `{"error":"bad body"}`), nil
	}
	rec.mu.Lock()
	rec.ids = append(rec.ids, fmt.Sprint(body["external_id"]))
	rec.mu.Unlock()
	return httpmock.NewJsonResponse(200, map[string]string{"integration_token": fmt.Sprintf("int-tok-%s-%d", body["external_id"], n)})
}

func (rec *integrateRecorder) externalIDs() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.ids...)
}

func tokenPost(session string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/peliqan/token", strings.NewReader(`{"external_id":"cust_2002"}`))
	if session != "" {
		r.Header.Set("X-Session", session)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decodeTokenResponse(t *testing.T, w *httptest.ResponseRecorder) tokenResponse {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var out tokenResponse
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&out))
	return out
}

func TestIntegrationTokenHandlerMintsForTheIdentifiedCustomer(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	rec := &integrateRecorder{}
	mt.RegisterResponder("POST", integrateURL, rec.responder)
	h := mustHandler(IntegrationTokenHandler(p, sessionIdentify))

	start := time.Now()
	w := serve(h, tokenPost("sess-alice"))
	got := decodeTokenResponse(t, w)
	assert.Equal(t, "int-tok-cust_1001-1", got.Token)
	exp, err := time.Parse(time.RFC3339, got.ExpiresAt)
	require.NoError(t, err)
	assert.WithinDuration(t, start.Add(30*time.Minute), exp, 2*time.Second)
	assert.True(t, strings.HasSuffix(got.ExpiresAt, "Z"), "expires_at in UTC")

	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))

	// The body asked for cust_2002; the session said cust_1001, and only
	// that reached Peliqan, with the whole profile.
	assert.Equal(t, []string{"cust_1001"}, rec.externalIDs())
	info := mt.GetCallCountInfo()
	assert.Equal(t, 1, info["POST "+integrateURL])
}

func TestIntegrationTokenHandlerRefusals(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	rec := &integrateRecorder{}
	mt.RegisterResponder("POST", integrateURL, rec.responder)
	h := mustHandler(IntegrationTokenHandler(p, sessionIdentify))

	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodOptions} {
		r := httptest.NewRequest(m, "/api/peliqan/token", nil)
		r.Header.Set("X-Session", "sess-alice")
		w := serve(h, r)
		assert.Equal(t, http.StatusMethodNotAllowed, w.Code, m)
		assert.Equal(t, "POST", w.Header().Get("Allow"), m)
		if m != http.MethodHead {
			assert.JSONEq(t, `{"error":"method_not_allowed"}`, w.Body.String(), m)
		}
	}

	cases := []struct {
		name    string
		session string
		status  int
		code    string
	}{
		{"no session", "", 401, "unauthenticated"},
		{"unknown session", "sess-nobody", 401, "unauthenticated"},
		{"forbidden", "sess-banned", 403, "forbidden"},
		{"incomplete profile", "sess-bad", 500, "internal_error"},
	}
	for _, c := range cases {
		w := serve(h, tokenPost(c.session))
		assert.Equal(t, c.status, w.Code, c.name)
		assert.JSONEq(t, `{"error":"`+c.code+`"}`, w.Body.String(), c.name)
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"), c.name)
		assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"), c.name)
		assert.NotContains(t, w.Body.String(), "banned", c.name)
		assert.NotContains(t, w.Body.String(), "sess-", c.name)
	}

	// A browser POST from another site is refused before identify runs.
	r := tokenPost("sess-alice")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w := serve(h, r)
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.JSONEq(t, `{"error":"cross_origin"}`, w.Body.String())
	// Same-origin is fine.
	r = tokenPost("sess-alice")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusOK, serve(h, r).Code)

	assert.Equal(t, []string{"cust_1001"}, rec.externalIDs(), "no refused request reached Peliqan")

	// Turning the check off, or trusting the page's origin.
	cop := http.NewCrossOriginProtection()
	require.NoError(t, cop.AddTrustedOrigin("https://app.example.com"))
	h2 := mustHandler(IntegrationTokenHandler(p, sessionIdentify, WithTokenHandlerCrossOrigin(cop)))
	r = tokenPost("sess-bob")
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusOK, serve(h2, r).Code)

}

func TestIntegrationTokenHandlerRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	p, _ := mockPartner(t)
	for name, build := range map[string]func() (http.Handler, error){
		"nil client":     func() (http.Handler, error) { return IntegrationTokenHandler(nil, sessionIdentify) },
		"nil identify":   func() (http.Handler, error) { return IntegrationTokenHandler(p, nil) },
		"negative cache": func() (http.Handler, error) { return IntegrationTokenHandler(p, sessionIdentify, WithTokenCache(-1)) },
		"nil logger": func() (http.Handler, error) {
			return IntegrationTokenHandler(p, sessionIdentify, WithTokenHandlerLogger(nil))
		},
	} {
		h, err := build()
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
		assert.Nil(t, h, name)
	}
}

func TestIntegrationTokenHandlerUpstreamFailureLeaksNothing(t *testing.T) {
	t.Parallel()
	logs := &safeBuffer{}
	p, mt := mockPartner(t)
	upstream := []httpmock.Responder{
		httpmock.NewStringResponder(500, `{"error":"INTERNAL","detail":"({'stack': 'db at 10.0.0.7 pw=s3cr3t'}, 'TraceId: abc123')"}`),
		httpmock.NewStringResponder(401, `{"detail":"Invalid partner token `+testPartnerToken+`"}`),
		httpmock.NewStringResponder(200, `<html>proxy login</html>`),
		httpmock.NewErrorResponder(errors.New("dial tcp 10.0.0.7:443: connection refused")),
	}
	var n atomic.Int32
	mt.RegisterResponder("POST", integrateURL, sequence(&n, upstream...))
	h := mustHandler(IntegrationTokenHandler(p, sessionIdentify, WithTokenHandlerLogger(slog.New(slog.NewTextHandler(logs, nil)))))

	for i := range upstream {
		w := serve(h, tokenPost("sess-alice"))
		assert.Equal(t, http.StatusBadGateway, w.Code, i)
		assert.JSONEq(t, `{"error":"upstream_error"}`, w.Body.String(), i)
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		for _, secret := range []string{testPartnerToken, "s3cr3t", "10.0.0.7", "TraceId", "proxy"} {
			assert.NotContains(t, w.Body.String(), secret, i)
		}
	}
	assert.Equal(t, int32(len(upstream)), n.Load(), "a POST is never retried, and failures are not cached")
	assert.Contains(t, logs.String(), "minting an integration token failed")
	assert.NotContains(t, logs.String(), testPartnerToken, "the operator log never carries the partner token")
}

func TestIntegrationTokenHandlerCache(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	rec := &integrateRecorder{}
	mt.RegisterResponder("POST", integrateURL, rec.responder)
	var offset atomic.Int64
	h := mustHandler(IntegrationTokenHandler(p, sessionIdentify)).(*tokenHandler)
	h.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }

	first := decodeTokenResponse(t, serve(h, tokenPost("sess-alice")))
	again := decodeTokenResponse(t, serve(h, tokenPost("sess-alice")))
	assert.Equal(t, first, again, "reused while fresh")
	bob := decodeTokenResponse(t, serve(h, tokenPost("sess-bob")))
	assert.NotEqual(t, first.Token, bob.Token, "never shared across customers")
	assert.Equal(t, int32(2), rec.calls.Load())

	// 24 minutes on: 6 minutes left, still served.
	offset.Store(int64(24 * time.Minute))
	assert.Equal(t, first, decodeTokenResponse(t, serve(h, tokenPost("sess-alice"))))
	assert.Equal(t, int32(2), rec.calls.Load())

	// 25m01s on: under 5 minutes left, a new one is minted.
	offset.Store(int64(25*time.Minute + time.Second))
	fresh := decodeTokenResponse(t, serve(h, tokenPost("sess-alice")))
	assert.NotEqual(t, first.Token, fresh.Token)
	assert.Equal(t, int32(3), rec.calls.Load())
	assert.Equal(t, []string{"cust_1001", "cust_2002", "cust_1001"}, rec.externalIDs())
}

func TestIntegrationTokenHandlerCacheBoundedAndOff(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	rec := &integrateRecorder{}
	mt.RegisterResponder("POST", integrateURL, rec.responder)

	h := mustHandler(IntegrationTokenHandler(p, sessionIdentify, WithTokenCache(2))).(*tokenHandler)
	for _, s := range []string{"sess-alice", "sess-bob", "sess-carol", "sess-alice"} {
		decodeTokenResponse(t, serve(h, tokenPost(s)))
		assert.LessOrEqual(t, h.cache.len(), 2)
	}
	// alice was the first to expire, so carol evicted her: 4 mints.
	assert.Equal(t, int32(4), rec.calls.Load())

	off := mustHandler(IntegrationTokenHandler(p, sessionIdentify, WithTokenCache(0))).(*tokenHandler)
	decodeTokenResponse(t, serve(off, tokenPost("sess-bob")))
	decodeTokenResponse(t, serve(off, tokenPost("sess-bob")))
	assert.Equal(t, int32(6), rec.calls.Load())
	assert.Equal(t, 0, off.cache.len())
}

func TestTokenCacheEvictsStaleFirst(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c := tokenCache{max: 2}
	a, b, d := Integration{ExternalID: "a"}, Integration{ExternalID: "b"}, Integration{ExternalID: "d"}
	c.put(a, IntegrationToken{Token: "ta", ExpiresAt: now.Add(6 * time.Minute)}, now)
	c.put(b, IntegrationToken{Token: "tb", ExpiresAt: now.Add(30 * time.Minute)}, now)
	later := now.Add(2 * time.Minute) // a is now inside the margin
	c.put(d, IntegrationToken{Token: "td", ExpiresAt: later.Add(30 * time.Minute)}, later)
	_, okA := c.get(a, later)
	tb, okB := c.get(b, later)
	td, okD := c.get(d, later)
	assert.False(t, okA)
	assert.True(t, okB)
	assert.True(t, okD)
	assert.Equal(t, "tb", tb.Token)
	assert.Equal(t, "td", td.Token)
	// A token already inside the margin is not stored at all.
	c.put(a, IntegrationToken{Token: "short", ExpiresAt: later.Add(4 * time.Minute)}, later)
	_, okA = c.get(a, later)
	assert.False(t, okA)
}

func TestIntegrationTokenHandlerConcurrent(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	rec := &integrateRecorder{}
	mt.RegisterResponder("POST", integrateURL, rec.responder)
	h := mustHandler(IntegrationTokenHandler(p, sessionIdentify, WithTokenCache(2)))
	sessions := []string{"sess-alice", "sess-bob", "sess-carol"}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range 90 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sessions[i%len(sessions)]
			w := serve(h, tokenPost(s))
			var out tokenResponse
			if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &out) != nil ||
				!strings.HasPrefix(out.Token, "int-tok-"+demoUsers[s].ExternalID+"-") {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, bad.Load(), "every caller got its own customer's token")
	assert.LessOrEqual(t, rec.calls.Load(), int32(90))
}

// The handler never reads the body: a huge one costs nothing.
func TestIntegrationTokenHandlerIgnoresBody(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	rec := &integrateRecorder{}
	mt.RegisterResponder("POST", integrateURL, rec.responder)
	h := mustHandler(IntegrationTokenHandler(p, sessionIdentify))
	r := httptest.NewRequest(http.MethodPost, "/t", io.NopCloser(failingReader{}))
	r.Header.Set("X-Session", "sess-bob")
	decodeTokenResponse(t, serve(h, r))
	assert.Equal(t, []string{"cust_2002"}, rec.externalIDs())
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("body must not be read") }
