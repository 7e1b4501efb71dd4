package e2e

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/notify/notifytest"
)

// ntMail returns the messages to address of kind (X-Margin-Kind) so far.
func ntMail(srv *notifytest.Server, to, kind string) []notifytest.Message {
	var out []notifytest.Message
	for _, m := range srv.Messages() {
		if len(m.To) == 1 && strings.EqualFold(m.To[0], to) && m.Header.Get("X-Margin-Kind") == kind {
			out = append(out, m)
		}
	}
	return out
}

// ntWait waits up to 20 s for a message to address of kind and returns it.
func ntWait(t *testing.T, srv *notifytest.Server, to, kind string) notifytest.Message {
	t.Helper()
	return ntMailWait(t, srv, to, kind, 1)[0]
}

// ntMailWait waits up to 20 s for n messages to address of kind.
func ntMailWait(t *testing.T, srv *notifytest.Server, to, kind string, n int) []notifytest.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ms := ntMail(srv, to, kind)
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s emails to %s after 20 s, want %d", len(ms), kind, to, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ntInbox returns the kinds in the caller's inbox, newest first, and the
// unread count.
func ntInbox(t *testing.T, in *instance, tok string) ([]string, int) {
	t.Helper()
	p := in.must(200, "GET", "/api/v1/notifications", tok, nil)
	var kinds []string
	for _, it := range asSlice(p["items"]) {
		kinds = append(kinds, it.(map[string]any)["kind"].(string))
	}
	return kinds, int(p["unread"].(float64))
}

// ntCheckMessage checks what every email carries: the headers, a text and
// an HTML part, and links back to this Margin only. It returns the
// message's links, from its HTML part.
func ntCheckMessage(t *testing.T, in *instance, m notifytest.Message, unsubscribe bool) []string {
	t.Helper()
	h := m.Header
	if !strings.Contains(h.Get("From"), "margin@school.example") || m.Subject == "" ||
		!strings.HasPrefix(m.MessageID, "<ntf_") || h.Get("Auto-Submitted") != "auto-generated" || h.Get("Date") == "" {
		t.Errorf("%s headers: %v", m.Subject, h)
	}
	if !strings.Contains(m.Text, m.Subject) || !strings.Contains(m.HTML, `<html lang="en">`) || !strings.Contains(m.HTML, "<h1") {
		t.Errorf("%s parts: text %q, html %q", m.Subject, m.Text, m.HTML)
	}
	lu, post := h.Get("List-Unsubscribe"), h.Get("List-Unsubscribe-Post")
	switch {
	case unsubscribe && (!strings.HasPrefix(lu, "<"+in.url("/unsubscribe/")) || post != "List-Unsubscribe=One-Click"):
		t.Errorf("%s: List-Unsubscribe %q, List-Unsubscribe-Post %q", m.Subject, lu, post)
	case !unsubscribe && lu != "":
		t.Errorf("%s is always sent, but has List-Unsubscribe %q", m.Subject, lu)
	}
	var links []string
	for _, l := range regexp.MustCompile(`href="([^"]+)"`).FindAllStringSubmatch(m.HTML, -1) {
		link := strings.ReplaceAll(l[1], "&amp;", "&")
		if !strings.HasPrefix(link, in.url("/")) {
			t.Errorf("%s links outside Margin: %s", m.Subject, link)
		}
		if !strings.Contains(m.Text, link) {
			t.Errorf("%s: the text part lacks the HTML part's link %s", m.Subject, link)
		}
		links = append(links, link)
	}
	return links
}

// ntOpen GETs an absolute link with a session token (or none) and returns
// the status and body; redirects are not followed.
func ntOpen(t *testing.T, link, tok string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", link, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return resp.StatusCode, b.String(), resp.Header
}

