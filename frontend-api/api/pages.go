package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/frontend-api/web"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/analytics"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// pages serves the web pages: server-rendered with html/template, calling
// the services directly with the signed-in caller, as the JSON handlers do.
type pages struct {
	s    *Server
	t    *web.Pages
	csrf fiber.Handler
}

// pageData is what every page template gets; D is the page's own data.
type pageData struct {
	Title   string
	User    *account.User
	CSRF    string
	Flash   string
	Errors  []string
	Scripts []string
	D       any
}

// pageRoutes registers the pages under /, /signin, /s/, /teacher, /grader,
// /student and /admin, and their assets under /static/. Every page gets the
// Content-Security-Policy (no inline script) and CSRF protection; errors
// become HTML pages, and a missing session a redirect to the sign-in page.
func (s *Server) pageRoutes() {
	t, err := web.Parse()
	if err != nil {
		panic(err) // a malformed embedded template is a build defect; web's tests catch it
	}
	p := &pages{s: s, t: t}
	p.csrf = s.csrf
	s.app.Use(p.gate)

	get, post := fiber.MethodGet, fiber.MethodPost
	s.handle(get, "/static/*", public, p.static)
	s.handle(get, "/", public, p.home)
	s.handle(get, "/signin", public, p.signinPage)
	p.signupRoutes()
	s.handle(post, "/signin", public, append(append([]fiber.Handler{p.signinLimited}, s.loginLimits...), p.signin)...)
	s.handle(post, "/signout", anyone, p.signout)
	s.handle(post, "/signout/everywhere", anyone, p.signoutEverywhere)
	s.handle(get, "/s/:token", public, p.accessPage)
	s.handle(post, "/s/:token", public, p.redeem)

	s.handle(get, "/teacher", teachers, p.teacherHome)
	s.handle(post, "/teacher/classes", teachers, p.createClass)
	s.handle(get, "/teacher/classes/:id", teachers, p.classPage)
	s.handle(post, "/teacher/classes/:id/roster", teachers, p.importRoster)
	s.handle(post, "/teacher/classes/:id/students/:sid/link", teachers, p.accessLink)
	s.handle(post, "/teacher/classes/:id/students/:sid/remove", teachers, p.removeStudent)
	s.handle(post, "/teacher/classes/:id/assignments", teachers, p.createAssignment)
	s.handle(get, "/teacher/assignments/:id", teachers, p.assignmentPage)
	s.handle(post, "/teacher/assignments/:id/publish", teachers, p.publish)
	s.handle(post, "/teacher/submissions/:id/versions/:n/confirm", teachers, p.confirmVersion)
	s.handle(post, "/teacher/submissions/:id/versions/:n/reassign", teachers, p.reassignVersion)
	s.handle(post, "/teacher/assignments/:id/match", teachers, p.match)
	s.handle(post, "/teacher/assignments/:id/release", teachers, p.release)
	s.handle(get, "/teacher/assignments/:id/summary", teachers, p.summaryPage)
	s.handle(get, "/teacher/assignments/:id/summary.svg", teachers, p.summaryChart)
	s.handle(get, "/teacher/assignments/:id/summary.csv", teachers, p.summaryCSV)
	s.handle(get, "/teacher/classes/:id/wall", teachers, p.wallPage)

	p.reviewRoutes()

	s.handle(get, "/grader", graders, p.graderHome)
	s.handle(post, "/grader/offers/:id/accept", graders, p.acceptOffer)
	s.handle(post, "/grader/offers/:id/decline", graders, p.declineOffer)
	s.handle(get, "/grader/tasks/:id", graders, p.workspace)
	s.handle(post, "/grader/tasks/:id/draft", graders, p.saveDraft)
	s.handle(post, "/grader/tasks/:id/submit", graders, p.submitFeedback)

	p.calibrationRoutes()
	s.handle(get, "/grader/profile", graders, p.profilePage)
	s.handle(post, "/grader/profile", graders, p.saveProfile)
	s.handle(get, "/grader/comments", graders, p.bankPage)
	s.handle(post, "/grader/comments", graders, p.addToBank)
	s.handle(post, "/grader/comments/:id/delete", graders, p.deleteFromBank)

	s.handle(get, "/grader/earnings", graders, p.earnings)
	s.handle(post, "/grader/earnings/onboarding", graders, p.onboarding)

	p.studentRoutes()

	s.handle(get, "/admin", adminOnly, p.adminHome)
	s.handle(post, "/admin/graders/:id/vet", adminOnly, p.vet)
	s.handle(post, "/admin/rounds", adminOnly, p.adminRound)
	s.handle(get, "/admin/payouts", adminOnly, p.adminPayouts)
	s.handle(post, "/admin/payouts/runs", adminOnly, p.startPayoutRun)
	s.handle(post, "/admin/payouts/runs/:id/reconcile", adminOnly, p.reconcile)
}

// isPagePath reports whether path belongs to the pages rather than the
// JSON API or the probes.
func isPagePath(path string) bool {
	return !strings.HasPrefix(path, "/api/") && path != "/healthz" && path != "/readyz"
}

