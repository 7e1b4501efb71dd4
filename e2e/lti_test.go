package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/lti/ltitest"
)

// browser is a browser an LMS sends to Margin: a cookie jar, following
// redirects.
type browser struct {
	t   *testing.T
	c   *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: time.Minute}, jar: jar}
}

// ltiPage is where a browser ended up and what it shows.
type ltiPage struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   string
}

func (b *browser) do(method, u string, form url.Values) ltiPage {
	b.t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if form != nil {
		u += "?" + form.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return ltiPage{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(data)}
}

// authorize starts a launch at Margin's login URL, follows it to the
// platform's authorization endpoint, and returns the platform's
// auto-posting form (the id_token and state) unsent.
func (b *browser) authorize(l ltitest.Login) (string, url.Values) {
	b.t.Helper()
	pg := b.do(http.MethodGet, l.URL, l.Values)
	if pg.Status != 200 {
		b.t.Fatalf("login: %d at %s: %s", pg.Status, pg.URL, pg.Body)
	}
	action, fields, err := ltitest.ParseForm(pg.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return action, fields
}

// launch runs a whole launch and returns where it landed.
func (b *browser) launch(l ltitest.Login) ltiPage {
	b.t.Helper()
	action, fields := b.authorize(l)
	return b.do(http.MethodPost, action, fields)
}

// session is the Margin session the browser holds, as a bearer token.
func (b *browser) session(base string) string {
	b.t.Helper()
	u, _ := url.Parse(base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "margin_session" {
			return c.Value
		}
	}
	b.t.Fatal("the browser holds no Margin session")
	return ""
}

var pickerToken = regexp.MustCompile(`name="picker" value="([^"]+)"`)

// TestE2ELTI: an LMS (ltitest, built from the 1EdTech specifications)
// registers Margin by Dynamic Registration; its teacher launches Margin
// from the assignment editor and deep-links a new assignment; the roster
// syncs; students launch and see nothing until release; on release the
// LMS receives each released student's weighted score; a graded
// revision's score replaces the old one. Replayed and forged launches are
// refused with a page.
func TestE2ELTI(t *testing.T) {
	p := ltitest.New(t)
	addr := freeAddr(t)
	base := "http://" + addr
	in := startAt(t, addr, "MARGIN_PUBLIC_URL="+base, "MARGIN_MATCHING_INTERVAL=1h")

	// 1. Dynamic registration: the LMS admin pastes Margin's URL.
	admin := newBrowser(t)
	reg := admin.do(http.MethodGet, base+"/lti/register", url.Values{"openid_configuration": {p.OpenIDConfigurationURL()}, "registration_token": {p.RegistrationToken}})
	if reg.Status != 200 || !strings.Contains(reg.Body, "Register Margin") || !strings.Contains(reg.Header.Get("Content-Security-Policy"), "frame-ancestors "+p.Issuer+";") {
		t.Fatalf("registration page: %d %v %s", reg.Status, reg.Header, reg.Body)
	}
	done := admin.do(http.MethodPost, base+"/lti/register", url.Values{"openid_configuration": {p.OpenIDConfigurationURL()}, "registration_token": {p.RegistrationToken}})
	if done.Status != 200 || !strings.Contains(done.Body, "Margin is registered") || !strings.Contains(done.Body, "lti_close.js") {
		t.Fatalf("registration: %d %s", done.Status, done.Body)
	}
	clients := p.Clients()
	if len(clients) != 1 {
		t.Fatalf("%d tools registered with the LMS, want 1", len(clients))
	}
	client := clients[0]
	if jwks := in.call("GET", "/lti/jwks", "", nil); jwks.Status != 200 || len(jwks.JSON(t)["keys"].([]any)) < 1 {
		t.Fatalf("JWKS: %d %s", jwks.Status, jwks.Body)
	}

	// The LMS course: a teacher and the five students of the fixture
	// class, whose SIS IDs are the fixture's student IDs.
	course := &ltitest.Course{ID: "eng10-p2", Title: "English 10, period 2", Label: "ENG10"}
	course.Members = append(course.Members, ltitest.Member{User: ltitest.User{ID: "lms-teacher", Name: "Ms Rivera", GivenName: "Ana", FamilyName: "Rivera", Email: "rivera@lincoln.example.org"}, Roles: []string{ltitest.Instructor}})
	students := map[string]string{} // SIS ID -> LMS user ID
	for _, s := range []struct{ id, given, family string }{{"1001", "Avery", "Rivera"}, {"1002", "Jordan", "Okafor"}, {"1003", "Sam", "Lindqvist"}, {"1004", "Priya", "Natarajan"}, {"1005", "Mateo", "Alvarez"}} {
		uid := "lms-" + s.id
		students[s.id] = uid
		course.Members = append(course.Members, ltitest.Member{User: ltitest.User{ID: uid, Name: s.given + " " + s.family, GivenName: s.given, FamilyName: s.family, SourcedID: s.id}, Roles: []string{ltitest.Learner}})
	}
	p.AddCourse(course)

	// 2. The teacher deep-links a new assignment from the assignment editor.
	teacher := newBrowser(t)
	pick := teacher.launch(p.DeepLinkingLogin(client, course.ID, "lms-teacher"))
	m := pickerToken.FindStringSubmatch(pick.Body)
	if pick.Status != 200 || m == nil {
		t.Fatalf("deep linking launch: %d %s", pick.Status, pick.Body)
	}
	// The LMS may frame the picker and the answer; nobody else may.
	if csp := pick.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors "+p.Issuer+";") || pick.Header.Get("X-Frame-Options") != "" {
		t.Fatalf("picker framing: CSP %q, X-Frame-Options %q", csp, pick.Header.Get("X-Frame-Options"))
	}
	back := teacher.do(http.MethodPost, base+"/lti/deep-link", url.Values{
		"picker": {m[1]}, "action": {"create"}, "title": {"Research essay: personalized learning"},
		"prompt": {"Write a research essay on personalized learning in schools."}, "price_cents": {"800"},
	})
	action, fields, err := ltitest.ParseForm(back.Body)
	if err != nil || back.Status != 200 {
		t.Fatalf("deep linking response: %d %v %s", back.Status, err, back.Body)
	}
	if csp := back.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action "+p.Issuer+";") {
		t.Fatalf("the deep linking answer may not post to the LMS: CSP %q", csp)
	}
	if r := teacher.do(http.MethodPost, action, fields); r.Status != 200 {
		t.Fatalf("the LMS refused the deep linking response: %d %s", r.Status, r.Body)
	}
	if again := teacher.do(http.MethodPost, base+"/lti/deep-link", url.Values{"picker": {m[1]}, "action": {"cancel"}}); again.Status != 404 {
		t.Fatalf("a picker used twice: %d", again.Status)
	}
	var link *ltitest.Link
	for _, l := range p.Course(course.ID).Links {
		link = l
	}
	if link == nil || link.LineItemID == "" || link.Custom["margin_assignment_id"] == "" {
		t.Fatalf("the LMS holds no linked assignment with a gradebook column: %+v", link)
	}
	asg := link.Custom["margin_assignment_id"]

	// The teacher opens the link: Margin signs them in on the assignment.
	landed := teacher.launch(p.ResourceLinkLogin(client, course.ID, link.ID, "lms-teacher"))
	if landed.Status != 200 || landed.URL.Path != "/teacher/assignments/"+asg {
		t.Fatalf("teacher launch landed on %s (%d)", landed.URL, landed.Status)
	}
	tok := teacher.session(base)
	a := in.must(200, "GET", "/api/v1/assignments/"+asg, tok, nil)
	classID := a["class_id"].(string)

	// A replayed launch, and a launch signed by another key, are refused
	// with a page that says what to do.
	action, fields = teacher.authorize(p.ResourceLinkLogin(client, course.ID, link.ID, "lms-teacher"))
	if r := teacher.do(http.MethodPost, action, fields); r.Status != 303 && r.Status != 200 {
		t.Fatalf("launch: %d", r.Status)
	}
	if r := teacher.do(http.MethodPost, action, fields); r.Status < 400 || r.Status >= 500 || !strings.Contains(r.Body, "Margin could not open from your course") {
		t.Fatalf("a replayed launch: %d %s", r.Status, r.Body)
	}
	action, fields = teacher.authorize(p.ResourceLinkLogin(client, course.ID, link.ID, "lms-teacher"))
	parts := strings.Split(fields.Get("id_token"), ".")
	parts[2] = strings.Repeat("A", len(parts[2]))
	fields.Set("id_token", strings.Join(parts, "."))
	if r := teacher.do(http.MethodPost, action, fields); r.Status < 400 || r.Status >= 500 {
		t.Fatalf("a forged launch: %d %s", r.Status, r.Body)
	}

	// 3. The roster syncs: in the background after the teacher's first
	// launch, and on demand; the five students, by their SIS IDs.
	rosterOf := func() map[string]string {
		got := map[string]string{}
		for _, s := range asSlice(in.must(200, "GET", "/api/v1/classes/"+classID+"/students", tok, nil)["students"]) {
			s := s.(map[string]any)
			got[s["student_id"].(string)] = s["given_name"].(string) + " " + s["family_name"].(string)
		}
		return got
	}
	for deadline := time.Now().Add(30 * time.Second); len(rosterOf()) < 5; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no roster sync after the teacher's launch: %v", rosterOf())
		}
	}
	sync := in.must(200, "POST", "/api/v1/classes/"+classID+"/lti/sync", tok, nil)
	if sync["members"] != 6.0 || sync["added"] != 0.0 || sync["updated"] != 5.0 || sync["left"] != 0.0 {
		t.Fatalf("roster sync after the background one: %v", sync)
	}
	if got := rosterOf(); len(got) != 5 || got["1004"] != "Priya Natarajan" {
		t.Fatalf("roster after sync: %v", got)
	}

	// A second instructor gets a page: a class has one teacher.
	p.Course(course.ID).Members = append(p.Course(course.ID).Members, ltitest.Member{User: ltitest.User{ID: "lms-coteacher", Name: "Mr Okoro"}, Roles: []string{ltitest.Instructor}})
	if pg := newBrowser(t).launch(p.ResourceLinkLogin(client, course.ID, link.ID, "lms-coteacher")); pg.Status != 403 || !strings.Contains(pg.Body, "already has a teacher") {
		t.Fatalf("a second instructor: %d %s", pg.Status, pg.Body)
	}

	// The teacher sets the rubric and grade, uploads the class's essays and publishes.
	var rubric map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &rubric)
	in.must(200, "PUT", "/api/v1/assignments/"+asg, tok, map[string]any{
		"title": "Research essay: personalized learning", "prompt": "Write a research essay on personalized learning in schools.",
		"subject": "english", "grade_level": 10, "rubric": rubric, "due_at": time.Now().Add(14 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"price_cents": 800, "allow_resubmission": true,
	})
	up := in.postMultipart("/api/v1/assignments/"+asg+"/submissions", tok, nil, upload{Field: "files", Name: "class-a-submissions.zip", Data: readFixture(t, "class-a-submissions.zip")})
	if up.Status != 201 {
		t.Fatalf("upload: %d %s", up.Status, up.Body)
	}
	fc := fixtureClass{TeacherToken: tok, ClassID: classID, AssignmentID: asg, Submissions: map[string]string{}}
	for _, o := range up.JSON(t)["outcomes"].([]any) {
		if o := o.(map[string]any); o["status"] == "created" {
			fc.Submissions[o["student_id"].(string)] = o["submission_id"].(string)
		}
	}
	if len(fc.Submissions) != 5 {
		t.Fatalf("upload matched %d of the LMS's students, want 5: %s", len(fc.Submissions), up.Body)
	}
	in.must(200, "POST", "/api/v1/assignments/"+asg+"/publish", tok, nil)

	// 4. Students launch (no access link) and see nothing until release.
	priya := newBrowser(t)
	if pg := priya.launch(p.ResourceLinkLogin(client, course.ID, link.ID, students["1004"])); pg.Status != 200 || pg.URL.Path != "/student" {
		t.Fatalf("student launch landed on %s (%d)", pg.URL, pg.Status)
	}
	priyaTok := priya.session(base)
	mateo := newBrowser(t)
	mateo.launch(p.ResourceLinkLogin(client, course.ID, link.ID, students["1005"]))
	mateoTok := mateo.session(base)
	sub := fc.Submissions["1004"]
	if r := in.call("GET", "/api/v1/submissions/"+sub+"/feedback", priyaTok, nil); r.Status != 404 {
		t.Fatalf("the student before release: %d %s", r.Status, r.Body)
	}
	for _, r := range []response{in.call("GET", "/api/v1/assignments/"+asg+"/lti/scores", priyaTok, nil), in.call("POST", "/api/v1/classes/"+classID+"/lti/sync", priyaTok, nil)} {
		if r.Status != 403 {
			t.Fatalf("a student on the teacher's LTI routes: %d", r.Status)
		}
	}

	// 5. Grading, approval and release of Priya's essay.
	ana, anaTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
	adminTok := adminToken(t, in, "root@example.org")
	in.must(200, "PUT", "/api/v1/admin/graders/"+ana+"/vetting", adminTok, map[string]any{"status": "approved"})
	if r := in.call("GET", "/api/v1/admin/lti/registrations", adminTok, nil); r.Status != 200 || len(asSlice(r.JSON(t)["registrations"])) != 1 {
		t.Fatalf("registrations: %d %s", r.Status, r.Body)
	}
	task := fbAcceptOffer(t, in, fc, anaTok, sub+":v1")
	levels1 := map[string]string{"thesis": "developing", "evidence": "emerging", "analysis": "developing", "organization": "proficient", "conventions": "developing"}
	fbGrade(t, in, anaTok, task, levels1)
	in.must(200, "POST", "/api/v1/feedback/"+task+"/approve", tok, nil)
	if len(p.Scores(course.ID, link.LineItemID)) != 0 {
		t.Fatal("the LMS received a score before release")
	}
	in.must(200, "POST", "/api/v1/assignments/"+asg+"/release", tok, map[string]any{"student_id": "1004"})

	// The LMS receives Priya's score: Σ weight × points = 2·2 + 2·1 + 2·2 + 1·3 + 1·2 = 15 of 8·4 = 32.
	score := waitScore(t, p, course.ID, link.LineItemID, students["1004"], 15)
	if *score.ScoreMaximum != 32 || !strings.Contains(score.Comment, base+"/student/submissions/"+sub) {
		t.Fatalf("score %+v", score)
	}
	if in.must(200, "GET", "/api/v1/submissions/"+sub+"/feedback", priyaTok, nil) == nil {
		t.Fatal("released feedback is empty")
	}
	if pg := priya.launch(p.ResourceLinkLogin(client, course.ID, link.ID, students["1004"])); pg.Status != 200 || pg.URL.Path != "/student/submissions/"+sub {
		t.Fatalf("after release, the student's launch landed on %s (%d)", pg.URL, pg.Status)
	}
	priyaTok = priya.session(base)
	if r := in.call("GET", "/api/v1/submissions/"+sub+"/feedback", mateoTok, nil); r.Status != 404 {
		t.Fatalf("another student reading it: %d", r.Status)
	}
	st := in.must(200, "GET", "/api/v1/assignments/"+asg+"/lti/scores", tok, nil)
	if s := asSlice(st["scores"]); len(s) != 1 || s[0].(map[string]any)["status"] != "posted" {
		t.Fatalf("gradebook status: %v", st)
	}

	if q := in.must(200, "POST", "/api/v1/assignments/"+asg+"/lti/scores/retry", tok, nil); q["queued"] != 0.0 {
		t.Fatalf("retrying with nothing failed: %v", q)
	}

	// 6. Priya's revision is graded and released: its score replaces the old one.
	view := in.must(200, "GET", "/api/v1/submissions/"+sub+"/feedback", priyaTok, nil)
	text := asSlice(view["versions"])[0].(map[string]any)["text"].(string)
	r := in.postMultipart("/api/v1/submissions/"+sub+"/versions", priyaTok, nil, upload{Field: "file", Name: "natarajanpriya_1004_5004_what-is-pl-v2.txt", Data: []byte(fbRevision(text))})
	if r.Status != 201 {
		t.Fatalf("revision upload: %d %s", r.Status, r.Body)
	}
	task2 := fbAcceptOffer(t, in, fc, anaTok, sub+":v2")
	fbGrade(t, in, anaTok, task2, map[string]string{"thesis": "proficient", "evidence": "proficient", "analysis": "developing", "organization": "proficient", "conventions": "advanced"})
	in.must(200, "POST", "/api/v1/feedback/"+task2+"/approve", tok, nil)
	in.must(200, "POST", "/api/v1/assignments/"+asg+"/release", tok, map[string]any{"student_id": "1004"})
	// 2·3 + 2·3 + 2·2 + 1·3 + 1·4 = 23.
	score2 := waitScore(t, p, course.ID, link.LineItemID, students["1004"], 23)
	if score2.Timestamp <= score.Timestamp {
		t.Fatalf("the revision's score is not newer: %s after %s", score2.Timestamp, score.Timestamp)
	}
	if n := len(p.Gradebook(course.ID, link.LineItemID)); n != 1 {
		t.Fatalf("the LMS gradebook has %d scores, want only Priya's", n)
	}
}

// waitScore waits for the LMS's gradebook to hold want for user (Margin
// posts queued scores in the background, every few seconds).
func waitScore(t *testing.T, p *ltitest.Platform, courseID, lineItemID, user string, want float64) ltitest.Score {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		s, ok := p.Gradebook(courseID, lineItemID)[user]
		if ok && s.ScoreGiven != nil && *s.ScoreGiven == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the LMS holds %+v for %s, want %v", s, user, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
