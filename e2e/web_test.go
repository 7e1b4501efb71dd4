package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestE2EWeb drives the web pages. Over plain HTTP it checks what every
// page promises (the Content-Security-Policy, CSRF on forms that change
// something, escaping, and who may see what); then, when node and Chromium
// are installed, it runs the whole journey of e2e/browser/journey.mjs in a
// real browser against the binary and saves a screenshot of each step to
// docs/screenshots/ (with MARGIN_UPDATE_SCREENSHOTS=1).
func TestE2EWeb(t *testing.T) {
	in := startWithAdmin(t, "root@example.org", "MARGIN_MATCHING_INTERVAL=1h")
	admin := in.login("root@example.org", teacherPassword)
	fc := webFixtureClass(t, in)

	checkPages(t, in, fc)

	graderID, graderTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
	in.must(200, "PUT", "/api/v1/admin/graders/"+graderID+"/vetting", admin, map[string]any{"status": "approved"})

	// The admin's and the grader's other pages render (the session may be
	// a bearer token as well as the cookie).
	for _, p := range []struct{ path, token, want string }{
		{"/admin?status=all", admin, "Ana Grader"},
		{"/admin/payouts", admin, "Start a payout run"},
		{"/grader", graderTok, "No open offers"},
		{"/grader/earnings", graderTok, "Payout setup"},
		{"/grader/profile", graderTok, "Former teacher."},
		{"/grader/comments", graderTok, "Your comment bank is empty"},
		{"/teacher/classes/" + fc.ClassID + "/wall", fc.TeacherToken, "Data wall: English 10, period 2"},
	} {
		if r := in.call("GET", p.path, p.token, nil); r.Status != 200 || !strings.Contains(string(r.Body), p.want) {
			t.Fatalf("GET %s: %d %.300s", p.path, r.Status, r.Body)
		}
	}
	if r := in.call("GET", "/admin/payouts", graderTok, nil); r.Status != http.StatusForbidden {
		t.Fatalf("a grader on the payouts page: %d", r.Status)
	}
	// The grader's profile and comment bank are the grader's alone, the
	// data wall the class's teacher's.
	for _, p := range []struct{ path, token string }{
		{"/grader/profile", fc.TeacherToken},
		{"/grader/comments", fc.TeacherToken},
		{"/grader/profile", admin},
		{"/teacher/classes/" + fc.ClassID + "/wall", graderTok},
	} {
		if r := in.call("GET", p.path, p.token, nil); r.Status != http.StatusForbidden || strings.Contains(string(r.Body), "Former teacher") {
			t.Fatalf("GET %s by another role: %d", p.path, r.Status)
		}
	}
	graderBank(t, in, "ana@tutors.example.net")

	node, chromium, missing := browserTools(t)
	if missing != "" {
		t.Skip(missing)
	}
	shots := screenshotDir(t)
	zip := fixturePath(t, "class-a-submissions.zip")

	runBrowser(t, node, "browser/journey.mjs", "journey: ok",
		"BASE_URL="+in.url(""), "PASSWORD="+teacherPassword, "TEACHER_EMAIL="+fc.TeacherEmail,
		"GRADER_EMAIL=ana@tutors.example.net", "ASSIGNMENT_ID="+fc.AssignmentID, "CLASS_ID="+fc.ClassID,
		"ZIP="+zip, "SCREENSHOTS="+shots, "CHROMIUM="+chromium)
	rubricBuilder(t, in, fc, node, chromium, shots)
	formKeepsLibraryChoice(t, in, fc)
}

// formKeepsLibraryChoice posts the new-assignment form with a library
// rubric, no revisions and a price that is not money: the form comes back
// with the sentence and with the rubric and the checkbox as chosen.
func formKeepsLibraryChoice(t *testing.T, in *instance, fc fixtureClass) {
	t.Helper()
	lib := asSlice(in.must(200, "GET", "/api/v1/rubrics", fc.TeacherToken, nil)["rubrics"])
	if len(lib) == 0 {
		t.Fatal("the library is empty")
	}
	rid := lib[0].(map[string]any)["id"].(string)
	c := browserClient(t)
	_, _, tok := page(t, c, in, "/signin")
	postForm(t, c, in, "/signin", url.Values{"_csrf": {tok}, "email": {fc.TeacherEmail}, "password": {teacherPassword}})
	path := "/teacher/classes/" + fc.ClassID
	_, _, tok = page(t, c, in, path)
	r, body := postPage(t, c, in, path+"/assignments", url.Values{"_csrf": {tok}, "title": {"Library essay"}, "prompt": {"Write."},
		"due": {"2027-01-15"}, "price": {"eight dollars"}, "rubric_id": {rid}})
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "dollars and cents") {
		t.Fatalf("a price that is not money: %d", r.StatusCode)
	}
	if !strings.Contains(body, `value="`+rid+`" selected`) || strings.Contains(body, `name="allow_resubmission" value="1" checked`) {
		t.Fatalf("the form came back without the library rubric chosen or with revisions allowed again:\n%s", body)
	}
}

