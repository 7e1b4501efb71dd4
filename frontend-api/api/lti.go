package api

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/lti"
	"github.com/marginschool/margin/services/intake"
)

// LTI is what the LTI routes need (see docs/LTI.md); Deps.LTI is nil when
// LTI is off (MARGIN_PUBLIC_URL unset), and the routes then answer 404.
type LTI struct {
	Tool      *lti.Tool
	Directory lti.Directory
	// Grades queues an assignment's released grades for its LMS
	// gradebook column and returns how many; errs.NotFound when the
	// assignment is not linked to one.
	Grades interface {
		Queue(ctx context.Context, assignmentID string) (int, error)
	}
}

// How long a background roster sync (after a teacher's launch) may run.
const rosterSyncTimeout = 2 * time.Minute

// ltiRoutes registers LTI: the protocol routes under /lti (the LMS and the
// browser it sends call them; each checks its own credential: the state
// cookie and the platform's signed id_token, the registration token, or a
// held deep linking launch's token), and the teacher's and admin's JSON
// routes. It must be called before pageRoutes: the protocol routes take
// cross-site POSTs that carry no CSRF token, so the pages' CSRF gate must
// not run before them.
func (s *Server) ltiRoutes() {
	get, post := fiber.MethodGet, fiber.MethodPost
	s.handle(get, lti.JWKSPath, public, s.ltiOn, s.ltiJWKS)

	s.handle(get, "/api/v1/admin/lti/registrations", adminOnly, s.ltiOn, s.ltiRegistrations)
	s.handle(post, "/api/v1/admin/lti/registrations", adminOnly, s.ltiOn, s.ltiRegister)
	s.handle(post, "/api/v1/admin/lti/registrations/:id/deployments", adminOnly, s.ltiOn, s.ltiAddDeployment)
	s.handle(post, "/api/v1/classes/:id/lti/sync", teachers, s.ltiOn, s.ltiSync)
	s.handle(get, "/api/v1/assignments/:id/lti/scores", teachers, s.ltiOn, s.ltiScores)
	s.handle(post, "/api/v1/assignments/:id/lti/scores/retry", teachers, s.ltiOn, s.ltiRetryScores)
}

// ltiOn answers 404 while LTI is off.
func (s *Server) ltiOn(c *fiber.Ctx) error {
	if s.deps.LTI == nil {
		return errs.E(errs.NotFound, "LTI is not set up on this Margin: its operator sets MARGIN_PUBLIC_URL to turn it on.")
	}
	return c.Next()
}

// ltiJWKS publishes Margin's public keys (platforms verify its client
// assertions and deep linking responses with them).
func (s *Server) ltiJWKS(c *fiber.Ctx) error {
	b, err := s.deps.LTI.Tool.JWKS(c.UserContext())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

func (s *Server) ltiRegistrations(c *fiber.Ctx) error {
	regs, err := s.deps.LTI.Tool.Registrations(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"registrations": regs})
}

func (s *Server) ltiRegister(c *fiber.Ctx) error {
	var in lti.RegistrationInput
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	reg, err := s.deps.LTI.Tool.Register(c.UserContext(), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(reg)
}

type deploymentRequest struct {
	DeploymentID string `json:"deployment_id"`
}

func (s *Server) ltiAddDeployment(c *fiber.Ctx) error {
	var in deploymentRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if err := s.deps.LTI.Tool.AddDeployment(c.UserContext(), param(c, "id"), in.DeploymentID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ltiSync brings the class's roster in line with its LMS course now. Only
// the class's teacher (or an admin) may; a class from no LMS is 404.
func (s *Server) ltiSync(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cls, err := s.deps.Intake.AuthorizeClass(ctx, caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	key, ok := intake.LMSCourseKey(cls.ID)
	if !ok {
		return errs.E(errs.NotFound, "The class %q does not come from an LMS course.", cls.ID)
	}
	res, err := s.deps.LTI.Tool.SyncRoster(ctx, key, s.deps.LTI.Directory)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

// ltiScores shows where each student's score in the LMS gradebook stands.
// It first queues any released grade not queued yet, so that a release a
// crash cut short is caught up when the teacher looks.
func (s *Server) ltiScores(c *fiber.Ctx) error {
	ctx := c.UserContext()
	a, err := s.deps.Intake.AuthorizeAssignment(ctx, caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	if _, err := s.deps.LTI.Grades.Queue(ctx, a.ID); err != nil {
		return err
	}
	st, err := s.deps.LTI.Tool.Gradebook(ctx, a.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"scores": st})
}

// ltiRetryScores queues again the scores the LMS refused or Margin gave up
// on.
func (s *Server) ltiRetryScores(c *fiber.Ctx) error {
	ctx := c.UserContext()
	a, err := s.deps.Intake.AuthorizeAssignment(ctx, caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	n, err := s.deps.LTI.Tool.RetryScores(ctx, a.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"queued": n})
}

// ltiEnter signs a launched person in: it checks that the launch's
// account may be signed in for that class (a teacher who owns it; a
// student only as their own enrolment), starts their session and sets its
// cookie. It returns the user, or errs.Forbidden with the sentence the
// refusal page shows.
func (s *Server) ltiEnter(c *fiber.Ctx, e lti.Entry) (account.User, error) {
	ctx := c.UserContext()
	u, err := s.deps.Accounts.User(ctx, e.UserID)
	if err != nil {
		return account.User{}, err
	}
	switch e.Role {
	case lti.RoleTeacher:
		if _, err := s.deps.Intake.AuthorizeClass(ctx, u, e.ClassID); err != nil || u.Role != account.Teacher {
			return account.User{}, errs.E(errs.Forbidden, "This course's class in Margin already has a teacher, and Margin gives a class one teacher. Ask them to share the class's results with you.")
		}
	case lti.RoleStudent:
		if !intake.IsStudentOf(u, e.ClassID, u.StudentID) {
			return account.User{}, errs.E(errs.Forbidden, "Margin could not match you to a student of this course.")
		}
	default:
		return account.User{}, errs.E(errs.Forbidden, "Margin is for a course's teachers and students.")
	}
	tok, err := s.deps.Accounts.StartSession(ctx, u.ID)
	if err != nil {
		return account.User{}, err
	}
	s.setSessionCookie(c, tok, account.SessionTTL)
	return u, nil
}

// ltiSyncLater runs a roster sync a teacher's launch asked for, in the
// background, bounded by the server's life.
func (s *Server) ltiSyncLater(classID string) {
	key, ok := intake.LMSCourseKey(classID)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(s.base, rosterSyncTimeout)
		defer cancel()
		if _, err := s.deps.LTI.Tool.SyncRoster(ctx, key, s.deps.LTI.Directory); err != nil && ctx.Err() == nil {
			s.log.Warn("lti: roster sync after launch", "class", classID, "err", err)
		}
	}()
}

// formValues are a request's form fields: the query, and on a POST the
// url-encoded body.
func formValues(c *fiber.Ctx) url.Values {
	v, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	if c.Method() == fiber.MethodPost && strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationForm) {
		body, err := url.ParseQuery(string(readBody(c)))
		if err == nil {
			for k, vs := range body {
				v[k] = append(v[k], vs...)
			}
		}
	}
	return v
}