// gate runs before every page: CSRF, and HTML errors. (securityHeaders
// has set the headers.)
func (p *pages) gate(c *fiber.Ctx) error {
	if !isPagePath(c.Path()) {
		return c.Next()
	}
	if strings.HasPrefix(c.Path(), "/static/") {
		return c.Next()
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if err := p.csrf(c); err != nil {
		return p.fail(c, err)
	}
	return nil
}

// fail shows an error as a page: a missing session sends the browser to
// sign in (and back), anything else renders the error page with its
// status. JSON callers (the pages' scripts) get the API's JSON error.
func (p *pages) fail(c *fiber.Ctx, err error) error {
	if strings.Contains(c.Get(fiber.HeaderAccept), fiber.MIMEApplicationJSON) ||
		strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		return err
	}
	code := errs.CodeOf(err)
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code, _ = fiberCode(fe)
	}
	if code == errs.Unauthenticated && strings.HasPrefix(c.Path(), "/student") {
		// A student signs in only with their link: a session that ended
		// (the link was replaced, or the student removed) has nothing to
		// do with the staff sign-in.
		code, err = errs.LinkExpired, errs.E(errs.LinkExpired, "This link no longer works; ask your teacher for a new one.")
	}
	if code == errs.Unauthenticated && c.Method() == fiber.MethodGet {
		return c.Redirect("/signin?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
	}
	status := errs.Status(code)
	msg, heading := "Something went wrong on our side.", "Sorry"
	var ue *errs.Error
	if status >= 500 {
		rid, _ := c.Locals(requestIDKey).(string)
		p.s.log.Error("page failed", "request_id", rid, "method", c.Method(), "path", logPath(c), "err", err)
	}
	switch {
	case code == errs.Unavailable && errors.As(err, &ue):
		// A dependency that is off or down says so (e.g. "Stripe is not
		// configured on this Margin"), not "something went wrong".
		msg, heading = ue.Message, "Not available right now"
	case status >= 500:
	case errors.As(err, &ue):
		msg = ue.Message
	default:
		msg = strings.Join(messages(err), " ")
	}
	switch code {
	case errs.NotFound:
		heading = "Not found"
	case errs.Forbidden:
		heading = "Not allowed"
	case errs.Unauthenticated:
		heading = "Please sign in"
	case errs.LinkExpired:
		heading = "This link no longer works"
	}
	rid, _ := c.Locals(requestIDKey).(string)
	return p.render(c.Status(status), "error", heading, map[string]string{"Heading": heading, "Message": msg, "RequestID": rid})
}

// messages are the sentences of a user's mistake (one per problem), or nil
// for an internal error.
func messages(err error) []string {
	var l errs.List
	var e *errs.Error
	switch {
	case errors.As(err, &l):
		out := make([]string, 0, len(l))
		for _, x := range l {
			out = append(out, x.Message)
		}
		return out
	case errors.As(err, &e) && errs.Status(e.Code) < 500:
		return []string{e.Message}
	}
	return nil
}

// formError re-renders a form's page with the user's mistakes, or returns
// err when it is not one.
func (p *pages) formError(c *fiber.Ctx, err error, page, title string, d any, scripts ...string) error {
	msgs := messages(err)
	if msgs == nil {
		return err
	}
	return p.renderWith(c.Status(errs.Status(errs.CodeOf(err))), page, title, d, pageData{Errors: msgs, Scripts: scripts})
}

func (p *pages) render(c *fiber.Ctx, page, title string, d any, scripts ...string) error {
	return p.renderWith(c, page, title, d, pageData{Scripts: scripts})
}

func (p *pages) renderWith(c *fiber.Ctx, page, title string, d any, pd pageData) error {
	pd.Title, pd.D = title, d
	pd.CSRF, _ = c.Locals("csrf").(string)
	if u, ok := c.Locals(userKey).(account.User); ok {
		pd.User = &u
	}
	if pd.Flash == "" {
		pd.Flash = flashes[c.Query("done")]
	}
	var buf bytes.Buffer
	if err := p.t.Render(&buf, page, pd); err != nil {
		return errs.Wrap(err, "rendering page %s", page)
	}
	c.Type("html", "utf-8")
	return c.Send(buf.Bytes())
}

// flashes are the fixed messages a redirect can ask for with ?done=, so a
// link can never put arbitrary text on a page.
var flashes = map[string]string{
	"class":       "Class created. Import its roster next.",
	"welcome":     "Welcome to Margin: your account is ready.",
	"published":   "Published: Margin is finding graders.",
	"matched":     "Matching ran; see the graders below.",
	"approved":    "Feedback approved.",
	"returned":    "Feedback returned to the grader with your note.",
	"released":    "Approved feedback released to the students.",
	"accepted":    "Offer accepted: the submissions are in your tasks.",
	"declined":    "Offer declined.",
	"submitted":   "Feedback submitted for the teacher's review.",
	"vetted":      "Grader updated.",
	"run":         "Payout run started; it runs in the background.",
	"round":       "Matching round run.",
	"revision":    "Revision uploaded: it will be read again.",
	"profile":     "Profile saved.",
	"banked":      "Comment saved to your bank.",
	"unbanked":    "Comment deleted from your bank.",
	"edited":      "Feedback edited; the change is kept in its history.",
	"adjudicated": "Adjudicated: your levels now count for this submission.",
	"unshared":    "The family link is turned off: it no longer opens your progress.",
	"removed":     "Student removed from the class: their link no longer works and they are signed out. Their work stays.",
	"confirmed":   "Confirmed: the file is the student's, and goes to graders like any other.",
	"reassigned":  "Moved: the file is now a version of the other student's submission, and goes to graders.",
}

