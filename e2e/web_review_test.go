package e2e

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// demoTeacherReview drives the teacher's review pages on the demo school:
// it edits the submitted feedback (a level and a quoted comment), sees a
// stale edit and an invalid one refused without a change, checks that
// another teacher cannot reach the routes, and adjudicates the submission
// whose two reads disagree.
func demoTeacherReview(t *testing.T, in *instance, email, password, assignmentID string) {
	t.Helper()
	c := reviewSignIn(t, in, email, password)
	_, list, _ := page(t, c, in, "/teacher/assignments/"+assignmentID)
	submitted := regexp.MustCompile(`Ready for your review</span></td>\s*<td><a href="(/teacher/feedback/[^"]+)" class="review-link">Review</a></td>`).FindStringSubmatch(list)
	adjudicate := regexp.MustCompile(`<a href="(/teacher/feedback/[^"#]+)#adjudicate"[^>]*>Adjudicate</a>`).FindStringSubmatch(list)
	if submitted == nil || adjudicate == nil {
		t.Fatalf("the demo assignment page has no submitted feedback to review (%v) or no Adjudicate link (%v):\n%s", submitted != nil, adjudicate != nil, list)
	}
	review, flagged := html.UnescapeString(submitted[1]), html.UnescapeString(adjudicate[1])

	// The review page links to the edit page, which shows the feedback.
	_, body, _ := page(t, c, in, review)
	if !strings.Contains(body, `href="`+review+`/edit"`) || !strings.Contains(body, `id="approve"`) {
		t.Fatalf("the review page of submitted feedback has no Edit link or Approve button:\n%s", body)
	}
	levels := reviewLevels(body)
	history := strings.Count(body, "<li><span class=\"hint\">")
	resp, edit, _ := page(t, c, in, review+"/edit")
	if resp.StatusCode != 200 {
		t.Fatalf("the edit page: %d", resp.StatusCode)
	}
	form := reviewForm(t, edit, review+"/edit")
	crit, quote := reviewFirst(t, edit, "level."), reviewFirst(t, edit, "quote.")
	newLevel, newLabel := reviewOtherLevel(t, edit, crit, form.Get(crit))

	// A valid edit: one level and one quoted comment.
	ed := reviewClone(form)
	ed.Set(crit, newLevel)
	ed.Set(quote, "Edited by the teacher: name the study you mean here.")
	ed.Set("note", "Raised after a second look")
	resp, _ = postPage(t, c, in, review+"/edit", ed)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != review+"?done=edited" {
		t.Fatalf("a valid edit: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body, _ = page(t, c, in, resp.Header.Get("Location"))
	after := reviewLevels(body)
	want := slices.Clone(levels)
	want[0] = newLabel
	if !slices.Equal(after, want) || !strings.Contains(body, "Edited by the teacher: name the study you mean here.") ||
		!strings.Contains(body, "You edited: “Raised after a second look”") || !strings.Contains(body, "Feedback edited") {
		t.Fatalf("after the edit the review page shows levels %v (want %v) or lacks the comment, history line or message:\n%s", after, want, body)
	}
	history++

	// The same form again carries the old rev: a conflict, and the form
	// now shows the current version.
	stale := reviewClone(form)
	stale.Set(quote, "A stale change that must not be saved.")
	resp, page409 := postPage(t, c, in, review+"/edit", stale)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page409, "Someone else changed this feedback") ||
		reviewForm(t, page409, review+"/edit").Get("rev") == form.Get("rev") ||
		!strings.Contains(page409, "Edited by the teacher: name the study you mean here.") {
		t.Fatalf("a stale edit: %d\n%s", resp.StatusCode, page409)
	}

	// Invalid edits are refused with their sentences, what the teacher
	// typed is kept, and nothing changes.
	_, edit, _ = page(t, c, in, review+"/edit")
	bad := reviewForm(t, edit, review+"/edit")
	bad.Set(quote, "   ")
	bad.Set(crit, "stellar")
	bad.Set("note", "Typed note kept")
	resp, page400 := postPage(t, c, in, review+"/edit", bad)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page400, "Quoted comment 1 is empty; write a comment or tick Remove.") ||
		!strings.Contains(page400, "“stellar” is not a level of this rubric") || !strings.Contains(page400, ">Typed note kept</textarea>") {
		t.Fatalf("an invalid edit: %d\n%s", resp.StatusCode, page400)
	}
	_, body, _ = page(t, c, in, review)
	if got := reviewLevels(body); !slices.Equal(got, want) || strings.Count(body, "<li><span class=\"hint\">") != history ||
		!strings.Contains(body, "Edited by the teacher: name the study you mean here.") || strings.Contains(body, "stale change") {
		t.Fatalf("refused edits changed the feedback: levels %v, want %v\n%s", got, want, body)
	}

	// Another school's teacher finds none of it.
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "review.other@elsewhere.example.org", "password": teacherPassword, "name": "Mr Elsewhere", "role": "teacher", "school": "Elsewhere High"})
	other := reviewSignIn(t, in, "review.other@elsewhere.example.org", teacherPassword)
	_, _, otherTok := page(t, other, in, "/teacher")
	for _, path := range []string{review, review + "/edit", flagged} {
		if resp, _, _ := page(t, other, in, path); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("another teacher GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	hijack := reviewClone(form)
	hijack.Set("_csrf", otherTok)
	hijack.Set("rev", reviewForm(t, page409, review+"/edit").Get("rev"))
	if resp, _ := postPage(t, other, in, review+"/edit", hijack); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another teacher's edit: %d, want 404", resp.StatusCode)
	}
	if resp, _ := postPage(t, other, in, flagged+"/adjudicate", url.Values{"_csrf": {otherTok}, "note": {"mine"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another teacher's adjudication: %d, want 404", resp.StatusCode)
	}

	// Adjudication: both reads side by side, no Approve until it is done.
	_, body, _ = page(t, c, in, flagged)
	rows := regexp.MustCompile(`<tr class="flagged"><th scope="row">([^<]+) <span[^>]*>[^<]*</span></th><td>([^<]+)</td><td>([^<]+)</td>\s*<td>.*?<select id="[^"]+" name="(level\.[^"]+)">(.*?)</select>`).FindAllStringSubmatch(body, -1)
	if len(rows) == 0 || strings.Contains(body, `id="approve"`) {
		t.Fatalf("the flagged feedback's page has no flagged row (%d) or offers Approve:\n%s", len(rows), body)
	}
	row := rows[0]
	if row[2] == row[3] {
		t.Fatalf("the flagged criterion %q shows the same level for both reads: %q", row[1], row[2])
	}
	adj := reviewForm(t, body, flagged+"/adjudicate")
	for _, r := range rows {
		if adj.Get(r[4]) != "" {
			t.Fatalf("the adjudication form starts %s, where the reads are far apart, from a level: %v", r[4], adj)
		}
	}
	second := regexp.MustCompile(`<option value="([^"]+)"[^>]*>` + regexp.QuoteMeta(row[3]) + `</option>`).FindStringSubmatch(row[5])
	if second == nil {
		t.Fatalf("no option for the second read's level %q in %s", row[3], row[5])
	}
	bogus := reviewClone(adj)
	bogus.Set(row[4], "stellar")
	if resp, b := postPage(t, c, in, flagged+"/adjudicate", bogus); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "which is not on the scale") {
		t.Fatalf("adjudicating with an unknown level: %d\n%s", resp.StatusCode, b)
	}
	adj.Set(row[4], second[1])
	for _, r := range rows[1:] { // every other criterion far apart: the second read too
		if o := regexp.MustCompile(`<option value="([^"]+)"[^>]*>` + regexp.QuoteMeta(r[3]) + `</option>`).FindStringSubmatch(r[5]); o != nil {
			adj.Set(r[4], o[1])
		}
	}
	adj.Set("note", "The second read is right about this")
	resp, _ = postPage(t, c, in, flagged+"/adjudicate", adj)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != flagged+"?done=adjudicated#adjudication" {
		t.Fatalf("adjudicating: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body, _ = page(t, c, in, resp.Header.Get("Location"))
	if !strings.Contains(body, "Adjudicated: your levels now count") || !strings.Contains(body, "You adjudicated the two reads") || !strings.Contains(body, "“The second read is right about this”") ||
		!strings.Contains(body, "<dt>"+row[1]+": <strong>"+row[3]+"</strong></dt>") || !strings.Contains(body, "<dt>"+row[1]+"</dt><dd><strong>"+row[3]+"</strong></dd>") ||
		strings.Contains(body, `id="adjudicate-submit"`) {
		t.Fatalf("after adjudicating, the page does not show the decision (%s: %s) or still offers the form:\n%s", row[1], row[3], body)
	}
	if _, list, _ = page(t, c, in, "/teacher/assignments/"+assignmentID); strings.Contains(strings.ToLower(list), "reads disagree") {
		t.Fatal("after adjudicating, the assignment page still shows the reads disagreeing")
	}
}

// reviewSignIn signs in through the sign-in form and returns the browser.
func reviewSignIn(t *testing.T, in *instance, email, password string) *http.Client {
	t.Helper()
	c := browserClient(t)
	_, _, tok := page(t, c, in, "/signin")
	resp := postForm(t, c, in, "/signin", url.Values{"_csrf": {tok}, "email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/teacher" {
		t.Fatalf("signing in %s: %d to %q", email, resp.StatusCode, resp.Header.Get("Location"))
	}
	return c
}

var (
	reviewHidden   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	reviewTextarea = regexp.MustCompile(`(?s)<textarea id="[^"]*" name="([^"]+)"[^>]*>(.*?)</textarea>`)
	reviewSelect   = regexp.MustCompile(`(?s)<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>`)
	reviewSelected = regexp.MustCompile(`<option value="([^"]*)" selected>`)
	reviewCheckbox = regexp.MustCompile(`<input type="checkbox" name="([^"]+)" value="([^"]*)" checked>`)
	reviewLevel    = regexp.MustCompile(`<dt>[^<]+: <strong>([^<]+)</strong></dt>`)
)

// reviewForm returns what a browser would post from the page's form with
// this action: hidden fields, textareas, selected options and checked
// boxes.
func reviewForm(t *testing.T, body, action string) url.Values {
	t.Helper()
	start := strings.Index(body, `action="`+action+`"`)
	if start < 0 {
		t.Fatalf("no form posting to %s in:\n%s", action, body)
	}
	f := body[start:]
	f = f[:strings.Index(f, "</form>")]
	v := url.Values{}
	for _, m := range reviewHidden.FindAllStringSubmatch(f, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	for _, m := range reviewTextarea.FindAllStringSubmatch(f, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	for _, m := range reviewSelect.FindAllStringSubmatch(f, -1) {
		sel := ""
		if s := reviewSelected.FindStringSubmatch(m[2]); s != nil {
			sel = s[1]
		}
		v.Set(m[1], sel)
	}
	for _, m := range reviewCheckbox.FindAllStringSubmatch(f, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

// reviewFirst returns the name of the page's first field whose name has
// the prefix (the first criterion's level, the first quoted comment).
func reviewFirst(t *testing.T, page, prefix string) string {
	t.Helper()
	m := regexp.MustCompile(`name="(` + regexp.QuoteMeta(prefix) + `[^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page has no %s field:\n%s", prefix, page)
	}
	return m[1]
}

// reviewOtherLevel returns a level of the select named field other than
// current, with its label (the option's text before the descriptor).
func reviewOtherLevel(t *testing.T, page, field, current string) (string, string) {
	t.Helper()
	for _, m := range reviewSelect.FindAllStringSubmatch(page, -1) {
		if m[1] != field {
			continue
		}
		for _, o := range regexp.MustCompile(`<option value="([^"]+)"[^>]*>([^<—]+) — `).FindAllStringSubmatch(m[2], -1) {
			if o[1] != current {
				return o[1], html.UnescapeString(o[2])
			}
		}
	}
	t.Fatalf("no other level than %q for %s", current, field)
	return "", ""
}

// reviewLevels are the level labels the review page lists, in rubric
// order.
func reviewLevels(body string) []string {
	var out []string
	for _, m := range reviewLevel.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func reviewClone(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
