package e2e

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// spStudent is one demo student signed in through their access link.
type spStudent struct {
	Name    string
	C       *http.Client
	SubPath string // their feedback page, if they have released feedback
}

var (
	spWho       = regexp.MustCompile(`<span class="who">([^<]+)</span> <span class="role">Student</span>`)
	spSubLink   = regexp.MustCompile(`href="(/student/submissions/[^"]+)"`)
	spReflect   = regexp.MustCompile(`action="(/student/feedback/[^"]+/reflect)"`)
	spLevel     = regexp.MustCompile(`<span class="crit">[^<]+</span> <strong class="lvl">([^<]+)</strong>`)
	spTitle     = regexp.MustCompile(`<h1>([^<]+)</h1>`)
	spClassID   = regexp.MustCompile(`name="class_id" value="([^"]+)"`)
	spFamilyURL = regexp.MustCompile(`value="https?://[^/"]+(/family\?token=[^"]+)"`)
	spRevoke    = regexp.MustCompile(`action="(/student/progress/links/[^"]+/revoke)"`)
)

// demoStudentPages drives the student's pages on the demo school; links are
// the students' access-link paths (/s/...). A student with released
// feedback writes a reflection and a question (escaped when shown), gets
// an empty one refused with its sentence and an overlong one refused with
// the text kept, sees their progress, and makes a family link that opens
// their progress without a session, naming no other student, until they
// turn it off. Another student reaches none of it.
func demoStudentPages(t *testing.T, in *instance, links []string) {
	t.Helper()
	var all, ready []*spStudent
	var waiting *spStudent
	for _, l := range links {
		st := &spStudent{C: browserClient(t)}
		_, _, tok := page(t, st.C, in, l)
		if r := postForm(t, st.C, in, l, url.Values{"_csrf": {tok}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("redeeming %s: %d", l, r.StatusCode)
		}
		resp, body, _ := page(t, st.C, in, "/student")
		m := spWho.FindStringSubmatch(body)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("student home: %d, no name in the header:\n%s", resp.StatusCode, body)
		}
		st.Name = html.UnescapeString(m[1])
		if !strings.Contains(body, `href="/student/progress"`) {
			t.Errorf("%s's home has no link to their progress", st.Name)
		}
		all = append(all, st)
		if strings.Contains(body, "feedback ready") {
			sm := spSubLink.FindStringSubmatch(body)
			if sm == nil {
				t.Fatalf("no submission link on %s's home", st.Name)
			}
			st.SubPath = html.UnescapeString(sm[1])
			ready = append(ready, st)
		} else if waiting == nil {
			waiting = st
		}
	}
	if len(ready) != 2 || waiting == nil {
		t.Fatalf("%d students with released feedback and %v one without, want 2 and one", len(ready), waiting != nil)
	}
	a, b := ready[0], ready[1]

	// The feedback page has the reflection form.
	resp, body, tok := page(t, a.C, in, a.SubPath)
	rm, lm, tm := spReflect.FindStringSubmatch(body), spLevel.FindStringSubmatch(body), spTitle.FindStringSubmatch(body)
	if resp.StatusCode != 200 || rm == nil || lm == nil || tm == nil || !strings.Contains(body, `href="/student/progress"`) {
		t.Fatalf("%s's feedback page: %d, reflect form %v, level %v, title %v", a.Name, resp.StatusCode, rm, lm, tm)
	}
	reflectPath, level, title := html.UnescapeString(rm[1]), html.UnescapeString(lm[1]), html.UnescapeString(tm[1])
	form := func(kind, text string) url.Values {
		return url.Values{"_csrf": {tok}, "submission_id": {strings.TrimPrefix(a.SubPath, "/student/submissions/")}, "kind": {kind}, "text": {text}}
	}

	// A reflection and a question are saved and listed, escaped.
	const refl, quest = `Next time I will quote my <b>sources</b> properly.`, `Could you show me an example of a <b>strong</b> thesis?`
	for _, w := range []struct{ kind, text, done string }{{"reflection", refl, "reflected"}, {"question", quest, "asked"}} {
		r := postForm(t, a.C, in, reflectPath, form(w.kind, w.text))
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, a.SubPath+"?done="+w.done) {
			t.Fatalf("posting a %s: %d to %q", w.kind, r.StatusCode, loc)
		}
	}
	_, body, _ = page(t, a.C, in, a.SubPath+"?done=asked")
	for _, want := range []string{html.EscapeString(refl), html.EscapeString(quest), ">Reflection</span>", ">Question</span>", "Your question is saved"} {
		if !strings.Contains(body, want) {
			t.Errorf("the feedback page lacks %q after reflecting", want)
		}
	}
	if strings.Contains(body, "<b>sources</b>") || strings.Contains(body, "<b>strong</b>") {
		t.Error("a reflection comes back unescaped")
	}

	// An empty one is refused with its sentence; an overlong one too, with
	// the text kept in the form; with htmx the mistake is a 200 page for
	// the in-place swap.
	if r, body := postPage(t, a.C, in, reflectPath, form("reflection", "  \n ")); r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Write something first.") {
		t.Errorf("an empty reflection: %d, want 400 with its sentence", r.StatusCode)
	}
	long := strings.Repeat("so ", 664) + "<b>kept</b>"
	r, body := postPage(t, a.C, in, reflectPath, form("question", long))
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "longer than 2000 characters") || !strings.Contains(body, html.EscapeString(long)+"</textarea>") {
		t.Errorf("an overlong question: %d, want 400 with its sentence and the text kept", r.StatusCode)
	}
	if !regexp.MustCompile(`value="question" checked`).MatchString(body) {
		t.Error("the overlong question's kind is not kept")
	}
	if r, body := postPage(t, a.C, in, reflectPath, form("reflection", ""), "HX-Request", "true"); r.StatusCode != 200 || !strings.Contains(body, `id="reflect-error"`) {
		t.Errorf("an empty reflection with htmx: %d, want 200 with the error in the section", r.StatusCode)
	}

	// Progress: the assignment and the level, in a table with a chart.
	resp, body, tok = page(t, a.C, in, "/student/progress")
	if resp.StatusCode != 200 || !strings.Contains(body, html.EscapeString(title)) || !strings.Contains(body, "<strong>"+html.EscapeString(level)+"</strong>") ||
		!strings.Contains(body, `<th scope="row">`) || !strings.Contains(body, `id="progress-chart"`) || !strings.Contains(body, `href="/student/progress.svg"`) {
		t.Fatalf("%s's progress page: %d, want %q and %q in a table with the chart:\n%s", a.Name, resp.StatusCode, title, level, body)
	}
	if r := spGet(t, a.C, in, "/student/progress.svg"); r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "image/svg+xml") {
		t.Errorf("the progress chart: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if resp, body, _ := page(t, waiting.C, in, "/student/progress"); resp.StatusCode != 200 || !strings.Contains(body, "No levels yet.") || strings.Contains(body, "<table") {
		t.Errorf("progress with no released feedback: %d, want the empty state", resp.StatusCode)
	}

	// A family link is shown once and opens the progress with no session.
	cm := spClassID.FindStringSubmatch(body)
	if cm == nil {
		t.Fatal("no family-link form on the progress page")
	}
	// The form redirects to the page that shows the new link (post,
	// redirect, get), so that reloading it makes no second link.
	r, _ = postPage(t, a.C, in, "/student/progress/links", url.Values{"_csrf": {tok}, "class_id": {html.UnescapeString(cm[1])}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/student/progress#family" {
		t.Fatalf("creating a family link: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	_, body, _ = page(t, a.C, in, "/student/progress")
	fm, vm := spFamilyURL.FindStringSubmatch(body), spRevoke.FindStringSubmatch(body)
	if fm == nil || vm == nil {
		t.Fatalf("the page after creating a family link: link %v, revoke form %v", fm, vm)
	}
	family, revoke := html.UnescapeString(fm[1]), html.UnescapeString(vm[1])
	token := strings.TrimPrefix(family, "/family?token=")
	if _, body, _ := page(t, a.C, in, "/student/progress"); strings.Contains(body, token) || !strings.Contains(body, revoke) {
		t.Error("the family link's token is shown again, or the link is not listed")
	}
	fresh := browserClient(t)
	resp, body, _ = page(t, fresh, in, family)
	if resp.StatusCode != 200 || !strings.Contains(body, html.EscapeString(a.Name)) || !strings.Contains(body, html.EscapeString(title)) ||
		!strings.Contains(body, "<strong>"+html.EscapeString(level)+"</strong>") || strings.Contains(body, "Sign out") || strings.Contains(body, "/student/progress/links") {
		t.Fatalf("the family page: %d, want %s's read-only progress:\n%s", resp.StatusCode, a.Name, body)
	}
	for _, o := range all {
		if o != a && strings.Contains(body, html.EscapeString(o.Name)) {
			t.Errorf("the family page names another student, %s", o.Name)
		}
	}
	if r := spGet(t, fresh, in, "/family/progress.svg?token="+url.QueryEscape(token)); r.StatusCode != 200 {
		t.Errorf("the family chart: %d", r.StatusCode)
	}
	if resp, _, _ := page(t, fresh, in, "/family?token="+url.QueryEscape(token+"x")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a family link with a wrong token: %d, want 404", resp.StatusCode)
	}

	// Another student can neither turn it off nor reach the feedback.
	_, _, btok := page(t, b.C, in, "/student/progress")
	if r := postForm(t, b.C, in, revoke, url.Values{"_csrf": {btok}}); r.StatusCode != http.StatusNotFound {
		t.Errorf("another student turning off the family link: %d, want 404", r.StatusCode)
	}
	if resp, body, _ := page(t, b.C, in, a.SubPath); resp.StatusCode != http.StatusNotFound || strings.Contains(body, html.EscapeString(refl)) {
		t.Errorf("another student on %s's feedback page: %d, want 404", a.Name, resp.StatusCode)
	}
	bForm := form("question", "Can I read theirs?")
	bForm.Set("_csrf", btok)
	if r := postForm(t, b.C, in, reflectPath, bForm); r.StatusCode != http.StatusNotFound {
		t.Errorf("another student reflecting on %s's feedback: %d, want 404", a.Name, r.StatusCode)
	}
	if resp, _, _ := page(t, fresh, in, family); resp.StatusCode != 200 {
		t.Fatalf("the family link after another student's attempt to turn it off: %d", resp.StatusCode)
	}

	// Turned off, it stops working at once.
	if r := postForm(t, a.C, in, revoke, url.Values{"_csrf": {tok}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/student/progress?done=unshared" {
		t.Fatalf("turning off the family link: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if resp, body, _ := page(t, fresh, in, family); resp.StatusCode != http.StatusNotFound || strings.Contains(body, html.EscapeString(level)+"</strong>") {
		t.Errorf("the family link after turning it off: %d, want 404", resp.StatusCode)
	}
	if _, body, _ := page(t, a.C, in, "/student/progress"); strings.Contains(body, revoke) {
		t.Error("a turned-off family link is still listed")
	}
}

// spGet GETs path with c and drains the body.
func spGet(t *testing.T, c *http.Client, in *instance, path string) *http.Response {
	t.Helper()
	resp, err := c.Get(in.url(path))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