// screenshotDir is where the browser tests save screenshots: docs/screenshots
// only when asked (MARGIN_UPDATE_SCREENSHOTS=1), so a test run leaves the
// tree clean; a temporary directory otherwise.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("MARGIN_UPDATE_SCREENSHOTS") == "" {
		return t.TempDir()
	}
	dir, err := filepath.Abs("../docs/screenshots")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserTools finds node and Chromium for the browser tests and installs
// e2e/browser's npm packages if they are missing; missing says what is not
// installed (the tests that need them are then skipped). With
// MARGIN_BROWSER_TESTS=required (as scripts/test sets it) a missing tool
// fails the test instead, so CI can never pass with the browser unrun.
func browserTools(t *testing.T) (node, chromium, missing string) {
	t.Helper()
	defer func() {
		if missing != "" && os.Getenv("MARGIN_BROWSER_TESTS") == "required" {
			t.Fatalf("MARGIN_BROWSER_TESTS=required, but %s", missing)
		}
	}()
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "", "node is not installed; the browser tests need node and chromium (apt-get install -y nodejs chromium)"
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		return "", "", fmt.Sprintf("Chromium is not at %s; the browser tests need it (apt-get install -y chromium)", chromium)
	}
	for _, pkg := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat("browser/node_modules/" + pkg); err != nil {
			npm := exec.Command("npm", "ci", "--no-audit", "--no-fund")
			npm.Dir = "browser"
			if out, err := npm.CombinedOutput(); err != nil {
				t.Fatalf("npm ci in e2e/browser: %v\n%s", err, out)
			}
			break
		}
	}
	return node, chromium, ""
}

// runBrowser runs a script of e2e/browser with env and fails the test
// unless it exits cleanly having printed done.
func runBrowser(t *testing.T, node, script, done string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s output:\n%s", script, out)
	if err != nil {
		t.Fatalf("%s failed: %v", script, err)
	}
	if !bytes.Contains(out, []byte(done)) {
		t.Fatalf("%s did not finish", script)
	}
}

