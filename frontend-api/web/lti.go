package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/lti"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// ltiDeepLinkPath is where the assignment picker of a deep linking launch
// posts the teacher's choice.
const ltiDeepLinkPath = "/lti/deep-link"

// ltiRoutes registers the LTI protocol routes a browser the LMS sent
// calls (each checks its own credential: the state cookie and the
// platform's signed id_token, the registration token, or a held deep
// linking launch's token); the pages' CSRF gate lets them through (see
// gate). JWKS and the JSON routes are the API's.
func (p *pages) ltiRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	lp := &ltiPages{p: p, s: s}
	s.Handle(get, lti.LoginPath, api.Public, s.LTIOn, lp.login)
	s.Handle(post, lti.LoginPath, api.Public, s.LTIOn, lp.login)
	s.Handle(post, lti.LaunchPath, api.Public, s.LTIOn, lp.launch)
	s.Handle(get, lti.RegisterPath, api.Public, s.LTIOn, lp.registerPage)
	s.Handle(post, lti.RegisterPath, api.Public, s.LTIOn, lp.register)
	s.Handle(post, ltiDeepLinkPath, api.Public, s.LTIOn, lp.deepLink)
}

// ltiPages are the pages of the LTI protocol routes: what a browser the
// LMS sent sees. A refusal is a page whose sentence says what to do.
type ltiPages struct {
	p *pages
	s *api.Server
}

func (lp *ltiPages) render(c *fiber.Ctx, page, title string, d any, scripts ...string) error {
	var buf bytes.Buffer
	if err := lp.p.t.Render(&buf, page, pageData{Title: title, D: d, Scripts: scripts}); err != nil {
		return errs.Wrap(err, "rendering page %s", page)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Send(buf.Bytes())
}

// refuse renders an error as a page with its status.
func (lp *ltiPages) refuse(c *fiber.Ctx, err error) error {
	code := errs.CodeOf(err)
	status := errs.Status(code)
	msg := "Something went wrong on our side. Open Margin from your course again in a few minutes."
	var ue *errs.Error
	switch {
	case status >= 500:
		lp.s.Logger().Error("lti page failed", "request_id", api.RequestID(c), "path", api.LogPath(c), "err", err)
	case errors.As(err, &ue):
		msg = ue.Message
	default:
		msg = strings.Join(messages(err), " ")
	}
	rid := api.RequestID(c)
	heading := "Margin could not open from your course"
	return lp.render(c.Status(status), "error", heading, map[string]string{"Heading": heading, "Message": msg, "RequestID": rid})
}

// framedBy lets a page be shown in a frame of origin (the LMS), which
// LMSs use for registration and assignment pickers; every other page of
// Margin refuses framing.
func framedBy(c *fiber.Ctx, origin, formAction string) {
	c.Response().Header.Del(fiber.HeaderXFrameOptions)
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action "+formAction+"; frame-ancestors "+origin+"; base-uri 'none'; object-src 'none'")
}

// originOf is the scheme and host of u, or 'none' when u is not an
// absolute http(s) URL.
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || strings.ContainsAny(p.Host, " ;'") {
		return "'none'"
	}
	return p.Scheme + "://" + p.Host
}

// login answers the LMS's OIDC login initiation: a state cookie, and a
// redirect to the LMS's authorization endpoint.
func (lp *ltiPages) login(c *fiber.Ctx) error {
	red, err := lp.p.d.LTI.Tool.Login(c.UserContext(), lti.LoginRequestFrom(api.FormValues(c)))
	if err != nil {
		return lp.refuse(c, err)
	}
	c.Cookie(fiberCookie(red.Cookie))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(red.URL, fiber.StatusFound)
}

func fiberCookie(hc *http.Cookie) *fiber.Cookie {
	ck := &fiber.Cookie{Name: hc.Name, Value: hc.Value, Path: hc.Path, MaxAge: hc.MaxAge, Secure: hc.Secure, HTTPOnly: hc.HttpOnly}
	switch hc.SameSite {
	case http.SameSiteNoneMode:
		ck.SameSite = fiber.CookieSameSiteNoneMode
	case http.SameSiteStrictMode:
		ck.SameSite = fiber.CookieSameSiteStrictMode
	default:
		ck.SameSite = fiber.CookieSameSiteLaxMode
	}
	return ck
}

