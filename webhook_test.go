package peliqan

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testWebhookSecret = "whsec-test-secret-42"

func hexMAC(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func webhookRequest(body, header, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/peliqan", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if sig != "" {
		r.Header.Set(header, sig)
	}
	return r
}

func TestVerifyWebhookSignatureFormats(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"connection_added","server_id":7}`)
	mac := hexMAC(testWebhookSecret, string(body))
	ok := map[string]string{
		"bare hex":          mac,
		"prefixed":          "sha256=" + mac,
		"prefix upper":      "SHA256=" + mac,
		"hex upper":         strings.ToUpper(mac),
		"surrounding space": "  sha256=" + mac + " ",
		"SignWebhook":       SignWebhook(testWebhookSecret, body),
	}
	for name, sig := range ok {
		assert.NoError(t, VerifyWebhookSignature(testWebhookSecret, body, sig), name)
	}
	bad := map[string]string{
		"empty":         "",
		"prefix only":   "sha256=",
		"not hex":       strings.Repeat("z", 64),
		"truncated":     mac[:62],
		"too long":      mac + "00",
		"other secret":  hexMAC("another-secret", string(body)),
		"other body":    hexMAC(testWebhookSecret, string(body)+" "),
		"sha1 prefix":   "sha1=" + mac,
		"flipped digit": flipFirstHex(mac),
	}
	for name, sig := range bad {
		assert.ErrorIs(t, VerifyWebhookSignature(testWebhookSecret, body, sig), ErrWebhookSignature, name)
	}
	assert.ErrorIs(t, VerifyWebhookSignature("", body, mac), ErrInvalidArgument)
}

func flipFirstHex(s string) string {
	if s[0] == '0' {
		return "1" + s[1:]
	}
	return "0" + s[1:]
}

func TestVerifyWebhookRequest(t *testing.T) {
	t.Parallel()
	body := `{"event":"pipeline_run_completed","pipeline_run_id":12,"status":"COMPLETED"}`
	ev, err := VerifyWebhook(testWebhookSecret, "", webhookRequest(body, DefaultWebhookSignatureHeader, "sha256="+hexMAC(testWebhookSecret, body)))
	require.NoError(t, err)
	assert.Equal(t, WebhookPipelineRunCompleted, ev.Type)
	assert.JSONEq(t, body, string(ev.Payload))
	var p struct {
		RunID  int    `json:"pipeline_run_id"`
		Status string `json:"status"`
	}
	require.NoError(t, ev.Decode(&p))
	assert.Equal(t, 12, p.RunID)
	assert.Equal(t, "COMPLETED", p.Status)

	// A custom header name: the default header is then ignored.
	r := webhookRequest(body, "X-Custom-Sig", hexMAC(testWebhookSecret, body))
	_, err = VerifyWebhook(testWebhookSecret, "X-Custom-Sig", r)
	require.NoError(t, err)
	r = webhookRequest(body, DefaultWebhookSignatureHeader, hexMAC(testWebhookSecret, body))
	_, err = VerifyWebhook(testWebhookSecret, "X-Custom-Sig", r)
	assert.ErrorIs(t, err, ErrWebhookSignature)

	_, err = VerifyWebhook("", "", webhookRequest(body, DefaultWebhookSignatureHeader, hexMAC("", body)))
	assert.ErrorIs(t, err, ErrInvalidArgument, "an empty secret never verifies anything")

	notJSON := "event=connection_added"
	_, err = VerifyWebhook(testWebhookSecret, "", webhookRequest(notJSON, DefaultWebhookSignatureHeader, hexMAC(testWebhookSecret, notJSON)))
	assert.ErrorIs(t, err, ErrWebhookMalformed)

	big := `{"pad":"` + strings.Repeat("a", int(DefaultWebhookMaxBodyBytes)) + `"}`
	_, err = VerifyWebhook(testWebhookSecret, "", webhookRequest(big, DefaultWebhookSignatureHeader, hexMAC(testWebhookSecret, big)))
	assert.ErrorIs(t, err, ErrWebhookTooLarge)
}

func TestWebhookEventTypes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body  string
		want  WebhookEventType
		known bool
	}{
		{`{"event":"connection_added"}`, WebhookConnectionAdded, true},
		{`{"event_type":"connection_removed"}`, WebhookConnectionRemoved, true},
		{`{"type":"pipeline_run_started"}`, WebhookPipelineRunStarted, true},
		{`{"event":"pipeline_run_completed_with_errors","type":"x"}`, WebhookPipelineRunCompletedWithErrors, true},
		{`{"event":"pipeline_run_internal_error"}`, WebhookPipelineRunInternalError, true},
		{`{"event":"pipeline_run_error"}`, WebhookPipelineRunError, true},
		{`{"event":"pipeline_run_paused"}`, "pipeline_run_paused", false},
		{`{"event":{"nested":true},"type":"connection_added"}`, WebhookConnectionAdded, true},
		{`{"server_id":1}`, "", false},
		{`[1,2]`, "", false},
	}
	for _, c := range cases {
		ev, err := parseWebhookEvent([]byte(c.body))
		require.NoError(t, err, c.body)
		assert.Equal(t, c.want, ev.Type, c.body)
		assert.Equal(t, c.known, ev.Type.IsKnown(), c.body)
	}
	assert.True(t, WebhookConnectionAdded.IsConnection())
	assert.False(t, WebhookConnectionAdded.IsPipelineRun())
	assert.True(t, WebhookPipelineRunError.IsPipelineRun())
	assert.False(t, WebhookEventType("pipeline_run_new").IsPipelineRun())
}

func TestWebhookHandler(t *testing.T) {
	t.Parallel()
	body := `{"event":"connection_added","server_id":7}`
	good := "sha256=" + hexMAC(testWebhookSecret, body)

	var calls atomic.Int32
	var got atomic.Pointer[WebhookEvent]
	h := mustHandler(WebhookHandler(testWebhookSecret, func(ctx context.Context, ev *WebhookEvent) error {
		calls.Add(1)
		got.Store(ev)
		return nil
	}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, webhookRequest(body, DefaultWebhookSignatureHeader, good))
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, int32(1), calls.Load())
	assert.Equal(t, WebhookConnectionAdded, got.Load().Type)

	cases := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"no signature", webhookRequest(body, DefaultWebhookSignatureHeader, ""), 401, "invalid_signature"},
		{"wrong signature", webhookRequest(body, DefaultWebhookSignatureHeader, hexMAC("x", body)), 401, "invalid_signature"},
		{"GET", httptest.NewRequest(http.MethodGet, "/webhooks/peliqan", nil), 405, "method_not_allowed"},
		{"not JSON", webhookRequest("hello", DefaultWebhookSignatureHeader, hexMAC(testWebhookSecret, "hello")), 400, "malformed_body"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, c.req)
		assert.Equal(t, c.status, rec.Code, c.name)
		assert.JSONEq(t, `{"error":"`+c.code+`"}`, rec.Body.String(), c.name)
		assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"), c.name)
		if c.status == 405 {
			assert.Equal(t, "POST", rec.Header().Get("Allow"))
		}
	}
	assert.Equal(t, int32(1), calls.Load(), "fn is never called for a refused request")
}

func TestWebhookHandlerOptionsAndFailures(t *testing.T) {
	t.Parallel()
	body := `{"event":"pipeline_run_error","detail":"secret db password in stack trace"}`
	sig := hexMAC(testWebhookSecret, body)

	failing := mustHandler(WebhookHandler(testWebhookSecret, func(context.Context, *WebhookEvent) error {
		return errors.New("db down: password=hunter2")
	}, WithWebhookHeader("X-Hook-Signature"), WithWebhookMaxBody(64)))

	rec := httptest.NewRecorder()
	failing.ServeHTTP(rec, webhookRequest(`{"event":"x"}`, "X-Hook-Signature", hexMAC(testWebhookSecret, `{"event":"x"}`)))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.JSONEq(t, `{"error":"handler_failed"}`, rec.Body.String())
	assert.NotContains(t, rec.Body.String(), "hunter2")

	rec = httptest.NewRecorder()
	failing.ServeHTTP(rec, webhookRequest(body, "X-Hook-Signature", sig))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "body over the 64-byte cap")

	// Chunked body (no Content-Length) over the cap.
	r := webhookRequest(body, "X-Hook-Signature", sig)
	r.ContentLength = -1
	rec = httptest.NewRecorder()
	failing.ServeHTTP(rec, r)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)

}

func TestWebhookHandlerRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	ok := func(context.Context, *WebhookEvent) error { return nil }
	for name, build := range map[string]func() (http.Handler, error){
		"empty secret":  func() (http.Handler, error) { return WebhookHandler("", ok) },
		"nil fn":        func() (http.Handler, error) { return WebhookHandler(testWebhookSecret, nil) },
		"empty header":  func() (http.Handler, error) { return WebhookHandler(testWebhookSecret, ok, WithWebhookHeader("")) },
		"bad header":    func() (http.Handler, error) { return WebhookHandler(testWebhookSecret, ok, WithWebhookHeader("X Sig")) },
		"zero max body": func() (http.Handler, error) { return WebhookHandler(testWebhookSecret, ok, WithWebhookMaxBody(0)) },
		"negative max":  func() (http.Handler, error) { return WebhookHandler(testWebhookSecret, ok, WithWebhookMaxBody(-5)) },
	} {
		h, err := build()
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
		assert.Nil(t, h, name)
	}
}

func FuzzVerifyWebhook(f *testing.F) {
	f.Add([]byte(`{"event":"connection_added"}`), "sha256=00")
	f.Add([]byte(`[]`), "")
	f.Add([]byte(`{"type":1}`), "zz")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		err := VerifyWebhookSignature(testWebhookSecret, body, sig)
		if err == nil {
			// Only the true MAC may pass.
			require.True(t, hmac.Equal(mustHex(t, sig), mustHex(t, hexMAC(testWebhookSecret, string(body)))))
		}
		ev, err := parseWebhookEvent(body)
		if err == nil {
			require.Equal(t, string(body), string(ev.Payload))
		}
	})
}

func mustHex(t *testing.T, s string) []byte {
	s = strings.TrimSpace(s)
	if len(s) >= 7 && strings.EqualFold(s[:7], "sha256=") {
		s = s[7:]
	}
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}
