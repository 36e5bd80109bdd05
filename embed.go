package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultWidgetScriptURL is Peliqan's embed script (v1.3), loaded as a
// module script by Widget when WidgetConfig.ScriptURL is empty.
const DefaultWidgetScriptURL = "https://peliqan.io/embed/v1.3/peliqan-integration.js"

// DefaultWidgetButtonText is the button label when WidgetConfig.ButtonText is
// empty.
const DefaultWidgetButtonText = "Add connection"

// WidgetButtonID is the id of the element the embed script turns into the
// "Add connection" button (from Peliqan's embedding documentation).
const WidgetButtonID = "peliqan-integration-button"

// widgetInitJS is the one place that says how the page hands the token and
// the options to Peliqan's embed script. INFERRED: the documentation we have
// names Peliqan.initialize(...), the availableConnectors and
// selectedConnector properties and an onConnected callback, but never shows
// the call itself; the name of the token property (integrationToken) is our
// guess. Change it here, and only here, once the real call is known.
//
// It runs as a module script, so it executes after the (module) embed script
// has loaded. With a TokenURL it POSTs to that same-origin endpoint (see
// IntegrationTokenHandler) for a fresh token first; the session cookie
// identifies the customer, never anything the page sends.
const widgetInitJS = `(async () => {
  const options = {{.Options}};
{{- if .OnConnected}}
  options.onConnected = (data) => {{.OnConnected}}(data);
{{- end}}
{{- if .TokenURL}}
  const res = await fetch({{.TokenURL}}, {method: "POST", credentials: "same-origin", headers: {"Accept": "application/json"}});
  if (!res.ok) {
    throw new Error("peliqan: the token endpoint answered " + res.status);
  }
  options.integrationToken = (await res.json()).integration_token;
{{- else}}
  options.integrationToken = {{.Token}};
{{- end}}
  if (!globalThis.Peliqan || typeof globalThis.Peliqan.initialize !== "function") {
    throw new Error("peliqan: the embed script did not load");
  }
  await globalThis.Peliqan.initialize(options);
})().catch((err) => console.error(err));
`

// widgetHTML is the markup from Peliqan's embedding documentation: the
// module script, the button element, then the initialisation script.
const widgetHTML = `<script type="module" src="{{.ScriptURL}}"{{with .Nonce}} nonce="{{.}}"{{end}}></script>
<div id="` + WidgetButtonID + `">{{.ButtonText}}</div>
<script type="module"{{with .Nonce}} nonce="{{.}}"{{end}}>
` + widgetInitJS + `</script>
`

var widgetTemplate = template.Must(template.New("peliqan-widget").Parse(widgetHTML))

// WidgetConfig describes the "Add connection" widget for one page view.
//
// Exactly one of Token and TokenURL is set: Token embeds an integration token
// minted while rendering the page (PartnerClient.IntegrationToken); TokenURL
// names the endpoint the page calls for a fresh one (IntegrationTokenHandler),
// which keeps tokens out of cached HTML and works for pages that outlive a
// token.
type WidgetConfig struct {
	// Token is an integration token for the logged-in customer. It ends up
	// in the HTML: serve that page with "Cache-Control: no-store".
	Token string
	// TokenURL is a same-origin path or URL served by IntegrationTokenHandler.
	TokenURL string
	// AvailableConnectors, when not empty, limits the connectors the modal
	// offers (Peliqan's availableConnectors).
	AvailableConnectors []string
	// SelectedConnector, when set, opens the modal on that connector's form
	// (selectedConnector). It must be one of AvailableConnectors when those
	// are given.
	SelectedConnector string
	// KnownConnectors, when not empty, is the list AvailableConnectors and
	// SelectedConnector must come from (for instance the names from
	// PartnerClient.ServerTypes, or your partner settings), checked with
	// ValidateConnectors. It is not sent to the page.
	KnownConnectors []string
	// OnConnected is the name of a JavaScript function the page defines,
	// called with the new connection once the customer added one: an
	// identifier or a dotted path ("handleOnConnected", "app.onConnected").
	// It is resolved when called, so it may be defined after the widget,
	// including as a top-level const in a classic script.
	OnConnected string
	// ButtonText is the button's label (DefaultWidgetButtonText when empty).
	ButtonText string
	// ScriptURL is the embed script (DefaultWidgetScriptURL when empty): an
	// https URL, an http URL on a loopback host, or a path on your own site.
	ScriptURL string
	// Nonce, when set, is added to both script tags for a Content Security
	// Policy with script-src 'nonce-...'.
	Nonce string
}