// launch validates the LMS's launch, makes it count in Margin (the
// course's class, the person's account), signs the person in, and takes a
// teacher to the linked assignment or the class, a student to their
// feedback, and a deep linking request to the assignment picker.
func (lp *ltiPages) launch(c *fiber.Ctx) error {
	s, ctx := lp.s, c.UserContext()
	l, err := lp.p.d.LTI.Tool.ValidateLaunch(ctx, lti.LaunchRequestFrom(api.FormValues(c), func(name string) string { return c.Cookies(name) }))
	if err != nil {
		return lp.refuse(c, err)
	}
	e, err := lp.p.d.LTI.Tool.Enter(ctx, l, lp.p.d.LTI.Directory)
	if err != nil {
		return lp.refuse(c, err)
	}
	u, err := s.LTIEnter(c, e)
	if err != nil {
		return lp.refuse(c, err)
	}
	if e.SyncDue {
		s.LTISyncLater(e.ClassID)
	}
	if l.MessageType == lti.MessageDeepLinking {
		tok, err := lp.p.d.LTI.Tool.Hold(ctx, l, u.ID, e.ClassID)
		if err != nil {
			return lp.refuse(c, err)
		}
		return lp.picker(c, tok, l, u, e.ClassID, pickForm{}, nil)
	}
	switch {
	case e.Role == lti.RoleStudent:
		return c.Redirect(lp.studentLanding(c, u, e.AssignmentID), fiber.StatusSeeOther)
	case e.AssignmentID != "":
		return c.Redirect("/teacher/assignments/"+esc(e.AssignmentID), fiber.StatusSeeOther)
	}
	return c.Redirect("/teacher/classes/"+esc(e.ClassID), fiber.StatusSeeOther)
}

// studentLanding is where a student's launch goes: their released
// feedback on the linked assignment, or else their list of work.
func (lp *ltiPages) studentLanding(c *fiber.Ctx, u account.User, assignmentID string) string {
	if assignmentID == "" {
		return "/student"
	}
	sub, err := lp.p.d.Intake.SubmissionOf(c.UserContext(), assignmentID, u.StudentID)
	if err != nil {
		return "/student"
	}
	if _, err := lp.p.d.Feedback.ForSubmission(c.UserContext(), u, sub.ID); err != nil {
		return "/student"
	}
	return "/student/submissions/" + esc(sub.ID)
}

// pickForm is what the teacher typed to create an assignment in the
// picker, kept when it comes back with mistakes.
type pickForm struct {
	Title, Prompt, PriceCents string
}

// picker shows the teacher the class's assignments to link, and a form to
// create one. Its forms carry the held launch's token, their only
// credential: in an LMS frame Margin's cookies are not sent.
func (lp *ltiPages) picker(c *fiber.Ctx, tok string, l *lti.Launch, u account.User, classID string, f pickForm, problems []string) error {
	asgs, err := lp.p.d.Intake.Assignments(c.UserContext(), u, classID)
	if err != nil {
		return lp.refuse(c, err)
	}
	if f.Title == "" && f.PriceCents == "" {
		f = pickForm{Title: l.ResourceLink.Title, PriceCents: "800"}
	}
	framedBy(c, originOf(l.DeepLinking.ReturnURL), "'self'")
	return lp.render(c, "lti_pick", "Choose a Margin assignment", map[string]any{
		"Token": tok, "Assignments": asgs, "Course": l.Context.Title, "Form": f, "Problems": problems, "Action": ltiDeepLinkPath,
	})
}

// defaultRubric is the rubric of an assignment created from the picker,
// to be edited in Margin before it is published.
func defaultRubric() *intake.Rubric {
	levels := map[string]string{
		"beginning": "The work does not yet meet the task.", "developing": "The work meets parts of the task.",
		"proficient": "The work meets the task.", "exemplary": "The work goes beyond the task.",
	}
	return &intake.Rubric{
		Scale: []intake.Level{
			{Key: "beginning", Label: "Beginning", Points: 1}, {Key: "developing", Label: "Developing", Points: 2},
			{Key: "proficient", Label: "Proficient", Points: 3}, {Key: "exemplary", Label: "Exemplary", Points: 4},
		},
		Criteria: []intake.Criterion{{Key: "overall", Title: "Overall", Weight: 1, Descriptors: levels}},
	}
}

// pickerDue is how far ahead an assignment created from the picker is due.
const pickerDue = 14 * 24 * time.Hour