// see redirects after a successful form (post/redirect/get).
func see(c *fiber.Ctx, path, done string) error {
	if done != "" {
		path += "?done=" + done
	}
	return c.Redirect(path, fiber.StatusSeeOther)
}

func esc(s string) string { return url.PathEscape(s) }

func (p *pages) static(c *fiber.Ctx) error {
	data, ctype, ok := web.Static(param(c, "*"))
	if !ok {
		return errs.E(errs.NotFound, "There is no such file.")
	}
	c.Set(fiber.HeaderContentType, ctype)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(data)
}

// home sends each role to its start page.
func (p *pages) home(c *fiber.Ctx) error {
	u, ok := c.Locals(userKey).(account.User)
	if !ok {
		return p.render(c, "home", "Grading feedback for schools", nil)
	}
	return see(c, roleHome(u.Role), "")
}

func roleHome(r account.Role) string {
	switch r {
	case account.Teacher:
		return "/teacher"
	case account.Grader:
		return "/grader"
	case account.Student:
		return "/student"
	}
	return "/admin"
}

// --- signing in ---

// signinLimited shows the sign-in form again when a sign-in limit
// (Server.loginLimits, shared with the API) is reached.
func (p *pages) signinLimited(c *fiber.Ctx) error {
	err := c.Next()
	if errs.Is(err, errs.RateLimited) {
		return p.formError(c, err, "signin", "Sign in", signinData{Next: safeNext(c.FormValue("next")), Email: c.FormValue("email")})
	}
	return err
}

type signinData struct{ Next, Email string }

func (p *pages) signinPage(c *fiber.Ctx) error {
	return p.render(c, "signin", "Sign in", signinData{Next: safeNext(c.Query("next"))})
}

// signin signs in from the form and goes to next when it is a path on this
// site (safeNext), else to the role's home.
func (p *pages) signin(c *fiber.Ctx) error {
	d := signinData{Next: safeNext(c.FormValue("next")), Email: c.FormValue("email")}
	tok, u, err := p.s.deps.Accounts.Login(c.UserContext(), c.FormValue("email"), c.FormValue("password"))
	if err != nil {
		return p.formError(c, err, "signin", "Sign in", d)
	}
	p.s.setSessionCookie(c, tok, account.SessionTTL)
	return see(c, cmp.Or(d.Next, roleHome(u.Role)), "")
}

func (p *pages) signout(c *fiber.Ctx) error {
	tok, _ := c.Locals(tokenKey).(string)
	if err := p.s.deps.Accounts.Logout(c.UserContext(), tok); err != nil {
		return err
	}
	p.s.setSessionCookie(c, "", -1)
	return see(c, "/signin", "")
}

// signoutEverywhere ends every session of the caller, on every device.
func (p *pages) signoutEverywhere(c *fiber.Ctx) error {
	if err := p.s.deps.Accounts.EndSessions(c.UserContext(), caller(c).ID); err != nil {
		return err
	}
	p.s.setSessionCookie(c, "", -1)
	return see(c, "/signin", "")
}

// accessPage asks the student to open their feedback; a link that no
// longer works says so at once.
func (p *pages) accessPage(c *fiber.Ctx) error {
	tok := param(c, "token")
	if err := p.s.deps.Intake.CheckAccessLink(c.UserContext(), tok); err != nil {
		return err
	}
	return p.render(c, "access", "Your feedback", map[string]string{"Token": tok})
}

// redeem signs the student in with their access link, as the API's
// student-sessions route does, and opens their feedback.
func (p *pages) redeem(c *fiber.Ctx) error {
	tok, _, err := p.s.deps.Intake.RedeemAccessLink(c.UserContext(), param(c, "token"))
	if err != nil {
		return err
	}
	p.s.setSessionCookie(c, tok, account.SessionTTL)
	return see(c, "/student", "")
}

// --- teacher: classes and rosters ---

// teacherHome lists the teacher's classes, with their school's invite code
// for colleagues.
func (p *pages) teacherHome(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), caller(c)
	cls, err := p.s.deps.Intake.Classes(ctx, u)
	if err != nil {
		return err
	}
	d := map[string]any{"Classes": cls}
	if u.SchoolID != "" {
		sch, err := p.s.deps.Accounts.School(ctx, u.SchoolID)
		if err != nil {
			return err
		}
		d["School"] = sch
	}
	return p.render(c, "teacher_home", "Classes", d)
}

func (p *pages) createClass(c *fiber.Ctx) error {
	in := intake.ClassInput{Name: c.FormValue("name"), Subject: c.FormValue("subject")}
	if g, err := strconv.Atoi(c.FormValue("grade_level")); err == nil {
		in.GradeLevel = &g
	}
	cl, err := p.s.deps.Intake.CreateClass(c.UserContext(), caller(c), in)
	if err != nil {
		cls, _ := p.s.deps.Intake.Classes(c.UserContext(), caller(c))
		return p.formError(c, err, "teacher_home", "Classes", map[string]any{"Classes": cls})
	}
	return see(c, "/teacher/classes/"+esc(cl.ID), "class")
}

// assignmentForm is the new-assignment form as typed, to show it again with
// its mistakes.
type assignmentForm struct {
	Title, Prompt, Due, Price, Rubric, RubricID string
	NoResubmission                              bool
}

