package main

import (
	"html/template"
	"io"
	"time"

	"github.com/peliqan-community/peliqan-go"
)

// The fleet health page is one self-contained file: inline CSS and an
// inline SVG chart, no script, no link, no image or font loaded from
// anywhere, so it can be mailed, archived or opened offline. It is also
// well-formed XML (every element closed, attributes quoted), which the
// tests use to parse it with encoding/xml.

// verdictColors are the bar colours of the chart.
var verdictColors = map[peliqan.Verdict]string{
	peliqan.VerdictHealthy:              "#2e7d32",
	peliqan.VerdictInProgress:           "#1565c0",
	peliqan.VerdictDisabled:             "#757575",
	peliqan.VerdictRunErrors:            "#f9a825",
	peliqan.VerdictNeedsReauthorisation: "#ef6c00",
	peliqan.VerdictFailed:               "#c62828",
	peliqan.VerdictUnknownStatus:        "#6a1b9a",
	peliqan.VerdictScanFailed:           "#4e342e",
}

// Chart geometry, in SVG user units.
const (
	chartLabelWidth = 190
	chartBarMax     = 420
	chartRowHeight  = 26
	chartBarHeight  = 18
)

type htmlBar struct {
	Verdict   string
	Count     int
	Color     string
	Y, TextY  int
	Width     int
	CountX    int
	Attention bool
}

type htmlRow struct {
	Profile, Customer, ExternalID, Connection, Type, Health, Verdict, LastRun, Error string
	CustomerID, ConnectionID                                                         string
}

type htmlPage struct {
	Generated      string
	Connections    int
	Customers      int
	NeedAttention  int
	Bars           []htmlBar
	ChartHeight    int
	ChartWidth     int
	Rows           []htmlRow
	Multi          bool
	FailedProfiles []htmlFailure
}

type htmlFailure struct{ Profile, Error string }

func writeFleetHTML(w io.Writer, s *fleetScan, now time.Time) error {
	counts := s.counts()
	maxCount := 0
	for _, v := range verdictOrder {
		maxCount = max(maxCount, counts[v])
	}
	page := htmlPage{
		Generated:   now.UTC().Format(time.RFC3339),
		Connections: connectionCount(s),
		Customers:   s.customers(),
		Multi:       s.multi,
		ChartWidth:  chartLabelWidth + chartBarMax + 60,
		ChartHeight: len(verdictOrder)*chartRowHeight + 8,
	}
	for _, f := range s.failed {
		page.FailedProfiles = append(page.FailedProfiles, htmlFailure{f.profile, f.err.Error()})
	}
	for i, v := range verdictOrder {
		n := counts[v]
		width := 0
		if maxCount > 0 {
			width = n * chartBarMax / maxCount
		}
		if n > 0 && width < 2 {
			width = 2 // a non-zero count is always visible
		}
		y := 4 + i*chartRowHeight
		page.Bars = append(page.Bars, htmlBar{
			Verdict: string(v), Count: n, Color: verdictColors[v], Y: y, TextY: y + chartBarHeight - 4,
			Width: width, CountX: chartLabelWidth + width + 6, Attention: v.NeedsAttention(),
		})
	}
	for _, r := range s.attention() {
		row := htmlRow{
			Profile: r.profile, Customer: r.r.SubAccount.Name, ExternalID: r.r.SubAccount.ExternalID,
			CustomerID: r.r.SubAccount.ID.String(),
			Health:     string(r.r.HealthStatus), Verdict: string(r.r.Verdict),
		}
		if r.r.Server != nil {
			row.Connection, row.Type, row.ConnectionID = r.r.Server.Name, r.r.Server.ServerType, r.r.Server.ID.String()
		}
		if r.r.LastRun != nil {
			row.LastRun = string(r.r.LastRun.Status)
			if !r.r.LastRun.EndedAt.IsZero() {
				row.LastRun += " " + r.r.LastRun.EndedAt.UTC().Format(time.RFC3339)
			}
		}
		if r.r.Err != nil {
			row.Error = r.r.Err.Error()
		}
		page.Rows = append(page.Rows, row)
	}
	page.NeedAttention = len(page.Rows)
	return fleetPage.Execute(w, page)
}

// connectionCount counts the rows that are connections (a customer whose
// scan failed has a row without one).
func connectionCount(s *fleetScan) int {
	n := 0
	for _, r := range s.rows {
		if r.r.Server != nil {
			n++
		}
	}
	return n
}

var fleetPage = template.Must(template.New("fleet").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>Peliqan fleet health</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #212121; }
h1 { font-size: 1.5rem; margin-bottom: 0.25rem; }
p.meta { color: #616161; margin-top: 0; }
.summary { display: flex; gap: 1rem; margin: 1rem 0 1.5rem; }
.summary div { border: 1px solid #e0e0e0; border-radius: 6px; padding: 0.6rem 1rem; }
.summary strong { display: block; font-size: 1.6rem; }
.attention strong { color: #c62828; }
svg text { font-size: 13px; fill: #212121; }
table { border-collapse: collapse; width: 100%; margin-top: 0.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 0.35rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.err { color: #b71c1c; max-width: 28rem; overflow-wrap: anywhere; }
.none { color: #2e7d32; }
</style>
</head>
<body>
<h1>Peliqan fleet health</h1>
<p class="meta">Generated {{.Generated}} by the peliqan CLI.</p>
<div class="summary">
<div id="connections"><strong>{{.Connections}}</strong>connections</div>
<div id="customers"><strong>{{.Customers}}</strong>customers</div>
<div id="need-attention" class="attention"><strong>{{.NeedAttention}}</strong>need attention</div>
</div>
{{- if .FailedProfiles}}
<h2>Profiles that could not be scanned</h2>
<ul id="failed-profiles">
{{- range .FailedProfiles}}
<li><strong>{{.Profile}}</strong>: {{.Error}}</li>
{{- end}}
</ul>
{{- end}}
<h2>Verdicts</h2>
<svg id="verdict-chart" role="img" aria-label="Connections per verdict" width="{{.ChartWidth}}" height="{{.ChartHeight}}" viewBox="0 0 {{.ChartWidth}} {{.ChartHeight}}">
<title>Connections per verdict</title>
{{- range .Bars}}
<g class="bar" data-verdict="{{.Verdict}}" data-count="{{.Count}}">
<text x="0" y="{{.TextY}}">{{.Verdict}}</text>
<rect x="190" y="{{.Y}}" width="{{.Width}}" height="18" fill="{{.Color}}"/>
<text x="{{.CountX}}" y="{{.TextY}}">{{.Count}}</text>
</g>
{{- end}}
</svg>
<h2>Connections that need attention</h2>
{{- if .Rows}}
<table id="attention">
<thead><tr>{{if .Multi}}<th>Profile</th>{{end}}<th>Customer</th><th>Connection</th><th>Type</th><th>Health status</th><th>Verdict</th><th>Last run</th><th>Error</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr class="needs-attention">{{if $.Multi}}<td>{{.Profile}}</td>{{end}}<td>{{.Customer}} ({{.ExternalID}}, id {{.CustomerID}})</td><td>{{.Connection}}{{if .ConnectionID}} (id {{.ConnectionID}}){{end}}</td><td>{{.Type}}</td><td>{{.Health}}</td><td>{{.Verdict}}</td><td>{{.LastRun}}</td><td class="err">{{.Error}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="none">None: every connection is healthy, in progress or disabled.</p>
{{- end}}
</body>
</html>
`))
