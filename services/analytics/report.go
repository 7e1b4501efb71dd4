package analytics

import (
	"bytes"
	"html/template"

	"github.com/marginschool/margin/pkg/errs"
)

// reportTmpl is the printable class report: one self-contained HTML page
// (no scripts, no external files) with print CSS, for a department meeting.
var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"percent":  percent,
	"num":      num,
	"joinKeys": joinKeys,
	"deref":    func(f *float64) float64 { return *f },
	"list":     func(s ...string) []string { return s },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Class summary: {{.S.Title}}</title>
<style>
body { font: 11pt/1.4 Georgia, "Times New Roman", serif; color: #000; background: #fff; max-width: 60em; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 18pt; margin-bottom: 0; }
h2 { font-size: 14pt; border-bottom: 1px solid #000; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border: 1px solid #555; padding: .2em .4em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
blockquote { margin: .3em 0 .3em 1em; padding-left: .6em; border-left: 3px solid #555; font-style: italic; }
.chart svg { width: 100%; height: auto; }
.muted { color: #444; }
@page { size: A4; margin: 15mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; }
  section, table, .area, .chart { break-inside: avoid; }
  th { background: #eee; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: #000; text-decoration: none; }
}
</style>
</head>
<body>
<h1>Class summary: {{.S.Title}}</h1>
<p class="muted">{{len .S.Students}} students with approved feedback.{{if .S.Overall.Mean}} Mean weighted score {{percent (deref .S.Overall.Mean)}} over {{.S.Overall.Complete}} fully scored students.{{end}}</p>

<section>
<h2>Levels per criterion</h2>
<div class="chart">{{.Chart}}</div>
<table>
<thead><tr><th>Criterion</th>{{range .S.Scale}}<th>{{.Label}}</th>{{end}}<th>Mean</th><th>Median</th></tr></thead>
<tbody>
{{range .S.Criteria}}<tr><td>{{.Title}}</td>{{$n := .Dist.N}}{{range .Dist.Levels}}<td class="n">{{.Count}}{{if $n}} ({{percent .Share}}){{end}}</td>{{end}}<td class="n">{{if .MeanPoints}}{{printf "%.2f" (deref .MeanPoints)}}{{else}}not scored{{end}}</td><td>{{if .Dist.Median}}{{.Dist.Median.Label}}{{else}}—{{end}}</td></tr>
{{end}}</tbody>
</table>
</section>

<section>
<h2>Strengths</h2>
{{range .S.Strengths}}{{template "area" .}}{{else}}<p>Nothing scored yet.</p>{{end}}
<h2>Areas for growth</h2>
{{range .S.Growth}}{{template "area" .}}{{else}}<p>Nothing scored yet.</p>{{end}}
{{if .S.NotEnoughEvidence}}<h2>Not enough quoted evidence yet</h2>
<p class="muted">These criteria rank among the class's strongest or weakest, but no student's work has a quoted passage to show it yet.</p>
<ul>{{range .S.NotEnoughEvidence}}<li>{{.Title}} <span class="muted">(median {{.Median}}; would be {{if eq .Kind "strength"}}a strength{{else}}an area for growth{{end}})</span></li>{{end}}</ul>{{end}}
</section>

<section>
<h2>Students who need support</h2>
<p class="muted">{{.S.SupportRule}}</p>
{{if .S.Support}}<table><thead><tr><th>Student</th><th>Below the level on</th><th>Dropped since last time</th></tr></thead><tbody>
{{range .S.Support}}<tr><td>{{.Student}}</td><td>{{joinKeys $.S .Below}}</td><td>{{range $i, $d := .Dropped}}{{if $i}}; {{end}}{{joinKeys $.S (list $d.Criterion)}}: {{$d.From}} → {{$d.To}}{{end}}</td></tr>
{{end}}</tbody></table>{{else}}<p>None.</p>{{end}}
</section>

{{if .S.FocusPoints}}<section>
<h2>Focus points</h2>
{{range .S.FocusPoints}}<h3>{{.Point}}</h3><p>{{.Students}} students had a note on this.</p>{{range .Notes}}<blockquote>{{.}}</blockquote>{{end}}{{end}}
</section>{{end}}

<section>
<h2>Grader agreement on second reads</h2>
<table><thead><tr><th>Criterion</th><th>Pairs</th><th>Exact</th><th>Within one level</th><th>Agreement</th></tr></thead><tbody>
{{range .S.Agreement}}<tr><td>{{.Title}}</td><td class="n">{{.Agreement.Pairs}}</td><td class="n">{{if .Agreement.Exact}}{{percent (deref .Agreement.Exact)}}{{end}}</td><td class="n">{{if .Agreement.Adjacent}}{{percent (deref .Agreement.Adjacent)}}{{end}}</td><td>{{.Figure}}</td></tr>
{{end}}</tbody></table>
</section>

{{define "area"}}<div class="area"><h3>{{.Title}} <span class="muted">(median {{.Median}})</span></h3>
{{if .Glows}}<p>Common glows: {{range $i, $t := .Glows}}{{if $i}}; {{end}}{{$t.Text}} ({{$t.Count}}){{end}}</p>{{end}}
{{if .Grows}}<p>Common grows: {{range $i, $t := .Grows}}{{if $i}}; {{end}}{{$t.Text}} ({{$t.Count}}){{end}}</p>{{end}}
{{range .Evidence}}<blockquote>“{{.Quote}}” <span class="muted">— {{.Student}}, {{.Level}}</span></blockquote>{{end}}
</div>{{end}}
</body>
</html>
`))

// ReportHTML renders the printable class report of a summary, with the
// levels chart inline.
func ReportHTML(s Summary) ([]byte, error) {
	chart, err := LevelsChart(s)
	if err != nil {
		return nil, err
	}
	// Drop the XML prolog so the SVG can sit inside HTML.
	if i := bytes.Index(chart, []byte("<svg")); i > 0 {
		chart = chart[i:]
	}
	var buf bytes.Buffer
	data := reportData{S: s, Chart: template.HTML(chart)} // our own SVG, from gonum/plot with escaped text
	if err := reportTmpl.Execute(&buf, data); err != nil {
		return nil, errs.Wrap(err, "class report")
	}
	return buf.Bytes(), nil
}

type reportData struct {
	S     Summary
	Chart template.HTML
}