type accessLinkView struct {
	Name, Path, URL string
	Until           time.Time
}

func (p *pages) classData(c *fiber.Ctx, classID string) (map[string]any, error) {
	ctx, u := c.UserContext(), caller(c)
	cl, err := p.s.deps.Intake.AuthorizeClass(ctx, u, classID)
	if err != nil {
		return nil, err
	}
	sts, err := p.s.deps.Intake.Roster(ctx, u, classID)
	if err != nil {
		return nil, err
	}
	as, err := p.s.deps.Intake.Assignments(ctx, u, classID)
	if err != nil {
		return nil, err
	}
	lib, err := p.s.deps.Intake.Library(ctx, u)
	if err != nil {
		return nil, err
	}
	form := assignmentForm{Due: time.Now().AddDate(0, 0, 14).Format(time.DateOnly), Price: "8.00"}
	return map[string]any{"Class": cl, "Students": sts, "Assignments": as, "Library": lib, "Form": form}, nil
}

func (p *pages) classPage(c *fiber.Ctx) error {
	d, err := p.classData(c, param(c, "id"))
	if err != nil {
		return err
	}
	return p.render(c, "teacher_class", "Class", d, "rubric.js")
}

func (p *pages) importRoster(c *fiber.Ctx) error {
	classID := param(c, "id")
	if _, err := p.s.deps.Intake.AuthorizeClass(c.UserContext(), caller(c), classID); err != nil {
		return err
	}
	res, err := p.rosterFromForm(c, classID)
	d, derr := p.classData(c, classID)
	if derr != nil {
		return derr
	}
	if err != nil {
		return p.formError(c, err, "teacher_class", "Class", d, "rubric.js")
	}
	d["Import"] = res
	return p.render(c, "teacher_class", "Class", d, "rubric.js")
}

func (p *pages) rosterFromForm(c *fiber.Ctx, classID string) (intake.RosterResult, error) {
	fh, err := c.FormFile("roster")
	if err != nil {
		return intake.RosterResult{}, errs.F(errs.Invalid, "roster", "Choose the roster CSV file.")
	}
	f, err := fh.Open()
	if err != nil {
		return intake.RosterResult{}, errs.Wrap(err, "opening the roster upload")
	}
	defer f.Close()
	return p.s.deps.Intake.ImportRoster(c.UserContext(), caller(c), classID, f)
}

func (p *pages) accessLink(c *fiber.Ctx) error {
	classID, studentID := param(c, "id"), param(c, "sid")
	tok, until, err := p.s.deps.Intake.RotateAccessLink(c.UserContext(), caller(c), classID, studentID)
	if err != nil {
		return err
	}
	d, err := p.classData(c, classID)
	if err != nil {
		return err
	}
	link := accessLinkView{Name: studentID, Path: "/s/" + tok, URL: c.BaseURL() + "/s/" + tok, Until: until}
	for _, st := range d["Students"].([]intake.Student) {
		if st.StudentID == studentID {
			link.Name = st.Name()
		}
	}
	d["Link"] = link
	return p.render(c, "teacher_class", "Class", d, "rubric.js")
}

// removeStudent takes a student off the class (their work stays) and ends
// their sessions.
func (p *pages) removeStudent(c *fiber.Ctx) error {
	classID := param(c, "id")
	if err := p.s.deps.Intake.RemoveStudent(c.UserContext(), caller(c), classID, param(c, "sid")); err != nil {
		return err
	}
	return see(c, "/teacher/classes/"+esc(classID), "removed")
}

func (p *pages) createAssignment(c *fiber.Ctx) error {
	classID := param(c, "id")
	form := assignmentForm{Title: c.FormValue("title"), Prompt: c.FormValue("prompt"), Due: c.FormValue("due"),
		Price: c.FormValue("price"), Rubric: c.FormValue("rubric"), RubricID: c.FormValue("rubric_id"),
		NoResubmission: c.FormValue("allow_resubmission") == ""}
	in, err := assignmentInput(classID, form, form.RubricID, !form.NoResubmission)
	var a intake.Assignment
	if err == nil {
		a, err = p.s.deps.Intake.CreateAssignment(c.UserContext(), caller(c), in)
	}
	if err != nil {
		d, derr := p.classData(c, classID)
		if derr != nil {
			return derr
		}
		d["Form"] = form
		return p.formError(c, err, "teacher_class", "Class", d, "rubric.js")
	}
	return see(c, "/teacher/assignments/"+esc(a.ID), "")
}

// moneyForm is an amount as a teacher types it: whole units with at most
// two decimals ("8", "8.5", "8.50"), up to 999,999.99.
var moneyForm = regexp.MustCompile(`^([0-9]{1,6})(?:\.([0-9]{1,2}))?$`)

// parseCents reads an amount typed in dollars (or the assignment's
// currency unit) into integer cents; ok is false for anything else.
func parseCents(s string) (int64, bool) {
	m := moneyForm.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	units, _ := strconv.ParseInt(m[1], 10, 64)
	frac := m[2] + strings.Repeat("0", 2-len(m[2]))
	cents, _ := strconv.ParseInt(frac, 10, 64)
	return units*100 + cents, true
}

