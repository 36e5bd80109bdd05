package peliqan

import (
	"bytes"
	"html/template"
	"net/url"
	"regexp"
	"slices"
	"strings"
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
	// Token is an integration token for the logged-in customer.
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
// The initialisation call itself is inferred (see the package's widget
// template): Peliqan.initialize({integrationToken, availableConnectors,
// selectedConnector, onConnected}).
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
