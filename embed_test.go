package peliqan

import (
	"encoding/json"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostile strings: each tries to leave the context it is put in.
var hostile = []string{
	`</script><script>alert(1)</script>`,
	`"; alert(1); //`,
	`'); alert(1); //`,
	`<img src=x onerror=alert(1)>`,
	`</SCRIPT ><!--`,
	"line\u2028sep\u2029ara\ttor\n",
	`\"); alert(1)//`,
	"${alert(1)}`",
}

var (
	reOptions = regexp.MustCompile(`(?m)^  const options = (.*);$`)
	reToken   = regexp.MustCompile(`(?m)^  options\.integrationToken = (.*);$`)
	reFetch   = regexp.MustCompile(`(?m)await fetch\(("(?:[^"\\]|\\.)*")`)
	reButton  = regexp.MustCompile(`(?s)<div id="peliqan-integration-button">(.*?)</div>`)
)

// assertContained checks the structure is exactly the documented three
// elements, whatever the input: two script elements and one button.
func assertContained(t *testing.T, out string) {
	t.Helper()
	lower := strings.ToLower(out)
	assert.Equal(t, 2, strings.Count(lower, "<script"), out)
	assert.Equal(t, 2, strings.Count(lower, "</script"), out)
	assert.Equal(t, 1, strings.Count(lower, "<div"), out)
	assert.Equal(t, 1, strings.Count(lower, "</div"), out)
	assert.NotContains(t, lower, "<img")
	assert.NotContains(t, lower, "<!--")
	// Inside the init script no "<" at all may appear.
	start := strings.Index(out, "<script type=\"module\">\n")
	if start < 0 {
		start = strings.LastIndex(out, "<script type=\"module\" nonce=")
	}
	require.GreaterOrEqual(t, start, 0)
	body := out[strings.Index(out[start:], ">")+start+1 : strings.LastIndex(out, "</script>")]
	assert.NotContains(t, body, "<", "init script must not contain '<'")
	// Values only ever land in double-quoted JSON strings: the template text
	// itself has no template literal a backtick could open or close.
	assert.NotContains(t, widgetInitJS, "`")
}

func TestWidgetEscapesEverything(t *testing.T) {
	t.Parallel()
	for _, evil := range hostile {
		out, err := Widget(WidgetConfig{
			Token:               evil,
			AvailableConnectors: []string{"hubspot", evil},
			SelectedConnector:   evil,
			ButtonText:          evil,
		})
		require.NoError(t, err, evil)
		s := string(out)
		assertContained(t, s)

		// The values reach the page intact: decode them back.
		m := reOptions.FindStringSubmatch(s)
		require.Len(t, m, 2, s)
		var opts struct {
			Available []string `json:"availableConnectors"`
			Selected  string   `json:"selectedConnector"`
		}
		require.NoError(t, json.Unmarshal([]byte(m[1]), &opts), m[1])
		assert.Equal(t, []string{"hubspot", evil}, opts.Available)
		assert.Equal(t, evil, opts.Selected)

		m = reToken.FindStringSubmatch(s)
		require.Len(t, m, 2, s)
		var tok string
		require.NoError(t, json.Unmarshal([]byte(m[1]), &tok), m[1])
		assert.Equal(t, evil, tok)

		m = reButton.FindStringSubmatch(s)
		require.Len(t, m, 2, s)
		assert.Equal(t, evil, html.UnescapeString(m[1]))
	}
}

func TestWidgetTokenURLAndNonce(t *testing.T) {
	t.Parallel()
	out, err := Widget(WidgetConfig{
		TokenURL:    `/api/peliqan/token?next="</script>`,
		OnConnected: "app.handlers.onConnected",
		Nonce:       `abc"><script>`,
		ScriptURL:   "http://127.0.0.1:8080/static/widget.js",
	})
	require.NoError(t, err)
	s := string(out)
	assert.Equal(t, 2, strings.Count(s, `nonce="abc&#34;&gt;&lt;script&gt;"`), s)
	assert.Contains(t, s, `<script type="module" src="http://127.0.0.1:8080/static/widget.js" nonce=`)
	assert.Contains(t, s, "options.onConnected = (data) => app.handlers.onConnected(data);")
	assert.NotContains(t, s, "options.integrationToken = \"", "no token is embedded with a TokenURL")
	assert.Contains(t, s, "options.integrationToken = (await res.json()).integration_token;")
	m := reFetch.FindStringSubmatch(s)
	require.Len(t, m, 2, s)
	var u string
	require.NoError(t, json.Unmarshal([]byte(m[1]), &u))
	assert.Equal(t, `/api/peliqan/token?next="</script>`, u)
	assert.Contains(t, s, `method: "POST", credentials: "same-origin"`)
	assert.Contains(t, s, ">Add connection</div>", "default button text")
	assert.Equal(t, 2, strings.Count(strings.ToLower(s), "<script"))
}

func TestWidgetDefaults(t *testing.T) {
	t.Parallel()
	out, err := Widget(WidgetConfig{Token: "tok-1"})
	require.NoError(t, err)
	want := `<script type="module" src="https://peliqan.io/embed/v1.3/peliqan-integration.js"></script>
<div id="peliqan-integration-button">Add connection</div>
<script type="module">
(async () => {
  const options = {};
  options.integrationToken = "tok-1";
  if (!globalThis.Peliqan || typeof globalThis.Peliqan.initialize !== "function") {
    throw new Error("peliqan: the embed script did not load");
  }
  await globalThis.Peliqan.initialize(options);
})().catch((err) => console.error(err));
</script>
`
	assert.Equal(t, want, string(out))
}

func TestWidgetRefusesBadInput(t *testing.T) {
	t.Parallel()
	known := []string{"hubspot", "exact_online", "teamleader"}
	cases := map[string]WidgetConfig{
		"no token":               {},
		"blank token":            {Token: "  "},
		"both token kinds":       {Token: "t", TokenURL: "/tok"},
		"connector not known":    {Token: "t", AvailableConnectors: []string{"hubspot", "salesforce"}, KnownConnectors: known},
		"empty connector":        {Token: "t", AvailableConnectors: []string{"hubspot", ""}},
		"duplicate connector":    {Token: "t", AvailableConnectors: []string{"hubspot", "hubspot"}},
		"selected not known":     {Token: "t", SelectedConnector: "salesforce", KnownConnectors: known},
		"selected not available": {Token: "t", SelectedConnector: "teamleader", AvailableConnectors: []string{"hubspot"}},
		"blank selected":         {Token: "t", SelectedConnector: " "},
		"callback with code":     {Token: "t", OnConnected: "alert(1);f"},
		"callback with space":    {Token: "t", OnConnected: "a b"},
		"callback trailing dot":  {Token: "t", OnConnected: "app."},
		"callback digit first":   {Token: "t", OnConnected: "1f"},
		"script javascript:":     {Token: "t", ScriptURL: "javascript:alert(1)"},
		"script plain http":      {Token: "t", ScriptURL: "http://cdn.example.com/w.js"},
		"script data:":           {Token: "t", ScriptURL: "data:text/javascript,alert(1)"},
		"script protocol-rel":    {Token: "t", ScriptURL: "//evil.example/w.js"},
		"token URL javascript:":  {TokenURL: "javascript:alert(1)"},
		"token URL other scheme": {TokenURL: "ftp://x/y"},
	}
	for name, cfg := range cases {
		out, err := Widget(cfg)
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
		assert.Empty(t, out, name)
	}
	ok := map[string]WidgetConfig{
		"known subset":       {Token: "t", AvailableConnectors: []string{"hubspot"}, SelectedConnector: "hubspot", KnownConnectors: known},
		"selected only":      {Token: "t", SelectedConnector: "exact_online", KnownConnectors: known},
		"dollar callback":    {Token: "t", OnConnected: "$app._on$Connected"},
		"https script":       {Token: "t", ScriptURL: "https://cdn.example.com/w.js"},
		"relative script":    {Token: "t", ScriptURL: "/static/w.js"},
		"localhost script":   {Token: "t", ScriptURL: "http://localhost:9/w.js"},
		"absolute token URL": {TokenURL: "https://app.example.com/api/peliqan/token"},
	}
	for name, cfg := range ok {
		_, err := Widget(cfg)
		assert.NoError(t, err, name)
	}
}

func TestValidateConnectors(t *testing.T) {
	t.Parallel()
	known := []string{"hubspot", "exact_online"}
	assert.NoError(t, ValidateConnectors(nil, known))
	assert.NoError(t, ValidateConnectors([]string{"exact_online", "hubspot"}, known))
	assert.NoError(t, ValidateConnectors([]string{"anything"}, nil), "no known list: only shape is checked")

	err := ValidateConnectors([]string{"hubspot", "HubSpot"}, known)
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Contains(t, err.Error(), `"HubSpot"`, "names the offending connector; matching is exact")

	assert.ErrorIs(t, ValidateConnectors([]string{" "}, nil), ErrInvalidArgument)
	assert.ErrorIs(t, ValidateConnectors([]string{"a", "a"}, nil), ErrInvalidArgument)
}

func FuzzWidget(f *testing.F) {
	for _, h := range hostile {
		f.Add(h, h, h)
	}
	f.Fuzz(func(t *testing.T, token, connector, text string) {
		out, err := Widget(WidgetConfig{Token: token, AvailableConnectors: []string{connector}, ButtonText: text})
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidArgument)
			return
		}
		lower := strings.ToLower(string(out))
		require.Equal(t, 2, strings.Count(lower, "<script"), string(out))
		require.Equal(t, 2, strings.Count(lower, "</script"), string(out))
		require.Equal(t, 1, strings.Count(lower, "<div"), string(out))
	})
}