// deepLink takes the teacher's choice in the picker (an assignment to
// link, a new one, or none) and returns it to the LMS as a signed deep
// linking response, with a gradebook column for grades to flow back.
func (lp *ltiPages) deepLink(c *fiber.Ctx) error {
	ctx, form := c.UserContext(), api.FormValues(c)
	tok := form.Get("picker")
	h, err := lp.p.d.LTI.Tool.Held(ctx, tok)
	if err != nil {
		return lp.refuse(c, err)
	}
	u, err := lp.p.d.Accounts.User(ctx, h.UserID)
	if err != nil {
		return lp.refuse(c, err)
	}
	var items []lti.LinkItem
	msg := "No Margin assignment was added."
	if form.Get("action") != "cancel" {
		a, f, err := lp.chosen(c, u, h.ClassID, form)
		if err != nil {
			if probs := messages(err); len(probs) > 0 && errs.Status(errs.CodeOf(err)) < 500 && f != nil {
				return lp.picker(c, tok, h.Launch, u, h.ClassID, *f, probs)
			}
			return lp.refuse(c, err)
		}
		_, possible := feedback.WeightedPoints(a.Rubric, nil)
		items = []lti.LinkItem{{
			Title: a.Title, Custom: map[string]string{lti.CustomAssignmentID: a.ID},
			LineItem: &lti.LineItem{ScoreMaximum: possible, Label: a.Title, ResourceID: a.ID, Tag: "margin"},
		}}
		msg = "Added the Margin assignment “" + a.Title + "”."
	}
	if err := lp.p.d.LTI.Tool.Release(ctx, tok); err != nil {
		return lp.refuse(c, err)
	}
	f, err := lp.p.d.LTI.Tool.DeepLinkResponse(ctx, h.Launch, items, msg)
	if err != nil {
		return lp.refuse(c, err)
	}
	origin := originOf(f.Action)
	framedBy(c, origin, origin)
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; script-src 'unsafe-hashes' "+autoSubmitHash+"; form-action "+origin+
		"; frame-ancestors "+origin+"; base-uri 'none'")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.SendString(f.HTML())
}

// autoSubmitHash allows, by its CSP hash, the one inline handler of the
// deep linking response's page (lti.Form.HTML), which posts it to the LMS.
var autoSubmitHash = func() string {
	sum := sha256.Sum256([]byte("document.forms[0].submit()"))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// chosen is the assignment the teacher picked, or created from the form
// (returned for a page with its mistakes). The picked one must be of the
// launch's class.
func (lp *ltiPages) chosen(c *fiber.Ctx, u account.User, classID string, form url.Values) (intake.Assignment, *pickForm, error) {
	ctx := c.UserContext()
	if form.Get("action") == "create" {
		f := pickForm{Title: form.Get("title"), Prompt: form.Get("prompt"), PriceCents: strings.TrimSpace(form.Get("price_cents"))}
		in := intake.AssignmentInput{ClassID: classID, Title: f.Title, Prompt: f.Prompt, Rubric: defaultRubric(), DueAt: time.Now().Add(pickerDue).UTC()}
		if cents, err := strconv.ParseInt(f.PriceCents, 10, 64); err == nil {
			in.PriceCents = &cents
		}
		a, err := lp.p.d.Intake.CreateAssignment(ctx, u, in)
		return a, &f, err
	}
	a, err := lp.p.d.Intake.AuthorizeAssignment(ctx, u, form.Get("assignment_id"))
	if err == nil && a.ClassID != classID {
		err = errs.E(errs.NotFound, "That assignment is not one of this course's class.")
	}
	return a, &pickForm{}, err
}

// registerPage is Dynamic Registration's first step: the LMS opens it with
// its configuration URL and a registration token, and the admin presses
// "Register Margin".
func (lp *ltiPages) registerPage(c *fiber.Ctx) error {
	cfgURL, tok := c.Query("openid_configuration"), c.Query("registration_token")
	if cfgURL == "" {
		return lp.refuse(c, errs.E(errs.Invalid, "Open this page from your LMS's tool registration, which adds the openid_configuration parameter."))
	}
	framedBy(c, originOf(cfgURL), "'self'")
	return lp.render(c, "lti_register", "Register Margin", map[string]string{"Config": cfgURL, "Token": tok, "Action": lti.RegisterPath})
}

// register registers Margin with the LMS (Dynamic Registration), and shows
// a page that tells the LMS it is done. The registration token the LMS
// issued is the credential.
func (lp *ltiPages) register(c *fiber.Ctx) error {
	form := api.FormValues(c)
	cfgURL := form.Get("openid_configuration")
	reg, err := lp.p.d.LTI.Tool.RegisterDynamic(c.UserContext(), cfgURL, form.Get("registration_token"))
	if err != nil {
		return lp.refuse(c, err)
	}
	framedBy(c, originOf(cfgURL), "'self'")
	return lp.render(c, "lti_registered", "Margin is registered", reg, "lti_close.js")
}
