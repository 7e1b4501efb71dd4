// Package web is Margin's server-rendered pages: their handlers, one file
// per role (teacher.go, grader.go, student.go, admin.go) plus sign-in
// (signin.go), form parsing (forms.go) and what every page shares
// (pages.go); html/template templates and the static assets (CSS, small
// JavaScript modules that call the /api/v1 routes, and a vendored htmx),
// embedded in the binary so that `go run` serves them with no Node build
// step. Register adds the pages to an api.Server, which gives them the
// same roles, sign-in, CSRF, limits and error rendering as the JSON API;
// the handlers call the services with the signed-in caller, and hold no
// rule of their own.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Pages are the parsed templates, one set per page (the layout plus the
// page's own file).
type Pages struct {
	sets map[string]*template.Template
}

// Parse parses every page template with the layout. It fails only if a
// template is malformed, which is a bug caught by the tests.
func Parse() (*Pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &Pages{sets: map[string]*template.Template{}}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", base, err)
		}
		p.sets[strings.TrimSuffix(base, ".html")] = t
	}
	return p, nil
}

// Render writes page name with data inside the layout. It returns an error
// for an unknown page or a failed execution.
func (p *Pages) Render(w io.Writer, name string, data any) error {
	t, ok := p.sets[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	return t.ExecuteTemplate(w, "layout.html", data)
}

// Static returns an embedded asset by its path under static/ ("app.css"),
// with its content type. ok is false for an unknown path.
func Static(name string) (data []byte, ctype string, ok bool) {
	name = path.Clean("/" + name)[1:]
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		return nil, "", false
	}
	ctype = mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return b, ctype, true
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Format("Mon 2 Jan 2006, 15:04")
	},
	"money": func(cents int64, currency string) string {
		return fmt.Sprintf("%d.%02d %s", cents/100, cents%100, strings.ToUpper(currency))
	},
	"add": func(a, b int) int { return a + b },
	// count is "1 student" or "3 students": n and the noun in its number
	// (one, or many when given, else one + "s").
	"count": Count,
	// seg escapes a value for one segment of a URL path: an ID with a "/",
	// "?" or "#" in it stays one segment.
	"seg":      url.PathEscape,
	"pct":      func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"duration": Duration,
	// deref reads an optional number; guard it with {{with}}.
	"deref": func(f *float64) float64 { return *f },
	// frozenReason says why an assignment's brief can no longer be edited.
	"frozenReason": func() string { return frozenReason },
}

// Duration says how long a number of hours is as a person would: "under an
// hour", "5 hours", "2.5 days"; nil (not reached yet) is "—".
func Duration(hours *float64) string {
	switch h := hours; {
	case h == nil:
		return "—"
	case *h < 1:
		return "under an hour"
	case *h < 1.5:
		return "1 hour"
	case *h < 48:
		return fmt.Sprintf("%.0f hours", *h)
	default:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", *h/24), ".0") + " days"
	}
}

// Count is n with the noun in its number: "1 student", "3 students"; many,
// when given, is the plural of an irregular noun ("1 feedback", "2
// feedback").
func Count(n int, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	if len(many) > 0 {
		return strconv.Itoa(n) + " " + many[0]
	}
	return strconv.Itoa(n) + " " + one + "s"
}