var widgetJSPath = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$`)

// Widget renders the widget's HTML for cfg: the embed script tag, the
// button element and the script that initialises the widget. Put it in the
// page's <body> (it works there as well as in <head>, module scripts being
// deferred). Every value is escaped by html/template for the context it
// lands in, so connector names, button text or tokens holding quotes, "<" or
// "</script>" cannot break out of their string or element.
//
// Bad input is refused with ErrInvalidArgument: neither or both of Token and
// TokenURL, a connector outside KnownConnectors, an empty or duplicate
// connector name, a SelectedConnector outside AvailableConnectors, an
// OnConnected that is not a JavaScript identifier path, or a script or token
// URL that is not https/loopback http/same-site.
//
// The initialisation call is inferred (Peliqan's documentation names it but
// does not show it); the rendered script calls
//
//	Peliqan.initialize({integrationToken, availableConnectors, selectedConnector, onConnected})
//
// once the embed script has loaded and, with a TokenURL, once the token has
// been fetched.
func Widget(cfg WidgetConfig) (template.HTML, error) {
	data, err := cfg.templateData()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := widgetTemplate.Execute(&buf, data); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil //nolint:gosec // produced by html/template, every value escaped
}

type widgetOptions struct {
	AvailableConnectors []string `json:"availableConnectors,omitempty"`
	SelectedConnector   string   `json:"selectedConnector,omitempty"`
}

type widgetData struct {
	ScriptURL   string
	Nonce       string
	ButtonText  string
	Options     widgetOptions
	OnConnected template.JS
	Token       string
	TokenURL    string
}

func (cfg WidgetConfig) templateData() (*widgetData, error) {
	d := &widgetData{
		ScriptURL:  cfg.ScriptURL,
		Nonce:      cfg.Nonce,
		ButtonText: cfg.ButtonText,
		Token:      cfg.Token,
		TokenURL:   cfg.TokenURL,
		Options: widgetOptions{
			AvailableConnectors: cfg.AvailableConnectors,
			SelectedConnector:   cfg.SelectedConnector,
		},
	}
	switch {
	case strings.TrimSpace(cfg.Token) == "" && strings.TrimSpace(cfg.TokenURL) == "":
		return nil, invalidArg("WidgetConfig.Token", "one of Token and TokenURL is required")
	case cfg.Token != "" && cfg.TokenURL != "":
		return nil, invalidArg("WidgetConfig.Token", "set Token or TokenURL, not both")
	}
	if cfg.TokenURL != "" {
		if err := checkPageURL("WidgetConfig.TokenURL", cfg.TokenURL); err != nil {
			return nil, err
		}
	}
	if d.ScriptURL == "" {
		d.ScriptURL = DefaultWidgetScriptURL
	} else if err := checkPageURL("WidgetConfig.ScriptURL", d.ScriptURL); err != nil {
		return nil, err
	}
	if strings.TrimSpace(d.ButtonText) == "" {
		d.ButtonText = DefaultWidgetButtonText
	}
	if cfg.OnConnected != "" {
		if !widgetJSPath.MatchString(cfg.OnConnected) {
			return nil, invalidArg("WidgetConfig.OnConnected", "%q is not a JavaScript function name", cfg.OnConnected)
		}
		// Safe to insert as code: the pattern admits identifier characters
		// and dots only.
		d.OnConnected = template.JS(cfg.OnConnected) //nolint:gosec // validated above
	}
	if len(cfg.AvailableConnectors) > 0 || len(cfg.KnownConnectors) > 0 {
		if err := ValidateConnectors(cfg.AvailableConnectors, cfg.KnownConnectors); err != nil {
			return nil, err
		}
	}
	if sel := cfg.SelectedConnector; sel != "" {
		if strings.TrimSpace(sel) == "" {
			return nil, invalidArg("WidgetConfig.SelectedConnector", "is blank")
		}
		if len(cfg.KnownConnectors) > 0 {
			if err := ValidateConnectors([]string{sel}, cfg.KnownConnectors); err != nil {
				return nil, err
			}
		}
		if len(cfg.AvailableConnectors) > 0 && !slices.Contains(cfg.AvailableConnectors, sel) {
			return nil, invalidArg("WidgetConfig.SelectedConnector", "%q is not one of AvailableConnectors", sel)
		}
	}
	return d, nil
}

// ValidateConnectors checks that names is a usable availableConnectors list:
// no empty or duplicate names and, when known is not empty, every name one
// of known (compared exactly). It returns an error matching
// ErrInvalidArgument that names the first offending connector.
func ValidateConnectors(names, known []string) error {
	seen := make(map[string]struct{}, len(names))
	for _, n := range names {
		if strings.TrimSpace(n) == "" {
			return invalidArg("connector", "empty connector name")
		}
		if _, dup := seen[n]; dup {
			return invalidArg("connector", "%q is listed twice", n)
		}
		seen[n] = struct{}{}
		if len(known) > 0 && !slices.Contains(known, n) {
			return invalidArg("connector", "%q is not an available connector", n)
		}
	}
	return nil
}

// checkPageURL accepts a path on the page's own site, an https URL, or an
// http URL on a loopback host.
func checkPageURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return invalidArg(name, "%v", err)
	}
	switch {
	case u.Scheme == "" && u.Host == "" && u.Opaque == "":
		if strings.HasPrefix(raw, "//") || strings.ContainsAny(raw, "\\\r\n\t") {
			return invalidArg(name, "is not a plain path")
		}
		return nil
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && u.Host != "" && isLoopback(u.Hostname()):
		return nil
	}
	return invalidArg(name, "must be https, http on a loopback host, or a path on this site")
}

// IntegrationTokenMargin is how long before its expiry a cached integration
// token stops being handed out, so the widget never starts with a token
// about to die.
const IntegrationTokenMargin = 5 * time.Minute

// DefaultTokenCacheSize is how many customers' integration tokens
// IntegrationTokenHandler keeps by default.
const DefaultTokenCacheSize = 1024

// TokenHandlerOption configures IntegrationTokenHandler; a bad value is
// returned by IntegrationTokenHandler as ErrInvalidArgument.
type TokenHandlerOption func(*tokenHandler) error

// WithTokenCache sets how many customers' tokens the handler keeps (0 turns
// the cache off: every request mints a token, except that requests for one
// customer arriving while its integrate call runs share that call).
func WithTokenCache(maxEntries int) TokenHandlerOption {
	return func(h *tokenHandler) error {
		if maxEntries < 0 {
			return invalidArg("WithTokenCache", "must not be negative (got %d)", maxEntries)
		}
		h.cache.max = maxEntries
		return nil
	}
}

// WithTokenHandlerLogger logs the handler's failures to l (Peliqan errors at
// Error, misconfiguration at Error). Tokens are never logged, nor what
// identify returned.
func WithTokenHandlerLogger(l *slog.Logger) TokenHandlerOption {
	return func(h *tokenHandler) error {
		if l == nil {
			return invalidArg("WithTokenHandlerLogger", "nil *slog.Logger")
		}
		h.log = l
		return nil
	}
}

// WithTokenHandlerCrossOrigin replaces the handler's cross-origin check
// (a zero http.CrossOriginProtection by default, which refuses POSTs a
// browser marks as cross-site, and lets same-origin and non-browser requests
// through). Pass one with AddTrustedOrigin for a page served from another
// origin, or nil to turn the check off.
func WithTokenHandlerCrossOrigin(c *http.CrossOriginProtection) TokenHandlerOption {
	return func(h *tokenHandler) error { h.cop = c; return nil }
}

// IntegrationTokenHandler is the endpoint the page calls (WidgetConfig.TokenURL)
// for a fresh integration token for the logged-in customer. identify decides
// who the caller is, from your own session (cookie, header): the request
// body is never read, so a page cannot ask for another customer's token.
//
// It answers POST only (405 with "Allow: POST" otherwise), always with JSON
// and "Cache-Control: no-store":
//
//	200 {"integration_token": "...", "expires_at": "2026-11-23T10:30:00Z"}
//	401 {"error": "unauthenticated"}  identify failed (any error but the one below)
//	403 {"error": "forbidden"}        identify's error matches ErrForbidden
//	403 {"error": "cross_origin"}     a browser sent it from another site
//	500 {"error": "internal_error"}   identify gave an incomplete profile
//	502 {"error": "upstream_error"}   Peliqan's integrate call failed
//
// Error bodies never carry error text, Peliqan's answer or a token.
//
// Tokens are cached per customer profile (bounded by WithTokenCache, safe for
// concurrent use) and reused until IntegrationTokenMargin before they expire.
// Concurrent requests for one customer (one ExternalID) that find no cached
// token share a single integrate call, since that call creates the
// sub-account: ten first loads send one POST and all get its token. The
// call is not tied to the request that started it: a request that goes away
// leaves it running for the others (it is cancelled once no request waits).
// Different customers are minted in parallel.
//
// A nil p or identify, or a bad option, is refused with ErrInvalidArgument.
func IntegrationTokenHandler(p *PartnerClient, identify func(*http.Request) (Integration, error), opts ...TokenHandlerOption) (http.Handler, error) {
	switch {
	case p == nil:
		return nil, invalidArg("p", "nil *PartnerClient")
	case identify == nil:
		return nil, invalidArg("identify", "is nil")
	}
	h := &tokenHandler{
		p:        p,
		identify: identify,
		cop:      http.NewCrossOriginProtection(),
		now:      time.Now,
		cache:    tokenCache{max: DefaultTokenCacheSize},
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(h); err != nil {
			return nil, err
		}
	}
	return h, nil
}

type tokenHandler struct {
	p        *PartnerClient
	identify func(*http.Request) (Integration, error)
	cop      *http.CrossOriginProtection
	log      *slog.Logger
	now      func() time.Time
	cache    tokenCache
	flights  flightGroup[string, IntegrationToken] // by external id
}

type tokenResponse struct {
	Token     string `json:"integration_token"`
	ExpiresAt string `json:"expires_at"`
}

func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeEmbedError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		return
	}
	if h.cop != nil {
		if err := h.cop.Check(r); err != nil {
			writeEmbedError(w, http.StatusForbidden, "cross_origin")
			return
		}
	}
	in, err := h.identify(r)
	if err != nil {
		if errors.Is(err, ErrForbidden) {
			writeEmbedError(w, http.StatusForbidden, "forbidden")
		} else {
			writeEmbedError(w, http.StatusUnauthorized, "unauthenticated")
		}
		return
	}
	tok, ok := h.cache.get(in, h.now())
	if !ok {
		var err error
		tok, err = h.mint(r.Context(), in)
		switch {
		case err == nil:
		case errors.Is(err, ErrInvalidArgument):
			h.logError(r, "peliqan: identify returned an incomplete integration profile", err)
			writeEmbedError(w, http.StatusInternalServerError, "internal_error")
			return
		default:
			if r.Context().Err() == nil { // a caller that left is not a failure
				h.logError(r, "peliqan: minting an integration token failed", err)
			}
			writeEmbedError(w, http.StatusBadGateway, "upstream_error")
			return
		}
	}
	b, err := json.Marshal(tokenResponse{Token: tok.Token, ExpiresAt: tok.ExpiresAt.UTC().Format(time.RFC3339)})
	if err != nil {
		writeEmbedError(w, http.StatusInternalServerError, "internal_error")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

// mint gets a token for in from Peliqan. Requests for one customer
// (external id) share one in-flight integrate call: that route creates the
// sub-account, so concurrent first loads must not send one each. The call
// runs detached from any one request, so a request that goes away does not
// fail the others; it is cancelled only when every request waiting on it
// has gone.
func (h *tokenHandler) mint(ctx context.Context, in Integration) (IntegrationToken, error) {
	if err := in.validate(); err != nil {
		return IntegrationToken{}, err // before keying a flight on a bad id
	}
	tok, _, err := h.flights.do(ctx, in.ExternalID, func(fctx context.Context) (IntegrationToken, error) {
		// A call that ended just before this one started may have cached it.
		if tok, ok := h.cache.get(in, h.now()); ok {
			return tok, nil
		}
		t, err := h.p.IntegrationToken(fctx, in)
		if err != nil {
			return IntegrationToken{}, err
		}
		h.cache.put(in, *t, h.now())
		return *t, nil
	})
	return tok, err
}

// logError logs msg with err's text (the SDK's errors never carry tokens).
func (h *tokenHandler) logError(r *http.Request, msg string, err error) {
	if h.log == nil {
		return
	}
	attrs := []slog.Attr{slog.String("path", r.URL.Path)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.log.LogAttrs(r.Context(), slog.LevelError, msg, attrs...)
}

// tokenCache keeps at most max integration tokens, one per customer
// profile, each until IntegrationTokenMargin before its expiry.
type tokenCache struct {
	mu  sync.Mutex
	max int
	m   map[Integration]IntegrationToken
}

func (c *tokenCache) get(key Integration, now time.Time) (IntegrationToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[key]
	if !ok {
		return IntegrationToken{}, false
	}
	if !usable(t, now) {
		delete(c.m, key)
		return IntegrationToken{}, false
	}
	return t, true
}

func (c *tokenCache) put(key Integration, t IntegrationToken, now time.Time) {
	if c.max <= 0 || !usable(t, now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[Integration]IntegrationToken)
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		// Full: drop what is stale, then, if need be, the entry that
		// expires first.
		var victim Integration
		var first time.Time
		for k, v := range c.m {
			if !usable(v, now) {
				delete(c.m, k)
				continue
			}
			if first.IsZero() || v.ExpiresAt.Before(first) {
				victim, first = k, v.ExpiresAt
			}
		}
		if len(c.m) >= c.max {
			delete(c.m, victim)
		}
	}
	c.m[key] = t
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func usable(t IntegrationToken, now time.Time) bool {
	return now.Before(t.ExpiresAt.Add(-IntegrationTokenMargin))
}