// assignmentInput reads the new-assignment form; its mistakes come back as
// an errs.List.
func assignmentInput(classID string, f assignmentForm, rubricID string, resubmit bool) (intake.AssignmentInput, error) {
	in := intake.AssignmentInput{ClassID: classID, Title: f.Title, Prompt: f.Prompt, RubricID: rubricID, AllowResubmission: resubmit}
	var l errs.List
	if due, err := time.Parse(time.DateOnly, f.Due); err == nil {
		in.DueAt = due.Add(23*time.Hour + 59*time.Minute)
	} else {
		l = append(l, errs.F(errs.Invalid, "due", "Give the feedback due date."))
	}
	if n, ok := parseCents(f.Price); ok {
		in.PriceCents = &n
	} else {
		l = append(l, errs.F(errs.Invalid, "price", "Give the price per submission in dollars and cents, e.g. 8.00."))
	}
	if rubricID == "" {
		var r intake.Rubric
		dec := json.NewDecoder(strings.NewReader(f.Rubric))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			l = append(l, errs.F(errs.Invalid, "rubric", "The rubric is not valid rubric JSON: %v.", strings.TrimPrefix(err.Error(), "json: ")))
		} else {
			in.Rubric = &r
		}
	}
	return in, l.Err()
}

// --- teacher: an assignment ---

func (p *pages) assignmentPage(c *fiber.Ctx) error {
	d, err := p.assignmentData(c)
	if err != nil {
		return err
	}
	return p.render(c, "teacher_assignment", d["Assignment"].(intake.Assignment).Title, d, "upload.js")
}

// assignmentData is what the assignment page shows: the submissions, the
// anchor papers, and once published the graders, feedback and turnaround.
func (p *pages) assignmentData(c *fiber.Ctx) (map[string]any, error) {
	ctx, u, aid := c.UserContext(), caller(c), param(c, "id")
	a, err := p.s.deps.Intake.AuthorizeAssignment(ctx, u, aid)
	if err != nil {
		return nil, err
	}
	page, err := p.s.deps.Intake.ListSubmissions(ctx, u, aid, "", 500)
	if err != nil {
		return nil, err
	}
	anchors, err := p.anchorViews(c, a)
	if err != nil {
		return nil, err
	}
	rows, flagged := page.Rows, false
	for _, r := range rows {
		flagged = flagged || r.Flag != nil
	}
	slices.SortFunc(rows, func(x, y intake.Row) int { return strings.Compare(x.StudentID, y.StudentID) })
	d := map[string]any{"Assignment": a, "Rows": rows, "More": page.Next != "", "Total": page.Total, "Anchors": anchors, "AnchorForm": map[string]string{}}
	if a.CutShortUploadID != "" {
		// The last upload cut short, until it is completed: which files are in.
		if up, err := p.s.deps.Intake.UploadBatch(ctx, u, a.CutShortUploadID); err == nil && (up.State == intake.UploadStopped || up.State == intake.UploadInterrupted) {
			d["CutShort"] = up
		}
	}
	if flagged {
		// The students a flagged file can move to.
		if d["Roster"], err = p.s.deps.Intake.Roster(ctx, u, a.ClassID); err != nil {
			return nil, err
		}
	}
	if a.State != intake.Draft {
		rows, err := p.s.deps.Feedback.List(ctx, u, aid)
		if err != nil {
			return nil, err
		}
		d["Feedback"] = rows
		if d["Table"], err = p.feedbackTableFor(ctx, u, a, rows); err != nil {
			return nil, err
		}
		// Turnaround from the batches and the feedback rows already read:
		// no class summary is computed for it.
		byBatch := map[string]analytics.BatchTimes{}
		if m, err := p.s.deps.Matching.ForAssignment(ctx, u, aid); err == nil {
			d["Matching"] = m
			tasks := map[string][]string{}
			for _, b := range m.Batches {
				for _, it := range b.Items {
					tasks[b.ID] = append(tasks[b.ID], feedback.TaskID(it.VersionID, string(b.Reader)))
				}
			}
			t := analytics.TurnaroundOf(a, tasks, rows)
			for _, b := range t.Batches {
				byBatch[b.BatchID] = b
			}
			d["Turnaround"] = t
		}
		d["BatchTimes"] = byBatch
	}
	return d, nil
}

// confirmVersion closes a flagged version's flag from the assignment page.
func (p *pages) confirmVersion(c *fiber.Ctx) error {
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	sub, err := p.s.deps.Intake.ConfirmVersion(c.UserContext(), caller(c), param(c, "id"), n)
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(sub.AssignmentID), "confirmed")
}

// reassignVersion moves a flagged version to the student chosen on the
// assignment page (form field student_id).
func (p *pages) reassignVersion(c *fiber.Ctx) error {
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	up, err := p.s.deps.Intake.ReassignVersion(c.UserContext(), caller(c), param(c, "id"), n, strings.Clone(c.FormValue("student_id")))
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(up.AssignmentID), "reassigned")
}

func (p *pages) publish(c *fiber.Ctx) error {
	a, err := p.s.deps.Intake.Publish(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(a.ID), "published")
}

func (p *pages) match(c *fiber.Ctx) error {
	aid := param(c, "id")
	if _, err := p.s.deps.Matching.RunRoundFor(c.UserContext(), caller(c), aid); err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(aid), "matched")
}

func (p *pages) release(c *fiber.Ctx) error {
	aid := param(c, "id")
	if _, err := p.s.deps.Feedback.Release(c.UserContext(), caller(c), aid, ""); err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(aid), "released")
}