// graderBank signs the grader in through the form, adds a comment to the
// bank and deletes it again, and saves the profile form.
func graderBank(t *testing.T, in *instance, email string) {
	t.Helper()
	c := browserClient(t)
	_, _, tok := page(t, c, in, "/signin")
	postForm(t, c, in, "/signin", url.Values{"_csrf": {tok}, "email": {email}, "password": {teacherPassword}})
	_, _, tok = page(t, c, in, "/grader/comments")
	if r := postForm(t, c, in, "/grader/comments", url.Values{"_csrf": {tok}, "text": {"Cite the <source> you quote."}, "kind": {"growth"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("adding to the comment bank: %d", r.StatusCode)
	}
	_, body, _ := page(t, c, in, "/grader/comments")
	m := regexp.MustCompile(`action="(/grader/comments/[^"]+/delete)"`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "Cite the &lt;source&gt; you quote.") {
		t.Fatalf("the comment bank after adding:\n%s", body)
	}
	if r := postForm(t, c, in, m[1], url.Values{"_csrf": {tok}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("deleting from the comment bank: %d", r.StatusCode)
	}
	if _, body, _ := page(t, c, in, "/grader/comments"); !strings.Contains(body, "Your comment bank is empty") {
		t.Fatal("the deleted comment is still in the bank")
	}
	// One comment stays in the bank for the browser journey to reuse.
	if r := postForm(t, c, in, "/grader/comments", url.Values{"_csrf": {tok}, "text": {"Which study shows this? Cite it with its author and year."}, "kind": {"growth"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("adding to the comment bank: %d", r.StatusCode)
	}

	_, body, tok = page(t, c, in, "/grader/profile")
	if !strings.Contains(body, `name="day_monday" value="1" checked`) {
		t.Fatalf("the profile form does not show the saved days:\n%s", body)
	}
	form := url.Values{"_csrf": {tok}, "subjects": {"english, history"}, "grade_bands": {"9-12"}, "affiliations": {"works: Lincoln Middle"},
		"capacity": {"12"}, "day_tuesday": {"1"}, "bio": {"Former teacher, now part time."}}
	if r := postForm(t, c, in, "/grader/profile", form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving the profile form: %d", r.StatusCode)
	}
	if _, body, _ := page(t, c, in, "/grader/profile"); !strings.Contains(body, "now part time") || !strings.Contains(body, "works: Lincoln Middle") ||
		strings.Contains(body, `name="day_monday" value="1" checked`) {
		t.Fatalf("the profile after saving:\n%s", body)
	}
	form.Set("capacity", "many")
	if r := postForm(t, c, in, "/grader/profile", form); r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a profile with an unreadable capacity: %d", r.StatusCode)
	}
}

// startWithAdmin creates an admin on a fresh data directory from the
// command line, then starts margin on it: one start, no restart (a restart
// can leave the matching round's lease held for minutes).
func startWithAdmin(t *testing.T, email string, env ...string) *instance {
	t.Helper()
	return startWithAdminAt(t, freeAddr(t), email, env...)
}

// startWithAdminAt is startWithAdmin on addr, for an environment that
// names the address (MARGIN_PUBLIC_URL).
func startWithAdminAt(t *testing.T, addr, email string, env ...string) *instance {
	t.Helper()
	in := &instance{t: t, dataDir: t.TempDir(), addr: addr, env: env}
	cmd := exec.Command(binary, "admin", "create", "--email", email, "--role", "admin", "--password-stdin")
	cmd.Env = in.environ()
	cmd.Stdin = strings.NewReader(teacherPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("admin create: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() && in.stderr != nil {
			logs := in.stderr.String()
			t.Logf("margin's log (last 6 KB):\n%s", logs[max(0, len(logs)-6000):])
		}
		in.stop()
	})
	in.run()
	return in
}

// webFixtureClass signs up the teacher and creates the class with its
// roster and a draft assignment with the fixture rubric; the browser
// uploads the submissions.
func webFixtureClass(t *testing.T, in *instance) fixtureClass {
	t.Helper()
	fc := fixtureClass{TeacherEmail: "rivera.teacher@lincoln.example.org"}
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{
		"email": fc.TeacherEmail, "password": teacherPassword, "name": "Ms Rivera", "role": "teacher", "school": "Lincoln High",
	})
	fc.TeacherToken = in.login(fc.TeacherEmail, teacherPassword)
	class := in.must(201, "POST", "/api/v1/classes", fc.TeacherToken, map[string]any{"name": "English 10, period 2", "subject": "english", "grade_level": 10})
	fc.ClassID = class["id"].(string)
	if r := in.call("POST", "/api/v1/classes/"+fc.ClassID+"/roster", fc.TeacherToken, bytes.NewReader(readFixture(t, "roster.csv")), "Content-Type", "text/csv"); r.Status != 200 {
		t.Fatalf("roster: %d %s", r.Status, r.Body)
	}
	var rubric map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &rubric)
	asg := in.must(201, "POST", "/api/v1/assignments", fc.TeacherToken, map[string]any{
		"class_id": fc.ClassID, "title": "Research essay: personalized learning", "prompt": "Write a research essay on personalized learning in schools.",
		"rubric": rubric, "due_at": time.Now().Add(14 * 24 * time.Hour).UTC().Format(time.RFC3339), "price_cents": 800, "allow_resubmission": true,
	})
	fc.AssignmentID = asg["id"].(string)
	return fc
}

// browserClient is an HTTP client with a cookie jar that does not follow
// redirects, like a browser whose every step the test looks at.
func browserClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// page GETs path and returns the status, the body and the form's CSRF token.
func page(t *testing.T, c *http.Client, in *instance, path string) (*http.Response, string, string) {
	t.Helper()
	resp, err := c.Get(in.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	tok := ""
	if m := csrfField.FindStringSubmatch(buf.String()); m != nil {
		tok = m[1]
	}
	return resp, buf.String(), tok
}

func postForm(t *testing.T, c *http.Client, in *instance, path string, form url.Values) *http.Response {
	t.Helper()
	resp, err := c.PostForm(in.url(path), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// postPage posts a form, with header as name and value pairs, and returns
// the response with its body.
func postPage(t *testing.T, c *http.Client, in *instance, path string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", in.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// checkPages checks, over HTTP, the promises every page makes.
func checkPages(t *testing.T, in *instance, fc fixtureClass) {
	t.Helper()
	c := browserClient(t)

	// Signed out: a page sends the browser to sign in; the sign-in page has
	// the CSP with no inline script.
	if resp, _, _ := page(t, c, in, "/teacher"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("signed-out /teacher: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body, tok := page(t, c, in, "/signin")
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || tok == "" {
		t.Fatalf("sign-in page: %d, CSP %q, token %q", resp.StatusCode, csp, tok)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") {
		t.Fatal("the sign-in page has an inline script")
	}

	// A form without the CSRF token, or with another, is refused.
	creds := url.Values{"email": {fc.TeacherEmail}, "password": {teacherPassword}}
	if r := postForm(t, c, in, "/signin", creds); r.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without a CSRF token: %d", r.StatusCode)
	}
	creds.Set("_csrf", "forged")
	if r := postForm(t, c, in, "/signin", creds); r.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in with a forged CSRF token: %d", r.StatusCode)
	}
	creds.Set("_csrf", tok)
	creds.Set("password", "wrong password")
	if r := postForm(t, c, in, "/signin", creds); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in with a wrong password: %d", r.StatusCode)
	}
	creds.Set("password", teacherPassword)
	if r := postForm(t, c, in, "/signin", creds); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/teacher" {
		t.Fatalf("sign-in: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}

	// What the teacher typed comes back escaped.
	_, _, tok = page(t, c, in, "/teacher")
	if r := postForm(t, c, in, "/teacher/classes", url.Values{"_csrf": {tok}, "name": {`<script>alert("x")</script> club`}, "subject": {"english"}, "grade_level": {"9"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("creating a class from the form: %d", r.StatusCode)
	}
	_, body, _ = page(t, c, in, "/teacher")
	if strings.Contains(body, `<script>alert`) || !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; club") {
		t.Fatal("the class name is not escaped on the classes page")
	}
	if resp, body, _ := page(t, c, in, "/teacher/classes/"+fc.ClassID); resp.StatusCode != 200 || !strings.Contains(body, "Avery Rivera") {
		t.Fatalf("class page: %d", resp.StatusCode)
	}

	// Another teacher, a student and a grader see nothing of it.
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "other@elsewhere.example.org", "password": teacherPassword, "name": "Mr Other", "role": "teacher", "school": "Elsewhere High"})
	other := browserClient(t)
	_, _, otok := page(t, other, in, "/signin")
	postForm(t, other, in, "/signin", url.Values{"_csrf": {otok}, "email": {"other@elsewhere.example.org"}, "password": {teacherPassword}})
	for _, path := range []string{"/teacher/classes/" + fc.ClassID, "/teacher/assignments/" + fc.AssignmentID, "/teacher/classes/" + fc.ClassID + "/wall"} {
		if resp, body, _ := page(t, other, in, path); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "Avery") {
			t.Errorf("another teacher on %s: %d", path, resp.StatusCode)
		}
	}
	// Guessing one account's password through the form is slowed down too.
	guess := url.Values{"_csrf": {otok}, "email": {"other@elsewhere.example.org"}, "password": {"not it"}}
	for range 5 {
		if r := postForm(t, other, in, "/signin", guess); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a wrong password: %d", r.StatusCode)
		}
	}
	guess.Set("password", teacherPassword)
	if r := postForm(t, other, in, "/signin", guess); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a sixth sign-in after five failures: %d, want 429", r.StatusCode)
	}

	link := in.must(201, "POST", "/api/v1/classes/"+fc.ClassID+"/students/1002/access-link", fc.TeacherToken, nil)["path"].(string)
	student := browserClient(t)
	_, _, stok := page(t, student, in, link)
	if r := postForm(t, student, in, link, url.Values{"_csrf": {stok}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/student" {
		t.Fatalf("redeeming the access link: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if resp, _, _ := page(t, student, in, "/student"); resp.StatusCode != 200 {
		t.Fatalf("student home: %d", resp.StatusCode)
	}
	if resp, body, _ := page(t, student, in, "/teacher/classes/"+fc.ClassID); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "Avery") {
		t.Fatalf("a student on the teacher's class page: %d", resp.StatusCode)
	}
}

// TestE2EDemo: `margin serve --demo` on an empty data directory prints
// each role's login and the students' access links, and they work: the
// teacher sees two released feedbacks, and exactly two students find
// their feedback ready. Run again on the same directory, it serves the
// data as it is.
func TestE2EDemo(t *testing.T) {
	in, d := startDemo(t)
	tok := in.login(d.Teacher, d.Password)
	r := in.call("GET", "/teacher/assignments/"+d.AssignmentID, tok, nil)
	if r.Status != 200 || strings.Count(string(r.Body), `</span> Released</span>`) != 2 {
		t.Fatalf("the demo assignment page: %d, %d released", r.Status, strings.Count(string(r.Body), `</span> Released</span>`))
	}
	ready, readyLink := 0, ""
	for _, l := range d.Links {
		c := browserClient(t)
		_, _, tok := page(t, c, in, l)
		postForm(t, c, in, l, url.Values{"_csrf": {tok}})
		if _, body, _ := page(t, c, in, "/student"); strings.Contains(body, "feedback ready") {
			ready++
			if ready == 1 {
				readyLink = l
				studentRevises(t, c, in, body)
			}
		}
	}
	if ready != 2 {
		t.Fatalf("%d students have feedback ready, want 2", ready)
	}
	demoTeacherReview(t, in, d.Teacher, d.Password, d.AssignmentID)
	demoStudentPages(t, in, d.Links)
	demoSummary(t, in, tok, d.AssignmentID)
	demoCalibration(t, in, tok, d.Teacher, d.Password, d.AssignmentID)

	// Every page of every role passes the accessibility audit, when the
	// browser tools are installed.
	if node, chromium, missing := browserTools(t); missing != "" {
		t.Logf("accessibility audit not run: %s", missing)
	} else {
		runBrowser(t, node, "browser/a11y.mjs", "a11y: ok", "BASE_URL="+in.url(""), "PASSWORD="+d.Password,
			"TEACHER_EMAIL="+d.Teacher, "GRADER_EMAIL=ana@tutors.example.net", "ADMIN_EMAIL=admin@margin.example.com",
			"STUDENT_LINK="+readyLink, "CHROMIUM="+chromium, "SCREENSHOTS="+screenshotDir(t))
	}

	in.stop()
	in.run("--demo")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(in.stdout.String(), "already has data"); time.Sleep(50 * time.Millisecond) {
	}
	if !strings.Contains(in.stdout.String(), "already has data") {
		t.Fatalf("serve --demo on a loaded directory printed:\n%s", in.stdout)
	}
	in.login(d.Teacher, d.Password)
}

// demoSchool is what `margin serve --demo` printed: the teacher's login,
// everyone's password, the assignment with released feedback, and the five
// students' access-link paths (/s/...).
type demoSchool struct {
	Teacher, Password, AssignmentID string
	Links                           []string
}

// startDemo runs `margin serve --demo` on a fresh data directory, with the
// extra environment env, and reads what it printed.
func startDemo(t *testing.T, env ...string) (*instance, demoSchool) {
	t.Helper()
	in := &instance{t: t, dataDir: t.TempDir(), addr: freeAddr(t), env: env}
	t.Cleanup(in.stop)
	in.run("--demo")
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out = in.stdout.String(); strings.Contains(out, "The assignment with released feedback") {
			break
		}
	}
	teacher := regexp.MustCompile(`teacher\s+Ms Rivera\s+(\S+)`).FindStringSubmatch(out)
	password := regexp.MustCompile(`password "([^"]+)"`).FindStringSubmatch(out)
	asg := regexp.MustCompile(`/teacher/assignments/(\S+)`).FindStringSubmatch(out)
	links := regexp.MustCompile(`https?://\S+(/s/\S+)`).FindAllStringSubmatch(out, -1)
	if teacher == nil || password == nil || asg == nil || len(links) != 5 || strings.Count(out, "grader ") != 3 {
		t.Fatalf("the demo printed:\n%s", out)
	}
	d := demoSchool{Teacher: teacher[1], Password: password[1], AssignmentID: asg[1]}
	for _, l := range links {
		d.Links = append(d.Links, l[1])
	}
	return in, d
}

// studentRevises opens the student's feedback from their list and uploads
// a revision through the page's form.
func studentRevises(t *testing.T, c *http.Client, in *instance, list string) {
	t.Helper()
	m := regexp.MustCompile(`href="(/student/submissions/[^"]+)"`).FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("no submission link in the student's list:\n%s", list)
	}
	subPath := strings.ReplaceAll(m[1], "&#43;", "+")
	resp, body, tok := page(t, c, in, subPath)
	if resp.StatusCode != 200 || !strings.Contains(body, "<mark class=") || !strings.Contains(body, "Hand in a revision") {
		t.Fatalf("the student's feedback page: %d", resp.StatusCode)
	}
	essay := strings.Repeat("My revised essay now cites two studies on personalized learning and answers the question directly. ", 12)
	form, ctype := multipartBody(t, []string{"_csrf", tok}, upload{Field: "file", Name: "revision.txt", Data: []byte(essay)})
	req, err := http.NewRequest("POST", in.url(subPath+"/revision"), form)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/student?done=revision" {
		t.Fatalf("uploading a revision: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if _, body, _ := page(t, c, in, "/student"); !strings.Contains(body, "version 2 being read") || !strings.Contains(body, "feedback ready on version 1") {
		t.Fatal("after the revision the student's list does not show version 2 being read beside the feedback on version 1")
	}
}
