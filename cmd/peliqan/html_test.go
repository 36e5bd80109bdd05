package main

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// htmlDoc is what the test reads back from the page.
type htmlDoc struct {
	elements   map[string]int    // element name -> count
	barCounts  map[string]int    // data-verdict -> data-count
	attention  int               // <tr class="needs-attention">
	summary    map[string]string // summary box id -> its number
	text       strings.Builder   // all character data
	attributes []xml.Attr
}

// parsePage parses the page as XML (it is written well-formed for this)
// and collects what the checks need.
func parsePage(t *testing.T, page []byte) *htmlDoc {
	t.Helper()
	d := &htmlDoc{elements: map[string]int{}, barCounts: map[string]int{}, summary: map[string]string{}}
	dec := xml.NewDecoder(strings.NewReader(string(page)))
	dec.Strict = true
	var stack []string
	var inSummary string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the page does not parse: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			name := x.Name.Local
			stack = append(stack, name)
			d.elements[name]++
			d.attributes = append(d.attributes, x.Attr...)
			attr := func(k string) string {
				for _, a := range x.Attr {
					if a.Name.Local == k {
						return a.Value
					}
				}
				return ""
			}
			if name == "g" && attr("class") == "bar" {
				n, err := strconv.Atoi(attr("data-count"))
				if err != nil {
					t.Fatalf("bar count %q", attr("data-count"))
				}
				d.barCounts[attr("data-verdict")] = n
			}
			if name == "tr" && attr("class") == "needs-attention" {
				d.attention++
			}
			if name == "div" && attr("id") != "" {
				inSummary = attr("id")
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			if x.Name.Local == "div" {
				inSummary = ""
			}
		case xml.CharData:
			d.text.Write(x)
			if inSummary != "" && len(stack) > 0 && stack[len(stack)-1] == "strong" {
				d.summary[inSummary] = string(x)
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements: %v", stack)
	}
	return d
}

// checkSelfContained fails on anything that would load from elsewhere.
func checkSelfContained(t *testing.T, page []byte, d *htmlDoc) {
	t.Helper()
	for _, el := range []string{"script", "link", "img", "iframe", "object", "embed", "image", "use", "foreignObject", "audio", "video", "source"} {
		if d.elements[el] > 0 {
			t.Errorf("the page has a <%s> element", el)
		}
	}
	for _, a := range d.attributes {
		switch strings.ToLower(a.Name.Local) {
		case "src", "href", "srcset", "action", "poster", "background", "formaction":
			t.Errorf("the page has a %s=%q attribute", a.Name.Local, a.Value)
		}
		if a.Name.Space != "" {
			t.Errorf("the page has a namespaced attribute %s:%s", a.Name.Space, a.Name.Local)
		}
	}
	lower := strings.ToLower(string(page))
	for _, s := range []string{"url(", "@import", "@font-face", "http://", "https://", "//"} {
		if strings.Contains(lower, s) {
			t.Errorf("the page contains %q", s)
		}
	}
}

// TestFleetHealthHTML: the page parses, its chart and list have the
// scan's counts, and it references nothing outside itself.
func TestFleetHealthHTML(t *testing.T) {
	t.Parallel()
	f, clk := newTestFake(t)
	syncOnce(t, f, clk, 9, 28)
	if err := f.MarkNeedsReauth(48); err != nil {
		t.Fatal(err)
	}
	if err := f.SetHealthStatus(63, "DISABLED"); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	path := filepath.Join(t.TempDir(), "health.html")
	r := c.must(exitAttention, "fleet", "health", "-o", "html", "--file", path)
	if r.stdout != "" {
		t.Errorf("stdout with --file: %q", r.stdout)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := parsePage(t, page)
	checkSelfContained(t, page, d)

	// The same scan as JSON is the reference for the counts.
	var rows []map[string]any
	parseJSON(t, c.must(exitAttention, "fleet", "health", "-o", "json").stdout, &rows)
	want := map[string]int{}
	attention := 0
	for _, row := range rows {
		want[row["verdict"].(string)]++
		if row["needs_attention"] == true {
			attention++
		}
	}
	if len(d.barCounts) != len(verdictOrder) {
		t.Errorf("%d bars, want one per verdict (%d)", len(d.barCounts), len(verdictOrder))
	}
	for _, v := range verdictOrder {
		if d.barCounts[string(v)] != want[string(v)] {
			t.Errorf("bar %s shows %d, want %d", v, d.barCounts[string(v)], want[string(v)])
		}
	}
	if want["needs_reauthorisation"] != 1 || want["disabled"] != 1 || want["failed"] != 2 || attention != 3 {
		t.Fatalf("fixture verdicts %v (attention %d): the test's premise is off", want, attention)
	}
	if d.attention != attention {
		t.Errorf("%d rows need attention on the page, want %d", d.attention, attention)
	}
	if d.summary["connections"] != "6" || d.summary["customers"] != "3" || d.summary["need-attention"] != "3" {
		t.Errorf("summary boxes %v", d.summary)
	}
	if d.elements["svg"] != 1 || d.elements["rect"] != len(verdictOrder) {
		t.Errorf("chart elements: %d svg, %d rect", d.elements["svg"], d.elements["rect"])
	}
}

// TestFleetHealthHTMLEscapes: customer data with markup stays text.
func TestFleetHealthHTMLEscapes(t *testing.T) {
	t.Parallel()
	evil := `<script src="https://evil.example/x.js"></script>&amp;"'`
	f := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{
		ExternalID: "x<y>", CompanyName: evil,
		Connections: []peliqantest.ConnectionFixture{{Type: "hubspot", Name: evil, HealthStatus: "ERROR"}},
	}}}))
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	r := c.must(exitAttention, "fleet", "health", "-o", "html")
	d := parsePage(t, []byte(r.stdout))
	if d.elements["script"] != 0 || d.attention != 1 {
		t.Fatalf("markup in customer data became markup: %d script, %d rows", d.elements["script"], d.attention)
	}
	if !strings.Contains(d.text.String(), evil) {
		t.Errorf("the customer's name is not shown as text")
	}
}

// TestFleetHealthHTMLNoAttention: an all-healthy fleet exits 0 and says so.
func TestFleetHealthHTMLNoAttention(t *testing.T) {
	t.Parallel()
	f := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{
		ExternalID: "fine", Connections: []peliqantest.ConnectionFixture{{Type: "hubspot"}},
	}}}))
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	r := c.must(exitOK, "fleet", "health", "-o", "html")
	d := parsePage(t, []byte(r.stdout))
	if d.attention != 0 || d.barCounts["healthy"] != 1 || !strings.Contains(d.text.String(), "every connection is healthy") {
		t.Errorf("healthy fleet page: %+v", d.barCounts)
	}
	var rows []map[string]any
	parseJSON(t, c.must(exitOK, "fleet", "health", "-o", "json").stdout, &rows)
	if len(rows) != 1 {
		t.Errorf("rows %v", rows)
	}
}