// ntCheckLinks follows every link of a message with its recipient's
// session: each opens a page (200). The unsubscribe link opens its page
// without a session, and changes nothing on a GET.
func ntCheckLinks(t *testing.T, links []string, tok, mustShow string) {
	t.Helper()
	for _, l := range links {
		session := tok
		if strings.Contains(l, "/unsubscribe/") {
			session = ""
		}
		status, body, _ := ntOpen(t, l, session)
		if status != 200 {
			t.Errorf("link %s: %d", l, status)
		}
		if mustShow != "" && !strings.Contains(l, "/notifications") && !strings.Contains(l, "/unsubscribe/") && !strings.Contains(body, mustShow) {
			t.Errorf("link %s does not show %q", l, mustShow)
		}
	}
}

// TestE2ENotifications: with a real SMTP server started by the test, on
// the real binary: an offer reaches the grader by email and inbox, once
// however often matching runs, and its link opens the offer; submitted
// feedback reaches the teacher, whose link opens the review; release
// reaches the student (their teacher turned email on), whose emailed link
// signs them in to their own feedback and no one else's; and one-click
// unsubscribe stops the next offer email while the inbox still gets it.
func TestE2ENotifications(t *testing.T) {
	in, srv := startWithMail(t)
	if !strings.Contains(in.stdout.String(), "Email is on") {
		t.Errorf("start-up does not say email is on: %s", in.stdout)
	}
	admin := in.login("root@example.org", teacherPassword)
	fc := publishFixtureClass(t, in)
	const anaEmail = "ana@tutors.example.net"
	ana, anaTok := signUpGrader(t, in, anaEmail, "Ana Grader", []map[string]int{{"min": 9, "max": 12}}, nil)

	// The vetting decision is always sent: no unsubscribe link.
	in.must(200, "PUT", "/api/v1/admin/graders/"+ana+"/vetting", admin, map[string]any{"status": "approved"})
	vet := ntWait(t, srv, anaEmail, "vetting_decided")
	ntCheckLinks(t, ntCheckMessage(t, in, vet, false), anaTok, "")

	// 1. An offer reaches the grader by email and inbox; a second round
	// (the accept below runs one) raises nothing new.
	matchingOf(t, in, fc, true)
	offer := ntWait(t, srv, anaEmail, "offer_made")
	links := ntCheckMessage(t, in, offer, true)
	if strings.Contains(offer.Text+offer.HTML+offer.Subject, "Natarajan") || strings.Contains(offer.Text, "@students.example.org") {
		t.Errorf("the offer email names a student: %s", offer.Text)
	}
	if kinds, unread := ntInbox(t, in, anaTok); !strings.Contains(strings.Join(kinds, " "), "offer_made") || unread < 2 {
		t.Errorf("Ana's inbox: %v, %d unread", kinds, unread)
	}
	// 2. Its link, with the grader's session, opens the offer; without
	// one it asks her to sign in and brings her back.
	ntCheckLinks(t, links, anaTok, "Research essay: personalized learning")
	if status, _, h := ntOpen(t, links[0], ""); status != 303 || !strings.HasPrefix(h.Get("Location"), "/signin?next=") {
		t.Errorf("the offer link signed out: %d %v", status, h.Get("Location"))
	}

	sub := fc.Submissions["1004"]
	task := fbAcceptOffer(t, in, fc, anaTok, sub+":v1")
	fbGrade(t, in, anaTok, task, map[string]string{"thesis": "developing", "evidence": "emerging", "analysis": "developing", "organization": "proficient", "conventions": "developing"})

	// 3. Submitted feedback reaches the teacher; the link opens the review.
	review := ntWait(t, srv, fc.TeacherEmail, "review_waiting")
	links = ntCheckMessage(t, in, review, true)
	ntCheckLinks(t, links, fc.TeacherToken, "Priya Natarajan")
	if !strings.Contains(strings.Join(links, " "), "/teacher/feedback/"+url.PathEscape(task)) && !strings.Contains(strings.Join(links, " "), "/teacher/feedback/"+task) {
		t.Errorf("the review email's links %v miss the review of %s", links, task)
	}

	// A returned feedback reaches the grader with the teacher's note, but
	// a note naming the student stays out of the email (pseudonyms only).
	in.must(200, "POST", "/api/v1/feedback/"+task+"/return", fc.TeacherToken, map[string]any{"note": "Priya Natarajan's sources need more attention."})
	ret := ntWait(t, srv, anaEmail, "feedback_returned")
	if all := ret.Subject + ret.Text + ret.HTML; strings.Contains(all, "Priya") || strings.Contains(all, "Natarajan") {
		t.Errorf("the returned-feedback email names the student: %s", ret.Text)
	}
	ntCheckLinks(t, ntCheckMessage(t, in, ret, true), anaTok, "")
	fbGrade(t, in, anaTok, task, map[string]string{"thesis": "developing", "evidence": "developing", "analysis": "developing", "organization": "proficient", "conventions": "developing"})
	if ms := ntMailWait(t, srv, fc.TeacherEmail, "review_waiting", 2); ms[0].MessageID == ms[1].MessageID {
		t.Errorf("the second submission's email repeats the first's Message-ID")
	}

	// 4. Release reaches the student, by email once the teacher turns it
	// on; the emailed link, GET then POST, signs them in to their feedback.
	in.must(200, "PUT", "/api/v1/classes/"+fc.ClassID+"/email-students", fc.TeacherToken, map[string]any{"email_students": true})
	in.must(200, "POST", "/api/v1/feedback/"+task+"/approve", fc.TeacherToken, nil)
	in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/release", fc.TeacherToken, map[string]any{"student_id": "1004"})
	in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/release", fc.TeacherToken, map[string]any{"student_id": "1004"}) // again: no second email
	const priya = "priya.natarajan@students.example.org"
	released := ntWait(t, srv, priya, "feedback_released")
	links = ntCheckMessage(t, in, released, true)
	var open string
	for _, l := range links {
		if strings.Contains(l, "/n/") {
			open = l
		}
	}
	if open == "" {
		t.Fatalf("the student's email has no sign-in link: %v", links)
	}
	b := browserClient(t)
	path := strings.TrimPrefix(open, in.url(""))
	resp, _, csrf := page(t, b, in, path)
	if resp.StatusCode != 200 || csrf == "" {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	resp = postForm(t, b, in, path, url.Values{"_csrf": {csrf}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/student/submissions/"+sub {
		t.Fatalf("POST %s: %d to %q", path, resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body, _ := page(t, b, in, "/student/submissions/"+sub)
	if resp.StatusCode != 200 || !strings.Contains(body, "Research essay") {
		t.Fatalf("the student's feedback page: %d", resp.StatusCode)
	}
	if resp, _, _ := page(t, b, in, "/student/submissions/"+fc.Submissions["1005"]); resp.StatusCode != 404 {
		t.Errorf("the emailed link's session opens another student's work: %d", resp.StatusCode)
	}
	for _, l := range links {
		if !strings.Contains(l, "/n/") && !strings.Contains(l, "/unsubscribe/") {
			if resp, _, _ := page(t, b, in, strings.TrimPrefix(l, in.url(""))); resp.StatusCode != 200 {
				t.Errorf("the student's link %s: %d", l, resp.StatusCode)
			}
		}
	}
	// The student's question reaches the teacher's inbox.
	resp, _, csrf = page(t, b, in, "/student/submissions/"+sub)
	resp = postForm(t, b, in, "/student/feedback/"+task+"/reflect", url.Values{"_csrf": {csrf}, "kind": {"question"}, "text": {"What is a stronger source?"}, "submission_id": {sub}})
	if resp.StatusCode != 303 {
		t.Errorf("asking a question: %d", resp.StatusCode)
	}
	if kinds, _ := ntInbox(t, in, fc.TeacherToken); !strings.Contains(strings.Join(kinds, " "), "student_message") {
		t.Errorf("the teacher's inbox: %v", kinds)
	}
	// An altered link opens nothing.
	if resp, _, _ := page(t, browserClient(t), in, path+"x"); resp.StatusCode != 404 {
		t.Errorf("an altered sign-in link: %d", resp.StatusCode)
	}

	// 5. One-click unsubscribe (RFC 8058) from the offer email, with no
	// session and no CSRF token, stops the next offer email; the inbox
	// still gets the offer.
	lu := strings.Trim(offer.Header.Get("List-Unsubscribe"), "<>")
	req, _ := http.NewRequest("POST", lu, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	uresp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	uresp.Body.Close()
	if uresp.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe: %d", uresp.StatusCode)
	}
	settings := in.must(200, "GET", "/api/v1/notifications/settings", anaTok, nil)
	for _, s := range asSlice(settings["settings"]) {
		if s := s.(map[string]any); s["kind"] == "offer_made" && s["delivery"] != "off" {
			t.Errorf("offer_made after unsubscribing: %v", s["delivery"])
		}
	}
	asg2 := ntSecondAssignment(t, in, fc)
	in.must(201, "POST", "/api/v1/assignments/"+asg2+"/matching/rounds", fc.TeacherToken, nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		kinds, _ := ntInbox(t, in, anaTok)
		if strings.Count(strings.Join(kinds, " "), "offer_made") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second offer never reached Ana's inbox: %v", kinds)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A vetting decision, always sent, queued after the offer: once it has
	// arrived the Sender has passed the offer.
	in.must(200, "PUT", "/api/v1/admin/graders/"+ana+"/vetting", admin, map[string]any{"status": "approved"})
	deadline = time.Now().Add(20 * time.Second)
	for len(ntMail(srv, anaEmail, "vetting_decided")) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(ntMail(srv, anaEmail, "vetting_decided")); n != 2 {
		t.Fatalf("%d vetting emails, want 2", n)
	}

	// Exactly once: one email per event, whatever ran twice (rounds,
	// releases).
	for _, c := range []struct{ to, kind string }{{anaEmail, "offer_made"}, {anaEmail, "feedback_returned"}, {priya, "feedback_released"}} {
		if ms := ntMail(srv, c.to, c.kind); len(ms) != 1 {
			t.Errorf("%d %s emails to %s, want 1", len(ms), c.kind, c.to)
		}
	}
	seen := map[string]bool{}
	for _, m := range srv.Messages() {
		if seen[m.MessageID] {
			t.Errorf("Message-ID %s sent twice", m.MessageID)
		}
		seen[m.MessageID] = true
	}
	// The page header counts the unread; the inbox page lists them.
	b = browserClient(t)
	resp, body, csrf = page(t, b, in, "/signin")
	postForm(t, b, in, "/signin", url.Values{"_csrf": {csrf}, "email": {anaEmail}, "password": {teacherPassword}})
	resp, body, _ = page(t, b, in, "/notifications")
	if resp.StatusCode != 200 || !strings.Contains(body, `<a href="/notifications">Inbox <span class="badge"`) || !strings.Contains(body, "New offer") {
		t.Errorf("the inbox page: %d", resp.StatusCode)
	}
}

// ntSecondAssignment gives the fixture class a second assignment with the
// same submissions, published.
func ntSecondAssignment(t *testing.T, in *instance, fc fixtureClass) string {
	t.Helper()
	var rubric map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &rubric)
	asg := in.must(201, "POST", "/api/v1/assignments", fc.TeacherToken, map[string]any{
		"class_id": fc.ClassID, "title": "Second essay", "prompt": "Write it again.",
		"rubric": rubric, "due_at": time.Now().Add(14 * 24 * time.Hour).UTC().Format(time.RFC3339), "price_cents": 800,
	})
	id := asg["id"].(string)
	up := in.postMultipart("/api/v1/assignments/"+id+"/submissions", fc.TeacherToken, nil,
		upload{Field: "files", Name: "class-a-submissions.zip", Data: readFixture(t, "class-a-submissions.zip")})
	if up.Status != 201 {
		t.Fatalf("upload: %d %s", up.Status, up.Body)
	}
	in.must(200, "POST", "/api/v1/assignments/"+id+"/publish", fc.TeacherToken, nil)
	return id
}
