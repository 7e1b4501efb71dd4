package web

import (
	"bytes"
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// pages serves the web pages: server-rendered with html/template, calling
// the services directly with the signed-in caller, as the JSON handlers do.
type pages struct {
	s    *api.Server
	d    api.Deps // the services
	t    *Pages
	csrf fiber.Handler
}

// pageData is what every page template gets; D is the page's own data.
type pageData struct {
	Title   string
	User    *account.User
	Unread  int // the user's unread notifications, for the header
	CSRF    string
	Flash   string
	Errors  []string
	Scripts []string
	D       any
}

// Register registers the pages on s, after its API routes: under /,
// /signin, /s/, /teacher, /grader, /student and /admin, and their assets
// under /static/. Every page gets the Content-Security-Policy (no inline
// script) and CSRF protection; errors become HTML pages, and a missing
// session a redirect to the sign-in page.
func Register(s *api.Server) {
	t, err := Parse()
	if err != nil {
		panic(err) // a malformed embedded template is a build defect; web's tests catch it
	}
	p := &pages{s: s, d: s.Services(), t: t, csrf: s.CSRF()}
	s.UsePages(p.gate, p.errorPage)

	get, post := fiber.MethodGet, fiber.MethodPost
	s.Handle(get, "/static/*", api.Public, p.static)
	s.Handle(get, "/", api.Public, p.home)
	s.Handle(get, "/signin", api.Public, p.signinPage)
	p.signupRoutes()
	p.resetRoutes()
	s.Handle(post, "/signin", api.Public, append(append([]fiber.Handler{p.signinLimited}, s.LoginLimits()...), p.signin)...)
	s.Handle(post, "/signout", api.Anyone, p.signout)
	s.Handle(post, "/signout/everywhere", api.Anyone, p.signoutEverywhere)
	s.Handle(get, "/s/:token", api.Public, p.accessPage)
	s.Handle(post, "/s/:token", api.Public, p.redeem)

	s.Handle(get, "/teacher", api.Teachers, p.teacherHome)
	s.Handle(post, "/teacher/classes", api.Teachers, p.createClass)
	s.Handle(get, "/teacher/classes/:id", api.Teachers, p.classPage)
	s.Handle(post, "/teacher/classes/:id/roster", api.Teachers, p.importRoster)
	s.Handle(post, "/teacher/classes/:id/students/:sid/link", api.Teachers, p.accessLink)
	s.Handle(post, "/teacher/classes/:id/students/:sid/remove", api.Teachers, p.removeStudent)
	s.Handle(post, "/teacher/classes/:id/assignments", api.Teachers, p.createAssignment)
	s.Handle(get, "/teacher/assignments/:id", api.Teachers, p.assignmentPage)
	s.Handle(post, "/teacher/assignments/:id/publish", api.Teachers, p.publish)
	s.Handle(post, "/teacher/submissions/:id/versions/:n/confirm", api.Teachers, p.confirmVersion)
	s.Handle(post, "/teacher/submissions/:id/versions/:n/reassign", api.Teachers, p.reassignVersion)
	s.Handle(post, "/teacher/assignments/:id/match", api.Teachers, p.match)
	s.Handle(post, "/teacher/assignments/:id/release", api.Teachers, p.release)
	s.Handle(get, "/teacher/assignments/:id/summary", api.Teachers, p.summaryPage)
	s.Handle(get, "/teacher/assignments/:id/summary.svg", api.Teachers, p.summaryChart)
	s.Handle(get, "/teacher/assignments/:id/summary.csv", api.Teachers, p.summaryCSV)
	s.Handle(get, "/teacher/classes/:id/wall", api.Teachers, p.wallPage)

	p.reviewRoutes()
	p.assignmentRoutes()

	s.Handle(get, "/grader", api.Graders, p.graderHome)
	s.Handle(post, "/grader/offers/:id/accept", api.Graders, p.acceptOffer)
	s.Handle(post, "/grader/offers/:id/decline", api.Graders, p.declineOffer)
	s.Handle(get, "/grader/tasks/:id", api.Graders, p.workspace)

	p.calibrationRoutes()
	s.Handle(get, "/grader/profile", api.Graders, p.profilePage)
	s.Handle(post, "/grader/profile", api.Graders, p.saveProfile)
	s.Handle(get, "/grader/comments", api.Graders, p.bankPage)
	s.Handle(post, "/grader/comments", api.Graders, p.addToBank)
	s.Handle(post, "/grader/comments/:id/delete", api.Graders, p.deleteFromBank)

	s.Handle(get, "/grader/earnings", api.Graders, p.earnings)
	s.Handle(post, "/grader/earnings/onboarding", api.Graders, p.onboarding)

	p.studentRoutes()
	p.notifyPages()
	p.ltiRoutes()

	s.Handle(get, "/admin", api.AdminOnly, p.adminHome)
	s.Handle(post, "/admin/graders/:id/vet", api.AdminOnly, p.vet)
	s.Handle(post, "/admin/rounds", api.AdminOnly, p.adminRound)
	s.Handle(get, "/admin/payouts", api.AdminOnly, p.adminPayouts)
	s.Handle(post, "/admin/payouts/runs", api.AdminOnly, p.startPayoutRun)
	s.Handle(post, "/admin/payouts/runs/:id/reconcile", api.AdminOnly, p.reconcile)
}

// gate runs before every page: CSRF (its errors, and the page's, reach
// errorHandler, which answers a browser with errorPage). securityHeaders
// has set the headers.
func (p *pages) gate(c *fiber.Ctx) error {
	if !api.IsPagePath(c.Path()) || strings.HasPrefix(c.Path(), "/static/") {
		return c.Next()
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if oneClick(c) || strings.HasPrefix(c.Path(), "/lti/") {
		return c.Next() // credentials of their own: a signed token, an LMS's signed launch
	}
	return p.csrf(c)
}

// errorPage shows an error as a page: a missing session on a GET sends
// the browser to sign in (and back), anything else renders the error page
// with its status and sentences.
func (p *pages) errorPage(c *fiber.Ctx, status int, e api.ErrorJSON) error {
	if e.Code == errs.Unauthenticated && strings.HasPrefix(c.Path(), "/student") {
		// A student signs in only with their link: a session that ended
		// (the link was replaced, or the student removed) has nothing to
		// do with the staff sign-in.
		e.Code, e.Message, e.Details = errs.LinkExpired, "This link no longer works; ask your teacher for a new one.", nil
		status = errs.Status(errs.LinkExpired)
	}
	if e.Code == errs.Unauthenticated && c.Method() == fiber.MethodGet {
		return c.Redirect("/signin?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
	}
	msg := e.Message
	if len(e.Details) > 0 {
		msgs := make([]string, 0, len(e.Details))
		for _, d := range e.Details {
			msgs = append(msgs, d.Message)
		}
		msg = strings.Join(msgs, " ")
	}
	heading := "Sorry"
	switch e.Code {
	case errs.NotFound:
		heading = "Not found"
	case errs.Forbidden:
		heading = "Not allowed"
	case errs.Unauthenticated:
		heading = "Please sign in"
	case errs.LinkExpired:
		heading = "This link no longer works"
	case errs.Unavailable:
		// A dependency that is off or down says so (e.g. "Stripe is not
		// configured on this Margin"), not "something went wrong".
		heading = "Not available right now"
	}
	return p.render(c.Status(status), "error", heading, map[string]string{"Heading": heading, "Message": msg, "RequestID": e.RequestID})
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
	if u, ok := api.SignedIn(c); ok {
		pd.User = &u
		pd.Unread = p.unreadCount(c, u)
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
	"class":          "Class created. Import its roster next.",
	"published":      "Published: Margin is finding graders.",
	"matched":        "Matching ran; see the graders below.",
	"approved":       "Feedback approved.",
	"returned":       "Feedback returned to the grader with your note.",
	"released":       "Approved feedback released to the students.",
	"accepted":       "Offer accepted: the submissions are in your tasks.",
	"declined":       "Offer declined.",
	"submitted":      "Feedback submitted for the teacher's review.",
	"vetted":         "Grader updated.",
	"run":            "Payout run started; it runs in the background.",
	"round":          "Matching round run.",
	"revision":       "Revision uploaded: it will be read again.",
	"profile":        "Profile saved.",
	"banked":         "Comment saved to your bank.",
	"unbanked":       "Comment deleted from your bank.",
	"edited":         "Feedback edited; the change is kept in its history.",
	"adjudicated":    "Adjudicated: your levels now count for this submission.",
	"adj_approved":   "Adjudicated and approved: your levels count, and both reads are approved.",
	"brief_saved":    "Saved: the assignment has the new title, prompt, due date and rubric.",
	"anchor_saved":   "Anchor paper saved: graders calibrate against your levels.",
	"anchor_removed": "Anchor paper removed.",
	"unshared":       "The family link is turned off: it no longer opens your progress.",
	"removed":        "Student removed from the class: their link no longer works and they are signed out. Their work stays.",
	"confirmed":      "Confirmed: the file is the student's, and goes to graders like any other.",
	"reassigned":     "Moved: the file is now a version of the other student's submission, and goes to graders.",
	"notify_saved":   "Email settings saved.",
	"email_students": "Saved: students of this class get email when their feedback is released, if switched on.",
	"resent":         "Queued to send again.",
	"cleared":        "Mail to the address flows again.",
	"password":       "Your new password is set, and you are signed out everywhere. Sign in with it.",
}

// see redirects after a successful form (post/redirect/get), to path with
// the flash message done; a #fragment of path (the section acted on) stays
// last, and margin.js shows the flash there.
func see(c *fiber.Ctx, path, done string) error {
	path, frag, _ := strings.Cut(path, "#")
	if done != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "done=" + done
	}
	if frag != "" {
		path += "#" + frag
	}
	return c.Redirect(path, fiber.StatusSeeOther)
}

func esc(s string) string { return url.PathEscape(s) }

func (p *pages) static(c *fiber.Ctx) error {
	data, ctype, ok := Static(api.Param(c, "*"))
	if !ok {
		return errs.E(errs.NotFound, "There is no such file.")
	}
	c.Set(fiber.HeaderContentType, ctype)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(data)
}

// home sends each role to its start page.
func (p *pages) home(c *fiber.Ctx) error {
	u, ok := api.SignedIn(c)
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

// criterionTitles maps a rubric's criterion keys to their titles.
func criterionTitles(r intake.Rubric) map[string]string {
	m := make(map[string]string, len(r.Criteria))
	for _, c := range r.Criteria {
		m[c.Key] = c.Title
	}
	return m
}

func highlightSpans(hs []feedback.Highlight) []Span {
	var out []Span
	for _, h := range hs {
		if h.Anchored {
			out = append(out, Span{Start: h.Start, End: h.End, ID: h.CommentID, Kind: string(h.Kind), Label: h.Criterion})
		}
	}
	return out
}

// criterionView is one criterion of a feedback as the review page lists it:
// the level's label, not its key.
type criterionView struct{ Title, Level, Comment string }

// levelOption is one level of the scale as a select offers it.
type levelOption struct{ Key, Label, Descriptor string }

// levelLabel is a level key's label on the rubric's scale, or the key
// itself when the scale has no such level ("—" for none).
func levelLabel(r intake.Rubric, key string) string {
	if key == "" {
		return "—"
	}
	if l, ok := r.Level(key); ok {
		return l.Label
	}
	return key
}

// levelOptions are the scale's levels with a criterion's descriptors.
func levelOptions(r intake.Rubric, cr intake.Criterion) []levelOption {
	out := make([]levelOption, 0, len(r.Scale))
	for _, l := range r.Scale {
		out = append(out, levelOption{Key: l.Key, Label: l.Label, Descriptor: cr.Descriptors[l.Key]})
	}
	return out
}