// summary is the class summary the page asks for: ?names=true shows the
// students' names instead of their pseudonyms.
func (p *pages) summary(c *fiber.Ctx) (analytics.Summary, error) {
	return p.s.deps.Analytics.ClassSummary(c.UserContext(), caller(c), param(c, "id"), analytics.Options{Names: c.Query("names") == "true"})
}

func (p *pages) summaryPage(c *fiber.Ctx) error {
	sum, err := p.summary(c)
	if err != nil {
		return err
	}
	titles := make(map[string]string, len(sum.Criteria))
	for _, cr := range sum.Criteria {
		titles[cr.Key] = cr.Title
	}
	return p.render(c, "teacher_summary", "Class summary", map[string]any{"Summary": sum, "Titles": titles})
}

func (p *pages) summaryChart(c *fiber.Ctx) error {
	sum, err := p.summary(c)
	if err != nil {
		return err
	}
	svg, err := analytics.LevelsChart(sum)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "image/svg+xml")
	return c.Send(svg)
}

func (p *pages) summaryCSV(c *fiber.Ctx) error {
	sum, err := p.summary(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="class-summary.csv"`)
	return c.Send(analytics.SummaryCSV(sum))
}

// criterionTitles maps a rubric's criterion keys to their titles.
func criterionTitles(r intake.Rubric) map[string]string {
	m := make(map[string]string, len(r.Criteria))
	for _, c := range r.Criteria {
		m[c.Key] = c.Title
	}
	return m
}

func highlightSpans(hs []feedback.Highlight) []web.Span {
	var out []web.Span
	for _, h := range hs {
		if h.Anchored {
			out = append(out, web.Span{Start: h.Start, End: h.End, ID: h.CommentID, Kind: string(h.Kind), Label: h.Criterion})
		}
	}
	return out
}

// --- grader ---

func (p *pages) graderHome(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), caller(c)
	d := map[string]any{}
	if prof, err := p.s.deps.Matching.MyProfile(ctx, u); err == nil {
		d["Profile"] = prof
	}
	offers, err := p.s.deps.Matching.GraderOffers(ctx, u, true)
	if err != nil {
		return err
	}
	tasks, err := p.s.deps.Feedback.Tasks(ctx, u)
	if err != nil {
		return err
	}
	d["Offers"], d["Tasks"] = offers, tasks
	d["Names"] = p.graderNamesFor(ctx, u, offers, tasks)
	if cs, err := p.s.deps.Matching.Calibrations(ctx, u); err == nil {
		waiting := 0
		for _, o := range cs {
			if o.MayAttempt {
				waiting++
			}
		}
		d["Calibrations"] = waiting
	}
	return p.render(c, "grader_home", "Offers and tasks", d)
}

func (p *pages) acceptOffer(c *fiber.Ctx) error {
	if _, err := p.s.deps.Matching.Accept(c.UserContext(), caller(c), param(c, "id")); err != nil {
		return err
	}
	return see(c, "/grader", "accepted")
}

func (p *pages) declineOffer(c *fiber.Ctx) error {
	if _, err := p.s.deps.Matching.Decline(c.UserContext(), caller(c), param(c, "id")); err != nil {
		return err
	}
	return see(c, "/grader", "declined")
}

// workspaceJSON is what grade.js needs: the draft, the grader text its
// offsets count in, and the rules for submitting.
type workspaceJSON struct {
	Rev         int               `json:"rev"`
	Content     feedback.Content  `json:"content"`
	Text        string            `json:"text"`
	Settings    feedback.Settings `json:"settings"`
	Criteria    []criterionKey    `json:"criteria"`
	FocusPoints []string          `json:"focus_points"`
}

type criterionKey struct {
	Key   string `json:"key"`
	Title string `json:"title"`
}

func (p *pages) workspace(c *fiber.Ctx) error {
	w, err := p.s.deps.Feedback.Open(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	f := w.Feedback
	data := workspaceJSON{Rev: f.Rev, Content: f.Content, Text: w.Text, Settings: w.Settings, FocusPoints: w.Assignment.FocusPoints}
	if data.FocusPoints == nil {
		data.FocusPoints = []string{}
	}
	if data.Content.Quotes == nil {
		data.Content.Quotes = []feedback.Quote{}
	}
	for _, cr := range w.Assignment.Rubric.Criteria {
		data.Criteria = append(data.Criteria, criterionKey{cr.Key, cr.Title})
	}
	var spans []web.Span
	for _, q := range f.Quotes {
		spans = append(spans, web.Span{Start: q.Target.Position.Start, End: q.Target.Position.End, ID: q.ID, Kind: string(q.Kind), Label: q.Criterion})
	}
	focus := make([]string, len(w.Assignment.FocusPoints))
	for _, n := range f.FocusNotes {
		if n.Index >= 0 && n.Index < len(focus) {
			focus[n.Index] = n.Note
		}
	}
	bank, err := p.s.deps.Feedback.Bank(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	d := map[string]any{"Workspace": w, "JSON": data, "Segments": web.Segments(w.Text, spans), "Focus": focus,
		"Titles": criterionTitles(w.Assignment.Rubric), "Bank": bank}
	return p.render(c, "grader_task", "Grading", d, "grade.js")
}

func (p *pages) saveDraft(c *fiber.Ctx) error {
	var in struct {
		Rev     int              `json:"rev"`
		Content feedback.Content `json:"content"`
	}
	if err := p.s.decodeJSON(c, &in); err != nil {
		return err
	}
	f, err := p.s.deps.Feedback.Save(c.UserContext(), caller(c), param(c, "id"), in.Rev, in.Content)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"rev": f.Rev, "state": f.State})
}

func (p *pages) submitFeedback(c *fiber.Ctx) error {
	var in struct {
		Rev int `json:"rev"`
	}
	if err := p.s.decodeJSON(c, &in); err != nil {
		return err
	}
	f, err := p.s.deps.Feedback.Submit(c.UserContext(), caller(c), param(c, "id"), in.Rev)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"rev": f.Rev, "state": f.State})
}

// --- student ---

// --- admin ---

func (p *pages) adminHome(c *fiber.Ctx) error {
	gs, err := p.s.deps.Matching.Graders(c.UserContext(), caller(c), "")
	if err != nil {
		return err
	}
	return p.render(c, "admin_home", "Graders", map[string]any{"Graders": gs})
}

func (p *pages) vet(c *fiber.Ctx) error {
	if _, err := p.s.deps.Matching.Vet(c.UserContext(), caller(c), param(c, "id"), matching.VettingStatus(c.FormValue("status"))); err != nil {
		return err
	}
	return see(c, "/admin", "vetted")
}

func (p *pages) adminRound(c *fiber.Ctx) error {
	if _, err := p.s.deps.Matching.RunRound(c.UserContext()); err != nil {
		return err
	}
	return see(c, "/admin", "round")
}

// --- payouts ---

func (p *pages) earnings(c *fiber.Ctx) error {
	v, err := p.s.deps.Payouts.Grader(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return p.render(c, "grader_earnings", "Earnings", map[string]any{"View": v, "Titles": p.earningTitles(c, v)})
}

// onboarding starts (or continues) Stripe onboarding and links to it; a
// link rather than a redirect, since the page's CSP keeps forms on Margin.
func (p *pages) onboarding(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), caller(c)
	link, _, err := p.s.deps.Payouts.StartOnboarding(ctx, u)
	if err != nil {
		return err
	}
	v, err := p.s.deps.Payouts.Grader(ctx, u.ID)
	if err != nil {
		return err
	}
	return p.render(c, "grader_earnings", "Earnings", map[string]any{"View": v, "OnboardingURL": link, "Titles": p.earningTitles(c, v)})
}

func (p *pages) payoutsData(c *fiber.Ctx) (map[string]any, error) {
	runs, err := p.s.deps.Payouts.Runs(c.UserContext())
	if err != nil {
		return nil, err
	}
	return map[string]any{"Runs": runs}, nil
}

func (p *pages) adminPayouts(c *fiber.Ctx) error {
	d, err := p.payoutsData(c)
	if err != nil {
		return err
	}
	return p.render(c, "admin_payouts", "Payouts", d)
}

func (p *pages) startPayoutRun(c *fiber.Ctx) error {
	if _, err := p.s.deps.Payouts.StartRun(c.UserContext(), caller(c).ID); err != nil {
		return err
	}
	return see(c, "/admin/payouts", "run")
}

func (p *pages) reconcile(c *fiber.Ctx) error {
	rec, err := p.s.deps.Payouts.Reconcile(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	d, err := p.payoutsData(c)
	if err != nil {
		return err
	}
	d["Reconciliation"] = rec
	return p.render(c, "admin_payouts", "Payouts", d)
}

// --- grader: profile and comment bank ---

// weekdayNames are the days the profile form offers, in its order.
var weekdayNames = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

// profileForm is the profile form as shown or as the grader filled it in:
// subjects and grade bands comma-separated ("9-12"), one affiliation a
// line ("works: Lincoln High").
type profileForm struct {
	Subjects, Bands, Affiliations, Capacity, Bio string
	Days                                         map[string]bool
}

// profileFormOf shows a saved profile in the form.
func profileFormOf(pr matching.Profile) profileForm {
	f := profileForm{Subjects: strings.Join(pr.Subjects, ", "), Capacity: strconv.Itoa(pr.Capacity), Bio: pr.Bio, Days: map[string]bool{}}
	var bands, affs []string
	for _, b := range pr.GradeBands {
		bands = append(bands, fmt.Sprintf("%d-%d", b.Min, b.Max))
	}
	for _, a := range pr.Affiliations {
		affs = append(affs, string(a.Kind)+": "+a.School)
	}
	f.Bands, f.Affiliations = strings.Join(bands, ", "), strings.Join(affs, "\n")
	for _, d := range pr.Days {
		f.Days[strings.ToLower(d.String())] = true
	}
	return f
}

// input reads the form into the matching service's input; what cannot be
// read comes back as an errs.List (the service checks the rest).
func (f profileForm) input() (matching.ProfileInput, error) {
	var in matching.ProfileInput
	var l errs.List
	for _, sub := range strings.Split(f.Subjects, ",") {
		if sub = strings.TrimSpace(sub); sub != "" {
			in.Subjects = append(in.Subjects, sub)
		}
	}
	for _, b := range strings.Split(f.Bands, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		lo, hi, ok := strings.Cut(b, "-")
		if !ok {
			hi = lo
		}
		from, err1 := strconv.Atoi(strings.TrimSpace(lo))
		to, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil {
			l = append(l, errs.F(errs.Invalid, "grade_bands", "Write a grade band as min-max, such as 9-12 (0 is kindergarten)."))
			continue
		}
		in.GradeBands = append(in.GradeBands, matching.GradeBand{Min: from, Max: to})
	}
	for _, line := range strings.Split(f.Affiliations, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		kind, school, ok := strings.Cut(line, ":")
		if !ok {
			l = append(l, errs.F(errs.Invalid, "affiliations", "Write an affiliation as kind: school, such as works: Lincoln High."))
			continue
		}
		in.Affiliations = append(in.Affiliations, matching.Affiliation{School: strings.TrimSpace(school), Kind: matching.AffiliationKind(strings.ToLower(strings.TrimSpace(kind)))})
	}
	if n, err := strconv.Atoi(strings.TrimSpace(f.Capacity)); err == nil {
		in.Capacity = n
	} else {
		l = append(l, errs.F(errs.Invalid, "capacity", "Capacity is a whole number of submissions."))
	}
	for _, d := range weekdayNames {
		if f.Days[d] {
			in.Days = append(in.Days, d)
		}
	}
	in.Bio = f.Bio
	return in, l.Err()
}

func (p *pages) renderProfile(c *fiber.Ctx, f profileForm, status matching.VettingStatus, err error) error {
	d := map[string]any{"Form": f, "Status": status, "Weekdays": weekdayNames}
	if err != nil {
		return p.formError(c, err, "grader_profile", "Profile and availability", d)
	}
	return p.render(c, "grader_profile", "Profile and availability", d)
}

// profilePage shows the grader's profile as a form; a grader with none
// yet gets an empty one.
func (p *pages) profilePage(c *fiber.Ctx) error {
	v, err := p.s.deps.Matching.MyProfile(c.UserContext(), caller(c))
	switch {
	case err == nil:
		return p.renderProfile(c, profileFormOf(v.Profile), v.Status, nil)
	case errs.CodeOf(err) == errs.NotFound:
		return p.renderProfile(c, profileForm{Capacity: "10", Days: map[string]bool{}}, "", nil)
	}
	return err
}

func (p *pages) saveProfile(c *fiber.Ctx) error {
	f := profileForm{Subjects: c.FormValue("subjects"), Bands: c.FormValue("grade_bands"), Affiliations: c.FormValue("affiliations"),
		Capacity: c.FormValue("capacity"), Bio: c.FormValue("bio"), Days: map[string]bool{}}
	for _, d := range weekdayNames {
		f.Days[d] = c.FormValue("day_"+d) != ""
	}
	in, err := f.input()
	if err == nil {
		_, err = p.s.deps.Matching.SaveProfile(c.UserContext(), caller(c), in)
	}
	if err != nil {
		var status matching.VettingStatus
		if v, verr := p.s.deps.Matching.MyProfile(c.UserContext(), caller(c)); verr == nil {
			status = v.Status
		}
		return p.renderProfile(c, f, status, err)
	}
	return see(c, "/grader/profile", "profile")
}

// bankForm is the add-a-comment form as the grader filled it in.
type bankForm struct{ Criterion, Kind, Text string }

func (p *pages) renderBank(c *fiber.Ctx, f bankForm, err error) error {
	es, berr := p.s.deps.Feedback.Bank(c.UserContext(), caller(c))
	if berr != nil {
		return berr
	}
	d := map[string]any{"Entries": es, "Form": f}
	if err != nil {
		return p.formError(c, err, "grader_comments", "Comment bank", d)
	}
	return p.render(c, "grader_comments", "Comment bank", d)
}

func (p *pages) bankPage(c *fiber.Ctx) error { return p.renderBank(c, bankForm{}, nil) }

func (p *pages) addToBank(c *fiber.Ctx) error {
	f := bankForm{Criterion: strings.TrimSpace(c.FormValue("criterion")), Kind: c.FormValue("kind"), Text: c.FormValue("text")}
	e := feedback.BankEntry{Criterion: f.Criterion, Kind: feedback.Kind(f.Kind), Text: f.Text}
	if _, err := p.s.deps.Feedback.SaveToBank(c.UserContext(), caller(c), e); err != nil {
		return p.renderBank(c, f, err)
	}
	return see(c, "/grader/comments", "banked")
}

func (p *pages) deleteFromBank(c *fiber.Ctx) error {
	if err := p.s.deps.Feedback.DeleteFromBank(c.UserContext(), caller(c), param(c, "id")); err != nil {
		return err
	}
	return see(c, "/grader/comments", "unbanked")
}

// --- teacher: a class's data wall ---

// wallPage shows the class's students by strands, each cell the student's
// latest level; the analytics service refuses anyone but the class's
// teacher (or an admin) with not found.
func (p *pages) wallPage(c *fiber.Ctx) error {
	ctx, u, classID := c.UserContext(), caller(c), param(c, "id")
	w, err := p.s.deps.Analytics.ClassWall(ctx, u, classID)
	if err != nil {
		return err
	}
	cl, err := p.s.deps.Intake.AuthorizeClass(ctx, u, classID)
	if err != nil {
		return err
	}
	return p.render(c, "teacher_wall", "Data wall", map[string]any{"Class": cl, "Wall": w})
}
